"""Product fidelity: the local similarity measure, and the score a generation stores."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests import factories
from visualizer_core import backends
from visualizer_core.ai.base import GenerationRequest
from visualizer_core.ai.compositor import compose
from visualizer_core.db.models import GeneratedImage
from visualizer_core.errors import InvalidImage
from visualizer_core.fidelity import check_fidelity, local_fidelity
from visualizer_core.schemas import FlowSettings
from visualizer_core.services import analysis, gallery, generation, products, sessions


def cutout(color: tuple[int, int, int], *, stripes: bool = True) -> bytes:
    """A cabinet-like product on a transparent canvas: a body, and drawers when ``stripes``."""
    image = Image.new("RGBA", (400, 500), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rectangle((50, 50, 350, 450), fill=(*color, 255))
    if stripes:
        for top in range(90, 420, 80):
            draw.rectangle((80, top, 320, top + 40), fill=(240, 235, 220, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def scene() -> bytes:
    image = Image.new("RGB", (1200, 800), (200, 196, 188))
    ImageDraw.Draw(image).rectangle((0, 560, 1200, 800), fill=(120, 95, 70))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def composed(product: bytes) -> tuple[bytes, list[int]]:
    result = compose(GenerationRequest(product_images=(product,), scene_image=scene(), prompt=""))
    return result.image, result.meta["box"]


def painted(picture: bytes, box: list[int], color: tuple[int, int, int]) -> bytes:
    image = Image.open(io.BytesIO(picture)).convert("RGB")
    ImageDraw.Draw(image).rectangle(box, fill=color)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_the_placed_product_scores_high() -> None:
    product = cutout((150, 60, 40))
    picture, box = composed(product)
    assert local_fidelity(product, picture, box) >= 0.75


def test_drift_scores_lower_than_the_faithful_image() -> None:
    product = cutout((150, 60, 40))
    picture, box = composed(product)
    faithful = local_fidelity(product, picture, box)
    recoloured = local_fidelity(cutout((40, 90, 170)), picture, box)
    plain = local_fidelity(cutout((150, 60, 40), stripes=False), picture, box)
    missing = local_fidelity(product, painted(picture, box, (200, 196, 188)), box)
    assert faithful >= 0.75
    assert max(recoloured, plain, missing) <= 0.35


def test_degenerate_boxes_score_zero_and_bad_images_are_named() -> None:
    product = cutout((150, 60, 40))
    picture, _box = composed(product)
    assert local_fidelity(product, picture, [5000, 5000, 5100, 5100]) == 0.0
    assert local_fidelity(product, picture, [10, 10, 10, 10]) == 0.0
    with pytest.raises(InvalidImage, match="generated image"):
        local_fidelity(product, b"not an image", [0, 0, 10, 10])


def test_check_fidelity_measures_locally_when_the_box_is_known() -> None:
    product = cutout((150, 60, 40))
    picture, box = composed(product)
    check = check_fidelity(object(), product_png=product, generated=picture, meta={"box": box})
    assert check is not None and check.method == "local-similarity"
    assert check.score == local_fidelity(product, picture, box)
    # No box, and a backend that cannot judge: no score rather than a made-up one.
    assert check_fidelity(object(), product_png=product, generated=picture, meta={}) is None


@pytest.mark.usefixtures("backend")
def test_generation_stores_the_score_and_the_gallery_sorts_by_it(tmp_path: Path) -> None:
    client = factories.create_client()
    scope = factories.member_scope(client.id)
    rows = [
        {"sku": f"CAB-{n}", "name": f"Cabinet {n}", "category": "sideboard", "image": f"{n}.jpg"}
        for n in range(3)
    ]
    photos = {
        f"{n}.jpg": factories.product_photo(color) for n, color in enumerate([(180, 40, 40)] * 3)
    }
    path = factories.write_catalog(tmp_path, rows, photos)
    assert products.import_products(scope, client_id=client.id, csv_path=path).failed == 0
    session = sessions.create_session(scope, client_id=client.id, name="Fidelity")
    sessions.add_scenes(scope, session_id=session.id, files=[("room.jpg", factories.scene_photo())])
    analysis.match_session(scope, session_id=session.id)
    flow = generation.generate(scope, session_id=session.id, settings=FlowSettings(variants=2))
    generation.wait_for_flows(scope, flow_ids=[flow.flow_id], timeout=120)

    with backends.current().transaction() as db:
        scores = {
            row.id: row.fidelity_score
            for row in db.query(GeneratedImage).filter(GeneratedImage.flow_id == flow.flow_id)
        }
    assert len(scores) == 6
    assert all(score is not None and 0.6 <= score <= 1.0 for score in scores.values()), scores

    page = gallery.list_images(scope, session_id=session.id, order="fidelity")
    listed = [card.fidelity_score for card in page.cards]
    assert listed == sorted(scores.values())  # likely-drifted first
