"""What the browser tests share: the headless Chromium, a free port, the command as a user
runs it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def visualizer(env: dict[str, str], *args: str, stdin: str | None = None) -> dict[str, str]:
    """Run the command with ``--json`` and return what it printed."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "visualizer"), *args, "--json"],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout)
    return result
