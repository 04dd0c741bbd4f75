"""Data access: every query of the project, and nothing else (no commits, no validation).

Functions take the SQLAlchemy session first. ``client_id=None`` means "every client" and is only
passed by services acting in the admin scope; services pass ``scope.client_filter()``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import (
    Select,
    String,
    TypeDecorator,
    and_,
    case,
    func,
    select,
    type_coerce,
    update,
)
from sqlalchemy.orm import Session, aliased

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
from visualizer_core.schemas import OPEN_STATUSES, ImageStatus, SessionStatus

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


def take_sign_in_attempt(
    db: Session, user_id: uuid.UUID, *, now: dt.datetime, max_attempts: int, lock_until: dt.datetime
) -> bool:
    """Count one sign-in attempt in one atomic UPDATE; whether this attempt may be checked.

    ``failed_logins`` counts attempts since the last success. The attempt that reaches
    ``max_attempts`` locks the account until ``lock_until``; attempts beyond it are refused
    until then, and the first attempt after the lock ran out counts from 1 again. Because the
    database increments the column itself (``failed_logins = failed_logins + 1 ... RETURNING``),
    concurrent attempts cannot read the same count: no more than ``max_attempts`` passwords
    are ever checked per lock period, however many arrive at once.
    """
    expired = and_(User.locked_until.is_not(None), User.locked_until <= now)
    counted = case((expired, 1), else_=User.failed_logins + 1)
    stmt = (
        update(User)
        .where(User.id == user_id)
        .values(
            failed_logins=counted,
            locked_until=case(
                (expired, case((counted >= max_attempts, lock_until), else_=None)),
                (and_(User.locked_until.is_(None), counted >= max_attempts), lock_until),
                else_=User.locked_until,
            ),
        )
        .returning(User.failed_logins)
        .execution_options(synchronize_session=False)
    )
    count = db.execute(stmt).scalar_one_or_none()
    return count is not None and count <= max_attempts


def user_by_reset_token(db: Session, token_hash: str) -> User | None:
    """The user whose open password reset has this token hash, locked until the end."""
    stmt = select(User).where(User.reset_token_hash == token_hash).with_for_update()
    return db.scalars(stmt).one_or_none()


def membership(
    db: Session, user_id: uuid.UUID, client_id: uuid.UUID, *, lock: bool = False
) -> Member | None:
    """The user's member row in the client, accepted or still an invitation."""
    stmt = select(Member).where(Member.user_id == user_id, Member.client_id == client_id)
    if lock:
        stmt = stmt.with_for_update()
    return db.scalars(stmt).one_or_none()


def memberships(db: Session, user_id: uuid.UUID) -> Sequence[tuple[Member, Client]]:
    """The user's accepted memberships (invitations not yet accepted grant nothing)."""
    rows = db.execute(
        select(Member, Client)
        .join(Client, Client.id == Member.client_id)
        .where(Member.user_id == user_id, Member.invite_token_hash.is_(None))
        .order_by(Client.name, Client.id)
    ).all()
    return [(m, c) for m, c in rows]


def member_by_invite(db: Session, token_hash: str) -> Member | None:
    """The invitation whose token has this hash, locked until the transaction ends."""
    stmt = select(Member).where(Member.invite_token_hash == token_hash).with_for_update()
    return db.scalars(stmt).one_or_none()


def invitations_of(db: Session, user_id: uuid.UUID) -> Sequence[Member]:
    """The user's invitations not yet accepted (expired ones included)."""
    stmt = select(Member).where(Member.user_id == user_id, Member.invite_token_hash.is_not(None))
    return db.scalars(stmt).all()


def count_owners(db: Session, client_id: uuid.UUID) -> int:
    """Accepted owners of the client."""
    stmt = select(func.count()).where(
        Member.client_id == client_id,
        Member.role == "owner",
        Member.invite_token_hash.is_(None),
    )
    return int(db.execute(stmt).scalar_one())


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
        stmt = stmt.where(StudioSession.status == SessionStatus.ACTIVE)
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
            func.coalesce(
                func.sum(case((GeneratedImage.status == ImageStatus.COMPLETED, 1), else_=0)), 0
            ),
            func.coalesce(
                func.sum(case((GeneratedImage.status == ImageStatus.ERROR, 1), else_=0)), 0
            ),
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


def flows_of(db: Session, session_id: uuid.UUID) -> Sequence[Flow]:
    return db.scalars(
        select(Flow).where(Flow.studio_session_id == session_id).order_by(Flow.created_at)
    ).all()


def images_where(db: Session, *conditions: Any, order: Any = None) -> Sequence[GeneratedImage]:
    stmt = select(GeneratedImage).where(*conditions)
    stmt = stmt.order_by(order if order is not None else GeneratedImage.created_at)
    return db.scalars(stmt).all()


def open_counts_by_model(db: Session, *, session_id: uuid.UUID | None = None) -> dict[str, int]:
    """Pending and generating images per model (of one session, or all), in one query."""
    stmt = select(GeneratedImage.model, func.count()).where(
        GeneratedImage.status.in_(("pending", "generating"))
    )
    if session_id is not None:
        stmt = stmt.where(GeneratedImage.studio_session_id == session_id)
    rows = db.execute(stmt.group_by(GeneratedImage.model)).all()
    return {str(model): int(count) for model, count in rows if model}


def claim_image(db: Session, image_id: uuid.UUID, *, worker_id: str, now: dt.datetime) -> bool:
    """Pending to generating, once: a guarded update that only one worker can win."""
    result = db.execute(
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
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


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


def image_ids_of_flow(db: Session, flow_id: uuid.UUID, *, status: str) -> list[uuid.UUID]:
    """Ids of the flow's images in ``status``."""
    stmt = select(GeneratedImage.id).where(
        GeneratedImage.flow_id == flow_id, GeneratedImage.status == status
    )
    return list(db.scalars(stmt.order_by(GeneratedImage.created_at)))


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


def reset_orphaned_images(
    db: Session, *, older_than: dt.datetime, now: dt.datetime
) -> list[uuid.UUID]:
    """Generating rows whose heartbeat stopped before ``older_than`` go back to pending.

    The update re-checks the status and the heartbeat, so a row that a live worker finished
    or beat on after it was selected is left as it is. Returns the ids that were reset.
    """
    orphaned = (GeneratedImage.heartbeat_at.is_(None)) | (GeneratedImage.heartbeat_at < older_than)
    # Rows of a batch job (economy mode) are the economy poll's: made again here, they would
    # be paid a second time at the standard price.
    not_batch = GeneratedImage.job_id.is_(None) | GeneratedImage.job_id.not_like("gemini-batch:%")
    candidates = open_image_ids(db, status=ImageStatus.GENERATING, older_than=older_than)
    reset: list[uuid.UUID] = []
    for start in range(0, len(candidates), 500):
        result = db.execute(
            update(GeneratedImage)
            .where(
                GeneratedImage.id.in_(candidates[start : start + 500]),
                GeneratedImage.status == ImageStatus.GENERATING,
                orphaned,
                not_batch,
            )
            .values(status=ImageStatus.PENDING, worker_id=None, updated_at=now)
            .returning(GeneratedImage.id)
            .execution_options(synchronize_session=False)
        )
        reset.extend(result.scalars())
    return reset


def recent_timings(db: Session, client_id: uuid.UUID, *, limit: int) -> list[dict[str, Any]]:
    """The timings of the client's latest completed images, newest first."""
    return list(
        db.scalars(
            select(GeneratedImage.timings)
            .where(
                GeneratedImage.client_id == client_id,
                GeneratedImage.status == ImageStatus.COMPLETED,
            )
            .order_by(GeneratedImage.completed_at.desc())
            .limit(limit)
        )
    )


def touch_images(db: Session, ids: Sequence[uuid.UUID], *, now: dt.datetime) -> None:
    """Heartbeat: these generating rows are still being worked on."""
    db.execute(
        update(GeneratedImage)
        .where(GeneratedImage.id.in_(list(ids)), GeneratedImage.status == ImageStatus.GENERATING)
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
        unchecked = (GeneratedImage.status == "completed") & GeneratedImage.fidelity_score.is_(None)
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


def finish_flow(db: Session, flow_id: uuid.UUID, *, now: dt.datetime) -> bool:
    """Mark the flow finished if none of its images is open; only one caller can win."""
    still_open = (
        select(GeneratedImage.id)
        .where(
            GeneratedImage.flow_id == flow_id,
            GeneratedImage.status.in_(OPEN_STATUSES),
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


# -- the notebook API: tables across clients (visualizer_core.admin) --------------------------

Rows = tuple[list[str], list[tuple[Any, ...]]]
"""Column names and the rows of a read-only table query."""

_AnySelect = Select[*tuple[Any, ...]]


def _of_client(stmt: _AnySelect, model: Any, client_id: uuid.UUID | None) -> _AnySelect:
    return stmt if client_id is None else stmt.where(model.client_id == client_id)


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


def _status_sums(model: Any) -> list[Any]:
    return [
        func.count().label("images"),
        *(
            func.coalesce(func.sum(case((model.status == s, 1), else_=0)), 0).label(label)
            for s, label in (
                ("pending", "pending"),
                ("generating", "generating"),
                ("completed", "completed"),
                ("error", "errors"),
            )
        ),
        func.max(model.created_at).label("last_generated_at"),
    ]


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
    stmt = _of_client(stmt, GeneratedImage, client_id)
    if since is not None:
        stmt = stmt.where(GeneratedImage.created_at >= since)
    if flow_ids is not None:
        stmt = stmt.where(GeneratedImage.flow_id.in_(list(flow_ids)))
    return _table(db, stmt)


def product_table(db: Session, *, client_id: uuid.UUID | None) -> Rows:
    """One row per product with its client, photo count and generation counts: one query."""
    photos = _of_client(
        select(ProductImage.product_id, func.count().label("photos")).group_by(
            ProductImage.product_id
        ),
        ProductImage,
        client_id,
    ).subquery()
    made = _of_client(
        select(GeneratedImage.product_id, *_status_sums(GeneratedImage)).group_by(
            GeneratedImage.product_id
        ),
        GeneratedImage,
        client_id,
    ).subquery()
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
            func.coalesce(photos.c.photos, 0).label("photos"),
            func.coalesce(made.c.images, 0).label("images"),
            func.coalesce(made.c.completed, 0).label("completed"),
            func.coalesce(made.c.errors, 0).label("errors"),
            made.c.last_generated_at.label("last_generated_at"),
        )
        .join(Client, Client.id == Product.client_id)
        .outerjoin(photos, photos.c.product_id == Product.id)
        .outerjoin(made, made.c.product_id == Product.id)
        .order_by(Client.name, Product.client_id, Product.sku)
    )
    return _table(db, _of_client(stmt, Product, client_id))


def session_table(db: Session, *, client_id: uuid.UUID | None) -> Rows:
    """One row per studio session (archived too) with flow and image counts: one query."""
    flows = _of_client(
        select(Flow.studio_session_id, func.count().label("flows")).group_by(
            Flow.studio_session_id
        ),
        Flow,
        client_id,
    ).subquery()
    made = _of_client(
        select(GeneratedImage.studio_session_id, *_status_sums(GeneratedImage)).group_by(
            GeneratedImage.studio_session_id
        ),
        GeneratedImage,
        client_id,
    ).subquery()
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
            func.coalesce(flows.c.flows, 0).label("flows"),
            func.coalesce(made.c.images, 0).label("images"),
            func.coalesce(made.c.pending, 0).label("pending"),
            func.coalesce(made.c.generating, 0).label("generating"),
            func.coalesce(made.c.completed, 0).label("completed"),
            func.coalesce(made.c.errors, 0).label("errors"),
            made.c.last_generated_at.label("last_generated_at"),
        )
        .join(Client, Client.id == StudioSession.client_id)
        .outerjoin(flows, flows.c.studio_session_id == StudioSession.id)
        .outerjoin(made, made.c.studio_session_id == StudioSession.id)
        .order_by(StudioSession.created_at.desc(), StudioSession.id)
    )
    return _table(db, _of_client(stmt, StudioSession, client_id))


def client_table(db: Session) -> Rows:
    """One row per client with its products, sessions, images and spend: one query."""
    products = select(Product.client_id, func.count().label("products")).group_by(Product.client_id)
    sessions = select(StudioSession.client_id, func.count().label("sessions")).group_by(
        StudioSession.client_id
    )
    made = select(
        GeneratedImage.client_id,
        *_status_sums(GeneratedImage),
        func.sum(GeneratedImage.cost_usd).label("cost_usd"),
    ).group_by(GeneratedImage.client_id)
    p, s, m = products.subquery(), sessions.subquery(), made.subquery()
    stmt = (
        select(
            Client.id.label("id"),
            Client.name.label("name"),
            Client.plan.label("plan"),
            Client.daily_quota.label("daily_quota"),
            Client.created_at.label("created_at"),
            func.coalesce(p.c.products, 0).label("products"),
            func.coalesce(s.c.sessions, 0).label("sessions"),
            func.coalesce(m.c.images, 0).label("images"),
            func.coalesce(m.c.completed, 0).label("completed"),
            func.coalesce(m.c.errors, 0).label("errors"),
            func.coalesce(m.c.cost_usd, 0.0).label("cost_usd"),
            m.c.last_generated_at.label("last_generated_at"),
        )
        .outerjoin(p, p.c.client_id == Client.id)
        .outerjoin(s, s.c.client_id == Client.id)
        .outerjoin(m, m.c.client_id == Client.id)
        .order_by(Client.name, Client.id)
    )
    return _table(db, stmt)


def rerun_sources(db: Session, image_ids: Sequence[uuid.UUID]) -> list[tuple[Any, ...]]:
    """What re-running images needs to know of each: its session, flow, product and scene.

    Rows of ``(id, client_id, client_name, session_id, session_status, flow_id, flow_name,
    flow_settings, product_id, scene_id, status)``, one query per 500 ids.
    """
    ids = list(image_ids)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), 500):
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
            .where(GeneratedImage.id.in_(ids[start : start + 500]))
        )
        found.extend(tuple(row) for row in db.execute(stmt).all())
    return found


def sessions_by_id(db: Session, session_ids: Sequence[uuid.UUID]) -> Sequence[StudioSession]:
    """These sessions (any client), archived ones too."""
    return db.scalars(select(StudioSession).where(StudioSession.id.in_(list(session_ids)))).all()


# -- review ------------------------------------------------------------------------------------


def review_rows(db: Session, *, session_id: uuid.UUID) -> list[Any]:
    """Every image of a session with what review needs, in one query.

    Each row has the image's columns, its product's ``sku`` and ``product_name``, the
    ``product_preview_key`` and ``product_thumbnail_key`` of the photo it was made from, and
    ``earlier_status``: the status of the image it re-made (None when it is not a re-run).
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
            ProductImage.thumbnail_key.label("product_thumbnail_key"),
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
