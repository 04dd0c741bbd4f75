"""What every repository module shares: the client filter and ``get``."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from visualizer_core.db.base import Base

M = TypeVar("M", bound=Base)
S = TypeVar("S", bound=Select[*tuple[Any, ...]])


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
