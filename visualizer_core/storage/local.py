"""The embedded object store: a folder, one file per key.

Keys map to paths under the root (``a/b/c.png`` is ``root/a/b/c.png``). A key that is absolute
or would leave the root (``..``, ``.``, empty parts, backslashes) is refused. Each write goes to a
temporary file in the target's folder and is renamed over it with :func:`os.replace`, so a reader
sees the old object or the new one, never half a file; there is no shared state, so an instance
is safe to use from many threads and processes. Content types are not kept.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
import secrets
from pathlib import Path
from urllib.parse import quote

from visualizer_core.errors import StorageError
from visualizer_core.storage._cache import SizedLRU

__all__ = ["LocalStorage"]

# Temporary files of unfinished writes: ".{name}.{16 hex}.tmp" beside their target.
_TEMP_FILE = re.compile(r"^\..*\.[0-9a-f]{16}\.tmp$")


def _split_key(key: str) -> list[str]:
    """The path parts of ``key``; raises ``StorageError`` for keys that could escape the root."""
    if not key:
        raise StorageError("storage key is empty")
    if "\\" in key or "\x00" in key or key.startswith("/"):
        raise StorageError(f"storage key {key!r} is not a relative path")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise StorageError(f"storage key {key!r} is not a plain relative path")
    return parts


class LocalStorage:
    """Objects as files under ``root``; ``public_url`` (when set) is where ``root`` is served."""

    name = "local"

    def __init__(
        self,
        root: Path | str,
        *,
        public_url: str | None = None,
        cache_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.root = Path(root).absolute()
        self.public_url = public_url.rstrip("/") if public_url else None
        # A new root is the owner's only (0700): catalog photos and generations are private
        # to their clients. An existing one is left as it is (it may be served on purpose).
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(f"storage folder {self.root} cannot be made: {exc}") from exc
        # data: URLs of recent reads, keyed by (key, inode, mtime, size): a rewrite is a new entry.
        self._data_urls: SizedLRU[str] = SizedLRU(cache_bytes)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The file that holds ``key`` (whether or not it exists)."""
        return self.root.joinpath(*_split_key(key))

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Write the object atomically: a temporary file beside it, then a rename over it."""
        target = self.path(key)
        temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
        created = False
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(temp, "xb") as file:
                created = True
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, target)
        except OSError as exc:
            if created:
                temp.unlink(missing_ok=True)
            raise StorageError(f"storage put of {key!r} failed: {exc.strerror or exc}") from exc

    def get(self, key: str) -> bytes:
        """The object's bytes; ``StorageError`` naming the key when there is none."""
        path = self.path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise StorageError(f"no stored object at key {key!r}") from exc
        except OSError as exc:
            raise StorageError(f"storage get of {key!r} failed: {exc.strerror or exc}") from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is fine. Emptied folders are left in place."""
        try:
            self.path(key).unlink(missing_ok=True)
        except (NotADirectoryError, IsADirectoryError):
            return  # a folder (or a file) is in the way: there is no object at this key
        except OSError as exc:
            raise StorageError(f"storage delete of {key!r} failed: {exc.strerror or exc}") from exc

    def list(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix`` (a plain string prefix, as in S3), sorted."""
        *folders, _ = prefix.split("/")
        if "\\" in prefix or "\x00" in prefix or prefix.startswith("/"):
            raise StorageError(f"storage prefix {prefix!r} is not a relative path")
        if any(part in (".", "..") for part in folders):
            raise StorageError(f"storage prefix {prefix!r} is not a plain relative path")
        if "" in folders:
            return []  # no key has an empty part
        start = self.root.joinpath(*folders)
        found: list[str] = []
        for folder, _dirs, files in os.walk(start):
            relative = Path(folder).relative_to(self.root).as_posix()
            base = "" if relative == "." else relative + "/"
            for file in files:
                key = base + file
                if key.startswith(prefix) and not _TEMP_FILE.match(file):
                    found.append(key)
        return sorted(found)

    def url(self, key: str, *, expires_s: int = 3600) -> str:
        """``{public_url}/{key}`` when a public URL is set, else the file's ``file://`` URL."""
        path = self.path(key)
        if self.public_url:
            return f"{self.public_url}/{quote(key)}"
        return path.as_uri()

    def browser_url(self, key: str) -> str:
        """The public URL when set, else a ``data:`` URL of the file from a cached read.

        The cache is keyed by the file's inode, modification time and size, so a rewritten one is
        read afresh; a rerun of a page costs one ``stat`` per picture, not a read.
        """
        path = self.path(key)
        if self.public_url:
            return f"{self.public_url}/{quote(key)}"
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise StorageError(f"no stored object at key {key!r}") from exc
        version = (key, info.st_ino, info.st_mtime_ns, info.st_size)
        cached = self._data_urls.get(version)
        if cached is not None:
            return cached
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        url = f"data:{kind};base64,{base64.b64encode(self.get(key)).decode('ascii')}"
        self._data_urls.put(version, url, len(url))
        return url
