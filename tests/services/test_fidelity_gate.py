"""The fidelity gate in the pipeline, on both backend sets: every image measured and the
measurement kept, auto-approve per client (by rule, a spot check drawn, undone in one step),
and a client's own review decisions moving its threshold."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests import factories
from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.models import GeneratedImage
from visualizer_core.errors import Forbidden
from visualizer_core.fidelity import MIN_DECISIONS
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.services import analysis, clients, generation, review

CATALOG = (
    ("SOFA-G", "Linen Sofa", "sofa", "living_room", (90, 60, 60)),
    ("BED-G", "Haven Bed", "bed", "bedroom", (150, 120, 160)),
    ("DESK-G", "Writing Desk", "desk", "home_office", (120, 85, 60)),
)


def _world(variants: int = 2) -> dict[str, Any]:
    client = factories.create_client(daily_quota=500)
    session = factories.create_session(client.id)
    products = factories.import_catalog(client.id, CATALOG)
    factories.add_rooms(session.id)
    analysis.match_session(ADMIN, session_id=session.id)
    owner = clients.create_user(
        ADMIN, email=f"o-{uuid.uuid4().hex[:6]}@x.test", client_id=client.id, role="owner"
    )
    return {
        "client": client,
        "session": session,
        "products": products,
        "owner": ClientScope(client_id=client.id, role=Role.OWNER, user_id=owner.id),
        "editor": ClientScope(client_id=client.id, role=Role.EDITOR),
        "variants": variants,
    }


def _generate(world: dict[str, Any]) -> list[GeneratedImage]:
    flow = generation.generate(
        world["owner"],
        session_id=world["session"].id,
        settings=FlowSettings(variants=world["variants"]),
    )
    counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=180)
    assert counts["completed"] == len(flow.image_ids), counts
    with backends.current().transaction() as db:
        rows = list(repo.images_of_flow(db, flow.flow_id))
        db.expunge_all()
    return rows


def test_every_image_is_measured_and_the_compositor_reports_its_exact_pixels(
    backend: backends.Backends,
) -> None:
    world = _world(variants=1)
    rows = _generate(world)
    for row in rows:
        fidelity = row.fidelity or {}
        assert fidelity["found"] is True and fidelity["method"] == "box"
        assert {"delta_e", "outline_iou", "structure"} <= set(fidelity["signals"])
        assert fidelity["reasons"] and len(fidelity["outline"]) >= 4
        assert row.fidelity_score == fidelity["score"]
        # The embedded compositor places the photo's own pixels: reported as composited.
        assert row.product_pixels == "composited"
        assert "compositor placed the product photo's own pixels" in (row.product_pixels_note or "")
    queue = review.review_queue(world["editor"], session_id=world["session"].id)
    assert all(item.reasons and item.signals for item in queue.items)  # what review shows


def _teach(backend: backends.Backends, world: dict[str, Any], made: list[GeneratedImage]) -> None:
    factories.team_decisions(backend, world["client"].id, made)


def test_auto_approve_at_generation_approves_by_rule_samples_and_undoes(
    backend: backends.Backends,
) -> None:
    world = _world(variants=2)
    owner, sid = world["owner"], world["session"].id
    with pytest.raises(Forbidden):  # an owner's setting
        clients.set_auto_approve(world["editor"], client_id=world["client"].id, enabled=True)
    assert clients.fidelity_gate(owner, client_id=world["client"].id).auto_approve is False
    earlier = _generate(world)  # nothing approved: auto-approve is off by default
    assert review.review_queue(owner, session_id=sid).reviewed == 0
    _teach(backend, world, earlier)
    gate = clients.fidelity_gate(owner, client_id=world["client"].id)
    assert gate.source == "client" and gate.threshold < 1.0, gate.description
    assert clients.set_auto_approve(owner, client_id=world["client"].id, enabled=True)

    rows = _generate(world)
    trusted = {r.id for r in rows if (r.fidelity_score or 0) >= gate.threshold}
    assert trusted, ([r.fidelity_score for r in rows], gate.threshold)
    queue = review.review_queue(owner, session_id=sid)
    by_rule = {i.id for i in queue.by_rule()}
    assert by_rule == trusted
    assert all(i.decided_by == "rule" for i in queue.by_rule())  # not a person's approval
    assert 1 <= len(queue.spot_checks()) <= len(by_rule)  # drawn for a look, shown first
    assert queue.items[0].group == "spotcheck"
    assert queue.reviewed == len(by_rule)

    assert review.undo_rule(owner, session_id=sid) == len(by_rule)  # one step
    after = review.review_queue(owner, session_id=sid)
    assert after.by_rule() == [] and after.reviewed == 0
    assert all(i.review_state == "none" and i.decided_by is None for i in after.items)

    # In review, the same rule by a person's click: everything the gate trusts, by rule.
    run = review.approve_trusted(world["editor"], session_id=sid)
    assert set(run.approved) == {
        r.id for r in [*earlier, *rows] if (r.fidelity_score or 0) >= gate.threshold
    }
    assert run.spot_checks and set(run.spot_checks) <= set(run.approved)
    assert review.undo_rule(world["editor"], session_id=sid, batch=run.batch) == run.count


def test_a_clients_decisions_move_its_threshold(backend: backends.Backends) -> None:
    world = _world(variants=1)
    owner, cid = world["owner"], world["client"].id
    shipped = clients.fidelity_gate(owner, client_id=cid)
    assert shipped.source == "shipped" and "labelled" in shipped.description
    made = _generate(world)
    _teach(backend, world, made)
    moved = clients.fidelity_gate(owner, client_id=cid)
    assert moved.source == "client" and moved.decisions == MIN_DECISIONS + 10
    assert moved.threshold != shipped.threshold
    assert f"({MIN_DECISIONS + 10} decisions)" in moved.description
    assert "your team judged" in moved.description
