"""Data access: every query of the project, and nothing else (no commits, no validation).

Functions take the SQLAlchemy session first. ``client_id=None`` means "every client" and is only
passed by services acting in the admin scope; services pass ``scope.client_filter()``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, case, func, select, update
from sqlalchemy.orm import Session

from visualizer_core.db.base import Base
from visualizer_core.db.models import (
    Client,
    Flow,
    GeneratedImage,
    Member,
    Product,
    ProductImage,
    StudioSession,
    User,
)

M = TypeVar("M", bound=Base)


def _scoped(stmt: Select[Any], model: Any, client_id: uuid.UUID | None) -> Select[Any]:
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
    stmt = _scoped(select(model).where(model.id == ident), model, client_id)  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update()
    return db.scalars(stmt).one_or_none()


# -- clients, users, members ---------------------------------------------------------------


def list_clients(db: Session, *, client_id: uuid.UUID | None) -> Sequence[Client]:
    stmt = select(Client).order_by(Client.created_at, Client.id)
    if client_id is not None:
        stmt = stmt.where(Client.id == client_id)
    return db.scalars(stmt).all()


def lock_client(db: Session, client_id: uuid.UUID) -> Client | None:
    """The client row, locked until the transaction ends (serialises quota checks)."""
    return db.scalars(select(Client).where(Client.id == client_id).with_for_update()).one_or_none()


def user_by_email(db: Session, email: str) -> User | None:
    return db.scalars(select(User).where(User.email == email)).one_or_none()


def membership(db: Session, user_id: uuid.UUID, client_id: uuid.UUID) -> Member | None:
    return db.scalars(
        select(Member).where(Member.user_id == user_id, Member.client_id == client_id)
    ).one_or_none()


def memberships(db: Session, user_id: uuid.UUID) -> Sequence[tuple[Member, Client]]:
    rows = db.execute(
        select(Member, Client)
        .join(Client, Client.id == Member.client_id)
        .where(Member.user_id == user_id)
        .order_by(Client.name)
    ).all()
    return [(m, c) for m, c in rows]


def members_of(db: Session, client_id: uuid.UUID) -> Sequence[tuple[Member, User]]:
    rows = db.execute(
        select(Member, User)
        .join(User, User.id == Member.user_id)
        .where(Member.client_id == client_id)
        .order_by(User.email)
    ).all()
    return [(m, u) for m, u in rows]


# -- products --------------------------------------------------------------------------------


def products_by_sku(db: Session, client_id: uuid.UUID, skus: Iterable[str]) -> dict[str, Product]:
    wanted = list(set(skus))
    found: dict[str, Product] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stmt = select(Product).where(Product.client_id == client_id, Product.sku.in_(chunk))
        found.update({p.sku: p for p in db.scalars(stmt)})
    return found


def list_products(
    db: Session,
    *,
    client_id: uuid.UUID | None,
    ids: Sequence[uuid.UUID] | None = None,
    search: str | None = None,
    category: str | None = None,
) -> Sequence[Product]:
    stmt = _scoped(select(Product), Product, client_id).order_by(Product.sku, Product.id)
    if ids is not None:
        stmt = stmt.where(Product.id.in_(list(ids)))
    if search:
        pattern = f"%{search.lower()}%"
        stmt = stmt.where(
            func.lower(Product.name).like(pattern) | func.lower(Product.sku).like(pattern)
        )
    if category:
        stmt = stmt.where(Product.category == category)
    return db.scalars(stmt).all()


def images_of(db: Session, product_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[ProductImage]]:
    """Each product's images, in display order."""
    found: dict[uuid.UUID, list[ProductImage]] = {pid: [] for pid in product_ids}
    ids = list(product_ids)
    for start in range(0, len(ids), 500):
        stmt = (
            select(ProductImage)
            .where(ProductImage.product_id.in_(ids[start : start + 500]))
            .order_by(ProductImage.product_id, ProductImage.position, ProductImage.created_at)
        )
        for image in db.scalars(stmt):
            found[image.product_id].append(image)
    return found


# -- sessions, flows, generated images ---------------------------------------------------------


def list_sessions(
    db: Session, *, client_id: uuid.UUID | None, include_archived: bool = False
) -> Sequence[StudioSession]:
    stmt = _scoped(select(StudioSession), StudioSession, client_id).order_by(
        StudioSession.created_at.desc(), StudioSession.id
    )
    if not include_archived:
        stmt = stmt.where(StudioSession.status == "active")
    return db.scalars(stmt).all()


def status_counts(
    db: Session,
    *,
    session_id: uuid.UUID | None = None,
    flow_ids: Sequence[uuid.UUID] | None = None,
) -> dict[str, int]:
    """Images per status, in one aggregate query."""
    stmt = select(
        func.count(),
        *(
            func.coalesce(func.sum(case((GeneratedImage.status == s, 1), else_=0)), 0)
            for s in ("pending", "generating", "completed", "error")
        ),
    )
    if session_id is not None:
        stmt = stmt.where(GeneratedImage.studio_session_id == session_id)
    if flow_ids is not None:
        stmt = stmt.where(GeneratedImage.flow_id.in_(list(flow_ids)))
    total, pending, generating, completed, error = db.execute(stmt).one()
    return {
        "total": int(total),
        "pending": int(pending),
        "generating": int(generating),
        "completed": int(completed),
        "error": int(error),
    }


def generated_since(db: Session, client_id: uuid.UUID, since: dt.datetime) -> int:
    """How many images the client asked for since ``since`` (quota accounting)."""
    stmt = select(func.count()).where(
        GeneratedImage.client_id == client_id, GeneratedImage.created_at >= since
    )
    return int(db.execute(stmt).scalar_one())


def flows_of(db: Session, session_id: uuid.UUID) -> Sequence[Flow]:
    return db.scalars(
        select(Flow).where(Flow.studio_session_id == session_id).order_by(Flow.created_at)
    ).all()


def images_where(db: Session, *conditions: Any, order: Any = None) -> Sequence[GeneratedImage]:
    stmt = select(GeneratedImage).where(*conditions)
    stmt = stmt.order_by(order if order is not None else GeneratedImage.created_at)
    return db.scalars(stmt).all()


def claim_image(db: Session, image_id: uuid.UUID, *, worker_id: str, now: dt.datetime) -> bool:
    """Pending to generating, once: a guarded update that only one worker can win."""
    result = db.execute(
        update(GeneratedImage)
        .where(GeneratedImage.id == image_id, GeneratedImage.status == "pending")
        .values(
            status="generating",
            worker_id=worker_id,
            claimed_at=now,
            heartbeat_at=now,
            started_at=now,
            attempts=GeneratedImage.attempts + 1,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def update_image(
    db: Session, image_id: uuid.UUID, *, expect_status: str | None, **values: Any
) -> bool:
    """Set columns of one image, only if it is still in ``expect_status``."""
    stmt = update(GeneratedImage).where(GeneratedImage.id == image_id)
    if expect_status is not None:
        stmt = stmt.where(GeneratedImage.status == expect_status)
    result = db.execute(stmt.values(**values).execution_options(synchronize_session=False))
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def update_images(db: Session, ids: Sequence[uuid.UUID], **values: Any) -> int:
    total = 0
    id_list = list(ids)
    for start in range(0, len(id_list), 500):
        result = db.execute(
            update(GeneratedImage)
            .where(GeneratedImage.id.in_(id_list[start : start + 500]))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        total += int(result.rowcount)  # type: ignore[attr-defined]
    return total


def open_image_ids(
    db: Session, *, status: str, older_than: dt.datetime | None = None
) -> list[uuid.UUID]:
    """Ids of images in ``status`` (generating ones whose heartbeat is older than given)."""
    stmt = select(GeneratedImage.id).where(GeneratedImage.status == status)
    if older_than is not None:
        stmt = stmt.where(
            (GeneratedImage.heartbeat_at.is_(None)) | (GeneratedImage.heartbeat_at < older_than)
        )
    return list(db.scalars(stmt.order_by(GeneratedImage.created_at)))


def touch_images(db: Session, ids: Sequence[uuid.UUID], *, now: dt.datetime) -> None:
    """Heartbeat: these generating rows are still being worked on."""
    db.execute(
        update(GeneratedImage)
        .where(GeneratedImage.id.in_(list(ids)), GeneratedImage.status == "generating")
        .values(heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )


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
    total = int(db.execute(select(func.count()).where(*conditions)).scalar_one())
    ordering: list[Any]
    if order == "fidelity":
        ordering = [GeneratedImage.fidelity_score.asc().nulls_last(), GeneratedImage.id]
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


def finish_flow(db: Session, flow_id: uuid.UUID, *, now: dt.datetime) -> bool:
    """Mark the flow finished if none of its images is open; only one caller can win."""
    still_open = (
        select(GeneratedImage.id)
        .where(
            GeneratedImage.flow_id == flow_id,
            GeneratedImage.status.in_(("pending", "generating")),
        )
        .exists()
    )
    result = db.execute(
        update(Flow)
        .where(Flow.id == flow_id, Flow.finished_at.is_(None), ~still_open)
        .values(finished_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]
