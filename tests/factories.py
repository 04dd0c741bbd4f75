"""Factories: small functions that make one thing through the services, as a user would."""

from __future__ import annotations

import csv
import io
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from visualizer_core.ai.base import GenerationRequest, GenerationResult, ProductFacts
from visualizer_core.ai.local import LocalAI
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.services import analysis, clients, generation, sessions


def random_name(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def create_client(name: str | None = None, daily_quota: int = 100) -> clients.ClientRead:
    return clients.create_client(ADMIN, name=name or random_name("Brand"), daily_quota=daily_quota)


def member_scope(client_id: uuid.UUID, role: Role | str = Role.EDITOR) -> ClientScope:
    return ClientScope(client_id=client_id, role=Role(role))


def create_session(client_id: uuid.UUID, name: str | None = None) -> sessions.SessionRead:
    return sessions.create_session(ADMIN, client_id=client_id, name=name or random_name("Session"))


def product_photo(
    color: tuple[int, int, int] = (180, 40, 40),
    size: tuple[int, int] = (400, 400),
    background: tuple[int, int, int] = (255, 255, 255),
    fmt: str = "JPEG",
) -> bytes:
    """A catalog-style photo: a coloured shape on a plain background."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rounded_rectangle((w * 0.2, h * 0.3, w * 0.8, h * 0.8), radius=int(w * 0.05), fill=color)
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=90) if fmt == "JPEG" else image.save(buffer, fmt)
    return buffer.getvalue()


def scene_photo(
    wall: tuple[int, int, int] = (225, 215, 200),
    floor: tuple[int, int, int] = (150, 110, 80),
    size: tuple[int, int] = (600, 400),
) -> bytes:
    image = Image.new("RGB", size, wall)
    ImageDraw.Draw(image).rectangle((0, int(size[1] * 0.72), size[0], size[1]), fill=floor)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def write_catalog(
    folder: Path,
    rows: Sequence[dict[str, Any]],
    photos: dict[str, bytes] | None = None,
    name: str = "catalog.csv",
) -> Path:
    """A catalog CSV (the contract's columns) and its photos in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for filename, data in (photos or {}).items():
        target = folder / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    path = folder / name
    columns = [
        "sku",
        "name",
        "category",
        "description",
        "colors",
        "materials",
        "dimensions",
        "image",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


# -- a small world for the pipeline: a drawn catalog and drawn rooms ---------------------------

# (sku, name, category, the room type it belongs in, drawing colour)
PIPELINE_CATALOG: tuple[tuple[str, str, str, str, tuple[int, int, int]], ...] = (
    ("SOFA-1", "Harbor Three-Seat Sofa", "sofa", "living_room", (70, 90, 120)),
    ("BED-1", "Haven Upholstered Bed", "bed", "bedroom", (150, 120, 160)),
    ("DESK-1", "Studio Writing Desk", "desk", "home_office", (120, 85, 60)),
    ("DINE-1", "Oak Dining Table", "dining table", "dining_room", (160, 120, 80)),
)
PIPELINE_ROOMS: tuple[str, ...] = ("living_room", "bedroom", "home_office", "dining_room")


def import_catalog(
    client_id: uuid.UUID,
    items: Sequence[tuple[str, str, str, str, tuple[int, int, int]]] = PIPELINE_CATALOG,
) -> dict[str, uuid.UUID]:
    """Products with drawn photos, through the import service; returns sku -> product id."""
    import tempfile

    from visualizer_core.demo import art as demo_art
    from visualizer_core.services import products

    with tempfile.TemporaryDirectory(prefix="catalog-") as folder:
        records = []
        for index, (sku, name, category, _room, color) in enumerate(items):
            filename = f"{index}.jpg"
            photo = demo_art.draw_product(category, color=color, seed=index, size=(400, 400))
            (Path(folder) / filename).write_bytes(photo)
            records.append({"sku": sku, "name": name, "category": category, "image": filename})
        report = products.import_products(
            ADMIN, client_id=client_id, records=records, images_dir=Path(folder)
        )
    assert report.failed == 0, report.errors
    ids = [uuid.UUID(p) for p in report.product_ids]
    return dict(zip([item[0] for item in items], ids, strict=True))


def add_rooms(
    session_id: uuid.UUID,
    rooms: Sequence[str] = PIPELINE_ROOMS,
    size: tuple[int, int] = (600, 400),
) -> dict[str, str]:
    """One drawn scene per room type (``size`` pixels), uploaded with that room type; returns
    room -> scene id."""
    from visualizer_core.demo import art as demo_art

    found: dict[str, str] = {}
    for seed, room in enumerate(rooms):
        picture = demo_art.draw_room(room, seed=seed, size=size)
        added = sessions.add_scenes(
            ADMIN, session_id=session_id, files=[(f"{room}.jpg", picture)], room_type=room
        )
        found[room] = added.scene_ids[0]
    return found


# -- a world of clients for the notebook API -----------------------------------------------


class RefusingAI:
    """The local AI, except that it will not draw products of the ``refuse`` categories."""

    name = "local"
    image_model = LocalAI.image_model
    text_model = LocalAI.text_model

    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.local = LocalAI()
        self.lock = threading.Lock()

    def analyze_product(self, facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
        return self.local.analyze_product(facts, images)

    def analyze_scene(self, image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
        return self.local.analyze_scene(image, room_type_hint=room_type_hint)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        from visualizer_core.errors import ContentRefused

        category = request.product_analysis.category if request.product_analysis else None
        with self.lock:
            refused = category in self.refuse
        if refused:
            raise ContentRefused(
                f"the {category} photo was judged unsafe: change the extra prompt text, "
                "the product photo or the scene, then try again"
            )
        return self.local.generate(request)


@dataclass
class World:
    ai: RefusingAI
    client_ids: list[uuid.UUID] = field(default_factory=list)
    session_ids: list[uuid.UUID] = field(default_factory=list)
    flow_ids: list[str] = field(default_factory=list)
    scenes: dict[uuid.UUID, dict[str, str]] = field(default_factory=dict)


def build_world(ai: RefusingAI, clients_count: int = 2) -> World:
    """Clients with a catalog, rooms and a first generation (desks refused), finished."""
    world = World(ai=ai)
    for index in range(clients_count):
        client = create_client(f"Brand {index} {uuid.uuid4().hex[:6]}", daily_quota=100)
        import_catalog(client.id)
        session = create_session(client.id, f"Collection {index}")
        world.scenes[session.id] = add_rooms(session.id)
        analysis.match_session(ADMIN, session_id=session.id)
        flow = generation.generate(ADMIN, session_id=session.id)
        world.client_ids.append(client.id)
        world.session_ids.append(session.id)
        world.flow_ids.append(str(flow.flow_id))
    generation.wait_for_flows(ADMIN, flow_ids=world.flow_ids, timeout=120)
    return world


def team_decisions(
    backend: Any, client_id: uuid.UUID, made: Sequence[Any], history_id: uuid.UUID | None = None
) -> None:
    """A client team's past review decisions, as a session of earlier images: renders with
    the measured signals of ``made`` (generated images) approved, the same with colour and
    structure gone wrong rejected; enough of both for the client's own calibration. They go in
    ``history_id`` (a session of the client), or a new session."""
    from visualizer_core.db.models import Flow, GeneratedImage
    from visualizer_core.fidelity import MIN_DECISIONS

    history = history_id or create_session(client_id, name="Earlier collection").id
    flow = Flow(id=uuid.uuid4(), client_id=client_id, studio_session_id=history, name="Earlier")
    rows: list[Any] = [flow]
    for n in range(MIN_DECISIONS + 10):
        signals = dict((made[n % len(made)].fidelity or {})["signals"])
        approved = n < MIN_DECISIONS
        if not approved:
            signals.update(delta_e=25.0 + n, delta_e_worst=40.0 + n, structure=0.3, edges=0.3)
        rows.append(
            GeneratedImage(
                client_id=client_id,
                flow_id=flow.id,
                studio_session_id=history,
                product_id=made[0].product_id,
                variant=100 + n,
                status="completed",
                fidelity={"signals": signals, "score": 0.5},
                fidelity_score=0.5,
                review_state="approved" if approved else "rejected",
                decided_by="person",
            )
        )
    with backend.transaction() as db:
        db.add(flow)
        db.flush()
        db.add_all(rows[1:])
