"""What the browser tests share: the headless Chromium, a free port, the command as a user
runs it, a running studio, browser windows and tabs on it, and the waits and readings of a
page that every walk through the studio makes (its run finished, the image shown, the review
counter, no traceback)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.db import migrate
from visualizer_core.db.models import Client
from visualizer_core.scope import ADMIN
from visualizer_core.services import clients

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
def brand_at(
    home: Path, *, name: str, email: str, password: str
) -> Iterator[tuple[backends.Backends, Client]]:
    """The embedded default at ``home`` (the studio's own, before it starts), migrated and
    active, with a client named ``name`` and its owner; closed afterwards. Making a walk's
    data here, through the services, is faster than a command each."""
    settings = load_settings(
        visualizer_home=home, database_url=None, redis_url=None, r2_bucket=None
    )
    built = backends.build(settings)
    migrate.upgrade(built.engine)
    try:
        with backends.using(built):
            client = clients.create_client(ADMIN, name=name, daily_quota=200)
            clients.create_user(
                ADMIN, email=email, client_id=client.id, role="owner", password=password
            )
            yield built, client
    finally:
        built.close()


@contextlib.contextmanager
def chromium(timeout_ms: int) -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright; every wait of ``expect`` and of the
    pages opened in it allows ``timeout_ms`` (generous: a loaded two-core machine)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        expect.set_options(timeout=timeout_ms)
        try:
            yield browser
        finally:
            browser.close()


def new_window(browser: Browser, *, height: int, timeout_ms: int) -> BrowserContext:
    """A browser window of its own (its own cookies: another device), 1440 px wide, downloads
    accepted."""
    context = browser.new_context(viewport={"width": 1440, "height": height}, accept_downloads=True)
    context.set_default_timeout(timeout_ms)
    return context


@contextlib.contextmanager
def browser_tab(url: str, *, height: int, timeout_ms: int) -> Iterator[Page]:
    """A headless Chromium tab (1440 px wide, downloads accepted) opened on ``url``."""
    with chromium(timeout_ms) as browser:
        context = new_window(browser, height=height, timeout_ms=timeout_ms)
        try:
            tab = context.new_page()
            tab.goto(url)
            yield tab
        finally:
            context.close()


# -- what a page shows -------------------------------------------------------------------------

COUNTER = re.compile(r"^(\d+) of (\d+) reviewed$")
SHOWN = re.compile(r"^(\S+) · .* · variant (\d+) · fidelity")


def wait_idle(page: Page) -> None:
    """Wait until the page's script run has finished (what it shows is then all current)."""
    expect(page.locator('[data-testid="stApp"][data-test-script-state="running"]')).to_have_count(0)


def no_traceback(page: Page) -> None:
    """No exception box anywhere on the page, nor in an open dialog."""
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def counter(page: Page) -> tuple[int, int]:
    """The review's "k of n reviewed" shown now."""
    text = page.get_by_text(COUNTER).first.inner_text().strip()
    found = COUNTER.match(text)
    assert found, text
    return int(found[1]), int(found[2])


def wait_for_counter(page: Page, reviewed: int) -> int:
    """Wait until ``reviewed`` images are decided; returns the total shown then."""
    expect(page.get_by_text(re.compile(rf"^{reviewed} of \d+ reviewed$"))).to_be_visible()
    wait_idle(page)
    return counter(page)[1]


def shown_image(page: Page) -> tuple[str, int]:
    """The image review shows, by its caption line ("SKU · name · variant n · fidelity ...")."""
    line = page.get_by_text(SHOWN).first.inner_text().strip()
    found = SHOWN.match(line.lstrip("⭐ ").strip())
    assert found, line
    return found[1], int(found[2])


def keys_back(page: Page) -> None:
    """Wait until review's shortcuts are back (a dialog just closed: its run must end)."""
    wait_idle(page)
    expect(page.get_by_role("button", name="Approve Shortcut A")).to_be_visible()
