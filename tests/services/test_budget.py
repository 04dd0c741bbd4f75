"""A client's monthly budget in USD, held against the spend ledger: a request the budget cannot
take is refused before anything is written, on both backend sets."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import factories
from tests import gemini_flows as flows
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core import admin, backends
from visualizer_core.ai.usage import Pricing, Tokens
from visualizer_core.db import ledger, repo
from visualizer_core.errors import BudgetExceeded, InvalidInput
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import budgets, generation, plans, products, sessions


def _spent(product_id: uuid.UUID, usd: float, at: dt.datetime | None = None) -> None:
    """An analysis call of ``usd`` on the product's ledger (the free local backend spends
    nothing, so the spend is written as a paid call would write it)."""
    record = Pricing().record("analysis", "gemini-3.8-flash", Tokens(input_text=1))
    record.cost_usd = usd
    if at is not None:
        record.at = at
    with backends.current().transaction() as db:
        ledger.add_product_calls(db, product_id, [record])


def test_a_client_over_its_monthly_budget_is_refused_before_anything_is_written(
    backend: backends.Backends,
) -> None:
    client = factories.create_client(daily_quota=100)
    owner = factories.member_scope(client.id, "owner")
    session = factories.create_session(client.id)
    catalog = factories.import_catalog(client.id)
    factories.add_rooms(session.id)
    first = next(iter(catalog.values()))
    last_month = dt.datetime.now(dt.UTC).replace(day=1) - dt.timedelta(days=3)
    _spent(first, 40.0, at=last_month)  # last month's spend is not this month's
    _spent(first, 7.5)
    _spent(first, 2.5)

    budgets.set_monthly_budget(ADMIN, client_id=client.id, monthly_budget_usd=9.99)
    budget = budgets.monthly_budget(owner, client_id=client.id)
    assert (budget.monthly_budget_usd, budget.spent_usd, budget.left_usd) == (9.99, 10.0, 0.0)
    assert budget.spent_usd == pytest.approx(
        admin.spend(since=dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0))
        .set_index("client_id")
        .loc[str(client.id), "cost_usd"]
    )
    with pytest.raises(BudgetExceeded, match=r"monthly budget of USD 9\.99 .*USD 10\.00 spent"):
        generation.generate(owner, session_id=session.id)
    assert sessions.session_status(ADMIN, session_id=session.id)["total"] == 0
    with backend.transaction() as db:
        assert list(repo.flows_of(db, session.id)) == []

    assert budgets.set_monthly_budget(
        ADMIN, client_id=client.id, monthly_budget_usd=10.0
    ).monthly_budget_usd == pytest.approx(10.0)
    made = generation.generate(owner, session_id=session.id, dispatch=False)  # local: free
    assert len(made.image_ids) == len(catalog)
    assert (
        budgets.set_monthly_budget(
            ADMIN, client_id=client.id, monthly_budget_usd=None
        ).monthly_budget_usd
        is None
    )
    assert budgets.monthly_budget(owner, client_id=client.id).left_usd is None
    with pytest.raises(InvalidInput, match="0 or more"):
        budgets.set_monthly_budget(ADMIN, client_id=client.id, monthly_budget_usd=-1)
    assert admin.set_monthly_budget(client.id, 12.5) == 12.5


@pytest.fixture
def gemini(backend: backends.Backends, gemini_server: GeminiStandIn) -> Iterator[None]:
    """Both backend sets with Gemini (the stand-in) making and pricing the images."""
    for _ in flows.gemini_backends(backend, gemini_server, visualizer_judgement_workers=0):
        yield


def test_the_estimate_of_a_request_and_of_queued_images_counts_against_the_budget(
    gemini: None, tmp_path: Path
) -> None:
    """One paid image made; the budget then leaves room for one more, so two are refused,
    one is taken, and while it is queued another one is refused too."""
    scope, session_id = flows.prepared_session(tmp_path, products_count=2)
    product_ids = [p.id for p in products.list_products(scope, client_id=scope.client_id)]
    made = generation.generate(scope, session_id=session_id, product_ids=product_ids[:1])
    generation.wait_for_flows(scope, flow_ids=[made.flow_id], timeout=120)
    owner = factories.member_scope(scope.client_id, "owner")
    spent = budgets.monthly_budget(owner, client_id=scope.client_id).spent_usd
    (row,) = flows.rows_of_flow(made.flow_id)
    assert row.status == "completed"
    assert spent == pytest.approx(admin.calls(client_id=scope.client_id)["cost_usd"].sum())
    assert spent > 0
    per_image = row.cost_usd  # the estimate is the recorded mean: this one image
    budgets.set_monthly_budget(
        ADMIN, client_id=scope.client_id, monthly_budget_usd=spent + 1.5 * per_image
    )
    with pytest.raises(BudgetExceeded, match=r"these 2 images are estimated at USD"):
        generation.generate(scope, session_id=session_id, product_ids=product_ids)
    queued = generation.generate(
        scope, session_id=session_id, product_ids=product_ids[1:], dispatch=False
    )
    budget = budgets.monthly_budget(owner, client_id=scope.client_id)
    assert budget.queued_usd == pytest.approx(per_image)
    with pytest.raises(BudgetExceeded, match=r"queued\); these 1 images"):
        generation.generate(scope, session_id=session_id, product_ids=product_ids[:1])
    with backends.current().transaction() as db:
        assert len(list(repo.flows_of(db, session_id))) == 2  # the refused wrote nothing
    assert len(queued.image_ids) == 1


def test_a_plan_over_the_budget_is_refused_whole(backend: backends.Backends) -> None:
    client = factories.create_client(daily_quota=100)
    session = factories.create_session(client.id)
    catalog = factories.import_catalog(client.id)
    scenes = factories.add_rooms(session.id)
    _spent(next(iter(catalog.values())), 5.0)
    budgets.set_monthly_budget(ADMIN, client_id=client.id, monthly_budget_usd=4.0)
    scene = next(iter(scenes.values()))
    requests = [
        plans.FlowRequest(
            client_id=client.id,
            client_name=client.name,
            session_id=session.id,
            settings=FlowSettings(),
            name=f"part {n}",
            product_ids=[product],
            scenes={product: scene},
        )
        for n, product in enumerate(catalog.values())
    ]
    with pytest.raises(BudgetExceeded, match=r"monthly budget of USD 4\.00"):
        plans.start(ADMIN, requests=requests, dispatch=False)
    with backend.transaction() as db:
        assert list(repo.flows_of(db, session.id)) == []
