"""The sign-in cookie in a real browser (Playwright, Debian's Chromium): a refresh, a new tab,
a link to a page and a server restart keep a member signed in; signing out, signing out
everywhere, a password change, a forged and a stale cookie end it. The studio shows members no
developer toolbar."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.studio.browser import chromium, new_window, running_studio, visualizer

EMAIL = "owner@cookie.test"
PASSWORD = "a long cookie password"
SLOW = 90_000
COOKIE = "visualizer_session"


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A studio home with one client and its owner; the environment to run it with."""
    env = {**os.environ, "VISUALIZER_HOME": str(tmp_path / "home")}
    visualizer(env, "db", "upgrade")
    client = visualizer(env, "client", "create", "Cookie & Co", "--daily-quota", "5")
    visualizer(
        env,
        "user",
        "create",
        EMAIL,
        "--client",
        client["id"],
        "--role",
        "owner",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    visualizer(env, "session", "create", "--client", client["id"], "--name", "Autumn edit")
    return env


@pytest.fixture
def browser_contexts() -> Iterator[list[BrowserContext]]:
    """Two separate browsers' worth of cookies (two devices), 1440 x 900."""
    with chromium(SLOW) as browser:
        contexts = [new_window(browser, height=900, timeout_ms=SLOW) for _ in "ab"]
        try:
            yield contexts
        finally:
            for context in contexts:
                context.close()


def sign_in(tab: Page, url: str, password: str = PASSWORD) -> None:
    tab.goto(url)
    tab.get_by_label("Email").fill(EMAIL)
    tab.get_by_label("Password", exact=True).fill(password)
    tab.get_by_role("button", name="Sign in").click()


def signed_in_on(tab: Page, heading: str) -> None:
    expect(tab.get_by_role("heading", name=heading)).to_be_visible()
    expect(tab.get_by_text(f"Signed in as {EMAIL}")).to_be_visible()


def sign_in_form(tab: Page) -> None:
    expect(tab.get_by_role("button", name="Sign in")).to_be_visible()
    expect(tab.get_by_text("Signed in as")).to_have_count(0)


def the_cookie(context: BrowserContext) -> dict[str, object]:
    found = [c for c in context.cookies() if c["name"] == COOKIE]
    assert len(found) == 1, context.cookies()
    return dict(found[0])


@pytest.mark.slow
def test_the_sign_in_survives_refresh_links_and_restarts(
    home: dict[str, str], browser_contexts: list[BrowserContext], tmp_path: Path
) -> None:
    laptop, phone = browser_contexts
    with running_studio(home, tmp_path / "studio-1.log") as url:
        tab = laptop.new_page()
        # A link to a page, opened before signing in, is where signing in leads.
        tab.goto(f"{url}/products")
        sign_in_form(tab)
        expect(tab.locator('[data-testid="stMainMenu"]')).to_have_count(0)  # no dev toolbar
        tab.get_by_label("Email").fill(EMAIL)
        tab.get_by_label("Password", exact=True).fill(PASSWORD)
        tab.get_by_role("button", name="Sign in").click()
        signed_in_on(tab, "Products")
        assert tab.url.endswith("/products"), tab.url

        cookie = the_cookie(laptop)
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Lax"
        assert cookie["path"] == "/"
        assert tab.evaluate("document.cookie").find(COOKIE) == -1  # no script can read it

        tab.reload()
        signed_in_on(tab, "Products")
        other = laptop.new_page()  # a teammate's link, opened in a new tab
        other.goto(f"{url}/sessions")
        signed_in_on(other, "Sessions")
        expect(other.locator('[data-testid="stMainMenu"]')).to_have_count(0)
        other.close()

    with running_studio(home, tmp_path / "studio-2.log") as url:  # a restart
        tab.goto(f"{url}/sessions")
        signed_in_on(tab, "Sessions")

        # A forged cookie (the token with its signature changed) is refused with a reason.
        real = the_cookie(laptop)
        token = str(real["value"])
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        phone.add_cookies([{"name": COOKIE, "value": forged, "url": url}])
        stranger = phone.new_page()
        stranger.goto(f"{url}/sessions")
        sign_in_form(stranger)
        expect(
            stranger.get_by_text("This sign-in is not valid: please sign in again")
        ).to_be_visible()

        # The phone signs in too; then "sign out everywhere" there ends the laptop's cookie.
        sign_in(stranger, url)
        signed_in_on(stranger, "Sessions")
        stranger.get_by_role("button", name="Sign out everywhere").click()
        sign_in_form(stranger)
        assert [c for c in phone.cookies() if c["name"] == COOKIE] == []  # deleted
        tab.reload()
        sign_in_form(tab)
        expect(tab.get_by_text("You were signed out: please sign in again")).to_be_visible()

        # A stale cookie put back by hand stays refused.
        phone.add_cookies([{"name": COOKIE, "value": token, "url": url}])
        stranger.goto(f"{url}/sessions")
        sign_in_form(stranger)

        # Signing in again works; a password change elsewhere ends it; signing out deletes it.
        sign_in(tab, url)
        signed_in_on(tab, "Sessions")
        visualizer(
            home, "user", "set-password", EMAIL, "--password-stdin", stdin="another password 2\n"
        )
        tab.reload()
        sign_in_form(tab)
        sign_in(tab, url, "another password 2")
        signed_in_on(tab, "Sessions")
        tab.get_by_role("button", name="Sign out", exact=True).click()
        sign_in_form(tab)
        assert [c for c in laptop.cookies() if c["name"] == COOKIE] == []
        tab.reload()
        sign_in_form(tab)
