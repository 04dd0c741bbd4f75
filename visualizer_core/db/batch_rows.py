"""Data access for economy mode: the rows of batch jobs, their leases and decisions.

A row in a batch job is ``generating`` with ``job_id`` ``gemini-batch:{job name}``; its
``worker_id`` says who holds it: :data:`SUBMITTER` (waiting for the job), or an ingest
(``gemini-batch-ingest:{id}``) whose lease is its ``heartbeat_at`` kept fresh. Rows whose
submission was refused wait with ``job_id`` :data:`AWAITING` and the reason in
``error_message``. Like :mod:`visualizer_core.db.repo`: no commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Update, func, select, update
from sqlalchemy.orm import Session

from visualizer_core.db.models import Flow, GeneratedImage
from visualizer_core.db.repo._common import bulk, chunks, silent_since
from visualizer_core.schemas import ImageStatus

__all__ = [
    "AWAITING",
    "INGEST_PREFIX",
    "JOB_PREFIX",
    "SUBMITTER",
    "SUBMITTING",
    "SUBMIT_PREFIX",
    "await_decision",
    "clear_decision",
    "hand_back",
    "interrupted_submissions",
    "lease",
    "mark_submitting",
    "models_of",
    "open_jobs",
    "open_rows_of_flow",
    "pending_economy_flows",
    "release",
    "renew",
    "renew_one",
    "rows_of_job",
    "submitted",
    "touch_waiting",
]

JOB_PREFIX: Final = "gemini-batch:"
AWAITING: Final = "gemini-batch:awaiting-decision"
SUBMITTING: Final = "gemini-batch:submitting"
SUBMIT_PREFIX: Final = "gemini-batch-submit:"
SUBMITTER: Final = "gemini-batch"
INGEST_PREFIX: Final = "gemini-batch-ingest:"

_G = GeneratedImage


def _open(*where: Any) -> Update:
    """An UPDATE of the generating rows that meet ``where`` (every row of a job is one)."""
    return update(_G).where(_G.status == ImageStatus.GENERATING, *where)


def models_of(db: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str | None]:
    """The model column of each row."""
    rows = db.execute(select(_G.id, _G.model).where(_G.id.in_(list(ids)))).all()
    return {row[0]: row[1] for row in rows}


def open_jobs(db: Session) -> list[str]:
    """Names of the batch jobs that still have generating rows (oldest first)."""
    stmt = (
        select(_G.job_id)
        .where(
            _G.status == ImageStatus.GENERATING,
            _G.job_id.like(f"{JOB_PREFIX}%"),
            _G.job_id.not_in((AWAITING, SUBMITTING)),
        )
        .group_by(_G.job_id)
        .order_by(func.min(_G.created_at))
    )
    return [str(job).removeprefix(JOB_PREFIX) for job in db.scalars(stmt)]


def rows_of_job(db: Session, job_id: str) -> list[uuid.UUID]:
    """The generating rows of one job."""
    stmt = select(_G.id).where(_G.status == ImageStatus.GENERATING, _G.job_id == job_id)
    return list(db.scalars(stmt.order_by(_G.created_at)))


def open_rows_of_flow(db: Session, flow_id: uuid.UUID) -> list[Any]:
    """The flow's generating rows in batch jobs or awaiting a decision (id, job_id, message)."""
    stmt = select(_G.id, _G.job_id, _G.error_message).where(
        _G.flow_id == flow_id, _G.status == ImageStatus.GENERATING, _G.job_id.like(f"{JOB_PREFIX}%")
    )
    return list(db.execute(stmt.order_by(_G.created_at)).all())


def touch_waiting(db: Session, *, now: dt.datetime) -> None:
    """Heartbeat of every row waiting for its job or a decision (not of leased ones)."""
    waiting = _open(_G.job_id.like(f"{JOB_PREFIX}%"), _G.worker_id == SUBMITTER)
    bulk(db, waiting.values(heartbeat_at=now))


def await_decision(
    db: Session, ids: Sequence[uuid.UUID], *, message: str, now: dt.datetime
) -> None:
    """These rows wait for a person: submission refused, or their job ended without results."""
    stmt = _open(_G.id.in_(list(ids))).values(
        job_id=AWAITING,
        worker_id=SUBMITTER,
        error_message=message,
        heartbeat_at=now,
        updated_at=now,
    )
    bulk(db, stmt)


def clear_decision(db: Session, ids: Sequence[uuid.UUID], *, now: dt.datetime) -> None:
    """The decision was made: the rows no longer say they wait."""
    waiting = _open(_G.id.in_(list(ids)), _G.job_id == AWAITING)
    bulk(db, waiting.values(error_message=None, heartbeat_at=now, updated_at=now))


def lease(
    db: Session, job_id: str, *, holder: str, now: dt.datetime, expired_before: dt.datetime
) -> list[uuid.UUID]:
    """Takes the job's open rows for ``holder``: those the submitter holds, and those of an
    ingest whose lease ran out. A guarded update: two callers never get the same row."""
    free = (_G.worker_id == SUBMITTER) | (
        _G.worker_id.like(f"{INGEST_PREFIX}%") & (_G.heartbeat_at < expired_before)
    )
    taken: list[uuid.UUID] = []
    for chunk in chunks(rows_of_job(db, job_id)):
        stmt = _open(_G.id.in_(chunk), _G.job_id == job_id, free).returning(_G.id)
        taken.extend(bulk(db, stmt.values(worker_id=holder, heartbeat_at=now)).scalars())
    return taken


def renew(db: Session, holder: str, *, now: dt.datetime) -> int:
    """Keeps ``holder``'s lease on its open rows."""
    return bulk(db, _open(_G.worker_id == holder).values(heartbeat_at=now)).rowcount


def renew_one(db: Session, image_id: uuid.UUID, holder: str, *, now: dt.datetime) -> bool:
    """Whether the row is still open and ``holder``'s (and its lease renewed)."""
    held = _open(_G.id == image_id, _G.worker_id == holder)
    return bulk(db, held.values(heartbeat_at=now)).rowcount == 1


def hand_back(db: Session, ids: Sequence[uuid.UUID], holder: str, *, now: dt.datetime) -> None:
    """Rows ``holder`` did not finish, back to the submitter (to go into a new job)."""
    held = _open(_G.id.in_(list(ids)), _G.worker_id == holder)
    bulk(db, held.values(worker_id=SUBMITTER, heartbeat_at=now))


def release(db: Session, holder: str, *, now: dt.datetime) -> None:
    """Ends ``holder``'s lease: its open rows wait for the next poll again."""
    bulk(db, _open(_G.worker_id == holder).values(worker_id=SUBMITTER, heartbeat_at=now))


def mark_submitting(
    db: Session, ids: Sequence[uuid.UUID], holder: str, *, now: dt.datetime
) -> list[uuid.UUID]:
    """These generating rows are being submitted by ``holder`` (its heartbeat is the lease)."""
    stmt = _open(_G.id.in_(list(ids))).values(
        job_id=SUBMITTING, worker_id=holder, heartbeat_at=now, updated_at=now
    )
    return list(bulk(db, stmt.returning(_G.id)).scalars())


def submitted(
    db: Session, ids: Sequence[uuid.UUID], holder: str, job_id: str, *, now: dt.datetime
) -> None:
    """``holder``'s rows are in the job now: they wait for it."""
    held = _open(_G.id.in_(list(ids)), _G.worker_id == holder)
    bulk(db, held.values(job_id=job_id, worker_id=SUBMITTER, heartbeat_at=now, updated_at=now))


def interrupted_submissions(
    db: Session, *, older_than: dt.datetime, now: dt.datetime
) -> dict[str, list[uuid.UUID]]:
    """Rows whose submitter stopped beating, by submitter; they are taken (worker_id set to
    the submitter's own id again, heartbeat now) so that one poll alone deals with them."""
    interrupted = (_G.job_id == SUBMITTING, silent_since(older_than))
    stmt = select(_G.id, _G.worker_id).where(_G.status == ImageStatus.GENERATING, *interrupted)
    found: dict[str, list[uuid.UUID]] = {}
    for iid, holder in db.execute(stmt).all():
        taken = update(_G).where(_G.id == iid, *interrupted).values(heartbeat_at=now)
        if bulk(db, taken).rowcount == 1:
            found.setdefault(str(holder), []).append(iid)
    return found


def pending_economy_flows(db: Session) -> list[uuid.UUID]:
    """Economy flows with pending rows (made without dispatching, or put back): the economy
    poll submits them, so the standard workers never make them at the full price."""
    stmt = (
        select(_G.flow_id)
        .join(Flow, Flow.id == _G.flow_id)
        .where(_G.status == ImageStatus.PENDING, Flow.settings["economy"].as_boolean().is_(True))
        .group_by(_G.flow_id)
    )
    return list(db.scalars(stmt))
