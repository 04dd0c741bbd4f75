"""What every service shares: the unit of work, id parsing and the scope's client."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager
from typing import TypeVar

from sqlalchemy.orm import Session

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.base import Base
from visualizer_core.db.models import Client
from visualizer_core.errors import InvalidInput, NotFound
from visualizer_core.scope import Scope


def unit_of_work() -> AbstractContextManager[Session]:
    """One transaction on the current backends: commit at the end, roll back on error."""
    return backends.current().transaction()


def read_only() -> AbstractContextManager[Session]:
    """A unit of work that only reads (pages that list): never waits behind a writer."""
    return backends.current().reading()


def parse_id(value: uuid.UUID | str, kind: str) -> uuid.UUID:
    """A UUID from user input; a malformed one is simply not found."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except ValueError:
        raise NotFound(kind, value) from None


def own_client(scope: Scope, client_id: uuid.UUID | str) -> uuid.UUID:
    """The client's id, if the scope may act on it; another client's is simply not found."""
    cid = parse_id(client_id, "client")
    scope.check_client(cid, "client", client_id)
    return cid


def client_row(
    db: Session, scope: Scope, client_id: uuid.UUID | str, *, lock: bool = False
) -> Client:
    """The client's row, if the scope may act on it (:func:`own_client`); else NotFound."""
    client = repo.get(db, Client, own_client(scope, client_id), client_id=None, lock=lock)
    if client is None:
        raise NotFound("client", client_id)
    return client


_Row = TypeVar("_Row", bound=Base)


def in_scope(
    db: Session,
    scope: Scope,
    model: type[_Row],
    ident: uuid.UUID | str,
    kind: str,
    *,
    lock: bool = False,
) -> _Row:
    """The row of ``model`` a person's id names, if the scope may see it; else NotFound."""
    row = repo.get(db, model, parse_id(ident, kind), client_id=scope.client_filter(), lock=lock)
    if row is None:
        raise NotFound(kind, ident)
    return row


def client_in_scope(scope: Scope, client_id: uuid.UUID | str | None) -> uuid.UUID | None:
    """The client a listing is limited to: the one asked for (:func:`own_client`), or the
    scope's own (None for the admin: every client)."""
    return scope.client_filter() if client_id is None else own_client(scope, client_id)


MAX_SEARCH_LENGTH = 500


def search_text(value: str | None, what: str = "search text") -> str | None:
    """Search or filter text from a person, refused clearly when it holds a control character.

    A NUL byte cannot be stored or compared by PostgreSQL (it raised ``DataError``) and no
    other control character (line breaks included) belongs in a one-line search box.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"the {what} must be text")
    for char in value:
        if ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0:
            shown = "NUL" if char == "\x00" else f"U+{ord(char):04X}"
            raise InvalidInput(f"the {what} contains a control character ({shown}); remove it")
    if len(value) > MAX_SEARCH_LENGTH:
        raise InvalidInput(f"the {what} may have at most {MAX_SEARCH_LENGTH} characters")
    return value
