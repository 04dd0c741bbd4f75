"""Inspiration: search for scene photos, and turn the chosen ones into scenes of a session.

Search goes to Unsplash when ``UNSPLASH_ACCESS_KEY`` is set and to the client's local scene
library otherwise (see :mod:`visualizer_core.inspiration`). Using a photo stores it as a scene
with its attribution; for an Unsplash photo that is also when Unsplash's download tracking is
called, as its API guidelines require. Any completed generated image of the client can become
a scene too, of a session of its own or of a new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.models import GeneratedImage, Product
from visualizer_core.demo.art import DEMO_ROOMS, draw_room
from visualizer_core.errors import InvalidInput, NotFound, ProviderError, VisualizerError
from visualizer_core.inspiration import COLORS, ORIENTATIONS, InspirationPhoto, SearchPage
from visualizer_core.inspiration.cache import cache_for
from visualizer_core.inspiration.library import DEMO_ROOM_SIZE, search_library
from visualizer_core.inspiration.unsplash import UnsplashClient
from visualizer_core.schemas import ImageStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import in_scope, own_client, parse_id, search_text, unit_of_work
from visualizer_core.services.sessions import (
    AddScenesResult,
    add_scene_images,
    create_session,
    load_session,
)

__all__ = [
    "SceneFromGeneration",
    "add_inspiration",
    "generation_as_scene",
    "search_inspiration",
    "unsplash_configured",
]

NO_KEY_NOTICE = (
    "Unsplash search is not set up (no UNSPLASH_ACCESS_KEY): showing your own scene library,"
    " earlier generations and Visualizer's drawn rooms."
)


@dataclass(frozen=True)
class SceneFromGeneration:
    """Where an earlier generation became a scene."""

    session_id: uuid.UUID
    scene_id: str
    created_session: bool


def unsplash_configured() -> bool:
    """Whether search goes to Unsplash (an access key is set)."""
    return backends.current().settings.unsplash_access_key is not None


def _unsplash() -> UnsplashClient:
    settings = backends.current().settings
    if settings.unsplash_access_key is None:
        raise InvalidInput("Unsplash is not set up: set UNSPLASH_ACCESS_KEY to use its photos")
    return UnsplashClient(
        settings.unsplash_access_key.get_secret_value(),
        base_url=settings.unsplash_api_url,
        # Search pages for an hour, and the quota, shared by every process of the deployment.
        cache=cache_for(settings.redis_url, settings.queue_prefix),
    )


def search_inspiration(
    scope: Scope,
    *,
    client_id: uuid.UUID | str,
    query: str,
    page: int = 1,
    per_page: int = 12,
    orientation: str | None = None,
    color: str | None = None,
) -> SearchPage:
    """A page of photos for ``query``: Unsplash's with a key, the client's library without.

    Unsplash pages are kept for an hour (per client, query, page and filters), so asking again, as a
    Streamlit rerun does, spends no request; the page says how many requests are left.
    """
    scope.require(Action.READ)
    query = search_text(query, "search") or ""
    cid = own_client(scope, client_id)
    if page < 1 or not 1 <= per_page <= 30:
        raise InvalidInput("page starts at 1 and a page holds 1 to 30 photos")
    if orientation is not None and orientation not in ORIENTATIONS:
        raise InvalidInput(f"orientation must be one of {', '.join(ORIENTATIONS)}")
    if color is not None and color not in COLORS:
        raise InvalidInput(f"colour must be one of {', '.join(COLORS)}")
    if unsplash_configured():
        with _unsplash() as client:
            return client.search(
                query,
                page=page,
                per_page=per_page,
                orientation=orientation,
                color=color,
                cache_partition=str(cid),  # one client's searches are not another's answers
            )
    with unit_of_work() as db:
        found = search_library(
            db, client_id=cid, query=query, page=page, per_page=per_page, orientation=orientation
        )
    notice = NO_KEY_NOTICE
    if color:
        notice += " The colour filter applies to Unsplash only."
    return SearchPage(**{**found.__dict__, "notice": notice})


# -- using photos ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Picked:
    filename: str
    data: bytes
    source: str
    attribution: dict[str, Any] | None
    room_type: str | None = None
    label: str = ""  # what the picture shows, in a few words
    client_id: uuid.UUID | None = None


def _from_unsplash(client: UnsplashClient, photo: InspirationPhoto) -> _Picked:
    url = client.track_download(photo)  # the guidelines' download event, before the fetch
    data = client.fetch(url)
    return _Picked(f"unsplash-{photo.id}.jpg", data, "unsplash", dict(photo.attribution or {}))


def _from_session(scope: Scope, photo: InspirationPhoto) -> _Picked:
    with unit_of_work() as db:
        session = load_session(db, scope, str(photo.ref.get("session_id")))
        scene = session.find_scene(photo.ref.get("scene_id"))
        if scene is None:
            raise NotFound("scene", photo.ref.get("scene_id"))
    data = backends.current().storage.get(scene.key)
    return _Picked(
        scene.filename or f"scene-{scene.id}.jpg",
        data,
        "library",
        scene.attribution,  # an Unsplash photo keeps its photographer's credit
        scene.room_type,
    )


def _from_generation(scope: Scope, image_id: uuid.UUID | str) -> _Picked:
    """A completed generated image in scope, credited, in the room type of its scene."""
    with unit_of_work() as db:
        image = in_scope(db, scope, GeneratedImage, image_id, "image")
        if image.status != ImageStatus.COMPLETED or not image.image_key:
            raise InvalidInput(
                f"image {image_id} is {image.status}: only a finished image can inspire"
            )
        product = repo.get(db, Product, image.product_id, client_id=None)
        product_name = product.name if product else "a product"
        scene = load_session(db, scope, image.studio_session_id).find_scene(image.scene_id)
        room = None
        if scene is not None:
            room = scene.room_type or (scene.analysis.room_type if scene.analysis else None)
        db.expunge(image)
    data = backends.current().storage.get(image.image_key)
    attribution = {
        "provider": "visualizer",
        "generated_image_id": str(image.id),
        "flow_id": str(image.flow_id),
        "session_id": str(image.studio_session_id),
        "model": image.model,
        "text": f"Generated by Visualizer ({product_name})",
    }
    return _Picked(
        f"generation-{image.id}.jpg",
        data,
        "generation",
        attribution,
        room,
        label=product_name,
        client_id=image.client_id,
    )


def _from_demo(photo: InspirationPhoto) -> _Picked:
    room_type, seed = photo.ref.get("room_type"), photo.ref.get("seed")
    if (room_type, seed) not in DEMO_ROOMS:
        raise NotFound("demo room", photo.id)
    assert isinstance(room_type, str) and isinstance(seed, int)
    data = draw_room(room_type, seed=seed, size=DEMO_ROOM_SIZE)
    attribution = {"provider": "visualizer", "text": "Room drawn by Visualizer"}
    return _Picked(f"demo-{room_type}-{seed}.jpg", data, "demo", attribution, room_type)


def add_inspiration(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    photos: Sequence[InspirationPhoto],
    room_type: str | None = None,
) -> AddScenesResult:
    """Make scenes of the session from search results, in their order.

    A photo that cannot be used is reported in ``failed`` (by its id) and the rest are added.
    ``room_type`` (free text) applies to every photo; without it, a library photo keeps the
    room type it had.
    """
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        load_session(db, scope, session_id)
    result = AddScenesResult()
    client: UnsplashClient | None = None
    try:
        for photo in photos:
            try:
                if photo.source == "unsplash":
                    client = client or _unsplash()
                    picked = _from_unsplash(client, photo)
                elif photo.source == "session":
                    picked = _from_session(scope, photo)
                elif photo.source == "generation":
                    picked = _from_generation(scope, str(photo.ref.get("image_id")))
                elif photo.source == "demo":
                    picked = _from_demo(photo)
                else:
                    raise InvalidInput(f"unknown photo source {photo.source!r}")
                added = add_scene_images(
                    scope,
                    session_id=session_id,
                    files=[(picked.filename, picked.data)],
                    room_type=room_type or picked.room_type,
                    source=picked.source,
                    attribution=[picked.attribution],
                )
            except (ProviderError, VisualizerError) as error:
                result.failed.append({"file": photo.id, "error": str(error)})
                continue
            result.scene_ids.extend(added.scene_ids)
            result.failed.extend({**f, "file": photo.id} for f in added.failed)
    finally:
        if client is not None:
            client.close()
    return result


def generation_as_scene(
    scope: Scope,
    *,
    image_id: uuid.UUID | str,
    session_id: uuid.UUID | str | None = None,
    session_name: str | None = None,
) -> SceneFromGeneration:
    """An earlier generated image as a scene: of ``session_id``, or of a new session.

    The scene keeps the room type of the scene the image was made in, and a credit that links
    it to the image, its flow and its session.
    """
    scope.require(Action.EDIT)
    picked = _from_generation(scope, image_id)
    created = session_id is None
    if session_id is None:
        assert picked.client_id is not None
        name = session_name or f"Inspired by {picked.label}"
        session_id = create_session(scope, client_id=picked.client_id, name=name[:300]).id
    added = add_scene_images(
        scope,
        session_id=session_id,
        files=[(picked.filename, picked.data)],
        room_type=picked.room_type,
        source="generation",
        attribution=[picked.attribution],
    )
    if not added.scene_ids:
        reason = added.failed[0]["error"] if added.failed else "it could not be read"
        raise InvalidInput(f"image {image_id} cannot become a scene: {reason}")
    return SceneFromGeneration(
        session_id=parse_id(session_id, "session"),
        scene_id=added.scene_ids[0],
        created_session=created,
    )
