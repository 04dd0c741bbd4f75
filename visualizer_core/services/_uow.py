"""What every service shares: the unit of work and id parsing."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from visualizer_core import backends
from visualizer_core.errors import InvalidInput, NotFound


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


def parse_ids(
    values: list[uuid.UUID | str] | list[str] | list[uuid.UUID], kind: str
) -> list[uuid.UUID]:
    out: list[uuid.UUID] = []
    for value in values:
        out.append(parse_id(value, kind))
    if len(set(out)) != len(out):
        raise InvalidInput(f"the same {kind} id is given twice")
    return out


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
