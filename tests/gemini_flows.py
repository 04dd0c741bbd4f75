"""Gemini flows for the service tests: backends aimed at the Gemini stand-in, a prepared
session, and readers of what a flow made and of what the stand-in was asked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests import factories
from tests.plugin import backends_like
from tests.standins.gemini_server import GeminiStandIn, RecordedRequest
from visualizer_core import backends
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL
from visualizer_core.db.models import GeneratedImage
from visualizer_core.scope import ClientScope
from visualizer_core.services import analysis, products, sessions

# A price row unlike the built-in one, to see that the configured table is the one used.
CUSTOM_PRICE = {"input": 2.0, "output": 10.0, "image_output": 40.0}


def gemini_backends(
    base: backends.Backends, server: GeminiStandIn, **extra: Any
) -> Iterator[backends.Backends]:
    """The backend set of ``base`` with Gemini switched on, as its environment would do it."""
    extra.setdefault("visualizer_retry_base_s", 0.05)  # the retry policy's waits, for tests
    extra.setdefault("visualizer_retry_max_s", 0.2)
    extra.setdefault("gemini_prices", {DEFAULT_IMAGE_MODEL: CUSTOM_PRICE})
    with backends_like(
        base, gemini_api_key=server.api_key, gemini_base_url=server.base_url, **extra
    ) as built:
        yield built


def sofa_catalog(tmp_path: Path, scope: ClientScope, count: int) -> list[str]:
    colours = [(180, 40, 40), (40, 90, 170), (60, 140, 70)]
    rows = [
        {
            "sku": f"SOFA-{n}",
            "name": f"Harbour sofa {n}",
            "category": "sofa",
            "description": "A three-seat sofa in woven fabric.",
            "colors": "red",
            "materials": "fabric",
            "image": f"sofa-{n}.jpg",
        }
        for n in range(count)
    ]
    photos = {f"sofa-{n}.jpg": factories.product_photo(colours[n % 3]) for n in range(count)}
    path = factories.write_catalog(tmp_path / "catalog", rows, photos)
    report = products.import_products(scope, client_id=scope.client_id, csv_path=path)
    assert report.failed == 0, report.errors
    return report.product_ids


def prepared_session(tmp_path: Path, products_count: int) -> tuple[ClientScope, uuid.UUID]:
    """A client with a catalog, and a session with one living-room scene, analysed and matched."""
    client = factories.create_client()
    scope = factories.member_scope(client.id)
    sofa_catalog(tmp_path, scope, products_count)
    session = sessions.create_session(scope, client_id=client.id, name="Autumn")
    added = sessions.add_scenes(
        scope,
        session_id=session.id,
        files=[("living.jpg", factories.scene_photo())],
        room_type="Living Room",
    )
    assert added.failed == []
    analysis.match_session(scope, session_id=session.id)
    return scope, session.id


def rows_of_flow(flow_id: uuid.UUID) -> list[GeneratedImage]:
    with backends.current().transaction() as db:
        rows = db.query(GeneratedImage).filter(GeneratedImage.flow_id == flow_id).all()
        db.expunge_all()
    return rows


def image_calls(server: GeminiStandIn) -> list[RecordedRequest]:
    """The interactive image calls (not the lines of a batch)."""
    return [
        r
        for r in server.requests
        if r.action == "generateContent"
        and "IMAGE" in [str(m).upper() for m in r.generation_config.get("responseModalities", [])]
    ]


def run(scope: ClientScope, session_id: uuid.UUID, **settings: Any) -> list[GeneratedImage]:
    """Generate a flow over the session's products and wait for it; its rows."""
    from visualizer_core.schemas import FlowSettings
    from visualizer_core.services import generation

    flow = generation.generate(scope, session_id=session_id, settings=FlowSettings(**settings))
    counts = generation.wait_for_flows(scope, flow_ids=[flow.flow_id], timeout=120)
    assert counts["pending"] + counts["generating"] == 0, counts
    return rows_of_flow(flow.flow_id)


def judged(flow_id: uuid.UUID, timeout: float = 60) -> list[GeneratedImage]:
    """The flow's rows once no fidelity judgement of theirs is still to come (or the time is
    up): the judgements are tasks of their own, that follow the images."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        rows = rows_of_flow(flow_id)
        waiting = [r for r in rows if "fidelity_queued_at" in (r.timings or {})]
        if not waiting or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)
