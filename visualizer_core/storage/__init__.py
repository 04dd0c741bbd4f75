"""Object storage: one :class:`Storage` interface, a folder and any S3 API behind it.

Keys are built by :mod:`visualizer_core.storage.keys` and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from visualizer_core.storage import keys
from visualizer_core.storage.base import Storage
from visualizer_core.storage.local import LocalStorage

if TYPE_CHECKING:
    from visualizer_core.storage.s3 import S3Storage

__all__ = ["LocalStorage", "S3Storage", "Storage", "keys"]


def __getattr__(name: str) -> Any:
    # boto3 takes a third of a second to import: only those who use S3 pay for it.
    if name == "S3Storage":
        from visualizer_core.storage.s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
