"""Benchmark of the production queue: real Celery workers against the ideal throughput.

Run with ``python -m bench queue``. It needs the live PostgreSQL and Redis the tests use
(``TEST_POSTGRES_URL``, ``TEST_REDIS_URL``; one of Redis databases 10-12, claimed exclusively).
Set-up, not measured: a fresh PostgreSQL database, a client with ``PRODUCTS`` analysed and
matched products, and ``WORKERS`` ``visualizer worker --concurrency SLOTS`` processes on Gemini,
through the real SDK to the Gemini stand-in, which answers an image in ``LATENCY_S`` seconds and
a fidelity judgement four times faster (each image is judged: the judgements run on their own
slots, ``JUDGE_SLOTS`` per worker). Storage is a folder all the processes share, so the figures
are about the queue, not about an S3 stand-in's CPU.

Measured:

- **throughput**: ``IMAGES`` images from ``generate`` until the last row is completed, against
  the ideal ``IMAGES x LATENCY_S / (WORKERS x SLOTS)``; the ratio is ideal / wall. Beside it,
  where an image's time went (the rows' ``timings``: the AI call, the fidelity check, storage,
  the database), how long a slot sat idle between two images, and the queue's efficiency: the
  pipeline's own time per image spread over the slots, against the wall;
- **enqueue**: ``generate`` of a flow over all ``PRODUCTS`` products (rows written in one
  transaction, then one message and one job record per image);
- **status**: the one aggregate query behind the progress bar, over those rows (median of 20);
- **memory**: each worker's resident memory once that flow is done too.

The last line reads::

    queue: 200 images in 27.1 s, ideal 25.0 s, ratio 0.92; enqueue 500 in 0.41 s; ...
"""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import select

from tests.servers.celery_worker import make_world, queue_stack
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core import backends
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
from visualizer_core.db.models import GeneratedImage
from visualizer_core.jobqueue.celery_queue import JobRecords
from visualizer_core.scope import ADMIN
from visualizer_core.services import generation, sessions

IMAGES = 200
PRODUCTS = 500
LATENCY_S = 2.0
WORKERS = 2
SLOTS = 8
JUDGE_SLOTS = 2


def _wait(flow_id: uuid.UUID, timeout: float) -> dict[str, int]:
    counts = generation.wait_for_flows(ADMIN, flow_ids=[flow_id], timeout=timeout, poll_s=0.05)
    if counts["pending"] + counts["generating"]:
        raise RuntimeError(f"the flow did not finish in {timeout:.0f} s: {counts}")
    return counts


def _breakdown(flow_id: uuid.UUID) -> tuple[str, float]:
    """Where an image's time went (means over the flow's rows), and the idle time of a slot
    between two images (a row's completion to the next start in the same worker thread)."""
    with backends.current().transaction() as db:
        rows = db.scalars(select(GeneratedImage).where(GeneratedImage.flow_id == flow_id)).all()
        by_slot: dict[str | None, list[GeneratedImage]] = {}
        for row in rows:
            by_slot.setdefault(row.worker_id, []).append(row)
        gaps = []
        for slot_rows in by_slot.values():
            slot_rows.sort(key=lambda r: r.started_at or r.created_at)
            for before, after in itertools.pairwise(slot_rows):
                if before.completed_at and after.started_at:
                    gaps.append((after.started_at - before.completed_at).total_seconds())
        names = sorted({k for row in rows for k in (row.timings or {})})
        parts = [
            f"{name.removesuffix('_s')} {statistics.mean(r.timings.get(name, 0) for r in rows):.2f}"
            for name in names
        ]
        busy = statistics.mean(r.timings.get("total_s", 0) for r in rows)
    idle = statistics.mean(gaps) if gaps else 0.0
    text = f"per image (s): {', '.join(parts)}; slot idle between images {idle:.3f} s"
    return text, busy


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def main() -> None:
    """Run the benchmark and print its figures."""
    server = GeminiStandIn().start()
    try:
        _run(server)
    finally:
        server.stop()


def _run(server: GeminiStandIn) -> None:
    gemini = {"gemini_api_key": server.api_key, "gemini_base_url": server.base_url}
    with tempfile.TemporaryDirectory(prefix="vz-bench-queue-") as folder:
        home = Path(folder) / "home"
        with queue_stack(None, home, **gemini) as stack:
            print(_load(), flush=True)
            started = time.perf_counter()
            world = make_world(Path(folder) / "catalog", products_count=PRODUCTS)
            env = {
                "VISUALIZER_AI": "gemini",
                "GEMINI_API_KEY": server.api_key,
                "GEMINI_BASE_URL": server.base_url,
                "VISUALIZER_JUDGEMENT_WORKERS": str(JUDGE_SLOTS),
            }
            workers = [
                stack.start_worker(concurrency=SLOTS, ready=False, **env) for _ in range(WORKERS)
            ]
            for worker in workers:
                worker.wait_ready()
            print(
                f"set-up: {PRODUCTS} products and {WORKERS} workers in "
                f"{time.perf_counter() - started:.1f} s",
                flush=True,
            )

            server.model_latency_s = {
                DEFAULT_IMAGE_MODEL: LATENCY_S,
                DEFAULT_TEXT_MODEL: LATENCY_S / 4,  # a judgement, four times faster
            }
            # Throughput against the ideal.
            slots = WORKERS * SLOTS
            ideal = IMAGES * LATENCY_S / slots
            mark = time.perf_counter()
            flow = generation.generate(
                ADMIN, session_id=world.session_id, product_ids=world.product_ids[:IMAGES]
            )
            counts = _wait(flow.flow_id, timeout=20 * ideal)
            wall = time.perf_counter() - mark
            breakdown, busy = _breakdown(flow.flow_id)
            print(breakdown, flush=True)
            print(
                f"throughput: {IMAGES} images at {LATENCY_S:g} s each (each judged in "
                f"{LATENCY_S / 4:g} s on {JUDGE_SLOTS} judgement slots a worker) on {WORKERS} "
                f"workers x {SLOTS} image slots: wall {wall:.1f} s, ideal {ideal:.1f} s, "
                f"ratio {ideal / wall:.2f} ({counts['completed']} completed, "
                f"{counts['error']} failed)",
                flush=True,
            )
            # The pipeline's own time per image (AI, fidelity check, storage, database) over the
            # wall: how much of the slots' time the queue kept busy with work.
            print(
                f"queue efficiency: {IMAGES} x {busy:.2f} s of work / {slots} slots = "
                f"{IMAGES * busy / slots:.1f} s, over the wall {IMAGES * busy / slots / wall:.2f}",
                flush=True,
            )

            # Enqueue a flow over every product, then read its progress while it runs.
            mark = time.perf_counter()
            big = generation.generate(ADMIN, session_id=world.session_id)
            enqueue = time.perf_counter() - mark
            status_s = []
            for _ in range(20):
                mark = time.perf_counter()
                sessions.session_status(ADMIN, session_id=world.session_id)
                status_s.append(time.perf_counter() - mark)
            status = statistics.median(status_s)
            print(
                f"enqueue: a {len(big.image_ids)}-product flow in {enqueue:.3f} s; "
                f"status query over {IMAGES + len(big.image_ids)} rows: "
                f"{status * 1000:.1f} ms (median of 20)",
                flush=True,
            )
            _wait(big.flow_id, timeout=20 * len(big.image_ids) * LATENCY_S / slots)
            done = IMAGES + len(big.image_ids)
            rss = [worker.rss_mb() for worker in workers]
            records = JobRecords(backends.current().settings)
            try:
                duplicates = records.stats().get("duplicates", 0)
            finally:
                records.close()
            print(
                f"memory after {done} images: "
                + ", ".join(f"worker {i + 1} {mb:.0f} MiB" for i, mb in enumerate(rss))
                + f"; duplicate deliveries: {duplicates}",
                flush=True,
            )
            print(_load(), flush=True)
            print(
                f"queue: {IMAGES} images in {wall:.1f} s, ideal {ideal:.1f} s, "
                f"ratio {ideal / wall:.2f}; enqueue {len(big.image_ids)} in {enqueue:.2f} s; "
                f"status {status * 1000:.1f} ms; rss "
                + "/".join(f"{mb:.0f}" for mb in rss)
                + " MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
