"""What every queue shares: the interface, the tasks it runs, heartbeats and one sweeper.

The queue is an adapter: it never imports the services. The service layer hands it the
functions to run as :class:`Tasks` (``visualizer_core.services`` registers them when it is
imported, with :func:`register_tasks`), as a Celery worker's module registers its named tasks.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, Self

from sqlalchemy.orm import Session

from visualizer_core.config import Settings
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.errors import ConfigError

__all__ = [
    "Heartbeat",
    "Periodic",
    "Queue",
    "QueueHost",
    "Sweeper",
    "Tasks",
    "register_tasks",
    "registered_tasks",
    "worker_name",
]

log = logging.getLogger(__name__)


class Queue(Protocol):
    name: str

    def dispatch(self, image_ids: Sequence[uuid.UUID], *, delay_s: float = 0.0) -> None:
        """Ask for these images to be made (after the rows are committed).

        ``delay_s`` > 0 hands the job to a worker only after that many seconds: a retry's
        backoff or a wait for a rate limit is spent in the queue, not in a worker slot.
        """
        ...

    def dispatch_judgements(self, image_ids: Sequence[uuid.UUID], *, delay_s: float = 0.0) -> None:
        """Ask for the fidelity judgement of these completed images, on the judgement's own
        slots (never an image's)."""
        ...

    def live(self, image_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of the images that have a job waiting or running in this queue."""
        ...

    def flow_finished(self, flow_id: uuid.UUID) -> None:
        """A flow has no open image left: deliver its webhook (in the background)."""
        ...

    def close(self) -> None: ...


class QueueHost(Protocol):
    """What a queue takes from the backends it serves (``visualizer_core.backends.Backends``):
    handed in, so the queue never imports the locator that makes it."""

    @property
    def settings(self) -> Settings: ...

    def transaction(self) -> AbstractContextManager[Session]:
        """One unit of work on the database (heartbeats, the sweeper)."""
        ...

    def activate_for_thread(self) -> None:
        """Make these backends the current ones of the calling (worker) thread."""
        ...

    def use_queue(self, queue: Queue) -> None:
        """Dispatch to ``queue`` from now on (the embedded worker hands its own)."""
        ...


@dataclass(frozen=True)
class Tasks:
    """The functions a queue runs, given by the service layer."""

    make_image: Callable[[uuid.UUID, str], str]
    """Make one image: ``(image id, worker id) -> outcome`` (``completed``, ``skipped`` ...)."""
    deliver_webhook: Callable[[uuid.UUID], object]
    """Send a finished flow's summary to its client's webhook."""
    sweep: Callable[[], Mapping[str, int]]
    """Reset orphaned rows and dispatch pending rows without a live job: the recovery."""
    judge_image: Callable[[uuid.UUID, str], str] = lambda _image_id, _worker_id: "skipped"
    """Judge one completed image's fidelity: ``(image id, worker id) -> outcome``."""


_registered: Tasks | None = None


def register_tasks(tasks: Tasks) -> None:
    """Make ``tasks`` what the queues of this process run."""
    global _registered
    _registered = tasks


def registered_tasks() -> Tasks:
    """The registered tasks (``visualizer_core.services`` registers them on import)."""
    if _registered is None:
        raise ConfigError("no queue tasks registered: import visualizer_core.services first")
    return _registered


def worker_name(kind: str) -> str:
    return f"{kind}@{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Heartbeat:
    """Marks the rows a process is working on as alive, every ``interval`` seconds."""

    def __init__(self, backends: QueueHost, interval: float) -> None:
        self._backends = backends
        self._interval = interval
        self._active: set[uuid.UUID] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()

    def add(self, image_id: uuid.UUID) -> None:
        with self._lock:
            self._active.add(image_id)

    def discard(self, image_id: uuid.UUID) -> None:
        with self._lock:
            self._active.discard(image_id)

    def active(self) -> set[uuid.UUID]:
        with self._lock:
            return set(self._active)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                ids = list(self._active)
            if not ids:
                continue
            try:
                with self._backends.transaction() as db:
                    repo.touch_images(db, ids, now=utcnow())
            except Exception:  # a missed beat is not fatal; the next one may succeed
                log.warning("heartbeat failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


class Periodic:
    """Runs ``action`` at once and then every ``every_s`` seconds in a thread, until stopped.

    A failed turn is logged and tried again at the next one.
    """

    def __init__(self, action: Callable[[], object], every_s: float, *, name: str) -> None:
        self._action = action
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                self._report(self._action())
            except Exception:
                log.warning("%s failed", self._thread.name, exc_info=True)
            if self._stop.wait(self._every_s):
                return

    def _report(self, result: object) -> None:
        """What to say about a turn's result (nothing by default)."""

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)


class Sweeper(Periodic):
    """Runs ``sweep`` at once and then every ``every_s`` seconds in a thread, until stopped.

    The one sweep loop of every worker: the embedded worker's and each Celery worker's (whose
    ``sweep`` takes a Redis lock first and returns None when another worker holds it). A
    failed sweep is logged and tried again at the next turn.
    """

    def __init__(
        self, sweep: Callable[[], Mapping[str, int] | None], every_s: float, *, name: str
    ) -> None:
        super().__init__(sweep, every_s, name=name)

    def _report(self, result: object) -> None:
        if isinstance(result, Mapping) and (result.get("requeued") or result.get("reset")):
            log.warning("sweep: requeued %s, reset %s", result["requeued"], result["reset"])
