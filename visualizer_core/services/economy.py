"""Bulk economy mode: a flow's images through the Gemini Batch API, at half the price, slower.

A flow whose settings say ``economy`` is not dispatched to the workers image by image:
:func:`submit_economy` claims its pending rows (pending to generating, as a worker would, so no
worker takes them), builds each row's request with the task's own steps
(:mod:`visualizer_core.services.jobs`), and submits them as one batch job per model. Each row's
``job_id`` becomes ``gemini-batch:{job name}``.

:func:`poll_economy` (run it from a sweep, a notebook or a command; it is cheap) polls every
open job, refreshes its rows' heartbeat so recovery leaves them alone, and ingests a finished
job row by row: an image is stored and the row completed, with its usage and the batch price;
a refused or invalid row gets its error message; a row that failed for a passing reason (rate
limit, server error) goes back to the ordinary queue, as does every row of a job that failed
as a whole. If polling stops altogether, recovery eventually resets the rows to pending and
the workers make them at the standard price: nothing is lost, only the discount.

Whether the AI backend has a batch mode is its ``supports_batch``; the local backend has none,
so economy flows on it are generated as usual.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Final

from visualizer_core import backends
from visualizer_core.ai.base import AIBackend, GenerationRequest, GenerationResult
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Flow, GeneratedImage
from visualizer_core.errors import (
    NotFound,
    ProviderError,
    TransientProviderError,
    VisualizerError,
)
from visualizer_core.scope import Action, Scope
from visualizer_core.services import jobs
from visualizer_core.services._uow import parse_id, unit_of_work
from visualizer_core.services.jobs import job_id_for

__all__ = ["JOB_PREFIX", "economy_available", "poll_economy", "submit_economy"]

log = logging.getLogger(__name__)

JOB_PREFIX: Final = "gemini-batch:"
WORKER_ID: Final = "gemini-batch"


def _batch_ai() -> AIBackend | None:
    """The AI backend when it has a batch mode (Gemini does; the local backend does not)."""
    ai = backends.current().ai
    return ai if ai.supports_batch else None


def economy_available() -> bool:
    """Whether the AI backend has a batch mode (Gemini does; the local backend does not)."""
    return _batch_ai() is not None


def _back_to_queue(image_ids: Sequence[uuid.UUID], why: str) -> None:
    """Rows the batch could not make go to the ordinary workers (standard price)."""
    if not image_ids:
        return
    log.warning("%d economy images go to the standard queue: %s", len(image_ids), why)
    now = utcnow()
    with unit_of_work() as db:
        for iid in image_ids:
            repo.update_image(
                db,
                iid,
                expect_status="generating",
                status="pending",
                worker_id=None,
                job_id=job_id_for(iid),
                updated_at=now,
            )
    backends.current().queue.dispatch(list(image_ids))


def submit_economy(scope: Scope, *, flow_id: uuid.UUID | str) -> list[str]:
    """Submit the flow's pending images as batch jobs (one per model); returns the job names.

    Without a batch-capable backend, the images are dispatched to the workers instead.
    """
    scope.require(Action.GENERATE)
    fid = parse_id(flow_id, "flow")
    with unit_of_work() as db:
        flow = repo.get(db, Flow, fid, client_id=scope.client_filter())
        if flow is None:
            raise NotFound("flow", flow_id)
        pending = [
            row.id
            for row in repo.images_where(
                db, GeneratedImage.flow_id == fid, GeneratedImage.status == "pending"
            )
        ]
    ai = _batch_ai()
    if ai is None:
        backends.current().queue.dispatch(pending)
        return []
    claimed: list[uuid.UUID] = []
    with unit_of_work() as db:
        for iid in pending:
            if repo.claim_image(db, iid, worker_id=WORKER_ID, now=utcnow()):
                claimed.append(iid)
    by_model: dict[str, list[tuple[str, GenerationRequest]]] = defaultdict(list)
    refused: list[tuple[uuid.UUID, str]] = []
    for iid in claimed:
        try:
            _job, request, _version = jobs.request_for(iid)
        except VisualizerError as error:
            refused.append((iid, str(error)))
            continue
        by_model[request.model or ai.image_model].append((str(iid), request))
    _fail_rows(refused)
    names: list[str] = []
    batch = ai.batch()
    for model, requests in by_model.items():
        ids = [uuid.UUID(key) for key, _ in requests]
        try:
            name = batch.submit(requests, display_name=f"flow {fid} ({model})")
        except ProviderError as error:
            _back_to_queue(ids, f"the batch could not be submitted ({error})")
            continue
        now = utcnow()
        with unit_of_work() as db:
            repo.update_images(db, ids, job_id=f"{JOB_PREFIX}{name}", heartbeat_at=now)
        names.append(name)
    return names


def _fail_rows(rows: Sequence[tuple[uuid.UUID, str]]) -> None:
    for iid, message in rows:
        jobs.fail(iid, message)


def _store(iid: uuid.UUID, result: GenerationResult) -> bool:
    """Store one batch result as the row's image and complete the row (its job_id stays)."""
    started = time.perf_counter()
    job, request, prompt_version = jobs.request_for(iid)
    timings: dict[str, float] = {}
    kept = jobs.keep_result(iid, job, result, request.product_images[0], timings)
    timings["ingest_s"] = time.perf_counter() - started
    return jobs.complete(
        iid,
        request=request,
        prompt_version=prompt_version,
        result=result,
        kept=kept,
        timings=timings,
    )


def poll_economy(scope: Scope) -> dict[str, int]:
    """Poll every open batch job once; ingest the finished ones.

    Returns counts: ``jobs`` polled, images ``completed``, ``failed`` and ``requeued``.
    """
    scope.require(Action.ADMIN)
    counts = {"jobs": 0, "completed": 0, "failed": 0, "requeued": 0}
    with unit_of_work() as db:
        rows = repo.images_where(
            db,
            GeneratedImage.status == "generating",
            GeneratedImage.job_id.like(f"{JOB_PREFIX}%"),
        )
        open_jobs: dict[str, list[uuid.UUID]] = defaultdict(list)
        for row in rows:
            assert row.job_id is not None
            open_jobs[row.job_id.removeprefix(JOB_PREFIX)].append(row.id)
    if not open_jobs:
        return counts
    ai = _batch_ai()
    if ai is None:
        for ids in open_jobs.values():
            _back_to_queue(ids, "the AI backend has no batch mode any more")
            counts["requeued"] += len(ids)
        return counts
    batch = ai.batch()
    for name, ids in open_jobs.items():
        counts["jobs"] += 1
        try:
            status = batch.status(name)
        except TransientProviderError as error:
            log.warning("polling batch %s failed: %s", name, error)
            continue
        except ProviderError as error:
            _back_to_queue(ids, f"batch {name} cannot be read ({error})")
            counts["requeued"] += len(ids)
            continue
        if not status.done:
            with unit_of_work() as db:
                repo.touch_images(db, ids, now=utcnow())
            continue
        if status.state != "succeeded":
            _back_to_queue(ids, f"batch {name}: {status.error}")
            counts["requeued"] += len(ids)
            continue
        results = batch.results(status)
        retry: list[uuid.UUID] = []
        failed: list[tuple[uuid.UUID, str]] = []
        for iid in ids:
            result = results.get(str(iid))
            if result is None or isinstance(result, TransientProviderError):
                retry.append(iid)
            elif isinstance(result, ProviderError):  # refused content, a bad request
                failed.append((iid, str(result)))
            else:
                try:
                    if _store(iid, result):
                        counts["completed"] += 1
                except VisualizerError as error:
                    failed.append((iid, str(error)))
        _fail_rows(failed)
        counts["failed"] += len(failed)
        _back_to_queue(retry, f"batch {name}: a passing failure")
        counts["requeued"] += len(retry)
    return counts
