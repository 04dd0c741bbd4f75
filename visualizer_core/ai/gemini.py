"""The Gemini backend: product and scene analysis and image generation through google-genai.

One :class:`google.genai.Client` per :class:`GeminiAI`; its synchronous calls are safe to share
between threads. The SDK is built without ``retry_options``, which in google-genai 3.x means
"never retry" (``_api_client.retry_args(None)`` stops after one attempt), so every 429, 5xx and
timeout reaches this module and is raised as the matching :mod:`visualizer_core.errors` class.
Retrying is the queue's job (with backoff and jitter, a new seed each time, the wait spent in
the queue): this module only classifies. How each failure is classified:

=====================================================  ==========================================
what Gemini did                                        raised as
=====================================================  ==========================================
429 with a per-minute quota violation (``RetryInfo``)  ``RateLimited`` (``retry_after`` from it)
429 whose violation is a per-day quota                 ``DailyLimitReached``: the model pauses
                                                       until midnight Pacific time, for all
500, 503 (overloaded), 504, a timeout, no connection   ``TransientProviderError``
an answer with no candidates, finish reason ``OTHER``,  ``TransientProviderError`` (a new seed
``MAX_TOKENS``, ``NO_IMAGE`` or no image at all        may well draw it)
a safety stop or a blocked prompt                      asked once more with another seed, then
                                                       ``ContentRefused`` (permanent)
400, 401/403 (key), 404 (model)                        ``PermanentProviderError``
=====================================================  ==========================================

Every HTTP call first takes a slot of its model's limits (:mod:`.ratelimit`), and becomes one
:class:`~visualizer_core.ai.usage.CallRecord` (failed calls too): emitted to the thread's
collectors, listed on the result (``GenerationResult.calls``) and on a raised error (``calls``).

What is sent to ``generateContent`` for an image: the product's base PNGs (most important
first), then the scene, then the prompt text, with ``responseModalities`` TEXT and IMAGE and
``imageConfig.aspectRatio`` (plus ``imageSize`` when configured) and the request's seed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, Field, ValidationError

from visualizer_core import taxonomy
from visualizer_core.ai import models
from visualizer_core.ai import usage as usage_records
from visualizer_core.ai.base import BatchAI, GenerationRequest, GenerationResult, ProductFacts
from visualizer_core.ai.gemini_batch import GeminiBatch
from visualizer_core.ai.ratelimit import ModelLimiter, day_end
from visualizer_core.ai.retry import TRANSPORT_ERRORS, next_seed
from visualizer_core.ai.spendlimit import AccountSpend, Reservation, SpendCapReached, month_end
from visualizer_core.ai.usage import (
    PRICES,
    CallKind,
    Price,
    Pricing,
    estimate_cost,
)
from visualizer_core.errors import (
    ConfigError,
    ContentRefused,
    DailyLimitReached,
    InvalidInput,
    PermanentProviderError,
    ProviderError,
    RateLimited,
    TransientProviderError,
    first_problem,
)
from visualizer_core.fidelity import FidelityCheck
from visualizer_core.schemas import ProductAnalysis, ProductAnswer, SceneAnalysis

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_TEXT_MODEL",
    "PRICES",
    "FidelityJudgement",
    "GeminiAI",
    "Price",
    "classify_api_error",
    "estimate_cost",
    "next_seed",
]

logger = logging.getLogger(__name__)

# The default models and why they were chosen: visualizer_core/ai/models.py.
DEFAULT_IMAGE_MODEL = models.DEFAULT_IMAGE_MODEL
DEFAULT_TEXT_MODEL = models.DEFAULT_TEXT_MODEL


# Finish reasons that mean "the model would not", as opposed to "the model could not".
_REFUSALS: dict[str, str] = {
    "SAFETY": "the prompt or an input image was judged unsafe",
    "IMAGE_SAFETY": "the prompt or product image was judged unsafe",
    "PROHIBITED_CONTENT": "the request was judged to ask for prohibited content",
    "IMAGE_PROHIBITED_CONTENT": "the image would show prohibited content",
    "BLOCKLIST": "the prompt contains a blocked term",
    "SPII": "the prompt or images contain personal information",
    "RECITATION": "the result would copy protected material too closely",
    "IMAGE_RECITATION": "the image would copy protected material too closely",
}
# Finish reasons that mean "the model could not, this time": worth another seed.
_UNFINISHED: dict[str, str] = {
    "OTHER": "the model stopped for an unspecified reason",
    "MAX_TOKENS": "the answer was cut off at the output token limit",
    "NO_IMAGE": "the model answered without drawing an image",
    "IMAGE_OTHER": "the image could not be made",
    "MALFORMED_FUNCTION_CALL": "the model sent a malformed answer",
    "UNEXPECTED_TOOL_CALL": "the model sent a malformed answer",
    "FINISH_REASON_UNSPECIFIED": "the model stopped for an unspecified reason",
}
_TOKENS_PER_IMAGE_INPUT = 258  # a model the registry does not know
_EXPECTED_OUTPUT_TOKENS = {"image": 1290, "text": 400}
_ADVICE = "change the extra prompt text, the product photo or the scene, then try again"
# What a failed call raises: an HTTP error answer, an unreadable answer, a lost connection.
_CALL_ERRORS: tuple[type[BaseException], ...] = (
    genai_errors.APIError,
    genai_errors.UnknownApiResponseError,
    *TRANSPORT_ERRORS,
)

_T = TypeVar("_T", bound=BaseModel)


class FidelityJudgement(BaseModel):
    """The text model's answer to "is this the same product?"."""

    score: float = Field(ge=0.0, le=1.0, description="1: the very product; 0: not there at all")
    reason: str = Field(description="one sentence: what differs, or that nothing does")


class GeminiAI:
    """The production AI backend on the Gemini API. Safe to share between threads."""

    name = "gemini"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        image_model: str = DEFAULT_IMAGE_MODEL,
        text_model: str = DEFAULT_TEXT_MODEL,
        timeout_s: float = 120.0,
        image_size: str | None = None,
        api_version: str | None = None,
        prices: Mapping[str, Price | Mapping[str, float]] | None = None,
        limiter: ModelLimiter | None = None,
        spend: AccountSpend | None = None,
    ) -> None:
        """``api_version`` None uses the SDK's default for Google's API (``v1`` in google-genai
        3.x; ``GEMINI_API_VERSION`` sets another, such as ``v1beta``).

        ``prices`` adds or replaces rows of :data:`PRICES`, as :class:`Price` or as
        ``{"input": .., "output": .., "image_output": ..}`` dicts. ``limiter`` hands out a
        slot of each model's limits before every call (and learns of daily-quota 429s);
        ``spend`` reserves each call's estimated cost in the billing account's spend limits
        before it is sent and settles its real cost after (:mod:`.spendlimit`).
        """
        if not api_key.strip():
            raise ConfigError("GEMINI_API_KEY is empty")
        self.image_model = image_model
        self.text_model = text_model
        self.image_size = image_size
        self.timeout_s = timeout_s
        self.pricing = Pricing(prices)
        self.limiter = limiter
        self.spend = spend
        self._client = genai.Client(
            vertexai=False,  # the Gemini Developer API, whatever GOOGLE_GENAI_USE_VERTEXAI says
            api_key=api_key,
            http_options=types.HttpOptions(
                base_url=base_url,
                api_version=api_version,
                timeout=max(1, round(timeout_s * 1000)),  # the SDK counts milliseconds
                retry_options=None,  # never retry inside the SDK: see the module docstring
            ),
        )

    def close(self) -> None:
        """Closes the HTTP connections (and the limiter's)."""
        self._client.close()
        if self.limiter is not None:
            self.limiter.close()
        if self.spend is not None:
            self.spend.close()

    @property
    def sdk(self) -> genai.Client:
        """The google-genai client (for :mod:`visualizer_core.ai.gemini_batch`)."""
        return self._client

    supports_batch = True
    """The Gemini Batch API: half the price, answered within hours (economy mode)."""

    def batch(self) -> BatchAI[Any]:
        """This account's batch mode (:class:`visualizer_core.ai.gemini_batch.GeminiBatch`)."""
        return GeminiBatch(self)

    def api_error(self, error: genai_errors.APIError, model: str) -> ProviderError:
        """:func:`classify_api_error`, for the batch mode (which is handed this backend)."""
        return classify_api_error(error, model)

    def estimate_cost(self, model: str, usage: Mapping[str, int]) -> float:
        """:func:`estimate_cost` with this backend's price table."""
        return estimate_cost(model, usage, self.pricing.table)

    # -- generation ---------------------------------------------------------------------------

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """One image of the product in the scene.

        A safety refusal is asked once more with another seed before it is final; every other
        failure is raised at once, classified (see the module docstring), with ``calls``.
        """
        calls: list[usage_records.CallRecord] = []
        try:
            try:
                return self._generate_once(request, attempt=1, calls=calls)
            except ContentRefused as first:
                logger.info("Gemini refused the image (%s); asking once more, another seed", first)
            return self._generate_once(
                replace(request, seed=next_seed(request.seed)), attempt=2, calls=calls
            )
        except ProviderError as error:
            error.calls = [*calls]
            error.model = error.model or request.model or self.image_model
            raise

    def _generate_once(
        self, request: GenerationRequest, *, attempt: int, calls: list[usage_records.CallRecord]
    ) -> GenerationResult:
        model, parts, config = self.image_call(request)
        response = self._call(model, parts, config, kind=CallKind.IMAGE, calls=calls)
        try:
            result = self.image_result(response, model, attempt=attempt)
        except ProviderError as error:
            calls[-1].failed(error)
            raise
        result.calls.extend(calls)
        result.meta["seed"] = request.seed
        return result

    def image_call(
        self, request: GenerationRequest
    ) -> tuple[str, list[types.Part], types.GenerateContentConfig]:
        """The model, parts and config of the ``generateContent`` call that makes ``request``."""
        model = request.model or self.image_model
        if not request.product_images:
            raise InvalidInput("a generation request needs at least one product image")
        parts = [_image_part(image, "product image") for image in request.product_images]
        parts.append(_image_part(request.scene_image, "scene image"))
        parts.append(types.Part.from_text(text=request.prompt))
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(
                aspect_ratio=request.aspect_ratio,
                image_size=request.image_size or self.image_size,
            ),
            seed=request.seed,
        )
        return model, parts, config

    def image_result(
        self,
        response: types.GenerateContentResponse,
        model: str,
        *,
        attempt: int = 1,
        price_factor: float = 1.0,
    ) -> GenerationResult:
        """The image of an answer (the last non-thought image part), or ContentRefused."""
        _raise_if_blocked(response, "the image")
        candidate = response.candidates[0] if response.candidates else None
        finish = _finish_reason(candidate)
        parts_out = candidate.content.parts if candidate and candidate.content else None
        image = None
        for part in parts_out or []:  # the last non-thought image is the answer
            if part.thought or part.inline_data is None or not part.inline_data.data:
                continue
            if (part.inline_data.mime_type or "").startswith("image/"):
                image = part.inline_data
        if image is None or image.data is None:
            if finish in _REFUSALS:
                raise ContentRefused(_no_image_message(finish, response.text), model=model)
            raise TransientProviderError(_unfinished_message(finish, response), model=model)
        usage = _usage(response.usage_metadata)
        return GenerationResult(
            image=image.data,
            mime_type=image.mime_type or "image/png",
            model=model,
            usage=usage,
            meta={
                "finish_reason": finish,
                "response_id": response.response_id,
                "model_version": response.model_version,
                "attempts": attempt,
                "cost_usd": self.estimate_cost(model, usage) * price_factor,
            },
        )

    # -- analysis -----------------------------------------------------------------------------

    def analyze_product(self, facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
        """Category, fitting rooms, style, materials and colours, from catalog text and photos."""
        offline = taxonomy.classify(facts.name, facts.category, facts.description)
        lines = [
            "You are cataloguing furniture and home products for interior photographs.",
            "Describe the product in the photos and text below as JSON matching the schema.",
            _allowed("category", taxonomy.CATEGORIES),
            _taxonomy_choices(offline),
            _allowed("room type", taxonomy.ROOM_TYPES),
            "room_types: the rooms it belongs in, best first. palette: dominant colours as"
            " #rrggbb. placement: where it stands (floor, surface, wall or ceiling).",
            "",
            f"Name: {facts.name}",
        ]
        for label, value in (
            ("Catalog category", facts.category),
            ("Description", facts.description),
            ("Colours", ", ".join(facts.colors)),
            ("Materials", ", ".join(facts.materials)),
            ("Dimensions", facts.dimensions),
        ):
            if value:
                lines.append(f"{label}: {value}")
        parts = [_image_part(image, "product photo") for image in images]
        parts.append(types.Part.from_text(text="\n".join(lines)))
        answer = self._analyze(parts, ProductAnswer, f"analysis of product {facts.name!r}")
        analysis = ProductAnalysis.model_validate(answer.model_dump())
        category = _normalized(
            taxonomy.normalize_category,
            facts.name,
            analysis.category or facts.category,
            facts.description,
        )
        rooms = [_normalized(taxonomy.normalize_room_type, r) for r in analysis.room_types]
        analysis = analysis.model_copy(
            update={
                "category": category or analysis.category,
                "room_types": list(dict.fromkeys(r for r in rooms if r)),
            }
        )
        return _with_taxonomy(facts, analysis, offline)

    def analyze_scene(self, image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
        """Room type, style, lighting, palette, camera angle and floor line of a scene.

        A ``room_type_hint`` comes from a person and wins over the model's own room type.
        """
        lines = [
            "You are describing an interior photograph that products will be placed into.",
            "Describe the scene as JSON matching the schema.",
            _allowed("room type", taxonomy.ROOM_TYPES),
            "palette: dominant colours as #rrggbb. brightness 0..1; warmth -1 (cool) .. +1"
            " (warm); floor_line: the height fraction (0 top .. 1 bottom) where floor meets wall.",
        ]
        if room_type_hint:
            lines.append(f"The person who uploaded it says the room is: {room_type_hint}.")
        parts = [_image_part(image, "scene image"), types.Part.from_text(text="\n".join(lines))]
        analysis = self._analyze(parts, SceneAnalysis, "scene analysis")
        room_type = room_type_hint or analysis.room_type
        room_type = _normalized(taxonomy.normalize_room_type, room_type) or room_type
        return analysis.model_copy(update={"room_type": room_type})

    def judge_fidelity(self, product_image: bytes, generated_image: bytes) -> FidelityCheck:
        """How faithfully the product of the first image appears in the second, 0..1.

        One call to the text model, with both images and a JSON answer schema. Its tokens and
        cost are in the result, to be added to the generated image's.
        """
        lines = [
            "The first image is a product photo (a cut-out). The second image was generated to"
            " show that very product placed in a room.",
            "Judge how faithfully the product appears in the second image: same shape,"
            " proportions, colours, materials and details. Ignore the room, the lighting and"
            " the product's position and size.",
            "score: 1.0 the same product, unchanged; 0.7 small drift (a detail or shade off);"
            " 0.4 clearly altered; 0.0 missing or a different product.",
            "reason: one short sentence naming what differs, or that nothing does.",
        ]
        parts = [
            _image_part(product_image, "product image"),
            _image_part(generated_image, "generated image"),
            types.Part.from_text(text="\n".join(lines)),
        ]
        with usage_records.collect() as calls:
            answer, usage = self._analyze_with_usage(
                parts, FidelityJudgement, "fidelity judgement", kind=CallKind.JUDGEMENT
            )
        return FidelityCheck(
            score=round(answer.score, 4),
            method="gemini-judgement",
            reason=answer.reason,
            usage=usage,
            cost_usd=self.estimate_cost(self.text_model, usage),
            calls=list(calls),
        )

    def _analyze(self, parts: list[types.Part], schema: type[_T], what: str) -> _T:
        return self._analyze_with_usage(parts, schema, what)[0]

    def _analyze_with_usage(
        self,
        parts: list[types.Part],
        schema: type[_T],
        what: str,
        *,
        kind: CallKind = CallKind.ANALYSIS,
    ) -> tuple[_T, dict[str, int]]:
        """One JSON answer of the text model; a safety refusal is asked once more."""
        calls: list[usage_records.CallRecord] = []
        try:
            try:
                return self._analyze_once(parts, schema, what, kind, calls, seed=None)
            except ContentRefused as first:
                logger.info("Gemini refused the %s (%s); asking once more", what, first)
            return self._analyze_once(parts, schema, what, kind, calls, seed=next_seed(len(calls)))
        except ProviderError as error:
            error.calls = [*calls]
            error.model = error.model or self.text_model
            raise

    def _analyze_once(
        self,
        parts: list[types.Part],
        schema: type[_T],
        what: str,
        kind: CallKind,
        calls: list[usage_records.CallRecord],
        *,
        seed: int | None,
    ) -> tuple[_T, dict[str, int]]:
        config = types.GenerateContentConfig(
            response_mime_type="application/json", response_schema=schema, seed=seed
        )
        response = self._call(self.text_model, parts, config, kind=kind, calls=calls)
        try:
            return self._parse(response, schema, what)
        except ProviderError as error:
            calls[-1].failed(error)
            raise

    def _parse(
        self, response: types.GenerateContentResponse, schema: type[_T], what: str
    ) -> tuple[_T, dict[str, int]]:
        _raise_if_blocked(response, f"the {what}")
        usage = _usage(response.usage_metadata)
        if isinstance(response.parsed, schema):
            return response.parsed, usage
        finish = _finish_reason(response.candidates[0] if response.candidates else None)
        text = (response.text or "").strip()
        if finish in _REFUSALS and not text:
            raise ContentRefused(f"Gemini refused the {what} ({finish}): {_REFUSALS[finish]}")
        if not text:
            raise TransientProviderError(
                f"Gemini returned no text for the {what} ({_unfinished_message(finish, response)})"
            )
        unfenced = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
        try:
            return schema.model_validate_json(unfenced), usage
        except ValidationError as error:
            raise TransientProviderError(
                f"Gemini's {what} is not valid {schema.__name__} JSON"
                f" ({first_problem(error, 'the answer')}, finish reason {finish});"
                f" it began {text[:80]!r}"
            ) from error

    # -- the call and its failures ------------------------------------------------------------

    def _call(
        self,
        model: str,
        parts: list[types.Part],
        config: types.GenerateContentConfig,
        *,
        kind: CallKind,
        calls: list[usage_records.CallRecord],
    ) -> types.GenerateContentResponse:
        """One ``generateContent`` call, after a slot of the model's limits.

        Its record (success or failure) is emitted and appended to ``calls``; its failures are
        raised as ``ProviderError``s. A full window raises ``RateLimited`` before any call.
        """
        reservation = None
        if self.spend is not None:
            reservation = self.spend.reserve(
                self._estimated_usd(model, parts, config, kind), model=model
            )
        try:
            if self.limiter is not None:
                self.limiter.take(model, tokens=_estimated_tokens(model, parts, kind))
            response = self._client.models.generate_content(
                model=model, contents=[types.Content(role="user", parts=parts)], config=config
            )
        except _CALL_ERRORS as error:
            self._settle(reservation, 0.0)
            failure = self._failure(error, model)
            calls.append(usage_records.emit(self.pricing.record(kind, model, error=failure)))
            raise failure from error
        except ProviderError:  # our own limits: nothing was sent
            self._settle(reservation, 0.0)
            raise
        tokens = usage_records.tokens_from_metadata(response.usage_metadata)
        record = usage_records.emit(self.pricing.record(kind, model, tokens))
        self._settle(reservation, record.cost_usd)
        calls.append(record)
        return response

    def _settle(self, reservation: Reservation | None, usd: float) -> None:
        if self.spend is not None:
            self.spend.settle(reservation, usd)

    def _estimated_usd(
        self,
        model: str,
        parts: list[types.Part],
        config: types.GenerateContentConfig,
        kind: CallKind,
    ) -> float:
        """What a call will cost at most, about, before it is sent (the spend reservation):
        the inputs as the registry counts them, the picture's image tokens at the size asked,
        and a margin of text (and thinking) output; settled at the real cost afterwards."""
        text = sum(len(part.text or "") for part in parts)
        images = sum(1 for part in parts if part.inline_data is not None)
        info = models.lookup(model)
        per_image = info.input_image_tokens if info else _TOKENS_PER_IMAGE_INPUT
        size = config.image_config.image_size if config.image_config else None
        picture = 0
        if kind is CallKind.IMAGE:
            picture = info.image_tokens(size) if info and info.sizes else 1120
        tokens = usage_records.Tokens(
            input_text=text // 4 + 1,
            input_image=images * per_image,
            output_text=_EXPECTED_OUTPUT_TOKENS["text"],
            output_image=picture,
        )
        return self.pricing.cost(model, tokens)

    def _failure(self, error: BaseException, model: str) -> ProviderError:
        """The ``ProviderError`` a failed call (one of ``_CALL_ERRORS``) is raised as."""
        if isinstance(error, genai_errors.APIError):
            return classify_api_error(error, model, limiter=self.limiter, spend=self.spend)
        if isinstance(error, genai_errors.UnknownApiResponseError):
            return TransientProviderError(f"Gemini sent an unreadable answer: {error}", model=model)
        what = "timed out" if "Timeout" in type(error).__name__ else "failed"
        return TransientProviderError(
            f"Gemini request {what} after at most {self.timeout_s:g}s:"
            f" {type(error).__name__} {error}".rstrip(),
            model=model,
        )


def _estimated_tokens(model: str, parts: list[types.Part], kind: CallKind) -> int:
    """The tokens a call will use, guessed before it is sent (for tokens-a-minute limits):
    each input image as the model registry counts it, the Generate estimate's count too."""
    text = sum(len(part.text or "") for part in parts)
    images = sum(1 for part in parts if part.inline_data is not None)
    info = models.lookup(model)
    per_image = info.input_image_tokens if info else _TOKENS_PER_IMAGE_INPUT
    expected = _EXPECTED_OUTPUT_TOKENS["image" if kind is CallKind.IMAGE else "text"]
    return text // 4 + 1 + images * per_image + expected


def classify_api_error(
    error: genai_errors.APIError,
    model: str,
    *,
    limiter: ModelLimiter | None = None,
    spend: AccountSpend | None = None,
) -> ProviderError:
    """The ``ProviderError`` for an HTTP error answer from the API.

    A 429 that names a per-day quota (whatever else it names), a quota of 0, or no quota and
    no retry time at all is the model's daily quota, not a busy minute (see
    :func:`_daily_quota`): :class:`DailyLimitReached`, and with a ``limiter`` the model is
    paused for every worker until the quota resets.
    """
    code = error.code
    text = f"Gemini answered {code} {error.status or ''}".rstrip() + f": {error.message or error}"
    if code == 429:
        spent = _spend_quota(error)
        if spent == "month":
            capped = f"Gemini reported the billing account's monthly spend cap reached: {text}"
            if spend is not None:
                return spend.pause_for_month(capped, model)
            return SpendCapReached(capped, resets_at=month_end(), model=model)
        if spent == "window":
            return RateLimited(
                f"{text} (the billing account's spend limit over 10 minutes is reached: every"
                " model and client on this key waits)",
                retry_after=_retry_after(error) or 60.0,
                model=model,
            )
        reason = _daily_quota(error)
        if reason is not None:
            if limiter is not None:
                daily = limiter.provider_day_used(model, text, reason=reason)
            else:
                resets = day_end()
                daily = DailyLimitReached(
                    f"the daily request quota of {model} is used up ({reason}); it resets at"
                    f" {resets:%Y-%m-%d %H:%M} UTC (midnight Pacific time); Gemini said: {text}",
                    resets_at=resets,
                )
            daily.model = model
            return daily
        return RateLimited(
            f"{text} (the requests a minute of {model} are used up for now)",
            retry_after=_retry_after(error),
            model=model,
        )
    if code == 503:
        return TransientProviderError(
            f"{text} (Gemini is overloaded right now; the image is retried later)", model=model
        )
    if code == 408 or code >= 500:
        return TransientProviderError(text, model=model)
    reasons = {item.get("reason") for item in _error_details(error)}
    if "API_KEY_INVALID" in reasons or code in (401, 403):
        return PermanentProviderError(f"{text} (check GEMINI_API_KEY)", model=model)
    if code == 404:
        return PermanentProviderError(f"{text} (check the model name {model!r})", model=model)
    return PermanentProviderError(
        f"{text} (Gemini refused the request as it was sent: check the settings of this"
        " image, such as its model, aspect ratio and image size)",
        model=model,
    )


def _spend_quota(error: genai_errors.APIError) -> str | None:
    """``"month"`` or ``"window"`` when a 429 names the billing account's spend limit (per
    month, or over the rolling 10 minutes), else None. Google has answered past these limits
    since June 2026; no recorded body of one was found, so the QuotaFailure is read by its
    names (a quota id or metric that says spend) and the message ("spend")."""
    names = " ".join(
        f"{v.get('quotaId', '')} {v.get('quotaMetric', '')}"
        for item in _error_details(error)
        if str(item.get("@type", "")).endswith("google.rpc.QuotaFailure")
        for v in item.get("violations") or []
        if isinstance(v, dict)
    ).lower()
    message = (error.message or "").lower()
    if "spend" not in names and "spend limit" not in message and "spend cap" not in message:
        return None
    return "month" if "month" in names or "month" in message else "window"


def _daily_quota(error: genai_errors.APIError) -> str | None:
    """Why a 429 means the model's day is used up (not a busy minute), or None.

    Real 429s name one violation or several at once (a per-day, a per-minute and a tokens
    one together, each ``limit: 0`` on a project without billing), or none at all (only a
    ``google.rpc.Help`` link, a quota that stays until midnight). Each of these is the day:

    - a QuotaFailure violation names a per-day quota, whatever else it names beside it;
    - a quota whose limit is 0 (``quotaValue`` "0", or "limit: 0" in the message): no
      minute will ever have room, retrying a second later only spends the attempts;
    - neither a QuotaFailure nor a RetryInfo: nothing says when to come back.

    Only a 429 that names per-minute quotas (or gives a RetryInfo) with a limit above 0 is a
    busy minute.
    """
    details = _error_details(error)
    violations = [
        violation
        for item in details
        if str(item.get("@type", "")).endswith("google.rpc.QuotaFailure")
        for violation in item.get("violations") or []
        if isinstance(violation, dict)
    ]
    names = " ".join(
        f"{v.get('quotaId', '')} {v.get('quotaMetric', '')}" for v in violations
    ).lower()
    if "perday" in names.replace("_", ""):
        return "Gemini reported the model's requests-per-day quota used up"
    zero = any(str(v.get("quotaValue")) == "0" for v in violations)
    if zero or re.search(r"\blimit: 0\b", error.message or ""):
        return (
            "Gemini reported a quota of 0 for the model (a project without billing, or a"
            " model its tier does not include)"
        )
    retry_info = any(str(item.get("@type", "")).endswith("RetryInfo") for item in details)
    if not violations and not retry_info:
        return "Gemini answered 429 without naming a quota or a time to retry"
    return None


def _error_details(error: genai_errors.APIError) -> list[dict[str, Any]]:
    """The ``details`` list of a google.rpc.Status error body, or []."""
    body = error.details if isinstance(error.details, dict) else {}
    status = body.get("error", body)
    details = status.get("details") if isinstance(status, dict) else None
    return [item for item in details or [] if isinstance(item, dict)]


def _retry_after(error: genai_errors.APIError) -> float | None:
    """Seconds to wait: google.rpc.RetryInfo ``retryDelay`` first, else a Retry-After header."""
    for item in _error_details(error):
        if str(item.get("@type", "")).endswith("google.rpc.RetryInfo"):
            delay = item.get("retryDelay")
            if isinstance(delay, str) and re.fullmatch(r"\d+(\.\d+)?s", delay.strip()):
                return float(delay.strip()[:-1])
            if isinstance(delay, dict):
                return float(delay.get("seconds", 0)) + float(delay.get("nanos", 0)) / 1e9
    headers = getattr(error.response, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _raise_if_blocked(response: types.GenerateContentResponse, what: str) -> None:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = _enum_name(feedback.block_reason)
        detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        raise ContentRefused(
            f"Gemini blocked the request for {what} (block reason {reason}{detail}); {_ADVICE}"
        )


def _unfinished_message(finish: str | None, response: types.GenerateContentResponse) -> str:
    if not response.candidates:
        return "Gemini sent an empty answer (no candidates); it is asked again with another seed"
    why = _UNFINISHED.get(finish or "", "it answered with text only")
    return (
        f"Gemini returned no image (finish reason {finish or 'none'}): {why}; it is asked again"
        " with another seed"
    )


def _no_image_message(finish: str | None, text: str | None) -> str:
    why = _REFUSALS.get(finish or "", "it answered with text only")
    said = f' It said: "{text.strip()[:200]}"' if text and text.strip() else ""
    return f"Gemini returned no image (finish reason {finish or 'none'}): {why}; {_ADVICE}.{said}"


def _finish_reason(candidate: types.Candidate | None) -> str | None:
    if candidate is None or candidate.finish_reason is None:
        return None
    return _enum_name(candidate.finish_reason)


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _usage(metadata: types.GenerateContentResponseUsageMetadata | None) -> dict[str, int]:
    """Token counts in the project's words: input, output, total, thoughts, image output.

    Image output tokens are those the answer's ``candidatesTokensDetails`` names as IMAGE: an
    answer without that list (text only, even from an image model) drew no image.
    """
    if metadata is None:
        return {}
    usage = {
        "input_tokens": metadata.prompt_token_count or 0,
        "output_tokens": metadata.candidates_token_count or 0,
        "total_tokens": metadata.total_token_count or 0,
    }
    if metadata.thoughts_token_count:
        usage["thoughts_tokens"] = metadata.thoughts_token_count
    if metadata.cached_content_token_count:
        usage["cached_tokens"] = metadata.cached_content_token_count
    details = metadata.candidates_tokens_details
    if details:
        usage["image_output_tokens"] = sum(
            item.token_count or 0 for item in details if _enum_name(item.modality) == "IMAGE"
        )
    return usage


def _image_part(data: bytes, what: str) -> types.Part:
    return types.Part.from_bytes(data=data, mime_type=_image_mime(data, what))


def _image_mime(data: bytes, what: str) -> str:
    """The MIME type of PNG, JPEG, WebP or GIF bytes, from their signature."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    raise InvalidInput(f"the {what} is not a PNG, JPEG, WebP or GIF image")


# -- the taxonomy ---------------------------------------------------------------------------------

_CANDIDATES = 6


def _candidate_ids(offline: taxonomy.Classification) -> dict[int, str]:
    """The Google taxonomy ids (with paths) the offline classifier thinks likely, best first;
    only the catalog's own when it gave one."""
    if offline.source == "catalog" and offline.taxonomy_id is not None:
        return {offline.taxonomy_id: str(offline.path)}
    return {c.id: c.path for c in offline.candidates[:_CANDIDATES]}


def _taxonomy_choices(offline: taxonomy.Classification) -> str:
    """The candidates as a line of the prompt: a short list keeps the answer's schema small
    and the id one the project knows."""
    candidates = _candidate_ids(offline)
    if not candidates:
        return "taxonomy_id: null (no Google product taxonomy category is known to fit)."
    listed = "; ".join(f"{node_id} = {path}" for node_id, path in candidates.items())
    return (
        "taxonomy_id: the Google product taxonomy id of the product, one of these, or null"
        f" when none is right: {listed}."
    )


def _with_taxonomy(
    facts: ProductFacts, analysis: ProductAnalysis, offline: taxonomy.Classification
) -> ProductAnalysis:
    """The analysis with a taxonomy id the project knows: the model's choice when it is one of
    the candidates offered, else the offline classifier's; path and confidence follow the id."""
    offered = _candidate_ids(offline)
    chosen = taxonomy.category(analysis.taxonomy_id) if analysis.taxonomy_id in offered else None
    if chosen is not None:
        found = taxonomy.classify(
            facts.name, facts.category, facts.description, taxonomy_hint=chosen.id
        )
    elif offline.taxonomy_id is None:
        return analysis.model_copy(
            update={"taxonomy_id": None, "taxonomy_path": None, "confidence": 0.0}
        )
    else:
        found = offline
    return analysis.model_copy(
        update={
            "taxonomy_id": found.taxonomy_id,
            "taxonomy_path": found.path,
            "confidence": 1.0 if chosen is not None else found.confidence,
            "room_types": analysis.room_types or list(found.rooms),
        }
    )


def _allowed(label: str, ids: Iterable[str]) -> str:
    return f"Allowed {label} ids (use exactly one of these): {', '.join(ids)}."


def _normalized(normalize: Callable[..., str], *args: Any) -> str | None:
    """The taxonomy's id for the model's words, or None when it knows none."""
    try:
        value = normalize(*args)
    except (ValueError, KeyError, LookupError):
        return None
    return value or None
