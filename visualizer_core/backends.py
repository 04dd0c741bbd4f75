"""The one place where configuration picks the backends.

``current()`` is this thread's :class:`Backends` if it was given its own, else the process's,
built from the environment on first use. To use other backends, build them with :func:`build`
and swap them in with the one context manager made for it::

    with backends.using(backends.build(settings, ai=my_ai)) as built:
        ...  # services use ``built`` here; the previous backends are current again after

Entry points that set the process's backends once use :func:`activate`; worker threads take
theirs with :meth:`Backends.activate_for_thread`; the embedded worker gives the backends its
queue with :meth:`Backends.use_queue`. Services reach the database, storage, AI and queue only
through ``current()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from visualizer_core.config import Settings, get_settings
from visualizer_core.db.engine import READ_ONLY, make_engine, make_sessionmaker, transaction
from visualizer_core.jobqueue import Queue, make_queue
from visualizer_core.storage import LocalStorage, Storage

if TYPE_CHECKING:
    from visualizer_core.ai.base import AIBackend

__all__ = ["Backends", "activate", "activate_for_thread", "build", "current", "reset", "using"]


class Backends:
    """The database, storage, AI and queue that this process uses.

    The storage, the AI backend and the queue are made on first use, so a command that needs
    none of them (``visualizer status``) does not import boto3 or the SDK (a given AI, a tool's
    wrapper or a test double, is used as it is); :meth:`use_queue` gives them a queue made
    elsewhere (the embedded worker's threads).
    """

    def __init__(self, settings: Settings, *, ai: AIBackend | None = None) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.effective_database_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.read_sessions: sessionmaker[Session] = make_sessionmaker(
            self.engine.execution_options(**{READ_ONLY: True})
        )
        self._storage: Storage | None = None
        self._ai = ai
        self._queue: Queue | None = None
        self._lock = threading.RLock()  # a queue or AI being made may reach the storage

    def transaction(self) -> AbstractContextManager[Session]:
        """A session that commits when the block ends and rolls back when it raises."""
        return transaction(self.sessions)

    def reading(self) -> AbstractContextManager[Session]:
        """A unit of work that only reads: on SQLite it does not wait behind writers."""
        return transaction(self.read_sessions)

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            with self._lock:
                if self._storage is None:
                    self._storage = _make_storage(self.settings)
        return self._storage

    @property
    def ai(self) -> AIBackend:
        if self._ai is None:
            from visualizer_core.ai import make_ai

            with self._lock:
                if self._ai is None:
                    self._ai = make_ai(self.settings)
        return self._ai

    @property
    def queue(self) -> Queue:
        if self._queue is None:
            with self._lock:
                if self._queue is None:
                    self._queue = make_queue(self)
        return self._queue

    def use_queue(self, queue: Queue) -> None:
        """Dispatch to ``queue`` from now on (the one made before, if any, is closed)."""
        with self._lock:
            previous, self._queue = self._queue, queue
        if previous is not None and previous is not queue:
            previous.close()

    def activate_for_thread(self) -> None:
        """Make these backends current for the calling thread only (worker threads do this)."""
        activate_for_thread(self)

    def close(self) -> None:
        if self._queue is not None:
            self._queue.close()
        self.engine.dispose()


def _make_storage(settings: Settings) -> Storage:
    if settings.r2_bucket:
        from visualizer_core.storage.s3 import S3Storage

        secret = settings.r2_secret_access_key
        return S3Storage(
            settings.r2_bucket,
            endpoint_url=settings.r2_endpoint,
            access_key_id=settings.r2_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            public_url=settings.r2_public_url,
        )
    return LocalStorage(settings.storage_root, public_url=settings.r2_public_url)


def build(settings: Settings | None = None, *, ai: AIBackend | None = None) -> Backends:
    """Backends for ``settings`` (the environment's by default), with ``ai`` if one is given."""
    return Backends(settings or get_settings(), ai=ai)


_current: Backends | None = None
_current_lock = threading.Lock()


_thread_local = threading.local()


def current() -> Backends:
    """This thread's backends if it was given its own, else the process's (built on first use)."""
    own: Backends | None = getattr(_thread_local, "backends", None)
    if own is not None:
        return own
    global _current
    if _current is None:
        with _current_lock:
            if _current is None:
                _current = build()
    return _current


def activate(backends: Backends) -> None:
    """Make ``backends`` the process's current ones."""
    global _current
    _current = backends


def activate_for_thread(backends: Backends) -> None:
    """Make ``backends`` current for the calling thread only (worker threads use this)."""
    _thread_local.backends = backends


def reset() -> None:
    """Close and forget the current backends."""
    global _current
    if _current is not None:
        _current.close()
    _current = None


@contextmanager
def using(backends: Backends) -> Iterator[Backends]:
    """Make ``backends`` the process's current ones for the block, then restore the previous
    (also when the block raises). The tests swap backends this way."""
    global _current
    previous = _current
    _current = backends
    try:
        yield backends
    finally:
        _current = previous
