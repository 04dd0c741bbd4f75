"""Benchmark of the whole pipeline on the local backend: 100 products into rooms.

Run with ``python -m bench generation``. On a fresh embedded default (SQLite and a storage
folder in a temporary ``VISUALIZER_HOME``, the local AI, the in-process queue) it imports
``PRODUCTS + PROFILED`` drawn products and five drawn rooms (set-up, not measured), then:

- **analysis**: ``analyze_session`` over every product and the five scenes, and matching;
- **generation**: ``generate`` of one image for each of ``PRODUCTS`` products, dispatched to
  the in-process queue's worker threads, until the last image is stored: the headline figure,
  images per second;
- **where a worker's time goes**, two ways: the ``timings`` that every generated row keeps
  (database, reading inputs, the AI call, encoding, storage, the fidelity check), and a
  profile of ``process_image`` over ``PROFILED`` more images made one after another in this
  thread, each function's own time put in a bucket (composition, fidelity, encoding,
  decoding, storage, database, other); library code such as numpy or Pillow's core is
  charged to the project code that called it.

The last line reads::

    generation: 100 images  4.1 img/s  analysis 55.0 items/s  (4 worker threads)
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.db import migrate, repo
from visualizer_core.demo import art as demo_art
from visualizer_core.scope import ADMIN
from visualizer_core.services import analysis, clients, generation, products, sessions

PRODUCTS = 100
PROFILED = 20
PHOTO_SIDE = 480
TIMING_PARTS = (
    ("db_s", "database: claim and job load"),
    ("load_s", "storage: reading product and scene"),
    ("ai_s", "AI call: composition and its JPEG"),
    ("encode_s", "encoding: thumbnail"),
    ("store_s", "storage: writing image and thumbnail"),
    ("fidelity_s", "fidelity check of the product"),
)


@contextmanager
def embedded_home() -> Iterator[backends.Backends]:
    """Fresh embedded backends in a temporary home, whatever the environment configures."""
    with tempfile.TemporaryDirectory(prefix="vz-bench-generation-") as folder:
        settings = load_settings(
            visualizer_home=Path(folder),
            database_url=None,
            redis_url=None,
            r2_bucket=None,
            visualizer_ai="local",
        )
        built = backends.build(settings)
        migrate.upgrade(built.engine)
        try:
            with backends.using(built):
                yield built
        finally:
            built.close()


def set_up(count: int) -> tuple[Any, Any]:
    """A client with ``count`` drawn products (the demo catalog, cycled) and a session of rooms."""
    client = clients.create_client(ADMIN, name="Bench Home", daily_quota=10 * count)
    photos = {
        item.sku: demo_art.draw_product(
            item.category, color=item.color, seed=i, size=(PHOTO_SIDE, PHOTO_SIDE)
        )
        for i, item in enumerate(demo_art.DEMO_CATALOG)
    }
    with tempfile.TemporaryDirectory(prefix="vz-bench-photos-") as folder:
        records = []
        for index in range(count):
            item = demo_art.DEMO_CATALOG[index % len(demo_art.DEMO_CATALOG)]
            filename = f"{index}.jpg"
            (Path(folder) / filename).write_bytes(photos[item.sku])
            records.append(
                {
                    "sku": f"{item.sku}-{index}",
                    "name": f"{item.name} {index}",
                    "category": item.category,
                    "description": item.description,
                    "colors": list(item.colors),
                    "materials": list(item.materials),
                    "image": filename,
                }
            )
        report = products.import_products(
            ADMIN, client_id=client.id, records=records, images_dir=Path(folder)
        )
    assert report.failed == 0, report.errors
    session = sessions.create_session(ADMIN, client_id=client.id, name="Bench")
    for room_type, seed in demo_art.DEMO_ROOMS:
        sessions.add_scenes(
            ADMIN,
            session_id=session.id,
            files=[(f"{room_type}-{seed}.jpg", demo_art.draw_room(room_type, seed=seed))],
            room_type=room_type,
        )
    return client, session


BUCKETS = ("composition", "fidelity", "encoding", "decoding", "storage", "database", "other")
_Key = tuple[str, int, str]


def _own_bucket(key: _Key) -> str | None:
    """The kind of work of a function by where it lives, or None: it works for its caller."""
    filename, _line, name = key
    where = filename.replace(os.sep, "/")
    if "ImagingEncoder" in name or "JpegImagePlugin" in where or "PngImagePlugin" in where:
        return "encoding"
    if "ImagingDecoder" in name:
        return "decoding"
    if any(part in where for part in ("sqlalchemy/", "psycopg", "sqlite3")) or "sqlite3" in name:
        return "database"
    if "visualizer_core/storage/" in where or "botocore" in where or "fsync" in name:
        return "storage"
    if "visualizer_core/ai/" in where:
        return "composition"
    if "visualizer_core/fidelity" in where:
        return "fidelity"
    if "visualizer_core/images/" in where:
        return "encoding"
    if "visualizer_core/db/" in where:
        return "database"
    if "visualizer_core/" in where or "tenacity" in where or "pydantic" in where:
        return "other"
    return None


def _shares(stats: dict[_Key, Any]) -> dict[str, float]:
    """Own time of every function, in the bucket of the nearest caller that has one."""
    memo: dict[_Key, dict[str, float]] = {}

    def bucket_of(key: _Key, depth: int = 0) -> dict[str, float]:
        """Fractions of this function's time per bucket, following its callers."""
        own = _own_bucket(key)
        if own is not None:
            return {own: 1.0}
        if key in memo:
            return memo[key]
        memo[key] = {"other": 1.0}  # a cycle or a dead end counts as other
        callers = stats[key][4] if key in stats else {}
        total = sum(edge[2] + edge[3] for edge in callers.values())
        if depth > 40 or not callers or total <= 0:
            return memo[key]
        mixed: dict[str, float] = {}
        for caller, edge in callers.items():
            weight = (edge[2] + edge[3]) / total
            for bucket, fraction in bucket_of(caller, depth + 1).items():
                mixed[bucket] = mixed.get(bucket, 0.0) + weight * fraction
        memo[key] = mixed
        return mixed

    totals: dict[str, float] = {}
    for key, (_calls, _prim, own_s, _cum, _callers) in stats.items():
        for bucket, fraction in bucket_of(key).items():
            totals[bucket] = totals.get(bucket, 0.0) + own_s * fraction
    return totals


def profile_images(image_ids: list[Any]) -> dict[str, float]:
    """Seconds per kind of work while this thread makes ``image_ids`` one by one."""
    profiler = cProfile.Profile()
    profiler.enable()
    for image_id in image_ids:
        outcome = generation.process_image(image_id, worker_id="bench-profiled")
        assert outcome == "completed", outcome
    profiler.disable()
    return _shares(pstats.Stats(profiler).stats)  # type: ignore[attr-defined]


def main() -> None:
    """Print analysis and generation throughput and where a worker's time goes."""
    with embedded_home() as current:
        threads = current.settings.visualizer_workers
        print(
            f"generation bench: {PRODUCTS} products, local AI, embedded default "
            f"(SQLite + storage folder), {threads} worker threads, {os.cpu_count()} cores"
        )
        started = time.perf_counter()
        client, session = set_up(PRODUCTS + PROFILED)
        print(f"  set-up (draw and import the catalog, not measured): {_s(started)}")

        started = time.perf_counter()
        analysed = analysis.analyze_session(ADMIN, session_id=session.id)
        analysis_s = time.perf_counter() - started
        items = analysed["products"] + analysed["scenes"]
        assert not analysed["failed"], analysed["failed"]
        started = time.perf_counter()
        analysis.match_session(ADMIN, session_id=session.id)
        match_s = time.perf_counter() - started
        print(
            f"  analysis: {analysed['products']} products + {analysed['scenes']} scenes in "
            f"{analysis_s:.2f} s ({items / analysis_s:.1f} items/s); matching {match_s:.2f} s"
        )

        with current.transaction() as db:
            ids = [p.id for p in repo.list_products(db, client_id=client.id)]
        measured, profiled = ids[:PRODUCTS], ids[PRODUCTS:]

        started = time.perf_counter()
        flow = generation.generate(ADMIN, session_id=session.id, product_ids=measured)
        created_s = time.perf_counter() - started
        counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], poll_s=0.05)
        wall_s = time.perf_counter() - started
        assert counts["completed"] == PRODUCTS, counts
        rate = PRODUCTS / wall_s
        print(
            f"  generation: {PRODUCTS} images in {wall_s:.2f} s = {rate:.2f} images/s "
            f"(the flow and its rows written in {created_s * 1000:.0f} ms)"
        )

        with current.transaction() as db:
            rows = repo.images_of_flow(db, flow.flow_id)
            timings = [dict(r.timings) for r in rows]
        totals = [t["total_s"] for t in timings]
        print(
            f"  per image (row timings, {threads} threads at once): median "
            f"{statistics.median(totals) * 1000:.0f} ms, p90 "
            f"{statistics.quantiles(totals, n=10)[-1] * 1000:.0f} ms"
        )
        whole = sum(totals)
        for part, label in TIMING_PARTS:
            spent = sum(t.get(part, 0.0) for t in timings)
            print(f"    {label:<40} {spent / len(timings) * 1000:7.1f} ms  {spent / whole:6.1%}")
        rest = whole - sum(sum(t.get(p, 0.0) for t in timings) for p, _ in TIMING_PARTS)
        print(
            f"    {'other (prompt, bookkeeping)':<40} {rest / len(timings) * 1000:7.1f} ms  "
            f"{rest / whole:6.1%}"
        )

        side = generation.generate(
            ADMIN, session_id=session.id, product_ids=profiled, dispatch=False
        )
        started = time.perf_counter()
        buckets = profile_images(side.image_ids)
        profiled_s = time.perf_counter() - started
        spent = sum(buckets.values())
        print(
            f"  profile of {PROFILED} images made one at a time ({PROFILED / profiled_s:.2f} "
            "images/s under the profiler), own time by kind of work:"
        )
        for bucket in BUCKETS:
            share = buckets.get(bucket, 0.0)
            print(f"    {bucket:<12} {share / PROFILED * 1000:7.1f} ms/image  {share / spent:6.1%}")
        print(
            f"generation: {PRODUCTS} images  {rate:.2f} img/s  analysis {items / analysis_s:.1f} "
            f"items/s  ({threads} worker threads)"
        )


def _s(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


if __name__ == "__main__":
    main()
