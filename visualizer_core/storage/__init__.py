"""Object storage: one :class:`Storage` interface, a folder and any S3 API behind it.

Keys are built by :mod:`visualizer_core.storage.keys` and nowhere else.
"""

from __future__ import annotations

from visualizer_core.storage import keys
from visualizer_core.storage.base import Storage
from visualizer_core.storage.local import LocalStorage
from visualizer_core.storage.s3 import S3Storage

__all__ = ["LocalStorage", "S3Storage", "Storage", "keys"]
