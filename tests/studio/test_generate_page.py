"""Match & generate page: matching, overrides, settings, the estimate, and who may generate."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from tests.studio.conftest import Studio, button, errors, frame, texts
from visualizer_core import backends
from visualizer_core.db.models import Flow
from visualizer_core.scope import ADMIN
from visualizer_core.services import clients, gallery, generation, sessions


def matched(app: AppTest) -> AppTest:
    return app.button(key="generate.match").click().run()


def test_matching_fills_the_table_with_scores_and_reasons(
    open_app: Callable[..., AppTest],
) -> None:
    app = matched(open_app("editor", "generate"))
    assert not app.exception
    assert "Matched 3 product(s)." in [s.value for s in app.success]
    table = frame(app, "sku", "scene", "score", "reason").set_index("sku")
    assert "living" in table.loc["SOFA-1", "scene"].lower()
    assert "bedroom" in table.loc["BED-1", "scene"].lower()
    assert all(0 < score <= 100 and score == int(score) for score in table["score"])  # "92"
    assert all(reason for reason in table["reason"])
    assert all(name.endswith(".jpg") for name in table["file"])  # the file name has its column
    assert not any(table["placement"])  # every product in one of its rooms


def test_a_product_scene_can_be_set_by_hand(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = matched(open_app("editor", "generate"))
    office = studio.scene_ids[2]
    app.selectbox(key="generate.override_product").select(studio.product_ids["SOFA-1"]).run()
    assert app.button(key="generate.use.auto").disabled  # automatic now
    app.button(key=f"generate.use.{office}").click().run()
    # The picker stays open on the same product, the new scene marked as in use.
    assert app.selectbox(key="generate.override_product").value == studio.product_ids["SOFA-1"]
    assert app.button(key=f"generate.use.{office}").disabled
    assert not app.exception
    row = frame(app, "sku", "scene", "by hand").set_index("sku").loc["SOFA-1"]
    assert bool(row["by hand"]) and "office" in row["scene"].lower()
    assert (
        sessions.get_session(studio.scope(), session_id=studio.session_id)
        .matches[str(studio.product_ids["SOFA-1"])]
        .scene_id
        == office
    )


def test_the_estimate_and_quota_follow_the_settings(open_app: Callable[..., AppTest]) -> None:
    app = open_app("editor", "generate")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Images"] == "3"
    assert metrics["Quota left today"] == "200"
    assert metrics["Estimated cost"] == "$0.00"  # the local backend
    app.number_input(key="generate.variants").set_value(4).run()
    assert {m.label: m.value for m in app.metric}["Images"] == "12"
    assert button(app, "Generate 12 image(s)")


def test_generate_starts_the_flow_and_opens_the_results(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "generate")
    app.selectbox(key="generate.aspect_ratio").select("4:3")
    app.number_input(key="generate.variants").set_value(2)
    app.text_area(key="generate.prompt").input("a plant in the corner").run()
    button(app, "Generate 6 image(s)").click().run()
    assert not app.exception
    assert studio.session_id is not None
    assert [t.value for t in app.title] == [
        sessions.get_session(studio.scope(), session_id=studio.session_id).name
    ]
    assert "Generation started: 6 image(s) on their way." in [s.value for s in app.success]
    page = gallery.list_images(studio.scope(), session_id=studio.session_id, page_size=50)
    assert page.total == 6


def test_a_viewer_sees_the_matches_but_no_generate_button(
    open_app: Callable[..., AppTest],
) -> None:
    app = open_app("viewer", "generate")
    assert not app.exception
    labels = [b.label for b in app.button]
    assert not any(label.startswith("Generate") for label in labels)
    assert "generate.match" not in [b.key for b in app.button]
    assert any("an editor or owner starts the generation" in i.value for i in app.info)
    assert frame(app, "sku", "scene")["sku"].tolist() == ["BED-1", "DESK-1", "SOFA-1"]


def test_over_quota_is_a_warning_and_a_clear_error(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    clients.set_daily_quota(ADMIN, client_id=studio.client_id, daily_quota=2)
    app = open_app("editor", "generate")
    assert any("only 2 are left today" in w.value for w in app.warning)
    button(app, "Generate 3 image(s)").click().run()
    assert not app.exception
    assert len(app.error) == 1 and "2 of 2 images left today" in errors(app)[0]
    assert generation.quota_left(studio.scope(), client_id=studio.client_id) == 2


def test_without_scenes_generation_waits_for_inspiration(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    other = sessions.create_session(ADMIN, client_id=studio.client_id, name="Empty")
    app = open_app("editor", "generate")
    app.selectbox(key="generate.session").select(other.id).run()
    assert any("no scenes" in w.value for w in app.warning)
    assert button(app, "Generate 3 image(s)").disabled
    assert "Empty" in texts(app)


def test_the_output_size_is_chosen_among_those_the_model_draws(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "generate")
    size = app.selectbox(key="generate.image_size")
    assert list(size.options) == ["1K", "2K", "4K"]  # the local compositor draws them all
    size.select("2K").run()
    button(app, "Generate 3 image(s)").click().run()
    assert not app.exception
    assert studio.session_id is not None
    with backends.current().transaction() as db:
        found = db.scalars(select(Flow).where(Flow.studio_session_id == studio.session_id)).all()
        assert [f.settings["image_size"] for f in found] == ["2K"]


def test_a_bed_put_in_an_office_is_warned_about_before_generating(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = matched(open_app("editor", "generate"))
    office = studio.scene_ids[2]
    app.selectbox(key="generate.override_product").select(studio.product_ids["BED-1"]).run()
    app.button(key=f"generate.use.{office}").click().run()
    assert not app.exception
    row = frame(app, "sku", "placement").set_index("sku").loc["BED-1"]
    assert row["placement"].endswith("in a home office: change the scene?")
    assert any(
        "1 product(s) are placed in a room they do not belong in: BED-1:" in w.value
        for w in app.warning
    )
