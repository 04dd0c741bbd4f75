"""Signing in and staying signed in: the entry points that turn a person into a scope.

What the studio does with it::

    who = auth.sign_in(email, password)              # or auth.user_for_sso_email(st.user.email)
    token = auth.issue_session_token(who)            # keep it in st.session_state
    scope = auth.scope_from_token(token)             # on every run: role and client read afresh
    scope = auth.switch_client(scope, client_id=cid) # members of several clients
    auth.sign_out_everywhere(scope)                  # every token of that user stops working
    token = auth.change_password(scope, old_password=..., new_password=...)  # others end

    who = auth.accept_invite(invite, password=...)          # new here: choose a password
    who = auth.accept_invite(invite, session_token=token)  # has an account: signed in first
    auth.request_password_reset(email)                # a link by e-mail (when SMTP is set up)
    who = auth.reset_password(reset_token, new_password=...)

A session token is signed with ``AUTH_SECRET`` and carries only the user's id and their
``session_version``; the client and the role are read from the database on each
:func:`scope_from_token`, so a removed member or a changed role takes effect at once. Tokens
expire after ``VISUALIZER_SESSION_MAX_AGE_S`` (a week by default). Owners manage members with
:mod:`visualizer_core.services.clients` (``invite_member``, ``list_members``, ``set_role``,
``remove_member``).

These functions take credentials rather than a scope because they are what makes a scope;
everything else in :mod:`visualizer_core.services` takes a scope first.

What they promise (docs/accounts.md, "Accounts and security"): sign-in answers the same
sentence after the same work (one argon2 check) for an unknown email, a wrong password and a
locked account; attempts are counted by one atomic UPDATE before the password is checked, so
concurrent guesses cannot pass the lockout; an invitation never checks a password (an existing
account accepts from its own signed-in session); replacing a password in any way ends every
other login session of that person, because tokens carry the ``session_version`` it bumps.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from visualizer_core import backends, mail
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Client, User
from visualizer_core.errors import Forbidden, InvalidInput, NotFound
from visualizer_core.scope import Action, ClientScope, Role, Scope
from visualizer_core.security import (
    SessionClaims,
    SessionTokenError,
    check_password_rules,
    hash_password,
    invite_token,
    invite_token_hash,
    needs_rehash,
    normalise_email,
    read_session_token,
    sign_session_token,
    verify_password,
)
from visualizer_core.services._accounts import replace_password, take_back, take_back_notice
from visualizer_core.services._uow import parse_id, unit_of_work

logger = logging.getLogger(__name__)

__all__ = [
    "Identity",
    "InvitationInvalid",
    "InvitationPreview",
    "Membership",
    "SessionInvalid",
    "SignInFailed",
    "SignInRequired",
    "accept_invite",
    "change_password",
    "identity_from_token",
    "invitation_for",
    "issue_session_token",
    "request_password_reset",
    "reset_password",
    "scope_for",
    "scope_from_token",
    "set_password",
    "sign_in",
    "sign_out_everywhere",
    "switch_client",
    "user_for_sso_email",
]

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
RESET_VALID_FOR = dt.timedelta(hours=1)
RESET_EVERY = dt.timedelta(minutes=1)  # at most one reset mail a minute to one address

# The one answer to every refused sign-in: it does not say which of the three it was.
SIGN_IN_REFUSED = (
    "wrong email or password, or too many attempts (then wait 15 minutes, or reset the password)"
)

# Checked against when the email is unknown, so that a miss does the same work as a wrong
# password: one argon2 verification with the current parameters.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(24))


@dataclass(frozen=True)
class Membership:
    """One client the user belongs to, and their role there."""

    client_id: uuid.UUID
    client_name: str
    role: Role


@dataclass(frozen=True)
class Identity:
    """A signed-in user: who, which clients (accepted memberships only), which one is active."""

    user_id: uuid.UUID
    email: str
    memberships: tuple[Membership, ...]
    active_client_id: uuid.UUID | None = None
    notice: str | None = None
    """Something the person must be told on signing in (memberships dropped by a take-back)."""


class SignInFailed(Forbidden):
    """Wrong email or password, too many attempts, or no account for a single sign-on email."""


class SessionInvalid(Forbidden):
    """The login session expired, was signed out everywhere, or the token is not ours."""


class SignInRequired(Forbidden):
    """The invitation is for an account that exists: its owner accepts while signed in."""


class InvitationInvalid(InvalidInput):
    """The invitation token is unknown, already used, withdrawn or expired."""


# -- building identities and scopes --------------------------------------------------------------


def _active_client(user: User, memberships: tuple[Membership, ...]) -> uuid.UUID | None:
    """The stored active client if the user still belongs to it, else their first client."""
    ids = [m.client_id for m in memberships]
    if user.active_client_id in ids:
        return user.active_client_id
    return ids[0] if ids else None


def _identity(db: Session, user: User, *, notice: str | None = None) -> Identity:
    memberships = tuple(
        Membership(c.id, c.name, Role(m.role)) for m, c in repo.memberships(db, user.id)
    )
    return Identity(
        user_id=user.id,
        email=user.email,
        memberships=memberships,
        active_client_id=_active_client(user, memberships),
        notice=notice,
    )


def scope_for(identity: Identity, client_id: uuid.UUID | str) -> ClientScope:
    """The scope of the identity in one of its clients (as its memberships were when read)."""
    cid = parse_id(client_id, "client")
    for membership in identity.memberships:
        if membership.client_id == cid:
            return ClientScope(client_id=cid, role=membership.role, user_id=identity.user_id)
    raise NotFound("client", client_id)


# -- password and single sign-on ------------------------------------------------------------------


def sign_in(email: str, password: str) -> Identity:
    """The identity of a user whose password matches; after 5 misses, locked for 15 minutes.

    An unknown email, a wrong password and a locked account get the same answer
    (:data:`SIGN_IN_REFUSED`) after the same work: the attempt is counted first (one atomic
    UPDATE; for an unknown email the same UPDATE matching no row), then exactly one argon2
    verification runs, against the account's hash or, for an unknown email, a dummy hash of the
    same cost. A locked account's password is checked too,
    and the result thrown away, so that the time does not tell the lock either.
    """
    address = email.strip().lower()
    now = utcnow()
    with unit_of_work() as db:  # committed before the slow check: concurrent guesses see it
        user = repo.user_by_email(db, address)
        if user is None or user.password_hash is None or not user.is_active:
            # The same UPDATE, on an id that matches no row: the same statements either way.
            repo.take_sign_in_attempt(
                db, uuid.uuid4(), now=now, max_attempts=MAX_FAILED_LOGINS, lock_until=now
            )
            user_id, password_hash, allowed = None, _DUMMY_HASH, False
        else:
            user_id, password_hash = user.id, user.password_hash
            allowed = repo.take_sign_in_attempt(
                db, user.id, now=now, max_attempts=MAX_FAILED_LOGINS, lock_until=now + LOCKOUT
            )
    matches = verify_password(password_hash, password)
    if user_id is None or not allowed or not matches:
        raise SignInFailed(SIGN_IN_REFUSED)
    with unit_of_work() as db:
        user = repo.get(db, User, user_id, client_id=None)
        if user is None or not user.is_active or user.password_hash != password_hash:
            raise SignInFailed(SIGN_IN_REFUSED)  # replaced or deactivated meanwhile
        if needs_rehash(password_hash):
            user.password_hash = hash_password(password)
        user.failed_logins = 0
        user.locked_until = None
        user.last_login_at = utcnow()
        return _identity(db, user)


def user_for_sso_email(email: str) -> Identity:
    """The user that a single sign-on identity (Streamlit's ``st.login``) stands for.

    Pass only an email the identity provider has verified (``st.user.email``). The user must
    exist already: made by an admin, or invited by an owner. Nobody is created: otherwise anyone
    with an account at the provider could sign themselves up. Open invitations are *not*
    accepted here: joining a client is the person's choice, made by opening the invitation
    link while signed in (:func:`accept_invite` with ``session_token``).
    """
    address = normalise_email(email)
    now = utcnow()
    with unit_of_work() as db:
        user = repo.user_by_email(db, address)
        if user is None or not user.is_active:
            raise SignInFailed(
                f"there is no account for {address}: ask an owner of your client to invite you"
            )
        # The provider proved the address is this person's: an unverified account is taken back
        # from whoever set its password (and what they accepted with it).
        notice = take_back_notice(take_back(db, user))
        user.last_login_at = now
        db.flush()
        return _identity(db, user, notice=notice)


# -- invitations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationPreview:
    """What an invitation link offers, for the page that asks the person to accept it."""

    client_name: str
    role: Role
    email: str
    invited_by: str | None
    """The inviter's name, or their email when they have none; None when not known."""
    expires_at: dt.datetime


def invitation_for(token: str) -> InvitationPreview:
    """The brand, the role and the inviter of an open invitation (its token is the credential).

    Raises :class:`InvitationInvalid` with the same sentences as :func:`accept_invite` for a
    token that is unknown, used, withdrawn or expired: the link shows nothing more than
    accepting it would.
    """
    if not token or not token.strip():
        raise InvitationInvalid("the invitation link is incomplete: open it again from the email")
    with unit_of_work() as db:
        member = repo.member_by_invite(db, invite_token_hash(token))
        if member is None:
            raise InvitationInvalid(
                "this invitation is not valid: it was used already, withdrawn, or never existed"
            )
        if member.invite_expires_at is None or member.invite_expires_at <= utcnow():
            raise InvitationInvalid(
                "this invitation has expired: ask the owner who invited you for a new one"
            )
        client = repo.get(db, Client, member.client_id, client_id=None)
        user = repo.get(db, User, member.user_id, client_id=None)
        inviter = (
            repo.get(db, User, member.invited_by, client_id=None) if member.invited_by else None
        )
        assert client is not None and user is not None
        return InvitationPreview(
            client_name=client.name,
            role=Role(member.role),
            email=user.email,
            invited_by=(inviter.name or inviter.email) if inviter is not None else None,
            expires_at=member.invite_expires_at,
        )


def accept_invite(
    token: str,
    *,
    password: str | None = None,
    name: str | None = None,
    session_token: str | None = None,
) -> Identity:
    """Accept an owner's invitation: the membership becomes active, once; returns the identity.

    A person new to Visualizer chooses their ``password`` here; the account is verified when
    the link came by e-mail (opening it proved the address) and unverified when the owner
    copied it. Someone who has an account already accepts from their own signed-in session
    (``session_token``, from :func:`sign_in` with its lockout, or single sign-on); a password
    typed here is never checked against an existing account, so the form cannot be used to
    guess one.
    """
    if not token or not token.strip():
        raise InvitationInvalid("the invitation link is incomplete: open it again from the email")
    now = utcnow()
    with unit_of_work() as db:
        member = repo.member_by_invite(db, invite_token_hash(token))
        if member is None:
            raise InvitationInvalid(
                "this invitation is not valid: it was used already, withdrawn, or never existed"
            )
        if member.invite_expires_at is None or member.invite_expires_at <= now:
            raise InvitationInvalid(
                "this invitation has expired: ask the owner who invited you for a new one"
            )
        user = repo.get(db, User, member.user_id, client_id=None)
        assert user is not None
        if not user.is_active:
            raise InvitationInvalid("this account is deactivated: ask an admin")
        has_account = user.password_hash is not None or bool(repo.memberships(db, user.id))
        if session_token is not None:  # the person, signed in (password or single sign-on)
            if _user_of_token(db, session_token, None).id != user.id:
                raise InvitationInvalid(
                    "this invitation was sent to another email address: sign in with that "
                    "address to accept it"
                )
            if member.invite_mailed:  # they opened a link from that mailbox: the address is theirs
                user.email_verified = True
        elif has_account:
            raise SignInRequired(
                f"{user.email} has an account already: sign in with it first, then open "
                "the invitation link again to accept"
            )
        else:
            if password is None:
                raise InvalidInput("choose a password to accept the invitation")
            check_password_rules(password)
            user.password_hash = hash_password(password)
            user.email_verified = member.invite_mailed
            user.failed_logins = 0
            user.locked_until = None
        if name and name.strip() and not user.name:
            user.name = name.strip()[:200]
        member.invite_token_hash = None  # accepted: the link is spent
        member.invite_expires_at = None
        user.active_client_id = member.client_id
        user.last_login_at = now
        db.flush()
        return _identity(db, user)


# -- passwords -----------------------------------------------------------------------------------


def change_password(scope: Scope, *, old_password: str, new_password: str) -> str:
    """Change the signed-in user's own password; returns a new token for this session.

    The old password is required and a wrong one counts towards the lockout like a failed
    sign-in. Every other login session of the user ends at once (their tokens carry the old
    ``session_version``); the caller swaps in the returned token to stay signed in here.
    """
    scope.require(Action.READ)
    check_password_rules(new_password)
    now = utcnow()
    with unit_of_work() as db:
        user = _signed_in_user(db, scope)
        password_hash = user.password_hash
        allowed = password_hash is not None and repo.take_sign_in_attempt(
            db, user.id, now=now, max_attempts=MAX_FAILED_LOGINS, lock_until=now + LOCKOUT
        )
    matches = verify_password(password_hash or _DUMMY_HASH, old_password)
    if not allowed or not matches:
        raise SignInFailed(
            "the current password is wrong (or too many attempts: wait 15 minutes)"
            if password_hash is not None
            else "this account has no password (it signs in with single sign-on)"
        )
    with unit_of_work() as db:
        user = _signed_in_user(db, scope)
        if user.password_hash != password_hash:
            raise SignInFailed("the password was changed meanwhile: sign in again")
        replace_password(user, new_password)
        claims = SessionClaims(user_id=user.id, session_version=user.session_version)
    return sign_session_token(_secret(), claims, now=utcnow().timestamp())


def set_password(scope: Scope, *, email: str, password: str) -> uuid.UUID:
    """Replace a user's password (the admin only: ``visualizer user set-password``).

    Every login session of that person ends; the lock is lifted; the account counts as
    verified, since the admin vouches for who gets the password (an unverified account is taken
    back from whoever set its password, as a mailed reset does). Returns the user's id.
    """
    scope.require(Action.ADMIN)
    address = normalise_email(email)
    check_password_rules(password)
    with unit_of_work() as db:
        user = repo.user_by_email(db, address)
        if user is None:
            raise NotFound("user", address)
        take_back(db, user)  # the admin vouches for who gets the password: not the claimer
        replace_password(user, password)
        return user.id


def request_password_reset(email: str) -> None:
    """Send a password-reset link to ``email`` if it has an account; the same answer if not.

    The mail goes out on a background thread, so neither the answer nor its time tells whether
    the address has an account. Without ``SMTP_URL`` there is no reset by e-mail: an admin
    sets a new password with ``visualizer user set-password``.
    """
    current = backends.current()
    mailer = mail.mailer_for(current.settings)
    if mailer is None:
        raise InvalidInput(
            "password reset by e-mail is not set up here: ask an admin to set a new password"
        )
    try:
        address = normalise_email(email)
    except InvalidInput:
        return
    token, token_hash = invite_token()
    now = utcnow()
    with unit_of_work() as db:
        user = repo.user_by_email(db, address)
        if user is None or not user.is_active:
            return
        issued = user.reset_expires_at - RESET_VALID_FOR if user.reset_expires_at else None
        if issued is not None and issued > now - RESET_EVERY:
            return  # one was just sent: nobody floods a mailbox through this form
        user.reset_token_hash = token_hash
        user.reset_expires_at = now + RESET_VALID_FOR
    link = f"{current.settings.visualizer_studio_url}/?reset={token}"
    body = (
        "Someone (we hope you) asked to reset the password of your Visualizer account.\n\n"
        f"Choose a new one here within an hour:\n{link}\n\n"
        "If it was not you, ignore this mail: your password stays as it is."
    )
    _send_in_background(mailer, to=address, subject="Reset your Visualizer password", body=body)


_MAIL_THREADS: list[threading.Thread] = []


def _send_in_background(mailer: mail.Mailer, *, to: str, subject: str, body: str) -> None:
    def send() -> None:
        try:
            mailer.send(to=to, subject=subject, body=body)
        except mail.MailNotSent as error:
            logger.warning("password reset mail not sent: %s", error)

    thread = threading.Thread(target=send, name=f"mail-{to}", daemon=True)
    _MAIL_THREADS[:] = [t for t in _MAIL_THREADS if t.is_alive()] + [thread]
    thread.start()


def reset_password(token: str, *, new_password: str) -> Identity:
    """Set a new password with a reset link's token (single use, an hour); signs them in.

    Opening the mailed link proved the address, so the account becomes verified; every other
    login session of the person ends. An unverified account is taken back from whoever set its
    password: what they accepted through copied links goes (the identity's ``notice`` says so).
    """
    check_password_rules(new_password)
    if not token or not token.strip():
        raise InvitationInvalid("the reset link is incomplete: open it again from the email")
    now = utcnow()
    with unit_of_work() as db:
        user = repo.user_by_reset_token(db, invite_token_hash(token))
        if (
            user is None
            or not user.is_active
            or user.reset_expires_at is None
            or user.reset_expires_at <= now
        ):
            raise InvitationInvalid(
                "this reset link is not valid (used already, expired, or replaced by a newer "
                "one): ask for a new one"
            )
        notice = take_back_notice(take_back(db, user))  # opening the mailed link proved the address
        replace_password(user, new_password)
        user.last_login_at = now
        db.flush()
        return _identity(db, user, notice=notice)


# -- login sessions ------------------------------------------------------------------------------


def _secret() -> str:
    return backends.current().settings.effective_auth_secret()


def issue_session_token(identity: Identity) -> str:
    """A signed token for the identity's login session (keep it; show it to nobody).

    It is valid until it is older than the configured maximum age or the user signs out
    everywhere.
    """
    with unit_of_work() as db:
        user = repo.get(db, User, identity.user_id, client_id=None)
        if user is None or not user.is_active:
            raise SessionInvalid("this account no longer exists: sign in again")
        claims = SessionClaims(user_id=user.id, session_version=user.session_version)
    return sign_session_token(_secret(), claims, now=utcnow().timestamp())


def _user_of_token(db: Session, token: str, max_age_s: int | None) -> User:
    settings = backends.current().settings
    age = settings.visualizer_session_max_age_s if max_age_s is None else max_age_s
    try:
        claims = read_session_token(_secret(), token, max_age_s=age, now=utcnow().timestamp())
    except SessionTokenError as error:
        if error.expired:
            raise SessionInvalid("your sign-in has expired: please sign in again") from None
        raise SessionInvalid("this sign-in is not valid: please sign in again") from None
    user = repo.get(db, User, claims.user_id, client_id=None)
    if user is None or not user.is_active or user.session_version != claims.session_version:
        raise SessionInvalid("you were signed out: please sign in again")
    return user


def identity_from_token(token: str, *, max_age_s: int | None = None) -> Identity:
    """The identity of a valid session token, with memberships as they are now."""
    with unit_of_work() as db:
        return _identity(db, _user_of_token(db, token, max_age_s))


def scope_from_token(token: str, *, max_age_s: int | None = None) -> ClientScope:
    """The scope of a valid session token in the user's active client, role as it is now.

    Raises :class:`SessionInvalid` when the token expired, was revoked or is not ours, and
    ``Forbidden`` when the user belongs to no client (any more).
    """
    identity = identity_from_token(token, max_age_s=max_age_s)
    if identity.active_client_id is None:
        raise Forbidden("your account is not a member of any client: ask an owner to invite you")
    return scope_for(identity, identity.active_client_id)


def _signed_in_user(db: Session, scope: Scope) -> User:
    if not isinstance(scope, ClientScope) or scope.user_id is None:
        raise InvalidInput("this needs a signed-in user's scope")
    user = repo.get(db, User, scope.user_id, client_id=None)
    if user is None or not user.is_active:
        raise SessionInvalid("this account no longer exists: sign in again")
    return user


def switch_client(scope: Scope, *, client_id: uuid.UUID | str) -> ClientScope:
    """Make another of the user's clients the active one; returns the scope there.

    A client the user is not a member of is "not found", like any other client's id.
    """
    scope.require(Action.READ)
    cid = parse_id(client_id, "client")
    with unit_of_work() as db:
        user = _signed_in_user(db, scope)
        member = repo.membership(db, user.id, cid)
        if (
            member is None
            or member.invite_token_hash is not None
            or repo.get(db, Client, cid, client_id=None) is None
        ):
            raise NotFound("client", client_id)
        user.active_client_id = cid
        return ClientScope(client_id=cid, role=Role(member.role), user_id=user.id)


def sign_out_everywhere(scope: Scope) -> None:
    """End every login session of the scope's user, on every device (tokens issued so far)."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        user = _signed_in_user(db, scope)
        user.session_version += 1
