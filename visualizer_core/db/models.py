"""The eight tables of the seed, and nothing else.

What the product needs beyond the seed lives as columns or JSON on these tables: product
analysis on ``product``; inspiration scenes (with analysis and attribution) and the product to
scene matches on ``studio_session``; lineage, timings, cost and review state on
``generated_image``. Every tenant-owned row carries ``client_id``.

Images are stored by key (``*_key`` columns, built by :mod:`visualizer_core.storage.keys`);
display URLs are made on read because a presigned URL expires. The seed's ``image_url`` is kept
and holds the permanent public URL when the store has one (``R2_PUBLIC_URL``), else NULL.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from visualizer_core.db.base import Base, JSONType, TextArray, new_id, utcnow
from visualizer_core.schemas import ImageStatus, Match, Scene, SessionStatus, find_scene

__all__ = [
    "DECIDERS",
    "IMAGE_STATUSES",
    "PRODUCT_PIXELS",
    "REJECT_REASONS",
    "REVIEW_STATES",
    "ROLES",
    "Client",
    "Flow",
    "GeneratedImage",
    "Member",
    "Product",
    "ProductImage",
    "StudioSession",
    "User",
]

ROLES = ("owner", "editor", "viewer")
IMAGE_STATUSES = tuple(ImageStatus)
REVIEW_STATES = ("none", "approved", "rejected")
DECIDERS = ("person", "rule")
"""Who made an image's review decision: a person, or the auto-approve rule of the fidelity gate."""
REJECT_REASONS = ("product changed", "wrong room", "looks unreal")
"""The quick reasons review offers for a rejection (free text is kept too, up to 40 characters)."""
PRODUCT_PIXELS = ("generated", "composited")
"""Whose pixels show the product: the model's (``generated``) or the product photo's own,
composited back (``composited``: the IPTC ``compositeWithTrainedAlgorithmicMedia`` case)."""


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


def _owned_by(table: str, *, index: bool = True) -> Any:
    """A foreign key to ``table``: deleting that row deletes this one."""
    return mapped_column(ForeignKey(f"{table}.id", ondelete="CASCADE"), index=index)


def _refers_to(table: str) -> Any:
    """A foreign key to ``table`` that is cleared when that row is deleted."""
    return mapped_column(ForeignKey(f"{table}.id", ondelete="SET NULL"))


class _Timestamps:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Client(_Timestamps, Base):
    """A brand: the tenant."""

    __tablename__ = "client"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(40), default="free")
    daily_quota: Mapped[int] = mapped_column(Integer, default=100)
    webhook_url: Mapped[str | None] = mapped_column(Text)
    webhook_secret: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    __table_args__ = (CheckConstraint("daily_quota >= 0", name="daily_quota_not_negative"),)


class User(_Timestamps, Base):
    """A person who signs in; belongs to clients through ``member``."""

    __tablename__ = "user"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column()
    last_login_at: Mapped[dt.datetime | None] = mapped_column()
    active_client_id: Mapped[uuid.UUID | None] = _refers_to("client")
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Whether the person proved they control the address (mailed link, single sign-on, admin)."""
    reset_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    reset_expires_at: Mapped[dt.datetime | None] = mapped_column()


class Member(_Timestamps, Base):
    """A user's role in a client.

    An invitation is a member row that is not yet accepted: it holds the SHA-256 of the
    single-use invite token (never the token itself) and when it expires. Accepting clears
    both; only accepted rows (``invite_token_hash IS NULL``) grant access.
    """

    __tablename__ = "member"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = _owned_by("user")
    client_id: Mapped[uuid.UUID] = _owned_by("client")
    role: Mapped[str] = mapped_column(String(20))
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[dt.datetime | None] = mapped_column()
    invite_mailed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Whether the invitation link went by e-mail (so accepting it proves the address)."""
    invited_by: Mapped[uuid.UUID | None] = _refers_to("user")
    """The user who sent the invitation (shown to the person invited); None when unknown."""

    __table_args__ = (
        UniqueConstraint("user_id", "client_id"),
        CheckConstraint(_in("role", ROLES), name="role"),
    )


class Product(_Timestamps, Base):
    """A catalog product of a client; ``sku`` is unique within the client."""

    __tablename__ = "product"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = _owned_by("client")
    sku: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    colors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    materials: Mapped[list[str]] = mapped_column(JSONType, default=list)
    dimensions: Mapped[str | None] = mapped_column(Text)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    analyzed_at: Mapped[dt.datetime | None] = mapped_column()
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The spend ledger of its analysis calls: ``{"calls": [CallRecord...], "cost_usd"}``."""
    source_ids: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """Its identifiers in the catalog it came from (:class:`~visualizer_core.schemas.SourceIds`)."""
    photo_errors: Mapped[list[dict[str, str]] | None] = mapped_column(JSONType)
    """The photos of its last import that could not be stored: ``[{"url", "reason"}]``."""

    __table_args__ = (UniqueConstraint("client_id", "sku"),)


class ProductImage(_Timestamps, Base):
    """One photo of a product and its stored derivatives."""

    __tablename__ = "product_image"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = _owned_by("client")
    product_id: Mapped[uuid.UUID] = _owned_by("product")
    position: Mapped[int] = mapped_column(Integer, default=0)
    base_key: Mapped[str] = mapped_column(Text)
    preview_key: Mapped[str] = mapped_column(Text)
    thumbnail_key: Mapped[str] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    source_name: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    has_alpha: Mapped[bool] = mapped_column(Boolean, default=False)
    background_removed: Mapped[bool] = mapped_column(Boolean, default=False)


class StudioSession(_Timestamps, Base):
    """The client's "session" or "collection": scenes, matches and the flows made in it.

    ``scenes`` is a list of scene objects: ``{id, source, key, thumbnail_key, filename,
    room_type, analysis, attribution, created_at}``. ``matches`` maps a product id to
    ``{scene_id, score, reason, overridden}``.
    """

    __tablename__ = "studio_session"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = _owned_by("client")
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=SessionStatus.ACTIVE)
    scenes: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    matches: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    __table_args__ = (CheckConstraint(_in("status", tuple(SessionStatus)), name="status"),)

    def scene_list(self) -> list[Scene]:
        """The scenes, as models."""
        return [Scene.model_validate(scene) for scene in self.scenes or []]

    def find_scene(self, scene_id: object) -> Scene | None:
        """The scene with this id, or None."""
        return find_scene(self.scene_list(), scene_id)

    def set_scenes(self, scenes: Iterable[Scene]) -> None:
        """Replace the scenes (stored as JSON)."""
        self.scenes = [scene.model_dump(mode="json") for scene in scenes]

    def match_map(self) -> dict[str, Match]:
        """The matches by product id, as models."""
        return {pid: Match.model_validate(m) for pid, m in (self.matches or {}).items()}

    def set_matches(self, matches: Mapping[str, Match]) -> None:
        """Replace the matches (stored as JSON)."""
        self.matches = {pid: m.model_dump(mode="json") for pid, m in matches.items()}


class Flow(_Timestamps, Base):
    """One generation configuration over many products; its images are the units of work."""

    __tablename__ = "flow"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = _owned_by("client")
    studio_session_id: Mapped[uuid.UUID] = _owned_by("studio_session")
    name: Mapped[str | None] = mapped_column(Text)
    product_ids: Mapped[list[str]] = mapped_column(TextArray, default=list)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    parent_flow_id: Mapped[uuid.UUID | None] = _refers_to("flow")
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    webhook: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class GeneratedImage(_Timestamps, Base):
    """One output image and the unit of work of the queue."""

    __tablename__ = "generated_image"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    client_id: Mapped[uuid.UUID] = _owned_by("client", index=False)
    flow_id: Mapped[uuid.UUID] = _owned_by("flow", index=False)
    studio_session_id: Mapped[uuid.UUID] = _owned_by("studio_session", index=False)
    product_id: Mapped[uuid.UUID] = _owned_by("product")
    product_image_id: Mapped[uuid.UUID | None] = _refers_to("product_image")
    scene_id: Mapped[str | None] = mapped_column(String(64))
    variant: Mapped[int] = mapped_column(Integer, default=0)

    status: Mapped[str] = mapped_column(String(20), default=ImageStatus.PENDING)
    image_key: Mapped[str | None] = mapped_column(Text)
    thumbnail_key: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    error_message: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(200))

    prompt: Mapped[str | None] = mapped_column(Text)
    prompt_version: Mapped[str | None] = mapped_column(String(40))
    model: Mapped[str | None] = mapped_column(String(200))
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    aspect_ratio: Mapped[str] = mapped_column(String(10), default="1:1")
    usage: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    """The spend ledger of every provider call made for this image: each attempt (refused,
    retried and failed ones too), its fidelity judgement, its batch line, as
    ``{"calls": [CallRecord...], "cost_usd", "tokens"}`` (see :mod:`visualizer_core.ai.usage`)."""
    cost_usd: Mapped[float | None] = mapped_column(Float)
    """The sum of ``usage["calls"]``' costs."""

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[dt.datetime | None] = mapped_column()
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column()
    started_at: Mapped[dt.datetime | None] = mapped_column()
    completed_at: Mapped[dt.datetime | None] = mapped_column()
    timings: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    review_state: Mapped[str] = mapped_column(String(20), default="none")
    favourite: Mapped[bool] = mapped_column(Boolean, default=False)
    fidelity_score: Mapped[float | None] = mapped_column(Float)
    """The fidelity gate's calibrated score, 0..1 (or, where nothing could be measured, the
    provider's judgement)."""
    fidelity: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    """The measurement behind the score: ``signals``, ``found``, ``outline``, ``method``,
    ``reasons``, ``location_confidence``, ``light``, the ``threshold`` it was scored against
    and, when one was asked, the provider's ``judgement`` (``{"score", "reason"}``)."""
    decided_by: Mapped[str | None] = mapped_column(String(10))
    """Who decided ``review_state``: ``person`` or ``rule`` (approved by the gate's rule)."""
    rule_batch: Mapped[str | None] = mapped_column(String(64))
    """Which run of the approval rule approved it (undone together)."""
    spot_check: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Approved by rule and drawn for a person's spot check in review."""
    reject_reason: Mapped[str | None] = mapped_column(String(40))
    """Why a person rejected it (one of :data:`REJECT_REASONS`, or their own words)."""
    product_pixels: Mapped[str] = mapped_column(
        String(20), default="generated", server_default="generated"
    )
    """Whose pixels show the product: ``generated`` or ``composited`` (:data:`PRODUCT_PIXELS`)."""
    product_pixels_note: Mapped[str | None] = mapped_column(Text)
    """What pixel-exact mode did, in words: applied, or why not ("something covers ...")."""
    rerun_of_id: Mapped[uuid.UUID | None] = _refers_to("generated_image")

    __table_args__ = (
        CheckConstraint(_in("status", IMAGE_STATUSES), name="status"),
        CheckConstraint(_in("review_state", REVIEW_STATES), name="review_state"),
        CheckConstraint(_in("product_pixels", PRODUCT_PIXELS), name="product_pixels"),
        CheckConstraint(f"decided_by IS NULL OR {_in('decided_by', DECIDERS)}", name="decided_by"),
        Index("ix_generated_image_session_status", "studio_session_id", "status"),
        Index("ix_generated_image_flow_status", "flow_id", "status"),
        Index("ix_generated_image_client_created", "client_id", "created_at"),
        Index(
            "ix_generated_image_open",
            "status",
            "heartbeat_at",
            postgresql_where=text("status IN ('pending', 'generating')"),
            sqlite_where=text("status IN ('pending', 'generating')"),
        ),
    )
