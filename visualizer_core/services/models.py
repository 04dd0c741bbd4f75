"""Which model a flow may use and at which output sizes: the registry seen from the use cases.

The registry (:mod:`visualizer_core.ai.models`) says what each Gemini model draws, costs and
until when it runs; these functions apply it to the configured backend:

- :func:`image_sizes` lists the output sizes (``1K``, ``2K``, ``4K``) a model draws: the studio
  offers only those, and delivery presets choose among them;
- :func:`check_flow_model` refuses, before a flow is written, a model that retired (naming its
  replacement), a model without a price (unless ``GEMINI_PRICES`` prices it) and an output size
  the model does not draw, each in one line;
- :func:`model_warnings` says which configured model retires within 30 days (``visualizer
  status`` and the studio show it).

The local backend draws any size and costs nothing, so none of this refuses it.
"""

from __future__ import annotations

from typing import Any

from visualizer_core import backends
from visualizer_core.ai import models
from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import Action, Scope

__all__ = [
    "account_pause",
    "check_flow_model",
    "image_size_prices",
    "image_sizes",
    "model_warnings",
]


def _model(model: str | None) -> tuple[str, bool]:
    """The model meant (the backend's image model for None) and whether it is Gemini's."""
    ai = backends.current().ai
    return (model or ai.image_model).removeprefix("models/"), ai.name == "gemini"


def image_sizes(scope: Scope, *, model: str | None = None) -> tuple[str, ...]:
    """The output sizes ``model`` (the configured image model by default) draws, smallest
    first, among ``1K``, ``2K`` and ``4K``: the values ``FlowSettings.image_size`` may take
    for it. The local backend draws them all; a Gemini model the registry does not know, none
    (a flow with it keeps the model's own default size)."""
    scope.require(Action.READ)
    name, gemini = _model(model)
    return models.image_sizes(name) if gemini else models.IMAGE_SIZES


def image_size_prices(
    scope: Scope, *, model: str | None = None, economy: bool = False
) -> dict[str, float]:
    """USD of one typical image call of ``model`` at each size it draws (the provider's
    price, before judgements and retries): what the generate dialog shows beside each size.
    The local backend's sizes cost 0."""
    from visualizer_core.ai.usage import BATCH_PRICE_FACTOR

    sizes = image_sizes(scope, model=model)
    name, gemini = _model(model)
    ai = backends.current().ai
    if not gemini or not hasattr(ai, "estimate_cost"):
        return dict.fromkeys(sizes, 0.0)
    factor = BATCH_PRICE_FACTOR if economy else 1.0
    return {
        size: ai.estimate_cost(name, models.typical_image_usage(name, size)) * factor
        for size in sizes
    }


def check_flow_model(scope: Scope, *, settings: FlowSettings) -> str:
    """The image model a flow with ``settings`` will use, or InvalidInput in one line: the
    model retired (its replacement named), has no price, or does not draw the size asked."""
    scope.require(Action.READ)
    name, gemini = _model(settings.model)
    if not gemini:
        return name
    info = models.lookup(name)
    if info is not None and info.retired():
        raise InvalidInput(
            f"the image model {name} was shut down by Google on {info.shutdown:%Y-%m-%d};"
            f" use {info.replacement} (GEMINI_IMAGE_MODEL or the flow's model)"
        )
    if not _priced(name):
        raise InvalidInput(
            f"the image model {name} has no price in the model registry; give it one in"
            ' GEMINI_PRICES (USD per 1M tokens: {"input": .., "output": .., "image_output": ..})'
            " or choose a known model"
        )
    if settings.image_size is not None:
        sizes = models.image_sizes(name)
        if sizes and settings.image_size not in sizes:
            raise InvalidInput(
                f"the image model {name} draws {', '.join(sizes)}, not {settings.image_size}"
            )
    return name


def _priced(model: str) -> bool:
    overrides = backends.current().settings.gemini_prices or {}
    if any(model == key or model.startswith(f"{key}-") for key in overrides):
        return True
    info = models.lookup(model)
    return info is not None and info.price("standard") is not None


def model_warnings(scope: Scope) -> list[str]:
    """One line per configured Gemini model (image and text) that retires within 30 days or
    has retired; [] on the local backend. Cheap: it reads the settings and the registry, and
    builds no backend (``visualizer status`` calls it)."""
    scope.require(Action.READ)
    settings = backends.current().settings
    if settings.ai_backend != "gemini":
        return []
    configured = (
        settings.gemini_image_model or models.DEFAULT_IMAGE_MODEL,
        settings.gemini_text_model or models.DEFAULT_TEXT_MODEL,
    )
    found = (models.retirement_warning(m) for m in dict.fromkeys(configured))
    return [line for line in found if line]


def account_pause(scope: Scope) -> dict[str, Any] | None:
    """``{"until", "reason"}`` while the billing account's work is paused (its monthly spend
    cap reached, ours in ``GEMINI_LIMITS["account"]`` or Gemini's); None otherwise. Cheap: no
    backend is built (``visualizer status`` calls it)."""
    scope.require(Action.READ)
    from visualizer_core.ai.spendlimit import account_pause as board

    return board(backends.current().settings)
