"""The local scene library: what inspiration search finds without an Unsplash key.

Three shelves, searched by the words of the query (room types understood with their synonyms:
"lounge" finds living rooms):

- the scenes of the client's active sessions (uploads, earlier Unsplash picks, generations);
- the client's completed generated images (an earlier result can inspire the next one);
- the rooms the project draws itself (:data:`visualizer_core.demo.art.DEMO_ROOMS`).

An empty query lists everything. The orientation filter applies where the size is known (the
aspect ratio of a generation, the size of a drawn room; an uploaded scene's size is not kept,
so uploads always pass it); the colour filter is Unsplash's alone and is not applied here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy.orm import Session

from visualizer_core.ai.compositor import OUTPUT_LONG_SIDE, output_size
from visualizer_core.db import repo
from visualizer_core.db.models import Product
from visualizer_core.demo.art import DEMO_ROOMS
from visualizer_core.errors import InvalidInput
from visualizer_core.inspiration import InspirationPhoto, SearchPage
from visualizer_core.taxonomy import normalize_room_type

__all__ = ["DEMO_ROOM_SIZE", "search_library"]

DEMO_ROOM_SIZE: Final = (1200, 800)


@dataclass(frozen=True)
class _Entry:
    photo: InspirationPhoto
    words: str  # lower-case text the query is matched against


def _terms(query: str) -> list[str]:
    """The query's words, plus the room type ids they name."""
    words = re.findall(r"[a-z0-9]+", query.lower())
    terms = list(words)
    for text in [query, *words]:
        try:
            terms.append(normalize_room_type(text))
        except InvalidInput:
            continue
    return list(dict.fromkeys(terms))


def _ratio_size(aspect_ratio: str) -> tuple[int, int]:
    try:
        return output_size(aspect_ratio)
    except InvalidInput:
        return OUTPUT_LONG_SIDE, OUTPUT_LONG_SIDE


def _text(*parts: Any) -> str:
    flat: list[str] = []
    for part in parts:
        if isinstance(part, list | tuple):
            flat.extend(str(p) for p in part if p)
        elif part:
            flat.append(str(part))
    text = " ".join(flat).lower()
    return f"{text} {text.replace('_', ' ')}"  # "living_room" and "living room" both match


def _session_scenes(db: Session, client_id: uuid.UUID) -> Iterable[_Entry]:
    for session in repo.list_sessions(db, client_id=client_id):
        for scene in session.scene_list():
            room = scene.room_type or (scene.analysis.room_type if scene.analysis else None)
            label = (room or "scene").replace("_", " ")
            photo = InspirationPhoto(
                id=f"session:{session.id}:{scene.id}",
                source="session",
                description=f"{label.capitalize()} from the session {session.name!r}",
                attribution=scene.attribution,
                ref={"session_id": str(session.id), "scene_id": scene.id},
            )
            words = _text(
                room,
                scene.filename,
                scene.source,
                scene.analysis.style if scene.analysis else None,
                scene.analysis.lighting if scene.analysis else None,
                session.name,
            )
            yield _Entry(photo, words)


def _generations(db: Session, client_id: uuid.UUID) -> Iterable[_Entry]:
    rows = repo.completed_images_of_client(db, client_id)
    names = {p.id: p for p in repo.list_products(db, client_id=client_id)}
    for row in rows:
        product: Product | None = names.get(row.product_id)
        name = product.name if product else "a product"
        width, height = _ratio_size(row.aspect_ratio)
        photo = InspirationPhoto(
            id=f"generation:{row.id}",
            source="generation",
            description=f"Generated: {name}",
            width=width,
            height=height,
            attribution=None,
            ref={"image_id": str(row.id)},
        )
        words = _text(
            "generated generation",
            name,
            product.category if product else None,
            (product.analysis or {}).get("room_types") if product else None,
        )
        yield _Entry(photo, words)


def _demo_rooms() -> Iterable[_Entry]:
    width, height = DEMO_ROOM_SIZE
    for room_type, seed in DEMO_ROOMS:
        label = room_type.replace("_", " ")
        photo = InspirationPhoto(
            id=f"demo:{room_type}:{seed}",
            source="demo",
            description=f"{label.capitalize()} (drawn by Visualizer)",
            width=width,
            height=height,
            attribution=None,
            ref={"room_type": room_type, "seed": seed},
        )
        yield _Entry(photo, _text(room_type, "demo drawn room"))


def search_library(
    db: Session,
    *,
    client_id: uuid.UUID,
    query: str = "",
    page: int = 1,
    per_page: int = 12,
    orientation: str | None = None,
) -> SearchPage:
    """One page of the client's library matching ``query``; best matches first."""
    terms = _terms(query)
    entries = [*_session_scenes(db, client_id), *_generations(db, client_id), *_demo_rooms()]
    scored: list[tuple[int, int, InspirationPhoto]] = []
    for order, entry in enumerate(entries):
        hits = sum(1 for term in terms if term in entry.words)
        if terms and not hits:
            continue
        if orientation and entry.photo.orientation not in (None, orientation):
            continue
        scored.append((-hits, order, entry.photo))
    scored.sort(key=lambda item: (item[0], item[1]))
    start = (page - 1) * per_page
    photos = [photo for _hits, _order, photo in scored[start : start + per_page]]
    total = len(scored)
    return SearchPage(
        photos=photos,
        total=total,
        total_pages=-(-total // per_page),
        page=page,
        per_page=per_page,
        source="library",
    )
