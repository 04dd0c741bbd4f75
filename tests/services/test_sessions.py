"""Sessions and inspiration scenes on both backend sets."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests import factories
from visualizer_core import backends
from visualizer_core.errors import Forbidden, InvalidInput, NotFound
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.services import sessions
from visualizer_core.storage import keys

pytestmark = pytest.mark.usefixtures("backend")


def test_create_rename_archive_and_list() -> None:
    client = factories.create_client()
    first = factories.create_session(client.id, "Spring")
    second = factories.create_session(client.id, "Autumn")
    renamed = sessions.rename_session(ADMIN, session_id=first.id, name="Spring 2027")
    assert renamed.name == "Spring 2027"
    sessions.archive_session(ADMIN, session_id=second.id)
    assert [s.id for s in sessions.list_sessions(ADMIN, client_id=client.id)] == [first.id]
    listed = sessions.list_sessions(ADMIN, client_id=client.id, include_archived=True)
    assert {s.id for s in listed} == {first.id, second.id}
    with pytest.raises(InvalidInput):
        sessions.create_session(ADMIN, client_id=client.id, name="  ")


def test_scenes_are_stored_with_the_session_and_bad_files_reported() -> None:
    client = factories.create_client()
    session = factories.create_session(client.id)
    result = sessions.add_scenes(
        ADMIN,
        session_id=session.id,
        files=[
            ("lounge.jpg", factories.scene_photo()),
            ("notes.txt", b"not a picture"),
            ("empty.png", b""),
            ("study.png", factories.scene_photo((200, 210, 230))),
        ],
        room_type="Living Room",
    )
    assert len(result.scene_ids) == 2
    assert [f["file"] for f in result.failed] == ["notes.txt", "empty.png"]
    assert all(f["file"] in f["error"] for f in result.failed)

    stored = sessions.get_session(ADMIN, session_id=session.id)
    assert [s.id for s in stored.scenes] == result.scene_ids
    scene = stored.scenes[0]
    assert scene.room_type == "living_room"
    assert scene.source == "upload"
    assert scene.key == keys.scene_image(client.id, session.id, scene.id)
    assert scene.key.startswith(f"clients/{client.id}/sessions/{session.id}/media/")
    picture = Image.open(io.BytesIO(backends.current().storage.get(scene.key)))
    assert picture.size == (600, 400)


def test_room_types_are_normalised_and_unknown_ones_refused() -> None:
    client = factories.create_client()
    session = factories.create_session(client.id)
    result = sessions.add_scenes(
        ADMIN,
        session_id=session.id,
        files=[("a.jpg", factories.scene_photo())],
        room_type="home office",
    )
    assert sessions.get_session(ADMIN, session_id=session.id).scenes[0].room_type == "home_office"
    assert result.scene_ids
    with pytest.raises(InvalidInput, match="room type"):
        sessions.add_scenes(
            ADMIN,
            session_id=session.id,
            files=[("a.jpg", factories.scene_photo())],
            room_type="spaceship",
        )


def test_members_see_only_their_own_sessions() -> None:
    mine, theirs = factories.create_client(), factories.create_client()
    their_session = factories.create_session(theirs.id)
    viewer = factories.member_scope(mine.id, Role.VIEWER)
    editor = factories.member_scope(mine.id, Role.EDITOR)
    with pytest.raises(Forbidden):
        sessions.create_session(viewer, client_id=mine.id, name="nope")
    with pytest.raises(NotFound):
        sessions.get_session(editor, session_id=their_session.id)
    with pytest.raises(NotFound):
        sessions.add_scenes(
            editor, session_id=their_session.id, files=[("a.jpg", factories.scene_photo())]
        )
    with pytest.raises(NotFound):
        sessions.session_status(editor, session_id=their_session.id)
    assert sessions.list_sessions(editor) == []


def test_status_of_an_empty_session() -> None:
    client = factories.create_client()
    session = factories.create_session(client.id)
    assert sessions.session_status(ADMIN, session_id=session.id) == {
        "total": 0,
        "pending": 0,
        "generating": 0,
        "completed": 0,
        "error": 0,
    }


def test_a_scene_takes_its_room_from_its_file_name_and_can_be_corrected() -> None:
    client = factories.create_client()
    session = factories.create_session(client.id)
    named = {
        "rustic-way-to-dine.jpg": "dining_room",
        "Cosy_LOUNGE 2.png": "living_room",
        "nursery-soft-light.jpg": "kids_room",
        "my-study.jpg": "home_office",
        "IMG_20240101.jpg": None,
    }
    added = sessions.add_scenes(
        ADMIN,
        session_id=session.id,
        files=[(name, factories.scene_photo()) for name in named],
    )
    stored = sessions.get_session(ADMIN, session_id=session.id).scenes
    assert {s.filename: s.room_type for s in stored} == named
    # A person corrects one: free text, normalised; the analysis never overrides it.
    unnamed = added.scene_ids[-1]
    fixed = sessions.set_scene_room(
        ADMIN, session_id=session.id, scene_id=unnamed, room_type="Dining"
    )
    assert fixed.room_type == "dining_room"
    with pytest.raises(InvalidInput, match="room type"):
        sessions.set_scene_room(
            ADMIN, session_id=session.id, scene_id=unnamed, room_type="spaceship"
        )
    with pytest.raises(NotFound):
        sessions.set_scene_room(
            ADMIN, session_id=session.id, scene_id="no-such-scene", room_type="study"
        )
    with pytest.raises(Forbidden):
        sessions.set_scene_room(
            ClientScope(client_id=client.id, role=Role.VIEWER),
            session_id=session.id,
            scene_id=unnamed,
            room_type="study",
        )


def test_a_deleted_scene_goes_with_its_matches_and_pictures() -> None:
    client = factories.create_client()
    session = factories.create_session(client.id)
    added = sessions.add_scenes(
        ADMIN,
        session_id=session.id,
        files=[("kitchen.jpg", factories.scene_photo()), ("bedroom.jpg", factories.scene_photo())],
    )
    gone = sessions.get_session(ADMIN, session_id=session.id).scenes[0]
    storage = backends.current().storage
    assert storage.exists(gone.key)
    sessions.delete_scene(ADMIN, session_id=session.id, scene_id=gone.id)
    left = sessions.get_session(ADMIN, session_id=session.id).scenes
    assert [s.id for s in left] == [added.scene_ids[1]]
    assert not storage.exists(gone.key)
    assert gone.thumbnail_key is not None and not storage.exists(gone.thumbnail_key)
    with pytest.raises(NotFound):
        sessions.delete_scene(ADMIN, session_id=session.id, scene_id=gone.id)
