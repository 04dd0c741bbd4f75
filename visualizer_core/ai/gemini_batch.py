"""Bulk economy mode: many images through the Gemini Batch API, at half the price, slower.

The steps, all through the google-genai SDK:

1. :meth:`GeminiBatch.submit` writes one JSONL line per image, ``{"key": ..., "request":
   {GenerateContentRequest}}`` (the same parts and config as an interactive call), uploads the
   file (``files.upload``, the resumable upload protocol) and creates the job
   (``batches.create``: ``models/{model}:batchGenerateContent``). One job holds one model.
2. :meth:`GeminiBatch.status` polls the job (``batches.get``).
3. :meth:`GeminiBatch.results`, once the job succeeded, downloads its responses file
   (``files.download``) and reads each line into a :class:`GenerationResult` or, for a line
   with an ``error`` or an answer without an image, the :class:`ProviderError` a person can act
   on. Lines are matched by ``key``, never by position.

Batch calls cost half the standard price (:data:`BATCH_PRICE_FACTOR`); the results' ``meta``
says so (``cost_usd`` is the discounted figure, ``batch`` the job's name).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from google.genai import errors as genai_errors
from google.genai import types
from pydantic import ValidationError

from visualizer_core.ai.base import GenerationRequest, GenerationResult
from visualizer_core.errors import (
    InvalidInput,
    PermanentProviderError,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

if TYPE_CHECKING:
    from visualizer_core.ai.gemini import GeminiAI

__all__ = ["BATCH_PRICE_FACTOR", "BatchStatus", "GeminiBatch"]

BATCH_PRICE_FACTOR: Final = 0.5
"""The Batch API's price relative to standard calls."""

State = Literal["pending", "running", "succeeded", "failed", "cancelled", "expired"]
_STATES: Final[dict[str, State]] = {
    "JOB_STATE_PENDING": "pending",
    "JOB_STATE_QUEUED": "pending",
    "JOB_STATE_UNSPECIFIED": "pending",
    "JOB_STATE_RUNNING": "running",
    "JOB_STATE_SUCCEEDED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
    "JOB_STATE_CANCELLING": "running",
    "JOB_STATE_EXPIRED": "expired",
}


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


class GeminiBatch:
    """Batch jobs on the account of a :class:`GeminiAI` (same key, address and price table)."""

    def __init__(self, ai: GeminiAI) -> None:
        self.ai = ai

    def submit(
        self, requests: Sequence[tuple[str, GenerationRequest]], *, display_name: str
    ) -> str:
        """Upload the requests as JSONL and create one job; returns the job's name.

        Keys must be unique; every request must use the same model.
        """
        if not requests:
            raise InvalidInput("a batch needs at least one request")
        keys = [key for key, _ in requests]
        if len(set(keys)) != len(keys):
            raise InvalidInput("batch request keys must be unique")
        lines: list[str] = []
        models: set[str] = set()
        for key, request in requests:
            model, parts, config = self.ai.image_call(request)
            models.add(model)
            body = {
                "contents": [
                    {
                        "role": "user",
                        "parts": [
                            p.model_dump(mode="json", by_alias=True, exclude_none=True)
                            for p in parts
                        ],
                    }
                ],
                "generationConfig": config.model_dump(
                    mode="json", by_alias=True, exclude_none=True
                ),
            }
            lines.append(json.dumps({"key": key, "request": body}, separators=(",", ":")))
        if len(models) != 1:
            raise InvalidInput(f"one batch holds one model; these use {', '.join(sorted(models))}")
        model = models.pop()
        data = ("\n".join(lines) + "\n").encode()
        client = self.ai.sdk
        try:
            uploaded = client.files.upload(
                file=io.BytesIO(data),
                config=types.UploadFileConfig(mime_type="jsonl", display_name=display_name),
            )
            if not uploaded.name:
                raise TransientProviderError("Gemini accepted the batch file without naming it")
            job = client.batches.create(
                model=model,
                src=uploaded.name,
                config=types.CreateBatchJobConfig(display_name=display_name),
            )
        except genai_errors.APIError as error:
            raise self.ai.api_error(error, model) from error
        except (KeyError, ValueError) as error:  # the SDK's upload protocol checks
            raise TransientProviderError(f"uploading the batch file failed: {error}") from error
        if not job.name:
            raise TransientProviderError("Gemini created the batch job without naming it")
        return job.name

    def status(self, name: str) -> BatchStatus:
        """The job's state now."""
        try:
            job = self.ai.sdk.batches.get(name=name)
        except genai_errors.APIError as error:
            raise self.ai.api_error(error, self.ai.image_model) from error
        state = _STATES.get(_enum(job.state), "pending")
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

    def results(self, status: BatchStatus) -> dict[str, GenerationResult | ProviderError]:
        """Each line of a succeeded job's responses, by key."""
        if status.state != "succeeded" or not status.responses_file:
            raise InvalidInput(f"batch {status.name} has no results ({status.state})")
        try:
            data = self.ai.sdk.files.download(file=status.responses_file)
        except genai_errors.APIError as error:
            raise self.ai.api_error(error, self.ai.image_model) from error
        model = (status.model or self.ai.image_model).removeprefix("models/")
        found: dict[str, GenerationResult | ProviderError] = {}
        for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                raise TransientProviderError(
                    f"line {number} of the batch results is not JSON"
                ) from None
            key = str(item.get("key", ""))
            found[key] = self._line_result(item, model, status.name)
        return found

    def _line_result(
        self, item: Mapping[str, Any], model: str, batch: str
    ) -> GenerationResult | ProviderError:
        error = item.get("error") or item.get("status")
        if isinstance(error, Mapping) and error.get("code") not in (None, 0):
            return _line_error(error, model)
        try:
            response = types.GenerateContentResponse.model_validate(item.get("response") or {})
        except ValidationError as problem:
            return TransientProviderError(f"an unreadable batch answer ({problem.errors()[0]})")
        try:
            result = self.ai.image_result(response, model, price_factor=BATCH_PRICE_FACTOR)
        except ProviderError as refused:
            return refused
        result.meta["batch"] = batch
        return result


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


def _enum(value: Any) -> str:
    return str(getattr(value, "value", value) or "")
