"""The fidelity gate end to end on the Gemini backend: the real google-genai SDK against the
stand-in server, which here draws like a model that drifts.

The stand-in's picture is drawn per product: the product photo's cut-out pasted with a
perspective and a warm light (faithful), the same recoloured (drift), or faithful with a box
standing in front of the product's left side (occluded). On both backend sets:

- ``fidelity_check: uncertain`` (the default) asks Gemini's paid judgement only for the
  images whose measured score is in the band around the client's threshold: the stand-in's
  judgement calls are counted, and the spend shows the calls saved;
- pixel-exact mode puts the product photo's own pixels back over the drifted product (the
  product region compared with the original cut-out, PSNR), and leaves the occluded one as
  generated with its reason.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw

from tests import factories
from tests import gemini_flows as flows
from tests.standins import gemini_server as standin
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core import backends
from visualizer_core.ai.gemini import DEFAULT_TEXT_MODEL
from visualizer_core.db.models import GeneratedImage, Product, ProductImage
from visualizer_core.demo import art
from visualizer_core.images.pixel_exact import psnr
from visualizer_core.scope import ADMIN
from visualizer_core.services import analysis, gate, products, sessions, spend

LIGHT = np.array([1.08, 1.0, 0.9], np.float32)  # the room's warm light
DRIFT = np.array([1.25, 1.0, 0.8], np.float32)  # a recolour no light explains
MODES = {"SOFA-F": "faithful", "SOFA-D": "drift", "SOFA-O": "occluded"}


def _placement(product: Image.Image, width: int, height: int) -> NDArray[np.float64]:
    """Where the stand-in puts the product: 45 % of the frame wide, lower middle, a slight
    perspective."""
    scale = 0.45 * width / product.width
    tilt = np.array([[1.0, 0.06, 0.0], [0.02, 0.93, 0.0], [0.00006, 0.00012, 1.0]])
    fit = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0], [0.0, 0.0, 1.0]])
    move = np.array([[1.0, 0.0, 0.27 * width], [0.0, 1.0, 0.38 * height], [0.0, 0.0, 1.0]])
    placed: NDArray[np.float64] = move @ tilt @ fit
    return placed


class Drawing:
    """The stand-in's drawing, by product photo: the mode of each, and what was drawn."""

    def __init__(self) -> None:
        self.modes: dict[str, str] = {}  # sha256 of the product PNG sent -> mode
        self.drawn: dict[str, NDArray[np.float64]] = {}  # sha256 -> placement

    def compose(self, images: list[tuple[str, bytes]], width: int, height: int) -> Image.Image:
        product_png, scene_bytes = images[0][1], images[-1][1]
        key = hashlib.sha256(product_png).hexdigest()
        mode = self.modes.get(key, "faithful")
        product = Image.open(io.BytesIO(product_png)).convert("RGBA")
        scene = Image.open(io.BytesIO(scene_bytes)).convert("RGB").resize((width, height))
        place = _placement(product, width, height)
        self.drawn[key] = place
        rgba = np.asarray(product).astype(np.float32)
        alpha = rgba[..., 3:4] / 255.0
        colour = rgba[..., :3] * LIGHT * (DRIFT if mode == "drift" else 1.0)
        premultiplied = np.concatenate([np.clip(colour, 0, 255) * alpha, alpha * 255.0], axis=2)
        warped = cv2.warpPerspective(premultiplied, place, (width, height), flags=cv2.INTER_LINEAR)
        cover = warped[..., 3:4] / 255.0
        picture = np.asarray(scene, np.float32) * (1 - cover) + warped[..., :3]
        drawn = Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))
        if mode == "occluded":  # a box in front of the product's left side
            ys, xs = np.nonzero(cover[..., 0] > 0.5)
            left, right, top, bottom = xs.min(), xs.max(), ys.min(), ys.max()
            box = (
                left - 20,
                top + (bottom - top) // 3,
                left + (right - left) // 5,
                bottom - (bottom - top) // 8,
            )
            ImageDraw.Draw(drawn).rectangle(box, fill=(150, 70, 40))
        return drawn


@pytest.fixture
def drawing(monkeypatch: pytest.MonkeyPatch) -> Drawing:
    made = Drawing()
    monkeypatch.setattr(standin, "_compose", made.compose)
    return made


@pytest.fixture
def gemini(backend: backends.Backends, gemini_server: GeminiStandIn) -> Iterator[backends.Backends]:
    yield from flows.gemini_backends(backend, gemini_server)


def _session(tmp_path: Path, drawing: Drawing) -> tuple[Any, Any, dict[str, str]]:
    client = factories.create_client(daily_quota=200)
    scope = factories.member_scope(client.id)
    rows = []
    photos = {}
    for index, sku in enumerate(MODES):
        rows.append(
            {"sku": sku, "name": f"Harbour sofa {sku}", "category": "sofa", "image": f"{sku}.jpg"}
        )
        photos[f"{sku}.jpg"] = art.draw_product(
            "sofa", color=(70 + 20 * index, 90, 150 - 20 * index), seed=index, size=(420, 420)
        )
    path = factories.write_catalog(tmp_path / "catalog", rows, photos)
    report = products.import_products(scope, client_id=client.id, csv_path=path)
    assert report.failed == 0, report.errors
    session = sessions.create_session(scope, client_id=client.id, name="Drift")
    sessions.add_scenes(
        scope,
        session_id=session.id,
        files=[("living.jpg", art.draw_room("living_room", seed=1, size=(900, 700)))],
        room_type="Living Room",
    )
    analysis.match_session(scope, session_id=session.id)
    current = backends.current()
    skus = {}
    with current.transaction() as db:
        for photo in db.query(ProductImage).filter(ProductImage.client_id == client.id):
            key = hashlib.sha256(current.storage.get(photo.base_key)).hexdigest()
            product = db.get(Product, photo.product_id)
            assert product is not None
            sku = product.sku
            drawing.modes[key] = MODES[sku]
            skus[str(photo.product_id)] = sku
    return scope, session.id, skus


def _judgement_calls(server: GeminiStandIn) -> int:
    return len([r for r in server.requests if r.model == DEFAULT_TEXT_MODEL and len(r.images) == 2])


def test_the_judgement_only_where_unsure_and_pixel_exact_restores_or_says_why(
    gemini: backends.Backends, gemini_server: GeminiStandIn, drawing: Drawing, tmp_path: Path
) -> None:
    scope, session_id, skus = _session(tmp_path, drawing)
    # The team's decisions so far calibrate its gate: faithful renders approved.
    first = flows.judged(flows.run(scope, session_id)[0].flow_id)
    faithful = [r for r in first if skus[str(r.product_id)] == "SOFA-F"]
    assert faithful and (faithful[0].fidelity or {}).get("found"), faithful[0].fidelity
    factories.team_decisions(gemini, scope.client_id, faithful)
    gemini_server.reset()

    rows = flows.judged(
        flows.run(scope, session_id, variants=2, keep_product_pixels=True)[0].flow_id
    )

    # 1. The judgement was asked for the uncertain band only, and the calls saved are shown.
    with gemini.transaction() as db:
        calibration = gate.calibration_of(db, scope.client_id)
    asked = [r for r in rows if (r.fidelity or {}).get("judged") == "asked"]
    saved = [r for r in rows if (r.fidelity or {}).get("judged") == "saved"]
    assert len(asked) + len(saved) == len(rows) == 6
    for row in rows:
        in_band = gate.in_band(float(row.fidelity_score or 0), calibration.threshold)
        assert (row in asked) == in_band, (row.fidelity_score, calibration.threshold)
    assert _judgement_calls(gemini_server) == len(asked)
    assert all("judgement" in (r.fidelity or {}) for r in asked)
    assert saved, [r.fidelity_score for r in rows]
    [by_client] = [s for s in spend.spend(ADMIN, client_id=scope.client_id) if s.key]
    assert by_client.judgements_saved == len(saved) + len(
        [r for r in first if (r.fidelity or {}).get("judged") == "saved"]
    )

    # 2. Pixel-exact: the drifted product is the photo's own pixels again.
    by_mode: dict[str, list[GeneratedImage]] = {}
    for row in rows:
        by_mode.setdefault(MODES[skus[str(row.product_id)]], []).append(row)
    cutouts = {}
    with gemini.transaction() as db:
        for photo in db.query(ProductImage).filter(ProductImage.client_id == scope.client_id):
            cutouts[str(photo.product_id)] = gemini.storage.get(photo.base_key)
    for row in by_mode["drift"] + by_mode["faithful"]:
        assert row.product_pixels == "composited", row.product_pixels_note
        assert row.product_pixels_note and row.product_pixels_note.startswith("pixel-exact: ")
        cutout = Image.open(io.BytesIO(cutouts[str(row.product_id)])).convert("RGBA")
        final = np.asarray(
            Image.open(io.BytesIO(gemini.storage.get(row.image_key or ""))).convert("RGB")
        )
        height, width = final.shape[:2]
        place = _placement(cutout, width, height)  # where the stand-in drew it
        rgba = np.asarray(cutout).astype(np.float32)
        warped = cv2.warpPerspective(rgba, place, (width, height), flags=cv2.INTER_LINEAR)
        core = cv2.erode((warped[..., 3] > 250).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(
            bool
        )
        gains = np.array((row.fidelity or {})["pixel_exact"]["gains"], np.float32)
        expected = np.clip(warped[..., :3] * gains, 0, 255).astype(np.uint8)  # photo, relit
        assert psnr(final, expected, core) >= 35.0, gains
    # 3. The occluded product is found behind the box and left as generated, and the image
    # says why: what covers its left side.
    for row in by_mode["occluded"]:
        assert row.product_pixels == "generated"
        assert (row.fidelity or {}).get("found"), row.fidelity
        note = row.product_pixels_note or ""
        assert note.startswith(
            "pixel-exact not applied: something covers the product's left side"
        ), note
