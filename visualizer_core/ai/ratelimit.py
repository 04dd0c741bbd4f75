"""``GEMINI_MAX_RPM``: one requests-a-minute budget shared by every worker.

The budget is a moving window kept in Redis by the ``limits`` library (its Redis storage
does each hit atomically in a Lua script), so it holds across processes and machines; on the
embedded default the window lives in memory. A call that finds the window full waits until the
oldest request leaves it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from visualizer_core.ai.base import (
    AIBackend,
    BatchAI,
    GenerationRequest,
    GenerationResult,
    ProductFacts,
)
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis

__all__ = ["RateLimitedAI"]

log = logging.getLogger(__name__)


class RateLimitedAI:
    """Wraps a backend so that all its calls, in all processes, keep under ``rpm``.

    ``window_s`` is the window the budget is counted over: a minute for ``GEMINI_MAX_RPM``.
    """

    def __init__(
        self,
        inner: AIBackend,
        *,
        rpm: int,
        redis_url: str | None,
        key_prefix: str,
        window_s: int = 60,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.image_model = inner.image_model
        self.text_model = inner.text_model
        self.supports_batch = inner.supports_batch
        self.rpm = rpm
        if redis_url:
            storage = storage_from_string(redis_url, key_prefix=f"{key_prefix}:ratelimit")
        else:
            storage = storage_from_string("memory://")
        self._limiter = MovingWindowRateLimiter(storage)
        self._item = RateLimitItemPerSecond(rpm, window_s)

    def try_acquire(self) -> bool:
        """Take a slot in the window if one is free; never waits."""
        return bool(self._limiter.hit(self._item, self.name))

    def acquire(self) -> float:
        """Wait for a slot in the window; returns the seconds waited."""
        waited = 0.0
        while not self.try_acquire():
            reset_at = self._limiter.get_window_stats(self._item, self.name).reset_time
            pause = min(max(reset_at - time.time(), 0.05), 5.0)
            if not waited:
                log.info(
                    "GEMINI_MAX_RPM: the %d requests of this window are taken; waiting for a slot",
                    self.rpm,
                )
            time.sleep(pause)
            waited += pause
        return waited

    def batch(self) -> BatchAI[Any]:
        """The inner backend's batch mode (its jobs are not rate limited or delayed here)."""
        return self.inner.batch()

    def analyze_product(self, facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
        """The inner backend's analysis, after a slot in the window."""
        self.acquire()
        return self.inner.analyze_product(facts, images)

    def analyze_scene(self, image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
        """The inner backend's analysis, after a slot in the window."""
        self.acquire()
        return self.inner.analyze_scene(image, room_type_hint=room_type_hint)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """The inner backend's image, after a slot in the window (the wait is in ``meta``)."""
        waited = self.acquire()
        result = self.inner.generate(request)
        if waited:
            result.meta["rate_limit_wait_s"] = round(waited, 3)
        return result
