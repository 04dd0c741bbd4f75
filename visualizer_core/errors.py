"""Every error Visualizer raises on purpose.

The user interfaces (the command, the studio, the notebooks) catch :class:`VisualizerError`
and show its message as one plain sentence; anything else is a bug.

    VisualizerError
    ├── ConfigError          a setting is missing or malformed
    ├── NotFound             no such row in the caller's scope (also what another client's id gets)
    ├── Forbidden            the caller's role may not do this
    ├── InvalidInput         the request itself is wrong
    │   └── InvalidImage     a file is not an image we can use (names the file and the reason)
    ├── Conflict             the row is not in a state that allows this
    ├── QuotaExceeded        the client's daily generation quota would be exceeded
    │   └── BudgetExceeded   the client's monthly budget (USD) would be exceeded
    ├── StorageError         the object store failed
    └── ProviderError        an AI or search provider failed
        ├── TransientProviderError   worth retrying (5xx, overloaded, timeouts, empty answers)
        │   └── RateLimited          wait ``retry_after`` seconds (a 429, or our own limit)
        │       └── DailyLimitReached    a model's requests-per-day quota is used up until
        │                                ``resets_at``: its work pauses, nothing fails
        ├── PermanentProviderError   retrying will not help (400, bad key)
        └── ContentRefused           blocked prompt or no image in the answer

A ``ProviderError`` carries ``calls``: the records of the provider calls made before it was
raised (failed ones included), so that a caller can keep what the attempt cost.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import ValidationError

__all__ = [
    "BudgetExceeded",
    "ConfigError",
    "Conflict",
    "ContentRefused",
    "DailyLimitReached",
    "Forbidden",
    "InvalidImage",
    "InvalidInput",
    "NotFound",
    "PermanentProviderError",
    "ProviderError",
    "QuotaExceeded",
    "RateLimited",
    "StorageError",
    "TransientProviderError",
    "VisualizerError",
]


class VisualizerError(Exception):
    """Base of every deliberate error; its message is meant for a person."""


class ConfigError(VisualizerError):
    """A configuration variable is missing or malformed."""


class NotFound(VisualizerError):
    """The thing does not exist, or not in the caller's client."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident


class Forbidden(VisualizerError):
    """The caller's role does not allow the action."""


class InvalidInput(VisualizerError):
    """The request is malformed or names something impossible."""


class InvalidImage(InvalidInput):
    """A file that cannot be used as an image; the message names the file and why."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


class Conflict(VisualizerError):
    """The row is not in a state that allows the action."""


class QuotaExceeded(VisualizerError):
    """Accepting the request would exceed the client's daily quota."""


class BudgetExceeded(QuotaExceeded):
    """Accepting the request would take the client past its monthly budget in USD (what its
    provider calls cost this month, on the spend ledger, and what its request and its images
    still queued are estimated at)."""


class StorageError(VisualizerError):
    """The object store failed to read or write."""


class ProviderError(VisualizerError):
    """An external provider (AI, image search) failed.

    ``calls`` holds the records of the provider calls made on the way (usage.CallRecord),
    failed attempts included; ``model`` names the model when one was called.
    """

    def __init__(
        self, message: str, *, calls: list[Any] | None = None, model: str | None = None
    ) -> None:
        super().__init__(message)
        self.calls: list[Any] = list(calls or [])
        self.model = model


class TransientProviderError(ProviderError):
    """A failure that a later attempt may not meet: rate limits, 5xx, timeouts."""


class RateLimited(TransientProviderError):
    """Refused for now: wait ``retry_after`` seconds (None: the provider did not say).

    ``local`` is True when our own per-model limit refused before any call was made.
    """

    def __init__(
        self,
        message: str,
        retry_after: float | None = None,
        *,
        local: bool = False,
        calls: list[Any] | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message, calls=calls, model=model)
        self.retry_after = retry_after
        self.local = local


class DailyLimitReached(RateLimited):
    """A model's requests-per-day quota is used up; it resets at ``resets_at`` (UTC)."""

    def __init__(
        self,
        message: str,
        *,
        resets_at: dt.datetime,
        local: bool = False,
        calls: list[Any] | None = None,
        model: str | None = None,
    ) -> None:
        wait = max((resets_at - dt.datetime.now(dt.UTC)).total_seconds(), 0.0)
        super().__init__(message, wait, local=local, calls=calls, model=model)
        self.resets_at = resets_at


class PermanentProviderError(ProviderError):
    """A failure that the same request will meet again."""


class ContentRefused(ProviderError):
    """The provider blocked the prompt or answered without an image."""


def first_problem(error: ValidationError, where: str) -> str:
    """The first thing pydantic found wrong as ``field.path: message`` (``where`` when the
    problem is with the whole value), for a message a person reads."""
    first = error.errors()[0]
    place = ".".join(str(part) for part in first["loc"]) or where
    return f"{place}: {first['msg']}"
