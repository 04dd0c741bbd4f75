"""Benchmark of ``visualizer status --session``: the command a script polls, start included.

Run with ``python -m bench status``. A session with ``IMAGES`` generated-image rows (125
products x 4 variants, left pending), on the embedded default (SQLite) and on the production
stack (PostgreSQL and Redis, where the paused models are read too); each time is the wall time
of the whole command in a fresh process, as a script would run it, median of ``RUNS``. The aim
is under 1 s. The last line reads::

    status: 500 images, embedded 0.52 s, production 0.61 s (median of 5, command start included)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.servers.celery_worker import make_world, queue_stack
from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.db import migrate
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import generation

IMAGES = 500
VARIANTS = 4
RUNS = 5
ROOT = Path(__file__).resolve().parents[1]


def _session_with_rows(folder: Path) -> str:
    world = make_world(folder / "catalog", products_count=IMAGES // VARIANTS)
    flow = generation.generate(
        ADMIN,
        session_id=world.session_id,
        settings=FlowSettings(variants=VARIANTS),
        dispatch=False,
    )
    assert len(flow.image_ids) == IMAGES
    return str(world.session_id)


def _time_command(env: dict[str, str], session_id: str) -> float:
    runs = []
    for _ in range(RUNS):
        mark = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "visualizer_cli", "status", "--session", session_id, "--json"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        runs.append(time.perf_counter() - mark)
        if done.returncode != 0 or f'"total": {IMAGES}' not in done.stdout:
            raise RuntimeError(f"status failed: {done.stderr or done.stdout}")
    return statistics.median(runs)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VISUALIZER_", "R2_", "GEMINI_", "DATABASE_", "REDIS_"))
    }
    env.update(extra)
    return env


def main() -> None:
    """Run the benchmark and print its figures."""
    one, five, _ = os.getloadavg()
    print(f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="vz-bench-status-") as folder:
        home = Path(folder) / "embedded"
        settings = load_settings(visualizer_home=home)
        built = backends.build(settings)
        migrate.upgrade(built.engine)
        backends.activate(built)
        try:
            session_id = _session_with_rows(Path(folder) / "e")
        finally:
            backends.reset()
        embedded = _time_command(_clean_env(VISUALIZER_HOME=str(home)), session_id)
        print(f"embedded (SQLite): {IMAGES} images, {embedded:.2f} s", flush=True)

        with queue_stack(None, Path(folder) / "production") as stack:
            session_id = _session_with_rows(Path(folder) / "p")
            env = stack.env()  # what a user would export for that stack
            production = _time_command(env, session_id)
        print(f"production (PostgreSQL, Redis): {IMAGES} images, {production:.2f} s", flush=True)
    print(
        f"status: {IMAGES} images, embedded {embedded:.2f} s, production {production:.2f} s "
        f"(median of {RUNS}, command start included; aim under 1 s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
