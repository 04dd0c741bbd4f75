"""The object store interface. Keys come from :mod:`visualizer_core.storage.keys` only."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Storage"]


@runtime_checkable
class Storage(Protocol):
    """Bytes by key. Implementations are safe to share between threads."""

    name: str

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write (or overwrite) the object at ``key``."""
        ...

    def get(self, key: str) -> bytes:
        """Read the object; raises ``StorageError`` naming the key when it is missing."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored at ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; removing a missing object is not an error."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key that starts with ``prefix``, sorted."""
        ...

    def url(self, key: str, *, expires_s: int = 3600) -> str:
        """A URL a browser can show: the public URL when one is configured, else a signed one."""
        ...

    def browser_url(self, key: str) -> str:
        """What a page hands the browser to show the object, without the server in between.

        The public URL when one is configured; on S3 otherwise a presigned URL, cached for
        most of its lifetime so the same picture keeps the same address (the browser's cache
        then works across reruns); on a local folder a ``data:`` URL from a cached read.
        Raises ``StorageError`` naming the key when there is no such object (local only: a
        URL to a missing S3 object fails in the browser, not here).
        """
        ...
