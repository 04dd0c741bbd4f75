"""``VISUALIZER_AI_LATENCY_S``: the local AI made as slow as a real model, on purpose.

The local compositor answers in a few milliseconds; Gemini takes seconds. Benchmarks of the
queue and the recovery tests need runs as long as real ones (to measure slots kept busy, and to
kill a worker mid-run), so this wrapper waits before each generated image. Analysis calls are
not delayed: they are not what the queue runs.
"""

from __future__ import annotations

import time
from typing import Any

from visualizer_core.ai.base import (
    AIBackend,
    BatchAI,
    GenerationRequest,
    GenerationResult,
    ProductFacts,
)
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis

__all__ = ["DelayedAI"]


class DelayedAI:
    """Wraps a backend so that each ``generate`` takes at least ``latency_s`` seconds."""

    def __init__(self, inner: AIBackend, *, latency_s: float) -> None:
        self.inner = inner
        self.latency_s = latency_s
        self.name = inner.name
        self.image_model = inner.image_model
        self.text_model = inner.text_model
        self.supports_batch = inner.supports_batch

    def batch(self) -> BatchAI[Any]:
        """The inner backend's batch mode (its jobs are not rate limited or delayed here)."""
        return self.inner.batch()

    def analyze_product(self, facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
        """The inner backend's analysis, undelayed."""
        return self.inner.analyze_product(facts, images)

    def analyze_scene(self, image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
        """The inner backend's analysis, undelayed."""
        return self.inner.analyze_scene(image, room_type_hint=room_type_hint)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """The inner backend's image, answered no sooner than ``latency_s`` after the call."""
        started = time.monotonic()
        result = self.inner.generate(request)
        remaining = self.latency_s - (time.monotonic() - started)
        if remaining > 0:
            time.sleep(remaining)
        result.meta["injected_latency_s"] = self.latency_s
        return result
