"""Signing in: a user's email and password become the scopes of their memberships."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import User
from visualizer_core.errors import Forbidden, NotFound
from visualizer_core.scope import ClientScope, Role
from visualizer_core.security import verify_password
from visualizer_core.services._uow import parse_id, unit_of_work

__all__ = ["Identity", "Membership", "scope_for", "sign_in"]

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)


@dataclass(frozen=True)
class Membership:
    client_id: uuid.UUID
    client_name: str
    role: Role


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID
    email: str
    memberships: tuple[Membership, ...]


class SignInFailed(Forbidden):
    """Wrong email or password, or too many attempts."""


def _identity(db: object, user: User) -> Identity:
    rows = repo.memberships(db, user.id)  # type: ignore[arg-type]
    return Identity(
        user_id=user.id,
        email=user.email,
        memberships=tuple(Membership(c.id, c.name, Role(m.role)) for m, c in rows),
    )


def sign_in(email: str, password: str) -> Identity:
    """The identity of a user whose password matches; after 5 misses, locked for 15 minutes."""
    address = email.strip().lower()
    now = utcnow()
    with unit_of_work() as db:
        user = repo.user_by_email(db, address)
        if user is None or user.password_hash is None or not user.is_active:
            raise SignInFailed("wrong email or password")
        if user.locked_until is not None and user.locked_until > now:
            minutes = max(1, int((user.locked_until - now).total_seconds() // 60))
            raise SignInFailed(f"too many failed sign-ins: try again in {minutes} minute(s)")
        if not verify_password(user.password_hash, password):
            user.failed_logins += 1
            if user.failed_logins >= MAX_FAILED_LOGINS:
                user.locked_until = now + LOCKOUT
                user.failed_logins = 0
            wrong = True
        else:
            user.failed_logins = 0
            user.locked_until = None
            user.last_login_at = now
            wrong = False
            identity = _identity(db, user)
    if wrong:
        raise SignInFailed("wrong email or password")
    return identity


def scope_for(identity: Identity, client_id: uuid.UUID | str) -> ClientScope:
    """The scope of the identity in one of its clients."""
    cid = parse_id(client_id, "client")
    for membership in identity.memberships:
        if membership.client_id == cid:
            return ClientScope(client_id=cid, role=membership.role, user_id=identity.user_id)
    raise NotFound("client", client_id)
