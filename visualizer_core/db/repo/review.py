"""Generated images as people see them: the gallery page, the review rows, lineage, the bulk
approval rule (count, approve) and taking decisions back."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, aliased

from visualizer_core.db.models import GeneratedImage, Product, ProductImage
from visualizer_core.db.repo._common import bulk, get
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

    Each row has the image's columns, its product's ``sku`` and ``product_name``, the
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
            GeneratedImage.scene_id,
            GeneratedImage.variant,
            GeneratedImage.status,
            GeneratedImage.error_message,
            GeneratedImage.review_state,
            GeneratedImage.favourite,
            GeneratedImage.fidelity_score,
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


def approve_rule_matches(db: Session, rule: ApprovalRule, *, now: dt.datetime) -> int:
    """Approve the images ``rule`` matches, in one update; how many it approved."""
    stmt = update(GeneratedImage).where(*_matched_by(rule))
    return bulk(db, stmt.values(review_state="approved", updated_at=now)).rowcount


def revert_review_states(
    db: Session,
    ids: Sequence[uuid.UUID],
    *,
    client_id: uuid.UUID | None,
    still: str,
    back_to: str,
    now: dt.datetime,
) -> int:
    """Set these images (the client's) back to ``back_to`` where they are still ``still``, in
    one update; how many went back."""
    stmt = update(GeneratedImage).where(
        GeneratedImage.id.in_(list(ids)), GeneratedImage.review_state == still
    )
    if client_id is not None:
        stmt = stmt.where(GeneratedImage.client_id == client_id)
    return bulk(db, stmt.values(review_state=back_to, updated_at=now)).rowcount
