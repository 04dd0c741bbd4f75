"""Generated images and their flows: finding them by plain values (flow, ids, session with
status, review state or product), and what the workers do to them (claims, updates, heartbeats,
recovery, counts), and what a re-run starts from."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from visualizer_core.db.models import Client, Flow, GeneratedImage, StudioSession
from visualizer_core.db.repo._common import bulk, chunks, count_where, silent_since
from visualizer_core.schemas import OPEN_STATUSES, ImageStatus


def status_counts(
    db: Session,
    *,
    session_id: uuid.UUID | None = None,
    flow_ids: Sequence[uuid.UUID] | None = None,
) -> dict[str, int]:
    """Images per status, in one aggregate query."""
    stmt = select(func.count(), *(count_where(GeneratedImage.status == s) for s in ImageStatus))
    if session_id is not None:
        stmt = stmt.where(GeneratedImage.studio_session_id == session_id)
    if flow_ids is not None:
        stmt = stmt.where(GeneratedImage.flow_id.in_(list(flow_ids)))
    total, *counts = db.execute(stmt).one()
    by_status = {status.value: int(n) for status, n in zip(ImageStatus, counts, strict=True)}
    return {"total": int(total), **by_status}


def flows_of(db: Session, session_id: uuid.UUID) -> Sequence[Flow]:
    return db.scalars(
        select(Flow).where(Flow.studio_session_id == session_id).order_by(Flow.created_at)
    ).all()


def flows_with_webhook_deliveries(
    db: Session, client_id: uuid.UUID | None, *, limit: int
) -> Sequence[Flow]:
    """The client's flows that have a webhook delivery on record, the latest delivery first.

    ``flow.webhook["last_at"]`` is the time of the flow's latest delivery (an ISO text in UTC,
    which sorts as the time does); records kept before it existed come last, newest flow first.
    Since a flow's latest delivery is its newest, the ``limit`` flows returned hold the
    ``limit`` newest deliveries of the client.
    """
    last_at = Flow.webhook["last_at"].as_string()
    stmt = select(Flow).where(Flow.webhook["status"].as_string().is_not(None))
    if client_id is not None:
        stmt = stmt.where(Flow.client_id == client_id)
    stmt = stmt.order_by(last_at.desc().nulls_last(), Flow.created_at.desc()).limit(limit)
    return db.scalars(stmt).all()


def images_of_flow(db: Session, flow_id: uuid.UUID) -> Sequence[GeneratedImage]:
    """The flow's images, oldest first."""
    stmt = select(GeneratedImage).where(GeneratedImage.flow_id == flow_id)
    return db.scalars(stmt.order_by(GeneratedImage.created_at)).all()


def scene_in_use(db: Session, session_id: uuid.UUID, scene_id: str) -> bool:
    """Whether an image of the session was made in this scene (its picture is still needed)."""
    stmt = (
        select(GeneratedImage.id)
        .where(GeneratedImage.studio_session_id == session_id, GeneratedImage.scene_id == scene_id)
        .limit(1)
    )
    return db.scalars(stmt).first() is not None


def images_by_id(db: Session, ids: Sequence[uuid.UUID]) -> Sequence[GeneratedImage]:
    """These images (those that exist), oldest first."""
    stmt = select(GeneratedImage).where(GeneratedImage.id.in_(list(ids)))
    return db.scalars(stmt.order_by(GeneratedImage.created_at)).all()


def reruns_of(db: Session, image_id: uuid.UUID) -> Sequence[GeneratedImage]:
    """The images that re-made ``image_id``, oldest first."""
    stmt = select(GeneratedImage).where(GeneratedImage.rerun_of_id == image_id)
    return db.scalars(stmt.order_by(GeneratedImage.created_at)).all()


def images_of_session(
    db: Session,
    session_id: uuid.UUID,
    *,
    status: ImageStatus | None = None,
    review_state: str | None = None,
    product_id: uuid.UUID | None = None,
    ids: Sequence[uuid.UUID] | None = None,
) -> Sequence[GeneratedImage]:
    """The session's images, oldest first; each filter given keeps only the images matching it
    (``ids``: only these images)."""
    stmt = select(GeneratedImage).where(GeneratedImage.studio_session_id == session_id)
    if status is not None:
        stmt = stmt.where(GeneratedImage.status == status)
    if review_state is not None:
        stmt = stmt.where(GeneratedImage.review_state == review_state)
    if product_id is not None:
        stmt = stmt.where(GeneratedImage.product_id == product_id)
    if ids is not None:
        stmt = stmt.where(GeneratedImage.id.in_(list(ids)))
    return db.scalars(stmt.order_by(GeneratedImage.created_at)).all()


def completed_images_of_client(db: Session, client_id: uuid.UUID) -> Sequence[GeneratedImage]:
    """The client's completed images, the latest completed first."""
    stmt = select(GeneratedImage).where(
        GeneratedImage.client_id == client_id, GeneratedImage.status == ImageStatus.COMPLETED
    )
    return db.scalars(stmt.order_by(GeneratedImage.completed_at.desc())).all()


def unjudged_images(db: Session, *, completed_since: dt.datetime) -> Sequence[GeneratedImage]:
    """Images completed since ``completed_since`` whose fidelity has no score yet, oldest first."""
    stmt = select(GeneratedImage).where(
        GeneratedImage.status == ImageStatus.COMPLETED,
        GeneratedImage.fidelity_score.is_(None),
        GeneratedImage.completed_at >= completed_since,
    )
    return db.scalars(stmt.order_by(GeneratedImage.created_at)).all()


def open_images_of_client(db: Session, client_id: uuid.UUID) -> int:
    """How many of the client's images are pending or generating."""
    stmt = select(func.count()).where(
        GeneratedImage.client_id == client_id, GeneratedImage.status.in_(OPEN_STATUSES)
    )
    return int(db.execute(stmt).scalar_one())


def open_counts_by_model(db: Session, *, session_id: uuid.UUID | None = None) -> dict[str, int]:
    """Pending and generating images per model (of one session, or all), in one query."""
    stmt = select(GeneratedImage.model, func.count()).where(
        GeneratedImage.status.in_(OPEN_STATUSES)
    )
    if session_id is not None:
        stmt = stmt.where(GeneratedImage.studio_session_id == session_id)
    rows = db.execute(stmt.group_by(GeneratedImage.model)).all()
    return {str(model): int(count) for model, count in rows if model}


def claim_image(db: Session, image_id: uuid.UUID, *, worker_id: str, now: dt.datetime) -> bool:
    """Pending to generating, once: a guarded update that only one worker can win."""
    stmt = (
        update(GeneratedImage)
        .where(GeneratedImage.id == image_id, GeneratedImage.status == ImageStatus.PENDING)
        .values(
            status=ImageStatus.GENERATING,
            worker_id=worker_id,
            claimed_at=now,
            heartbeat_at=now,
            started_at=now,
            attempts=GeneratedImage.attempts + 1,
            updated_at=now,
        )
    )
    return bulk(db, stmt).rowcount == 1


def update_image(
    db: Session,
    image_id: uuid.UUID,
    *,
    expect_status: str | None,
    add_attempts: int | None = None,
    **values: Any,
) -> bool:
    """Set columns of one image, only if it is still in ``expect_status``; ``add_attempts``
    adds to its attempts (in the update itself, so concurrent runs do not lose a count)."""
    if add_attempts is not None:
        values["attempts"] = GeneratedImage.attempts + add_attempts
    stmt = update(GeneratedImage).where(GeneratedImage.id == image_id)
    if expect_status is not None:
        stmt = stmt.where(GeneratedImage.status == expect_status)
    return bulk(db, stmt.values(**values)).rowcount == 1


def update_images(db: Session, ids: Sequence[uuid.UUID], **values: Any) -> int:
    """Set columns of these images; how many rows changed."""
    stmt = update(GeneratedImage).values(**values)
    return sum(bulk(db, stmt.where(GeneratedImage.id.in_(chunk))).rowcount for chunk in chunks(ids))


def image_ids_of_flow(db: Session, flow_id: uuid.UUID, *, status: str) -> list[uuid.UUID]:
    """Ids of the flow's images in ``status``."""
    stmt = select(GeneratedImage.id).where(
        GeneratedImage.flow_id == flow_id, GeneratedImage.status == status
    )
    return list(db.scalars(stmt.order_by(GeneratedImage.created_at)))


def open_image_ids(
    db: Session,
    *,
    status: str,
    older_than: dt.datetime | None = None,
    changed_before: dt.datetime | None = None,
) -> list[uuid.UUID]:
    """Ids of images in ``status`` (generating ones whose heartbeat is older than given; rows
    last changed before ``changed_before``)."""
    stmt = select(GeneratedImage.id).where(GeneratedImage.status == status)
    if older_than is not None:
        stmt = stmt.where(silent_since(older_than))
    if changed_before is not None:
        stmt = stmt.where(GeneratedImage.updated_at < changed_before)
    return list(db.scalars(stmt.order_by(GeneratedImage.created_at)))


def reset_orphaned_images(
    db: Session, *, older_than: dt.datetime, now: dt.datetime
) -> list[uuid.UUID]:
    """Generating rows whose heartbeat stopped before ``older_than`` go back to pending.

    The update re-checks the status and the heartbeat, so a row that a live worker finished
    or beat on after it was selected is left as it is. Returns the ids that were reset.
    """
    # Rows of a batch job (economy mode) are the economy poll's: made again here, they would
    # be paid a second time at the standard price.
    not_batch = GeneratedImage.job_id.is_(None) | GeneratedImage.job_id.not_like("gemini-batch:%")
    candidates = open_image_ids(db, status=ImageStatus.GENERATING, older_than=older_than)
    reset: list[uuid.UUID] = []
    for chunk in chunks(candidates):
        stmt = (
            update(GeneratedImage)
            .where(
                GeneratedImage.id.in_(chunk),
                GeneratedImage.status == ImageStatus.GENERATING,
                silent_since(older_than),
                not_batch,
            )
            .values(status=ImageStatus.PENDING, worker_id=None, updated_at=now)
            .returning(GeneratedImage.id)
        )
        reset.extend(bulk(db, stmt).scalars())
    return reset


def recent_timings(
    db: Session, client_id: uuid.UUID, *, limit: int, model: str | None = None
) -> list[dict[str, Any]]:
    """The timings of the client's latest completed images (made with ``model``, when given:
    each backend and model has its own pace), newest first."""
    stmt = select(GeneratedImage.timings).where(
        GeneratedImage.client_id == client_id, GeneratedImage.status == ImageStatus.COMPLETED
    )
    if model is not None:
        stmt = stmt.where(GeneratedImage.model == model)
    return list(db.scalars(stmt.order_by(GeneratedImage.completed_at.desc()).limit(limit)))


def touch_images(db: Session, ids: Sequence[uuid.UUID], *, now: dt.datetime) -> None:
    """Heartbeat: these generating rows are still being worked on."""
    bulk(
        db,
        update(GeneratedImage)
        .where(GeneratedImage.id.in_(list(ids)), GeneratedImage.status == ImageStatus.GENERATING)
        .values(heartbeat_at=now),
    )


def finish_flow(db: Session, flow_id: uuid.UUID, *, now: dt.datetime) -> bool:
    """Mark the flow finished if none of its images is open; only one caller can win."""
    still_open = (
        select(GeneratedImage.id)
        .where(GeneratedImage.flow_id == flow_id, GeneratedImage.status.in_(OPEN_STATUSES))
        .exists()
    )
    stmt = (
        update(Flow)
        .where(Flow.id == flow_id, Flow.finished_at.is_(None), ~still_open)
        .values(finished_at=now, updated_at=now)
    )
    return bulk(db, stmt).rowcount == 1


def rerun_sources(db: Session, image_ids: Sequence[uuid.UUID]) -> list[tuple[Any, ...]]:
    """What re-running images needs to know of each: its session, flow, product and scene.

    Rows of ``(id, client_id, client_name, session_id, session_status, flow_id, flow_name,
    flow_settings, product_id, scene_id, status)``, one query per 500 ids.
    """
    found: list[tuple[Any, ...]] = []
    for chunk in chunks(image_ids):
        stmt = (
            select(
                GeneratedImage.id,
                GeneratedImage.client_id,
                Client.name,
                GeneratedImage.studio_session_id,
                StudioSession.status,
                GeneratedImage.flow_id,
                Flow.name,
                Flow.settings,
                GeneratedImage.product_id,
                GeneratedImage.scene_id,
                GeneratedImage.status,
            )
            .join(Client, Client.id == GeneratedImage.client_id)
            .join(StudioSession, StudioSession.id == GeneratedImage.studio_session_id)
            .join(Flow, Flow.id == GeneratedImage.flow_id)
            .where(GeneratedImage.id.in_(chunk))
        )
        found.extend(tuple(row) for row in db.execute(stmt).all())
    return found
