"""The demo on both backend sets: a client to sign in to, a drawn catalog and rooms, and results."""

from __future__ import annotations

import uuid

import pytest

from visualizer_core import backends
from visualizer_core.schemas import ProductAnalysis
from visualizer_core.scope import ADMIN
from visualizer_core.services import auth, gallery, generation, products, sessions
from visualizer_core.services.demo import DEMO_EMAIL, DEMO_PASSWORD, create_demo

pytestmark = pytest.mark.usefixtures("backend")


def test_the_demo_signs_in_and_its_first_generation_completes() -> None:
    demo = create_demo(ADMIN)
    assert demo["created"] is True
    assert (demo["email"], demo["password"]) == (DEMO_EMAIL, DEMO_PASSWORD)
    client_id = uuid.UUID(demo["client_id"])

    identity = auth.sign_in(demo["email"], demo["password"])
    assert [m.client_id for m in identity.memberships] == [client_id]
    member = auth.scope_for(identity, client_id)

    catalog = products.list_products(member)
    assert len(catalog) >= 8
    assert len({p.category for p in catalog}) >= 5
    session = sessions.get_session(member, session_id=demo["session_id"])
    assert len({s.room_type for s in session.scenes}) >= 3

    # Every product went to a room it belongs in.
    room_of_scene = {s.id: s.room_type for s in session.scenes}
    for product in catalog:
        analysis = ProductAnalysis.model_validate(product.analysis)
        scene_id = session.matches[str(product.id)].scene_id
        assert room_of_scene[scene_id] in analysis.room_types, product.name

    counts = generation.wait_for_flows(member, flow_ids=[demo["flow_id"]], timeout=180)
    assert counts["completed"] == counts["total"] == len(catalog)
    page = gallery.list_images(member, session_id=demo["session_id"], page_size=100)
    assert {c.status for c in page.cards} == {"completed"}
    thumbnail = gallery.image_bytes(member, image_id=page.cards[0].id)
    assert thumbnail.startswith(b"\xff\xd8")  # a JPEG a browser can show


def test_the_demo_is_made_once_and_its_pending_images_are_swept_up_by_a_worker() -> None:
    from visualizer_core.jobqueue import EmbeddedWorker
    from visualizer_core.services import TASKS

    first = create_demo(ADMIN, if_missing=True, dispatch=False)
    again = create_demo(ADMIN, if_missing=True, dispatch=False)
    assert again["created"] is False
    for key in ("client_id", "session_id", "flow_id", "email", "password"):
        assert again[key] == first[key], key
    status = sessions.session_status(ADMIN, session_id=first["session_id"])
    assert status["pending"] == status["total"] > 0  # the rows are the queue

    worker = EmbeddedWorker(backends.current(), threads=2, tasks=TASKS).start()
    try:
        counts = generation.wait_for_flows(ADMIN, flow_ids=[first["flow_id"]], timeout=180)
    finally:
        worker.stop()
    assert counts["completed"] == counts["total"] == status["total"]
