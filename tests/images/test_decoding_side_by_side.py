"""Issue 24, finding 9: one client's large picture does not stall another client's small one.

A 64-megapixel PNG of a few hundred kilobytes takes seconds to decode. Decoding used to hold a
process-wide lock (around ``warnings.catch_warnings``), so every other photo of every client
waited behind it. Here the large decode is held, deterministically, at a point inside decoding
(after its pixels are loaded, where the lock was still held), and a small photo must be decoded
to the end meanwhile: an ordering, not a timing.
"""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image, ImageDraw

from visualizer_core.images import ingest


def _large_png() -> bytes:
    image = Image.new("L", (8000, 8000), 235)
    ImageDraw.Draw(image).rectangle((2000, 2000, 6000, 6000), fill=60)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _small_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 120, 80)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_small_photo_is_decoded_while_a_large_one_is_being_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    large = _large_png()
    assert len(large) < 1_000_000 and ingest.MAX_PIXELS >= 8000 * 8000
    inside_large = threading.Event()
    let_large_finish = threading.Event()
    read_orientation = ingest._read_orientation

    def held_when_large(image: Image.Image) -> int:
        if image.size == (8000, 8000):  # the large decode, its pixels loaded: hold it here
            inside_large.set()
            assert let_large_finish.wait(120)
        return read_orientation(image)

    monkeypatch.setattr(ingest, "_read_orientation", held_when_large)
    results: dict[str, object] = {}

    def decode(name: str, data: bytes) -> None:
        results[name] = ingest.image_size(data, filename=f"{name}.img")

    big = threading.Thread(target=decode, args=("large", large))
    big.start()
    try:
        assert inside_large.wait(120), "the large decode never got going"
        small = threading.Thread(target=decode, args=("small", _small_jpeg()))
        small.start()
        small.join(60)  # a guard against a deadlock, not a measurement
        assert not small.is_alive(), "the small photo waited for the large one"
        assert results == {"small": (640, 480)}  # done while the large one is still inside
    finally:
        let_large_finish.set()
        big.join(120)
    assert results["large"] == (8000, 8000)
