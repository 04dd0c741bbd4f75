"""Issue 12, "No way from one client into another": each finding, tried as the attacker did.

Every test here failed before the fix (the attack worked) and now meets a clear refusal. The
numbers are the findings' in the issue. They run on both backends (the embedded SQLite default
and PostgreSQL with S3); the mail tests talk to a real SMTP server on loopback (aiosmtpd).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from pydantic import SecretStr
from sqlalchemy import select

from tests.servers.smtp import SmtpServer, link_token
from visualizer_core import backends, security
from visualizer_core.db import repo
from visualizer_core.db.engine import make_engine
from visualizer_core.db.models import Client, User
from visualizer_core.errors import Conflict, Forbidden, InvalidInput
from visualizer_core.mail import MailNotSent
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.services import auth, clients, inspiration, notify, products
from visualizer_core.services._uow import unit_of_work
from visualizer_core.storage import LocalStorage

PASSWORD = "the victim's own password"
STUDIO = "https://studio.brand.test"


def new_client(name: str = "Brand") -> clients.ClientRead:
    return clients.create_client(ADMIN, name=f"{name} {uuid.uuid4().hex[:6]}")


def new_member(
    client_id: uuid.UUID, role: Role = Role.OWNER, password: str | None = PASSWORD
) -> clients.UserRead:
    email = f"person-{uuid.uuid4().hex[:8]}@example.com"
    return clients.create_user(
        ADMIN, email=email, client_id=client_id, role=role, password=password
    )


def as_member(client_id: uuid.UUID, user: clients.UserRead, role: Role = Role.OWNER) -> ClientScope:
    return ClientScope(client_id=client_id, role=role, user_id=user.id)


def stored_user(email: str) -> User:
    with unit_of_work() as db:
        user = db.scalars(select(User).where(User.email == email)).one()
        db.expunge(user)
        return user


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mailing(backend: backends.Backends, smtp: SmtpServer) -> Iterator[SmtpServer]:
    """The same backends, with ``SMTP_URL`` set to the loopback server."""
    settings = backend.settings.model_copy(
        update={"smtp_url": SecretStr(smtp.url), "visualizer_studio_url": STUDIO}
    )
    mailed = backends.build(settings)
    with backends.using(mailed):
        yield smtp
    mailed.close()


# -- 1. the invitation was a password oracle ------------------------------------------------------


def test_1_an_invitation_never_checks_a_password_of_an_existing_account(
    backend: backends.Backends,
) -> None:
    a, b = new_client("A"), new_client("B")
    attacker = new_member(a.id)
    victim = new_member(b.id, Role.OWNER)
    for _ in range(auth.MAX_FAILED_LOGINS):  # the victim's account is locked by sign-ins
        with pytest.raises(auth.SignInFailed):
            auth.sign_in(victim.email, "a guess")
    invitation = clients.invite_member(
        as_member(a.id, attacker), client_id=a.id, email=victim.email, role="viewer"
    )
    assert invitation.token is not None  # no SMTP here: the owner holds the link
    answers = set()
    for guess in ("wrong one", "another wrong one", PASSWORD):  # the right one among them
        with pytest.raises(auth.SignInRequired) as refused:
            auth.accept_invite(invitation.token, password=guess)
        answers.add(str(refused.value))
    assert len(answers) == 1  # the right guess is answered like the wrong ones
    # nothing was accepted, and the victim is no member of A and still locked
    pending = {m.email: m.status for m in clients.list_members(ADMIN, client_id=a.id)}
    assert pending[victim.email] == "invited"
    with pytest.raises(auth.SignInFailed):
        auth.sign_in(victim.email, PASSWORD)


# -- 2. pre-claimed accounts ----------------------------------------------------------------------


def test_2_an_owner_cannot_make_an_account_with_a_password_of_their_choosing(
    backend: backends.Backends,
) -> None:
    a = new_client("A")
    attacker = new_member(a.id)
    with pytest.raises(Forbidden, match="only an admin"):
        clients.create_user(
            as_member(a.id, attacker),
            email="future-victim@example.com",
            client_id=a.id,
            role="viewer",
            password="attacker's choice",
        )
    with pytest.raises(auth.SignInFailed):
        auth.sign_in("future-victim@example.com", "attacker's choice")


def test_2_an_account_claimed_from_a_copied_link_is_not_merged_into_another_client(
    backend: backends.Backends,
) -> None:
    a, b = new_client("A"), new_client("B")
    attacker = new_member(a.id)
    victim_email = "future-victim@example.com"
    # The attacker invites the victim's address to A and accepts the invitation themselves.
    invitation = clients.invite_member(
        as_member(a.id, attacker), client_id=a.id, email=victim_email, role="viewer"
    )
    assert invitation.token is not None
    auth.accept_invite(invitation.token, password="attacker's choice")
    assert not stored_user(victim_email).email_verified  # the link was copied, not mailed

    # Later the admin adds that address to B: refused while whoever chose the password might
    # not be the person; B's owner can only invite (and the attacker holds no such link).
    with pytest.raises(Conflict, match="unverified"):
        clients.create_user(ADMIN, email=victim_email, client_id=b.id, role="owner")
    clients.invite_member(ADMIN, client_id=b.id, email=victim_email, role="owner")
    held = auth.sign_in(victim_email, "attacker's choice")
    assert [m.client_id for m in held.memberships] == [a.id]  # nothing of B

    # The admin giving the account a new password takes it from the attacker for good.
    token = auth.issue_session_token(held)
    clients.create_user(
        ADMIN, email=victim_email, client_id=b.id, role="owner", password="the real one!"
    )
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(token)
    with pytest.raises(auth.SignInFailed):
        auth.sign_in(victim_email, "attacker's choice")


def test_2_single_sign_on_takes_an_unverified_account_from_whoever_set_its_password(
    backend: backends.Backends,
) -> None:
    a = new_client("A")
    invitation = clients.invite_member(
        ADMIN, client_id=a.id, email="sso-victim@example.com", role="viewer"
    )
    assert invitation.token is not None
    claimed = auth.accept_invite(invitation.token, password="attacker's choice")
    token = auth.issue_session_token(claimed)
    identity = auth.user_for_sso_email("sso-victim@example.com")  # the provider proved the address
    assert identity.user_id == claimed.user_id
    assert stored_user("sso-victim@example.com").email_verified
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(token)
    with pytest.raises(auth.SignInFailed):
        auth.sign_in("sso-victim@example.com", "attacker's choice")
    # What the claimer accepted through the copied link goes with the password, and the person
    # is told which client it was.
    assert identity.memberships == () and identity.active_client_id is None
    assert identity.notice is not None and f"removed: {a.name}." in identity.notice
    assert stored_user("sso-victim@example.com").active_client_id is None
    listed = {m.email: m.status for m in clients.list_members(ADMIN, client_id=a.id)}
    assert "sso-victim@example.com" not in listed


def test_2_the_admin_giving_an_unverified_account_a_password_takes_it_back_first(
    backend: backends.Backends,
) -> None:
    """``visualizer user create --password-stdin`` on an account claimed from a copied link:
    the admin vouches for the person, so what the claimer accepted goes, as on any take-back."""
    a, b = new_client("A"), new_client("B")
    invitation = clients.invite_member(
        ADMIN, client_id=a.id, email="claimed@example.com", role="editor"
    )
    assert invitation.token is not None
    claimed = auth.accept_invite(invitation.token, password="attacker's choice")
    token = auth.issue_session_token(claimed)

    made = clients.create_user(
        ADMIN, email="claimed@example.com", client_id=b.id, role="viewer", password=PASSWORD
    )

    assert made.id == claimed.user_id
    assert made.memberships_removed == (a.name,)  # said to the admin, who tells the person
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(token)
    with pytest.raises(auth.SignInFailed):
        auth.sign_in("claimed@example.com", "attacker's choice")
    person = auth.sign_in("claimed@example.com", PASSWORD)
    assert [m.client_id for m in person.memberships] == [b.id]
    assert person.active_client_id == b.id
    assert "claimed@example.com" not in {
        m.email for m in clients.list_members(ADMIN, client_id=a.id)
    }
    assert stored_user("claimed@example.com").email_verified
    # A verified account given a password by the admin keeps what it has.
    again = clients.create_user(
        ADMIN, email="claimed@example.com", client_id=a.id, role="viewer", password=PASSWORD
    )
    assert again.memberships_removed == ()
    assert {m.client_id for m in auth.sign_in("claimed@example.com", PASSWORD).memberships} == {
        a.id,
        b.id,
    }


def test_2_a_take_back_leaves_open_invitations_for_the_person_to_accept(
    backend: backends.Backends, mailing: SmtpServer
) -> None:
    """The claimer accepted A's copied link; B's invitation went by mail and waits. Single
    sign-on takes the account back: A (accepted through the copied link) goes, B's invitation
    stays open, and the person accepts it from their own session."""
    a, b = new_client("A"), new_client("B")
    with backends.using(backend):  # no SMTP: the link is copied
        copied = clients.invite_member(
            ADMIN, client_id=a.id, email="both@example.com", role="owner"
        )
        assert copied.token is not None
        auth.accept_invite(copied.token, password="attacker's choice")
    clients.invite_member(ADMIN, client_id=b.id, email="both@example.com", role="viewer")
    mailed = link_token(_only_mail(mailing), "invite")
    person = auth.user_for_sso_email("both@example.com")
    assert person.memberships == ()
    assert person.notice is not None and f"removed: {a.name}." in person.notice
    identity = auth.accept_invite(mailed, session_token=auth.issue_session_token(person))
    assert [m.client_id for m in identity.memberships] == [b.id]
    assert identity.active_client_id == b.id


# -- 3. memberships without consent, and which emails have accounts ------------------------------


def test_3_an_owner_cannot_add_an_existing_account_and_learns_nothing_trying(
    backend: backends.Backends,
) -> None:
    a, b = new_client("A"), new_client("B")
    attacker = new_member(a.id)
    victim = new_member(b.id, Role.EDITOR)
    owner_a = as_member(a.id, attacker)
    answers = []
    for email in (victim.email, "nobody-here@example.com"):
        with pytest.raises(Forbidden) as refused:
            clients.create_user(owner_a, email=email, client_id=a.id, role="viewer")
        answers.append(str(refused.value))
        invitation = clients.invite_member(owner_a, client_id=a.id, email=email, role="viewer")
        answers.append((invitation.mailed, invitation.token is not None, invitation.role))
    assert answers[0] == answers[2] and answers[1] == answers[3]  # the same for both emails
    listed = {m.email: m for m in clients.list_members(owner_a, client_id=a.id)}
    assert listed[victim.email].name is None and listed[victim.email].status == "invited"
    # The victim's next sign-in lands in B, the only client they belong to.
    identity = auth.sign_in(victim.email, PASSWORD)
    assert [m.client_id for m in identity.memberships] == [b.id]
    assert auth.scope_from_token(auth.issue_session_token(identity)).client_id == b.id


def test_3_users_made_by_the_command_land_in_their_first_client(
    backend: backends.Backends,
) -> None:
    first, second = new_client("First"), new_client("Second")
    user = new_member(first.id, Role.EDITOR)
    clients.create_user(ADMIN, email=user.email, client_id=second.id, role="viewer")
    identity = auth.sign_in(user.email, PASSWORD)
    assert identity.active_client_id == first.id
    assert auth.scope_from_token(auth.issue_session_token(identity)).client_id == first.id


# -- 4. the lockout was a read-modify-write race ---------------------------------------------


def test_4_concurrent_wrong_passwords_lock_the_account(backend: backends.Backends) -> None:
    user = new_member(new_client().id)
    start = threading.Barrier(10)
    refused: list[str] = []

    def guess(n: int) -> None:
        start.wait()
        try:
            auth.sign_in(user.email, f"guess number {n}")
        except auth.SignInFailed as error:
            refused.append(str(error))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(refused) == 10
    stored = stored_user(user.email)
    assert stored.failed_logins == 10  # every attempt counted, none lost to a race
    assert stored.locked_until is not None
    with pytest.raises(auth.SignInFailed):
        auth.sign_in(user.email, PASSWORD)  # locked: even the right password


# -- 5. account enumeration by answer and by time ------------------------------------------------


def test_5_unknown_wrong_and_locked_get_the_same_answer_after_the_same_work(
    backend: backends.Backends, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same code path, not a stopwatch: each case runs the attempt UPDATE once and exactly
    one argon2 verification against a hash of the same cost, and raises the same error with the
    same sentence."""
    client = new_client()
    wrong = new_member(client.id)
    locked = new_member(client.id)
    invited = clients.invite_member(
        ADMIN, client_id=client.id, email="invited@example.com", role="viewer"
    )
    assert invited.token is not None
    for _ in range(auth.MAX_FAILED_LOGINS):
        with pytest.raises(auth.SignInFailed):
            auth.sign_in(locked.email, "a guess")

    checked: list[str] = []
    real_verify = security.verify_password

    def counting_verify(password_hash: str, password: str) -> bool:
        checked.append(password_hash)
        return real_verify(password_hash, password)

    counted: list[uuid.UUID] = []
    real_count = repo.take_sign_in_attempt

    def counting_attempt(db: Any, user_id: uuid.UUID, **kwargs: Any) -> bool:
        counted.append(user_id)
        return real_count(db, user_id, **kwargs)

    monkeypatch.setattr(auth, "verify_password", counting_verify)
    monkeypatch.setattr(repo, "take_sign_in_attempt", counting_attempt)
    seen = []
    for email, password in (
        ("nobody@example.com", "whatever it is"),  # unknown email
        (wrong.email, "not the password"),  # wrong password
        (locked.email, PASSWORD),  # locked (with the right password, even)
        ("invited@example.com", "whatever it is"),  # an account without a password yet
    ):
        checked.clear()
        counted.clear()
        with pytest.raises(auth.SignInFailed) as refused:
            auth.sign_in(email, password)
        assert len(checked) == 1, f"{email}: {len(checked)} verifications"
        assert len(counted) == 1, f"{email}: {len(counted)} attempt updates"
        cost = checked[0].rsplit("$", 2)[0]  # "$argon2id$v=19$m=...,t=...,p=..."
        seen.append((type(refused.value), str(refused.value), cost))
    assert len(set(seen)) == 1, seen
    assert seen[0][1] == auth.SIGN_IN_REFUSED


# -- 8. replacing a password kept old sessions --------------------------------------------------


def test_8_changing_a_password_ends_every_other_session(backend: backends.Backends) -> None:
    client = new_client()
    user = new_member(client.id, Role.VIEWER)
    laptop = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    phone = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    scope = auth.scope_from_token(laptop)
    with pytest.raises(auth.SignInFailed, match="current password is wrong"):
        auth.change_password(scope, old_password="not it", new_password="a brand new one")
    with pytest.raises(InvalidInput, match="at least 8"):
        auth.change_password(scope, old_password=PASSWORD, new_password="short")
    assert auth.scope_from_token(phone).user_id == user.id  # nothing changed yet

    kept = auth.change_password(scope, old_password=PASSWORD, new_password="a brand new one")
    for old in (laptop, phone):
        with pytest.raises(auth.SessionInvalid):
            auth.scope_from_token(old)
    assert auth.scope_from_token(kept).user_id == user.id  # this session goes on
    assert auth.sign_in(user.email, "a brand new one").user_id == user.id
    with pytest.raises(auth.SignInFailed):
        auth.sign_in(user.email, PASSWORD)


def test_8_the_admin_replacing_a_password_ends_every_session(backend: backends.Backends) -> None:
    client = new_client()
    user = new_member(client.id)
    token = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    for _ in range(auth.MAX_FAILED_LOGINS):
        with pytest.raises(auth.SignInFailed):
            auth.sign_in(user.email, "a guess")
    assert auth.set_password(ADMIN, email=user.email.upper(), password="set by the admin") == (
        user.id
    )
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(token)
    assert auth.sign_in(user.email, "set by the admin").user_id == user.id  # and the lock lifted
    with pytest.raises(Forbidden):
        auth.set_password(as_member(client.id, user), email=user.email, password="by an owner")


# -- 9. control characters in search text -------------------------------------------------------


@pytest.mark.parametrize("text", ["chair\x00", "\x00", "oak\nchair", "oak\x1bchair", "a\x7f"])
def test_9_control_characters_in_search_text_are_refused_clearly(
    backend: backends.Backends, text: str
) -> None:
    client = new_client()
    user = new_member(client.id, Role.VIEWER, password=None)
    viewer = as_member(client.id, user, Role.VIEWER)
    with pytest.raises(InvalidInput, match="control character"):
        products.list_products(viewer, search=text)
    with pytest.raises(InvalidInput, match="control character"):
        products.list_products(viewer, category=text)
    with pytest.raises(InvalidInput, match="control character"):
        inspiration.search_inspiration(viewer, client_id=client.id, query=text)
    assert products.list_products(viewer, search="chair") == []  # plain text still searches


# -- invitations and resets by e-mail --------------------------------------------------------


def _only_mail(smtp: SmtpServer, count: int = 1) -> EmailMessage:
    messages = smtp.wait_for(count)
    assert len(messages) == count
    return messages[-1]


def test_a_mailed_invitation_is_never_shown_to_the_owner(
    backend: backends.Backends, mailing: SmtpServer
) -> None:
    client = new_client("Mailed")
    owner = new_member(client.id)
    invitation = clients.invite_member(
        as_member(client.id, owner), client_id=client.id, email="New@Example.com", role="editor"
    )
    assert invitation.mailed and invitation.token is None
    assert invitation.link_for(STUDIO) is None
    mail = _only_mail(mailing)
    assert mail["To"] == "new@example.com"
    assert client.name in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    token = link_token(mail, "invite")
    assert f"{STUDIO}/?invite={token}" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    identity = auth.accept_invite(token, password="chosen by the person")
    assert [m.client_id for m in identity.memberships] == [client.id]
    assert stored_user("new@example.com").email_verified  # opening the mail proved the address


@pytest.mark.parametrize(
    "email", ["victim@x.test,attacker@evil.test", "Victim <attacker@evil.test>", '"a"@evil.test']
)
def test_an_address_a_mail_header_would_read_otherwise_is_refused(
    backend: backends.Backends, mailing: SmtpServer, email: str
) -> None:
    client = new_client()
    with pytest.raises(InvalidInput, match="not an email address"):
        clients.invite_member(ADMIN, client_id=client.id, email=email, role="viewer")
    assert mailing.messages == []


def test_an_invitation_whose_mail_fails_is_withdrawn(backend: backends.Backends) -> None:
    settings = backend.settings.model_copy(
        update={"smtp_url": SecretStr("smtp://127.0.0.1:1")}  # nothing listens there
    )
    broken = backends.build(settings)
    client = new_client("Unmailed")
    with backends.using(broken), pytest.raises(MailNotSent, match="could not be sent"):
        clients.invite_member(ADMIN, client_id=client.id, email="x@example.com", role="viewer")
    broken.close()
    assert clients.list_members(ADMIN, client_id=client.id) == []


def test_a_reset_link_by_mail_replaces_the_password_and_ends_sessions(
    backend: backends.Backends, mailing: SmtpServer
) -> None:
    client = new_client()
    user = new_member(client.id)
    token = auth.issue_session_token(auth.sign_in(user.email, PASSWORD))
    auth.request_password_reset("nobody@example.com")  # the same answer; no mail goes
    auth.request_password_reset(user.email.upper())
    auth.request_password_reset(user.email)  # again at once: no second mail (no flooding)
    mail = _only_mail(mailing)
    assert mail["To"] == user.email
    reset = link_token(mail, "reset")
    with pytest.raises(InvalidInput, match="at least 8"):
        auth.reset_password(reset, new_password="short")
    identity = auth.reset_password(reset, new_password="a fresh password")
    assert identity.user_id == user.id
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(token)
    assert auth.sign_in(user.email, "a fresh password").user_id == user.id
    with pytest.raises(auth.InvitationInvalid, match="not valid"):
        auth.reset_password(reset, new_password="once more, again")  # single use
    assert len(mailing.messages) == 1


def test_without_smtp_there_is_no_reset_by_mail(backend: backends.Backends) -> None:
    with pytest.raises(InvalidInput, match="ask an admin"):
        auth.request_password_reset("someone@example.com")


def test_the_real_person_takes_back_a_pre_claimed_account_through_the_mail(
    backend: backends.Backends, mailing: SmtpServer
) -> None:
    """Finding 2 end to end with mail: the attacker pre-claimed the address through a copied
    link (before SMTP was set up); B's mailed invitation reaches the real person, who cannot
    accept without signing in, resets the password by mail, and then accepts."""
    a, b = new_client("A"), new_client("B")
    with backends.using(backend):  # no SMTP yet: the attacker copies the link
        copied = clients.invite_member(
            ADMIN, client_id=a.id, email="real@example.com", role="viewer"
        )
        assert copied.token is not None
        claimed = auth.accept_invite(copied.token, password="attacker's choice")
    attacker_session = auth.issue_session_token(claimed)

    clients.invite_member(ADMIN, client_id=b.id, email="real@example.com", role="owner")
    invite = link_token(_only_mail(mailing), "invite")
    with pytest.raises(auth.SignInRequired):
        auth.accept_invite(invite, password="the person's own")
    auth.request_password_reset("real@example.com")
    reset = link_token(_only_mail(mailing, 2), "reset")
    person = auth.reset_password(reset, new_password="the person's own")
    with pytest.raises(auth.SessionInvalid):
        auth.scope_from_token(attacker_session)
    # The membership the attacker accepted through the copied link went with their password,
    # and the person is told; the active client is not the one the attacker picked.
    assert person.memberships == () and person.active_client_id is None
    assert person.notice is not None and f"removed: {a.name}." in person.notice
    identity = auth.accept_invite(invite, session_token=auth.issue_session_token(person))
    assert {m.client_id for m in identity.memberships} == {b.id}
    assert identity.active_client_id == b.id
    with pytest.raises(auth.SignInFailed):
        auth.sign_in("real@example.com", "attacker's choice")


# -- 6. the webhook's URL and log are the owners' ---------------------------------------------


def test_6_viewers_and_editors_see_neither_the_webhook_url_nor_its_log(
    backend: backends.Backends,
) -> None:
    client = new_client()
    owner = new_member(client.id, password=None)
    clients.set_webhook(
        as_member(client.id, owner), client_id=client.id, url="https://93.184.215.14/hook"
    )
    # A URL stored before the guard existed, with credentials in it: never shown again.
    with unit_of_work() as db:
        row = db.get(Client, client.id)
        assert row is not None
        row.webhook_url = "https://user:hunter2@93.184.215.14/hook"
    for role in (Role.VIEWER, Role.EDITOR):
        member = as_member(client.id, owner, role)
        with pytest.raises(Forbidden):
            clients.webhook_settings(member, client_id=client.id)
        with pytest.raises(Forbidden):
            notify.webhook_deliveries(member, flow_id=uuid.uuid4())
    shown = clients.webhook_settings(as_member(client.id, owner), client_id=client.id)
    assert shown == {"url": "https://93.184.215.14/hook"}


# -- smaller: file permissions of the embedded default ---------------------------------------


def test_the_sqlite_file_is_the_owners_only(tmp_path: Path) -> None:
    home = tmp_path / "home"
    engine = make_engine(f"sqlite:///{home / 'visualizer.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    engine.dispose()
    assert stat.S_IMODE((home / "visualizer.db").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for journal in home.glob("visualizer.db-*"):  # SQLite's WAL files follow the database's
        assert stat.S_IMODE(journal.stat().st_mode) == 0o600

    loose = tmp_path / "older.db"  # made by an earlier version, readable by everyone
    loose.touch(mode=0o644)
    os.chmod(loose, 0o644)
    make_engine(f"sqlite:///{loose}").dispose()
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


def test_a_new_storage_folder_is_the_owners_only(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    storage.put("clients/x/a.png", b"png", content_type="image/png")
    assert stat.S_IMODE((tmp_path / "storage").stat().st_mode) == 0o700


def test_accepting_a_mailed_invitation_while_signed_in_verifies_the_address(
    backend: backends.Backends, mailing: SmtpServer
) -> None:
    a, b = new_client("A"), new_client("B")
    with backends.using(backend):  # no SMTP: a copied link, an unverified account
        copied = clients.invite_member(
            ADMIN, client_id=a.id, email="mine@example.com", role="viewer"
        )
        assert copied.token is not None
        me = auth.accept_invite(copied.token, password="my own password")
    assert not stored_user("mine@example.com").email_verified
    clients.invite_member(ADMIN, client_id=b.id, email="mine@example.com", role="editor")
    mailed = link_token(_only_mail(mailing), "invite")
    auth.accept_invite(mailed, session_token=auth.issue_session_token(me))
    assert stored_user("mine@example.com").email_verified


def test_the_test_suites_cheap_password_cost_never_reaches_a_real_process() -> None:
    """``VISUALIZER_PASSWORD_COST=test`` copied into a deployment keeps the full argon2 cost."""
    probe = (
        "from visualizer_core import security; h = security._hasher; "
        "print(h.time_cost, h.memory_cost)"
    )
    env = {**os.environ, "VISUALIZER_PASSWORD_COST": "test"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    default = PasswordHasher()
    assert done.stdout.split() == [str(default.time_cost), str(default.memory_cost)]
    assert "ignored outside the test suite" in done.stderr
