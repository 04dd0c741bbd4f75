"""The queue: dispatch image ids to whatever runs ``generation.process_image``.

- :class:`InProcessQueue` (embedded default): worker threads inside this process. It also
  picks up pending rows left by other processes when it starts, since the database is the queue.
- :class:`CeleryQueue` (``REDIS_URL`` set): sends one named task per image to Celery workers.

Both keep a :class:`Heartbeat` for the rows they are working on, so that ``recover`` can tell
a row whose worker died (no heartbeat) from one that is just slow.
"""

from __future__ import annotations

import logging
import os
import queue as stdlib_queue
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from visualizer_core.db import repo
from visualizer_core.db.base import utcnow

if TYPE_CHECKING:
    from visualizer_core.backends import Backends

__all__ = ["Heartbeat", "InProcessQueue", "Queue", "make_queue", "worker_name"]

log = logging.getLogger(__name__)

# How long closing the in-process queue waits for webhook deliveries (and their retries).
_DELIVERY_GRACE_S = 30.0


class Queue(Protocol):
    name: str

    def dispatch(self, image_ids: Sequence[uuid.UUID]) -> None:
        """Ask for these images to be made (after the rows are committed)."""
        ...

    def live(self, image_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of the images that have a job waiting or running in this queue."""
        ...

    def flow_finished(self, flow_id: uuid.UUID) -> None:
        """A flow has no open image left: deliver its webhook (in the background)."""
        ...

    def close(self) -> None: ...


def worker_name(kind: str) -> str:
    return f"{kind}@{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class Heartbeat:
    """Marks the rows a process is working on as alive, every ``interval`` seconds."""

    def __init__(self, backends: Backends, interval: float) -> None:
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


class InProcessQueue:
    """Worker threads in this process, running the same task function as Celery workers."""

    name = "in-process"

    def __init__(self, backends: Backends, workers: int) -> None:
        self._backends = backends
        self._workers = workers
        self._queue: stdlib_queue.Queue[uuid.UUID | None] = stdlib_queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._heartbeat_interval = backends.settings.visualizer_heartbeat_s
        self._heartbeat: Heartbeat | None = None
        self._closed = False
        self._deliveries: list[threading.Thread] = []  # webhook deliveries under way
        self._queued: set[uuid.UUID] = set()  # waiting in self._queue: dispatched once only

    def start(self) -> None:
        """Start the threads (once)."""
        with self._lock:
            if self._threads or self._closed:
                return
            self._heartbeat = Heartbeat(self._backends, self._heartbeat_interval)
            for index in range(self._workers):
                thread = threading.Thread(
                    target=self._work, name=f"visualizer-worker-{index}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def dispatch(self, image_ids: Sequence[uuid.UUID]) -> None:
        self.start()
        for image_id in image_ids:
            with self._lock:
                if image_id in self._queued:
                    continue
                self._queued.add(image_id)
            self._queue.put(image_id)

    def live(self, image_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        with self._lock:
            waiting = set(self._queued)
        running = self._heartbeat.active() if self._heartbeat else set()
        return {i for i in image_ids if i in waiting or i in running}

    def _work(self) -> None:
        from visualizer_core import backends
        from visualizer_core.services.generation import process_image

        backends.activate_for_thread(self._backends)
        name = worker_name("inproc")
        while True:
            image_id = self._queue.get()
            if image_id is None:
                return
            with self._lock:
                self._queued.discard(image_id)
            assert self._heartbeat is not None
            self._heartbeat.add(image_id)
            try:
                process_image(image_id, worker_id=name)
            except Exception:
                log.exception("worker failed on image %s", image_id)
            finally:
                self._heartbeat.discard(image_id)

    def flow_finished(self, flow_id: uuid.UUID) -> None:
        from visualizer_core import backends
        from visualizer_core.services.notify import deliver_flow_webhook

        def deliver() -> None:
            backends.activate_for_thread(self._backends)
            try:
                deliver_flow_webhook(flow_id)
            except Exception:
                log.exception("webhook of flow %s failed", flow_id)

        thread = threading.Thread(target=deliver, name=f"webhook-{flow_id}", daemon=True)
        with self._lock:
            self._deliveries = [t for t in self._deliveries if t.is_alive()] + [thread]
        thread.start()

    def close(self) -> None:
        """Stop: the images being made are finished, those not started stay pending."""
        with self._lock:
            self._closed = True
            threads, self._threads = self._threads, []
            self._queued.clear()
        while True:  # the rows of jobs not started are still pending: the next worker's
            try:
                self._queue.get_nowait()
            except stdlib_queue.Empty:
                break
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout=30)
        # Webhook deliveries under way finish (with their retries) before the backends close.
        with self._lock:
            deliveries, self._deliveries = self._deliveries, []
        deadline = time.monotonic() + _DELIVERY_GRACE_S
        for thread in deliveries:
            thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        if self._heartbeat is not None:
            self._heartbeat.stop()


def make_queue(backends: Backends) -> Queue:
    """The queue the settings ask for."""
    if backends.settings.redis_url:
        from visualizer_core.celery_queue import CeleryQueue

        return CeleryQueue(backends)
    return InProcessQueue(backends, backends.settings.visualizer_workers)
