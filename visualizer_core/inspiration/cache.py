"""A small expiring cache for Unsplash answers: in Redis when ``REDIS_URL`` is set, else in memory.

Streamlit runs a page again on every click, and Unsplash's demo key allows 50 requests an
hour; so a search page (client, query, page, filters) is asked for once and kept for an hour
(:data:`SEARCH_TTL_S`), and the quota Unsplash reported last is kept beside it, for every
process of the deployment to read. Values are JSON. With Redis the keys are
``{APP_ENV}:unsplash:...`` and expire on their own; in memory, a bounded dict per process with
the same expiry (the embedded default has one process).

A cache that fails (Redis down) is skipped with a warning: search still works, it only costs
requests.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from typing import Any, Final, Protocol

import redis

__all__ = ["SEARCH_TTL_S", "AnswerCache", "MemoryCache", "RedisCache", "cache_for", "search_key"]

log = logging.getLogger(__name__)

SEARCH_TTL_S: Final = 3600
"""How long a search page is kept: an hour, the span of Unsplash's rate limit."""
_MEMORY_ENTRIES: Final = 512


class AnswerCache(Protocol):
    """Get and set JSON values with an expiry; misses and failures are None."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, ttl_s: float) -> None: ...


class MemoryCache:
    """The embedded default's cache: a bounded, expiring dict shared by the process's threads."""

    def __init__(self, max_entries: int = _MEMORY_ENTRIES) -> None:
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key: str) -> Any | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            expires, text = found
            if expires <= time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
        return json.loads(text)

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        text = json.dumps(value)
        with self._lock:
            self._items[key] = (time.monotonic() + ttl_s, text)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)


class RedisCache:
    """The production cache: one Redis for every studio process and worker."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.prefix = prefix

    def get(self, key: str) -> Any | None:
        try:
            raw = self._redis.get(f"{self.prefix}:{key}")
        except redis.RedisError as error:
            log.warning("the Unsplash cache could not be read (%s); asking Unsplash", error)
            return None
        return None if raw is None else json.loads(raw)

    def set(self, key: str, value: Any, ttl_s: float) -> None:
        try:
            self._redis.set(f"{self.prefix}:{key}", json.dumps(value), ex=max(int(ttl_s), 1))
        except redis.RedisError as error:
            log.warning("the Unsplash cache could not be written (%s)", error)


_memory = MemoryCache()


@functools.lru_cache(maxsize=8)
def _redis_cache(url: str, prefix: str) -> RedisCache:
    return RedisCache(url, prefix)


def cache_for(redis_url: str | None, app_env: str) -> AnswerCache:
    """Redis (``{app_env}:unsplash``) when a Redis URL is set, else the process's memory."""
    if redis_url:
        return _redis_cache(redis_url, f"{app_env}:unsplash")
    return _memory


def search_key(base_url: str, *, partition: str, **params: object) -> str:
    """The cache key of one search page: the API's address, whose page it is (``partition``,
    the client's id: no client reads another's searches) and the normalised parameters."""
    normal = {
        k: (" ".join(str(v).lower().split()) if k == "query" else v)
        for k, v in sorted(params.items())
        if v is not None
    }
    digest = hashlib.sha256(
        json.dumps([base_url, partition, normal], default=str).encode()
    ).hexdigest()
    return f"search:{digest[:40]}"
