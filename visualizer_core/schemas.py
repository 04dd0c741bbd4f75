"""Pydantic schemas for what crosses a boundary: analyses, scenes, matches, flow settings,
service inputs, and the statuses of images, flows and sessions."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ASPECT_RATIOS",
    "OPEN_STATUSES",
    "FlowSettings",
    "FlowStatus",
    "ImageStatus",
    "Match",
    "PhotoState",
    "ProductAnalysis",
    "ProductAnswer",
    "ProductCreate",
    "Scene",
    "SceneAnalysis",
    "SessionStatus",
    "SourceIds",
    "find_scene",
]


class ImageStatus(StrEnum):
    """A generated image's ``status`` (the values stored in the database)."""

    PENDING = "pending"
    GENERATING = "generating"
    COMPLETED = "completed"
    ERROR = "error"


OPEN_STATUSES = (ImageStatus.PENDING, ImageStatus.GENERATING)
"""An image in one of these is still to be made (or being made)."""


class FlowStatus(StrEnum):
    """A flow as a whole: queued while any of its images is open, finished once none is."""

    QUEUED = "queued"
    FINISHED = "finished"


class SessionStatus(StrEnum):
    """A studio session's ``status``: archived sessions are kept but not generated from."""

    ACTIVE = "active"
    ARCHIVED = "archived"


ASPECT_RATIOS = ("1:1", "3:2", "2:3", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")

Placement = Literal["floor", "surface", "wall", "ceiling"]


class ProductAnswer(BaseModel):
    """What an AI model is asked to say about a product: the JSON schema of its answer.

    Kept to what the model decides; the taxonomy path and the confidence follow from the id.
    """

    model_config = ConfigDict(extra="ignore")

    category: str = Field(description="short kind from the taxonomy, e.g. 'sofa', 'range_hood'")
    taxonomy_id: int | None = Field(
        default=None, description="Google product taxonomy id, e.g. 460; None when nothing fits"
    )
    room_types: list[str] = Field(
        description="room types it belongs in, best first; empty when it needs a room"
    )
    style: list[str] = Field(default_factory=list, description="style words, e.g. 'modern'")
    materials: list[str] = Field(default_factory=list)
    colors: list[str] = Field(default_factory=list, description="colour names, dominant first")
    palette: list[str] = Field(default_factory=list, description="dominant colours as #rrggbb")
    placement: Placement = "floor"
    size_class: Literal["small", "medium", "large"] = "medium"
    summary: str = ""


class ProductAnalysis(ProductAnswer):
    """What the AI concluded about a product; stored as JSON on ``product.analysis``."""

    taxonomy_path: str | None = Field(
        default=None, description="Google product taxonomy path, e.g. 'Furniture > Sofas'"
    )
    confidence: float = Field(
        default=1.0, ge=0.0, le=1.0, description="how sure the category is, 0..1"
    )


class SceneAnalysis(BaseModel):
    """What the AI concluded about an inspiration scene; stored with the scene."""

    model_config = ConfigDict(extra="ignore")

    room_type: str = Field(description="room type from the taxonomy")
    style: list[str] = Field(default_factory=list)
    lighting: str = Field(default="", description="e.g. 'bright daylight', 'warm evening'")
    palette: list[str] = Field(default_factory=list, description="dominant colours as #rrggbb")
    brightness: float = Field(default=0.5, ge=0.0, le=1.0)
    warmth: float = Field(default=0.0, ge=-1.0, le=1.0, description="-1 cool .. +1 warm")
    orientation: Literal["landscape", "portrait", "square"] = "landscape"
    camera_angle: str = Field(default="eye level")
    floor_line: float = Field(
        default=0.75, ge=0.0, le=1.0, description="height fraction where the floor meets the wall"
    )
    summary: str = ""


class FlowSettings(BaseModel):
    """The FlowGenerationSettings of the seed: how a flow's images are made."""

    model_config = ConfigDict(extra="forbid")

    aspect_ratio: str = "1:1"
    variants: int = Field(default=1, ge=1, le=8)
    prompt: str = Field(default="", max_length=2000, description="extra prompt text")
    model: str | None = None
    economy: bool = Field(default=False, description="use the provider's batch mode")
    keep_product_pixels: bool | None = Field(
        default=None,
        description="pixel-exact mode: the product photo's own pixels composited back where the"
        " product was found; None follows the client's setting",
    )
    image_size: Literal["1K", "2K", "4K"] | None = Field(
        default=None,
        description="output size; None: the model's default (1K). Only the sizes the model"
        " draws are taken (services.models.image_sizes); larger sizes cost more image tokens",
    )

    @field_validator("aspect_ratio")
    @classmethod
    def _known_ratio(cls, value: str) -> str:
        if value not in ASPECT_RATIOS:
            raise ValueError(f"aspect ratio must be one of {', '.join(ASPECT_RATIOS)}")
        return value


class PhotoState(StrEnum):
    """Whether a product has a stored photo to picture: ``missing`` when none could be stored
    (every named photo failed, or the catalog names none); generation skips it."""

    OK = "ok"
    MISSING = "missing"


class SourceIds(BaseModel):
    """A product's own identifiers in the catalog it came from, kept so that a feed sent back
    to that store (a Merchant supplemental feed, a Shopify image CSV) names it as the store
    does. Stored as JSON on ``product.source_ids``; only the keys of its format are set.
    """

    model_config = ConfigDict(extra="forbid")

    format: Literal["visualizer", "shopify", "merchant", "woocommerce"] = Field(
        description="the catalog format the product was read from"
    )
    sku: str | None = Field(
        default=None, description="our CSV's sku; WooCommerce's SKU of the product when it has one"
    )
    handle: str | None = Field(default=None, description="Shopify's Handle")
    variant_skus: list[str] = Field(
        default_factory=list,
        description="Shopify's Variant SKU of each variant; WooCommerce's SKUs of its variations",
    )
    ids: list[str] = Field(
        default_factory=list,
        description="Merchant Center item ids (every item of the group, in file order); "
        "WooCommerce IDs (the product's, then its variations')",
    )
    item_group_id: str | None = Field(default=None, description="Merchant Center item_group_id")
    variants: list[dict[str, str]] = Field(
        default_factory=list,
        description="Merchant Center: each item of the group, {id, color, size, pattern, "
        "material} as the feed gives them",
    )


class ProductCreate(BaseModel):
    """One catalog row, as the CSV or a DataFrame gives it."""

    model_config = ConfigDict(str_strip_whitespace=False)

    sku: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=500)
    category: str | None = None
    description: str | None = None
    colors: list[str] = Field(default_factory=list)
    materials: list[str] = Field(default_factory=list)
    dimensions: str | None = None
    images: list[str] = Field(default_factory=list, description="photo paths or names")
    source_ids: SourceIds | None = Field(
        default=None, description="its identifiers in the catalog it came from"
    )

    @field_validator("sku", "name")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class Scene(BaseModel):
    """An inspiration scene of a session; stored as JSON in ``studio_session.scenes``.

    Keys this model does not name (``usage``, the ledger's record of analysis calls) are kept.
    """

    model_config = ConfigDict(extra="allow")

    id: str
    key: str = Field(description="storage key of the scene picture")
    source: str = "upload"
    thumbnail_key: str | None = None
    filename: str | None = None
    room_type: str | None = Field(
        default=None,
        description="the room type a person gave (on upload, in its file name, or set later)",
    )
    analysis: SceneAnalysis | None = None
    attribution: dict[str, Any] | None = None
    created_at: str | None = None

    @property
    def room(self) -> str | None:
        """The room a person gave, else the analysed one: the analysis never overrides a person."""
        return self.room_type or (self.analysis.room_type if self.analysis else None)

    def effective_analysis(self) -> SceneAnalysis | None:
        """The analysis with the room a person gave in place of the analysed one (what matching
        and the prompt use)."""
        if self.analysis is None or not self.room_type:
            return self.analysis
        return self.analysis.model_copy(update={"room_type": self.room_type})


class Match(BaseModel):
    """The scene chosen for a product; stored in ``studio_session.matches`` by product id."""

    model_config = ConfigDict(extra="allow")

    scene_id: str
    score: float | None = None
    reason: str | None = None
    overridden: bool = False
    needs_room: bool = False
    learned: bool = False  # the room came from what the client's team taught


def find_scene(scenes: Iterable[Scene], scene_id: object) -> Scene | None:
    """The scene with this id, or None."""
    wanted = str(scene_id) if scene_id is not None else None
    return next((scene for scene in scenes if scene.id == wanted), None)
