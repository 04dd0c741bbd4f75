"""Finding the product in a picture without a box, and measuring only it."""

from __future__ import annotations

import io
import json
import random

import numpy as np
import pytest
from PIL import Image

from visualizer_core.demo.art import draw_room
from visualizer_core.errors import InvalidImage
from visualizer_core.fidelity import Measurement, default_calibration, measure
from visualizer_core.fidelity.examples import make_product, render


def _scene(seed: int = 3) -> Image.Image:
    return Image.open(io.BytesIO(draw_room("living_room", seed=seed, size=(1024, 768)))).convert(
        "RGB"
    )


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _corner_error(measured: Measurement, truth: list[tuple[float, float]]) -> float:
    assert measured.homography is not None
    h = np.array(measured.homography)
    width, height = measured.product_size
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], float)
    projected = corners @ h.T
    return float(np.abs(projected[:, :2] / projected[:, 2:3] - np.array(truth)).max())


def test_a_placed_product_is_found_where_it_was_put_and_its_light_is_fitted() -> None:
    product = make_product("dresser", colour=(120, 140, 90), seed=5, label="NORD 42")
    image, placement = render(product, _scene(), random.Random(11), light=(1.08, 1.0, 0.9))
    measured = measure(_png(product), image)
    assert measured.found and measured.method in ("keypoints", "template")
    assert measured.location_confidence > 0.3
    # Where the product is, to within a few pixels of a 1024-pixel picture.
    assert _corner_error(measured, placement.corners) < 12
    xs = [x for x, _ in measured.outline]
    assert min(xs) >= min(x for x, _ in placement.corners) - 12
    # Warm light: red up, blue down, as it was applied.
    assert measured.light is not None
    assert measured.light[0] > measured.light[2]
    assert measured.signals["delta_e"] < 6
    json.dumps(measured.as_dict())  # what is stored with the image


def test_a_picture_without_the_product_is_not_found_and_scores_zero() -> None:
    product = make_product("sofa", colour=(176, 140, 72), seed=2)
    out = io.BytesIO()
    _scene(8).save(out, "JPEG", quality=90)
    measured = measure(_png(product), out.getvalue())
    assert not measured.found
    assert measured.score == 0.0 and not measured.auto_approve
    assert measured.method == "not-found" and measured.outline == []
    assert measured.reasons == ["product not found in the picture"]


def test_a_photo_on_a_plain_background_works_like_its_cut_out() -> None:
    cut = make_product("dresser", colour=(60, 90, 130), seed=1, label="ALBA 17")
    white = Image.new("RGB", (cut.width + 80, cut.height + 60), (255, 255, 255))
    white.paste(cut, (40, 30), cut)
    out = io.BytesIO()
    white.save(out, "JPEG", quality=92)
    image, placement = render(cut, _scene(5), random.Random(4), light=(1.0, 1.0, 1.0))
    measured = measure(out.getvalue(), image)
    assert measured.found
    assert measured.product_size == white.size
    # The homography maps the photo's own pixels: the cut-out sits at (40, 30) in it.
    assert measured.homography is not None
    h = np.array(measured.homography)
    corner = h @ np.array([40.0, 30.0, 1.0])
    assert np.allclose(corner[:2] / corner[2], placement.corners[0], atol=12)
    assert measured.signals["delta_e"] < 8


def test_unreadable_images_are_named() -> None:
    product = _png(make_product("vase", colour=(200, 90, 60)))
    with pytest.raises(InvalidImage, match="generated image"):
        measure(product, b"not an image")
    with pytest.raises(InvalidImage, match="product image"):
        measure(b"\x89PNG broken", product)
    with pytest.raises(InvalidImage, match="no product"):
        measure(_png(Image.new("RGBA", (50, 50), (0, 0, 0, 0))), product)


def test_the_shipped_calibration_is_stated() -> None:
    calibration = default_calibration()
    assert calibration.source == "shipped"
    assert calibration.decisions >= 100
    assert "auto-approve" in calibration.describe()


def test_a_thin_part_gone_is_measured_as_missing_and_said_in_words() -> None:
    """A coat rack whose hooks are gone: the mean colour hardly moves (the hooks are a small
    share of the product), but the share of the product with nothing of its colour nearby
    does, and the reason says so."""
    product = make_product("coat_rack", colour=(40, 150, 140), seed=3)
    rgba = np.asarray(product).copy()
    ys = np.nonzero(rgba[..., 3] > 128)[0]
    rgba[: ys.min() + int((ys.max() - ys.min()) * 0.3), :, 3] = 0  # the top third: hooks gone
    drifted = Image.fromarray(rgba, "RGBA")
    scene = _scene(6)
    image, placement = render(product, scene, random.Random(2), perspective=0.0)
    gone, _placement = render(drifted, scene, random.Random(2), perspective=0.0)
    xs, ys_ = zip(*placement.corners, strict=True)
    box = (min(xs), min(ys_), max(xs), max(ys_))  # where the compositor put it: no search
    whole = measure(_png(product), image, box=box)
    cut = measure(_png(product), gone, box=box)
    assert whole.signals["missing"] < 0.05, whole.signals
    assert cut.signals["missing"] >= 0.15, cut.signals
    assert any(reason.startswith("part of the product missing") for reason in cut.reasons)
    assert cut.score < whole.score
