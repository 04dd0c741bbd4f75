"""The spend ledger against the provider's own count: every call, every token, every cent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import factories
from tests import gemini_flows as flows
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core import admin, backends
from visualizer_core.ai import usage
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
from visualizer_core.db import ledger, repo
from visualizer_core.errors import Forbidden, InvalidInput
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import estimates, generation, jobs, spend

# The prices in effect in these tests, USD per million tokens, as the test configures them
# (GEMINI_PRICES): the expected bill below is this table times the stand-in's own token counts,
# worked out here by hand, never by the project's price code.
PER_MILLION = {
    DEFAULT_IMAGE_MODEL: {"input": 2.0, "output": 10.0, "image_output": 40.0},
    DEFAULT_TEXT_MODEL: {"input": 0.25, "output": 1.5},
}


@pytest.fixture
def gemini_fast_retries(
    backend: backends.Backends, gemini_server: GeminiStandIn
) -> Iterator[backends.Backends]:
    """Both backend sets with Gemini, retrying quickly (so a faulty run takes seconds)."""
    yield from flows.gemini_backends(
        backend,
        gemini_server,
        visualizer_max_attempts=8,
        visualizer_retry_base_s=0.01,
        visualizer_retry_max_s=0.05,
        gemini_timeout_s=5.0,
        gemini_prices=PER_MILLION,
    )


def _bill_usd(billed: dict[str, dict[str, int]]) -> float:
    """What the stand-in's own token counts cost at :data:`PER_MILLION`: prompt tokens at the
    input rate, text and thinking output at the output rate, image output at the image rate."""
    total = 0.0
    for model, counts in billed.items():
        rate = PER_MILLION[model]
        text_out = counts["candidates"] - counts["image_output"] + counts["thoughts"]
        usd_micro = (
            counts["prompt"] * rate["input"]
            + text_out * rate["output"]
            + counts["image_output"] * rate.get("image_output", rate["output"])
        )
        total += usd_micro / 1_000_000
    return total


def test_the_ledger_is_the_providers_count_after_faults_and_retries(
    gemini_fast_retries: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    gemini_server.fail_rate("503", 0.15, seed=7)
    gemini_server.fail_rate("no_image", 0.05, seed=11)
    scope, session_id = flows.prepared_session(tmp_path, products_count=4)
    flow = generation.generate(scope, session_id=session_id, settings=FlowSettings(variants=2))
    counts = generation.wait_for_flows(scope, flow_ids=[flow.flow_id], timeout=120)
    assert counts["pending"] + counts["generating"] == 0, counts
    flows.judged(flow.flow_id)  # the judgements follow the images, as tasks of their own

    billed = gemini_server.billing()
    failed_calls = [
        r
        for r in gemini_server.requests
        if r.action == "generateContent" and (r.status != 200 or r.fault == "no_image")
    ]
    assert failed_calls, "the run met no fault: the test would prove nothing"
    by_model = admin.spend(by="model").set_index("model")
    assert set(by_model.index) == set(billed)
    for model, theirs in billed.items():
        mine = by_model.loc[model]
        assert mine["calls"] == theirs["calls"], model
        assert mine["input_tokens"] == theirs["prompt"], model
        assert mine["output_tokens"] == theirs["candidates"], model
        assert mine["thinking_tokens"] == theirs["thoughts"], model
    total = by_model["cost_usd"].sum()
    expected = _bill_usd(billed)
    assert expected > 0.0
    # Two-sided: neither more nor less than the provider's bill (each recorded call is rounded
    # to 1e-10 USD, so the sum may differ by that much per call, no more).
    assert abs(total - expected) <= 1e-10 * len(admin.calls())
    assert by_model["failed"].sum() == len(failed_calls)

    # Every grouping is the same bill; the images' share is what generations() says.
    for by in ("client", "day", "kind", "session"):
        assert admin.spend(by=by)["cost_usd"].sum() == pytest.approx(total)
    kinds = admin.spend(by="kind").set_index("kind")
    images_share = kinds["cost_usd"].sum() - kinds.loc["analysis", "cost_usd"]
    assert admin.generations()["cost_usd"].sum() == pytest.approx(images_share)
    assert len(admin.calls()) == sum(c["calls"] for c in billed.values())


def test_a_member_sees_only_their_clients_spend(
    gemini_fast_retries: backends.Backends, tmp_path: Path
) -> None:
    editor, _ = flows.prepared_session(tmp_path, products_count=1)
    other, _ = flows.prepared_session(tmp_path / "other", products_count=1)
    scope = factories.member_scope(editor.client_id, "owner")
    rows = spend.spend(scope, by="client")
    assert [r.key for r in rows] == [str(scope.client_id)]
    assert rows[0].calls > 0 and rows[0].kinds.get("analysis", 0) > 0
    everyone = spend.spend(ADMIN, by="client")
    assert {r.key for r in everyone} >= {str(scope.client_id), str(other.client_id)}
    with pytest.raises(InvalidInput, match="group by one of"):
        spend.spend(scope, by="week")
    with pytest.raises(Forbidden):
        spend.spend(editor)  # spend is the owners' (and the admin's)


def test_the_estimate_before_generate_is_the_recorded_average(
    gemini_fast_retries: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    editor, session_id = flows.prepared_session(tmp_path, products_count=2)
    before = estimates.estimate_generation(editor, client_id=editor.client_id, products=1)
    gemini_server.fail_next("no_image")  # one image costs a refused attempt more
    flow = generation.generate(editor, session_id=session_id)
    generation.wait_for_flows(editor, flow_ids=[flow.flow_id], timeout=120)
    rows = flows.judged(flow.flow_id)  # the judgements follow the images
    assert {r.status for r in rows} == {"completed"}
    recorded = sum(r.cost_usd or 0.0 for r in rows) / len(rows)
    after = estimates.estimate_generation(editor, client_id=editor.client_id, products=10)
    assert after.cost_usd == pytest.approx(10 * recorded)
    assert after.cost_usd != pytest.approx(10 * before.cost_usd)  # history replaced the guess
    economy_guess = estimates.estimate_generation(
        editor, client_id=editor.client_id, products=1, settings=FlowSettings(economy=True)
    )
    assert economy_guess.cost_usd < recorded  # no economy history: the batch price, guessed


def test_a_run_stopped_after_the_answer_keeps_the_paid_call_on_the_ledger(
    gemini_fast_retries: backends.Backends,
    gemini_server: GeminiStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker killed between the provider's answer and the stored picture: the call was
    paid for, so it is on the image's ledger before anything else happens."""
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    flow = generation.generate(scope, session_id=session_id, dispatch=False)

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")  # to the code after the call, a kill is a stop: no handler

    monkeypatch.setattr(jobs, "keep_result", killed)
    with pytest.raises(SystemExit):
        generation.process_image(flow.image_ids[0], worker_id="doomed")

    billed = {k: v for k, v in gemini_server.billing().items() if k == DEFAULT_IMAGE_MODEL}
    (row,) = flows.rows_of_flow(flow.flow_id)
    assert row.status == "generating"  # the sweep resets it once its heartbeat stops
    assert len(usage.records_of(row.usage)) == billed[DEFAULT_IMAGE_MODEL]["calls"] == 1
    assert abs((row.cost_usd or 0.0) - _bill_usd(billed)) <= 1e-10 and row.cost_usd


def test_cost_per_approved_image_against_a_hand_computed_ledger(
    backend: backends.Backends, tmp_path: Path
) -> None:
    """Eight finished images: four paid (Gemini) and four offline. The figures are worked out
    by hand below, not by the code under test."""
    client = factories.create_client(daily_quota=100)
    owner = factories.member_scope(client.id, "owner")
    session = factories.create_session(client.id)
    factories.import_catalog(client.id)
    factories.add_rooms(session.id)
    flow = generation.generate(owner, session_id=session.id, settings=FlowSettings(variants=2))
    generation.wait_for_flows(owner, flow_ids=[flow.flow_id], timeout=120)
    g1, g2, g3, g4, o1, o2, o3, _o4 = flow.image_ids  # o4 stays undecided

    def call(cost: float, ok: bool = True) -> usage.CallRecord:
        return usage.CallRecord(kind="image", model=DEFAULT_IMAGE_MODEL, cost_usd=cost, ok=ok)

    with backend.transaction() as db:
        for image_id in (g1, g2, g3, g4):  # made with Gemini: the row names its model
            repo.update_images(db, [image_id], model=DEFAULT_IMAGE_MODEL)
        ledger.add_image_calls(db, g1, [call(0.04)])
        ledger.add_image_calls(db, g2, [call(0.01, ok=False), call(0.04)])  # refused, then made
        ledger.add_image_calls(db, g3, [call(0.04)])  # rejected below
        ledger.add_image_calls(db, g4, [call(0.01, ok=False), call(0.01, ok=False)])
        repo.update_images(db, [g4], status="error", error_message="refused twice")
        repo.update_images(db, [g1, g2, o1, o2, o3], review_state="approved")
        repo.update_images(db, [g3], review_state="rejected")

    rows = {r.backend: r for r in spend.cost_per_approved(owner, client_id=client.id)}
    # Gemini: 0.04 + (0.01 + 0.04) + 0.04 + (0.01 + 0.01) = 0.15 for 2 approved: 0.075 each.
    gemini = rows["gemini"]
    assert (gemini.model, gemini.images, gemini.approved) == (DEFAULT_IMAGE_MODEL, 4, 2)
    assert gemini.cost_usd == pytest.approx(0.15)
    assert gemini.cost_per_approved_usd == pytest.approx(0.075)
    # Offline: 4 images, 3 approved, nothing spent.
    offline = rows["offline"]
    assert (offline.images, offline.approved, offline.cost_usd) == (4, 3, 0.0)
    assert offline.cost_per_approved_usd == 0.0
    # The headline: paid spend over the approvals it made (not 0.15 / 5 = 0.03).
    assert spend.paid_cost_per_approved(list(rows.values())) == pytest.approx(0.075)
    assert sum(r.approved for r in rows.values()) == 5  # approvals on both backends
    with pytest.raises(Forbidden):
        spend.cost_per_approved(factories.member_scope(client.id, "editor"), client_id=client.id)
