"""The studio's read helpers: scene and product pictures, and the generation estimate."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.factories import create_client, member_scope
from tests.studio.conftest import generate_and_wait, make_studio
from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.errors import InvalidInput, NotFound
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import estimates, previews


@pytest.mark.usefixtures("backend")
def test_scene_and_product_pictures_are_read_in_scope() -> None:
    studio = make_studio()
    assert studio.session_id is not None
    member = studio.scope("viewer")
    thumb = previews.scene_picture(
        member, session_id=studio.session_id, scene_id=studio.scene_ids[0]
    )
    full = previews.scene_picture(
        member, session_id=studio.session_id, scene_id=studio.scene_ids[0], thumbnail=False
    )
    assert Image.open(io.BytesIO(thumb)).width < Image.open(io.BytesIO(full)).width
    photo = previews.product_picture(member, product_id=studio.product_ids["SOFA-1"])
    assert Image.open(io.BytesIO(photo)).format == "JPEG"

    stranger = member_scope(create_client().id, "owner")
    with pytest.raises(NotFound):
        previews.scene_picture(stranger, session_id=studio.session_id, scene_id=studio.scene_ids[0])
    with pytest.raises(NotFound):
        previews.product_picture(stranger, product_id=studio.product_ids["SOFA-1"])
    with pytest.raises(NotFound):
        previews.scene_picture(member, session_id=studio.session_id, scene_id="no-such-scene")


@pytest.mark.usefixtures("embedded")
def test_the_estimate_counts_images_time_and_quota() -> None:
    studio = make_studio()
    member = studio.scope("viewer")
    before = estimates.estimate_generation(
        member, client_id=studio.client_id, products=10, settings=FlowSettings(variants=3)
    )
    assert before.images == 30 and before.quota_left == 200 and before.within_quota
    assert before.cost_usd == 0.0  # the local backend costs nothing
    workers = backends.current().settings.visualizer_workers
    assert before.seconds == pytest.approx(-(-30 // workers) * before.seconds_per_image)

    generate_and_wait(studio)
    after = estimates.estimate_generation(member, client_id=studio.client_id, products=300)
    assert after.quota_left == 197 and not after.within_quota
    assert after.seconds_per_image > 0  # now from the client's own images

    with pytest.raises(InvalidInput):
        estimates.estimate_generation(member, client_id=studio.client_id, products=-1)
    with pytest.raises(NotFound):
        estimates.estimate_generation(
            member_scope(create_client().id), client_id=studio.client_id, products=1
        )


def test_on_gemini_the_estimate_prices_each_image(embedded: backends.Backends) -> None:
    built = backends.build(
        load_settings(
            visualizer_home=embedded.settings.visualizer_home,
            gemini_api_key="test-key",
            gemini_base_url="http://127.0.0.1:9",  # never called: estimating sends nothing
        )
    )
    backends.activate(built)
    try:
        client = create_client()
        one = estimates.estimate_generation(ADMIN, client_id=client.id, products=1)
        many = estimates.estimate_generation(
            ADMIN, client_id=client.id, products=10, settings=FlowSettings(variants=2)
        )
    finally:
        built.close()
        backends.activate(embedded)
    assert 0.01 < one.cost_usd < 0.5
    assert many.cost_usd == pytest.approx(20 * one.cost_usd)
    assert one.model == built.ai.image_model
