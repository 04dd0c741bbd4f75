"""Usage page (owners only): spend, calls and the cost per approved image, from the ledger."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from tests.studio.conftest import Studio, frame, generate_and_wait, texts
from visualizer_core import admin
from visualizer_core.ai.usage import Pricing, Tokens
from visualizer_core.db import ledger
from visualizer_core.services import gallery
from visualizer_core.services._uow import unit_of_work

PRICE = {"image-model": {"input": 1.0, "output": 2.0, "image_output": 20.0}}


def _paid(studio: Studio) -> tuple[list, float]:
    """A generation whose images carry recorded calls: one refused attempt and one image each."""
    image_ids = generate_and_wait(studio)
    pricing = Pricing(PRICE)
    total = 0.0
    with unit_of_work() as db:
        for image_id in image_ids:
            refused = pricing.record(
                "image", "image-model", Tokens(input_text=1000), error="ContentRefused: no image"
            )
            made = pricing.record(
                "image", "image-model", Tokens(input_text=1000, output_image=1000)
            )
            total += ledger.add_image_calls(db, image_id, [refused, made])
    return image_ids, total


def test_only_owners_have_a_usage_page(open_app: Callable[..., AppTest]) -> None:
    for role in ("editor", "viewer"):
        app = open_app(role)
        with pytest.raises(ValueError):
            app.switch_page("views/usage.py")


def test_the_headline_is_the_cost_per_approved_image(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    image_ids, total = _paid(studio)
    gallery.review_images(studio.scope(), image_ids=image_ids[:2], review_state="approved")
    app = open_app("owner", "usage")
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Cost per approved image"] == f"${total / 2:,.4f}"
    assert metrics["Provider cost"] == f"${total:,.4f}"
    assert metrics["Provider calls"] == str(2 * len(image_ids))
    assert metrics["Approved images"] == "2"
    # The page, admin.generations() and admin.spend() say the same.
    assert admin.generations(client_id=studio.client_id)["cost_usd"].sum() == pytest.approx(total)
    assert admin.spend(client_id=studio.client_id)["cost_usd"].sum() == pytest.approx(total)
    sessions = frame(app, "session", "cost_usd", "cost_per_approved_usd")
    assert sessions["cost_usd"].sum() == pytest.approx(total, abs=1e-4)
    kinds = frame(app, "kind", "calls", "failed")
    assert kinds.set_index("kind").loc["image", "failed"] == len(image_ids)


def test_nothing_spent_says_so(open_app: Callable[..., AppTest]) -> None:
    app = open_app("owner", "usage")
    assert not app.exception
    assert "nothing was spent" in texts(app)


def test_offline_approvals_are_counted_and_cost_nothing(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    image_ids = generate_and_wait(studio)  # the local backend: no provider call
    gallery.review_images(studio.scope(), image_ids=image_ids[:2], review_state="approved")
    app = open_app("owner", "usage")
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Approved images"] == "2"  # not 0 because nothing was paid
    assert metrics["Cost per approved image"] == "n/a"  # no paid image was approved
    assert "nothing was spent" in texts(app)
    table = frame(app, "backend", "model", "approved", "cost_per_approved_usd")
    [offline] = table.to_dict("records")
    assert (offline["backend"], offline["images"], offline["approved"]) == ("offline", 3, 2)
    assert offline["cost_usd"] == 0.0 and offline["cost_per_approved_usd"] == 0.0
