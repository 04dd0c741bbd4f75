"""Clients (brands) and their members."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from visualizer_core.db import repo
from visualizer_core.db.models import Client, Member, User
from visualizer_core.errors import Conflict, InvalidInput, NotFound
from visualizer_core.scope import Action, Role, Scope
from visualizer_core.security import MIN_PASSWORD_LENGTH, hash_password
from visualizer_core.services._uow import parse_id, unit_of_work

__all__ = [
    "ClientRead",
    "UserRead",
    "create_client",
    "create_user",
    "get_client",
    "list_clients",
    "set_daily_quota",
]

DEFAULT_DAILY_QUOTA = 100


@dataclass(frozen=True)
class ClientRead:
    id: uuid.UUID
    name: str
    plan: str
    daily_quota: int

    @classmethod
    def of(cls, client: Client) -> ClientRead:
        return cls(id=client.id, name=client.name, plan=client.plan, daily_quota=client.daily_quota)


@dataclass(frozen=True)
class UserRead:
    id: uuid.UUID
    email: str
    name: str | None


def _clean_name(name: str) -> str:
    if not name or not name.strip():
        raise InvalidInput("a client needs a name")
    if len(name) > 200:
        raise InvalidInput("a client name may have at most 200 characters")
    return name


def create_client(scope: Scope, *, name: str, daily_quota: int = DEFAULT_DAILY_QUOTA) -> ClientRead:
    """A new client (admin only)."""
    scope.require(Action.ADMIN)
    if daily_quota < 0:
        raise InvalidInput("the daily quota cannot be negative")
    with unit_of_work() as db:
        client = Client(name=_clean_name(name), daily_quota=daily_quota)
        db.add(client)
        db.flush()
        return ClientRead.of(client)


def get_client(scope: Scope, *, client_id: uuid.UUID | str) -> ClientRead:
    scope.require(Action.READ)
    cid = parse_id(client_id, "client")
    scope.check_client(cid, "client", client_id)
    with unit_of_work() as db:
        client = db.get(Client, cid)
        if client is None:
            raise NotFound("client", client_id)
        return ClientRead.of(client)


def list_clients(scope: Scope) -> list[ClientRead]:
    scope.require(Action.READ)
    with unit_of_work() as db:
        return [ClientRead.of(c) for c in repo.list_clients(db, client_id=scope.client_filter())]


def set_daily_quota(scope: Scope, *, client_id: uuid.UUID | str, daily_quota: int) -> ClientRead:
    """Change a client's daily generation quota (admin only)."""
    scope.require(Action.ADMIN)
    if daily_quota < 0:
        raise InvalidInput("the daily quota cannot be negative")
    cid = parse_id(client_id, "client")
    with unit_of_work() as db:
        client = db.get(Client, cid)
        if client is None:
            raise NotFound("client", client_id)
        client.daily_quota = daily_quota
        db.flush()
        return ClientRead.of(client)


def _normalise_email(email: str) -> str:
    cleaned = email.strip().lower()
    local, at, domain = cleaned.partition("@")
    if not at or not local or "." not in domain or " " in cleaned or len(cleaned) > 320:
        raise InvalidInput(f"not an email address: {email!r}")
    return cleaned


def create_user(
    scope: Scope,
    *,
    email: str,
    client_id: uuid.UUID | str,
    role: Role | str,
    password: str | None = None,
    name: str | None = None,
) -> UserRead:
    """A user and their membership of ``client_id``; an existing user just gains the membership.

    The admin may add to any client; an owner only to their own.
    """
    scope.require(Action.MANAGE)
    cid = parse_id(client_id, "client")
    scope.check_client(cid, "client", client_id)
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"role must be owner, editor or viewer, not {role!r}") from None
    address = _normalise_email(email)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    try:
        with unit_of_work() as db:
            if db.get(Client, cid) is None:
                raise NotFound("client", client_id)
            user = repo.user_by_email(db, address)
            if user is None:
                user = User(email=address, name=name)
                db.add(user)
            if password is not None:
                user.password_hash = hash_password(password)
            db.flush()
            if repo.membership(db, user.id, cid) is not None:
                raise Conflict(f"{address} is already a member of this client")
            db.add(Member(user_id=user.id, client_id=cid, role=role.value))
            db.flush()
            return UserRead(id=user.id, email=user.email, name=user.name)
    except IntegrityError:
        raise Conflict(
            f"{address} was created at the same moment by someone else; try again"
        ) from None


def set_webhook(
    scope: Scope, *, client_id: uuid.UUID | str, url: str | None, secret: str | None = None
) -> dict[str, str | None]:
    """Register (or, with ``url=None``, remove) the client's webhook; owners and the admin.

    Without a ``secret`` one is generated; it is returned once, to give to the receiver.
    """
    scope.require(Action.MANAGE)
    cid = parse_id(client_id, "client")
    scope.check_client(cid, "client", client_id)
    if url is not None and not url.startswith(("https://", "http://")):
        raise InvalidInput("the webhook URL must start with https:// (or http:// for testing)")
    if secret is not None and len(secret) < 16:
        raise InvalidInput("a webhook secret needs at least 16 characters")
    with unit_of_work() as db:
        client = db.get(Client, cid)
        if client is None:
            raise NotFound("client", client_id)
        client.webhook_url = url
        client.webhook_secret = None if url is None else secret or secrets.token_urlsafe(32)
        return {"url": client.webhook_url, "secret": client.webhook_secret}
