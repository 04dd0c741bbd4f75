"""Generation: flows and their images, the task that makes one image, recovery, waiting.

``generate`` writes a flow and all its ``generated_image`` rows in one transaction (the daily
quota checked inside it, under a lock on the client row) and dispatches the jobs only after the
commit. ``process_image`` is the task: the in-process queue's threads and the Celery workers run
this same function, made of the steps of :mod:`visualizer_core.services.jobs` (which the economy
path shares). The database row is the truth; a queue message is only a hint to look at it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from visualizer_core import backends
from visualizer_core.ai import usage
from visualizer_core.ai.retry import retry_delay_s
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Client, Flow, GeneratedImage, Product, StudioSession
from visualizer_core.errors import (
    DailyLimitReached,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    RateLimited,
    TransientProviderError,
    VisualizerError,
)
from visualizer_core.schemas import FlowSettings, FlowStatus, ImageStatus, SessionStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services import budgets, export, jobs
from visualizer_core.services._uow import in_scope, own_client, parse_id, unit_of_work
from visualizer_core.services.analysis import analyze_session, match_session
from visualizer_core.services.economy import poll_economy, submit_economy
from visualizer_core.services.jobs import job_id_for
from visualizer_core.services.models import check_flow_model
from visualizer_core.services.products import no_photo_reason
from visualizer_core.services.sessions import load_session

# ``process_image`` is the queue's task (reached through ``services.TASKS``), not part of the
# services' public API: it takes no scope, only an image id the queue dispatched itself.
__all__ = [
    "FlowRead",
    "batch_status",
    "generate",
    "quota_left",
    "recover",
    "wait_for_flows",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlowRead:
    """A flow as ``generate`` made it; ``skipped`` names the products left out, and why."""

    flow_id: uuid.UUID
    image_ids: list[uuid.UUID]
    status: str
    skipped: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        ids = {"flow_id": str(self.flow_id), "image_ids": [str(i) for i in self.image_ids]}
        return {**asdict(self), **ids}


def _day_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def quota_left(scope: Scope, *, client_id: uuid.UUID | str) -> int:
    """Images the client may still ask for today (UTC day)."""
    scope.require(Action.READ)
    cid = own_client(scope, client_id)
    with unit_of_work() as db:
        client = repo.lock_client(db, cid)
        if client is None:
            raise NotFound("client", client_id)
        used = repo.generated_since(db, cid, _day_start(utcnow()))
        return max(client.daily_quota - used, 0)


def _seed(image_id: uuid.UUID) -> int:
    return int.from_bytes(hashlib.sha256(image_id.bytes).digest()[:4], "big") & 0x7FFFFFFF


def generate(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    product_ids: Sequence[uuid.UUID | str] | None = None,
    settings: FlowSettings | None = None,
    name: str | None = None,
    rerun_of: dict[uuid.UUID, uuid.UUID] | None = None,
    parent_flow_id: uuid.UUID | None = None,
    dispatch: bool = True,
    scenes: dict[uuid.UUID, str] | None = None,
) -> FlowRead:
    """A flow over products (every product of the client by default) and its jobs.

    Each product goes with its matched scene (the hand-set one where there is one); matching
    runs first where it was not done (analysing what lacks an analysis, with the provider retry
    policy). ``scenes`` (product id to scene id) sets the scene of some products for this flow
    only, leaving the session's pairings alone: a re-run keeps the scene of the image it re-runs,
    a plan names its own. Refused whole when the client's daily quota would be exceeded, or
    its monthly budget (:func:`.budgets.set_monthly_budget`) could not take the estimate.

    A product that still cannot be made (its analysis kept failing, no scene fits it, it has no
    photo) is left out, and named in ``skipped`` with the reason; the others are made. Only
    when no product at all can be made is the request refused, with the reasons.
    """
    scope.require(Action.GENERATE)
    # No size asked: the one the client's delivery preset needs (export.with_delivery_size).
    settings = export.with_delivery_size(
        scope, session_id=session_id, settings=settings or FlowSettings()
    )
    check_flow_model(
        scope, settings=settings
    )  # a retired or unpriced model, a size it does not draw
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        sid, client_id = session.id, session.client_id
        if session.status != SessionStatus.ACTIVE:
            raise InvalidInput("the session is archived: restore it to generate")
        if product_ids is None:
            wanted = [p.id for p in repo.list_products(db, client_id=client_id)]
        else:
            wanted = [parse_id(p, "product") for p in product_ids]
            found = {p.id for p in repo.list_products(db, client_id=client_id, ids=wanted)}
            for pid in wanted:
                if pid not in found:
                    raise NotFound("product", pid)
        if not wanted:
            raise InvalidInput("no products to generate: import a catalog first")
        chosen = scenes or {}
        matched = session.match_map()
        unmatched = [p for p in wanted if p not in chosen and str(p) not in matched]
        # Lineage may only point at the client's own rows.
        if parent_flow_id is not None and (
            repo.get(db, Flow, parent_flow_id, client_id=client_id) is None
        ):
            raise NotFound("flow", parent_flow_id)
        for earlier in (rerun_of or {}).values():
            if repo.get(db, GeneratedImage, earlier, client_id=client_id) is None:
                raise NotFound("image", earlier)
        owner = repo.get(db, Client, client_id, client_id=None)
        budgeted = owner is not None and budgets.budget_of(owner) is not None
    per_image = 0.0
    if budgeted:  # what one image of this flow is estimated at, read before the lock below
        per_image = budgets.image_cost_usd(scope, client_id=client_id, settings=settings)
    skipped: dict[uuid.UUID, str] = {}
    if unmatched:
        skipped = _match_what_can_be(scope, sid, unmatched)

    with unit_of_work() as db:
        # Lock the client row first: concurrent generate calls for one client queue up here,
        # so the quota check and the inserts below are one atomic step.
        client = repo.lock_client(db, client_id)
        assert client is not None
        session = load_session(db, scope, sid)
        for scene in chosen.values():
            if session.find_scene(scene) is None:
                raise NotFound("scene", scene)
        matched = session.match_map()
        images = repo.images_of(db, wanted)
        no_photo = [pid for pid in wanted if pid not in skipped and not images[pid]]
        photo_errors = {
            p.id: p.photo_errors
            for p in (repo.list_products(db, client_id=client_id, ids=no_photo) if no_photo else [])
        }
        for pid in wanted:
            if pid in skipped:
                continue
            if not images[pid]:
                skipped[pid] = no_photo_reason(photo_errors.get(pid))
            elif pid not in chosen and str(pid) not in matched:
                skipped[pid] = "no scene of the session was matched to it: set one by hand"
        if skipped:
            left_out = {pid: skipped[pid] for pid in wanted if pid in skipped}
            _raise_if_nothing_left(db, wanted, left_out)
            wanted = [pid for pid in wanted if pid not in skipped]
        needed = len(wanted) * settings.variants
        used = repo.generated_since(db, client_id, _day_start(utcnow()))
        left = max(client.daily_quota - used, 0)
        if needed > left:
            raise QuotaExceeded(
                f"{client.name} has {left} of {client.daily_quota} images left today; "
                f"this request needs {needed}. Generate fewer products or variants, or ask "
                "an admin to raise the daily quota."
            )
        budgets.refuse_over_budget(
            db, client, images=needed, request_usd=needed * per_image, per_image_usd=per_image
        )
        flow_id, image_ids = _insert_flow(
            db,
            session=session,
            settings=settings,
            name=name,
            parent_flow_id=parent_flow_id,
            scenes={pid: chosen.get(pid) or matched[str(pid)].scene_id for pid in wanted},
            photos={pid: images[pid][0].id for pid in wanted},
            rerun_of=rerun_of or {},
        )
        result = FlowRead(
            flow_id=flow_id,
            image_ids=image_ids,
            status=FlowStatus.QUEUED,
            skipped=[{"product_id": str(pid), "reason": why} for pid, why in skipped.items()],
        )
    if dispatch and settings.economy:
        submit_economy(scope, flow_id=result.flow_id)  # the Batch API; workers without one
    elif dispatch:
        backends.current().queue.dispatch(result.image_ids)
    return result


def _insert_flow(
    db: Any,
    *,
    session: StudioSession,
    settings: FlowSettings,
    name: str | None,
    parent_flow_id: uuid.UUID | None,
    scenes: dict[uuid.UUID, str],
    photos: dict[uuid.UUID, uuid.UUID],
    rerun_of: dict[uuid.UUID, uuid.UUID],
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """The flow's row and one pending row per product (in ``scenes``' order) and variant, each
    with its scene, its product photo, its seed and what it re-makes; their ids."""
    flow = Flow(
        client_id=session.client_id,
        studio_session_id=session.id,
        name=name,
        product_ids=[str(p) for p in scenes],
        settings=settings.model_dump(mode="json"),
        parent_flow_id=parent_flow_id,
        webhook={},
    )
    db.add(flow)
    db.flush()
    model = settings.model or backends.current().ai.image_model
    # A re-made image keeps the variant number of the one it re-makes (its second variant is
    # delivered as ``..._2``, not as a second ``..._1``).
    first_variant = (
        {image.id: image.variant for image in repo.images_by_id(db, list(rerun_of.values()))}
        if rerun_of
        else {}
    )
    rows = []
    for pid, scene_id in scenes.items():
        remakes = rerun_of.get(pid)
        base = first_variant.get(remakes, 0) if remakes is not None else 0
        for number in range(settings.variants):
            variant = base + number
            image_id = uuid.uuid4()
            rows.append(
                GeneratedImage(
                    id=image_id,
                    client_id=session.client_id,
                    flow_id=flow.id,
                    studio_session_id=session.id,
                    product_id=pid,
                    product_image_id=photos[pid],
                    scene_id=scene_id,
                    variant=variant,
                    status=ImageStatus.PENDING,
                    job_id=job_id_for(image_id),
                    model=model,
                    seed=_seed(image_id),
                    aspect_ratio=settings.aspect_ratio,
                    rerun_of_id=rerun_of.get(pid),
                    usage={},
                    timings={},
                )
            )
    db.add_all(rows)
    db.flush()
    return flow.id, [r.id for r in rows]


def _match_what_can_be(
    scope: Scope, session_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """Analyse and match these products; the ones that could not be, with the reason why."""
    done = analyze_session(scope, session_id=session_id)
    wanted = set(product_ids)
    failed = {uuid.UUID(f["product_id"]): f["error"] for f in done["failed"] if "product_id" in f}
    scene_failures = [f["error"] for f in done["failed"] if "scene_id" in f]
    try:
        match_session(scope, session_id=session_id, product_ids=product_ids, analyze=False)
    except InvalidInput as error:  # no analysed scene at all: nothing can be matched
        if scene_failures:
            raise InvalidInput(
                f"{error} (the scene analysis failed: {scene_failures[0]})"
            ) from error
        raise
    return {pid: f"its analysis failed: {why}" for pid, why in failed.items() if pid in wanted}


def _raise_if_nothing_left(
    db: Any, wanted: Sequence[uuid.UUID], skipped: dict[uuid.UUID, str]
) -> None:
    if len(skipped) < len(wanted):
        return
    reasons = []
    for pid, why in list(skipped.items())[:3]:
        product = repo.get(db, Product, pid, client_id=None)
        reasons.append(f"{product.sku if product else pid}: {why}")
    more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
    raise InvalidInput("no product can be generated: " + "; ".join(reasons) + more)


# -- the task ---------------------------------------------------------------------------------


def process_image(image_id: uuid.UUID | str, *, worker_id: str) -> str:
    """Make one image: claim it, call the AI once, store it, mark it. Returns what happened.

    ``"completed"`` or ``"error"`` for the run that claimed the row; ``"deferred"`` when the
    row went back to the queue to wait (a full window of the model's limits, a paused model, or
    a passing failure with its backoff: the wait is the queue's, not this worker slot's);
    ``"skipped"`` when another run has it (or had it); ``"superseded"`` when the row was taken
    back while this run worked (a recovery reset it). Safe to run twice for the same image:
    only one run can claim a pending row, and the storage key is fixed by the row, so a repeat
    overwrites and never adds.

    Failures, by the policy of :mod:`visualizer_core.ai.retry`: a transient one (5xx, overloaded,
    a timeout, an empty answer) is retried with exponential backoff and jitter, each attempt with
    a new seed, up to ``VISUALIZER_MAX_ATTEMPTS`` attempts; a model's day used up pauses the
    image (pending, not failed) until the quota resets; a permanent one (a 400, a refusal after
    its re-ask) fails the row at once with a message a person can act on.

    The row's ``timings`` say where the time went, in seconds: ``db_s`` (claim and loading the
    job), ``load_s`` (reading the product and scene pictures), ``ai_s`` (the AI call),
    ``encode_s`` (image and thumbnail), ``store_s`` (writing both), ``fidelity_s`` (the fidelity
    check, when made on the spot or, later, by its own task) and ``total_s``.
    """
    iid = parse_id(image_id, "image")
    current = backends.current()
    started = time.perf_counter()
    with unit_of_work() as db:
        if not repo.claim_image(db, iid, worker_id=worker_id, now=utcnow()):
            return "skipped"
    timings: dict[str, float] = {}
    attempt = 0
    # Every provider call of this run (a failed attempt's too) goes on the ledger.
    with usage.collect() as calls:
        try:
            job = jobs.load_job(iid)
            attempt = job.attempt
            timings["db_s"] = time.perf_counter() - started
            mark = time.perf_counter()
            product_png = current.storage.get(job.base_key)
            scene_bytes = current.storage.get(job.scene_key)
            timings["load_s"] = time.perf_counter() - mark
            request, prompt_version = jobs.build_request(job, product_png, scene_bytes)
            if not jobs.still_held(iid, worker_id):  # taken over while this run stalled:
                return "superseded"  # the other run pays for the picture, not both
            mark = time.perf_counter()
            try:
                result = jobs.call_ai(iid, request)
            finally:
                timings["ai_s"] = time.perf_counter() - mark
            if calls:  # paid for: on the ledger now, whatever stops this run before the end
                jobs.record_calls(iid, calls)
                calls.clear()
            kept = jobs.keep_result(iid, job, result, product_png, timings)
        except VisualizerError as error:
            return _after_failure(iid, error, attempt, timings, calls)
        except Exception as error:  # a bug must not leave the row generating
            log.exception("generation of %s failed", iid)
            jobs.fail(
                iid,
                f"generation stopped unexpectedly ({type(error).__name__}: {error}); re-run it, "
                "and report it if it happens again",
                timings=timings,
                calls=calls,
            )
            return "error"

    timings["total_s"] = time.perf_counter() - started
    done = jobs.complete(
        iid,
        request=request,
        prompt_version=prompt_version,
        result=result,
        kept=kept,
        timings=timings,
        # An answer refused and asked again for is an attempt too.
        extra_attempts=max(int(result.meta.get("attempts") or 1) - 1, 0),
        calls=calls,
    )
    return "completed" if done else "superseded"


def _after_failure(
    iid: uuid.UUID,
    error: VisualizerError,
    attempt: int,
    timings: dict[str, float],
    calls: list[usage.CallRecord],
) -> str:
    """What a failed run does with its row, by the policy of :mod:`visualizer_core.ai.retry`:
    wait in the queue (``"deferred"``) or fail with a message a person can act on."""
    settings = backends.current().settings
    if isinstance(error, DailyLimitReached):
        # Not a failure of the image: it waits, pending, until the model's quota resets.
        wait = (error.resets_at - dt.datetime.now(dt.UTC)).total_seconds()
        # Spread the resumption a little (up to a tenth of the wait, at most 30 s).
        spread = random.uniform(0, min(30.0, 0.1 * max(wait, 0.0)))
        jobs.defer(iid, max(wait, 0.5) + spread, retry=False, note=str(error), calls=calls)
        return "deferred"
    if isinstance(error, RateLimited) and error.local:
        # our own limiter: the slot kept for this image is due then
        jobs.defer(iid, error.retry_after or 1.0, retry=False, note=str(error), calls=calls)
        return "deferred"
    if not isinstance(error, RateLimited | TransientProviderError):
        jobs.fail(iid, str(error), timings=timings, calls=calls)  # permanent: refused, bad input
        return "error"
    # Gemini's 429 or a passing failure: an attempt that failed; wait in the queue.
    tried = attempt + 1
    if tried < settings.visualizer_max_attempts:
        delay = retry_delay_s(
            error, tried, base=settings.visualizer_retry_base_s, cap=settings.visualizer_retry_max_s
        )
        jobs.defer(iid, delay, retry=True, note=str(error), calls=calls)
        return "deferred"
    if isinstance(error, RateLimited):
        message = (
            f"{error} (still refused after {tried} attempts); the model's requests a minute are"
            " used up by other work: re-run this image later or lower GEMINI_LIMITS"
        )
    else:
        message = (
            f"{error} (still failing after {tried} attempt{'s' if tried != 1 else ''},"
            f" over {_span(settings, tried)}); re-run this image later"
        )
    jobs.fail(iid, message, timings=timings, calls=calls)
    return "error"


def _span(settings: Any, tried: int) -> str:
    """About how long the retries of ``tried`` attempts were spread over, in words."""
    total = sum(
        min(settings.visualizer_retry_max_s, settings.visualizer_retry_base_s * 2 ** (n - 1))
        for n in range(1, tried)
    )
    return f"about {total / 60:.0f} min" if total >= 90 else f"about {total:.0f} s"


def judge_image(image_id: uuid.UUID | str, *, worker_id: str) -> str:
    """The fidelity judgement task of one completed image (see :func:`jobs.judge`)."""
    return jobs.judge(parse_id(image_id, "image"), worker_id=worker_id)


# -- recovery and waiting ----------------------------------------------------------------------


def recover(
    scope: Scope,
    *,
    stale_after_s: float | None = None,
    dispatch: bool = True,
    settle_s: float = 0.0,
) -> dict[str, int]:
    """Rebuild the queue from the database.

    Rows stuck in ``generating`` whose worker stopped beating (for ``stale_after_s``: six
    ``VISUALIZER_HEARTBEAT_S`` beats by default) go back to ``pending``; every pending row
    without a live job in the queue is dispatched again (after Redis lost everything, that is
    all of them). A duplicate delivery is harmless to the picture (the claim is guarded) but
    not to a wait: it would run a row early that waits out a provider's retry delay. So the
    workers' periodic sweep passes ``settle_s`` (a heartbeat), and leaves alone the pending
    rows changed more recently: a row committed a moment ago whose job is being sent right now
    is not yet in the queue's records, and is not lost.

    Open Gemini batch jobs (economy flows) are polled first: that keeps their rows' heartbeat
    fresh, and ingests the jobs that have finished.
    """
    scope.require(Action.ADMIN)
    if stale_after_s is None:
        stale_after_s = backends.current().settings.stale_after_s
    if dispatch:
        try:
            poll_economy(scope)
        except VisualizerError as error:  # a failed poll must not stop the recovery
            log.warning("polling economy batches failed: %s", error)
    now = utcnow()
    with unit_of_work() as db:
        stuck = repo.reset_orphaned_images(
            db, older_than=now - dt.timedelta(seconds=stale_after_s), now=now
        )
        reset = len(stuck)
        pending = repo.open_image_ids(
            db,
            status=ImageStatus.PENDING,
            changed_before=now - dt.timedelta(seconds=settle_s) if settle_s > 0 else None,
        )
    if not dispatch:
        return {"requeued": 0, "reset": reset, "pending": len(pending)}
    queue = backends.current().queue
    was_stuck = set(stuck)
    live = queue.live(pending)
    to_send = [i for i in pending if i in was_stuck or i not in live]
    queue.dispatch(to_send)
    judgements = _lost_judgements(now)
    if judgements:
        queue.dispatch_judgements(judgements)
    return {
        "requeued": len(to_send),
        "reset": reset,
        "pending": len(pending),
        "judgements": len(judgements),
    }


# A judgement queued this long ago without a score was lost (its worker died, Redis was
# flushed): the sweep queues it again. Judgements waiting for a paused model are re-queued too,
# harmlessly: the task finds the model paused and waits again.
_JUDGEMENT_LOST_AFTER_S = 15 * 60


def _lost_judgements(now: dt.datetime) -> list[uuid.UUID]:
    """Completed images of the last day still waiting for a judgement queued long ago."""
    with unit_of_work() as db:
        rows = repo.unjudged_images(db, completed_since=now - dt.timedelta(days=1))
        oldest = time.time() - _JUDGEMENT_LOST_AFTER_S
        lost = [
            row
            for row in rows
            if float((row.timings or {}).get("fidelity_queued_at") or oldest + 1) < oldest
        ]
        for row in lost:  # queued again now: the next sweeps leave it to its new job
            row.timings = {**(row.timings or {}), "fidelity_queued_at": time.time()}
        return [row.id for row in lost]


def batch_status(scope: Scope, *, flow_id: uuid.UUID | str) -> dict[str, int]:
    """The images of one flow (the batch a person just started) by status, in one aggregate
    query: its progress, beside the whole session's."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        flow = in_scope(db, scope, Flow, flow_id, "flow")
        return repo.status_counts(db, flow_ids=[flow.id])


def flow_status(flow_ids: Sequence[uuid.UUID]) -> dict[str, int]:
    with unit_of_work() as db:
        return repo.status_counts(db, flow_ids=flow_ids)


def wait_for_flows(
    scope: Scope,
    *,
    flow_ids: Sequence[uuid.UUID | str],
    timeout: float | None = None,
    on_progress: Callable[[dict[str, int]], None] | None = None,
    poll_s: float = 0.25,
) -> dict[str, int]:
    """Block until every image of the flows is completed or failed (or the timeout passes)."""
    scope.require(Action.READ)
    ids = [parse_id(f, "flow") for f in flow_ids]
    with unit_of_work() as db:
        for fid in ids:
            in_scope(db, scope, Flow, fid, "flow")
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        counts = flow_status(ids)
        if on_progress is not None:
            on_progress(counts)
        if counts["pending"] + counts["generating"] == 0:
            return counts
        if deadline is not None and time.monotonic() >= deadline:
            return counts
        time.sleep(poll_s)
