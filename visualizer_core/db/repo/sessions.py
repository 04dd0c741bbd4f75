"""Studio sessions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from visualizer_core.db.models import StudioSession
from visualizer_core.db.repo._common import scoped
from visualizer_core.schemas import SessionStatus


def list_sessions(
    db: Session, *, client_id: uuid.UUID | None, include_archived: bool = False
) -> Sequence[StudioSession]:
    stmt = scoped(select(StudioSession), StudioSession, client_id).order_by(
        StudioSession.created_at.desc(), StudioSession.id
    )
    if not include_archived:
        stmt = stmt.where(StudioSession.status == SessionStatus.ACTIVE)
    return db.scalars(stmt).all()


def sessions_by_id(db: Session, session_ids: Sequence[uuid.UUID]) -> Sequence[StudioSession]:
    """These sessions (any client), archived ones too."""
    return db.scalars(select(StudioSession).where(StudioSession.id.in_(list(session_ids)))).all()
