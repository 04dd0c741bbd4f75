"""Issue 24, finding 6: one text boundary. A NUL byte (or another control character) from any
service input is an ``InvalidInput`` naming the field, on SQLite and on PostgreSQL, and nothing is
written; never a raw ``DataError`` from the database.

Each case is what an attacker sent: sign-in before any authentication, a session name, a scene's
file name, a webhook secret, the name typed on an invitation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from tests import factories
from visualizer_core import backends
from visualizer_core.errors import InvalidInput
from visualizer_core.scope import ADMIN, Role
from visualizer_core.services import auth, clients, sessions


def _owner() -> tuple[clients.ClientRead, object]:
    client = factories.create_client()
    return client, factories.member_scope(client.id, Role.OWNER)


def sign_in_email() -> None:
    auth.sign_in("victim\x00@example.com", "whatever it is")


def session_name() -> None:
    client, owner = _owner()
    sessions.create_session(owner, client_id=client.id, name="Spring\x00")  # type: ignore[arg-type]


def session_rename() -> None:
    client, owner = _owner()
    made = sessions.create_session(owner, client_id=client.id, name="Spring")  # type: ignore[arg-type]
    sessions.rename_session(owner, session_id=made.id, name="Autumn\x1b[31m")  # type: ignore[arg-type]


def scene_file_name() -> None:
    client, owner = _owner()
    made = sessions.create_session(owner, client_id=client.id, name="Scenes")  # type: ignore[arg-type]
    added = sessions.add_scenes(
        owner,  # type: ignore[arg-type]
        session_id=made.id,
        files=[("lounge\x00.jpg", factories.scene_photo())],
    )
    assert added.failed, "a file name with a NUL must not be stored"
    raise InvalidInput(str(added.failed[0]["error"]))


def webhook_secret() -> None:
    client, owner = _owner()
    clients.set_webhook(
        owner,  # type: ignore[arg-type]
        client_id=client.id,
        url="https://93.184.215.14/hook",
        secret="sixteen-chars-at-least\x00",
    )


def invitation_name() -> None:
    client = factories.create_client()
    invitation = clients.invite_member(
        ADMIN, client_id=client.id, email=f"new-{uuid.uuid4().hex[:6]}@example.com", role="viewer"
    )
    assert invitation.token is not None
    auth.accept_invite(invitation.token, password="a good password", name="Mallory\x00")


def client_name() -> None:
    clients.create_client(ADMIN, name="Acme\x00")


CASES: dict[str, tuple[Callable[[], None], str]] = {
    "sign-in email": (sign_in_email, "email"),
    "session name": (session_name, "name"),
    "session rename": (session_rename, "name"),
    "scene file name": (scene_file_name, "control character"),
    "webhook secret": (webhook_secret, "webhook secret"),
    "invitation name": (invitation_name, "name"),
    "client name": (client_name, "name"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_control_character_in_any_input_is_refused_naming_the_field(
    backend: backends.Backends, case: str
) -> None:
    action, field = CASES[case]
    with pytest.raises(InvalidInput) as refused:
        action()
    message = str(refused.value)
    assert field in message and "control character" in message, message
    assert "DataError" not in message and "\x00" not in message


def test_nothing_half_written_after_a_refused_name(backend: backends.Backends) -> None:
    client, owner = _owner()
    with pytest.raises(InvalidInput, match="name"):
        sessions.create_session(owner, client_id=client.id, name="Half\x00")  # type: ignore[arg-type]
    assert sessions.list_sessions(owner) == []  # type: ignore[arg-type]
    # lines are fine where text has lines
    made = sessions.create_session(owner, client_id=client.id, name="Two\tparts")  # type: ignore[arg-type]
    assert made.name == "Two\tparts"


def test_a_changed_json_value_of_a_stored_row_is_checked_when_flushed(
    backend: backends.Backends,
) -> None:
    """JSON reaches the database as text with its control characters escaped (``\\u0000``),
    so the engine's guard cannot see them: the flush check does, for changed attributes of
    stored rows too (reassigned, or changed in place and flagged), and names the field."""
    from sqlalchemy.orm.attributes import flag_modified

    from visualizer_core.db.models import Client
    from visualizer_core.services._uow import unit_of_work

    client = factories.create_client()
    nul = pytest.raises(InvalidInput, match=r"client settings\.note: .*\(NUL\)")
    with nul, unit_of_work() as db:
        row = db.get(Client, client.id)
        assert row is not None
        row.settings = {**row.settings, "note": "hidden\x00"}
    escape = pytest.raises(InvalidInput, match=r"client settings\.preset\[0\]: .*\(U\+001B\)")
    with escape, unit_of_work() as db:
        row = db.get(Client, client.id)
        assert row is not None
        row.settings["preset"] = ["\x1b[31mred"]
        flag_modified(row, "settings")
    with unit_of_work() as db:  # another column changed: the stored JSON is not read again
        row = db.get(Client, client.id)
        assert row is not None
        row.name = "Renamed"
    assert clients.get_client(ADMIN, client_id=client.id).name == "Renamed"
