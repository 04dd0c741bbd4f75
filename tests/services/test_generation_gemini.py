"""A whole flow on the Gemini backend: the real google-genai SDK against the stand-in server.

Settings are made the way a user makes them (``GEMINI_API_KEY`` and ``GEMINI_BASE_URL``, through
``load_settings``) and the backends are built from them with ``backends.build``; the services
create the client, products, session and scenes, analyse and match, generate, and the
in-process queue's worker threads make the images.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import gemini_flows as flows
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core import backends
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL, Price
from visualizer_core.ai.usage import BATCH_PRICE_FACTOR, Pricing, records_of
from visualizer_core.db.models import GeneratedImage, ProductImage
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import clients, economy, generation, sessions


@pytest.fixture
def gemini(backend: backends.Backends, gemini_server: GeminiStandIn) -> Iterator[backends.Backends]:
    """Both backend sets (embedded; PostgreSQL with S3), with GEMINI_* set."""
    yield from flows.gemini_backends(backend, gemini_server)


@pytest.fixture
def gemini_one_worker(
    embedded: backends.Backends, gemini_server: GeminiStandIn
) -> Iterator[backends.Backends]:
    """The embedded set with GEMINI_* set and one worker thread, so faults meet calls in order."""
    yield from flows.gemini_backends(
        embedded, gemini_server, visualizer_workers=1, gemini_timeout_s=3.0
    )


def test_a_flow_sends_product_and_scene_in_every_call_and_keeps_lineage(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=3)
    clients.set_fidelity_check(ADMIN, client_id=scope.client_id, mode="all")
    analysed = list(gemini_server.requests)
    assert analysed and {r.model for r in analysed} == {DEFAULT_TEXT_MODEL}
    gemini_server.reset()

    rows = flows.run(scope, session_id, variants=2, aspect_ratio="4:3")

    assert [r.status for r in rows] == ["completed"] * 6, [r.error_message for r in rows]
    rows = flows.judged(rows[0].flow_id)  # the judgements are tasks of their own: they follow
    calls = flows.image_calls(gemini_server)
    assert len(calls) == 6
    assert len([r for r in gemini_server.requests if r.model == DEFAULT_TEXT_MODEL]) == 6
    session = sessions.get_session(scope, session_id=session_id)
    [scene] = session.scenes
    scene_bytes = gemini.storage.get(scene.key)
    with gemini.transaction() as db:
        base_keys = {p.base_key for p in db.query(ProductImage).all()}
    product_pngs = {gemini.storage.get(key) for key in base_keys}
    for call in calls:
        assert call.model == DEFAULT_IMAGE_MODEL and call.key_ok
        assert call.image_mime_types == ["image/png", "image/jpeg"]
        product_sent, scene_sent = (data for _mime, data in call.images)
        assert product_sent in product_pngs
        assert scene_sent == scene_bytes
        assert call.generation_config["imageConfig"]["aspectRatio"] == "4:3"
    # Every product went out, each with its own picture.
    assert {call.images[0][1] for call in calls} == product_pngs

    prices = {DEFAULT_IMAGE_MODEL: Price(**flows.CUSTOM_PRICE)}
    for row in rows:
        assert row.model == DEFAULT_IMAGE_MODEL
        assert row.prompt and row.prompt_version
        assert row.prompt in {call.prompt for call in calls}
        image, judgement = records_of(row.usage)  # the ledger: one call each
        assert (image.kind, judgement.kind) == ("image", "judgement")
        assert image.tokens.input > 0 and image.tokens.output_image == 1120  # a 1K image
        assert image.price["image_output"] == flows.CUSTOM_PRICE["image_output"]
        assert image.cost_usd == pytest.approx(
            Pricing(prices).cost(DEFAULT_IMAGE_MODEL, image.tokens)
        )
        assert row.cost_usd == pytest.approx(image.cost_usd + judgement.cost_usd)
        assert row.attempts == 1
        assert row.image_key and gemini.storage.get(row.image_key)[:3] == b"\xff\xd8\xff"
        assert row.product_image_id is not None and row.scene_id == scene.id
        assert row.fidelity_score is not None and 0.0 <= row.fidelity_score <= 1.0
        assert {"ai_s", "total_s"} <= set(row.timings)


def test_a_rate_limit_is_waited_out_as_the_api_asks(
    gemini_one_worker: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.reset()
    gemini_server.fail_next("429", retry_delay="1.5s", model=DEFAULT_IMAGE_MODEL)

    [row] = flows.run(scope, session_id)

    assert row.status == "completed"
    assert row.attempts == 2
    first, second = flows.image_calls(gemini_server)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.5  # the RetryInfo delay, spent in the queue


@pytest.mark.parametrize("kind", ["500", "503", "timeout"])
def test_server_errors_and_timeouts_are_retried(
    gemini_one_worker: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path, kind: str
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.reset()
    gemini_server.fail_next(kind, sleep_s=60.0, model=DEFAULT_IMAGE_MODEL)

    [row] = flows.run(scope, session_id)

    assert row.status == "completed", row.error_message
    assert row.attempts == 2
    first, second = flows.image_calls(gemini_server)
    assert first.generation_config["seed"] != second.generation_config["seed"]  # a new draw


def test_a_bad_request_is_not_retried(
    gemini_one_worker: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.reset()
    gemini_server.fail_next("400", model=DEFAULT_IMAGE_MODEL)

    [row] = flows.run(scope, session_id)

    assert row.status == "error"
    assert "Gemini answered 400 INVALID_ARGUMENT" in (row.error_message or "")
    assert row.attempts == 1
    assert len(flows.image_calls(gemini_server)) == 1


@pytest.mark.parametrize(
    ("kind", "options", "named"),
    [
        ("blocked", {"block_reason": "PROHIBITED_CONTENT"}, "block reason PROHIBITED_CONTENT"),
        ("no_image", {"finish_reason": "IMAGE_SAFETY"}, "finish reason IMAGE_SAFETY"),
    ],
)
def test_a_refusal_is_asked_once_more_then_explained(
    gemini_one_worker: backends.Backends,
    gemini_server: GeminiStandIn,
    tmp_path: Path,
    kind: str,
    options: dict[str, str],
    named: str,
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.reset()
    gemini_server.fail_next(kind, count=2, model=DEFAULT_IMAGE_MODEL, **options)

    [row] = flows.run(scope, session_id)

    assert row.status == "error"
    message = row.error_message or ""
    assert named in message
    assert "change the extra prompt text, the product photo or the scene" in message
    assert len(flows.image_calls(gemini_server)) == 2  # once more, and no further


def test_a_refusal_then_an_image_completes(
    gemini_one_worker: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.reset()
    gemini_server.fail_next("no_image", model=DEFAULT_IMAGE_MODEL)

    [row] = flows.run(scope, session_id)

    assert row.status == "completed"
    assert row.attempts == 2  # the answer without an image counts as an attempt
    assert len(flows.image_calls(gemini_server)) == 2


# -- bulk economy mode -------------------------------------------------------------------------


def test_an_economy_flow_goes_through_the_batch_api(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=3)
    gemini_server.reset()
    gemini_server.fail_next("400")  # one row the batch refuses: a permanent failure
    gemini_server.fail_next("503")  # one row that failed in passing: into a new batch

    flow = generation.generate(
        scope, session_id=session_id, settings=FlowSettings(variants=2, economy=True)
    )
    rows = flows.rows_of_flow(flow.flow_id)
    assert {r.status for r in rows} == {"generating"}
    [job] = {r.job_id for r in rows}
    assert job and job.startswith(economy.JOB_PREFIX)
    assert flows.image_calls(gemini_server) == []  # nothing interactive: all went into the file

    assert economy.poll_economy(ADMIN)["completed"] == 0  # still running
    polled = economy.poll_economy(ADMIN)
    assert (polled["completed"], polled["failed"], polled["resubmitted"]) == (4, 1, 1)
    economy.poll_economy(ADMIN)
    assert economy.poll_economy(ADMIN)["completed"] == 1  # the second job, same price
    counts = generation.wait_for_flows(scope, flow_ids=[flow.flow_id], timeout=60)
    assert (counts["completed"], counts["error"]) == (5, 1)

    lines = [r for r in gemini_server.requests if r.action == "batchLine"]
    assert len(lines) == 7
    assert all(line.image_mime_types == ["image/png", "image/jpeg"] for line in lines)
    assert flows.image_calls(gemini_server) == []  # never made at the standard price
    prices = Pricing({DEFAULT_IMAGE_MODEL: Price(**flows.CUSTOM_PRICE)})
    by_status: dict[str, list[GeneratedImage]] = {}
    for row in flows.judged(flow.flow_id):
        by_status.setdefault(row.status, []).append(row)
    [refused] = by_status["error"]
    assert "Gemini answered 400" in (refused.error_message or "")
    batched = by_status["completed"]
    assert len(batched) == 5
    for row in batched:
        calls = records_of(row.usage)
        lines_paid = [c for c in calls if c.kind == "batch" and c.ok]
        [made] = lines_paid
        assert made.cost_usd == pytest.approx(
            prices.cost(DEFAULT_IMAGE_MODEL, made.tokens) * BATCH_PRICE_FACTOR
        )
        assert row.cost_usd == pytest.approx(sum(c.cost_usd for c in calls))
        assert row.prompt and row.prompt_version and row.model == DEFAULT_IMAGE_MODEL
        assert row.fidelity_score is not None
        assert row.image_key and gemini.storage.get(row.image_key)[:3] == b"\xff\xd8\xff"


def test_the_recovery_sweep_polls_and_ingests_economy_jobs(
    gemini_one_worker: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    flow = generation.generate(scope, session_id=session_id, settings=FlowSettings(economy=True))
    generation.recover(ADMIN)  # the job is running
    assert [r.status for r in flows.rows_of_flow(flow.flow_id)] == ["generating"]
    generation.recover(ADMIN)  # the job is done: its row is ingested
    [row] = flows.rows_of_flow(flow.flow_id)
    assert row.status == "completed" and (row.job_id or "").startswith(economy.JOB_PREFIX)


@pytest.mark.usefixtures("embedded")
def test_economy_on_the_local_backend_is_generated_as_usual(tmp_path: Path) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    assert not economy.economy_available()
    flow = generation.generate(scope, session_id=session_id, settings=FlowSettings(economy=True))
    generation.wait_for_flows(scope, flow_ids=[flow.flow_id], timeout=60)
    [row] = flows.rows_of_flow(flow.flow_id)
    assert row.status == "completed" and not (row.job_id or "").startswith(economy.JOB_PREFIX)
