"""Accounts: passwords, throttling, signed sessions, switching clients, invitations, SSO."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from visualizer_core import backends
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Member, User
from visualizer_core.errors import ConfigError, Conflict, Forbidden, InvalidInput, NotFound
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.security import (
    SessionClaims,
    SessionTokenError,
    read_session_token,
    sign_session_token,
)
from visualizer_core.services import auth, clients
from visualizer_core.services._uow import unit_of_work

PASSWORD = "correct horse battery"


def new_client(name: str = "Brand") -> clients.ClientRead:
    return clients.create_client(ADMIN, name=f"{name} {uuid.uuid4().hex[:6]}")


def new_user(
    client_id: uuid.UUID, role: Role = Role.OWNER, password: str | None = PASSWORD
) -> clients.UserRead:
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    return clients.create_user(
        ADMIN, email=email, client_id=client_id, role=role, password=password
    )


def owner_scope(client_id: uuid.UUID, user_id: uuid.UUID) -> ClientScope:
    return ClientScope(client_id=client_id, role=Role.OWNER, user_id=user_id)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.timedelta], None]:
    """Move the services' clock forward (the clock that signs, expires and locks)."""

    def advance(by: dt.timedelta) -> None:
        later = utcnow() + by
        monkeypatch.setattr(auth, "utcnow", lambda: later)
        monkeypatch.setattr(clients, "utcnow", lambda: later)

    return advance


# -- passwords and throttling -------------------------------------------------------------------


def test_sign_in_with_the_right_password(backend: backends.Backends) -> None:
    client = new_client()
    user = new_user(client.id, Role.EDITOR)
    identity = auth.sign_in(f"  {user.email.upper()} ", PASSWORD)
    assert identity.user_id == user.id
    assert [(m.client_id, m.role) for m in identity.memberships] == [(client.id, Role.EDITOR)]
    scope = auth.scope_for(identity, client.id)
    assert (scope.client_id, scope.role, scope.user_id) == (client.id, Role.EDITOR, user.id)


def test_wrong_password_and_unknown_email_get_the_same_answer(backend: backends.Backends) -> None:
    user = new_user(new_client().id)
    with pytest.raises(auth.SignInFailed) as wrong:
        auth.sign_in(user.email, "not the password")
    with pytest.raises(auth.SignInFailed) as unknown:
        auth.sign_in("nobody@example.com", PASSWORD)
    assert str(wrong.value) == str(unknown.value) == auth.SIGN_IN_REFUSED


def test_passwords_are_stored_as_argon2_hashes(backend: backends.Backends) -> None:
    user = new_user(new_client().id)
    with unit_of_work() as db:
        stored = db.get(User, user.id)
        assert stored is not None and stored.password_hash is not None
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash


def test_five_misses_lock_the_account_for_a_while(
    backend: backends.Backends, clock: Callable[[dt.timedelta], None]
) -> None:
    user = new_user(new_client().id)
    for _ in range(auth.MAX_FAILED_LOGINS):
        with pytest.raises(auth.SignInFailed):
            auth.sign_in(user.email, "guess")
    with pytest.raises(auth.SignInFailed) as locked:
        auth.sign_in(user.email, PASSWORD)  # even the right password, for now
    assert str(locked.value) == auth.SIGN_IN_REFUSED  # the lock is not told apart
    clock(auth.LOCKOUT + dt.timedelta(seconds=1))
    assert auth.sign_in(user.email, PASSWORD).user_id == user.id


def test_a_short_password_is_refused(backend: backends.Backends) -> None:
    with pytest.raises(InvalidInput, match="at least 8 characters"):
        new_user(new_client().id, password="short")


# -- login sessions -----------------------------------------------------------------------------


def test_a_session_token_gives_the_scope_of_the_active_client(backend: backends.Backends) -> None:
    client = new_client()
    user = new_user(client.id, Role.VIEWER)
    token = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    assert user.email not in token and PASSWORD not in token
    scope = auth.scope_from_token(token)
    assert (scope.client_id, scope.role, scope.user_id) == (client.id, Role.VIEWER, user.id)
    assert auth.identity_from_token(token).email == user.email


def test_role_changes_and_removal_take_effect_on_the_next_request(
    backend: backends.Backends,
) -> None:
    client = new_client()
    owner = new_user(client.id, Role.OWNER)
    member = new_user(client.id, Role.VIEWER)
    token = auth.issue_session_token(auth.sign_in(member.email, PASSWORD))
    clients.set_role(
        owner_scope(client.id, owner.id), client_id=client.id, user_id=member.id, role="editor"
    )
    assert auth.scope_from_token(token).role is Role.EDITOR
    clients.remove_member(owner_scope(client.id, owner.id), client_id=client.id, user_id=member.id)
    with pytest.raises(Forbidden, match="not a member of any client"):
        auth.scope_from_token(token)


def test_a_session_expires_after_its_maximum_age(
    backend: backends.Backends, clock: Callable[[dt.timedelta], None]
) -> None:
    user = new_user(new_client().id)
    token = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    clock(dt.timedelta(hours=2))
    assert auth.scope_from_token(token).user_id == user.id  # a week by default
    with pytest.raises(auth.SessionInvalid, match="expired"):
        auth.scope_from_token(token, max_age_s=3600)
    max_age = dt.timedelta(seconds=backend.settings.visualizer_session_max_age_s)
    clock(max_age + dt.timedelta(minutes=1))
    with pytest.raises(auth.SessionInvalid, match="expired"):
        auth.scope_from_token(token)


def test_the_maximum_age_is_configured_by_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from visualizer_core.config import load_settings

    monkeypatch.setenv("VISUALIZER_SESSION_MAX_AGE_S", "3600")
    assert load_settings().visualizer_session_max_age_s == 3600
    monkeypatch.setenv("VISUALIZER_SESSION_MAX_AGE_S", "soon")
    with pytest.raises(ConfigError, match="VISUALIZER_SESSION_MAX_AGE_S"):
        load_settings()


def test_sign_out_everywhere_ends_every_session_of_that_user(backend: backends.Backends) -> None:
    client = new_client()
    user = new_user(client.id)
    other = new_user(client.id)
    laptop = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    phone = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    colleague = auth.issue_session_token(auth.sign_in(other.email, PASSWORD))
    auth.sign_out_everywhere(auth.scope_from_token(phone))
    for token in (laptop, phone):
        with pytest.raises(auth.SessionInvalid, match="signed out"):
            auth.scope_from_token(token)
    assert auth.scope_from_token(colleague).user_id == other.id
    fresh = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    assert auth.scope_from_token(fresh).user_id == user.id


def test_a_forged_or_foreign_token_is_refused(backend: backends.Backends) -> None:
    user = new_user(new_client().id)
    claims = SessionClaims(user_id=user.id, session_version=1)
    forged = sign_session_token("another secret", claims, now=utcnow().timestamp())
    for token in (forged, "", "not-a-token", forged + "x"):
        with pytest.raises(auth.SessionInvalid, match="not valid"):
            auth.scope_from_token(token)


SECRET = "s" * 48


@settings(max_examples=150)
@given(
    user_id=st.uuids(),
    version=st.integers(min_value=1, max_value=2**31),
    position=st.integers(min_value=0),
    replacement=st.characters(codec="ascii", categories=["L", "N"]),
)
def test_changing_any_character_of_a_token_voids_it(
    user_id: uuid.UUID, version: int, position: int, replacement: str
) -> None:
    now = 1_900_000_000.0
    token = sign_session_token(SECRET, SessionClaims(user_id, version), now=now)
    assert read_session_token(SECRET, token, max_age_s=60, now=now + 59) == SessionClaims(
        user_id, version
    )
    index = position % len(token)
    tampered = token[:index] + replacement + token[index + 1 :]
    if tampered != token:
        try:
            claims = read_session_token(SECRET, tampered, max_age_s=60, now=now)
        except SessionTokenError:
            pass
        else:
            # base64 can hide a change in the padding bits of the last character; then the
            # token still says exactly the same, which is no forgery.
            assert claims == SessionClaims(user_id, version)
    with pytest.raises(SessionTokenError):
        read_session_token(SECRET, token, max_age_s=60, now=now + 61)
    with pytest.raises(SessionTokenError):
        read_session_token("another" + SECRET, token, max_age_s=60, now=now)


# -- switching clients --------------------------------------------------------------------------


def test_a_member_of_several_clients_switches_the_active_one(backend: backends.Backends) -> None:
    first, second, stranger = new_client("First"), new_client("Second"), new_client("Other")
    user = new_user(first.id, Role.OWNER)
    clients.create_user(ADMIN, email=user.email, client_id=second.id, role=Role.VIEWER)
    identity = auth.sign_in(user.email, PASSWORD)
    assert {m.client_id for m in identity.memberships} == {first.id, second.id}
    token = auth.issue_session_token(identity)

    scope = auth.switch_client(auth.scope_from_token(token), client_id=second.id)
    assert (scope.client_id, scope.role) == (second.id, Role.VIEWER)
    assert auth.scope_from_token(token).client_id == second.id  # remembered on the user
    assert auth.sign_in(user.email, PASSWORD).active_client_id == second.id

    with pytest.raises(NotFound):
        auth.switch_client(scope, client_id=stranger.id)
    with pytest.raises(NotFound):
        auth.switch_client(scope, client_id=uuid.uuid4())
    assert auth.scope_from_token(token).client_id == second.id


# -- invitations --------------------------------------------------------------------------------


def test_an_owner_invites_and_the_invitee_accepts_once(backend: backends.Backends) -> None:
    client = new_client()
    owner = new_user(client.id, Role.OWNER)
    invitation = clients.invite_member(
        owner_scope(client.id, owner.id),
        client_id=client.id,
        email="New@Example.com",
        role="editor",
    )
    assert invitation.email == "new@example.com"
    listed = {m.email: m for m in clients.list_members(ADMIN, client_id=client.id)}
    assert listed["new@example.com"].status == "invited"
    with pytest.raises(auth.SignInFailed):
        auth.sign_in("new@example.com", PASSWORD)  # nothing granted before accepting

    identity = auth.accept_invite(invitation.token, password=PASSWORD, name="Nia")
    assert [(m.client_id, m.role) for m in identity.memberships] == [(client.id, Role.EDITOR)]
    assert auth.sign_in("new@example.com", PASSWORD).user_id == identity.user_id
    listed = {m.email: m for m in clients.list_members(ADMIN, client_id=client.id)}
    assert (listed["new@example.com"].status, listed["new@example.com"].name) == ("active", "Nia")

    with pytest.raises(auth.InvitationInvalid, match="used already"):
        auth.accept_invite(invitation.token, password=PASSWORD)


def test_only_a_hash_of_the_invitation_token_is_kept(backend: backends.Backends) -> None:
    client = new_client()
    invitation = clients.invite_member(
        ADMIN, client_id=client.id, email="kept@example.com", role="viewer"
    )
    with unit_of_work() as db:
        row = db.scalars(select(Member).where(Member.client_id == client.id)).one()
        assert row.invite_token_hash is not None
        assert invitation.token not in row.invite_token_hash


def test_an_expired_invitation_is_refused(
    backend: backends.Backends, clock: Callable[[dt.timedelta], None]
) -> None:
    client = new_client()
    invitation = clients.invite_member(
        ADMIN, client_id=client.id, email="late@example.com", role="viewer"
    )
    clock(clients.INVITE_VALID_FOR + dt.timedelta(minutes=1))
    with pytest.raises(auth.InvitationInvalid, match="expired"):
        auth.accept_invite(invitation.token, password=PASSWORD)
    listed = {m.email: m for m in clients.list_members(ADMIN, client_id=client.id)}
    assert listed["late@example.com"].status == "expired"


def test_inviting_again_replaces_the_earlier_invitation(backend: backends.Backends) -> None:
    client = new_client()
    first = clients.invite_member(ADMIN, client_id=client.id, email="x@example.com", role="viewer")
    second = clients.invite_member(ADMIN, client_id=client.id, email="x@example.com", role="editor")
    with pytest.raises(auth.InvitationInvalid):
        auth.accept_invite(first.token, password=PASSWORD)
    identity = auth.accept_invite(second.token, password=PASSWORD)
    assert identity.memberships[0].role is Role.EDITOR
    with pytest.raises(Conflict, match="already a member"):
        clients.invite_member(ADMIN, client_id=client.id, email="x@example.com", role="viewer")


def test_an_existing_account_accepts_from_its_own_signed_in_session(
    backend: backends.Backends,
) -> None:
    home, other = new_client("Home"), new_client("Other")
    user = new_user(home.id, Role.OWNER)
    invitation = clients.invite_member(ADMIN, client_id=other.id, email=user.email, role="viewer")
    assert invitation.token is not None
    for typed in (None, "a different password", PASSWORD):  # a typed password is never checked
        with pytest.raises(auth.SignInRequired, match="sign in with it first"):
            auth.accept_invite(invitation.token, password=typed)
    stranger = new_user(home.id, Role.VIEWER)
    with pytest.raises(auth.InvitationInvalid, match="another email address"):
        auth.accept_invite(
            invitation.token,
            session_token=auth.issue_session_token(auth.sign_in(stranger.email, PASSWORD)),
        )
    token = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    identity = auth.accept_invite(invitation.token, session_token=token)
    assert {m.client_id for m in identity.memberships} == {home.id, other.id}
    assert identity.active_client_id == other.id
    assert auth.sign_in(user.email, PASSWORD).user_id == user.id  # password unchanged


def test_an_owner_cannot_add_an_account_or_set_a_password(backend: backends.Backends) -> None:
    mine, theirs = new_client("Mine"), new_client("Theirs")
    owner = new_user(mine.id, Role.OWNER)
    victim = new_user(theirs.id, Role.OWNER)
    for email in (victim.email, "nobody-yet@example.com"):
        for password in ("taken over!", None):
            with pytest.raises(Forbidden, match="only an admin"):
                clients.create_user(
                    owner_scope(mine.id, owner.id),
                    email=email,
                    client_id=mine.id,
                    role="viewer",
                    password=password,
                )
    assert auth.sign_in(victim.email, PASSWORD).memberships[0].client_id == theirs.id
    with pytest.raises(auth.SignInFailed):
        auth.sign_in("nobody-yet@example.com", "taken over!")


def test_a_new_invitee_must_choose_a_password(backend: backends.Backends) -> None:
    client = new_client()
    invitation = clients.invite_member(
        ADMIN, client_id=client.id, email="p@example.com", role="viewer"
    )
    with pytest.raises(InvalidInput, match="choose a password"):
        auth.accept_invite(invitation.token)
    with pytest.raises(InvalidInput, match="at least 8"):
        auth.accept_invite(invitation.token, password="short")
    assert auth.accept_invite(invitation.token, password=PASSWORD).memberships


def test_a_made_up_invitation_token_is_refused(backend: backends.Backends) -> None:
    for token in ("", "   ", "made-up-token"):
        with pytest.raises(auth.InvitationInvalid):
            auth.accept_invite(token, password=PASSWORD)


# -- members ------------------------------------------------------------------------------------


def test_the_last_owner_can_be_neither_removed_nor_demoted(backend: backends.Backends) -> None:
    client = new_client()
    owner = new_user(client.id, Role.OWNER)
    scope = owner_scope(client.id, owner.id)
    with pytest.raises(Conflict, match="last owner"):
        clients.remove_member(scope, client_id=client.id, user_id=owner.id)
    with pytest.raises(Conflict, match="last owner"):
        clients.set_role(scope, client_id=client.id, user_id=owner.id, role="editor")

    second = new_user(client.id, Role.EDITOR)
    clients.set_role(scope, client_id=client.id, user_id=second.id, role="owner")
    clients.set_role(scope, client_id=client.id, user_id=owner.id, role="viewer")
    members = {m.user_id: m.role for m in clients.list_members(ADMIN, client_id=client.id)}
    assert members == {owner.id: Role.VIEWER, second.id: Role.OWNER}


def test_removing_a_member_or_an_invitation(backend: backends.Backends) -> None:
    client = new_client()
    owner = new_user(client.id, Role.OWNER)
    scope = owner_scope(client.id, owner.id)
    member = new_user(client.id, Role.EDITOR)
    invitation = clients.invite_member(
        scope, client_id=client.id, email="w@example.com", role="viewer"
    )
    invitee = next(
        m for m in clients.list_members(scope, client_id=client.id) if m.email == "w@example.com"
    )
    clients.remove_member(scope, client_id=client.id, user_id=member.id)
    clients.remove_member(scope, client_id=client.id, user_id=invitee.user_id)
    assert [m.user_id for m in clients.list_members(scope, client_id=client.id)] == [owner.id]
    with pytest.raises(auth.InvitationInvalid):
        auth.accept_invite(invitation.token, password=PASSWORD)
    with pytest.raises(NotFound):
        clients.remove_member(scope, client_id=client.id, user_id=member.id)


def test_an_admin_adding_an_invited_person_admits_them_at_once(backend: backends.Backends) -> None:
    client = new_client()
    clients.invite_member(ADMIN, client_id=client.id, email="direct@example.com", role="viewer")
    clients.create_user(
        ADMIN, email="direct@example.com", client_id=client.id, role="editor", password=PASSWORD
    )
    identity = auth.sign_in("direct@example.com", PASSWORD)
    assert [(m.client_id, m.role) for m in identity.memberships] == [(client.id, Role.EDITOR)]


# -- single sign-on -----------------------------------------------------------------------------


def test_single_sign_on_maps_a_known_email_to_its_user(backend: backends.Backends) -> None:
    client = new_client()
    user = new_user(client.id, Role.EDITOR, password=None)
    identity = auth.user_for_sso_email(user.email.upper())
    assert identity.user_id == user.id
    assert auth.scope_from_token(auth.issue_session_token(identity)).role is Role.EDITOR


def test_single_sign_on_creates_nobody_uninvited(backend: backends.Backends) -> None:
    with pytest.raises(auth.SignInFailed, match="ask an owner"):
        auth.user_for_sso_email("stranger@example.com")
    with pytest.raises(InvalidInput):
        auth.user_for_sso_email("not an email")


def test_single_sign_on_accepts_no_invitation_by_itself(
    backend: backends.Backends, clock: Callable[[dt.timedelta], None]
) -> None:
    """Joining a client is the person's choice: signing in does not accept what is pending;
    opening the link while signed in does (an expired one not even then)."""
    client, late = new_client(), new_client("Late")
    expiring = clients.invite_member(
        ADMIN,
        client_id=late.id,
        email="sso@example.com",
        role="viewer",
        valid_for=dt.timedelta(hours=1),
    )
    invitation = clients.invite_member(
        ADMIN, client_id=client.id, email="sso@example.com", role="editor"
    )
    clock(dt.timedelta(hours=2))
    identity = auth.user_for_sso_email("sso@example.com")
    assert identity.memberships == ()
    token = auth.issue_session_token(identity)
    with pytest.raises(auth.InvitationInvalid, match="expired"):
        auth.accept_invite(expiring.token, session_token=token)
    joined = auth.accept_invite(invitation.token, session_token=token)
    assert [(m.client_id, m.role) for m in joined.memberships] == [(client.id, Role.EDITOR)]
    with pytest.raises(auth.SignInFailed):
        auth.sign_in("sso@example.com", "")  # no password: single sign-on only
