"""The demo: a client, its owner, a drawn catalog, drawn rooms and a first generation."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from visualizer_core.db import repo
from visualizer_core.db.models import Client
from visualizer_core.demo import art as demo_art
from visualizer_core.scope import ADMIN, Action, Role, Scope
from visualizer_core.services import analysis, clients, generation, products, sessions
from visualizer_core.services._uow import unit_of_work

__all__ = ["DEMO_EMAIL", "DEMO_PASSWORD", "create_demo"]

DEMO_CLIENT = "Demo Home Co"
DEMO_EMAIL = "demo@visualizer.local"
DEMO_PASSWORD = "visualize-demo"
DEMO_SESSION = "Spring collection"
# Large enough for the 1024-pixel compositions, small enough to draw the catalog quickly.
PHOTO_SIZE = (640, 640)


def _existing_demo() -> dict[str, Any] | None:
    with unit_of_work() as db:
        for client in repo.list_clients(db, client_id=None):
            if (client.settings or {}).get("demo"):
                settings = client.settings or {}
                return {
                    "client_id": str(client.id),
                    "session_id": settings.get("demo_session_id"),
                    "flow_id": settings.get("demo_flow_id"),
                    "email": DEMO_EMAIL,
                    "password": DEMO_PASSWORD,
                    "created": False,
                }
    return None


def create_demo(
    scope: Scope = ADMIN, *, if_missing: bool = False, dispatch: bool = True
) -> dict[str, Any]:
    """Make the demo on the current backends and return how to sign in to it.

    With ``if_missing`` an existing demo is returned as it is (``created`` is then false).
    The first generation is dispatched to the current queue unless ``dispatch`` is false;
    then it waits, pending, for a worker (the studio's or ``visualizer worker``) to sweep it up.
    """
    scope.require(Action.ADMIN)
    if if_missing:
        found = _existing_demo()
        if found is not None:
            return found
    client = clients.create_client(ADMIN, name=DEMO_CLIENT, daily_quota=1000)
    clients.create_user(
        ADMIN, email=DEMO_EMAIL, client_id=client.id, role=Role.OWNER, password=DEMO_PASSWORD
    )
    with tempfile.TemporaryDirectory(prefix="visualizer-demo-") as folder:
        records = []
        for index, item in enumerate(demo_art.DEMO_CATALOG):
            filename = f"{item.sku}.jpg"
            photo = demo_art.draw_product(
                item.category, color=item.color, seed=index, size=PHOTO_SIZE
            )
            (Path(folder) / filename).write_bytes(photo)
            records.append(
                {
                    "sku": item.sku,
                    "name": item.name,
                    "category": item.category,
                    "description": item.description,
                    "colors": list(item.colors),
                    "materials": list(item.materials),
                    "image": filename,
                }
            )
        products.import_products(
            ADMIN, client_id=client.id, records=records, images_dir=Path(folder)
        )
    session = sessions.create_session(ADMIN, client_id=client.id, name=DEMO_SESSION)
    for room_type, seed in demo_art.DEMO_ROOMS:
        sessions.add_scenes(
            ADMIN,
            session_id=session.id,
            files=[(f"{room_type}-{seed}.jpg", demo_art.draw_room(room_type, seed=seed))],
            room_type=room_type,
        )
    analysis.match_session(ADMIN, session_id=session.id)
    with unit_of_work() as db:
        row = repo.get(db, Client, client.id, client_id=None)
        assert row is not None
        row.settings = {**(row.settings or {}), "demo": True, "demo_session_id": str(session.id)}
    flow_id = generation.generate(ADMIN, session_id=session.id, dispatch=dispatch).flow_id
    with unit_of_work() as db:
        row = repo.get(db, Client, client.id, client_id=None)
        assert row is not None
        row.settings = {**(row.settings or {}), "demo_flow_id": str(flow_id)}
    return {
        "client_id": str(client.id),
        "session_id": str(session.id),
        "flow_id": str(flow_id),
        "email": DEMO_EMAIL,
        "password": DEMO_PASSWORD,
        "created": True,
    }
