"""Studio sessions, their inspiration scenes, and their progress."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import StudioSession
from visualizer_core.errors import InvalidImage, InvalidInput, NotFound, VisualizerError
from visualizer_core.schemas import Match, Scene, SessionStatus, find_scene
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import client_in_scope, client_row, in_scope, unit_of_work
from visualizer_core.storage import keys

__all__ = [
    "AddScenesResult",
    "SessionRead",
    "add_scene_images",
    "add_scenes",
    "archive_session",
    "create_session",
    "delete_scene",
    "get_session",
    "list_sessions",
    "paused_models",
    "rename_session",
    "session_status",
    "set_scene_room",
]


@dataclass(frozen=True)
class SessionRead:
    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    status: str
    scenes: list[Scene]
    matches: dict[str, Match]
    settings: dict[str, Any]
    created_at: str

    @classmethod
    def of(cls, row: StudioSession) -> SessionRead:
        return cls(
            id=row.id,
            client_id=row.client_id,
            name=row.name,
            status=row.status,
            scenes=row.scene_list(),
            matches=row.match_map(),
            settings=dict(row.settings or {}),
            created_at=row.created_at.isoformat(),
        )


@dataclass
class AddScenesResult:
    scene_ids: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"scene_ids": self.scene_ids, "failed": self.failed}


def _session_name(name: str) -> str:
    if not name or not name.strip():
        raise InvalidInput("a session needs a name")
    if len(name) > 300:
        raise InvalidInput("a session name may have at most 300 characters")
    return name


def load_session(
    db: Any, scope: Scope, session_id: uuid.UUID | str, *, lock: bool = False
) -> StudioSession:
    """The session in the caller's scope, or NotFound."""
    return in_scope(db, scope, StudioSession, session_id, "session", lock=lock)


def create_session(scope: Scope, *, client_id: uuid.UUID | str, name: str) -> SessionRead:
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        cid = client_row(db, scope, client_id).id
        row = StudioSession(
            client_id=cid, name=_session_name(name), scenes=[], matches={}, settings={}
        )
        db.add(row)
        db.flush()
        return SessionRead.of(row)


def get_session(scope: Scope, *, session_id: uuid.UUID | str) -> SessionRead:
    scope.require(Action.READ)
    with unit_of_work() as db:
        return SessionRead.of(load_session(db, scope, session_id))


def list_sessions(
    scope: Scope, *, client_id: uuid.UUID | str | None = None, include_archived: bool = False
) -> list[SessionRead]:
    scope.require(Action.READ)
    cid = client_in_scope(scope, client_id)
    with unit_of_work() as db:
        rows = repo.list_sessions(db, client_id=cid, include_archived=include_archived)
        return [SessionRead.of(r) for r in rows]


def rename_session(scope: Scope, *, session_id: uuid.UUID | str, name: str) -> SessionRead:
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        row = load_session(db, scope, session_id)
        row.name = _session_name(name)
        db.flush()
        return SessionRead.of(row)


def archive_session(
    scope: Scope, *, session_id: uuid.UUID | str, archived: bool = True
) -> SessionRead:
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        row = load_session(db, scope, session_id)
        row.status = SessionStatus.ARCHIVED if archived else SessionStatus.ACTIVE
        db.flush()
        return SessionRead.of(row)


def add_scenes(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    files: Sequence[tuple[str, bytes]],
    room_type: str | None = None,
) -> AddScenesResult:
    """Inspiration scenes from uploaded files (name, bytes); bad files are reported, not added.

    ``room_type`` is free text ("Living Room", "home office"), normalised to the taxonomy.
    """
    return add_scene_images(scope, session_id=session_id, files=files, room_type=room_type)


def add_scene_images(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    files: Sequence[tuple[str, bytes]],
    room_type: str | None = None,
    source: str = "upload",
    attribution: Sequence[dict[str, Any] | None] | None = None,
) -> AddScenesResult:
    """Store scene photos with the session; shared by uploads, search results and generations."""
    # Imported here: pictures and the taxonomy are heavy to load, and most uses of this module
    # (progress, listing) never need them.
    from visualizer_core.images.ingest import make_thumbnail, normalize_photo
    from visualizer_core.taxonomy import normalize_room_type, room_in_file_name

    scope.require(Action.EDIT)
    room = normalize_room_type(room_type) if room_type else None
    if attribution is not None and len(attribution) != len(files):
        raise InvalidInput("one attribution per file")
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        client_id, sid = session.client_id, session.id
    storage = backends.current().storage
    result = AddScenesResult()
    new_scenes: list[Scene] = []
    written: list[str] = []
    try:
        for index, (filename, data) in enumerate(files):
            try:
                photo = normalize_photo(data, filename=filename)
                thumb = make_thumbnail(photo, filename=filename)
            except InvalidImage as error:
                result.failed.append({"file": filename, "error": str(error)})
                continue
            scene_id = uuid.uuid4().hex
            key = keys.scene_image(client_id, sid, scene_id)
            thumb_key = keys.scene_thumbnail(client_id, sid, scene_id)
            storage.put(key, photo, content_type="image/jpeg")
            written.append(key)
            storage.put(thumb_key, thumb, content_type="image/jpeg")
            written.append(thumb_key)
            new_scenes.append(
                Scene(
                    id=scene_id,
                    source=source,
                    key=key,
                    thumbnail_key=thumb_key,
                    filename=filename,
                    room_type=room or room_in_file_name(filename),
                    analysis=None,
                    attribution=attribution[index] if attribution else None,
                    created_at=utcnow().isoformat(),
                )
            )
        if new_scenes:
            with unit_of_work() as db:
                session = load_session(db, scope, sid, lock=True)
                session.set_scenes([*session.scene_list(), *new_scenes])
                db.flush()
    except BaseException:
        for key in written:
            with contextlib.suppress(VisualizerError):
                storage.delete(key)
        raise
    result.scene_ids = [s.id for s in new_scenes]
    return result


def set_scene_room(
    scope: Scope, *, session_id: uuid.UUID | str, scene_id: str, room_type: str | None
) -> Scene:
    """Set or correct a scene's room (free text, normalised to the taxonomy's rooms; None goes
    back to the analysed room). A room set by a person is never overridden by the analysis."""
    from visualizer_core.taxonomy import normalize_room_type

    scope.require(Action.EDIT)
    room = normalize_room_type(room_type) if room_type else None
    with unit_of_work() as db:
        session = load_session(db, scope, session_id, lock=True)
        scenes = session.scene_list()
        scene = find_scene(scenes, scene_id)
        if scene is None:
            raise NotFound("scene", scene_id)
        scene.room_type = room
        session.set_scenes(scenes)
        db.flush()
        return scene


def delete_scene(scope: Scope, *, session_id: uuid.UUID | str, scene_id: str) -> None:
    """Remove a scene from the session, with the automatic matches to it (hand-set ones too).

    Its pictures are deleted from storage unless images were made in it (their lineage and
    re-runs still show it).
    """
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        session = load_session(db, scope, session_id, lock=True)
        scenes = session.scene_list()
        scene = find_scene(scenes, scene_id)
        if scene is None:
            raise NotFound("scene", scene_id)
        session.set_scenes([s for s in scenes if s.id != scene.id])
        session.set_matches(
            {p: m for p, m in session.match_map().items() if m.scene_id != scene.id}
        )
        keep_pictures = repo.scene_in_use(db, session.id, scene.id)
        db.flush()
    if not keep_pictures:
        storage = backends.current().storage
        for key in (scene.key, scene.thumbnail_key):
            if key:
                with contextlib.suppress(VisualizerError):
                    storage.delete(key)


def paused_models(
    scope: Scope, *, session_id: uuid.UUID | str | None = None
) -> list[dict[str, Any]]:
    """The Gemini models whose day's quota is used up right now, with when they resume.

    Each entry: ``model``, ``until`` (ISO UTC time the quota resets), ``reason`` and ``images``
    (open images of the session, or of every client in the admin scope, waiting for that
    model). Their images are not failed: they stay pending and resume by themselves.
    """
    from visualizer_core.ai.ratelimit import paused_models as board

    scope.require(Action.READ)
    paused = board(backends.current().settings)
    if not paused and session_id is None:
        return []
    with unit_of_work() as db:
        sid = load_session(db, scope, session_id).id if session_id is not None else None
        if not paused:
            return []
        if sid is None:
            scope.require(Action.ADMIN)
        waiting = repo.open_counts_by_model(db, session_id=sid)
    return [
        {
            "model": model,
            "until": entry["until"].isoformat(),
            "reason": entry["reason"],
            "images": waiting.get(model, 0),
        }
        for model, entry in sorted(paused.items())
    ]


def session_status(scope: Scope, *, session_id: uuid.UUID | str) -> dict[str, int]:
    """Images of the session by status, from one aggregate query."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        return repo.status_counts(db, session_id=session.id)
