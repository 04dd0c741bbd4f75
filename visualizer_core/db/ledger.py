"""Data access for the spend ledger: provider call records on the rows they served.

The ledger has no table of its own. An image's calls are in ``generated_image.usage`` (with
``cost_usd`` their sum), a product's analysis calls in ``product.usage``, a scene's in its
object on ``studio_session.scenes`` (key ``usage``); all three hold ``{"calls": [...],
"cost_usd", "tokens"}`` (:func:`visualizer_core.ai.usage.summarize`). Appending locks the row,
so two writers never lose each other's calls. Like :mod:`visualizer_core.db.repo`: no commits.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from visualizer_core.ai.usage import CallRecord, records_of, summarize
from visualizer_core.db.models import Client, GeneratedImage, Product, StudioSession
from visualizer_core.db.repo._common import get, scoped
from visualizer_core.schemas import ImageStatus

__all__ = [
    "ImageSpend",
    "LedgerCall",
    "add_image_calls",
    "add_product_calls",
    "add_scene_calls",
    "approved_counts",
    "calls",
    "client_spend_since",
    "image_spend",
    "recent_image_costs",
]


def _merged(existing: dict[str, Any] | None, new: Sequence[CallRecord]) -> dict[str, Any]:
    kept = [item for item in (existing or {}).get("calls") or [] if isinstance(item, dict)]
    return summarize([*kept, *(record.as_json() for record in new)])


def add_image_calls(db: Session, image_id: uuid.UUID, records: Sequence[CallRecord]) -> float:
    """Appends ``records`` to the image's ledger; returns its new total cost (USD).

    Rows made before the ledger (usage without ``calls``) keep their ``cost_usd`` as one
    earlier call, so no cent recorded then is dropped.
    """
    row = get(db, GeneratedImage, image_id, client_id=None, lock=True)
    if row is None or not records:
        return float(row.cost_usd or 0.0) if row is not None else 0.0
    earlier = _legacy_calls(row)
    usage = _merged({"calls": [r.as_json() for r in earlier]} if earlier else row.usage, records)
    row.usage = usage
    row.cost_usd = float(usage["cost_usd"])
    return row.cost_usd


def add_product_calls(db: Session, product_id: uuid.UUID, records: Sequence[CallRecord]) -> None:
    """Appends ``records`` (analysis calls) to the product's ledger."""
    if not records:
        return
    row = get(db, Product, product_id, client_id=None, lock=True)
    if row is not None:
        row.usage = _merged(row.usage, records)


def add_scene_calls(
    db: Session, session_id: uuid.UUID, calls_by_scene: Mapping[str, Sequence[CallRecord]]
) -> None:
    """Appends each scene's records (analysis calls) to its object on the session's scenes."""
    if not any(calls_by_scene.values()):
        return
    row = get(db, StudioSession, session_id, client_id=None, lock=True)
    if row is None:
        return
    scenes = []
    for scene in row.scenes or []:
        new = calls_by_scene.get(str(scene.get("id")))
        scenes.append({**scene, "usage": _merged(scene.get("usage"), new)} if new else scene)
    row.scenes = scenes


# -- reading ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerCall:
    """One recorded call with the rows it belongs to (what :func:`calls` yields)."""

    record: CallRecord
    client_id: uuid.UUID
    client_name: str
    session_id: uuid.UUID | None
    image_id: uuid.UUID | None
    product_id: uuid.UUID | None
    scene_id: str | None


def _legacy_calls(row: Any) -> list[CallRecord]:
    """A pre-ledger image's recorded cost as one call (its ``usage`` had no ``calls``)."""
    if (row.usage or {}).get("calls") is not None or not row.cost_usd:
        return []
    flat = row.usage or {}
    return [
        CallRecord(
            kind="image",
            model=row.model or "unknown",
            cost_usd=float(row.cost_usd),
            at=row.completed_at or row.created_at,
            image_id=str(row.id),
            product_id=str(row.product_id),
            client_id=str(row.client_id),
            tokens={
                "input_text": int(flat.get("input_tokens") or 0),
                "output_image": int(flat.get("image_output_tokens") or 0),
                "total": int(flat.get("total_tokens") or 0),
            },
        )
    ]


def calls(
    db: Session, *, client_id: uuid.UUID | None, since: dt.datetime | None = None
) -> Iterator[LedgerCall]:
    """Every recorded call (of one client, or all), with ``at >= since`` when given."""
    names = {
        c.id: c.name
        for c in db.scalars(
            select(Client) if client_id is None else select(Client).where(Client.id == client_id)
        )
    }

    def wanted(record: CallRecord) -> bool:
        return since is None or record.at >= since

    def touched(stmt: Any, model: Any) -> Any:
        # A call is recorded after it is made, so a row holding a call made since ``since``
        # was written since then: rows untouched since are skipped without reading them.
        return stmt if since is None else stmt.where(model.updated_at >= since)

    images = select(
        GeneratedImage.id,
        GeneratedImage.client_id,
        GeneratedImage.studio_session_id,
        GeneratedImage.product_id,
        GeneratedImage.scene_id,
        GeneratedImage.model,
        GeneratedImage.usage,
        GeneratedImage.cost_usd,
        GeneratedImage.created_at,
        GeneratedImage.completed_at,
    )
    images = touched(scoped(images, GeneratedImage, client_id), GeneratedImage)
    images = images.execution_options(yield_per=500)
    for image in db.execute(images):
        for record in records_of(image.usage) or _legacy_calls(image):
            if wanted(record):
                yield LedgerCall(
                    record,
                    image.client_id,
                    names.get(image.client_id, ""),
                    image.studio_session_id,
                    image.id,
                    image.product_id,
                    image.scene_id,
                )
    products = select(Product.id, Product.client_id, Product.usage).where(
        Product.usage.is_not(None)
    )
    for pid, cid, usage in db.execute(touched(scoped(products, Product, client_id), Product)):
        for record in records_of(usage):
            if wanted(record):
                yield LedgerCall(record, cid, names.get(cid, ""), None, None, pid, None)
    sessions = select(StudioSession.id, StudioSession.client_id, StudioSession.scenes)
    sessions = touched(scoped(sessions, StudioSession, client_id), StudioSession)
    for sid, cid, scenes in db.execute(sessions):
        for scene in scenes or []:
            for record in records_of(scene.get("usage")):
                if wanted(record):
                    yield LedgerCall(
                        record, cid, names.get(cid, ""), sid, None, None, str(scene.get("id"))
                    )


def client_spend_since(db: Session, client_id: uuid.UUID, since: dt.datetime) -> float:
    """What the client's provider calls made at or after ``since`` cost (USD): every kind
    (images, judgements, batch lines, analyses), as :func:`calls` yields them."""
    return float(sum(call.record.cost_usd for call in calls(db, client_id=client_id, since=since)))


def approved_counts(
    db: Session, *, client_id: uuid.UUID | None, since: dt.datetime | None = None
) -> dict[tuple[uuid.UUID, uuid.UUID], int]:
    """Approved images per (client, session), completed ``since`` when given."""
    stmt = select(GeneratedImage.client_id, GeneratedImage.studio_session_id).where(
        GeneratedImage.review_state == "approved", GeneratedImage.status == ImageStatus.COMPLETED
    )
    if since is not None:
        stmt = stmt.where(GeneratedImage.completed_at >= since)
    rows = db.execute(scoped(stmt, GeneratedImage, client_id))
    return dict(Counter((cid, sid) for cid, sid in rows))


def recent_image_costs(
    db: Session, client_id: uuid.UUID, *, model: str | None, economy: bool, limit: int
) -> list[float]:
    """The recorded cost of the client's latest finished images with a ledger (``limit`` at
    most), of ``model`` when given, economy (batch) images or standard ones."""
    stmt = (
        select(GeneratedImage.model, GeneratedImage.usage, GeneratedImage.cost_usd)
        .where(
            GeneratedImage.client_id == client_id,
            GeneratedImage.status.in_((ImageStatus.COMPLETED, ImageStatus.ERROR)),
            GeneratedImage.cost_usd.is_not(None),
        )
        .order_by(GeneratedImage.completed_at.desc())
        .limit(limit * 4)
    )
    found: list[float] = []
    for row_model, usage, cost in db.execute(stmt):
        records = (usage or {}).get("calls")
        if not records or (model is not None and row_model != model):
            continue
        batch = any(item.get("kind") == "batch" for item in records if isinstance(item, dict))
        if batch == economy:
            found.append(float(cost))
        if len(found) >= limit:
            break
    return found


@dataclass(frozen=True)
class ImageSpend:
    """One finished image (completed or failed) and what its recorded calls cost."""

    model: str
    status: str
    review_state: str
    cost_usd: float


def image_spend(
    db: Session, *, client_id: uuid.UUID | None, since: dt.datetime | None = None
) -> Iterator[ImageSpend]:
    """Every finished image (of one client, or all), finished ``since`` when given, with the
    cost of all its recorded calls (every attempt, retry, refusal and judgement)."""
    finished_at = func.coalesce(GeneratedImage.completed_at, GeneratedImage.created_at)
    stmt = select(
        GeneratedImage.id,
        GeneratedImage.client_id,
        GeneratedImage.product_id,
        GeneratedImage.model,
        GeneratedImage.status,
        GeneratedImage.review_state,
        GeneratedImage.usage,
        GeneratedImage.cost_usd,
        GeneratedImage.created_at,
        GeneratedImage.completed_at,
    ).where(GeneratedImage.status.in_((ImageStatus.COMPLETED, ImageStatus.ERROR)))
    if since is not None:
        stmt = stmt.where(finished_at >= since)
    for row in db.execute(scoped(stmt, GeneratedImage, client_id).execution_options(yield_per=500)):
        records = records_of(row.usage) or _legacy_calls(row)
        yield ImageSpend(
            model=row.model or "unknown",
            status=row.status,
            review_state=row.review_state,
            cost_usd=sum(record.cost_usd for record in records),
        )
