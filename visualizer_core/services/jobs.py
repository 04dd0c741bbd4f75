"""The steps of one image, shared by the standard task and the economy (batch) path.

A generated image's row is the unit of work. Whoever makes it, a worker thread running
:func:`visualizer_core.services.generation.process_image` or the batch ingest of
:mod:`visualizer_core.services.economy`, goes through the same steps, so both paths ask for the
same picture and record it the same way:

1. :func:`load_job` reads what the row needs (product, photo, scene, settings) as a :class:`Job`;
2. :func:`build_request` turns it into the AI request (:func:`request_for` does 1 and 2 with
   the pictures read from storage), with the seed of this attempt (a retry draws anew);
3. :func:`call_ai` asks the AI once, with the row's slot of the model's limits; a failure worth
   another attempt is not retried here but handed back to the queue with :func:`defer`;
4. :func:`keep_result` measures the product in the picture (the fidelity gate's measurement),
   in pixel-exact mode puts the product photo's own pixels back where the product was found,
   and stores the image and its thumbnail at the row's keys, each with the IPTC digital source
   type that says how it was made (:mod:`visualizer_core.images.provenance`);
5. :func:`complete` or :func:`fail` marks the row, guarded: only while it is still ``generating``
   (a recovery may have taken it back); a completed image is done (its fidelity judgement, when
   the client wants one, is a task of its own: :func:`judge`), and then
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

from visualizer_core import backends
from visualizer_core.ai import ratelimit, usage
from visualizer_core.ai.base import GenerationRequest, GenerationResult
from visualizer_core.ai.retry import is_retryable, retry_delay_s, seed_for
from visualizer_core.db import ledger, repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import (
    Client,
    Flow,
    GeneratedImage,
    Product,
    ProductImage,
    StudioSession,
)
from visualizer_core.errors import DailyLimitReached, InvalidInput, ProviderError, RateLimited
from visualizer_core.fidelity import FidelityCheck, Measurement, check_fidelity, measure
from visualizer_core.images import content_credentials, provenance
from visualizer_core.images.ingest import make_thumbnail
from visualizer_core.images.pixel_exact import composite_product
from visualizer_core.prompts import build_prompt
from visualizer_core.schemas import FlowSettings, ImageStatus, ProductAnalysis, SceneAnalysis
from visualizer_core.services import gate
from visualizer_core.services._uow import unit_of_work
from visualizer_core.storage import keys

__all__ = [
    "FIDELITY_MODES",
    "FidelityMode",
    "Job",
    "Kept",
    "build_request",
    "call_ai",
    "complete",
    "defer",
    "fail",
    "fidelity_mode",
    "fidelity_wanted",
    "finish_flow_if_done",
    "image_status",
    "job_id_for",
    "judge",
    "keep_result",
    "keeps_product_pixels",
    "load_job",
    "parse_fidelity_check",
    "record_calls",
    "request_for",
    "still_held",
]

log = logging.getLogger(__name__)


def job_id_for(image_id: uuid.UUID) -> str:
    """The queue's job id of an image: ``{APP_ENV}:generation:jobs:{image id}``."""
    prefix = backends.current().settings.queue_prefix
    return f"{prefix}:generation:jobs:{image_id}"


def image_status(image_id: uuid.UUID) -> str | None:
    """The status of one image row, or None when there is no such row (the queue asks)."""
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, image_id, client_id=None)
        return image.status if image is not None else None


def still_held(image_id: uuid.UUID, worker_id: str) -> bool:
    """Whether the row is still this run's (generating, claimed by ``worker_id``): a run that
    stalled past the heartbeat's grace may have had it reset and claimed by another run."""
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, image_id, client_id=None)
        return (
            image is not None
            and image.status == ImageStatus.GENERATING
            and image.worker_id == worker_id
        )


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
    attempt: int = 0  # 0 for the first attempt at the row; each retry draws with a new seed
    keep_product_pixels: bool = False  # pixel-exact mode (the flow's setting, else the client's)


def load_job(image_id: uuid.UUID) -> Job:
    """The row's job; ``InvalidInput`` when its photo or scene is gone (the person can act)."""
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, image_id, client_id=None)
        assert image is not None
        flow = repo.get(db, Flow, image.flow_id, client_id=None)
        session = repo.get(db, StudioSession, image.studio_session_id, client_id=None)
        product = repo.get(db, Product, image.product_id, client_id=None)
        client = repo.get(db, Client, image.client_id, client_id=None)
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
            scene_analysis=scene.effective_analysis(),
            settings=FlowSettings.model_validate(flow.settings),
            seed=image.seed,
            model=image.model,
            attempt=max(image.attempts - 1, 0),  # the claim counted this attempt already
            keep_product_pixels=keeps_product_pixels(
                flow.settings or {}, (client.settings or {}) if client else {}
            ),
        )


def keeps_product_pixels(
    flow_settings: Mapping[str, Any], client_settings: Mapping[str, Any]
) -> bool:
    """Whether pixel-exact mode is on for a flow: its own ``keep_product_pixels`` when set,
    else its client's (off by default)."""
    own = flow_settings.get("keep_product_pixels")
    if own is not None:
        return bool(own)
    return bool(client_settings.get("keep_product_pixels", False))


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
        seed=seed_for(job.seed, job.attempt),
        product_analysis=job.product_analysis,
        scene_analysis=job.scene_analysis,
        model=job.model,
        image_size=job.settings.image_size,
    )
    return request, prompt.version if prompt else None


def request_for(image_id: uuid.UUID) -> tuple[Job, GenerationRequest, str | None]:
    """The row's job, its request (pictures read from storage) and its prompt version."""
    job = load_job(image_id)
    storage = backends.current().storage
    request, version = build_request(job, storage.get(job.base_key), storage.get(job.scene_key))
    return job, request, version


def call_ai(image_id: uuid.UUID, request: GenerationRequest) -> GenerationResult:
    """The AI's image, asked once, in the row's slots of the model's limits.

    A full window is not waited out here: it raises ``RateLimited`` (``local``, with the
    seconds until the slot kept for this image is due), and so does every other failure, for
    the caller to :func:`defer` or :func:`fail` the row. The slots are held as ``image:{id}``,
    so the job finds its kept slot when it comes back.
    """
    with ratelimit.waiting(False), ratelimit.holding(f"image:{image_id}"):
        return backends.current().ai.generate(request)


def defer(
    image_id: uuid.UUID,
    delay_s: float,
    *,
    retry: bool,
    note: str,
    calls: Sequence[usage.CallRecord] = (),
) -> bool:
    """Give the row back to the queue for ``delay_s`` seconds (the wait is the queue's).

    The row goes back to ``pending`` (if it is still this run's) and the queue hands it to a
    worker when the delay is over. ``retry`` True counts this run as a failed attempt (the next
    one draws with a new seed); False (a rate limit, a paused model) gives the attempt back.
    ``calls`` (the provider calls of this run, failed ones included) go on the row's ledger.
    """
    now = utcnow()
    with unit_of_work() as db:
        _add_calls(db, image_id, calls)
        done = repo.update_image(
            db,
            image_id,
            expect_status=ImageStatus.GENERATING,
            status=ImageStatus.PENDING,
            worker_id=None,
            attempts=GeneratedImage.attempts + (0 if retry else -1),
            updated_at=now,
        )
    if done:
        log.info("image %s back in the queue for %.1f s: %s", image_id, delay_s, note)
        backends.current().queue.dispatch([image_id], delay_s=max(delay_s, 0.0))
    return done


def _as_jpeg(image_bytes: bytes, mime: str, stamp: provenance.Provenance) -> bytes:
    """The stored form of a generated image: a JPEG with its provenance tag and no other
    metadata. A provider's JPEG keeps its compressed pixels (only its header is rewritten);
    anything else becomes JPEG."""
    if mime == "image/jpeg":
        try:
            return provenance.restamp_jpeg(image_bytes, stamp)
        except ValueError:
            pass  # a JPEG whose header cannot be walked: decoded and encoded again below
    with Image.open(io.BytesIO(image_bytes)) as picture:
        rgb = picture.convert("RGB")
    return provenance.encode(rgb, "jpeg", stamp, quality=92)


def _source_type_of(result: GenerationResult) -> str:
    """IPTC's source type of a result: a composite where the product's own pixels were
    placed into the picture (the result's ``meta["composited"]``), else generated."""
    return provenance.COMPOSITE if result.meta.get("composited") else provenance.TRAINED


COMPOSITOR_NOTE = "the compositor placed the product photo's own pixels (relit to the scene)"


@dataclass(frozen=True)
class Kept:
    """Where a result was stored, its measurement, and whose pixels show the product.

    ``fidelity`` is the score as the row keeps it; ``measurement`` the gate's measurement
    (``Measurement.as_dict``) when it could be made; ``product_pixels`` ``composited`` when the
    product photo's own pixels are in the picture (the compositor's, or pixel-exact mode's),
    ``product_pixels_note`` what pixel-exact mode did or why it did not.
    """

    image_key: str
    thumb_key: str
    fidelity: FidelityCheck | None
    measurement: dict[str, Any] | None = None
    product_pixels: str = "generated"
    product_pixels_note: str | None = None


def keep_result(
    iid: uuid.UUID,
    job: Job,
    result: GenerationResult,
    product_png: bytes,
    timings: dict[str, float],
) -> Kept:
    """Measure the picture, composite the product's own pixels back when asked, store it.

    Every picture is measured on the spot (:func:`visualizer_core.fidelity.measure`, with the
    client's calibration): the compositor's with its box, a provider's by finding the product.
    In pixel-exact mode (``keep_product_pixels``) a provider's picture gets the product photo's
    own pixels where the product was found (:mod:`visualizer_core.images.pixel_exact`), and the
    final picture is measured again; where the product is occluded or not found the picture is
    kept as generated and the note says why. The judgement of a provider, when the client's
    ``fidelity_check`` asks one, is a task of its own (:func:`judge`).
    """
    current = backends.current()
    mark = time.perf_counter()
    stamp = provenance.Provenance(_source_type_of(result))
    data = _as_jpeg(result.image, result.mime_type, stamp)
    timings["encode_s"] = time.perf_counter() - mark
    box = result.meta.get("box")
    placed = [int(v) for v in box] if isinstance(box, list | tuple) and len(box) == 4 else None
    mark = time.perf_counter()
    measured = _measure(job.client_id, product_png, data, placed)
    kept_measurement = None if measured is None else measured.as_dict()
    timings["fidelity_s"] = time.perf_counter() - mark
    pixels, note = ("composited", COMPOSITOR_NOTE) if placed else ("generated", None)
    if placed is None and job.keep_product_pixels:
        mark = time.perf_counter()
        data, pixels, note, kept_measurement = _pixel_exact(
            job.client_id, product_png, data, measured
        )
        if pixels == "composited":  # the photo's own pixels are in it now: IPTC's composite
            stamp = provenance.Provenance(provenance.COMPOSITE)
            data = provenance.restamp_jpeg(data, stamp)
        timings["pixel_exact_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    thumb = provenance.restamp_jpeg(make_thumbnail(data, filename=f"{iid}.jpg"), stamp)
    timings["encode_s"] += time.perf_counter() - mark
    mark = time.perf_counter()
    image_key = keys.generated_image(job.client_id, job.session_id, iid, "jpg")
    thumb_key = keys.generated_thumbnail(job.client_id, job.session_id, iid)
    current.storage.put(image_key, data, content_type="image/jpeg")
    current.storage.put(thumb_key, thumb, content_type="image/jpeg")
    if content_credentials.present(result.image, result.mime_type):
        # The provider's signed bytes, untouched: the "original" preset hands them over and
        # a manifest of our own names them as its ingredient.
        provider_key = keys.provider_image(job.client_id, job.session_id, iid, result.mime_type)
        current.storage.put(provider_key, result.image, content_type=result.mime_type)
    timings["store_s"] = time.perf_counter() - mark
    check = (
        None
        if kept_measurement is None
        else FidelityCheck(score=kept_measurement["score"], method=kept_measurement["method"])
    )
    return Kept(
        image_key,
        thumb_key,
        check,
        measurement=kept_measurement,
        product_pixels=pixels,
        product_pixels_note=note,
    )


def _measure(
    client_id: uuid.UUID, product_png: bytes, data: bytes, box: list[int] | None
) -> Measurement | None:
    try:
        with unit_of_work() as db:
            calibration = gate.calibration_of(db, client_id)
        return measure(product_png, data, calibration=calibration, box=box)
    except Exception:  # a score is a nicety: it never fails a finished image
        log.warning("fidelity measurement failed", exc_info=True)
        return None


def _pixel_exact(
    client_id: uuid.UUID, product_png: bytes, data: bytes, measured: Measurement | None
) -> tuple[bytes, str, str, dict[str, Any] | None]:
    """The picture with the product's own pixels, or as generated with the reason why not;
    and the measurement of the picture kept, with what pixel-exact did (``pixel_exact``)."""
    if measured is None:
        return data, "generated", "pixel-exact not applied: the picture could not be measured", None
    try:
        done = composite_product(
            product_png,
            data,
            homography=measured.homography,
            found=measured.found,
            location_confidence=measured.location_confidence,
            light=measured.light,
        )
    except Exception as error:  # the generated picture is kept: it is a finished image
        log.warning("pixel-exact compositing failed", exc_info=True)
        note = f"pixel-exact not applied: it failed ({error})"
        return data, "generated", note, {**measured.as_dict(), "pixel_exact": {"note": note}}
    if not done.applied or done.image is None:
        return data, "generated", done.note, {**measured.as_dict(), "pixel_exact": done.as_dict()}
    final = _measure(client_id, product_png, done.image, None) or measured
    return done.image, "composited", done.note, {**final.as_dict(), "pixel_exact": done.as_dict()}


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
    return {k: v if k.endswith("_at") else round(v, 4) for k, v in timings.items()}


def _can_judge(ai: object) -> bool:
    return any(
        callable(getattr(candidate, "judge_fidelity", None))
        for candidate in (ai, getattr(ai, "inner", None))
        if candidate is not None
    )


# -- the fidelity judgement: a task of its own -------------------------------------------------


FIDELITY_MODES = ("uncertain", "all", "sample:SHARE", "off")


@dataclass(frozen=True)
class FidelityMode:
    """A client's ``fidelity_check``: which images get the provider's paid judgement.

    ``uncertain`` (the default): only those whose measured score is in the gate's uncertain
    band (or that could not be measured); ``all``; ``sample`` (``share`` of them); ``off``.
    """

    kind: str
    share: float


def fidelity_mode(settings: Mapping[str, Any]) -> FidelityMode:
    """The client's ``fidelity_check`` setting, read; anything unknown is refused with
    ``InvalidInput`` naming the setting."""
    value = str(settings.get("fidelity_check", "uncertain")).strip().lower()
    if value == "uncertain":
        return FidelityMode("uncertain", 1.0)
    if value == "all":
        return FidelityMode("all", 1.0)
    if value == "off":
        return FidelityMode("off", 0.0)
    if value.startswith("sample:"):
        try:
            share = float(value.removeprefix("sample:"))
        except ValueError:
            share = -1.0
        if 0.0 <= share <= 1.0:
            return FidelityMode("sample", share)
    raise InvalidInput(
        "fidelity_check must be uncertain, all, off or sample:SHARE with a share from 0 to 1 "
        f"(got {value!r})"
    )


def parse_fidelity_check(settings: Mapping[str, Any]) -> float:
    """The share of a client's images to judge, from its ``fidelity_check`` setting.

    ``all`` is 1.0, ``off`` 0.0, ``sample:0.2`` 0.2, ``uncertain`` 1.0 (of the images in the
    uncertain band: :func:`fidelity_mode` says which); anything else is refused with
    ``InvalidInput`` naming the setting.
    """
    return fidelity_mode(settings).share


def fidelity_wanted(share: float, image_id: uuid.UUID) -> bool:
    """Whether the image is in the judged sample: a fixed draw from its id, so that a re-run
    of the decision (a recovery) always answers the same."""
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    return int.from_bytes(image_id.bytes[:4], "big") / 2**32 < share


def judge(image_id: uuid.UUID, *, worker_id: str) -> str:
    """Judge the fidelity of one completed image; the score goes on the row when it comes.

    Returns ``judged``, ``deferred`` (back in the queue: a full window, a paused model, a
    passing failure, with backoff), ``failed`` (no score: the image stays "not checked") or
    ``skipped`` (no such completed image waiting for a judgement). Runs on the judgement's own
    slots, and takes its slots of the text model's limits as ``judgement:{id}``.
    """
    current = backends.current()
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, image_id, client_id=None)
        if image is None or image.status != ImageStatus.COMPLETED or image.image_key is None:
            return "skipped"
        queued = (image.timings or {}).get("fidelity_queued_at")
        if queued is None:  # not asked for, or answered already
            return "skipped"
        tries = int((image.timings or {}).get("fidelity_tries", 0))
        photo = (
            repo.get(db, ProductImage, image.product_image_id, client_id=None)
            if image.product_image_id
            else None
        )
        base_key = photo.base_key if photo is not None else None
        image_key = image.image_key
    if base_key is None:
        _judged(image_id, None, worker_id=worker_id, failed="the product photo is gone")
        return "failed"
    product_png = current.storage.get(base_key)
    generated = current.storage.get(image_key)
    started = time.perf_counter()
    try:
        with (
            usage.collect() as calls,
            ratelimit.waiting(False),
            ratelimit.holding(f"judgement:{image_id}"),
        ):
            check = check_fidelity(
                current.ai, product_png=product_png, generated=generated, meta={}, raise_errors=True
            )
    except ProviderError as error:
        record_calls(image_id, calls)  # a failed judgement was paid for all the same
        settings = current.settings
        if isinstance(error, RateLimited) and (error.local or isinstance(error, DailyLimitReached)):
            current.queue.dispatch_judgements([image_id], delay_s=error.retry_after or 1.0)
            return "deferred"
        if is_retryable(error) and tries + 1 < settings.visualizer_max_attempts:
            _count_try(image_id)
            delay = retry_delay_s(
                error,
                tries + 1,
                base=settings.visualizer_retry_base_s,
                cap=settings.visualizer_retry_max_s,
            )
            current.queue.dispatch_judgements([image_id], delay_s=delay)
            return "deferred"
        _judged(image_id, None, worker_id=worker_id, failed=str(error))
        return "failed"
    _judged(image_id, check, worker_id=worker_id, took_s=time.perf_counter() - started, calls=calls)
    return "judged" if check is not None else "failed"


def _count_try(image_id: uuid.UUID) -> None:
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, image_id, client_id=None, lock=True)
        if image is not None:
            timings = dict(image.timings or {})
            timings["fidelity_tries"] = int(timings.get("fidelity_tries", 0)) + 1
            image.timings = timings


def _judged(
    image_id: uuid.UUID,
    check: FidelityCheck | None,
    *,
    worker_id: str,
    took_s: float = 0.0,
    failed: str | None = None,
    calls: Sequence[usage.CallRecord] = (),
) -> None:
    """The judgement's outcome on the row: its score and its calls on the ledger, or nothing
    (logged)."""
    if failed:
        log.warning("fidelity judgement of %s failed: %s", image_id, failed)
    with unit_of_work() as db:
        if calls:
            _add_calls(db, image_id, calls)
        image = repo.get(db, GeneratedImage, image_id, client_id=None, lock=True)
        if image is None:
            return
        timings = {
            k: v
            for k, v in (image.timings or {}).items()
            if k not in ("fidelity_queued_at", "fidelity_tries")
        }
        measured = dict(image.fidelity or {})
        if check is not None:
            timings["judgement_s"] = round(took_s, 4)
            if "signals" in measured:  # the measurement stays the score; the judgement joins it
                measured["judgement"] = {"score": check.score, "reason": check.reason}
                image.fidelity = measured
            else:
                image.fidelity_score = check.score
                image.fidelity = {
                    **measured,
                    "judgement": {"score": check.score, "reason": check.reason},
                }
        image.timings = timings
        image.updated_at = utcnow()
        _approve_if_trusted(db, image)


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

    The image is done here: progress, the gallery and the flow's webhook see it at once. When
    the client wants its fidelity judged (``fidelity_check``) and it was not measured on the
    spot, the judgement is queued as a task of its own and its score arrives on the row later.
    ``calls`` (every provider call made for the row by this run) go on its ledger in the same
    transaction, also when the row was taken back meanwhile: they were paid all the same.
    """
    current = backends.current()
    now = utcnow()
    public = current.settings.r2_public_url
    judge_later = False
    measured = kept.measurement
    judged = "not asked"
    if kept.product_pixels_note != COMPOSITOR_NOTE:  # the compositor's own: nothing to judge
        judge_later, judged = _judgement_wanted(iid, current.ai, measured)
    if judge_later:
        timings = {**timings, "fidelity_queued_at": time.time()}
    fidelity = None if measured is None else {**measured, "judged": judged}
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
            fidelity=fidelity,
            product_pixels=kept.product_pixels,
            product_pixels_note=kept.product_pixels_note,
            add_attempts=extra_attempts,
            completed_at=now,
            heartbeat_at=now,
            timings=_rounded(timings),
            seed=request.seed,
            updated_at=now,
        )
    if done:
        if not judge_later:
            with unit_of_work() as db:
                row = repo.get(db, GeneratedImage, iid, client_id=None, lock=True)
                if row is not None:
                    _approve_if_trusted(db, row)
        finish_flow_if_done(iid)
        if judge_later:
            current.queue.dispatch_judgements([iid])
    return done


def _judgement_wanted(
    iid: uuid.UUID, ai: object, measured: Mapping[str, Any] | None
) -> tuple[bool, str]:
    """Whether the image gets the provider's judgement, and the word kept for it: ``asked``,
    ``saved`` (the gate was sure of its score: a paid call not made) or ``not asked``."""
    if not _can_judge(ai):
        return False, "not asked"
    with unit_of_work() as db:
        image = repo.get(db, GeneratedImage, iid, client_id=None)
        client = repo.get(db, Client, image.client_id, client_id=None) if image else None
        mode = fidelity_mode((client.settings or {}) if client else {})
    if mode.kind != "uncertain":
        wanted = fidelity_wanted(mode.share, iid)
        return wanted, "asked" if wanted else "not asked"
    if measured is None or "score" not in measured:
        return True, "asked"  # nothing measured: the judgement is all there is
    threshold = float(measured.get("threshold", 1.0))
    if gate.in_band(float(measured["score"]), threshold):
        return True, "asked"
    return False, "saved"


def _approve_if_trusted(db: Session, image: GeneratedImage) -> None:
    """Auto-approve at generation time: when the client has it on, an image nobody decided
    that the gate trusts is approved by rule (its flow's run; a share drawn for a spot check)."""
    if image.review_state != "none" or image.status != ImageStatus.COMPLETED:
        return
    client = repo.get(db, Client, image.client_id, client_id=None)
    if client is None or not (client.settings or {}).get("auto_approve"):
        return
    calibration = gate.calibration_of(db, image.client_id)
    if gate.verdict(image.fidelity_score, image.fidelity, calibration) != "trusted":
        return
    batch = f"flow:{image.flow_id}"
    first = not repo.rule_approvals(db, session_id=None, batch=batch)
    approved = repo.approve_by_rule(db, [image.id], now=utcnow(), batch=batch)
    if approved and (first or gate.drawn_for_spot_check(image.id)):
        repo.update_images(db, approved, spot_check=True)


def fail(
    image_id: uuid.UUID,
    message: str,
    *,
    timings: Mapping[str, float] | None = None,
    calls: Sequence[usage.CallRecord] = (),
) -> bool:
    """Mark the row failed with a message a person can act on (if it is still this run's).

    ``timings``, when given, replace its timings; ``calls`` go on its ledger (a failed image
    was paid for too). The flow is finished when this was its last open row.
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
