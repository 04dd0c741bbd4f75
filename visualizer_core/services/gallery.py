"""The results of a session: a page of images with filters, their pictures, and review."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import REVIEW_STATES, GeneratedImage
from visualizer_core.errors import InvalidInput, NotFound, StorageError
from visualizer_core.schemas import ImageStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import in_scope, parse_id, read_only, unit_of_work
from visualizer_core.services.sessions import load_session

__all__ = [
    "GalleryPage",
    "ImageCard",
    "browser_urls",
    "image_bytes",
    "list_images",
    "review_images",
]


@dataclass(frozen=True)
class ImageCard:
    id: uuid.UUID
    flow_id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    sku: str
    scene_id: str | None
    variant: int
    status: str
    error_message: str | None
    review_state: str
    favourite: bool
    fidelity_score: float | None
    thumbnail_key: str | None
    image_key: str | None
    created_at: str
    thumbnail_url: str | None = None  # what the browser loads (see ``browser_url``)
    product_pixels: str = "generated"
    """``composited`` where the product photo's own pixels are in the picture (the IPTC
    ``compositeWithTrainedAlgorithmicMedia`` case), else ``generated``."""
    decided_by: str | None = None  # "person" or "rule"

    @property
    def fidelity_label(self) -> str:
        """``fidelity 0.82``, ``fidelity not checked yet`` (its judgement runs on its own, or
        the client samples or skips it) or empty (not a finished image)."""
        if self.fidelity_score is not None:
            return f"fidelity {self.fidelity_score:.2f}"
        return "fidelity not checked yet" if self.status == ImageStatus.COMPLETED else ""


@dataclass(frozen=True)
class GalleryPage:
    cards: list[ImageCard]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def list_images(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    page: int = 1,
    page_size: int = 24,
    status: Sequence[str] | None = None,
    review_state: Sequence[str] | None = None,
    product_ids: Sequence[uuid.UUID | str] | None = None,
    favourites_only: bool = False,
    order: Literal["newest", "fidelity"] = "newest",
    min_fidelity: float | None = None,
) -> GalleryPage:
    """One page of a session's images, filtered; the count is of all that match.

    ``min_fidelity`` keeps the images scored at least that (unscored images drop out).
    ``order="fidelity"`` is lowest fidelity first, after the group of completed images whose
    fidelity is not checked yet (see :attr:`ImageCard.fidelity_label`).
    """
    scope.require(Action.READ)
    if page < 1 or not 1 <= page_size <= 200:
        raise InvalidInput("page starts at 1 and a page holds 1 to 200 images")
    with read_only() as db:
        session = load_session(db, scope, session_id)
        total, rows = repo.gallery_page(
            db,
            session_id=session.id,
            offset=(page - 1) * page_size,
            limit=page_size,
            status=list(status) if status else None,
            review_state=list(review_state) if review_state else None,
            product_ids=[parse_id(p, "product") for p in product_ids] if product_ids else None,
            favourites_only=favourites_only,
            order=order,
            min_fidelity=min_fidelity,
        )
        # A card's other fields are the image row's columns of the same names.
        own = ("product_name", "sku", "created_at", "thumbnail_url")
        cards = [
            ImageCard(
                **{f.name: getattr(image, f.name) for f in fields(ImageCard) if f.name not in own},
                product_name=name,
                sku=sku,
                created_at=image.created_at.isoformat(),
            )
            for image, name, sku in rows
        ]
    urls = browser_urls([c.thumbnail_key for c in cards])
    cards = [replace(c, thumbnail_url=urls.get(c.thumbnail_key or "")) for c in cards]
    return GalleryPage(cards=cards, total=total, page=page, page_size=page_size)


def browser_urls(keys: Iterable[str | None]) -> dict[str, str]:
    """Browser addresses of stored pictures by key; keys whose object is gone are left out.

    For keys read from rows the caller's scope may see: the store's public or presigned URL
    (cached), or on a local folder a ``data:`` URL from a cached read. No database query.
    """
    storage = backends.current().storage
    found: dict[str, str] = {}
    for key in keys:
        if key and key not in found:
            try:
                found[key] = storage.browser_url(key)
            except StorageError:
                continue
    return found


def image_bytes(scope: Scope, *, image_id: uuid.UUID | str, thumbnail: bool = True) -> bytes:
    """The picture of a completed image (its thumbnail by default)."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        image = in_scope(db, scope, GeneratedImage, image_id, "image")
        key = image.thumbnail_key if thumbnail else image.image_key
    if key is None:
        raise NotFound("picture of image", image_id)
    data: bytes = backends.current().storage.get(key)
    return data


def review_images(
    scope: Scope,
    *,
    image_ids: Sequence[uuid.UUID | str],
    review_state: str | None = None,
    favourite: bool | None = None,
) -> int:
    """Approve, reject or favourite images; returns how many changed."""
    scope.require(Action.EDIT)
    if review_state is not None and review_state not in REVIEW_STATES:
        raise InvalidInput(f"review state must be one of {', '.join(REVIEW_STATES)}")
    values: dict[str, Any] = {"updated_at": utcnow()}
    if review_state is not None:
        values["review_state"] = review_state
    if favourite is not None:
        values["favourite"] = favourite
    ids = [parse_id(i, "image") for i in image_ids]
    with unit_of_work() as db:
        for iid in ids:
            in_scope(db, scope, GeneratedImage, iid, "image")
        return repo.update_images(db, ids, **values)
