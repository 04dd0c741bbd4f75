"""What the browser tests share: the headless Chromium, a free port, the command as a user
runs it, a running studio and a browser tab on it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

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


@contextlib.contextmanager
def running_studio(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``visualizer studio`` on a free port with ``env``, once its health check answers; its
    address. Stopped with its process group (the streamlit child too) at the end."""
    port = free_port()
    log = log_path.open("w")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "visualizer"), "studio", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the streamlit child stops with it
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "the studio did not start within 60 s"
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


@contextlib.contextmanager
def browser_tab(url: str, *, height: int, timeout_ms: int) -> Iterator[Page]:
    """A headless Chromium tab (1440 px wide, downloads accepted) opened on ``url``."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1440, "height": height}, accept_downloads=True
        )
        tab = context.new_page()
        tab.set_default_timeout(timeout_ms)
        expect.set_options(timeout=timeout_ms)
        tab.goto(url)
        try:
            yield tab
        finally:
            context.close()
            browser.close()
