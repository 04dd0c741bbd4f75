"""Sessions page: create, rename, archive and restore, open; viewers only look."""

from __future__ import annotations

from collections.abc import Callable

from streamlit.testing.v1 import AppTest

from tests.studio.conftest import Studio, button, errors, texts
from visualizer_core.services import sessions


def create(app: AppTest, name: str) -> AppTest:
    app.text_input(key="sessions.new_name").input(name)
    return button(app, "Create").click().run()


def test_an_editor_creates_a_session_and_it_is_listed(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = create(open_app("editor"), "Autumn catalog")
    assert not app.exception
    assert "**Autumn catalog**" in texts(app)
    names = [s.name for s in sessions.list_sessions(studio.scope())]
    assert "Autumn catalog" in names


def test_a_blank_name_is_refused_with_a_message(open_app: Callable[..., AppTest]) -> None:
    app = create(open_app("editor"), "   ")
    assert not app.exception
    assert errors(app) == ["A session needs a name"]


def test_rename_archive_and_restore(studio: Studio, open_app: Callable[..., AppTest]) -> None:
    app = open_app("editor")
    sid = studio.session_id
    app.text_input(key=f"sessions.name.{sid}").input("Renamed collection")
    app.button(key=f"sessions.rename.{sid}").click().run()
    assert "**Renamed collection**" in texts(app)

    app.button(key=f"sessions.archive.{sid}").click().run()
    assert "Renamed collection" not in texts(app)
    app.toggle(key="sessions.show_archived").set_value(True).run()
    assert "**Renamed collection** · _archived_" in texts(app)

    app.button(key=f"sessions.archive.{sid}").click().run()  # now labelled Restore
    assert sessions.get_session(studio.scope(), session_id=sid).status == "active"


def test_open_goes_to_the_products_of_a_session_without_images(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("editor")
    app.button(key=f"sessions.open.{studio.session_id}").click().run()
    assert not app.exception
    assert "Products" in [t.value for t in app.title]
    assert app.session_state["studio.session_id"] == studio.session_id


def test_a_viewer_sees_sessions_but_cannot_change_them(
    studio: Studio, open_app: Callable[..., AppTest]
) -> None:
    app = open_app("viewer")
    assert "Sessions" in [t.value for t in app.title]
    assert [b.label for b in app.get("form_submit_button")] == []
    labels = [b.label for b in app.button]
    assert "Archive" not in labels and "Open" in labels
