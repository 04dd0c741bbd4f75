"""The storage key layout of the seed, built here and nowhere else.

clients/{client_id}/products/{product_id}/media/images/base/{image_id}.png      AI input, RGBA
clients/{client_id}/products/{product_id}/media/images/preview/{image_id}.jpg   people, on white
clients/{client_id}/products/{product_id}/media/images/thumb/{image_id}.jpg     tables, grids
clients/{client_id}/sessions/{session_id}/media/{filename}                      generated images,
                                                                                scenes, thumbnails
"""

from __future__ import annotations

import re
from uuid import UUID

__all__ = [
    "client_prefix",
    "generated_image",
    "generated_thumbnail",
    "product_base",
    "product_prefix",
    "product_preview",
    "product_thumbnail",
    "provider_image",
    "provider_image_prefix",
    "scene_image",
    "scene_thumbnail",
    "session_media",
    "session_prefix",
]

_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def client_prefix(client_id: UUID | str) -> str:
    return f"clients/{client_id}/"


def product_prefix(client_id: UUID | str, product_id: UUID | str) -> str:
    return f"{client_prefix(client_id)}products/{product_id}/"


def _product_image(client_id: UUID | str, product_id: UUID | str, kind: str, name: str) -> str:
    return f"{product_prefix(client_id, product_id)}media/images/{kind}/{name}"


def product_base(client_id: UUID | str, product_id: UUID | str, image_id: UUID | str) -> str:
    """The PNG with transparency that the AI gets."""
    return _product_image(client_id, product_id, "base", f"{image_id}.png")


def product_preview(client_id: UUID | str, product_id: UUID | str, image_id: UUID | str) -> str:
    """The JPEG on white that people see."""
    return _product_image(client_id, product_id, "preview", f"{image_id}.jpg")


def product_thumbnail(client_id: UUID | str, product_id: UUID | str, image_id: UUID | str) -> str:
    """A small JPEG for tables and grids."""
    return _product_image(client_id, product_id, "thumb", f"{image_id}.jpg")


def session_prefix(client_id: UUID | str, session_id: UUID | str) -> str:
    return f"{client_prefix(client_id)}sessions/{session_id}/"


def session_media(client_id: UUID | str, session_id: UUID | str, filename: str) -> str:
    """Any file of a session; ``filename`` may not contain a path."""
    if not _SAFE_FILENAME.match(filename) or ".." in filename:
        raise ValueError(f"unsafe media filename: {filename!r}")
    return f"{session_prefix(client_id, session_id)}media/{filename}"


def generated_image(
    client_id: UUID | str, session_id: UUID | str, image_id: UUID | str, ext: str = "jpg"
) -> str:
    """A generated image: fixed by its row, so a retry overwrites and never adds."""
    return session_media(client_id, session_id, f"{image_id}.{ext}")


_PROVIDER_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}


def provider_image(
    client_id: UUID | str, session_id: UUID | str, image_id: UUID | str, mime: str
) -> str:
    """A provider's own bytes of a generated image, kept untouched when they carry C2PA
    Content Credentials: ``{image_id}.provider.{ext}`` beside the stored picture."""
    ext = _PROVIDER_EXTENSIONS.get(mime, "bin")
    return session_media(client_id, session_id, f"{image_id}.provider.{ext}")


def provider_image_prefix(
    client_id: UUID | str, session_id: UUID | str, image_id: UUID | str
) -> str:
    """What every :func:`provider_image` key of one image starts with."""
    return session_media(client_id, session_id, f"{image_id}.provider.")


def generated_thumbnail(client_id: UUID | str, session_id: UUID | str, image_id: UUID | str) -> str:
    return session_media(client_id, session_id, f"{image_id}.thumb.jpg")


def scene_image(
    client_id: UUID | str, session_id: UUID | str, scene_id: UUID | str, ext: str = "jpg"
) -> str:
    """An inspiration scene stored with its session."""
    return session_media(client_id, session_id, f"scene-{scene_id}.{ext}")


def scene_thumbnail(client_id: UUID | str, session_id: UUID | str, scene_id: UUID | str) -> str:
    return session_media(client_id, session_id, f"scene-{scene_id}.thumb.jpg")
