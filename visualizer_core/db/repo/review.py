"""Generated images as people see them: the gallery page, the review rows, lineage, and the
bulk approval rule (count, approve)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, aliased

from visualizer_core.db.models import GeneratedImage, Product, ProductImage
from visualizer_core.db.repo._common import bulk, chunks, get
from visualizer_core.schemas import ImageStatus


def gallery_page(
    db: Session,
    *,
    session_id: uuid.UUID,
    offset: int,
    limit: int,
    status: list[str] | None,
    review_state: list[str] | None,
    product_ids: list[uuid.UUID] | None,
    favourites_only: bool,
    order: str,
    min_fidelity: float | None = None,
) -> tuple[int, list[tuple[GeneratedImage, str, str]]]:
    """A page of a session's images with their product's name and sku, and the total count."""
    conditions: list[Any] = [GeneratedImage.studio_session_id == session_id]
    if status:
        conditions.append(GeneratedImage.status.in_(status))
    if review_state:
        conditions.append(GeneratedImage.review_state.in_(review_state))
    if product_ids:
        conditions.append(GeneratedImage.product_id.in_(product_ids))
    if favourites_only:
        conditions.append(GeneratedImage.favourite.is_(True))
    if min_fidelity is not None:
        conditions.append(GeneratedImage.fidelity_score >= min_fidelity)
    total = int(db.execute(select(func.count()).where(*conditions)).scalar_one())
    ordering: list[Any]
    if order == "fidelity":
        # Lowest fidelity first, with the completed images whose judgement has not answered
        # yet as a group of their own ahead of them (not hidden at the end); unfinished last.
        unchecked = (
            GeneratedImage.status == ImageStatus.COMPLETED
        ) & GeneratedImage.fidelity_score.is_(None)
        group = case((unchecked, 0), (GeneratedImage.fidelity_score.is_not(None), 1), else_=2)
        ordering = [group, GeneratedImage.fidelity_score.asc(), GeneratedImage.id]
    else:
        ordering = [
            GeneratedImage.created_at.desc(),
            GeneratedImage.product_id,
            GeneratedImage.variant,
        ]
    stmt = (
        select(GeneratedImage, Product.name, Product.sku)
        .join(Product, Product.id == GeneratedImage.product_id)
        .where(*conditions)
        .order_by(*ordering)
        .offset(offset)
        .limit(limit)
    )
    return total, [(image, name, sku) for image, name, sku in db.execute(stmt).all()]


def review_rows(db: Session, *, session_id: uuid.UUID) -> list[Any]:
    """Every image of a session with what review needs, in one query.

    Each row has the image's columns, its product's ``sku``, ``product_name``,
    ``product_category`` and ``product_analysis`` (its rooms), the
    ``product_preview_key`` of the photo it was made from, and ``earlier_status``: the
    status of the image it re-made (None when it is not a re-run).
    """
    earlier = aliased(GeneratedImage)
    stmt = (
        select(
            GeneratedImage.id,
            GeneratedImage.flow_id,
            GeneratedImage.product_id,
            Product.sku,
            Product.name.label("product_name"),
            Product.category.label("product_category"),
            Product.analysis.label("product_analysis"),
            GeneratedImage.scene_id,
            GeneratedImage.variant,
            GeneratedImage.status,
            GeneratedImage.error_message,
            GeneratedImage.review_state,
            GeneratedImage.favourite,
            GeneratedImage.fidelity_score,
            GeneratedImage.fidelity,
            GeneratedImage.decided_by,
            GeneratedImage.rule_batch,
            GeneratedImage.spot_check,
            GeneratedImage.reject_reason,
            GeneratedImage.product_pixels,
            GeneratedImage.product_pixels_note,
            GeneratedImage.image_key,
            GeneratedImage.thumbnail_key,
            GeneratedImage.attempts,
            GeneratedImage.rerun_of_id,
            GeneratedImage.created_at,
            GeneratedImage.updated_at,
            earlier.status.label("earlier_status"),
            ProductImage.preview_key.label("product_preview_key"),
        )
        .join(Product, Product.id == GeneratedImage.product_id)
        .outerjoin(earlier, earlier.id == GeneratedImage.rerun_of_id)
        .outerjoin(ProductImage, ProductImage.id == GeneratedImage.product_image_id)
        .where(GeneratedImage.studio_session_id == session_id)
    )
    return list(db.execute(stmt).all())


def lineage_rows(
    db: Session, image_id: uuid.UUID, *, client_id: uuid.UUID | None, limit: int = 50
) -> list[GeneratedImage]:
    """The image and the ones it re-made, newest first, following ``rerun_of_id``."""
    found: list[GeneratedImage] = []
    ident: uuid.UUID | None = image_id
    seen: set[uuid.UUID] = set()
    while ident is not None and ident not in seen and len(found) < limit:
        seen.add(ident)
        row = get(db, GeneratedImage, ident, client_id=client_id)
        if row is None:
            break
        found.append(row)
        ident = row.rerun_of_id
    return found


@dataclass(frozen=True)
class ApprovalRule:
    """The completed images of a session nobody decided yet, scored at least ``min_fidelity``;
    of ``among`` only, when given (unscored images never match)."""

    session_id: uuid.UUID
    min_fidelity: float
    among: Sequence[uuid.UUID] | None = None


def _matched_by(rule: ApprovalRule) -> list[Any]:
    found = [
        GeneratedImage.studio_session_id == rule.session_id,
        GeneratedImage.status == ImageStatus.COMPLETED,
        GeneratedImage.review_state == "none",
        GeneratedImage.fidelity_score >= rule.min_fidelity,
    ]
    if rule.among is not None:
        found.append(GeneratedImage.id.in_(list(rule.among)))
    return found


def count_rule_matches(db: Session, rule: ApprovalRule) -> int:
    """How many images ``rule`` would approve now."""
    return int(db.execute(select(func.count()).where(*_matched_by(rule))).scalar_one())


def approve_rule_matches(
    db: Session, rule: ApprovalRule, *, now: dt.datetime, batch: str
) -> list[uuid.UUID]:
    """Approve the images ``rule`` matches, by rule, as run ``batch``; the ids it approved."""
    ids = list(db.scalars(select(GeneratedImage.id).where(*_matched_by(rule))))
    return approve_by_rule(db, ids, now=now, batch=batch)


def approve_by_rule(
    db: Session, ids: Sequence[uuid.UUID], *, now: dt.datetime, batch: str
) -> list[uuid.UUID]:
    """Approve those of these completed images nobody decided yet, marked as approved by rule
    in run ``batch``; the ids it approved (an image decided meanwhile is left alone)."""
    approved: list[uuid.UUID] = []
    for chunk in chunks(ids):
        stmt = (
            update(GeneratedImage)
            .where(
                GeneratedImage.id.in_(chunk),
                GeneratedImage.status == ImageStatus.COMPLETED,
                GeneratedImage.review_state == "none",
            )
            .values(
                review_state="approved",
                decided_by="rule",
                rule_batch=batch,
                spot_check=False,
                reject_reason=None,
                updated_at=now,
            )
            .returning(GeneratedImage.id)
        )
        approved += list(bulk(db, stmt).scalars())
    return approved


def rule_approvals(
    db: Session, *, session_id: uuid.UUID | None, batch: str | None = None
) -> list[uuid.UUID]:
    """The images approved by rule that no person decided since: of a session, or of a run."""
    stmt = select(GeneratedImage.id).where(
        GeneratedImage.review_state == "approved", GeneratedImage.decided_by == "rule"
    )
    if session_id is not None:
        stmt = stmt.where(GeneratedImage.studio_session_id == session_id)
    if batch is not None:
        stmt = stmt.where(GeneratedImage.rule_batch == batch)
    return list(db.scalars(stmt))


def undo_rule_approvals(db: Session, ids: Sequence[uuid.UUID], *, now: dt.datetime) -> int:
    """Return these rule approvals to undecided (a person's decision made since stays)."""
    stmt = (
        update(GeneratedImage)
        .where(GeneratedImage.review_state == "approved", GeneratedImage.decided_by == "rule")
        .values(
            review_state="none", decided_by=None, rule_batch=None, spot_check=False, updated_at=now
        )
    )
    return sum(bulk(db, stmt.where(GeneratedImage.id.in_(chunk))).rowcount for chunk in chunks(ids))


def _labelled(client_id: uuid.UUID) -> list[Any]:
    return [
        GeneratedImage.client_id == client_id,
        GeneratedImage.status == ImageStatus.COMPLETED,
        GeneratedImage.decided_by == "person",
        GeneratedImage.review_state.in_(("approved", "rejected")),
    ]


def label_stamp(db: Session, client_id: uuid.UUID) -> tuple[int, dt.datetime | None]:
    """How many of the client's images a person decided, and when the latest changed."""
    stmt = select(func.count(), func.max(GeneratedImage.updated_at)).where(*_labelled(client_id))
    count, latest = db.execute(stmt).one()
    return int(count), latest


def review_labels(db: Session, client_id: uuid.UUID) -> list[tuple[dict[str, float], bool]]:
    """The client's review decisions as labels: (the image's measured signals, approved)."""
    stmt = select(GeneratedImage.fidelity, GeneratedImage.review_state).where(*_labelled(client_id))
    labels = []
    for fidelity, state in db.execute(stmt):
        signals = (fidelity or {}).get("signals") if isinstance(fidelity, dict) else None
        labels.append((dict(signals or {}), state == "approved"))
    return labels


def judgements_saved(
    db: Session, *, client_id: uuid.UUID | None, since: dt.datetime | None
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """Images whose paid judgement the gate did not ask (sure of its score), by (client,
    session)."""
    stmt = select(GeneratedImage.client_id, GeneratedImage.studio_session_id, func.count()).where(
        GeneratedImage.fidelity["judged"].as_string() == "saved"
    )
    if client_id is not None:
        stmt = stmt.where(GeneratedImage.client_id == client_id)
    if since is not None:
        stmt = stmt.where(GeneratedImage.completed_at >= since)
    stmt = stmt.group_by(GeneratedImage.client_id, GeneratedImage.studio_session_id)
    return {(cid, sid): int(n) for cid, sid, n in db.execute(stmt)}
