"""The notebook API's tables across clients (:mod:`visualizer_core.admin`): one query each,
read as column names and rows, ready for a DataFrame."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, TypeDecorator, func, select, type_coerce
from sqlalchemy.orm import Session

from visualizer_core.db.models import (
    Client,
    Flow,
    GeneratedImage,
    Product,
    ProductImage,
    StudioSession,
)
from visualizer_core.db.repo._common import count_where, scoped
from visualizer_core.schemas import ImageStatus

Rows = tuple[list[str], list[tuple[Any, ...]]]
"""Column names and the rows of a read-only table query."""


_AnySelect = Select[*tuple[Any, ...]]


class _IdText(TypeDecorator[str]):
    """A uuid column read as its text, without making a ``uuid.UUID`` per cell (big tables)."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, str) and len(value) == 32:  # SQLite keeps the 32 hex digits
            return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
        return str(value)


def _id_text(column: Any, label: str) -> Any:
    return type_coerce(column, _IdText()).label(label)


def _table(db: Session, stmt: _AnySelect) -> Rows:
    result = db.execute(stmt)
    columns = list(result.keys())
    return columns, [tuple(row) for row in result.all()]


_STATUS_COLUMNS = (
    (ImageStatus.PENDING, "pending"),
    (ImageStatus.GENERATING, "generating"),
    (ImageStatus.COMPLETED, "completed"),
    (ImageStatus.ERROR, "errors"),
)


def _status_sums() -> list[Any]:
    """Generated images counted by status, and when the last one was asked for."""
    return [
        func.count().label("images"),
        *(count_where(GeneratedImage.status == status).label(n) for status, n in _STATUS_COLUMNS),
        func.max(GeneratedImage.created_at).label("last_generated_at"),
    ]


def _per(key: Any, client_id: uuid.UUID | None, *columns: Any) -> Any:
    """A subquery of ``columns`` grouped by ``key`` (a column of the model counted), limited to
    the client's rows."""
    return scoped(select(key, *columns).group_by(key), key.class_, client_id).subquery()


def _counts(made: Any, *names: str) -> list[Any]:
    """The subquery's counts, 0 where a row has none."""
    return [func.coalesce(made.c[name], 0).label(name) for name in names]


def generation_table(
    db: Session,
    *,
    client_id: uuid.UUID | None,
    since: dt.datetime | None = None,
    flow_ids: Sequence[uuid.UUID] | None = None,
) -> Rows:
    """One row per generated image with its client, session, flow and product: one query."""
    stmt: _AnySelect = (
        select(
            _id_text(GeneratedImage.id, "id"),
            _id_text(GeneratedImage.client_id, "client_id"),
            Client.name.label("client_name"),
            _id_text(GeneratedImage.studio_session_id, "session_id"),
            StudioSession.name.label("session_name"),
            _id_text(GeneratedImage.flow_id, "flow_id"),
            Flow.name.label("flow_name"),
            _id_text(Flow.parent_flow_id, "parent_flow_id"),
            _id_text(GeneratedImage.rerun_of_id, "rerun_of_id"),
            _id_text(GeneratedImage.product_id, "product_id"),
            Product.sku.label("sku"),
            Product.name.label("product_name"),
            func.coalesce(Product.category, Product.analysis["category"].as_string()).label(
                "category"
            ),
            GeneratedImage.scene_id.label("scene_id"),
            GeneratedImage.variant.label("variant"),
            GeneratedImage.status.label("status"),
            GeneratedImage.error_message.label("error_message"),
            GeneratedImage.created_at.label("created_at"),
            GeneratedImage.started_at.label("started_at"),
            GeneratedImage.completed_at.label("completed_at"),
            GeneratedImage.attempts.label("attempts"),
            GeneratedImage.model.label("model"),
            GeneratedImage.prompt_version.label("prompt_version"),
            Flow.settings["prompt"].as_string().label("flow_prompt"),
            Flow.settings["economy"].as_boolean().label("economy"),
            GeneratedImage.aspect_ratio.label("aspect_ratio"),
            GeneratedImage.cost_usd.label("cost_usd"),
            GeneratedImage.fidelity_score.label("fidelity_score"),
            GeneratedImage.review_state.label("review_state"),
            GeneratedImage.favourite.label("favourite"),
        )
        .join(Client, Client.id == GeneratedImage.client_id)
        .join(StudioSession, StudioSession.id == GeneratedImage.studio_session_id)
        .join(Flow, Flow.id == GeneratedImage.flow_id)
        .join(Product, Product.id == GeneratedImage.product_id)
        .order_by(
            GeneratedImage.created_at,
            GeneratedImage.flow_id,
            GeneratedImage.product_id,
            GeneratedImage.variant,
        )
    )
    stmt = scoped(stmt, GeneratedImage, client_id)
    if since is not None:
        stmt = stmt.where(GeneratedImage.created_at >= since)
    if flow_ids is not None:
        stmt = stmt.where(GeneratedImage.flow_id.in_(list(flow_ids)))
    return _table(db, stmt)


def product_table(db: Session, *, client_id: uuid.UUID | None) -> Rows:
    """One row per product with its client, photo count and generation counts: one query."""
    photos = _per(ProductImage.product_id, client_id, func.count().label("photos"))
    made = _per(GeneratedImage.product_id, client_id, *_status_sums())
    stmt = (
        select(
            Product.id.label("id"),
            Product.client_id.label("client_id"),
            Client.name.label("client_name"),
            Product.sku.label("sku"),
            Product.name.label("name"),
            Product.category.label("category"),
            Product.description.label("description"),
            Product.colors.label("colors"),
            Product.materials.label("materials"),
            Product.dimensions.label("dimensions"),
            Product.analysis.label("analysis"),
            Product.analyzed_at.label("analyzed_at"),
            Product.created_at.label("created_at"),
            *_counts(photos, "photos"),
            *_counts(made, "images", "completed", "errors"),
            made.c.last_generated_at.label("last_generated_at"),
        )
        .join(Client, Client.id == Product.client_id)
        .outerjoin(photos, photos.c.product_id == Product.id)
        .outerjoin(made, made.c.product_id == Product.id)
        .order_by(Client.name, Product.client_id, Product.sku)
    )
    return _table(db, scoped(stmt, Product, client_id))


def session_table(db: Session, *, client_id: uuid.UUID | None) -> Rows:
    """One row per studio session (archived too) with flow and image counts: one query."""
    flows = _per(Flow.studio_session_id, client_id, func.count().label("flows"))
    made = _per(GeneratedImage.studio_session_id, client_id, *_status_sums())
    stmt = (
        select(
            StudioSession.id.label("id"),
            StudioSession.client_id.label("client_id"),
            Client.name.label("client_name"),
            StudioSession.name.label("name"),
            StudioSession.status.label("status"),
            StudioSession.scenes.label("scenes"),
            StudioSession.matches.label("matches"),
            StudioSession.created_at.label("created_at"),
            *_counts(flows, "flows"),
            *_counts(made, "images", "pending", "generating", "completed", "errors"),
            made.c.last_generated_at.label("last_generated_at"),
        )
        .join(Client, Client.id == StudioSession.client_id)
        .outerjoin(flows, flows.c.studio_session_id == StudioSession.id)
        .outerjoin(made, made.c.studio_session_id == StudioSession.id)
        .order_by(StudioSession.created_at.desc(), StudioSession.id)
    )
    return _table(db, scoped(stmt, StudioSession, client_id))


def client_table(db: Session) -> Rows:
    """One row per client with its products, sessions, images and spend: one query."""
    p = _per(Product.client_id, None, func.count().label("products"))
    s = _per(StudioSession.client_id, None, func.count().label("sessions"))
    m = _per(
        GeneratedImage.client_id,
        None,
        *_status_sums(),
        func.sum(GeneratedImage.cost_usd).label("cost_usd"),
    )
    stmt = (
        select(
            Client.id.label("id"),
            Client.name.label("name"),
            Client.plan.label("plan"),
            Client.daily_quota.label("daily_quota"),
            Client.created_at.label("created_at"),
            *_counts(p, "products"),
            *_counts(s, "sessions"),
            *_counts(m, "images", "completed", "errors"),
            func.coalesce(m.c.cost_usd, 0.0).label("cost_usd"),
            m.c.last_generated_at.label("last_generated_at"),
        )
        .outerjoin(p, p.c.client_id == Client.id)
        .outerjoin(s, s.c.client_id == Client.id)
        .outerjoin(m, m.c.client_id == Client.id)
        .order_by(Client.name, Client.id)
    )
    return _table(db, stmt)
