"""What the tests share: stand-in servers, backends with more settings, one poller, the markers.

Registered in ``tests/conftest.py`` (``pytest_plugins``), so every test module has these
fixtures without importing them:

- ``gemini_server``, ``gemini_ai``: the Gemini stand-in on loopback and a ``GeminiAI`` aimed at
  it (``tests/standins/gemini_fixtures.py``);
- ``unsplash_server``: the Unsplash stand-in on loopback;
- ``reconfigure``: ``reconfigure(**settings)`` makes backends on the same database and storage as
  the test's ``backend`` (or ``embedded``), with more settings, current until the test ends.

Helpers to import: :func:`wait_until`, :func:`settings_like` and :func:`backends_like`.

Markers: every test that needs the PostgreSQL server gets ``postgres`` and every test that
needs Redis gets ``redis``, from the fixtures and parameters it uses (a fixture parameter named
``postgres`` or ``redis``, as ``backend``'s, ``postgres_url``, a queue ``stack`` ...); a test
that reaches a server another way says so with an explicit mark. ``make test-fast`` deselects
both and points the servers' addresses at closed ports, so a test that needs one without its
mark fails there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.standins.gemini_fixtures import gemini_ai, gemini_server
from tests.standins.unsplash_server import UnsplashStandIn
from visualizer_core import backends
from visualizer_core.config import Settings, load_settings

__all__ = [
    "backends_like",
    "gemini_ai",
    "gemini_server",
    "reconfigure",
    "settings_like",
    "unsplash_server",
    "wait_until",
]

# Fixtures (or fixture parameters) that reach a server: the marks they give a test.
POSTGRES_FIXTURES = {"postgres_url", "stack", "queue_stack"}
REDIS_FIXTURES = {"stack", "queue_stack", "redis_db"}


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, *, every_s: float = 0.05
) -> Any:
    """Poll ``condition`` until it returns something true (returned), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(
                f"gave up waiting for {what} after {timeout:g} s (last: {found!r})"
            )
        time.sleep(every_s)


def settings_like(base: Settings, **extra: Any) -> Settings:
    """Settings on the same database and storage as ``base``, with ``extra`` set, as a user's
    environment would give them (validated by ``load_settings``)."""
    secret = base.r2_secret_access_key
    auth = base.auth_secret
    given: dict[str, Any] = {
        "visualizer_home": base.visualizer_home,
        "database_url": base.database_url,
        "r2_bucket": base.r2_bucket,
        "r2_endpoint": base.r2_endpoint,
        "r2_access_key_id": base.r2_access_key_id,
        "r2_secret_access_key": secret.get_secret_value() if secret else None,
        "auth_secret": auth.get_secret_value() if auth else None,
    }
    return load_settings(**{**given, **extra})


@contextmanager
def backends_like(
    base: backends.Backends, *, ai: Any = None, **extra: Any
) -> Iterator[backends.Backends]:
    """Backends on ``base``'s database and storage with ``extra`` settings, current while the
    block runs (``backends.using``), closed after it."""
    built = backends.build(settings_like(base.settings, **extra), ai=ai)
    try:
        with backends.using(built):
            yield built
    finally:
        built.close()


@pytest.fixture
def unsplash_server() -> Iterator[UnsplashStandIn]:
    """A started :class:`UnsplashStandIn` on 127.0.0.1, stopped after the test."""
    server = UnsplashStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def reconfigure(request: pytest.FixtureRequest) -> Iterator[Callable[..., backends.Backends]]:
    """``reconfigure(ai=None, **settings)``: backends like the test's, with more settings.

    The new backends are current (for this process) until the test ends; then the test's own
    backends are current again and the new ones are closed.
    """
    names = request.fixturenames
    base: backends.Backends = request.getfixturevalue(
        "backend" if "backend" in names else "embedded"
    )
    made: list[backends.Backends] = []

    def build(ai: Any = None, **extra: Any) -> backends.Backends:
        built = backends.build(settings_like(base.settings, **extra), ai=ai)
        made.append(built)
        backends.activate(built)
        return built

    try:
        yield build
    finally:
        backends.activate(base)
        for built in made:
            built.close()


def _needs(item: pytest.Item) -> set[str]:
    needs: set[str] = set()
    names = set(getattr(item, "fixturenames", ()))
    params = getattr(getattr(item, "callspec", None), "params", {})
    values = {v for v in params.values() if isinstance(v, str)}
    if "postgres" in values or names & POSTGRES_FIXTURES:
        needs.add("postgres")
    if "redis" in values or names & REDIS_FIXTURES:
        needs.add("redis")
    return needs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test by the servers its fixtures and parameters reach."""
    for item in items:
        for name in sorted(_needs(item)):
            if item.get_closest_marker(name) is None:
                item.add_marker(getattr(pytest.mark, name))
