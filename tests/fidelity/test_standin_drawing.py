"""The Gemini stand-in draws like a model that drifts: through the real SDK, the picture it
returns holds the product in perspective and a changed light, drifted or covered on request."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.standins.gemini_fixtures import make_ai
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai.base import GenerationRequest
from visualizer_core.demo.art import draw_room
from visualizer_core.fidelity import measure
from visualizer_core.fidelity.examples import make_product


def _generate(server: GeminiStandIn, product: bytes) -> bytes:
    ai = make_ai(server)
    try:
        scene = draw_room("living_room", seed=2, size=(1024, 768))
        request = GenerationRequest(
            product_images=(product,), scene_image=scene, prompt="", aspect_ratio="4:3"
        )
        return ai.generate(request).image
    finally:
        ai.close()


def _product() -> bytes:
    out = io.BytesIO()
    make_product("dresser", colour=(70, 110, 150), seed=4, label="FJORD 30").save(out, "PNG")
    return out.getvalue()


def test_model_like_drawing_is_found_where_it_was_drawn(gemini_server: GeminiStandIn) -> None:
    product = _product()
    gemini_server.drawing.draw_next()
    picture = _generate(gemini_server, product)
    [drawn] = gemini_server.drawing.drawn
    measured = measure(product, picture)
    assert measured.found
    assert measured.homography is not None
    h = np.array(measured.homography)
    w, ht = drawn.product_size
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, ht, 1], [0, ht, 1]], float) @ h.T
    assert np.abs(corners[:, :2] / corners[:, 2:] - np.array(drawn.corners)).max() < 15
    # The warm light it drew with is the light measured.
    assert measured.light is not None and measured.light[0] > measured.light[2]


@pytest.mark.parametrize("drift", ["recolour", "resize"])
def test_a_drifted_drawing_scores_lower(gemini_server: GeminiStandIn, drift: str) -> None:
    product = _product()
    gemini_server.drawing.draw_next()
    gemini_server.drawing.draw_next(drift=drift)
    faithful = measure(product, _generate(gemini_server, product))
    drifted = measure(product, _generate(gemini_server, product))
    assert [d.drift for d in gemini_server.drawing.drawn] == [None, drift]
    assert drifted.score < faithful.score
    signal = "delta_e" if drift == "recolour" else "aspect_change"
    assert drifted.signals.get(signal, 99.0) > faithful.signals[signal]


def test_an_occluder_covers_a_side_of_the_product(gemini_server: GeminiStandIn) -> None:
    product = _product()
    gemini_server.drawing.draw_next(occluder="left")
    picture = Image.open(io.BytesIO(_generate(gemini_server, product))).convert("RGB")
    [drawn] = gemini_server.drawing.drawn
    assert drawn.occluder_box is not None
    left, top, right, bottom = drawn.occluder_box
    xs = [x for x, _ in drawn.corners]
    ys = [y for _, y in drawn.corners]
    # A third of the product, from its left edge, behind a plain block.
    assert left <= min(xs) < right < max(xs)
    assert top < max(ys) and bottom >= max(ys)
    inside = picture.getpixel(((left + right) // 2, (top + bottom) // 2))
    assert inside == pytest.approx((92, 64, 48), abs=12)


def test_without_a_request_the_stand_in_pastes_as_before(gemini_server: GeminiStandIn) -> None:
    _generate(gemini_server, _product())
    assert gemini_server.drawing.drawn == []
