"""One rule for text that people and third parties hand in: no control characters.

A NUL byte cannot be stored or compared by PostgreSQL (psycopg refuses it with a raw
``DataError``), and no other control character belongs in a name, an email, a secret or a file
name. Tab, line feed and carriage return are allowed (descriptions and prompts have lines).

The check runs at one boundary every service input crosses on its way to the database (see
:func:`visualizer_core.db.engine.make_engine`): every value bound to a statement and every
text attribute of a row being written, JSON included, raising :class:`InvalidInput` that
names the field. Search boxes add their own stricter one-line rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from visualizer_core.errors import InvalidInput

__all__ = ["ALLOWED_CONTROLS", "check_text", "control_character", "control_characters_in"]

ALLOWED_CONTROLS = frozenset("\t\n\r")
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _shown(char: str) -> str:
    return "NUL" if char == "\x00" else f"U+{ord(char):04X}"


def control_character(value: str, *, allowed: frozenset[str] = ALLOWED_CONTROLS) -> str | None:
    """The first control character in ``value`` as people read it (``NUL``, ``U+001B``), or
    None. C0 controls but ``allowed``, DEL and the C1 controls count.

    With the default ``allowed``, one regular-expression search (in C) does it: every bound
    value and every flushed text goes through here, and a character loop in Python cost
    ~150 us per KB (``python -m bench text_boundary``).
    """
    if allowed is ALLOWED_CONTROLS:
        found = _FORBIDDEN.search(value)
        return None if found is None else _shown(found.group())
    for char in value:
        code = ord(char)
        if (code < 0x20 or 0x7F <= code < 0xA0) and char not in allowed:
            return _shown(char)
    return None


def control_characters_in(value: Any, field: str) -> Iterator[tuple[str, str]]:
    """``(field path, character)`` for each text inside ``value`` (strings, and the keys and
    items of mappings and sequences, as JSON columns hold them) that has a control character."""
    if isinstance(value, str):
        found = control_character(value)
        if found is not None:
            yield field, found
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from control_characters_in(key, field)
            yield from control_characters_in(item, f"{field}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from control_characters_in(item, f"{field}[{index}]")


def check_text(value: Any, field: str) -> None:
    """Raise :class:`InvalidInput` naming ``field`` when ``value`` holds a control character."""
    for where, found in control_characters_in(value, field):
        raise InvalidInput(f"{where}: contains a control character ({found}); remove it")
