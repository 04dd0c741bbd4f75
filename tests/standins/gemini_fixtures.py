"""Pytest fixtures for the Gemini stand-in: a fresh server per test, and a backend aimed at it;
and the small pictures and requests the Gemini tests send (registered by ``tests/plugin.py``).

A server per test costs a port bind and a thread (about a millisecond), and leaves nothing
behind for the next test: no queued faults, no rate window, no recorded requests.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai.base import GenerationRequest
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


def png_cutout(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    image = Image.new("RGBA", (120, 160), (0, 0, 0, 0))
    image.paste((*color, 255), (20, 20, 100, 140))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_scene(size: tuple[int, int] = (640, 480)) -> bytes:
    image = Image.new("RGB", size, (30, 90, 200))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def request(**changes: object) -> GenerationRequest:
    fields: dict[str, object] = {
        "product_images": (png_cutout(),),
        "scene_image": jpeg_scene(),
        "prompt": "Place the red cabinet against the back wall.",
        "aspect_ratio": "16:9",
        "seed": 7,
    }
    fields.update(changes)
    return GenerationRequest(**fields)  # type: ignore[arg-type]


def make_ai(server: GeminiStandIn, **options: object) -> GeminiAI:
    options.setdefault("timeout_s", 10.0)
    return GeminiAI(server.api_key, base_url=server.base_url, **options)  # type: ignore[arg-type]
