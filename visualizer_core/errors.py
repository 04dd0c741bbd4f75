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
    ├── StorageError         the object store failed
    └── ProviderError        an AI or search provider failed
        ├── TransientProviderError   worth retrying (429, 5xx, timeouts)
        │   └── RateLimited          the provider asked us to wait ``retry_after`` seconds
        ├── PermanentProviderError   retrying will not help (400, bad key)
        └── ContentRefused           blocked prompt or no image in the answer
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "Conflict",
    "ContentRefused",
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


class StorageError(VisualizerError):
    """The object store failed to read or write."""


class ProviderError(VisualizerError):
    """An external provider (AI, image search) failed."""


class TransientProviderError(ProviderError):
    """A failure that a later attempt may not meet: rate limits, 5xx, timeouts."""


class RateLimited(TransientProviderError):
    """The provider refused for now and said how long to wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentProviderError(ProviderError):
    """A failure that the same request will meet again."""


class ContentRefused(ProviderError):
    """The provider blocked the prompt or answered without an image."""
