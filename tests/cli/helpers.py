"""Running the ``visualizer`` command as a user would: its own process, the environment a user
would export for the test's backends, JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from visualizer_core.backends import Backends


def environment(backend: Backends) -> dict[str, str]:
    """The environment a user would export for these backends."""
    settings = backend.settings
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["VISUALIZER_HOME"] = str(settings.visualizer_home)
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    if settings.r2_bucket:
        env.update(
            R2_BUCKET=settings.r2_bucket,
            R2_ENDPOINT=settings.r2_endpoint or "",
            R2_ACCESS_KEY_ID="test",
            R2_SECRET_ACCESS_KEY="test",
        )
    return env


def run(
    backend: Backends, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "visualizer_cli", *args],
        env=environment(backend),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok_json(backend: Backends, *args: str, stdin: str | None = None) -> dict[str, Any]:
    done = run(backend, *args, "--json", stdin=stdin)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1, done.stdout
    payload = json.loads(lines[0])
    assert isinstance(payload, dict)
    return payload
