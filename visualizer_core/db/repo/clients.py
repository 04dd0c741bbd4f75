"""Clients, and what a client used: the quota count and the usage by day."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from visualizer_core.db.models import Client, GeneratedImage
from visualizer_core.db.repo._common import count_where
from visualizer_core.schemas import ImageStatus


def list_clients(db: Session, *, client_id: uuid.UUID | None) -> Sequence[Client]:
    stmt = select(Client).order_by(Client.created_at, Client.id)
    if client_id is not None:
        stmt = stmt.where(Client.id == client_id)
    return db.scalars(stmt).all()


def lock_client(db: Session, client_id: uuid.UUID) -> Client | None:
    """The client row, locked until the transaction ends (serialises quota checks)."""
    return db.scalars(select(Client).where(Client.id == client_id).with_for_update()).one_or_none()


def generated_since(db: Session, client_id: uuid.UUID, since: dt.datetime) -> int:
    """How many images the client asked for since ``since`` (quota accounting)."""
    stmt = select(func.count()).where(
        GeneratedImage.client_id == client_id, GeneratedImage.created_at >= since
    )
    return int(db.execute(stmt).scalar_one())


def usage_by_day(
    db: Session, client_id: uuid.UUID, since: dt.datetime
) -> list[tuple[str, int, int, int, float]]:
    """Per UTC day since ``since``: (day ``YYYY-MM-DD``, images asked for, completed, failed,
    cost in USD), oldest first; days without images are left out."""
    column = GeneratedImage.created_at
    if db.get_bind().dialect.name == "postgresql":
        day = func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    else:  # SQLite keeps UTC timestamps as text
        day = func.strftime("%Y-%m-%d", column)
    stmt = (
        select(
            day.label("day"),
            func.count(),
            count_where(GeneratedImage.status == ImageStatus.COMPLETED),
            count_where(GeneratedImage.status == ImageStatus.ERROR),
            func.coalesce(func.sum(GeneratedImage.cost_usd), 0.0),
        )
        .where(GeneratedImage.client_id == client_id, column >= since)
        .group_by(day)
        .order_by(day)
    )
    return [
        (str(d), int(total), int(done), int(failed), float(cost))
        for d, total, done, failed, cost in db.execute(stmt).all()
    ]
