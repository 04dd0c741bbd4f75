"""Bulk economy mode: a flow's images through a batch API (Gemini's), at half the price, slower.

It must never pay twice, so each step is built for the failure it can meet:

- **Submit** (:func:`submit_economy`): the flow's pending rows are claimed (pending to
  generating, ``worker_id`` ``gemini-batch``, so no worker takes them) and each row's request
  is built with the task's own steps (:mod:`visualizer_core.services.jobs`) *while* the JSONL
  file is written (:meth:`GeminiBatch.write_jsonl`: one request in memory at a time). The rows'
  ``job_id`` becomes ``gemini-batch:{job}``. A submission the API refuses (429: over the batch
  quota; a 4xx), or cannot take after the retries, is **not** switched to the standard price:
  the rows wait (``job_id`` ``gemini-batch:awaiting-decision``, the reason in
  ``error_message``), :func:`economy_status` reports it, and :func:`decide_economy` lets a
  person retry economy or choose the full price.
- **Poll** (:func:`poll_economy`, from the sweep, a notebook or a command): every open job is
  polled; its waiting rows' heartbeat is refreshed (recovery never resets economy rows: a
  reset would pay the batch a second time at the standard price).
- **Ingest**, once a job succeeded: the rows are leased to this ingest by a guarded update
  (``worker_id`` ``gemini-batch-ingest:{id}``, taken only from the submitter or from an ingest
  whose lease ran out), and the lease is renewed by a thread for as long as the ingest runs.
  Two sweeps at once: one gets the rows, the other nothing. Each row is stored and completed
  once; a row already completed is skipped. The results file is streamed to disk and read
  line by line. A failed download is retried (by the batch adapter, then at the next poll);
  it never makes anything again at full price.
- **Lines**: an image completes its row (with the batch line and its fidelity judgement in the
  ledger); a refused or invalid line fails its row; a passing failure, or a row whose line came
  back without a ``key`` (its cost is put on that row's ledger), goes into a new batch at the
  batch price; a job that failed, expired or was cancelled as a whole waits for a decision.

The local backend has no batch mode: economy flows on it are generated as usual.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from visualizer_core import backends
from visualizer_core.ai import usage
from visualizer_core.ai.base import AIBackend, GenerationRequest, GenerationResult
from visualizer_core.db import batch_rows, repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Flow
from visualizer_core.errors import (
    InvalidInput,
    ProviderError,
    TransientProviderError,
    VisualizerError,
)
from visualizer_core.schemas import ImageStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services import jobs
from visualizer_core.services._uow import in_scope, unit_of_work
from visualizer_core.services.jobs import job_id_for

__all__ = [
    "JOB_PREFIX",
    "EconomyStatus",
    "decide_economy",
    "economy_available",
    "economy_status",
    "poll_economy",
    "submit_economy",
]

log = logging.getLogger(__name__)

JOB_PREFIX: Final = batch_rows.JOB_PREFIX
AWAITING: Final = batch_rows.AWAITING


def _batch_ai() -> AIBackend | None:
    """The AI backend when it has a batch mode (Gemini does; the local backend does not)."""
    ai = backends.current().ai
    return ai if ai.supports_batch else None


def economy_available() -> bool:
    """Whether the AI backend has a batch mode (Gemini does; the local backend does not)."""
    return _batch_ai() is not None


def _batch(ai: AIBackend) -> Any:
    """The backend's batch mode, retrying as the settings say (``VISUALIZER_RETRY_*``)."""
    settings = backends.current().settings
    batch = ai.batch()
    for name, value in (
        ("attempts", settings.visualizer_max_attempts),
        ("backoff_s", settings.visualizer_retry_base_s),
        ("max_wait_s", min(settings.visualizer_retry_max_s, 60.0)),
    ):
        if hasattr(batch, name):
            setattr(batch, name, value)
    return batch


def _lease_s() -> float:
    """How long an ingest's lease on its rows lasts without renewal."""
    return max(backends.current().settings.stale_after_s, 2.0)


# -- submitting --------------------------------------------------------------------------------


def submit_economy(scope: Scope, *, flow_id: uuid.UUID | str) -> list[str]:
    """Submit the flow's pending images as batch jobs (one per model); returns the job names.

    Without a batch-capable backend, the images are dispatched to the workers instead. A
    refused submission leaves the rows waiting for :func:`decide_economy`.
    """
    scope.require(Action.GENERATE)
    with unit_of_work() as db:
        fid = in_scope(db, scope, Flow, flow_id, "flow").id
        pending = repo.image_ids_of_flow(db, fid, status=ImageStatus.PENDING)
    ai = _batch_ai()
    if ai is None:
        backends.current().queue.dispatch(pending)
        return []
    claimed: list[uuid.UUID] = []
    with unit_of_work() as db:
        for iid in pending:
            if repo.claim_image(db, iid, worker_id=batch_rows.SUBMITTER, now=utcnow()):
                claimed.append(iid)
    return _submit_rows(ai, claimed, f"flow {fid}")


def _submit_rows(ai: AIBackend, ids: Sequence[uuid.UUID], label: str) -> list[str]:
    """One batch job per model for these claimed rows; refusals wait for a decision.

    While it runs the rows say ``gemini-batch:submitting`` under this submission's own id, kept
    fresh by a thread; each job's display name ends with that id and the model, so that if the
    process stops half-way, :func:`poll_economy` finds whether the job was made (and takes it)
    instead of making, and paying for, a second one.
    """
    if not ids:
        return []
    token = uuid.uuid4().hex[:16]
    holder = f"{batch_rows.SUBMIT_PREFIX}{token}"
    with unit_of_work() as db:
        ids = batch_rows.mark_submitting(db, ids, holder, now=utcnow())
    batch = _batch(ai)
    names: list[str] = []
    with _Renewal(holder):
        for model, group in sorted(_by_model(ai, ids).items()):
            name = _submit_group(batch, group, f"{label} ({model})", f"{token}:{model}")
            if name is None:
                continue
            with unit_of_work() as db:
                batch_rows.submitted(db, group, holder, f"{JOB_PREFIX}{name}", now=utcnow())
            names.append(name)
    return names


def _by_model(ai: AIBackend, ids: Sequence[uuid.UUID]) -> dict[str, list[uuid.UUID]]:
    """The rows by the image model each was asked of (one batch job per model)."""
    with unit_of_work() as db:
        models = batch_rows.models_of(db, ids)
    by_model: dict[str, list[uuid.UUID]] = defaultdict(list)
    for iid in ids:
        by_model[models.get(iid) or ai.image_model].append(iid)
    return by_model


def _submit_group(batch: Any, group: list[uuid.UUID], display_name: str, token: str) -> str | None:
    """One job of these rows (one model); None when refused (the rows then wait)."""
    sent: list[uuid.UUID] = []

    def requests() -> Iterator[tuple[str, GenerationRequest]]:
        for iid in group:  # built (pictures read) as each line is written
            try:
                _job, request, _version = jobs.request_for(iid)
            except VisualizerError as error:
                jobs.fail(iid, str(error))
                continue
            sent.append(iid)
            yield str(iid), request

    try:
        name: str = batch.submit(requests(), display_name=display_name, token=token)
    except InvalidInput as error:
        if sent:
            raise
        log.info("nothing to submit for %s: %s", display_name, error)  # no row could be built
        return None
    except ProviderError as error:
        _await_decision(
            sent or group,
            f"Economy mode could not submit these images to the batch API ({error}). Nothing"
            " was charged for them. Choose: retry economy mode, or make them now at the"
            " full price.",
        )
        return None
    return name


def _recover_submission(ai: AIBackend | None, holder: str, ids: list[uuid.UUID]) -> int:
    """Rows of a submission whose process stopped: take its job if it was made, else submit
    them again (nothing was paid). Returns how many rows now wait for a decision."""
    if ai is None:
        _await_decision(
            ids,
            "The submission of these images stopped, and the AI backend has no batch mode any"
            " more to check whether its job was made. Choose: retry economy mode, or full price.",
        )
        return len(ids)
    token = holder.removeprefix(batch_rows.SUBMIT_PREFIX)
    batch = _batch(ai)
    waiting = 0
    for model, group in _by_model(ai, ids).items():
        try:
            name = batch.find(f"{token}:{model}")
        except ProviderError as error:
            _await_decision(
                group,
                f"The submission of these images stopped half-way and the batch jobs could not"
                f" be listed to see whether it was made ({error}). Check the provider's batch"
                " jobs, then choose: retry economy mode, or full price.",
            )
            waiting += len(group)
            continue
        if name is not None:
            log.warning("an interrupted submission had made batch %s: taking it", name)
            with unit_of_work() as db:
                batch_rows.submitted(db, group, holder, f"{JOB_PREFIX}{name}", now=utcnow())
        else:
            _submit_rows(ai, group, "resubmitted")  # the job was never made: nothing paid
    return waiting


def _await_decision(ids: Sequence[uuid.UUID], message: str) -> None:
    log.warning("%d economy images wait for a decision: %s", len(ids), message)
    with unit_of_work() as db:
        batch_rows.await_decision(db, ids, message=message[:2000], now=utcnow())


# -- status and decisions ----------------------------------------------------------------------


@dataclass(frozen=True)
class EconomyStatus:
    """Where a flow's economy images are.

    ``state``: ``none`` (not an economy flow, or nothing open), ``submitted`` (batch jobs
    running), ``waiting_decision`` (a submission was refused: see ``message`` and choose with
    :func:`decide_economy`) or ``done``.
    """

    flow_id: uuid.UUID
    state: Literal["none", "submitted", "waiting_decision", "done"]
    message: str | None
    waiting: int  # images waiting for a decision
    in_batch: int  # images in running batch jobs
    jobs: list[str]


def economy_status(scope: Scope, *, flow_id: uuid.UUID | str) -> EconomyStatus:
    """The economy state of a flow, and the message to show when it waits for a decision."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        flow = in_scope(db, scope, Flow, flow_id, "flow")
        fid = flow.id
        economy = bool((flow.settings or {}).get("economy"))
        rows = batch_rows.open_rows_of_flow(db, fid)
        finished = flow.finished_at is not None
    waiting = [r for r in rows if r.job_id == AWAITING]
    running = [r for r in rows if r.job_id != AWAITING]
    job_names = sorted({(r.job_id or "").removeprefix(JOB_PREFIX) for r in running})
    if waiting:
        state: Literal["none", "submitted", "waiting_decision", "done"] = "waiting_decision"
    elif running:
        state = "submitted"
    elif economy and finished:
        state = "done"
    else:
        state = "none"
    return EconomyStatus(
        flow_id=fid,
        state=state,
        message=waiting[0].error_message if waiting else None,
        waiting=len(waiting),
        in_batch=len(running),
        jobs=job_names,
    )


def decide_economy(
    scope: Scope, *, flow_id: uuid.UUID | str, choice: Literal["retry", "full_price"]
) -> EconomyStatus:
    """A person's answer to a refused submission: ``retry`` economy mode (a new batch job), or
    make the waiting images now at the ``full_price`` (the ordinary workers)."""
    scope.require(Action.GENERATE)
    if choice not in ("retry", "full_price"):
        raise InvalidInput("choose 'retry' (economy mode again) or 'full_price'")
    with unit_of_work() as db:
        fid = in_scope(db, scope, Flow, flow_id, "flow").id
        waiting = [r.id for r in batch_rows.open_rows_of_flow(db, fid) if r.job_id == AWAITING]
    if not waiting:
        raise InvalidInput("no images of this flow wait for a decision")
    ai = _batch_ai()
    if choice == "retry" and ai is not None:
        with unit_of_work() as db:
            batch_rows.clear_decision(db, waiting, now=utcnow())
        _submit_rows(ai, waiting, f"flow {fid} (retry)")
    else:
        _to_full_price(waiting)
    return economy_status(scope, flow_id=fid)


def _to_full_price(ids: Sequence[uuid.UUID]) -> None:
    now = utcnow()
    with unit_of_work() as db:
        for iid in ids:
            repo.update_image(
                db,
                iid,
                expect_status=ImageStatus.GENERATING,
                status=ImageStatus.PENDING,
                worker_id=None,
                error_message=None,
                job_id=job_id_for(iid),
                updated_at=now,
            )
    backends.current().queue.dispatch(list(ids))


# -- polling and ingesting ---------------------------------------------------------------------


def poll_economy(scope: Scope) -> dict[str, int]:
    """Poll every open batch job once; ingest the finished ones.

    Economy flows' pending rows (made without dispatching) are submitted first. Returns
    counts: ``submitted`` jobs, ``jobs`` polled, images ``completed``, ``failed``,
    ``resubmitted`` (into a new batch), ``waiting`` (for a decision), ``skipped`` (jobs
    another sweep is ingesting) and ``download_failed`` (jobs whose results could not be
    fetched this time).
    """
    scope.require(Action.ADMIN)
    counts = dict.fromkeys(
        (
            "jobs",
            "submitted",
            "completed",
            "failed",
            "resubmitted",
            "waiting",
            "skipped",
            "download_failed",
        ),
        0,
    )
    now = utcnow()
    with unit_of_work() as db:
        # Rows waiting for a job or a decision stay theirs: recovery must not reset them.
        batch_rows.touch_waiting(db, now=now)
        stopped = batch_rows.interrupted_submissions(
            db, older_than=now - dt.timedelta(seconds=_lease_s()), now=now
        )
    ai = _batch_ai()
    for holder, ids in stopped.items():
        counts["waiting"] += _recover_submission(ai, holder, ids)
    if ai is not None:
        with unit_of_work() as db:
            unsubmitted = batch_rows.pending_economy_flows(db)
        for flow_id in unsubmitted:  # economy rows left pending: into a batch, not the workers
            counts["submitted"] += len(submit_economy(scope, flow_id=flow_id))
    with unit_of_work() as db:
        open_jobs = batch_rows.open_jobs(db)
    for name in open_jobs:
        counts["jobs"] += 1
        if ai is None:
            counts["waiting"] += _job_waits(
                name,
                f"Batch job {name} cannot be read: the AI backend has no batch mode any more"
                " (GEMINI_API_KEY unset?). Choose: retry economy mode once it is back, or make"
                " the images at the full price.",
            )
            continue
        batch = _batch(ai)
        try:
            status = batch.status(name)
        except TransientProviderError as error:
            log.warning("polling batch %s failed (next poll tries again): %s", name, error)
            continue
        except ProviderError as error:
            counts["waiting"] += _job_waits(
                name,
                f"Batch job {name} cannot be read ({error}). Choose: retry economy mode (a new"
                " job), or make the images at the full price.",
            )
            continue
        if not status.done:
            continue
        if status.state != "succeeded":
            counts["waiting"] += _job_waits(
                name,
                f"Batch job {name} ended without results ({status.error}). Choose: retry economy"
                " mode (a new job), or make the images at the full price.",
            )
            continue
        _ingest(ai, batch, name, status, counts)
    return counts


def _job_waits(name: str, message: str) -> int:
    """The job's rows wait for a decision, with ``message``; returns how many."""
    with unit_of_work() as db:
        ids = batch_rows.rows_of_job(db, f"{JOB_PREFIX}{name}")
    _await_decision(ids, message)
    return len(ids)


class _Renewal:
    """A thread keeping ``holder``'s rows fresh (their heartbeat is the lease) during a block."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backends = backends.current()

    def __enter__(self) -> _Renewal:
        self._thread = threading.Thread(
            target=self._renew, name=f"lease-{self.holder}", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _renew(self) -> None:
        backends.activate_for_thread(self._backends)
        every = _lease_s() / 3
        while not self._stop.wait(every):
            try:
                with unit_of_work() as db:
                    batch_rows.renew(db, self.holder, now=utcnow())
            except Exception:  # a missed renewal is retried at the next beat
                log.warning("renewing the lease %s failed", self.holder, exc_info=True)


class _Lease:
    """This ingest's hold on a job's rows, renewed by a thread until it is released."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self.holder = f"{batch_rows.INGEST_PREFIX}{uuid.uuid4().hex[:12]}"
        self._renewal = _Renewal(self.holder)

    def take(self) -> list[uuid.UUID]:
        now = utcnow()
        with unit_of_work() as db:
            rows = batch_rows.lease(
                db,
                self.job_id,
                holder=self.holder,
                now=now,
                expired_before=now - dt.timedelta(seconds=_lease_s()),
            )
        if rows:
            self._renewal.__enter__()
        return rows

    def holds(self, iid: uuid.UUID) -> bool:
        """Whether the row is still this ingest's (and still open): checked before each row."""
        with unit_of_work() as db:
            return batch_rows.renew_one(db, iid, self.holder, now=utcnow())

    def release(self) -> None:
        self._renewal.__exit__()
        with unit_of_work() as db:
            batch_rows.release(db, self.holder, now=utcnow())


def _ingest(ai: AIBackend, batch: Any, name: str, status: Any, counts: dict[str, int]) -> None:
    lease = _Lease(f"{JOB_PREFIX}{name}")
    mine = set(lease.take())
    if not mine:
        counts["skipped"] += 1  # another sweep is ingesting it, or it is done
        return
    try:
        with tempfile.TemporaryDirectory(prefix="visualizer-ingest-") as folder:
            try:
                path = batch.download(status, Path(folder) / "responses.jsonl")
            except ProviderError as error:
                # Retried already; the next poll tries again. Never made again at full price.
                log.warning("the results of batch %s could not be fetched: %s", name, error)
                counts["download_failed"] += 1
                return
            retry: list[uuid.UUID] = []
            unkeyed: list[usage.CallRecord] = []
            seen: set[uuid.UUID] = set()
            for line in batch.lines(path, status):
                iid = _row_of(line.key, mine)
                if iid is None:
                    if line.key is None:
                        unkeyed.append(line.record)
                    continue  # a row no longer this ingest's (done before): skipped
                seen.add(iid)
                if not lease.holds(iid):
                    continue
                outcome = _ingest_line(iid, line.result, line.record)
                counts[outcome] += 1
                if outcome == "resubmitted":
                    retry.append(iid)
            missing = [iid for iid in sorted(mine - seen, key=str) if lease.holds(iid)]
            _charge_unkeyed(unkeyed, missing or sorted(mine, key=str), name)
            retry += missing
            counts["resubmitted"] += len(missing)
            if retry:
                with unit_of_work() as db:
                    batch_rows.hand_back(db, retry, lease.holder, now=utcnow())
                _submit_rows(ai, retry, f"batch {name} (again)")
    finally:
        lease.release()


def _row_of(key: str | None, mine: set[uuid.UUID]) -> uuid.UUID | None:
    if key is None:
        return None
    try:
        iid = uuid.UUID(key)
    except ValueError:
        return None
    return iid if iid in mine else None


def _ingest_line(
    iid: uuid.UUID, result: GenerationResult | ProviderError, record: usage.CallRecord
) -> str:
    """One row from its line: ``completed``, ``failed`` or ``resubmitted``."""
    if isinstance(result, TransientProviderError):
        jobs.record_calls(iid, [record])
        return "resubmitted"
    if isinstance(result, ProviderError):  # refused content, a bad request
        jobs.record_calls(iid, [record])
        jobs.fail(iid, str(result))
        return "failed"
    started = time.perf_counter()
    with usage.collect() as calls:  # the fidelity judgement
        try:
            job, request, prompt_version = jobs.request_for(iid)
            timings: dict[str, float] = {}
            kept = jobs.keep_result(iid, job, result, request.product_images[0], timings)
        except VisualizerError as error:
            jobs.record_calls(iid, [record, *calls])
            jobs.fail(iid, str(error))
            return "failed"
    jobs.record_calls(iid, [record, *calls])
    timings["ingest_s"] = time.perf_counter() - started
    jobs.complete(
        iid,
        request=request,
        prompt_version=prompt_version,
        result=result,
        kept=kept,
        timings=timings,
    )
    return "completed"


def _charge_unkeyed(
    records: Sequence[usage.CallRecord], rows: Sequence[uuid.UUID], name: str
) -> None:
    """Lines without a key were paid but name no row: each is put on a row left without a
    line (in order), so the job's total is right even when its rows cannot be told apart."""
    if not records or not rows:
        return
    log.warning("batch %s: %d lines came back without a key", name, len(records))
    for index, record in enumerate(records):
        record.failed("the batch answered this line without its key: it matches no image")
        jobs.record_calls(rows[index % len(rows)], [record])
