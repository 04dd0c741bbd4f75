"""What every data-access module shares: the client filter, ``get``, chunks of ids, counting
aggregates and bulk updates."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, Executable, Select, case, func, select
from sqlalchemy.orm import Session

from visualizer_core.db.base import Base
from visualizer_core.db.models import GeneratedImage

M = TypeVar("M", bound=Base)
S = TypeVar("S", bound=Select[*tuple[Any, ...]])
T = TypeVar("T")


def scoped(stmt: S, model: Any, client_id: uuid.UUID | None) -> S:
    """``stmt`` limited to the rows of ``model`` that belong to ``client_id`` (all when None)."""
    return stmt if client_id is None else stmt.where(model.client_id == client_id)


def get(
    db: Session,
    model: type[M],
    ident: uuid.UUID,
    *,
    client_id: uuid.UUID | None,
    lock: bool = False,
) -> M | None:
    """The row ``ident`` of ``model`` if it belongs to ``client_id`` (any client when None)."""
    stmt = scoped(select(model).where(model.id == ident), model, client_id)  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update()
    return db.scalars(stmt).one_or_none()


def chunks(items: Iterable[T], size: int = 500) -> Iterator[list[T]]:
    """``items`` in lists of at most ``size``, one ``IN (...)`` each (bound parameters are
    limited on every database)."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def count_where(condition: ColumnElement[bool]) -> Any:
    """An aggregate: how many rows meet ``condition`` (0, not NULL, when there are none)."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def silent_since(moment: dt.datetime) -> ColumnElement[bool]:
    """Images whose worker has not beaten since ``moment`` (or never did)."""
    return GeneratedImage.heartbeat_at.is_(None) | (GeneratedImage.heartbeat_at < moment)


def bulk(db: Session, stmt: Executable) -> CursorResult[Any]:
    """Run an UPDATE in the database alone: rows in the session are not synchronised (callers
    read again what they need), so any WHERE clause works and nothing is loaded."""
    return cast(CursorResult[Any], db.execute(stmt.execution_options(synchronize_session=False)))
