"""Pictures people look at in the studio: scene and product thumbnails (or full pictures).

Generated images have :func:`visualizer_core.services.gallery.image_bytes`; these are the
inputs' counterparts, read through the caller's scope like every other service.
"""

from __future__ import annotations

import uuid

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.models import Product
from visualizer_core.errors import NotFound
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import in_scope, unit_of_work
from visualizer_core.services.sessions import load_session

__all__ = ["product_picture", "scene_picture"]


def scene_picture(
    scope: Scope, *, session_id: uuid.UUID | str, scene_id: str, thumbnail: bool = True
) -> bytes:
    """The picture of one of the session's inspiration scenes (its thumbnail by default)."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        scene = session.find_scene(scene_id)
    if scene is None:
        raise NotFound("scene", scene_id)
    key = (scene.thumbnail_key if thumbnail else None) or scene.key
    data: bytes = backends.current().storage.get(key)
    return data


def product_picture(scope: Scope, *, product_id: uuid.UUID | str, thumbnail: bool = True) -> bytes:
    """The product's first photo as people see it: its thumbnail, or the preview on white."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        pid = in_scope(db, scope, Product, product_id, "product").id
        photos = repo.images_of(db, [pid])[pid]
        if not photos:
            raise NotFound("photo of product", product_id)
        key = photos[0].thumbnail_key if thumbnail else photos[0].preview_key
    data: bytes = backends.current().storage.get(key)
    return data
