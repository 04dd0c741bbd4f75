"""Economy mode cannot pay twice: several polls, failed lines, lines without a key, a failed
download, two sweeps at once, a refused submission; on both backends, through the real SDK."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import gemini_flows as flows
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core import admin, backends
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL
from visualizer_core.ai.usage import BATCH_PRICE_FACTOR, records_of
from visualizer_core.db.models import GeneratedImage
from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN, ClientScope
from visualizer_core.services import clients, economy, generation, jobs


@pytest.fixture
def gemini(backend: backends.Backends, gemini_server: GeminiStandIn) -> Iterator[backends.Backends]:
    """Both backend sets with Gemini; retries quick, leases short (so tests take seconds)."""
    yield from flows.gemini_backends(
        backend,
        gemini_server,
        visualizer_retry_base_s=0.01,
        visualizer_retry_max_s=0.05,
        visualizer_heartbeat_s=0.5,
    )


def _economy_flow(
    tmp_path: Path, server: GeminiStandIn, products: int
) -> tuple[ClientScope, uuid.UUID]:
    scope, session_id = flows.prepared_session(tmp_path, products_count=products)
    # every image judged (the default, "uncertain", judges only the scores near the threshold)
    clients.set_fidelity_check(ADMIN, client_id=scope.client_id, mode="all")
    server.reset()
    flow = generation.generate(scope, session_id=session_id, settings=FlowSettings(economy=True))
    return scope, flow.flow_id


def _rows(flow_id: uuid.UUID) -> list[GeneratedImage]:
    return flows.rows_of_flow(flow_id)


def _judgements(server: GeminiStandIn) -> int:
    return sum(
        1
        for r in server.requests
        if r.action == "generateContent" and r not in flows.image_calls(server)
    )


def _batch_records(row: GeneratedImage) -> list:
    return [r for r in records_of(row.usage) if r.kind == "batch"]


def test_a_batch_that_takes_several_polls(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    gemini_server.batch_polls = 3
    _scope, flow_id = _economy_flow(tmp_path, gemini_server, products=3)
    for _ in range(3):
        polled = economy.poll_economy(ADMIN)
        assert polled["jobs"] == 1 and polled["completed"] == 0
        assert {r.status for r in _rows(flow_id)} == {"generating"}
    assert economy.poll_economy(ADMIN)["completed"] == 3
    rows = flows.judged(flow_id)  # the judgements are tasks of their own: their calls follow
    assert {r.status for r in rows} == {"completed"}
    assert flows.image_calls(gemini_server) == []  # nothing made at the standard price
    for row in rows:
        [line] = _batch_records(row)
        assert line.factor == BATCH_PRICE_FACTOR and line.cost_usd > 0 and line.ok
        kinds = sorted(r.kind.value for r in records_of(row.usage))
        assert kinds == ["batch", "judgement"]
        assert row.cost_usd == pytest.approx(sum(r.cost_usd for r in records_of(row.usage)))
    assert admin.spend(by="kind").set_index("kind").loc["batch", "calls"] == 3


def test_failed_lines_and_lines_without_key_go_into_a_new_batch(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    _scope, flow_id = _economy_flow(tmp_path, gemini_server, products=4)
    gemini_server.fail_next("503")  # line 1: a passing failure
    gemini_server.fail_next("400")  # line 2: refused for good
    gemini_server.drop_keys(1, after=2)  # line 3 comes back without its key
    economy.poll_economy(ADMIN)
    first = economy.poll_economy(ADMIN)
    assert (first["completed"], first["failed"], first["resubmitted"]) == (1, 1, 2)
    jobs = {r.job_id for r in _rows(flow_id) if r.status == "generating"}
    assert len(jobs) == 1  # the two rows are in a second job, at the batch price
    economy.poll_economy(ADMIN)
    assert economy.poll_economy(ADMIN)["completed"] == 2
    rows = _rows(flow_id)
    assert sorted(r.status for r in rows) == ["completed"] * 3 + ["error"]
    assert flows.image_calls(gemini_server) == []
    lines = [r for r in gemini_server.requests if r.action == "batchLine"]
    assert len(lines) == 6  # 4 in the first job, 2 in the second
    # Every line the provider answered is on some row's ledger, the unkeyed one included.
    assert sum(len(_batch_records(r)) for r in rows) == 6
    assert gemini_server.billing()[DEFAULT_IMAGE_MODEL]["batch_lines"] == 6


def test_a_failed_download_is_retried_never_made_again(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    _scope, flow_id = _economy_flow(tmp_path, gemini_server, products=2)
    economy.poll_economy(ADMIN)
    gemini_server.fail_next_download(50)  # every download of this poll fails
    polled = economy.poll_economy(ADMIN)
    assert polled["download_failed"] == 1 and polled["completed"] == 0
    assert {r.status for r in _rows(flow_id)} == {"generating"}
    # Recovery, even long after, never hands batch rows to the standard workers.
    generation.recover(ADMIN, stale_after_s=0.0, dispatch=False)
    assert {r.status for r in _rows(flow_id)} == {"generating"}
    gemini_server.fail_next_download(0)
    gemini_server._batch_faults["download"].clear()
    assert economy.poll_economy(ADMIN)["completed"] == 2
    assert flows.image_calls(gemini_server) == []


def test_two_sweeps_at_once_ingest_once(
    gemini: backends.Backends,
    gemini_server: GeminiStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from visualizer_core.ai.gemini_batch import GeminiBatch

    _scope, flow_id = _economy_flow(tmp_path, gemini_server, products=4)
    economy.poll_economy(ADMIN)
    gemini_server.latency_s = 0.2  # judgements take a while
    # The overlap is made, not hoped for: each sweep, having read the job as finished, waits
    # for the other to have read it too before either ingests anything.
    both_read: list[set[str]] = []
    barrier = threading.Barrier(
        2, action=lambda: both_read.append({r.status for r in _rows(flow_id)}), timeout=60
    )
    read_status = GeminiBatch.status

    def status_then_meet(self: GeminiBatch, name: str) -> Any:
        found = read_status(self, name)
        barrier.wait()
        return found

    monkeypatch.setattr(GeminiBatch, "status", status_then_meet)
    results: list[dict[str, int]] = []

    def sweep() -> None:
        backends.activate_for_thread(gemini)
        results.append(economy.poll_economy(ADMIN))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # Both sweeps held the finished job at once, before any of its images was ingested.
    assert both_read == [{"generating"}]
    assert len(results) == 2 and [r["jobs"] for r in results] == [1, 1]
    # One took the job's rows and ingested all four; the other found them held and left them.
    assert sorted((r["completed"], r["skipped"]) for r in results) == [(0, 1), (4, 0)]
    rows = flows.judged(flow_id)
    assert {r.status for r in rows} == {"completed"}
    for row in rows:
        assert len(_batch_records(row)) == 1
        assert [r.kind.value for r in records_of(row.usage)].count("judgement") == 1
    assert _judgements(gemini_server) == 4  # each image judged (and paid) once
    assert flows.image_calls(gemini_server) == []


def test_a_refused_submission_waits_for_a_decision(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=2)
    gemini_server.reset()
    gemini_server.fail_next_create("429")
    flow = generation.generate(scope, session_id=session_id, settings=FlowSettings(economy=True))
    status = economy.economy_status(scope, flow_id=flow.flow_id)
    assert status.state == "waiting_decision" and status.waiting == 2
    assert "429" in (status.message or "") and "full price" in (status.message or "")
    generation.recover(ADMIN, stale_after_s=0.0)  # nothing silently switched
    assert flows.image_calls(gemini_server) == []
    assert {r.status for r in _rows(flow.flow_id)} == {"generating"}

    assert admin.economy(flow.flow_id)["state"] == "waiting_decision"
    again = admin.economy(flow.flow_id, choose="retry")
    assert again["state"] == "submitted" and again["in_batch"] == 2
    economy.poll_economy(ADMIN)
    economy.poll_economy(ADMIN)
    assert economy.economy_status(scope, flow_id=flow.flow_id).state == "done"
    with pytest.raises(InvalidInput, match="no images"):
        economy.decide_economy(scope, flow_id=flow.flow_id, choice="full_price")


def test_full_price_when_a_person_chooses_it(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.reset()
    gemini_server.fail_next_create("429")
    flow = generation.generate(scope, session_id=session_id, settings=FlowSettings(economy=True))
    economy.decide_economy(scope, flow_id=flow.flow_id, choice="full_price")
    counts = generation.wait_for_flows(scope, flow_ids=[flow.flow_id], timeout=60)
    assert counts["completed"] == 1
    assert len(flows.image_calls(gemini_server)) == 1


def test_the_lease_is_renewed_while_a_long_ingest_runs(
    gemini: backends.Backends,
    gemini_server: GeminiStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An ingest longer than the lease: a later sweep finds the rows still held, not free."""
    _scope, flow_id = _economy_flow(tmp_path, gemini_server, products=4)
    economy.poll_economy(ADMIN)
    lease_s = gemini.settings.stale_after_s  # 3 s with a 0.5 s heartbeat
    keep = jobs.keep_result

    def slow_keep(*args: Any, **kwargs: Any) -> Any:  # slow storage: the fourth after the lease
        time.sleep(lease_s / 2)
        return keep(*args, **kwargs)

    monkeypatch.setattr(jobs, "keep_result", slow_keep)
    first: list[dict[str, int]] = []

    def sweep() -> None:
        backends.activate_for_thread(gemini)
        first.append(economy.poll_economy(ADMIN))

    thread = threading.Thread(target=sweep)
    thread.start()
    thread.join(timeout=lease_s * 1.3)  # past the lease, the first sweep still ingesting
    assert thread.is_alive()
    late = economy.poll_economy(ADMIN)
    thread.join(timeout=60)
    assert late["completed"] == 0 and late["skipped"] == 1
    assert first[0]["completed"] == 4
    flows.judged(flow_id)
    assert _judgements(gemini_server) == 4
    assert {r.status for r in _rows(flow_id)} == {"completed"}


@pytest.mark.parametrize("stops", ["after_create", "before_create"])
def test_a_submission_that_stopped_half_way_is_never_paid_twice(
    gemini: backends.Backends,
    gemini_server: GeminiStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stops: str,
) -> None:
    """The process stops around the create: the next poll takes the job if it was made, and
    submits the rows again only if it was not."""
    from visualizer_core.ai.gemini_batch import GeminiBatch

    scope, session_id = flows.prepared_session(tmp_path, products_count=2)
    gemini_server.reset()
    real = GeminiBatch.submit

    class Stopped(Exception):
        pass

    def dies(self: GeminiBatch, *args: object, **kwargs: object) -> str:
        if stops == "after_create":
            real(self, *args, **kwargs)  # type: ignore[arg-type]
        raise Stopped  # as if the process were killed here

    monkeypatch.setattr(GeminiBatch, "submit", dies)
    with pytest.raises(Stopped):
        generation.generate(scope, session_id=session_id, settings=FlowSettings(economy=True))
    monkeypatch.setattr(GeminiBatch, "submit", real)
    with backends.current().transaction() as db:
        [flow_id] = {
            r.flow_id
            for r in db.query(GeneratedImage).filter(GeneratedImage.studio_session_id == session_id)
        }
    assert {r.job_id for r in _rows(flow_id)} == {"gemini-batch:submitting"}
    generation.recover(ADMIN, stale_after_s=0.0, dispatch=False)  # never reset to pending
    assert {r.status for r in _rows(flow_id)} == {"generating"}
    made = gemini_server.batches_created()

    time.sleep(gemini.settings.stale_after_s + 0.2)  # the submitter's lease runs out
    economy.poll_economy(ADMIN)  # takes the job, or submits again
    economy.poll_economy(ADMIN)
    economy.poll_economy(ADMIN)
    rows = _rows(flow_id)
    assert {r.status for r in rows} == {"completed"}
    assert gemini_server.batches_created() == 1  # one job, whichever way it stopped
    assert made == (1 if stops == "after_create" else 0)
    assert flows.image_calls(gemini_server) == []


def test_economy_rows_left_pending_go_into_a_batch_not_to_the_workers(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    """A flow made without dispatching (``visualizer generate --economy`` without ``--wait``):
    the sweep submits it as a batch; the standard workers never make it at the full price."""
    scope, session_id = flows.prepared_session(tmp_path, products_count=2)
    gemini_server.reset()
    flow = generation.generate(
        scope, session_id=session_id, settings=FlowSettings(economy=True), dispatch=False
    )
    assert {r.status for r in _rows(flow.flow_id)} == {"pending"}
    generation.recover(ADMIN)  # the sweep: polls economy first, which submits the flow
    assert {r.status for r in _rows(flow.flow_id)} == {"generating"}
    assert gemini_server.batches_created() == 1
    economy.poll_economy(ADMIN)
    economy.poll_economy(ADMIN)
    assert {r.status for r in _rows(flow.flow_id)} == {"completed"}
    assert flows.image_calls(gemini_server) == []
