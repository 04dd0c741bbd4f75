"""Pytest fixtures for the Gemini stand-in: a fresh server per test, and a backend aimed at it.

A server per test costs a port bind and a thread (about a millisecond), and leaves nothing
behind for the next test: no queued faults, no rate window, no recorded requests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai.gemini import GeminiAI


@pytest.fixture
def gemini_server() -> Iterator[GeminiStandIn]:
    """A started :class:`GeminiStandIn` on 127.0.0.1, stopped after the test."""
    server = GeminiStandIn().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def gemini_ai(gemini_server: GeminiStandIn) -> Iterator[GeminiAI]:
    """A :class:`GeminiAI` talking to ``gemini_server`` through the real SDK over HTTP."""
    ai = GeminiAI(gemini_server.api_key, base_url=gemini_server.base_url, timeout_s=10.0)
    try:
        yield ai
    finally:
        ai.close()
