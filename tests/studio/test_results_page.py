"""Results page: progress, the paginated gallery and its filters, review, re-runs, download."""

from __future__ import annotations

import csv
import io
import uuid
import zipfile
from collections.abc import Callable

import pytest
from streamlit.testing.v1 import AppTest

from tests.studio.conftest import Studio, errors, generate_and_wait, make_studio, signed_in, texts
from visualizer_core import admin, backends
from visualizer_core.db import repo
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import gallery, generation


def card_count(app: AppTest) -> int:
    return sum(1 for b in app.checkbox if b.key and b.key.startswith("results.pick."))


@pytest.fixture
def finished(studio: Studio) -> list[uuid.UUID]:
    """The studio's whole catalog generated once, all completed."""
    return generate_and_wait(studio)


@pytest.mark.usefixtures("backend")
def test_review_and_download_the_approved_set() -> None:
    """On both backend sets: the gallery, approving one image, and the ZIP of approved ones."""
    studio = make_studio()
    image_ids = generate_and_wait(studio)
    app = signed_in(studio.emails["editor"], page="results", session_id=studio.session_id)
    assert not app.exception
    assert app.get("progress")[0].proto.text == "All 3 image(s) done"
    assert "3 image(s) · page 1 of 1" in texts(app)
    assert len(app.image) == 3 and card_count(app) == 3

    app.button(key="results.prepare").click().run()
    assert "No approved images yet: approve some in the gallery first." in [
        w.value for w in app.warning
    ]

    app.button(key=f"results.approve.{image_ids[0]}").click().run()
    assert not app.exception
    assert "1 image(s) updated." in [s.value for s in app.success]
    assert any(":material/check_circle: approved" in m.value for m in app.markdown)

    app.multiselect(key="results.review").select("approved").run()
    assert "1 image(s) · page 1 of 1" in texts(app)

    app.button(key="results.prepare").click().run()
    assert not app.exception
    download = app.get("download_button")[0]
    assert download.proto.label == "Download 1 approved image(s) with manifest.csv"
    _, count, data = app.session_state["results.zip"]
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = archive.namelist()
    assert count == 1 and "manifest.csv" in names and len(names) == 2
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert rows[0]["image_id"] == str(image_ids[0]) and rows[0]["review_state"] == "approved"


def test_favourite_reject_and_the_filters(
    studio: Studio, finished: list[uuid.UUID], open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "results")
    app.button(key=f"results.fav.{finished[1]}").click().run()
    app.button(key=f"results.reject.{finished[2]}").click().run()
    assert not app.exception
    app.toggle(key="results.favourites").set_value(True).run()
    assert card_count(app) == 1 and any(
        m.value.startswith(":orange[:material/star:] ") for m in app.markdown
    )
    app.toggle(key="results.favourites").set_value(False)
    app.multiselect(key="results.review").select("rejected").run()
    assert card_count(app) == 1 and any(
        ":material/block: rejected" in m.value for m in app.markdown
    )
    app.multiselect(key="results.review").unselect("rejected")
    app.multiselect(key="results.products").select(studio.product_ids["DESK-1"]).run()
    assert card_count(app) == 1 and any("**DESK-1**" in m.value for m in app.markdown)


def test_the_fidelity_filter_keeps_well_scored_images(
    finished: list[uuid.UUID], open_app: Callable[..., AppTest]
) -> None:
    with backends.current().transaction() as db:  # as the fidelity scorer would leave them
        repo.update_images(db, [finished[0]], fidelity_score=0.9)
        repo.update_images(db, finished[1:], fidelity_score=0.3)
    app = open_app("editor", "results")
    assert card_count(app) == 3
    app.slider(key="results.fidelity").set_value(0.5).run()
    assert card_count(app) == 1
    assert any("fidelity 0.90" in c.value for c in app.caption)


def test_pages_of_thumbnails(studio: Studio, open_app: Callable[..., AppTest]) -> None:
    assert studio.session_id is not None
    for variants in (8, 2):  # 30 images, left pending: nothing runs them here
        generation.generate(
            studio.scope("editor"),
            session_id=studio.session_id,
            settings=FlowSettings(variants=variants),
            dispatch=False,
        )
    app = open_app("editor", "results")
    assert app.get("progress")[0].proto.text == "0 of 30 done"
    app.multiselect(key="results.status").select("pending").run()
    assert "30 image(s) · page 1 of 2" in texts(app)
    assert card_count(app) == 24
    app.button(key="results.next").click().run()
    assert "30 image(s) · page 2 of 2" in texts(app)
    assert card_count(app) == 6
    assert app.button(key="results.next").disabled


def test_progress_runs_until_the_flow_is_done(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    assert studio.session_id is not None
    flow = generation.generate(studio.scope("editor"), session_id=studio.session_id, dispatch=False)
    app = open_app("editor", "results")
    assert app.get("progress")[0].proto.text == "0 of 3 done"
    assert "0 completed · 0 generating · 3 pending · 0 failed" in texts(app)
    backends.current().queue.dispatch(flow.image_ids)
    generation.wait_for_flows(studio.scope(), flow_ids=[flow.flow_id], timeout=120)
    app.run()
    assert app.get("progress")[0].proto.text == "All 3 image(s) done"
    assert card_count(app) == 3


def test_a_failed_image_shows_what_to_do(
    studio: Studio, finished: list[uuid.UUID], open_app: Callable[..., AppTest]
) -> None:
    message = "the prompt was judged unsafe: change the extra prompt text, then try again"
    with backends.current().transaction() as db:
        repo.update_images(db, [finished[0]], status="error", error_message=message)
    app = open_app("editor", "results")
    app.multiselect(key="results.status").select("error").run()
    assert message in errors(app)


def test_regenerate_the_selected_with_changed_settings(
    studio: Studio, finished: list[uuid.UUID], open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "results")
    app.checkbox(key=f"results.pick.{finished[0]}").check().run()
    assert "Selected: 1" in [s.value for s in app.subheader]
    app.selectbox(key="results.rerun_ratio").select("16:9")
    app.number_input(key="results.rerun_variants").set_value(2)
    app.text_area(key="results.rerun_prompt").input("evening light").run()
    app.button(key="results.rerun").click().run()
    assert not app.exception
    assert "Regenerating: 2 new image(s) on their way." in [s.value for s in app.success]
    assert not app.checkbox(key=f"results.pick.{finished[0]}").value
    page = gallery.list_images(studio.scope(), session_id=studio.session_id, page_size=50)
    assert page.total == 5
    # Made again in the scene of the image they re-make, at the new settings, lineage kept.
    gens = admin.generations()
    before = gens[gens["id"] == str(finished[0])].iloc[0]
    remade = gens[gens["rerun_of_id"] == str(finished[0])]
    assert len(remade) == 2 and set(remade["aspect_ratio"]) == {"16:9"}
    assert set(remade["scene_id"]) == {before["scene_id"]}
    assert set(remade["parent_flow_id"]) == {before["flow_id"]}


def test_a_viewer_can_look_and_download_but_not_review(
    finished: list[uuid.UUID], open_app: Callable[..., AppTest]
) -> None:
    app = open_app("viewer", "results")
    assert not app.exception
    assert len(app.image) == 3
    keys = [b.key or "" for b in app.button]
    assert not any(
        k.startswith(("results.approve", "results.reject", "results.rerun")) for k in keys
    )
    assert "results.prepare" in keys
    assert card_count(app) == 0


def test_a_paused_model_is_named_while_its_images_wait(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    import datetime as dt

    from visualizer_core.ai.ratelimit import PauseBoard

    assert studio.session_id is not None
    flow = generation.generate(studio.scope("editor"), session_id=studio.session_id, dispatch=False)
    settings = backends.current().settings
    board = PauseBoard(
        redis_url=None, key_prefix=settings.queue_prefix, home=settings.visualizer_home
    )
    model = "local-compositor-v1"
    board.pause(model, dt.datetime.now(dt.UTC) + dt.timedelta(hours=2), "test: the day is used")
    app = open_app("editor", "results")
    shown = texts(app)
    assert f"{len(flow.image_ids)} image(s) paused: the daily quota of {model} is used up" in shown
    assert "resume by themselves" in shown


def test_the_batch_just_started_has_its_own_progress(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    """Beside the whole session's count, the batch this person started on Match & generate."""
    generate_and_wait(studio)  # an earlier batch: 3 images
    app = open_app("editor", "generate")
    app.button(key="generate.go").click().run()
    assert not app.exception
    started = app.session_state["studio.batch"]
    generation.wait_for_flows(ADMIN, flow_ids=[started[1]], timeout=120)
    results = open_app("editor", "results")
    results.session_state["studio.batch"] = started  # the same browser session
    results.run()
    bars = [str(p.proto.text) for p in results.get("progress")]
    assert bars[0] == "All 6 image(s) done"  # the session: both batches
    assert bars[1] == "**This batch: 3 of 3 done**"
