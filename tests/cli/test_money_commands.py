"""`visualizer spend` and `visualizer economy`: the ledger and economy decisions from a script."""

from __future__ import annotations

import uuid

import pytest

from tests.cli.helpers import ok_json, run
from visualizer_core.ai.usage import Pricing, Tokens
from visualizer_core.backends import Backends
from visualizer_core.db import ledger
from visualizer_core.db.models import Flow, GeneratedImage, Product, StudioSession
from visualizer_core.scope import ADMIN
from visualizer_core.services import clients
from visualizer_core.services._uow import unit_of_work


def _spent(client_id: uuid.UUID) -> tuple[uuid.UUID, float]:
    """A flow of two images with recorded calls; returns the flow and what it cost."""
    pricing = Pricing()
    with unit_of_work() as db:
        product = Product(client_id=client_id, sku="CLI-1", name="Cli sofa")
        session = StudioSession(client_id=client_id, name="Cli")
        db.add_all([product, session])
        db.flush()
        flow = Flow(client_id=client_id, studio_session_id=session.id, settings={}, webhook={})
        db.add(flow)
        db.flush()
        rows = [
            GeneratedImage(
                client_id=client_id,
                flow_id=flow.id,
                studio_session_id=session.id,
                product_id=product.id,
                status="completed",
                usage={},
                timings={},
            )
            for _ in range(2)
        ]
        db.add_all(rows)
        db.flush()
        total = 0.0
        for row in rows:
            calls = [
                pricing.record(
                    "image", "gemini-nano-banana-2.1", Tokens(input_text=900, output_image=1120)
                ),
                pricing.record("judgement", "gemini-3.8-flash", Tokens(input_text=700)),
            ]
            total += ledger.add_image_calls(db, row.id, calls)
        return flow.id, total


def test_spend_and_economy_from_the_command(embedded: Backends) -> None:
    """(One backend: the commands only call admin.spend and admin.economy, tested on both.)"""
    backend = embedded
    client = clients.create_client(ADMIN, name="Cli Brand")
    flow_id, total = _spent(client.id)
    by_kind = ok_json(backend, "spend", "--by", "kind", "--client", str(client.id))
    assert by_kind["calls"] == 4 and by_kind["cost_usd"] == pytest.approx(total, abs=1e-6)
    assert {row["kind"]: row["calls"] for row in by_kind["rows"]} == {"image": 2, "judgement": 2}
    state = ok_json(backend, "economy", "--flow", str(flow_id))
    assert state["state"] == "none" and state["waiting"] == 0
    refused = run(backend, "economy", "--flow", str(flow_id), "--choose", "full_price")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: no images of this flow wait for a decision"
    wrong = run(backend, "spend", "--by", "week")
    assert wrong.returncode == 1 and "group by one of" in wrong.stderr
