"""The model registry: every Gemini model the project knows, as data (``data/models.toml``).

Each model's id, kind (image or text), prices by mode (standard, batch) with the day they
hold from and where they were read, output sizes with the image tokens each is billed, aspect
ratios, the most input images a request may carry, and its shutdown day with the model that
replaces it. The file is read and validated once (pydantic); what it says is used:

- to cost calls (:mod:`.usage` builds its price table from it; ``GEMINI_PRICES`` adds rows);
- to estimate before Generate (the image tokens of the chosen size, the input images counted
  as the adapter counts them);
- to refuse at the start of a flow a model that retired (the replacement named) or that has no
  price (unless ``GEMINI_PRICES`` prices it), and to warn 30 days before one retires
  (:func:`retirement_warning`, shown by ``visualizer status`` and the studio);
- to offer only the output sizes a model draws (:func:`image_sizes`).

``python -m visualizer_core.ai.models --table`` prints the Markdown table of the docs (a test
checks that docs/money.md holds it as printed).
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_TEXT_MODEL",
    "IMAGE_SIZES",
    "RETIREMENT_NOTICE_DAYS",
    "ModelInfo",
    "ModelPrice",
    "Registry",
    "image_sizes",
    "lookup",
    "markdown_table",
    "registry",
    "retirement_warning",
    "typical_image_usage",
]

# Model choice, checked against ai.google.dev (models and deprecations pages) on 2026-11-24:
# - Images: Nano Banana 2.1, ``gemini-nano-banana-2.1``, GA since 2026-10-06 and what Google
#   recommends for new projects. Its predecessors are gone or going (their shutdown days are
#   in the registry). Nano Banana Pro (``gemini-3-pro-image``) is still GA for those who set
#   GEMINI_IMAGE_MODEL to it; it costs about 4x as much. 2.1 rejects imageSize "512".
# - Text: ``gemini-3.8-flash``, the newest stable Flash (GA 2026-09-02, no shutdown announced);
#   it takes images and answers with JSON under a response schema.
DEFAULT_IMAGE_MODEL: Final = "gemini-nano-banana-2.1"
DEFAULT_TEXT_MODEL: Final = "gemini-3.8-flash"

IMAGE_SIZES: Final = ("1K", "2K", "4K")
"""The output sizes a flow may ask for (``FlowSettings.image_size``)."""
RETIREMENT_NOTICE_DAYS: Final = 30
"""How many days before a configured model's shutdown the status and the studio warn."""

ImageSize = Literal["512", "1K", "2K", "4K"]
Mode = Literal["standard", "batch"]


class ModelPrice(BaseModel):
    """USD per one million tokens, for one mode, from ``since`` on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Mode
    since: dt.date
    source: str = Field(min_length=1)
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    image_output: float | None = Field(default=None, ge=0)


class ModelInfo(BaseModel):
    """One model of the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    kind: Literal["image", "text"]
    sizes: dict[str, int] = Field(default_factory=dict)
    default_size: ImageSize | None = None
    aspect_ratios: tuple[str, ...] = ()
    max_input_images: int = Field(ge=0)
    input_image_tokens: int = Field(gt=0)
    shutdown: dt.date | None = None
    replacement: str | None = None
    prices: tuple[ModelPrice, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ModelInfo:
        odd = set(self.sizes) - {"512", *IMAGE_SIZES}
        if odd:
            raise ValueError(f"{self.id}: unknown output size {sorted(odd)[0]!r}")
        if self.kind == "image" and (not self.sizes or self.default_size not in self.sizes):
            raise ValueError(f"{self.id}: an image model needs sizes and a default_size among them")
        if self.kind == "text" and (self.sizes or self.default_size):
            raise ValueError(f"{self.id}: a text model has no output sizes")
        if self.shutdown is not None and not self.replacement:
            raise ValueError(f"{self.id}: a model with a shutdown day names its replacement")
        return self

    def price(self, mode: Mode = "standard", *, on: dt.date | None = None) -> ModelPrice | None:
        """The row of ``mode`` in force on ``on`` (today); before the first row, the first
        row (the earliest price known); None when the model has no price in that mode."""
        rows = sorted((p for p in self.prices if p.mode == mode), key=lambda p: p.since)
        if not rows:
            return None
        day = on or dt.date.today()
        held = [p for p in rows if p.since <= day]
        return held[-1] if held else rows[0]

    def retired(self, on: dt.date | None = None) -> bool:
        """Whether Google no longer serves the model on ``on`` (today)."""
        return self.shutdown is not None and self.shutdown <= (on or dt.date.today())

    def image_tokens(self, size: str | None) -> int:
        """The image output tokens one picture of ``size`` (None: the default) is billed."""
        return self.sizes[size or self.default_size or "1K"]


class Registry(BaseModel):
    """``data/models.toml``: every model the project knows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: tuple[ModelInfo, ...]

    @model_validator(mode="after")
    def _unique_and_known(self) -> Registry:
        ids = [m.id for m in self.model]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"models.toml names {', '.join(twice)} more than once")
        unknown = [m.replacement for m in self.model if m.replacement and m.replacement not in ids]
        if unknown:
            raise ValueError(f"models.toml names unknown replacements {', '.join(unknown)}")
        return self

    @property
    def by_id(self) -> dict[str, ModelInfo]:
        return {m.id: m for m in self.model}


@functools.cache
def registry() -> Registry:
    """The registry, read and validated once per process."""
    text = resources.files(__package__).joinpath("data/models.toml").read_text("utf-8")
    return Registry.model_validate(tomllib.loads(text))


def lookup(model: str) -> ModelInfo | None:
    """The registry's entry for ``model`` (``models/`` prefix and ``-001`` style version
    suffixes allowed: the longest known id it starts with), or None."""
    name = model.removeprefix("models/")
    known = registry().by_id
    if name in known:
        return known[name]
    prefixes = [key for key in known if name.startswith(f"{key}-")]
    return known[max(prefixes, key=len)] if prefixes else None


def image_sizes(model: str) -> tuple[str, ...]:
    """The output sizes of :data:`IMAGE_SIZES` that ``model`` draws, smallest first; () for a
    model the registry does not know or that draws no pictures."""
    info = lookup(model)
    if info is None:
        return ()
    return tuple(size for size in IMAGE_SIZES if size in info.sizes)


TYPICAL_PROMPT_TOKENS: Final = 400
"""The text tokens of a typical image request's prompt (for estimates made before a call)."""


def typical_image_usage(model: str, image_size: str | None = None) -> dict[str, int]:
    """The tokens of one typical image call of ``model`` at ``image_size``: two input images
    (product and scene) counted as the adapter counts them, a short prompt, and one picture of
    that size out (models the registry does not know: 258 an input image, 1120 out)."""
    info = lookup(model)
    per_input = info.input_image_tokens if info else 258
    out = info.image_tokens(image_size) if info and info.sizes else 1120
    return {
        "input_tokens": 2 * per_input + TYPICAL_PROMPT_TOKENS,
        "output_tokens": out,
        "image_output_tokens": out,
    }


def retirement_warning(model: str, *, on: dt.date | None = None) -> str | None:
    """One line when ``model`` retires within :data:`RETIREMENT_NOTICE_DAYS` or has retired;
    else None."""
    info = lookup(model)
    if info is None or info.shutdown is None:
        return None
    day = on or dt.date.today()
    left = (info.shutdown - day).days
    if left > RETIREMENT_NOTICE_DAYS:
        return None
    if left <= 0:
        return (
            f"{info.id} was shut down by Google on {info.shutdown:%Y-%m-%d}; use"
            f" {info.replacement} instead"
        )
    return (
        f"{info.id} shuts down on {info.shutdown:%Y-%m-%d} ({left} days from now); move to"
        f" {info.replacement} before then"
    )


def markdown_table(models: Mapping[str, ModelInfo] | None = None) -> str:
    """The docs' model table: one row per model, from the registry."""
    rows = [
        "| model | kind | sizes (image tokens) | standard USD/1M in, out, image out |"
        " batch | shutdown |",
        "|---|---|---|---|---|---|",
    ]
    for info in (models or registry().by_id).values():
        sizes = ", ".join(f"{size} ({tokens})" for size, tokens in info.sizes.items()) or "-"
        prices = []
        modes: tuple[Mode, ...] = ("standard", "batch")
        for mode in modes:
            price = info.price(mode)
            if price is None:
                prices.append("-")
                continue
            figures = [price.input, price.output] + (
                [price.image_output] if price.image_output is not None else []
            )
            prices.append(", ".join(f"{f:g}" for f in figures) + f" (from {price.since})")
        shutdown = f"{info.shutdown} (use {info.replacement})" if info.shutdown is not None else "-"
        rows.append(
            f"| `{info.id}` | {info.kind} | {sizes} | {prices[0]} | {prices[1]} | {shutdown} |"
        )
    return "\n".join(rows) + "\n"


if __name__ == "__main__":  # pragma: no cover - a small script for the docs
    if sys.argv[1:] != ["--table"]:
        sys.exit("usage: python -m visualizer_core.ai.models --table")
    sys.stdout.write(markdown_table())
