"""What a client's team taught matching, kept on the client: read it, reset it, add to it.

Placements are counted where people make them: a scene set by hand in the match table
(:func:`visualizer_core.services.analysis.set_match`) and an image approved or rejected as the
wrong room in review (:mod:`visualizer_core.services.review`). Those services call
:func:`note_placement` inside their own unit of work, so a decision and what it taught are
committed together. :func:`visualizer_core.services.analysis.match_session` reads the lessons
back (:func:`lessons_of`) for every session of the client. The counting rules are
:mod:`visualizer_core.learning`'s.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from visualizer_core import learning
from visualizer_core.db import repo
from visualizer_core.db.models import Client
from visualizer_core.errors import NotFound
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import client_row, read_only, unit_of_work

__all__ = ["forget_taught_rooms", "taught_rooms"]


def taught_rooms(scope: Scope, *, client_id: uuid.UUID | str) -> list[dict[str, Any]]:
    """What the client's team taught, one entry per category, the most placed first.

    Each entry: ``category``, ``label``, ``room`` (the taught room, or None while the team
    has not agreed often enough), ``placed`` and ``refused`` (room to count) and ``sentence``.
    """
    scope.require(Action.READ)
    with read_only() as db:
        client = client_row(db, scope, client_id)
        found = learning.lessons(client.settings)
    return [
        lesson.as_dict()
        for lesson in sorted(found.values(), key=lambda ls: (-ls.total, ls.category))
    ]


def forget_taught_rooms(
    scope: Scope, *, client_id: uuid.UUID | str, category: str | None = None
) -> int:
    """Forget what the team taught about one category (or all of them); owners only.

    Returns how many categories were forgotten. Matching goes back to the analysis's rooms
    for them at the next match; the placements already made stay as they are.
    """
    scope.require(Action.MANAGE)
    with unit_of_work() as db:
        client = client_row(db, scope, client_id, lock=True)
        settings = dict(client.settings or {})
        table = dict(settings.get(learning.SETTING) or {})
        if category is None:
            forgotten = len(table)
            table = {}
        elif category in table:
            forgotten = 1
            del table[category]
        else:
            raise NotFound("taught category", category)
        settings[learning.SETTING] = table
        client.settings = settings
    return forgotten


def note_placement(
    db: Session,
    *,
    client_id: uuid.UUID,
    category: str | None,
    room: str | None,
    placed: int = 0,
    refused: int = 0,
) -> None:
    """Count one placement (or refusal; negative takes one back) in an open unit of work.

    The caller has checked the scope and found the rows; a product without a category or a
    scene without a room teaches nothing.
    """
    if not category or not room or (not placed and not refused):
        return
    client = repo.get(db, Client, client_id, client_id=None, lock=True)
    if client is None:
        return
    client.settings = learning.count(
        client.settings, category=category, room=room, placed=placed, refused=refused
    )


def lessons_of(db: Session, client_id: uuid.UUID) -> dict[str, learning.Lesson]:
    """The client's lessons, read in an open unit of work (matching's prior)."""
    client = repo.get(db, Client, client_id, client_id=None)
    return learning.lessons(client.settings if client is not None else None)
