"""Generation on both backend sets: flows and their rows, the quota, the task, retries, recovery.

The AI is swapped, where a test needs failures, for small doubles that implement the
``AIBackend`` protocol and are given to :func:`backends.build`; nothing internal is patched.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import multiprocessing
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests import factories
from visualizer_core import backends
from visualizer_core.ai.base import GenerationRequest, GenerationResult, ProductFacts
from visualizer_core.ai.local import LocalAI
from visualizer_core.config import Settings
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Flow, GeneratedImage
from visualizer_core.errors import (
    ContentRefused,
    Forbidden,
    InvalidInput,
    NotFound,
    PermanentProviderError,
    QuotaExceeded,
    RateLimited,
    TransientProviderError,
)
from visualizer_core.jobqueue import InProcessQueue
from visualizer_core.prompts import PROMPT_VERSION
from visualizer_core.schemas import FlowSettings, ProductAnalysis, SceneAnalysis
from visualizer_core.scope import ADMIN, Role
from visualizer_core.services import analysis, generation, jobs, plans, sessions
from visualizer_core.storage import keys

# -- doubles -------------------------------------------------------------------------------------


class ScriptedAI:
    """An AI backend whose ``generate`` raises the scripted errors in turn, then draws locally.

    ``script`` holds one entry per call: an exception to raise, or ``None`` to succeed; when
    it runs out, ``then`` decides (``None``: succeed).
    """

    name = "scripted"
    image_model = "local-compositor-v1"
    text_model = "local-analysis-v1"

    def __init__(
        self, script: Sequence[Exception | None] = (), then: Exception | None = None
    ) -> None:
        self.script = list(script)
        self.then = then
        self.local = LocalAI()
        self.lock = threading.Lock()
        self.calls: list[int] = []  # the seed of each generate call

    def analyze_product(self, facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
        return self.local.analyze_product(facts, images)

    def analyze_scene(self, image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
        return self.local.analyze_scene(image, room_type_hint=room_type_hint)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        with self.lock:
            self.calls.append(request.seed)
            step = self.script.pop(0) if self.script else self.then
        if step is not None:
            raise step
        return self.local.generate(request)


class RecordingQueue:
    """A queue (the Queue protocol) that only records, and checks the rows are committed."""

    name = "recording"

    def __init__(self, checker: backends.Backends) -> None:
        self.checker = checker  # its own engine: sees only what other connections committed
        self.dispatched: list[uuid.UUID] = []
        self.delays: list[float] = []
        self.judgements: list[uuid.UUID] = []
        self.visible_at_dispatch: list[bool] = []

    def dispatch(self, image_ids: Sequence[uuid.UUID], *, delay_s: float = 0.0) -> None:
        with self.checker.transaction() as db:
            found = repo.images_by_id(db, image_ids)
        self.visible_at_dispatch.append(len(found) == len(image_ids))
        self.dispatched.extend(image_ids)
        self.delays.extend(delay_s for _ in image_ids)

    def dispatch_judgements(self, image_ids: Sequence[uuid.UUID], *, delay_s: float = 0.0) -> None:
        self.judgements.extend(image_ids)

    def live(self, image_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return set()

    def flow_finished(self, flow_id: uuid.UUID) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def world(backend: backends.Backends) -> Iterator[dict[str, Any]]:
    client = factories.create_client(daily_quota=100)
    session = factories.create_session(client.id)
    world = {
        "client": client,
        "session": session,
        "products": factories.import_catalog(client.id),
        "scenes": factories.add_rooms(session.id),
    }
    analysis.match_session(ADMIN, session_id=session.id)
    yield world


@pytest.fixture
def recording(backend: backends.Backends) -> Iterator[RecordingQueue]:
    """The current backends' queue replaced by a recorder (the queue is a swap point)."""
    checker = backends.build(backend.settings)
    queue = RecordingQueue(checker)
    backend.use_queue(queue)
    yield queue
    checker.close()


def rows_of(image_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, GeneratedImage]:
    with backends.current().transaction() as db:
        rows = repo.images_by_id(db, image_ids)
        db.expunge_all()
    return {row.id: row for row in rows}


def the_flow(flow_id: uuid.UUID) -> Flow:
    with backends.current().transaction() as db:
        flow = db.get(Flow, flow_id)
        assert flow is not None
        db.expunge(flow)
    return flow


# -- flows and their rows ---------------------------------------------------------------------


def test_generate_writes_the_flow_and_its_rows_then_dispatches(
    world: dict[str, Any], recording: RecordingQueue
) -> None:
    sid = world["session"].id
    settings = FlowSettings(variants=2, aspect_ratio="4:5", prompt="soft morning light")
    flow = generation.generate(ADMIN, session_id=sid, settings=settings, name="Spring")

    assert flow.status == "queued"
    assert len(flow.image_ids) == 4 * 2
    assert recording.dispatched == flow.image_ids
    assert recording.visible_at_dispatch == [True]  # committed before anything was sent

    stored = the_flow(flow.flow_id)
    assert stored.name == "Spring"
    assert sorted(stored.product_ids) == sorted(str(p) for p in world["products"].values())
    assert FlowSettings.model_validate(stored.settings) == settings

    matches = sessions.get_session(ADMIN, session_id=sid).matches
    rows = rows_of(flow.image_ids)
    assert {r.status for r in rows.values()} == {"pending"}
    by_product: dict[uuid.UUID, list[int]] = {}
    for row in rows.values():
        by_product.setdefault(row.product_id, []).append(row.variant)
        assert row.scene_id == matches[str(row.product_id)].scene_id
        assert row.aspect_ratio == "4:5"
        assert row.model == "local-compositor-v1"
        assert row.job_id == f"client:generation:jobs:{row.id}"
        assert row.attempts == 0 and row.image_key is None
    assert {p: sorted(v) for p, v in by_product.items()} == {
        p: [0, 1] for p in world["products"].values()
    }
    assert len({r.seed for r in rows.values()}) == len(rows)


def test_generate_uses_the_override_and_matches_what_was_not_matched(
    backend: backends.Backends, recording: RecordingQueue
) -> None:
    client = factories.create_client()
    session = factories.create_session(client.id)
    products = factories.import_catalog(client.id)
    scenes = factories.add_rooms(session.id)
    analysis.set_match(
        ADMIN, session_id=session.id, product_id=products["DESK-1"], scene_id=scenes["bedroom"]
    )
    flow = generation.generate(
        ADMIN, session_id=session.id, product_ids=[products["DESK-1"], products["SOFA-1"]]
    )
    scene_of = {r.product_id: r.scene_id for r in rows_of(flow.image_ids).values()}
    assert scene_of == {
        products["DESK-1"]: scenes["bedroom"],
        products["SOFA-1"]: scenes["living_room"],
    }


def test_quota_refusal_leaves_nothing_written(
    backend: backends.Backends, recording: RecordingQueue
) -> None:
    client = factories.create_client(daily_quota=5)
    session = factories.create_session(client.id)
    products = factories.import_catalog(client.id)
    factories.add_rooms(session.id)

    with pytest.raises(QuotaExceeded, match=r"5 of 5 images left today; this request needs 8"):
        generation.generate(ADMIN, session_id=session.id, settings=FlowSettings(variants=2))
    assert sessions.session_status(ADMIN, session_id=session.id)["total"] == 0
    with backend.transaction() as db:
        assert list(repo.flows_of(db, session.id)) == []
    assert recording.dispatched == []

    first = generation.generate(ADMIN, session_id=session.id)
    assert len(first.image_ids) == 4
    assert generation.quota_left(ADMIN, client_id=client.id) == 1
    with pytest.raises(QuotaExceeded, match=r"has 1 of 5 images left today"):
        generation.generate(
            ADMIN, session_id=session.id, product_ids=[products["SOFA-1"], products["BED-1"]]
        )
    assert sessions.session_status(ADMIN, session_id=session.id)["total"] == 4
    assert recording.dispatched == first.image_ids


def test_concurrent_requests_cannot_overrun_the_quota_together(
    backend: backends.Backends, recording: RecordingQueue
) -> None:
    client = factories.create_client(daily_quota=6)
    session = factories.create_session(client.id)
    factories.import_catalog(client.id)
    factories.add_rooms(session.id)
    analysis.match_session(ADMIN, session_id=session.id)
    start = threading.Barrier(3)
    outcomes: list[str] = []

    def ask() -> None:
        backends.activate_for_thread(backend)
        start.wait(30)
        try:
            generation.generate(ADMIN, session_id=session.id)  # 4 images of the 6 left
            outcomes.append("accepted")
        except QuotaExceeded:
            outcomes.append("refused")

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["accepted", "refused", "refused"]
    assert sessions.session_status(ADMIN, session_id=session.id)["total"] == 4


def test_generate_refuses_what_cannot_be_made(
    world: dict[str, Any], recording: RecordingQueue
) -> None:
    client = world["client"]
    no_scenes = factories.create_session(client.id)
    with pytest.raises(InvalidInput, match="scenes"):
        generation.generate(ADMIN, session_id=no_scenes.id)
    with pytest.raises(NotFound, match="product"):
        generation.generate(ADMIN, session_id=world["session"].id, product_ids=[str(uuid.uuid4())])
    sessions.archive_session(ADMIN, session_id=world["session"].id)
    with pytest.raises(InvalidInput, match="archived"):
        generation.generate(ADMIN, session_id=world["session"].id)
    sessions.archive_session(ADMIN, session_id=world["session"].id, archived=False)

    viewer = factories.member_scope(client.id, Role.VIEWER)
    with pytest.raises(Forbidden):
        generation.generate(viewer, session_id=world["session"].id)
    stranger = factories.member_scope(factories.create_client().id, Role.OWNER)
    with pytest.raises(NotFound):
        generation.generate(stranger, session_id=world["session"].id)
    assert recording.dispatched == []
    editor = factories.member_scope(client.id, Role.EDITOR)
    assert len(generation.generate(editor, session_id=world["session"].id).image_ids) == 4


# -- the task ---------------------------------------------------------------------------------


def test_process_image_claims_once_stores_and_marks_completed(world: dict[str, Any]) -> None:
    client, session = world["client"], world["session"]
    flow = generation.generate(
        ADMIN,
        session_id=session.id,
        product_ids=[world["products"]["SOFA-1"]],
        settings=FlowSettings(aspect_ratio="16:9"),
        dispatch=False,
    )
    [image_id] = flow.image_ids
    before = rows_of([image_id])[image_id]

    assert generation.process_image(image_id, worker_id="worker-a") == "completed"
    assert generation.process_image(image_id, worker_id="worker-b") == "skipped"

    row = rows_of([image_id])[image_id]
    assert row.status == "completed" and row.error_message is None
    assert row.worker_id == "worker-a"
    assert row.attempts == 1
    assert row.image_key == keys.generated_image(client.id, session.id, image_id)
    assert row.thumbnail_key == keys.generated_thumbnail(client.id, session.id, image_id)
    assert row.prompt and "sofa" in row.prompt.lower()
    assert row.prompt_version == PROMPT_VERSION
    assert row.model == "local-compositor-v1"
    assert row.seed == before.seed
    assert row.completed_at is not None and row.started_at is not None
    assert row.completed_at >= row.started_at
    for part in ("db_s", "load_s", "ai_s", "encode_s", "store_s", "fidelity_s", "total_s"):
        assert row.timings[part] >= 0, part

    storage = backends.current().storage
    picture = Image.open(io.BytesIO(storage.get(row.image_key)))
    assert picture.format == "JPEG"
    assert abs(picture.width / picture.height - 16 / 9) < 0.01
    thumb = Image.open(io.BytesIO(storage.get(row.thumbnail_key)))
    assert max(thumb.size) < max(picture.size)
    scenes = sessions.get_session(ADMIN, session_id=session.id).scenes
    scene_keys = [k for s in scenes for k in (s.key, s.thumbnail_key)]
    assert storage.list(keys.session_prefix(client.id, session.id)) == sorted(
        [*scene_keys, row.image_key, row.thumbnail_key]
    )
    assert the_flow(flow.flow_id).finished_at is not None


def test_a_transient_failure_goes_back_to_the_queue_with_a_new_seed(
    world: dict[str, Any], reconfigure: Any
) -> None:
    ai = ScriptedAI([RateLimited("429 busy", retry_after=7.0), TransientProviderError("503")])
    installed = reconfigure(ai, visualizer_retry_base_s=40.0, visualizer_retry_max_s=600.0)
    queue = RecordingQueue(installed)
    installed.use_queue(queue)
    flow = generation.generate(
        ADMIN,
        session_id=world["session"].id,
        product_ids=[world["products"]["BED-1"]],
        dispatch=False,
    )
    [image_id] = flow.image_ids

    # Each failed attempt gives the row back to the queue, with the wait as the message's
    # delay: the worker slot is free at once.
    assert generation.process_image(image_id, worker_id="w") == "deferred"
    row = rows_of([image_id])[image_id]
    assert (row.status, row.worker_id, row.attempts) == ("pending", None, 1)
    assert 7.0 <= queue.delays[-1] <= 7.0 + 1.3  # what Gemini asked, with a little jitter
    assert generation.process_image(image_id, worker_id="w") == "deferred"
    assert 40.0 <= queue.delays[-1] <= 80.0  # the second retry's backoff: 80 s, half jittered
    assert generation.process_image(image_id, worker_id="w") == "completed"

    row = rows_of([image_id])[image_id]
    assert queue.dispatched == [image_id, image_id]
    assert row.status == "completed" and row.attempts == 3
    assert len(set(ai.calls)) == 3  # a new seed each attempt
    assert row.seed == ai.calls[-1]  # the row keeps the seed that made its image


def test_a_full_window_of_our_own_limit_is_not_an_attempt(
    world: dict[str, Any], reconfigure: Any
) -> None:
    ai = ScriptedAI([RateLimited("the requests a minute are taken", retry_after=3.5, local=True)])
    installed = reconfigure(ai)
    queue = RecordingQueue(installed)
    installed.use_queue(queue)
    flow = generation.generate(
        ADMIN,
        session_id=world["session"].id,
        product_ids=[world["products"]["BED-1"]],
        dispatch=False,
    )
    [image_id] = flow.image_ids
    assert generation.process_image(image_id, worker_id="w") == "deferred"
    assert queue.delays == [3.5]  # the slot kept for it is due then: no jitter needed
    assert rows_of([image_id])[image_id].attempts == 0
    assert generation.process_image(image_id, worker_id="w") == "completed"
    assert rows_of([image_id])[image_id].attempts == 1


def test_a_transient_failure_that_lasts_ends_in_a_message_to_act_on(
    world: dict[str, Any], reconfigure: Any
) -> None:
    ai = ScriptedAI(then=TransientProviderError("the image model answered 503"))
    installed = reconfigure(ai, visualizer_max_attempts=3, visualizer_retry_base_s=0.01)
    queue = RecordingQueue(installed)
    installed.use_queue(queue)
    flow = generation.generate(
        ADMIN,
        session_id=world["session"].id,
        product_ids=[world["products"]["BED-1"]],
        dispatch=False,
    )
    [image_id] = flow.image_ids
    outcomes = [generation.process_image(image_id, worker_id="w") for _ in range(3)]
    assert outcomes == ["deferred", "deferred", "error"]
    row = rows_of([image_id])[image_id]
    assert len(ai.calls) == 3
    assert row.status == "error" and row.completed_at is not None
    assert row.attempts == 3
    assert "the image model answered 503" in (row.error_message or "")
    assert "still failing after 3 attempts" in (row.error_message or "")
    assert "re-run this image later" in (row.error_message or "")
    assert row.image_key is None
    assert the_flow(flow.flow_id).finished_at is not None


def test_the_in_process_queue_spends_the_waits_itself(
    world: dict[str, Any], reconfigure: Any
) -> None:
    ai = ScriptedAI([TransientProviderError("503"), TransientProviderError("503")])
    reconfigure(ai, visualizer_retry_base_s=0.05, visualizer_retry_max_s=0.1)
    flow = generation.generate(
        ADMIN, session_id=world["session"].id, product_ids=[world["products"]["BED-1"]]
    )
    counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=60)
    assert counts["completed"] == 1
    assert rows_of(flow.image_ids)[flow.image_ids[0]].attempts == 3


@pytest.mark.parametrize(
    "error",
    [
        PermanentProviderError("the API key was rejected: set GEMINI_API_KEY to a valid key"),
        ContentRefused("the provider blocked the prompt: change the extra prompt text"),
    ],
    ids=["permanent", "refused"],
)
def test_a_permanent_failure_is_not_retried(
    world: dict[str, Any], reconfigure: Any, error: Exception
) -> None:
    ai = ScriptedAI(then=error)
    reconfigure(ai)
    flow = generation.generate(
        ADMIN,
        session_id=world["session"].id,
        product_ids=[world["products"]["DESK-1"]],
        dispatch=False,
    )
    [image_id] = flow.image_ids
    assert generation.process_image(image_id, worker_id="w") == "error"
    row = rows_of([image_id])[image_id]
    assert len(ai.calls) == 1
    assert row.attempts == 1
    assert row.error_message == str(error)
    assert generation.process_image(image_id, worker_id="w") == "skipped"
    assert len(ai.calls) == 1


def test_status_counts_every_state_in_one_answer(world: dict[str, Any], reconfigure: Any) -> None:
    sid = world["session"].id
    flow = generation.generate(ADMIN, session_id=sid, dispatch=False)
    first, second, third, _fourth = flow.image_ids
    assert generation.process_image(first, worker_id="w") == "completed"
    reconfigure(ScriptedAI(then=PermanentProviderError("no")))
    assert generation.process_image(second, worker_id="w") == "error"
    with backends.current().transaction() as db:
        assert repo.claim_image(db, third, worker_id="elsewhere", now=utcnow())
    assert sessions.session_status(ADMIN, session_id=sid) == {
        "total": 4,
        "pending": 1,
        "generating": 1,
        "completed": 1,
        "error": 1,
    }
    assert generation.flow_status([flow.flow_id])["completed"] == 1


def test_the_in_process_queue_runs_a_flow_to_the_end(world: dict[str, Any]) -> None:
    seen: list[dict[str, int]] = []
    flow = generation.generate(
        ADMIN, session_id=world["session"].id, settings=FlowSettings(variants=2)
    )
    counts = generation.wait_for_flows(
        ADMIN, flow_ids=[flow.flow_id], timeout=120, on_progress=seen.append
    )
    assert counts == {"total": 8, "pending": 0, "generating": 0, "completed": 8, "error": 0}
    assert seen[-1] == counts and all(c["total"] == 8 for c in seen)
    rows = rows_of(flow.image_ids)
    assert all(r.attempts == 1 and r.image_key for r in rows.values())
    assert the_flow(flow.flow_id).finished_at is not None
    with pytest.raises(NotFound):
        generation.wait_for_flows(
            factories.member_scope(factories.create_client().id), flow_ids=[flow.flow_id]
        )


def test_a_stopped_in_process_queue_finishes_what_it_started_and_leaves_the_rest_pending(
    world: dict[str, Any], reconfigure: Any
) -> None:
    entered, release = threading.Event(), threading.Event()

    class Slow(ScriptedAI):
        def generate(self, request: GenerationRequest) -> GenerationResult:
            entered.set()
            release.wait(30)
            return super().generate(request)

    current = reconfigure(Slow())
    queue = InProcessQueue(current, workers=1)
    flow = generation.generate(ADMIN, session_id=world["session"].id, dispatch=False)
    queue.dispatch(flow.image_ids)
    assert entered.wait(30)
    closing = threading.Thread(target=queue.close)
    closing.start()
    release.set()
    closing.join(60)
    assert not closing.is_alive()
    assert generation.flow_status([flow.flow_id]) == {
        "total": 4,
        "pending": 3,
        "generating": 0,
        "completed": 1,
        "error": 0,
    }


# -- recovery -----------------------------------------------------------------------------------


def test_recover_resets_rows_whose_worker_died_and_requeues_pending(
    world: dict[str, Any], recording: RecordingQueue
) -> None:
    flow = generation.generate(ADMIN, session_id=world["session"].id, dispatch=False)
    dead, slow, waiting, done = flow.image_ids
    long_ago = utcnow() - dt.timedelta(minutes=10)
    with backends.current().transaction() as db:
        assert repo.claim_image(db, dead, worker_id="crashed", now=long_ago)
        assert repo.claim_image(db, slow, worker_id="alive", now=utcnow())
    # One row is finished already; recovery must leave it alone.
    assert generation.process_image(done, worker_id="w") == "completed"

    result = generation.recover(ADMIN)
    assert result["reset"] == 1
    assert result["requeued"] == 2
    assert set(recording.dispatched) == {dead, waiting}
    rows = rows_of(flow.image_ids)
    assert rows[dead].status == "pending" and rows[dead].worker_id is None
    assert rows[slow].status == "generating" and rows[slow].worker_id == "alive"
    assert rows[done].status == "completed"

    # The re-dispatched row is then made as usual, and counted as a second attempt.
    assert generation.process_image(dead, worker_id="w") == "completed"
    assert rows_of([dead])[dead].attempts == 2
    with pytest.raises(Forbidden):
        generation.recover(factories.member_scope(world["client"].id, Role.OWNER))


def test_recovery_leaves_alone_a_row_that_finished_after_it_was_seen_as_orphaned(
    world: dict[str, Any], recording: RecordingQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = generation.generate(ADMIN, session_id=world["session"].id, dispatch=False)
    finished, orphan = flow.image_ids[:2]
    long_ago = utcnow() - dt.timedelta(minutes=10)
    with backends.current().transaction() as db:
        assert repo.claim_image(db, finished, worker_id="slow", now=long_ago)
        assert repo.claim_image(db, orphan, worker_id="crashed", now=long_ago)
    seen = repo.open_image_ids

    def seen_then_finished(db: Any, **kwargs: Any) -> list[Any]:
        ids = seen(db, **kwargs)
        if kwargs.get("status") == "generating":
            # The slow worker completes its row between recovery's read and its reset.
            repo.update_images(db, [finished], status="completed")
        return ids

    # Recovery reads the candidates through its own module: patch the name it looks up.
    monkeypatch.setattr(repo.images, "open_image_ids", seen_then_finished)
    result = generation.recover(ADMIN)
    assert result["reset"] == 1
    rows = rows_of([finished, orphan])
    assert rows[finished].status == "completed"
    assert rows[orphan].status == "pending"
    assert finished not in recording.dispatched


def test_a_rerun_names_the_new_image_of_each_source_when_a_product_is_left_out(
    world: dict[str, Any],
) -> None:
    flow = generation.generate(
        ADMIN,
        session_id=world["session"].id,
        product_ids=[world["products"]["SOFA-1"], world["products"]["BED-1"]],
        dispatch=False,
    )
    sofa_image, bed_image = flow.image_ids
    for image_id in flow.image_ids:
        assert generation.process_image(image_id, worker_id="w") == "completed"
    with backends.current().transaction() as db:  # the sofa's photo is removed since
        (photo,) = repo.images_of(db, [world["products"]["SOFA-1"]])[world["products"]["SOFA-1"]]
        repo.remove_product_image(db, photo)

    made = plans.rerun(ADMIN, image_ids=[sofa_image, bed_image], dispatch=False)
    [remade] = made.flows
    assert [s["product_id"] for s in remade.skipped] == [str(world["products"]["SOFA-1"])]
    assert list(made.made) == [bed_image]
    [new_id] = made.made[bed_image]
    assert rows_of([new_id])[new_id].rerun_of_id == bed_image


def test_a_run_that_lost_its_row_before_the_call_does_not_pay_for_it(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that stalled past the heartbeat's grace finds its row taken by another run: it
    leaves the provider call to that run instead of paying for the picture twice."""
    flow = generation.generate(ADMIN, session_id=world["session"].id, dispatch=False)
    image_id = flow.image_ids[0]
    build = jobs.build_request
    calls: list[uuid.UUID] = []

    def stalled_then_taken_over(*args: Any, **kwargs: Any) -> Any:
        built = build(*args, **kwargs)
        with backends.current().transaction() as db:  # recovery reset it, another run claimed it
            repo.update_images(db, [image_id], status="pending", worker_id=None)
            assert repo.claim_image(db, image_id, worker_id="other", now=utcnow())
        return built

    monkeypatch.setattr(jobs, "build_request", stalled_then_taken_over)
    monkeypatch.setattr(jobs, "call_ai", lambda iid, request: calls.append(iid))
    assert generation.process_image(image_id, worker_id="stalled") == "superseded"
    assert calls == []  # no provider call from the stalled run
    row = rows_of([image_id])[image_id]
    assert (row.status, row.worker_id) == ("generating", "other")


def test_a_worker_that_lost_its_row_to_recovery_does_not_overwrite_the_outcome(
    world: dict[str, Any], reconfigure: Any
) -> None:
    flow = generation.generate(
        ADMIN,
        session_id=world["session"].id,
        product_ids=[world["products"]["SOFA-1"]],
        dispatch=False,
    )
    [image_id] = flow.image_ids
    release = threading.Event()
    entered = threading.Event()

    class Stalls(ScriptedAI):
        """Stalls on the first call only, as a worker on a hung connection would."""

        def generate(self, request: GenerationRequest) -> GenerationResult:
            if not entered.is_set():
                entered.set()
                release.wait(30)
            return super().generate(request)

    current = reconfigure(Stalls())
    outcome: list[str] = []

    def slow_worker() -> None:
        backends.activate_for_thread(current)
        outcome.append(generation.process_image(image_id, worker_id="slow"))

    thread = threading.Thread(target=slow_worker)
    thread.start()
    assert entered.wait(30)
    generation.recover(ADMIN, stale_after_s=0, dispatch=False)  # it looks dead: reset it
    assert generation.process_image(image_id, worker_id="fresh") == "completed"
    release.set()
    thread.join(30)
    assert outcome == ["superseded"]
    row = rows_of([image_id])[image_id]
    assert row.status == "completed" and row.worker_id == "fresh"


# -- two workers racing ---------------------------------------------------------------------------


class CountingAI(LocalAI):
    """The local AI, appending the seed of every image it makes to a shared file."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def generate(self, request: GenerationRequest) -> GenerationResult:
        with self.log.open("a") as handle:  # O_APPEND: whole short lines, from any process
            handle.write(f"{request.seed}\n")
        return super().generate(request)


def _race_worker(
    settings: dict[str, Any],
    image_ids: list[str],
    name: str,
    log: str,
    start: Any,
    out: str,
) -> None:
    """One worker process: wait for the other, then try every image in turn."""
    built = backends.build(Settings(**settings), ai=CountingAI(Path(log)))
    backends.activate(built)
    start.wait(60)
    outcomes = [generation.process_image(i, worker_id=name) for i in image_ids]
    Path(out).write_text(json.dumps(outcomes))
    built.close()


def test_two_workers_racing_over_the_same_rows_make_each_image_once(
    world: dict[str, Any], tmp_path: Path
) -> None:
    flow = generation.generate(
        ADMIN, session_id=world["session"].id, settings=FlowSettings(variants=3), dispatch=False
    )
    ids = [str(i) for i in flow.image_ids]
    settings = backends.current().settings.model_dump()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    log = tmp_path / "made.log"
    workers = [
        context.Process(
            target=_race_worker,
            args=(settings, ids, name, str(log), start, str(tmp_path / f"{name}.json")),
        )
        for name in ("worker-1", "worker-2")
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
        assert process.exitcode == 0
    outcomes = [json.loads((tmp_path / f"{n}.json").read_text()) for n in ("worker-1", "worker-2")]

    for index in range(len(ids)):
        assert sorted(o[index] for o in outcomes) == ["completed", "skipped"]
    rows = rows_of(flow.image_ids)
    assert all(r.status == "completed" and r.attempts == 1 for r in rows.values())
    made = log.read_text().split()
    assert sorted(made) == sorted(str(r.seed) for r in rows.values())  # each image made once
    claimed = {r.id: r.worker_id for r in rows.values()}
    for name, outcome in zip(("worker-1", "worker-2"), outcomes, strict=True):
        assert {uuid.UUID(i) for i, o in zip(ids, outcome, strict=True) if o == "completed"} == {
            i for i, w in claimed.items() if w == name
        }
    storage = backends.current().storage
    for row in rows.values():
        assert row.image_key and storage.exists(row.image_key)
        assert row.thumbnail_key and storage.exists(row.thumbnail_key)
    assert the_flow(flow.flow_id).finished_at is not None
