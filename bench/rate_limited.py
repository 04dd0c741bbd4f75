"""Benchmark of Gemini's per-model limits: 200 images against 100 image calls a minute.

Run with ``python -m bench rate_limited`` (the live PostgreSQL and Redis the tests use). The
Gemini stand-in answers an image in ``LATENCY_S`` seconds and a judgement four times faster, and
allows ``RPM`` calls a minute to the image model, answering 429 RESOURCE_EXHAUSTED past it (as
Gemini does, per model). ``WORKERS`` Celery workers with ``SLOTS`` image slots each are told the
same limit (``GEMINI_LIMITS``). The fidelity judgement is on (``all``), on its own model's bucket
and its own slots.

The ideal is "the first ``RPM`` at once, the rest one window later": the calls past the limit
cannot start before the first ones leave the window, so the flow cannot end before
``WINDOW_S + ceil((IMAGES - RPM) / slots) x LATENCY_S``. The ratio is ideal / wall; the provider's
429s are counted (the aim: none, since the workers keep to the limit themselves).

``BENCH_WINDOW_S`` shortens the window (and tells the workers so, with the
``VISUALIZER_LIMIT_WINDOW_S`` test knob) for a quick run; the figures of record use 60 s.
The last line reads::

    rate_limited: 200 images in 76.1 s, ideal 74.0 s, ratio 0.97; provider 429s 0; ...

**The spend-bound run** (:func:`spend_bound`): the same 200 images against a stand-in that
limits the billing account's spend to ``SPEND_CEILING_USD`` per window of ten of those
"minutes" (Google's 10 minutes; 10 x ``BENCH_SPEND_MINUTE_S``, 1 s by default) and bills each
answer at its prices, with no request limits; the workers are told the same ceiling
(``GEMINI_LIMITS["account"]``). Each call reserves its estimated cost and settles its real cost.
The ideal is one ceiling's worth of images a window: the flow cannot end before ``(ceil(total
spend / ceiling) - 1)`` windows plus one image's latency (a fiftieth of the window, as
Gemini's ~12 s are of Google's 10 minutes). Printed: the image calls answered in each window
(from the first answer) with the time each window's first answer came, then the ratio of the
spend achieved per window to the ceiling (ideal / wall: aim >= 0.9) and the provider's 429s
(aim 0). ``BENCH_SPEND_MINUTE_S=3`` runs it with a 30 s window. Measured 2026-12-06 (shared
machine, load 7-10)::

    spend_bound: 200 images, USD 6.97 in 110.6 s, ceiling USD 0.70 a 10 s window: spend
    achieved / ceiling 0.82; provider 429s 0
    spend_bound: 200 images, USD 6.97 in 296.8 s, ceiling USD 0.70 a 30 s window: spend
    achieved / ceiling 0.91; provider 429s 0

The queue's own delay (handing a job back, claiming its row, rebuilding its request: about a
second on a loaded machine) is paid once a window, so the short window pays it ten times as
often as Google's 10 minutes would in proportion.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import uuid
from pathlib import Path

from tests.servers.celery_worker import make_world, queue_stack
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
from visualizer_core.scope import ADMIN
from visualizer_core.services import generation

IMAGES = 200
RPM = 100
LATENCY_S = 2.0
WORKERS = 2
SLOTS = 8
WINDOW_S = int(os.environ.get("BENCH_WINDOW_S", "60"))
SPEND_CEILING_USD = 0.70  # about twenty 1K images a window
SPEND_MINUTE_S = int(os.environ.get("BENCH_SPEND_MINUTE_S", "1"))
PRICES = {DEFAULT_IMAGE_MODEL: (1.5, 7.5, 30.0), DEFAULT_TEXT_MODEL: (1.5, 7.5, None)}


def _wait(flow_id: uuid.UUID, timeout: float) -> dict[str, int]:
    counts = generation.wait_for_flows(ADMIN, flow_ids=[flow_id], timeout=timeout, poll_s=0.05)
    if counts["pending"] + counts["generating"]:
        raise RuntimeError(f"the flow did not finish in {timeout:.0f} s: {counts}")
    return counts


def main() -> None:
    """Run both runs and print their figures."""
    if os.environ.get("BENCH_RATE_RUN", "both") in ("both", "rpm"):
        requests_bound()
    if os.environ.get("BENCH_RATE_RUN", "both") in ("both", "spend"):
        spend_bound()


def spend_bound() -> None:
    """200 images against a spend ceiling per window: spend achieved / ceiling, 429s."""
    window_s = 10 * SPEND_MINUTE_S
    limits = {"account": {"spend_usd_per_10min": SPEND_CEILING_USD}}
    server = GeminiStandIn(
        spend_limits={"window_usd": SPEND_CEILING_USD, "window_s": window_s}, prices=PRICES
    ).start()
    try:
        with tempfile.TemporaryDirectory(prefix="vz-bench-spend-") as folder:
            home = Path(folder) / "home"
            gemini = {"gemini_api_key": server.api_key, "gemini_base_url": server.base_url}
            with queue_stack(None, home, **gemini) as stack:
                world = make_world(Path(folder) / "catalog", products_count=IMAGES)
                env = {
                    "VISUALIZER_AI": "gemini",
                    "GEMINI_API_KEY": server.api_key,
                    "GEMINI_BASE_URL": server.base_url,
                    "GEMINI_LIMITS": json.dumps(limits),
                    "VISUALIZER_LIMIT_WINDOW_S": str(SPEND_MINUTE_S),
                    "VISUALIZER_JUDGEMENT_WORKERS": "0",  # the images' spend alone
                }
                workers = [
                    stack.start_worker(concurrency=SLOTS, ready=False, **env)
                    for _ in range(WORKERS)
                ]
                for worker in workers:
                    worker.wait_ready()
                server.reset()
                # An image answered in a fiftieth of the window: Gemini's ~12 s against
                # Google's 10 minutes (a call's spend counts from its answer, so a latency
                # long against the window would stand for a time that is not spent).
                latency = window_s / 50
                server.model_latency_s = {DEFAULT_IMAGE_MODEL: latency}
                mark = time.perf_counter()
                flow = generation.generate(ADMIN, session_id=world.session_id)
                counts = _wait(flow.flow_id, timeout=3600)
                wall = time.perf_counter() - mark
                calls = [r for r in server.requests if r.model == DEFAULT_IMAGE_MODEL]
                refused = sum(1 for r in calls if r.status == 429)
                total = server.spent()["month_usd"]
                # When the calls were answered, window by window from the first one: how the
                # ceiling was used (ideal: a ceiling's worth at the start of each window).
                first = min(r.at for r in calls)
                per_window = [0] * (int((max(r.at for r in calls) - first) // window_s) + 1)
                starts: list[float] = []
                for r in sorted(calls, key=lambda r: r.at):
                    index = int((r.at - first) // window_s)
                    per_window[index] += 1
                    if len(starts) < index + 1:
                        starts.append(r.at - first)
                print(
                    f"image calls per {window_s} s window: {per_window}; each window's first"
                    f" answer at {[round(t, 1) for t in starts]} s",
                    flush=True,
                )
                windows = math.ceil(total / SPEND_CEILING_USD - 1e-9)
                ideal = (windows - 1) * window_s + latency
                print(
                    f"{IMAGES} images, spend ceiling USD {SPEND_CEILING_USD:.2f} a {window_s} s"
                    f" window, {WORKERS} workers x {SLOTS} slots, {latency:g} s an image:"
                    f" {counts['completed']} completed, {counts['error']} failed; billed USD"
                    f" {total:.2f} in {wall:.1f} s, ideal {ideal:.1f} s ({windows} windows'"
                    f" worth); image calls {len(calls)}",
                    flush=True,
                )
                print(
                    f"spend_bound: {IMAGES} images, USD {total:.2f} in {wall:.1f} s, ceiling USD"
                    f" {SPEND_CEILING_USD:.2f} a {window_s} s window: spend achieved / ceiling"
                    f" {ideal / wall:.2f}; provider 429s {refused}",
                    flush=True,
                )
    finally:
        server.stop()


def requests_bound() -> None:
    """200 images against 100 image calls a window: wall against the ideal, 429s."""
    limits = {DEFAULT_IMAGE_MODEL: {"rpm": RPM}}
    server = GeminiStandIn(limits=limits, window_s=WINDOW_S).start()
    try:
        with tempfile.TemporaryDirectory(prefix="vz-bench-limits-") as folder:
            home = Path(folder) / "home"
            gemini = {
                "gemini_api_key": server.api_key,
                "gemini_base_url": server.base_url,
                "gemini_limits": limits,
                "visualizer_limit_window_s": WINDOW_S,
            }
            with queue_stack(None, home, **gemini) as stack:
                started = time.perf_counter()
                world = make_world(Path(folder) / "catalog", products_count=IMAGES)
                env = {
                    "VISUALIZER_AI": "gemini",
                    "GEMINI_API_KEY": server.api_key,
                    "GEMINI_BASE_URL": server.base_url,
                    "GEMINI_LIMITS": json.dumps(limits),
                    "VISUALIZER_LIMIT_WINDOW_S": str(WINDOW_S),
                }
                workers = [
                    stack.start_worker(concurrency=SLOTS, ready=False, **env)
                    for _ in range(WORKERS)
                ]
                for worker in workers:
                    worker.wait_ready()
                print(
                    f"set-up: {IMAGES} products and {WORKERS} workers in "
                    f"{time.perf_counter() - started:.1f} s",
                    flush=True,
                )
                server.reset()
                server.model_latency_s = {
                    DEFAULT_IMAGE_MODEL: LATENCY_S,
                    DEFAULT_TEXT_MODEL: LATENCY_S / 4,
                }
                slots = WORKERS * SLOTS
                ideal = WINDOW_S + math.ceil((IMAGES - RPM) / slots) * LATENCY_S
                mark = time.perf_counter()
                flow = generation.generate(ADMIN, session_id=world.session_id)
                counts = _wait(flow.flow_id, timeout=10 * ideal)
                wall = time.perf_counter() - mark
                calls = [r for r in server.requests if r.model == DEFAULT_IMAGE_MODEL]
                refused = sum(1 for r in calls if r.status == 429)
                judged = sum(
                    1 for r in server.requests if r.model == DEFAULT_TEXT_MODEL and r.status == 200
                )
                print(
                    f"{IMAGES} images, {RPM} image calls a {WINDOW_S} s window allowed, "
                    f"{WORKERS} workers x {SLOTS} slots, {LATENCY_S:g} s an image: wall "
                    f"{wall:.1f} s, ideal {ideal:.1f} s (the first {RPM} at once, the rest one "
                    f"window later), ratio {ideal / wall:.2f}; {counts['completed']} completed, "
                    f"{counts['error']} failed; image calls {len(calls)}, provider 429s "
                    f"{refused}; judgements answered {judged}",
                    flush=True,
                )
                print(
                    f"rate_limited: {IMAGES} images in {wall:.1f} s, ideal {ideal:.1f} s, "
                    f"ratio {ideal / wall:.2f}; provider 429s {refused}",
                    flush=True,
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
