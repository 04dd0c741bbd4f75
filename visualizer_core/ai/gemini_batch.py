"""Bulk economy mode: many images through the Gemini Batch API, at half the price, slower.

The steps, all through the google-genai SDK, each with its failures mapped to
:mod:`visualizer_core.errors` and the passing ones retried with backoff here:

1. :meth:`GeminiBatch.submit` writes one JSONL line per image, ``{"key": ..., "request":
   {GenerateContentRequest}}`` (the same parts and config as an interactive call), to a
   temporary file, one request at a time (the requests are an iterable: memory stays flat in
   the number of images), uploads it (``files.upload``, the resumable protocol, which reads the
   file in chunks) and creates the job (``batches.create``: ``models/{model}:
   batchGenerateContent``). One job holds one model.

   A create that got no clear answer (a timeout, a 5xx, a dropped connection) may have made
   the job all the same; before asking again, the jobs are listed and one with this
   submission's unique display name is taken as the answer, so a retry never makes (and
   pays for) a second job. A create the API *refused* (429: over the batch quota; 4xx) is
   not retried here: :class:`BatchRefused` says so, and the caller decides what to do.
2. :meth:`GeminiBatch.status` polls the job (``batches.get``). States: ``JOB_STATE_PENDING``
   / ``QUEUED`` / ``RUNNING`` (not done yet), ``SUCCEEDED``, ``FAILED``, ``CANCELLED``,
   ``EXPIRED`` (the API gives up on jobs not done within 48 hours).
3. :meth:`GeminiBatch.download` streams a succeeded job's responses file to a local path
   (``files.download(destination=...)``), retrying a failed download; :meth:`GeminiBatch.lines`
   then reads it line by line into :class:`BatchLine` s: the row's key, a
   :class:`GenerationResult` or the :class:`ProviderError` a person can act on, and the line's
   :class:`~visualizer_core.ai.usage.CallRecord` (batch price). Lines are matched by ``key``,
   never by position; a line without one is still read (its cost is real) with ``key`` None.

Batch lines cost :data:`~visualizer_core.ai.usage.BATCH_PRICE_FACTOR` of the standard price.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal, Protocol, TypeVar

from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import ValidationError

from visualizer_core.ai.base import GenerationRequest, GenerationResult
from visualizer_core.ai.retry import TRANSPORT_ERRORS
from visualizer_core.ai.usage import (
    BATCH_PRICE_FACTOR,
    CallKind,
    CallRecord,
    Pricing,
    tokens_from_metadata,
)
from visualizer_core.errors import (
    InvalidInput,
    PermanentProviderError,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

__all__ = [
    "BATCH_PRICE_FACTOR",
    "BatchLine",
    "BatchRefused",
    "BatchStatus",
    "GeminiBatch",
    "read_answer",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

State = Literal["pending", "running", "succeeded", "failed", "cancelled", "expired"]
_STATES: Final[dict[str, State]] = {
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_UNSPECIFIED": "pending",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_PARTIALLY_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_EXPIRED": "expired",
}


class BatchRefused(ProviderError):
    """The API refused to take the batch (429 over quota, or a 4xx): nothing was submitted.

    Not retried and not switched to the standard price behind anyone's back: the economy
    service reports it on the flow and waits for a person's decision.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class BatchStatus:
    """Where a batch job is. ``done`` once it will not change any more."""

    name: str
    state: State
    model: str | None = None
    responses_file: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed", "cancelled", "expired")


@dataclass(frozen=True)
class BatchLine:
    """One line of a job's responses: its key (None when the line had none), what it gave,
    and what it cost."""

    key: str | None
    result: GenerationResult | ProviderError
    record: CallRecord


class BatchAccount(Protocol):
    """What batch mode takes from the account it runs on (the Gemini backend, ``GeminiAI``):
    handed in, so this module never imports the backend that makes it."""

    image_model: str
    pricing: Pricing

    @property
    def sdk(self) -> genai.Client: ...

    def image_call(
        self, request: GenerationRequest
    ) -> tuple[str, list[types.Part], types.GenerateContentConfig]: ...

    def image_result(
        self,
        response: types.GenerateContentResponse,
        model: str,
        *,
        attempt: int = 1,
        price_factor: float = 1.0,
    ) -> GenerationResult: ...

    def api_error(self, error: genai_errors.APIError, model: str) -> ProviderError: ...


class GeminiBatch:
    """Batch jobs on a Gemini account (:class:`BatchAccount`: same key, address, price table).

    ``attempts`` bounds each step's tries on a passing failure (backoff ``backoff_s`` doubling,
    or the API's ``retryDelay``); ``sleep`` is how it waits (tests pass a no-op).
    """

    def __init__(
        self,
        ai: BatchAccount,
        *,
        attempts: int = 4,
        backoff_s: float = 1.0,
        max_wait_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.ai = ai
        self.attempts = max(attempts, 1)
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self._sleep = sleep

    # -- failures and retries -----------------------------------------------------------------

    def _mapped(self, what: str, call: Callable[[], _T], model: str) -> _T:
        """``call()``, its failures raised as ``ProviderError`` s naming ``what``."""
        try:
            return call()
        except genai_errors.APIError as error:
            raise self.ai.api_error(error, model) from error
        except TRANSPORT_ERRORS as error:
            raise TransientProviderError(
                f"{what} failed on the network ({type(error).__name__} {error})"
            ) from error
        except genai_errors.UnknownApiResponseError as error:
            raise TransientProviderError(f"{what}: Gemini sent an unreadable answer") from error
        except (KeyError, ValueError) as error:  # the SDK's protocol checks (upload URL...)
            raise TransientProviderError(f"{what} failed: {error}") from error
        except OSError as error:  # the local temporary file
            raise TransientProviderError(f"{what} failed on a local file: {error}") from error

    def _retried(self, what: str, call: Callable[[], _T], model: str) -> _T:
        """:meth:`_mapped` with passing failures retried ``attempts`` times in all."""
        for attempt in range(1, self.attempts + 1):
            try:
                return self._mapped(what, call, model)
            except TransientProviderError as error:
                if attempt == self.attempts:
                    raise _named(error, what, attempt) from error
                wait = self._wait(error, attempt)
                log.warning("%s: %s; trying again in %.1fs", what, error, wait)
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, error: ProviderError, attempt: int) -> float:
        if isinstance(error, RateLimited) and error.retry_after:
            return min(float(error.retry_after), self.max_wait_s)
        return float(min(self.backoff_s * 2 ** (attempt - 1), self.max_wait_s))

    # -- submitting ---------------------------------------------------------------------------

    def write_jsonl(
        self, requests: Iterable[tuple[str, GenerationRequest]], out: IO[bytes]
    ) -> tuple[int, str]:
        """Writes one JSONL line per request to ``out``, one at a time; returns (lines, model).

        Keys must be unique and every request must use the same model.
        """
        keys: set[str] = set()
        model: str | None = None
        count = 0
        for key, request in requests:
            if key in keys:
                raise InvalidInput("batch request keys must be unique")
            keys.add(key)
            line_model, parts, config = self.ai.image_call(request)
            if model is None:
                model = line_model
            elif line_model != model:
                raise InvalidInput(
                    f"one batch holds one model; these use {', '.join(sorted({model, line_model}))}"
                )
            content = types.Content(role="user", parts=parts)
            body = {
                "contents": [content.model_dump(mode="json", by_alias=True, exclude_none=True)],
                "generationConfig": config.model_dump(
                    mode="json", by_alias=True, exclude_none=True
                ),
            }
            out.write(json.dumps({"key": key, "request": body}, separators=(",", ":")).encode())
            out.write(b"\n")
            count += 1
        if model is None:
            raise InvalidInput("a batch needs at least one request")
        return count, model

    def submit(
        self,
        requests: Iterable[tuple[str, GenerationRequest]],
        *,
        display_name: str,
        token: str | None = None,
    ) -> str:
        """Upload the requests as JSONL and create one job; returns the job's name.

        ``requests`` may be a generator: each request is written and dropped before the next is
        made. Raises :class:`BatchRefused` when the API will not take the job, and
        ``TransientProviderError`` when it could not be reached after the retries.
        """
        # A unique name: the job can be found again when a create's answer is lost.
        unique = f"{display_name} [{token or uuid.uuid4().hex[:12]}]"
        with tempfile.TemporaryDirectory(prefix="visualizer-batch-") as folder:
            path = Path(folder) / "requests.jsonl"
            try:
                with path.open("wb") as out:
                    count, model = self.write_jsonl(requests, out)
            except OSError as error:  # a full or unwritable temporary folder
                raise TransientProviderError(
                    f"the batch file could not be written to {folder}: {error}"
                ) from error
            log.info("batch %r: %d requests, %d bytes", unique, count, path.stat().st_size)
            client = self.ai.sdk
            try:
                uploaded = self._retried(
                    "uploading the batch file",
                    lambda: client.files.upload(
                        file=str(path),
                        config=types.UploadFileConfig(mime_type="jsonl", display_name=unique[:500]),
                    ),
                    model,
                )
            except (RateLimited, PermanentProviderError) as error:
                raise BatchRefused(
                    f"Gemini refused the batch file ({error})",
                    retry_after=getattr(error, "retry_after", None),
                ) from error
        if not uploaded.name:
            raise TransientProviderError("Gemini accepted the batch file without naming it")
        return self._create(model, uploaded.name, unique)

    def _create(self, model: str, source: str, display_name: str) -> str:
        client = self.ai.sdk
        for attempt in range(1, self.attempts + 1):
            try:
                job = self._mapped(
                    "creating the batch job",
                    lambda: client.batches.create(
                        model=model,
                        src=source,
                        config=types.CreateBatchJobConfig(display_name=display_name),
                    ),
                    model,
                )
            except RateLimited as error:
                raise BatchRefused(
                    f"Gemini refused the batch job: {error}", retry_after=error.retry_after
                ) from error
            except PermanentProviderError as error:
                raise BatchRefused(f"Gemini refused the batch job: {error}") from error
            except TransientProviderError as error:
                # No clear answer: the job may exist. Take it if it does; never make two.
                found = self._find(display_name, model)
                if found is not None:
                    log.warning(
                        "creating batch %r: %s; the job was made: %s", display_name, error, found
                    )
                    return found
                if attempt == self.attempts:
                    raise
                self._sleep(self._wait(error, attempt))
                continue
            if not job.name:
                raise TransientProviderError("Gemini created the batch job without naming it")
            return job.name
        raise AssertionError("unreachable")  # pragma: no cover

    def find(self, token: str) -> str | None:
        """The job submitted with ``token`` (see :meth:`submit`), if the API lists one: how a
        submission whose process stopped learns whether its job was made."""
        suffix = f"[{token}]"
        jobs = self._jobs(self.ai.image_model)
        return next(
            (j.name for j in jobs if j.name and (j.display_name or "").endswith(suffix)), None
        )

    def _find(self, display_name: str, model: str) -> str | None:
        """The job made under ``display_name``, if the API lists one."""
        try:
            jobs = self._jobs(model)
        except ProviderError as error:
            log.warning("could not list batch jobs to look for %r: %s", display_name, error)
            raise TransientProviderError(
                f"creating the batch job got no answer, and the jobs could not be listed to see"
                f" whether it was made ({error})"
            ) from error
        return next((j.name for j in jobs if j.display_name == display_name and j.name), None)

    def _jobs(self, model: str) -> list[types.BatchJob]:
        pager = self._retried(
            "listing batch jobs",
            lambda: self.ai.sdk.batches.list(config=types.ListBatchJobsConfig(page_size=100)),
            model,
        )
        return self._mapped("listing batch jobs", lambda: list(pager), model)

    # -- polling and results ------------------------------------------------------------------

    def status(self, name: str) -> BatchStatus:
        """The job's state now (passing failures retried)."""
        job = self._retried(
            f"reading batch {name}", lambda: self.ai.sdk.batches.get(name=name), self.ai.image_model
        )
        state = _STATES.get(str(getattr(job.state, "value", job.state)), "pending")
        why = None
        if job.error is not None:
            why = f"{job.error.message or 'the batch job failed'} (code {job.error.code})"
        elif state in ("failed", "cancelled", "expired"):
            why = f"the batch job {state}"
        return BatchStatus(
            name=name,
            state=state,
            model=job.model,
            responses_file=job.dest.file_name if job.dest else None,
            error=why,
        )

    def download(self, status: BatchStatus, destination: Path) -> Path:
        """Streams a succeeded job's responses file to ``destination`` (retried)."""
        if status.state != "succeeded" or not status.responses_file:
            raise InvalidInput(f"batch {status.name} has no results ({status.state})")
        responses = status.responses_file

        def fetch() -> None:
            with destination.open("wb") as out:
                self.ai.sdk.files.download(file=responses, destination=out)

        self._retried(f"downloading the results of {status.name}", fetch, self.ai.image_model)
        return destination

    def lines(self, path: Path, status: BatchStatus) -> Iterator[BatchLine]:
        """Each line of a downloaded responses file, read one at a time."""
        model = (status.model or self.ai.image_model).removeprefix("models/")
        with path.open("rb") as source:
            for number, raw in enumerate(source, start=1):
                if not raw.strip():
                    continue
                try:
                    item = json.loads(raw)
                    if not isinstance(item, dict):
                        raise ValueError("not an object")
                except ValueError:
                    problem = TransientProviderError(
                        f"line {number} of the results of {status.name} is not JSON"
                    )
                    yield BatchLine(None, problem, self._record(model, status.name, None, problem))
                    continue
                key = item.get("key")
                yield self._line(
                    str(key) if key not in (None, "") else None, item, model, status.name
                )

    def results(self, status: BatchStatus) -> dict[str, GenerationResult | ProviderError]:
        """Every keyed line of a succeeded job, by key (small jobs and tests; reads it whole)."""
        with tempfile.TemporaryDirectory(prefix="visualizer-batch-") as folder:
            path = self.download(status, Path(folder) / "responses.jsonl")
            return {line.key: line.result for line in self.lines(path, status) if line.key}

    def _record(
        self, model: str, batch: str, metadata: Any, error: ProviderError | None
    ) -> CallRecord:
        tokens = tokens_from_metadata(metadata)
        return self.ai.pricing.record(
            CallKind.BATCH, model, tokens, factor=BATCH_PRICE_FACTOR, error=error, batch=batch
        )

    def _line(self, key: str | None, item: Mapping[str, Any], model: str, batch: str) -> BatchLine:
        error = item.get("error") or item.get("status")
        if isinstance(error, Mapping) and error.get("code") not in (None, 0):
            failed = _line_error(error, model)
            return BatchLine(key, failed, self._record(model, batch, None, failed))
        raw = item.get("response") or {}
        try:
            response = read_answer(raw)
        except (ValidationError, TypeError) as problem:
            why = problem.errors()[0]["msg"] if isinstance(problem, ValidationError) else problem
            unreadable = TransientProviderError(f"an unreadable batch answer ({why})")
            metadata = raw.get("usageMetadata") if isinstance(raw, Mapping) else None
            return BatchLine(key, unreadable, self._record(model, batch, metadata, unreadable))
        try:
            result = self.ai.image_result(response, model, price_factor=BATCH_PRICE_FACTOR)
        except ProviderError as refused:
            return BatchLine(
                key, refused, self._record(model, batch, response.usage_metadata, refused)
            )
        result.meta["batch"] = batch
        record = self._record(model, batch, response.usage_metadata, None)
        result.meta["cost_usd"] = record.cost_usd
        return BatchLine(key, result, record)


def read_answer(raw: Any) -> types.GenerateContentResponse:
    """A ``GenerateContentResponse`` read from its JSON the way the SDK reads an interactive
    answer: fields it does not know (``usageMetadata.serviceTier`` of the 2.5 and 3.x models,
    and whatever the API adds next) are dropped before the strict model validates the rest.

    Validating a batch line with ``model_validate`` alone would refuse such a line (the SDK's
    models forbid extra fields): its image lost, its cost billed all the same.
    """
    if not isinstance(raw, Mapping):
        raise TypeError(f"the answer is a JSON {type(raw).__name__}, not an object")
    # The SDK's own reader (what models.generate_content calls); it prunes a copy in place.
    # Private, and kept on purpose: google-genai has no public lenient reader (its public
    # model_validate forbids unknown fields, python-genai issue 2510), and a copy of its
    # pruning here would drift from the SDK's models. test_gemini_batch pins both facts.
    return types.GenerateContentResponse._from_response(
        response=json.loads(json.dumps(raw)), kwargs={}
    )


def _named(error: TransientProviderError, what: str, attempts: int) -> TransientProviderError:
    """The same failure, its message saying which step failed and how often it was tried."""
    text = str(error) if str(error).startswith(what) else f"{what}: {error}"
    text += f" (tried {attempts} times)"
    if isinstance(error, RateLimited):
        return RateLimited(text, retry_after=error.retry_after)
    return TransientProviderError(text)


def _line_error(error: Mapping[str, Any], model: str) -> ProviderError:
    code = int(error.get("code") or 0)
    text = f"Gemini answered {code} in the batch: {error.get('message') or 'no reason given'}"
    # Batch lines carry google.rpc codes (8 RESOURCE_EXHAUSTED, 13 INTERNAL, 14 UNAVAILABLE,
    # 4 DEADLINE_EXCEEDED) or HTTP ones (429, 500, 503, 504).
    if code in (8, 429):
        return RateLimited(text)
    if code in (4, 13, 14) or code >= 500:
        return TransientProviderError(text)
    return PermanentProviderError(text + f" (model {model})" if code == 5 else text)
