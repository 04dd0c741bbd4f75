"""AI backends: the interface in :mod:`.base`, the choice in :func:`make_ai`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from visualizer_core.ai.base import AIBackend, GenerationRequest, GenerationResult, ProductFacts

if TYPE_CHECKING:
    from visualizer_core.config import Settings

__all__ = ["AIBackend", "GenerationRequest", "GenerationResult", "ProductFacts", "make_ai"]


def make_ai(settings: Settings) -> AIBackend:
    """Gemini with a key (or when forced), else local; Gemini's calls keep to the per-model
    limits and the billing account's spend limits, and the local backend takes
    ``VISUALIZER_AI_LATENCY_S`` when it is set."""
    if settings.ai_backend == "gemini":
        from visualizer_core.ai import gemini
        from visualizer_core.ai.gemini import GeminiAI
        from visualizer_core.ai.ratelimit import limiter_from_settings
        from visualizer_core.ai.spendlimit import spend_from_settings

        assert settings.gemini_api_key is not None
        return GeminiAI(
            settings.gemini_api_key.get_secret_value(),
            base_url=settings.gemini_base_url,
            api_version=settings.gemini_api_version,
            image_model=settings.gemini_image_model or gemini.DEFAULT_IMAGE_MODEL,
            text_model=settings.gemini_text_model or gemini.DEFAULT_TEXT_MODEL,
            prices=settings.gemini_prices,
            timeout_s=settings.gemini_timeout_s,
            limiter=limiter_from_settings(settings),
            spend=spend_from_settings(settings),
        )
    from visualizer_core.ai.local import LocalAI

    if settings.visualizer_ai_latency_s:
        from visualizer_core.ai.latency import DelayedAI

        return DelayedAI(LocalAI(), latency_s=settings.visualizer_ai_latency_s)
    return LocalAI()
