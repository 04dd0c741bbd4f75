"""Signing in and staying signed in: the entry points that turn a person into a scope.

What the studio does with it::

    who = auth.sign_in(email, password)              # or auth.user_for_sso_email(st.user.email)
    token = auth.issue_session_token(who)            # keep it in st.session_state
    scope = auth.scope_from_token(token)             # on every run: role and client read afresh
    scope = auth.switch_client(scope, client_id=cid) # members of several clients
    auth.sign_out_everywhere(scope)                  # every token of that user stops working

    who = auth.accept_invite(invite_token, password=...)   # from an owner's invitation link

A session token is signed with ``AUTH_SECRET`` and carries only the user's id and their
``session_version``; the client and the role are read from the database on each
:func:`scope_from_token`, so a removed member or a changed role takes effect at once. Tokens
expire after ``VISUALIZER_SESSION_MAX_AGE_S`` (a week by default). Owners manage members with
:mod:`visualizer_core.services.clients` (``invite_member``, ``list_members``, ``set_role``,
``remove_member``).

These functions take credentials rather than a scope because they are what makes a scope;
everything else in :mod:`visualizer_core.services` takes a scope first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Client, Member, User
from visualizer_core.errors import Forbidden, InvalidInput, NotFound
from visualizer_core.scope import Action, ClientScope, Role, Scope
from visualizer_core.security import (
    SessionClaims,
    SessionTokenError,
    check_password_rules,
    hash_password,
    invite_token_hash,
    needs_rehash,
    normalise_email,
    read_session_token,
    sign_session_token,
    verify_password,
)
from visualizer_core.services._uow import parse_id, unit_of_work

__all__ = [
    "Identity",
    "InvitationInvalid",
    "Membership",
    "SessionInvalid",
    "SignInFailed",
    "accept_invite",
    "identity_from_token",
    "issue_session_token",
    "scope_for",
    "scope_from_token",
    "sign_in",
    "sign_out_everywhere",
    "switch_client",
    "user_for_sso_email",
]

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)

# Checked against when the email is unknown, so that a miss takes as long as a wrong password.
_DUMMY_HASH = hash_password("not the password of anyone")


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


class SignInFailed(Forbidden):
    """Wrong email or password, too many attempts, or no account for a single sign-on email."""


class SessionInvalid(Forbidden):
    """The login session expired, was signed out everywhere, or the token is not ours."""


class InvitationInvalid(InvalidInput):
    """The invitation token is unknown, already used, withdrawn or expired."""


# -- building identities and scopes --------------------------------------------------------------


def _active_client(user: User, memberships: tuple[Membership, ...]) -> uuid.UUID | None:
    """The stored active client if the user still belongs to it, else their first client."""
    ids = [m.client_id for m in memberships]
    if user.active_client_id in ids:
        return user.active_client_id
    return ids[0] if ids else None


def _identity(db: Session, user: User) -> Identity:
    memberships = tuple(
        Membership(c.id, c.name, Role(m.role)) for m, c in repo.memberships(db, user.id)
    )
    return Identity(
        user_id=user.id,
        email=user.email,
        memberships=memberships,
        active_client_id=_active_client(user, memberships),
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

    A wrong email and a wrong password get the same answer, so the form does not reveal which
    addresses have accounts.
    """
    address = email.strip().lower()
    now = utcnow()
    with unit_of_work() as db:
        user = repo.user_by_email(db, address)
        if user is None or user.password_hash is None or not user.is_active:
            # Spend the time a real check takes, so timing does not tell either.
            verify_password(_DUMMY_HASH, password)
            raise SignInFailed("wrong email or password")
        if user.locked_until is not None and user.locked_until > now:
            minutes = max(1, -(-int((user.locked_until - now).total_seconds()) // 60))
            raise SignInFailed(f"too many failed sign-ins: try again in {minutes} minute(s)")
        if not verify_password(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
            wrong = True
        else:
            if needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            wrong = False
            identity = _identity(db, user)
    if wrong:
        raise SignInFailed("wrong email or password")
    return identity


def user_for_sso_email(email: str) -> Identity:
    """The user that a single sign-on identity (Streamlit's ``st.login``) stands for.

    Pass only an email the identity provider has verified (``st.user.email``). The user must
    exist already: made by an admin, or invited by an owner. Pending, unexpired invitations to
    this email are accepted here, because the provider has just proved that the person owns
    the address the invitation was sent to. Nobody is created: otherwise anyone with an account
    at the provider could sign themselves up.
    """
    address = normalise_email(email)
    now = utcnow()
    with unit_of_work() as db:
        user = repo.user_by_email(db, address)
        if user is None or not user.is_active:
            raise SignInFailed(
                f"there is no account for {address}: ask an owner of your client to invite you"
            )
        for invitation in repo.invitations_of(db, user.id):
            if invitation.invite_expires_at is not None and invitation.invite_expires_at > now:
                _accept(invitation)
        user.last_login_at = now
        db.flush()
        return _identity(db, user)


# -- invitations ---------------------------------------------------------------------------------


def _accept(member: Member) -> None:
    member.invite_token_hash = None
    member.invite_expires_at = None


def accept_invite(token: str, *, password: str | None = None, name: str | None = None) -> Identity:
    """Accept an owner's invitation: the membership becomes active, once; returns the identity.

    A person new to Visualizer chooses their ``password`` here. Someone who already has an
    account proves it is theirs with their current password; an account that signs in only
    with single sign-on accepts by signing in that way (:func:`user_for_sso_email`).
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
        established = bool(repo.memberships(db, user.id))
        if user.password_hash is not None:
            if password is None or not verify_password(user.password_hash, password):
                raise SignInFailed(
                    f"{user.email} already has an account: enter its password to accept"
                )
        elif established:
            raise SignInFailed(
                f"{user.email} signs in with single sign-on: sign in that way to accept"
            )
        else:
            if password is None:
                raise InvalidInput("choose a password to accept the invitation")
            check_password_rules(password)
            user.password_hash = hash_password(password)
        if name and name.strip() and not user.name:
            user.name = name.strip()[:200]
        _accept(member)
        user.active_client_id = member.client_id
        user.last_login_at = now
        db.flush()
        return _identity(db, user)


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
    with unit_of_work() as db:
        identity = _identity(db, _user_of_token(db, token, max_age_s))
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
