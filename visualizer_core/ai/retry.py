"""The retry policy for provider calls: which failures are retried, and how long to wait.

One policy for images, judgements and analyses:

- **permanent** (400, a bad key or model, a safety refusal after its one re-ask, a daily quota
  used up): not retried here. A daily quota is not a failure of the work either: the queue
  pauses the model's work until the quota resets (``DailyLimitReached``).
- **rate limited**: wait as long as told. Our own limiter's answer is exact (a slot is kept
  for the caller at that moment), so it is waited as is; Gemini's ``RetryInfo`` gets a little
  jitter, so that workers told the same delay do not come back in step.
- **transient** (5xx, overloaded, timeouts, empty answers, ``OTHER``, ``MAX_TOKENS``):
  exponential backoff with jitter, ``base x 2^(attempt-1)`` capped at ``cap``, of which a half
  is waited for sure and the other half at random ("equal jitter"): the retries of a burst
  spread over minutes instead of hitting an overloaded model together and in step.

The queue spends these waits in the queue (a countdown), never in a worker slot; callers outside
the queue (analysis run from the command or the studio) sleep them with :func:`call_with_retries`.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from visualizer_core.errors import (
    DailyLimitReached,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

__all__ = [
    "TRANSPORT_ERRORS",
    "backoff_s",
    "call_with_retries",
    "is_retryable",
    "next_seed",
    "retry_delay_s",
    "seed_for",
]


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures of both HTTP stacks the SDK may use (httpx, or its fork httpx2)."""
    found: list[type[BaseException]] = [httpx.TransportError]
    try:
        import httpx2

        found.append(httpx2.TransportError)
    except ImportError:  # pragma: no cover - depends on the installed SDK extras
        pass
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()
"""What a lost connection raises: a transient failure, whichever HTTP stack made the call."""

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_random = random.SystemRandom()


def next_seed(seed: int) -> int:
    """Another seed, derived from ``seed`` (a re-ask or a retry draws a different picture)."""
    mixed = (seed * 0x9E3779B1 + 0x7F4A7C15) & 0xFFFFFFFF
    return (mixed ^ (mixed >> 15)) & 0x7FFFFFFF


def seed_for(seed: int, attempt: int) -> int:
    """The seed of attempt number ``attempt`` (0: the first, which uses the row's own seed)."""
    for _ in range(max(attempt, 0)):
        seed = next_seed(seed)
    return seed


def backoff_s(attempt: int, *, base: float, cap: float) -> float:
    """The wait before retry number ``attempt`` (1 = the first retry), with equal jitter."""
    ceiling = float(min(cap, base * 2 ** max(attempt - 1, 0)))
    return ceiling / 2 + _random.uniform(0, ceiling / 2)


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt may succeed (a day's quota used up is waited, not retried)."""
    return isinstance(error, TransientProviderError) and not isinstance(error, DailyLimitReached)


def retry_delay_s(error: BaseException, attempt: int, *, base: float, cap: float) -> float:
    """How long to wait before retrying after ``error`` on retry number ``attempt``."""
    if isinstance(error, RateLimited) and error.retry_after is not None:
        if error.local:
            return error.retry_after  # our limiter kept a slot for exactly then
        spread = min(0.1 * error.retry_after + 0.5, 10.0)
        return error.retry_after + _random.uniform(0, spread)
    return backoff_s(attempt, base=base, cap=cap)


def call_with_retries(
    call: Callable[[], _T],
    *,
    attempts: int,
    base: float,
    cap: float,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> _T:
    """``call()``, retried in place on retryable failures, at most ``attempts`` times in all.

    A final transient failure is raised with the number of attempts in its message; the
    records of every attempt's provider calls are kept on it (``calls``).
    """
    calls: list[object] = []
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ProviderError as error:
            calls.extend(error.calls)
            if not is_retryable(error) or attempt == attempts:
                error.calls = list(calls)
                if is_retryable(error) and attempts > 1:
                    error.args = (f"{error} (still failing after {attempts} attempts)",)
                raise
            wait = retry_delay_s(error, attempt, base=base, cap=cap)
            log.info("%s failed (%s); retrying in %.1f s", what, error, wait)
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
