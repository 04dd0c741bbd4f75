"""Pixel-exact mode on pictures drawn like a model that drifts: the product pasted with a
perspective and a light change, then recoloured (drift) or partly covered (occlusion).

The product is found by the fidelity measurement (no box given), and its own pixels are put
back: the product region of the final picture is compared with what a faithful render of the
same placement and light would show (PSNR), and an occluded product is left as generated
with the side that is covered named.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from visualizer_core.demo import art
from visualizer_core.fidelity import measure
from visualizer_core.images.pixel_exact import APPLIED_NOTE, composite_product, psnr

PLACE = np.array([[0.95, 0.06, 230.0], [0.02, 0.9, 250.0], [0.00008, 0.00015, 1.0]])
LIGHT = (1.08, 1.0, 0.9)  # a warm room


def _cutout() -> Image.Image:
    photo = Image.open(
        io.BytesIO(art.draw_product("sofa", color=(70, 90, 150), seed=3, size=(420, 420)))
    ).convert("RGB")
    pixels = np.asarray(photo).astype(np.int16)
    alpha = ((np.abs(pixels - 255).sum(axis=2) > 30) * 255).astype(np.uint8)
    return Image.fromarray(np.dstack([pixels.astype(np.uint8), alpha]), "RGBA")


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _render(
    cutout: Image.Image, *, drift: str | None = None
) -> tuple[bytes, NDArray[np.uint8], NDArray[np.bool_]]:
    """A picture of the product in a room, as a drifting model draws it; also the faithful
    render's pixels and the product's core (where the PSNR is taken)."""
    scene = Image.open(io.BytesIO(art.draw_room("living_room", seed=2, size=(900, 700)))).convert(
        "RGB"
    )
    rgba = np.asarray(cutout).astype(np.float32)
    alpha = rgba[..., 3:4] / 255.0

    def paste(rgb: NDArray[np.float32]) -> NDArray[np.float32]:
        premultiplied = np.concatenate([rgb * alpha, alpha * 255.0], axis=2)
        warped = cv2.warpPerspective(premultiplied, PLACE, scene.size, flags=cv2.INTER_LINEAR)
        cover = warped[..., 3:4] / 255.0
        result: NDArray[np.float32] = np.asarray(scene, np.float32) * (1 - cover) + warped[..., :3]
        return result

    lit = rgba[..., :3] * np.array(LIGHT, np.float32)
    faithful = np.clip(paste(lit), 0, 255).astype(np.uint8)
    drawn = lit
    if drift == "recolour":
        drawn = np.clip(lit[..., [2, 1, 0]] * 1.1, 0, 255)
    picture = Image.fromarray(np.clip(paste(drawn), 0, 255).astype(np.uint8))
    if drift == "occluded":  # a cushion-coloured box in front of the product's left side
        ImageDraw.Draw(picture).rectangle((200, 420, 310, 580), fill=(150, 70, 40))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=90)
    mask = cv2.warpPerspective(np.asarray(cutout)[..., 3], PLACE, scene.size)
    core = cv2.erode((mask > 250).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    return buffer.getvalue(), faithful, core


def _pixels(data: bytes) -> NDArray[np.uint8]:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_found_products_own_pixels_come_back_exactly() -> None:
    cutout = _cutout()
    picture, faithful, core = _render(cutout)
    measured = measure(_png(cutout), picture)  # found without being told where
    assert measured.found and measured.homography is not None

    done = composite_product(
        _png(cutout),
        picture,
        homography=measured.homography,
        found=measured.found,
        location_confidence=measured.location_confidence,
        light=measured.light,
    )

    assert done.applied and done.image is not None and done.note == APPLIED_NOTE
    assert psnr(_pixels(done.image), faithful, core) >= 35.0


@pytest.mark.parametrize("drift", [None, "recolour"])
def test_the_products_own_pixels_come_back(drift: str | None) -> None:
    """Where the product stands and its light, as a measurement gives them (here the placement
    drawn, a few pixels off, and the room's light): the placement refined, the drift gone."""
    cutout = _cutout()
    picture, faithful, core = _render(cutout, drift=drift)
    before = psnr(_pixels(picture), faithful, core)
    off = np.array([[1.0, 0.0, 4.0], [0.0, 1.0, -3.0], [0.0, 0.0, 1.0]]) @ PLACE

    done = composite_product(_png(cutout), picture, homography=off, light=list(LIGHT))

    assert done.applied and done.image is not None and done.note == APPLIED_NOTE
    after = psnr(_pixels(done.image), faithful, core)
    assert after >= 35.0, (before, after, done.gains)
    if drift:
        assert before < 25.0  # the drift was real, and is gone
    # Outside the product (its contact shadow, the room) the generated picture stays.
    outside = ~cv2.dilate(core.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert psnr(_pixels(done.image), _pixels(picture), outside) >= 40.0


def test_an_occluded_product_is_left_as_generated_with_its_reason() -> None:
    """Where the measurement places the product (here the placement drawn, a few pixels off)
    and a box stands in front of its left side."""
    cutout = _cutout()
    picture, _faithful, _core = _render(cutout, drift="occluded")
    off = np.array([[1.0, 0.0, -3.0], [0.0, 1.0, 2.0], [0.0, 0.0, 1.0]]) @ PLACE

    done = composite_product(
        _png(cutout), picture, homography=off, location_confidence=0.8, light=list(LIGHT)
    )

    assert not done.applied and done.image is None
    assert done.note.startswith("pixel-exact not applied: something covers the product's left")
    assert done.occluded_share > 0.04


def test_a_product_not_found_or_not_placed_surely_is_not_pasted() -> None:
    cutout = _png(_cutout())
    picture, _faithful, _core = _render(_cutout())
    lost = composite_product(cutout, picture, homography=None, found=False)
    assert lost.note == "pixel-exact not applied: the product was not found in the picture"
    unsure = composite_product(cutout, picture, homography=PLACE, location_confidence=0.1)
    assert "not sure enough (confidence 0.10)" in unsure.note and not unsure.applied
