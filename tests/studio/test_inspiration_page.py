"""Inspiration page: scenes from uploads and from earlier generations; viewers only look."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

from tests.plugin import backends_like
from tests.standins.unsplash_server import UnsplashStandIn
from tests.studio.conftest import (
    Studio,
    button,
    errors,
    generate_and_wait,
    make_studio,
    room_photo,
    signed_in,
    texts,
)
from visualizer_core import backends
from visualizer_core.services import sessions


@pytest.fixture
def unsplash_studio(
    embedded: backends.Backends, unsplash_server: UnsplashStandIn
) -> Iterator[Studio]:
    """The studio world on backends configured with an Unsplash key (the stand-in's)."""
    with backends_like(
        embedded,
        unsplash_access_key=unsplash_server.access_key,
        unsplash_api_url=unsplash_server.base_url,
    ):
        yield make_studio()


def scenes_of(studio: Studio) -> list[dict]:
    assert studio.session_id is not None
    return sessions.get_session(studio.scope(), session_id=studio.session_id).scenes


def on_source(app: AppTest, source: str) -> AppTest:
    """Choose where scenes come from (Upload, Search, Earlier generations), as a click does."""
    app.session_state["inspiration.source"] = source
    return app.run()


def test_the_session_scenes_are_shown_with_their_room(open_app: Callable[..., AppTest]) -> None:
    app = open_app("editor", "inspiration")
    assert not app.exception
    assert "Scenes in this session (3)" in texts(app)
    assert len(app.image) == 3
    assert any("Living room" in c for image in app.image for c in image.captions)


def test_uploads_add_scenes_and_a_bad_file_is_reported(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "inspiration")
    uploader = app.file_uploader(key="inspiration.files")
    uploader.upload("kitchen.jpg", room_photo("kitchen", 7), "image/jpeg")
    uploader.upload("broken.jpg", b"\xff\xd8 truncated", "image/jpeg")
    app.selectbox(key="inspiration.room").select("kitchen")
    button(app, "Add scenes").click().run()
    assert not app.exception
    assert "1 scene(s) added." in [s.value for s in app.success]
    assert len(app.error) == 1 and errors(app)[0].startswith("broken.jpg: ")
    assert errors(app)[0].count("broken.jpg") == 1
    assert "Scenes in this session (4)" in texts(app)
    added = [s for s in scenes_of(studio) if s.filename == "kitchen.jpg"]
    assert added and added[0].room_type == "kitchen"


def test_adding_without_files_asks_for_them(open_app: Callable[..., AppTest]) -> None:
    app = open_app("editor", "inspiration")
    button(app, "Add scenes").click().run()
    assert errors(app) == ["Choose at least one photo."]


def test_an_earlier_generation_becomes_a_scene(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    image_ids = generate_and_wait(studio)
    app = open_app("editor", "inspiration")
    on_source(app, "Earlier generations")
    app.checkbox(key=f"inspiration.reuse.{image_ids[0]}").check().run()
    app.button(key="inspiration.reuse").click().run()
    assert not app.exception
    assert "1 scene(s) added." in [s.value for s in app.success]
    reused = [s for s in scenes_of(studio) if s.source == "generation"]
    assert len(reused) == 1
    assert reused[0].attribution["generated_image_id"] == str(image_ids[0])


def test_a_viewer_sees_the_scenes_but_cannot_add(open_app: Callable[..., AppTest]) -> None:
    app = open_app("viewer", "inspiration")
    assert "Scenes in this session (3)" in texts(app)
    assert len(app.file_uploader) == 0
    assert "inspiration.source" not in app.session_state  # no choice of where from
    assert not [b for b in app.button if b.key and b.key.startswith("inspiration.delete.")]


def test_unsplash_results_carry_their_credit_and_become_scenes(
    unsplash_studio: Studio, unsplash_server: UnsplashStandIn
) -> None:
    app = signed_in(
        unsplash_studio.emails["editor"], page="inspiration", session_id=unsplash_studio.session_id
    )
    on_source(app, "Search")
    app.text_input(key="inspiration.query").input("living room")
    button(app, "Search").click().run()
    assert not app.exception
    credits = [c.value for c in app.caption if "on [Unsplash](" in c.value]
    assert credits and credits[0].startswith("Photo by [")
    assert "utm_source=" in credits[0]
    boxes = [c for c in app.checkbox if c.key.startswith("inspiration.use.")]
    boxes[0].check().run()
    app.button(key="inspiration.use_chosen").click().run()
    assert not app.exception
    assert "1 scene(s) added." in [s.value for s in app.success]
    assert len(unsplash_server.downloads()) == 1  # Unsplash's download tracking, on use
    assert "Scenes in this session (4)" in texts(app)
    assert any("on [Unsplash](" in c.value for c in app.caption)


def test_reruns_do_not_search_again_and_a_low_quota_is_shown(
    unsplash_studio: Studio, unsplash_server: UnsplashStandIn
) -> None:
    unsplash_server.rate_limit = 8
    app = signed_in(
        unsplash_studio.emails["editor"], page="inspiration", session_id=unsplash_studio.session_id
    )
    on_source(app, "Search")
    app.text_input(key="inspiration.query").input("bedroom")
    button(app, "Search").click().run()
    assert not app.exception and not app.warning
    boxes = [c for c in app.checkbox if c.key.startswith("inspiration.use.")]
    for box in boxes[:3]:  # every click is a rerun of the page, and of its search
        box.check().run()
    app.run()
    assert unsplash_server.search_calls() == 1
    app.button(key="inspiration.use_chosen").click().run()  # three download events
    assert not app.exception
    app.text_input(key="inspiration.query").input("kitchen")
    button(app, "Search").click().run()
    assert unsplash_server.search_calls() == 2
    [warning] = app.warning
    assert "3 of 8 requests left this hour" in warning.value


def test_without_a_key_search_looks_in_the_own_library(open_app: Callable[..., AppTest]) -> None:
    app = open_app("editor", "inspiration")
    on_source(app, "Search")
    app.text_input(key="inspiration.query").input("bedroom")
    button(app, "Search").click().run()
    assert not app.exception
    assert any("Unsplash search is not set up" in i.value for i in app.info)
    boxes = [c for c in app.checkbox if c.key.startswith("inspiration.use.")]
    assert boxes


def test_the_room_type_can_come_from_each_file_name(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "inspiration")
    uploader = app.file_uploader(key="inspiration.files")
    uploader.upload("home-office_2.jpg", room_photo("home_office", 3), "image/jpeg")
    uploader.upload("IMG_0042.jpg", room_photo("kitchen", 4), "image/jpeg")
    button(app, "Add scenes").click().run()  # the default: from each file name
    assert "2 scene(s) added." in [s.value for s in app.success]
    rooms = {s.filename: s.room_type for s in scenes_of(studio)}
    assert rooms["home-office_2.jpg"] == "home_office"
    assert rooms["IMG_0042.jpg"] is None  # left to the analysis


def test_search_results_stay_on_screen_after_a_search(
    unsplash_studio: Studio, unsplash_server: UnsplashStandIn
) -> None:
    app = signed_in(
        unsplash_studio.emails["editor"], page="inspiration", session_id=unsplash_studio.session_id
    )
    on_source(app, "Search")
    app.text_input(key="inspiration.query").input("bedroom")
    button(app, "Search").click().run()
    boxes = [c for c in app.checkbox if c.key.startswith("inspiration.use.")]
    boxes[0].check().run()  # a rerun: still on the search, its results still there
    assert app.session_state["inspiration.source"] == "Search"
    assert [c for c in app.checkbox if c.key.startswith("inspiration.use.")]
    assert len(app.file_uploader) == 0  # the upload form is not what is shown


def test_a_scene_room_is_corrected_and_a_scene_deleted(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor", "inspiration")
    first, second = scenes_of(studio)[:2]
    app.selectbox(key=f"inspiration.scene_room.{first.id}").select("dining_room").run()
    assert not app.exception
    assert scenes_of(studio)[0].room_type == "dining_room"
    assert any("room set to Dining room" in s.value for s in app.success)
    app.button(key=f"inspiration.delete.{second.id}").click().run()
    assert not app.exception
    assert second.id not in [s.id for s in scenes_of(studio)]
    assert "Scenes in this session (2)" in texts(app)
