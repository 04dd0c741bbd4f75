"""The steps of one image, shared by the standard task and the economy (batch) path.

A generated image's row is the unit of work. Whoever makes it, a worker thread running
:func:`visualizer_core.services.generation.process_image` or the batch ingest of
:mod:`visualizer_core.services.economy`, goes through the same steps, so both paths ask for the
same picture and record it the same way:

1. :func:`load_job` reads what the row needs (product, photo, scene, settings) as a :class:`Job`;
2. :func:`build_request` turns it into the AI request (:func:`request_for` does 1 and 2 with
   the pictures read from storage);
3. :func:`call_ai` asks the AI, retrying passing failures with exponential backoff;
4. :func:`keep_result` stores the image and its thumbnail at the row's keys and checks fidelity;
5. :func:`complete` or :func:`fail` marks the row, guarded: only while it is still ``generating``
   (a recovery may have taken it back), and then
6. :func:`finish_flow_if_done` marks the flow finished when that row was its last open one, and
   asks the queue to deliver the flow's webhook.

These are worker steps: they take the ids the queue dispatched, never a person's input, so
they take no scope.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from visualizer_core import backends
from visualizer_core.ai import usage
from visualizer_core.ai.base import GenerationRequest, GenerationResult
from visualizer_core.db import ledger, repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Flow, GeneratedImage, Product, ProductImage, StudioSession
from visualizer_core.errors import InvalidInput, RateLimited, TransientProviderError
from visualizer_core.fidelity import FidelityCheck, check_fidelity
from visualizer_core.images.ingest import make_thumbnail
from visualizer_core.prompts import build_prompt
from visualizer_core.schemas import FlowSettings, ImageStatus, ProductAnalysis, SceneAnalysis
from visualizer_core.services._uow import unit_of_work
from visualizer_core.storage import keys

__all__ = [
    "Job",
    "Kept",
    "Retries",
    "build_request",
    "call_ai",
    "complete",
    "fail",
    "finish_flow_if_done",
    "image_status",
    "job_id_for",
    "keep_result",
    "load_job",
    "record_calls",
    "request_for",
]

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


def job_id_for(image_id: uuid.UUID) -> str:
    """The queue's job id of an image: ``{APP_ENV}:generation:jobs:{image id}``."""
    prefix = backends.current().settings.queue_prefix
    return f"{prefix}:generation:jobs:{image_id}"


def image_status(image_id: uuid.UUID) -> str | None:
    """The status of one image row, or None when there is no such row (the queue asks)."""
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, image_id, client_id=None)
        return image.status if image is not None else None


@dataclass(frozen=True)
class Job:
    """What one image needs, read from its row and the rows it points at."""

    image_id: uuid.UUID
    client_id: uuid.UUID
    session_id: uuid.UUID
    product_name: str
    base_key: str
    scene_key: str
    product_analysis: ProductAnalysis | None
    scene_analysis: SceneAnalysis | None
    settings: FlowSettings
    seed: int
    model: str | None


def load_job(image_id: uuid.UUID) -> Job:
    """The row's job; ``InvalidInput`` when its photo or scene is gone (the person can act)."""
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, image_id, client_id=None)
        assert image is not None
        flow = repo.get(db, Flow, image.flow_id, client_id=None)
        session = repo.get(db, StudioSession, image.studio_session_id, client_id=None)
        product = repo.get(db, Product, image.product_id, client_id=None)
        photo = (
            repo.get(db, ProductImage, image.product_image_id, client_id=None)
            if image.product_image_id
            else None
        )
        if photo is None:
            photo_list = repo.images_of(db, [image.product_id])[image.product_id]
            photo = photo_list[0] if photo_list else None
        assert flow is not None and session is not None and product is not None
        if photo is None:
            raise InvalidInput(
                f"product {product.sku} has no photo any more: upload one and re-run"
            )
        scene = session.find_scene(image.scene_id)
        if scene is None:
            raise InvalidInput("the scene of this image was removed from the session: pick another")
        return Job(
            image_id=image.id,
            client_id=image.client_id,
            session_id=image.studio_session_id,
            product_name=product.name,
            base_key=photo.base_key,
            scene_key=scene.key,
            product_analysis=ProductAnalysis.model_validate(product.analysis)
            if product.analysis
            else None,
            scene_analysis=scene.analysis,
            settings=FlowSettings.model_validate(flow.settings),
            seed=image.seed,
            model=image.model,
        )


def build_request(
    job: Job, product_png: bytes, scene_bytes: bytes
) -> tuple[GenerationRequest, str | None]:
    """The AI request of a row, and the version of its prompt (None without analyses)."""
    prompt = None
    if job.product_analysis is not None and job.scene_analysis is not None:
        prompt = build_prompt(
            job.product_name, job.product_analysis, job.scene_analysis, job.settings
        )
    request = GenerationRequest(
        product_images=(product_png,),
        scene_image=scene_bytes,
        prompt=prompt.text if prompt else job.settings.prompt or f"Place {job.product_name}.",
        aspect_ratio=job.settings.aspect_ratio,
        seed=job.seed,
        product_analysis=job.product_analysis,
        scene_analysis=job.scene_analysis,
        model=job.model,
    )
    return request, prompt.version if prompt else None


def request_for(image_id: uuid.UUID) -> tuple[Job, GenerationRequest, str | None]:
    """The row's job, its request (pictures read from storage) and its prompt version."""
    job = load_job(image_id)
    storage = backends.current().storage
    request, version = build_request(job, storage.get(job.base_key), storage.get(job.scene_key))
    return job, request, version


def _wait_before_retry(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, RateLimited) and error.retry_after:
        return min(float(error.retry_after), BACKOFF_MAX_S)
    return float(min(BACKOFF_BASE_S * 2 ** (state.attempt_number - 1), BACKOFF_MAX_S))


@dataclass
class Retries:
    """What the retry loop did for one image: retries made and seconds waited before them."""

    count: int = 0
    waited_s: float = 0.0

    def before_sleep(self, state: RetryCallState) -> None:
        self.count += 1
        self.waited_s += state.next_action.sleep if state.next_action else 0.0
        error = state.outcome.exception() if state.outcome else None
        log.info("retrying after %s (attempt %d)", error, state.attempt_number + 1)


def call_ai(request: GenerationRequest, attempts: int, retries: Retries) -> GenerationResult:
    """The AI's image, with transient failures retried with exponential backoff."""
    ai = backends.current().ai
    retrying = Retrying(
        retry=retry_if_exception_type(TransientProviderError),
        stop=stop_after_attempt(attempts),
        wait=_wait_before_retry,
        before_sleep=retries.before_sleep,
        reraise=True,
    )
    result: GenerationResult = retrying(ai.generate, request)
    return result


def _encode(image_bytes: bytes, mime: str) -> tuple[bytes, str, str]:
    """The stored form of a generated image: JPEG stays, anything else becomes JPEG."""
    if mime == "image/jpeg":
        return image_bytes, "jpg", "image/jpeg"
    with Image.open(io.BytesIO(image_bytes)) as picture:
        rgb = picture.convert("RGB")
    buffer = io.BytesIO()
    rgb.save(buffer, "JPEG", quality=92)
    return buffer.getvalue(), "jpg", "image/jpeg"


@dataclass(frozen=True)
class Kept:
    """Where a result was stored, and its fidelity judgement."""

    image_key: str
    thumb_key: str
    fidelity: FidelityCheck | None


def keep_result(
    iid: uuid.UUID,
    job: Job,
    result: GenerationResult,
    product_png: bytes,
    timings: dict[str, float],
) -> Kept:
    """Encode and store the image and its thumbnail at the row's keys, then check fidelity."""
    current = backends.current()
    mark = time.perf_counter()
    data, ext, mime = _encode(result.image, result.mime_type)
    thumb = make_thumbnail(data, filename=f"{iid}.{ext}")
    timings["encode_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    image_key = keys.generated_image(job.client_id, job.session_id, iid, ext)
    thumb_key = keys.generated_thumbnail(job.client_id, job.session_id, iid)
    current.storage.put(image_key, data, content_type=mime)
    current.storage.put(thumb_key, thumb, content_type="image/jpeg")
    timings["store_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    fidelity = check_fidelity(current.ai, product_png=product_png, generated=data, meta=result.meta)
    timings["fidelity_s"] = time.perf_counter() - mark
    return Kept(image_key, thumb_key, fidelity)


def record_calls(image_id: uuid.UUID, calls: Sequence[usage.CallRecord]) -> float:
    """Puts provider calls made for an image on its ledger (own transaction); returns the
    image's total cost. For calls made outside :func:`complete` and :func:`fail` (a
    judgement made later, a batch line)."""
    with unit_of_work() as db:
        return _add_calls(db, image_id, calls)


def _add_calls(db: Session, image_id: uuid.UUID, calls: Sequence[usage.CallRecord]) -> float:
    row = repo.get(db, GeneratedImage, image_id, client_id=None)
    if row is None:
        return 0.0
    for record in calls:  # what each call was for
        record.image_id = str(image_id)
        record.client_id = str(row.client_id)
        record.product_id = str(row.product_id)
    if not calls and row.cost_usd is None:
        row.cost_usd = 0.0  # no provider call (the local backend): free, not unknown
        return 0.0
    return ledger.add_image_calls(db, image_id, calls)


def _rounded(timings: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in timings.items()}


def complete(
    iid: uuid.UUID,
    *,
    request: GenerationRequest,
    prompt_version: str | None,
    result: GenerationResult,
    kept: Kept,
    timings: dict[str, float],
    extra_attempts: int = 0,
    calls: Sequence[usage.CallRecord] = (),
) -> bool:
    """Mark a row completed with its lineage (if it is still this run's); finish its flow.

    ``calls`` (every provider call made for the row by this run) go on its ledger in the same
    transaction, also when the row was taken back meanwhile: they were paid all the same.
    """
    current = backends.current()
    now = utcnow()
    public = current.settings.r2_public_url
    with unit_of_work() as db:
        _add_calls(db, iid, calls)
        done = repo.update_image(
            db,
            iid,
            expect_status=ImageStatus.GENERATING,
            status=ImageStatus.COMPLETED,
            image_key=kept.image_key,
            thumbnail_key=kept.thumb_key,
            image_url=current.storage.url(kept.image_key) if public else None,
            error_message=None,
            prompt=request.prompt,
            prompt_version=prompt_version,
            model=result.model,
            fidelity_score=kept.fidelity.score if kept.fidelity else None,
            add_attempts=extra_attempts,
            completed_at=now,
            heartbeat_at=now,
            timings=_rounded(timings),
            updated_at=now,
        )
    if done:
        finish_flow_if_done(iid)
    return done


def fail(
    image_id: uuid.UUID,
    message: str,
    *,
    extra_attempts: int = 0,
    timings: Mapping[str, float] | None = None,
    calls: Sequence[usage.CallRecord] = (),
) -> bool:
    """Mark the row failed with a message a person can act on (if it is still this run's).

    ``extra_attempts`` (retries made) are added to the row's attempts; ``timings``, when given,
    replace its timings; ``calls`` go on its ledger (a failed image was paid for too). The flow
    is finished when this was its last open row.
    """
    now = utcnow()
    extra: dict[str, Any] = {} if timings is None else {"timings": _rounded(timings)}
    with unit_of_work() as db:
        _add_calls(db, image_id, calls)
        done = repo.update_image(
            db,
            image_id,
            expect_status=ImageStatus.GENERATING,
            status=ImageStatus.ERROR,
            error_message=message[:2000],
            add_attempts=extra_attempts,
            completed_at=now,
            updated_at=now,
            **extra,
        )
    finish_flow_if_done(image_id)
    return done


def finish_flow_if_done(image_id: uuid.UUID) -> None:
    """When the image was its flow's last open one, mark the flow finished and notify."""
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, image_id, client_id=None)
        if image is None:
            return
        flow_id = image.flow_id
        won = repo.finish_flow(db, flow_id, now=utcnow())
    if won:
        backends.current().queue.flow_finished(flow_id)
