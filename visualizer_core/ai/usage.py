"""The spend ledger's unit: one :class:`CallRecord` per billable provider call, and its price.

Every Gemini call the project makes (an image, a fidelity judgement, a product or scene
analysis, one line of a Batch API job) becomes one record: the model, the tokens the API
reported by kind, the price row used, the cost in USD, whether it gave what was asked and
what it was for. A call that failed (a 429, a 500, a timeout) is recorded too, with no tokens
and no cost: the provider does not bill it, but the ledger counts it, so the calls in the
ledger are the calls the provider saw.

How records reach the ledger: the Gemini adapter builds one record per HTTP call and hands it
to :func:`emit`; whoever wants the records of a piece of work runs it inside
:func:`collect`::

    with usage.collect() as calls:
        result = ai.generate(request)      # retries, refusals and re-asks included
    ...                                    # calls: every record, failed ones too

Collectors nest (an inner one sees its calls; the outer one sees them as well) and are per
thread (a :mod:`contextvars` variable), so worker threads never mix their records. The rows
keep them as JSON: ``generated_image.usage["calls"]`` (its image, judgement and batch calls),
``product.usage["calls"]`` and each scene's ``usage["calls"]`` (their analyses).

Prices are USD per million tokens (:data:`PRICES`, overridden by ``GEMINI_PRICES``); a batch
line costs :data:`BATCH_PRICE_FACTOR` of the standard price.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from visualizer_core.ai.models import registry

__all__ = [
    "BATCH_PRICE_FACTOR",
    "PRICES",
    "CallKind",
    "CallRecord",
    "Price",
    "Pricing",
    "Tokens",
    "collect",
    "emit",
    "estimate_cost",
    "records_of",
    "summarize",
    "tokens_from_metadata",
]

log = logging.getLogger(__name__)

BATCH_PRICE_FACTOR: Final = 0.5
"""The Batch API's price relative to standard calls."""


class CallKind(StrEnum):
    """What a provider call was for."""

    IMAGE = "image"
    JUDGEMENT = "judgement"
    ANALYSIS = "analysis"
    BATCH = "batch"


@dataclass(frozen=True)
class Price:
    """USD per one million tokens. Thinking tokens are billed as text output."""

    input: float  # prompt tokens: text and images alike
    output: float  # text output, thinking included
    image_output: float | None = None  # image output tokens (image models only)


def _registry_prices() -> dict[str, Price]:
    """The standard price in force today of every model the registry prices."""

    table = {}
    for info in registry().model:
        row = info.price("standard")
        if row is not None:
            table[info.id] = Price(
                input=row.input, output=row.output, image_output=row.image_output
            )
    return table


PRICES: dict[str, Price] = _registry_prices()
"""Standard (not Batch) prices, USD per 1M tokens, from the model registry
(``ai/data/models.toml``, with the day each holds from and its source). An image is billed by
its output tokens (1120 for a 1K picture of the 3.x flash image models, 1680 for 2K, 2520 for
4K), so a 1K Nano Banana 2.1 image is 1120 x $30 / 1M = $0.0336. ``GEMINI_PRICES`` adds or
replaces rows."""


class Tokens(BaseModel):
    """Token counts of one call, by kind, as the API reported them (0 where it did not)."""

    model_config = ConfigDict(frozen=True)

    input_text: int = 0
    input_image: int = 0
    output_text: int = 0
    output_image: int = 0
    thinking: int = 0
    cached: int = 0  # part of the input, served from the context cache
    total: int = 0  # the API's own total (input + output + thinking)

    @property
    def input(self) -> int:
        return self.input_text + self.input_image

    @property
    def output(self) -> int:
        """Output tokens the API counts as candidates (text and image; thinking apart)."""
        return self.output_text + self.output_image

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(**{name: getattr(self, name) + getattr(other, name) for name in _TOKEN_KINDS})


_TOKEN_KINDS: Final = tuple(Tokens.model_fields)


class CallRecord(BaseModel):
    """One provider call, as the ledger keeps it (JSON on the row the call served).

    ``ok`` is False for a call that gave nothing usable: an HTTP error, a timeout, or an answer
    that was a refusal (billed all the same: its tokens and cost are kept). ``price`` is the
    row used (USD per 1M tokens) and ``factor`` the discount applied (0.5 for a batch line).
    """

    model_config = ConfigDict(validate_assignment=True)

    kind: CallKind
    model: str
    tokens: Tokens = Field(default_factory=Tokens)
    price: dict[str, float | None] = Field(default_factory=dict)
    factor: float = 1.0
    cost_usd: float = 0.0
    ok: bool = True
    error: str | None = None
    at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    image_id: str | None = None
    product_id: str | None = None
    scene_id: str | None = None
    client_id: str | None = None
    batch: str | None = None  # the Batch API job, for kind "batch"

    def failed(self, error: BaseException | str) -> CallRecord:
        """Marks the call as not having given what was asked (its cost stays)."""
        self.ok = False
        self.error = _error_text(error)
        return self

    def as_json(self) -> dict[str, Any]:
        """The record as stored on a row (compact: zero token kinds left out)."""
        data = self.model_dump(mode="json", exclude_none=True)
        data["tokens"] = {k: v for k, v in data["tokens"].items() if v}
        return data


def _error_text(error: BaseException | str) -> str:
    if isinstance(error, str):
        return error[:500]
    return f"{type(error).__name__}: {error}"[:500]


_UNPRICED: set[str] = set()  # models already warned about


def _lookup(table: Mapping[str, Price], model: str) -> Price | None:
    """The row of ``model``: exact, else the longest known prefix (``-001`` versions), else
    None (logged once per model)."""
    name = model.removeprefix("models/")
    price = table.get(name)
    if price is None:
        keys = [key for key in table if name.startswith(key)]
        price = table[max(keys, key=len)] if keys else None
    if price is None and model not in _UNPRICED:
        _UNPRICED.add(model)
        log.warning("no price known for Gemini model %r; counting its calls as free", model)
    return price


def _cost(price: Price | None, tokens: Tokens, factor: float) -> float:
    if price is None:
        return 0.0
    image_rate = price.image_output if price.image_output is not None else price.output
    usd = (
        tokens.input * price.input
        + (tokens.output_text + tokens.thinking) * price.output
        + tokens.output_image * image_rate
    )
    return round(usd * factor / 1_000_000, 10)


class Pricing:
    """The price table in use: :data:`PRICES` with ``GEMINI_PRICES`` rows added or replaced."""

    def __init__(self, overrides: Mapping[str, Price | Mapping[str, float]] | None = None) -> None:
        self.table: dict[str, Price] = dict(PRICES)
        for model, row in (overrides or {}).items():
            self.table[model] = row if isinstance(row, Price) else Price(**row)

    def price(self, model: str) -> Price | None:
        """The row for ``model`` (exact, else longest prefix), or None (logged once)."""
        return _lookup(self.table, model)

    def cost(self, model: str, tokens: Tokens, *, factor: float = 1.0) -> float:
        """USD of a call of ``model`` that used ``tokens``."""
        return _cost(self.price(model), tokens, factor)

    def record(
        self,
        kind: CallKind | str,
        model: str,
        tokens: Tokens | None = None,
        *,
        factor: float = 1.0,
        error: BaseException | str | None = None,
        **purpose: str | uuid.UUID | None,
    ) -> CallRecord:
        """A priced record; ``error`` marks it failed; ``purpose`` sets image_id, product_id..."""
        tokens = tokens or Tokens()
        name = model.removeprefix("models/")
        price = self.price(name)
        return CallRecord(
            kind=CallKind(kind),
            model=name,
            tokens=tokens,
            price=(
                {"input": price.input, "output": price.output, "image_output": price.image_output}
                if price
                else {}
            ),
            factor=factor,
            cost_usd=_cost(price, tokens, factor),
            ok=error is None,
            error=None if error is None else _error_text(error),
            **{k: (str(v) if v is not None else None) for k, v in purpose.items()},
        )


def estimate_cost(
    model: str, usage: Mapping[str, int], prices: Mapping[str, Price] | None = None
) -> float:
    """USD of a call from a flat usage dict (``input_tokens``, ``output_tokens``,
    ``image_output_tokens``, ``thoughts_tokens``), for estimates made before any call."""
    table = PRICES if prices is None else prices
    image_out = int(usage.get("image_output_tokens", 0))
    tokens = Tokens(
        input_text=int(usage.get("input_tokens", 0)),
        output_text=max(int(usage.get("output_tokens", 0)) - image_out, 0),
        output_image=image_out,
        thinking=int(usage.get("thoughts_tokens", 0)),
    )
    price = _lookup(table, model)
    if price is None:
        return 0.0
    if price.image_output is None:  # a text model: no image tokens, all output is text
        tokens = Tokens(
            input_text=tokens.input_text,
            output_text=tokens.output_text + tokens.output_image,
            thinking=tokens.thinking,
        )
    return _cost(price, tokens, 1.0)


def _field(metadata: Mapping[str, Any], snake: str) -> Any:
    camel = "".join(p if i == 0 else p.capitalize() for i, p in enumerate(snake.split("_")))
    return metadata.get(camel, metadata.get(snake))


def _image_tokens(details: list[Mapping[str, Any]]) -> int:
    """The image tokens of a ``*TokensDetails`` list (a count per modality)."""
    images = (d for d in details if str(_field(d, "modality") or "").upper() == "IMAGE")
    return sum(int(_field(d, "token_count") or 0) for d in images)


def tokens_from_metadata(metadata: Any) -> Tokens:
    """:class:`Tokens` from a ``usageMetadata`` (the SDK's object, or its JSON as a dict).

    Tokens are counted by modality only where the API says so: its ``*TokensDetails`` lists
    name the image tokens, and the rest is text. Real answers list ``candidatesTokensDetails``
    when an image was drawn and leave it out when there is none (an image model that answered
    with text only), so an answer without that list has no image output: counting it as image
    tokens would bill a text answer at the image rate (about 4x).
    """
    if metadata is None:
        return Tokens()
    if not isinstance(metadata, Mapping):  # the SDK's object, read as the JSON it stands for
        metadata = metadata.model_dump(mode="json", by_alias=True)
    prompt = int(_field(metadata, "prompt_token_count") or 0)
    candidates = int(_field(metadata, "candidates_token_count") or 0)
    thinking = int(_field(metadata, "thoughts_token_count") or 0)
    cached = int(_field(metadata, "cached_content_token_count") or 0)
    total = int(_field(metadata, "total_token_count") or 0)
    in_details = _field(metadata, "prompt_tokens_details") or []
    out_details = _field(metadata, "candidates_tokens_details") or []
    input_image = _image_tokens(in_details) if in_details else 0
    input_text = max(prompt - input_image, 0)
    output_image = _image_tokens(out_details) if out_details else 0
    output_text = max(candidates - output_image, 0)
    return Tokens(
        input_text=input_text,
        input_image=input_image,
        output_text=output_text,
        output_image=output_image,
        thinking=thinking,
        cached=cached,
        total=total or prompt + candidates + thinking,
    )


# -- collecting --------------------------------------------------------------------------------

_collectors: contextvars.ContextVar[tuple[list[CallRecord], ...]] = contextvars.ContextVar(
    "visualizer_usage_collectors", default=()
)


@contextmanager
def collect() -> Iterator[list[CallRecord]]:
    """Every record :func:`emit`-ted in this thread while the block runs, in order."""
    found: list[CallRecord] = []
    token = _collectors.set((*_collectors.get(), found))
    try:
        yield found
    finally:
        _collectors.reset(token)


def emit(record: CallRecord) -> CallRecord:
    """Hands a record to every open collector of this thread (none open: it is dropped)."""
    for found in _collectors.get():
        found.append(record)
    return record


# -- reading the ledger back -------------------------------------------------------------------


def records_of(value: Mapping[str, Any] | None) -> list[CallRecord]:
    """The records kept in a row's ``usage`` JSON (``{"calls": [...]}``); [] when none."""
    if not value:
        return []
    calls = value.get("calls") if isinstance(value, Mapping) else None
    return [CallRecord.model_validate(item) for item in calls or [] if isinstance(item, Mapping)]


def summarize(records: Iterable[CallRecord | Mapping[str, Any]]) -> dict[str, Any]:
    """The ``usage`` JSON of a row: its calls, their total cost and tokens (for quick reads)."""
    calls = [r if isinstance(r, CallRecord) else CallRecord.model_validate(r) for r in records]
    total = sum((record.tokens for record in calls), Tokens())
    return {
        "calls": [record.as_json() for record in calls],
        "cost_usd": round(sum(record.cost_usd for record in calls), 10),
        "tokens": {k: v for k, v in total.model_dump().items() if v},
    }
