"""The embedded default's queue: worker threads in this process, and the embedded worker.

:class:`InProcessQueue` runs the registered :class:`~visualizer_core.jobqueue.base.Tasks` in
worker threads; :class:`EmbeddedWorker` adds the sweep that makes the database the queue (used by
``visualizer worker`` without ``REDIS_URL`` and by the studio on the embedded default): rows left
pending by another process (a ``generate`` without ``--wait``, a crash) are picked up, and rows
whose worker died are reset.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue as stdlib_queue
import signal
import threading
import time
import uuid
from collections.abc import Mapping, Sequence

from visualizer_core.jobqueue.base import (
    Heartbeat,
    QueueHost,
    Sweeper,
    Tasks,
    registered_tasks,
    worker_name,
)

__all__ = ["EmbeddedWorker", "InProcessQueue", "run_embedded_worker"]

log = logging.getLogger(__name__)

# How long closing the in-process queue waits for webhook deliveries (and their retries).
_DELIVERY_GRACE_S = 30.0
SWEEP_S = 10.0


class InProcessQueue:
    """Worker threads in this process, running the same task function as Celery workers."""

    name = "in-process"

    def __init__(
        self,
        backends: QueueHost,
        workers: int,
        tasks: Tasks | None = None,
        *,
        judgement_workers: int | None = None,
    ) -> None:
        self._backends = backends
        self._tasks = tasks
        self._workers = workers
        self._judgement_workers = (
            backends.settings.visualizer_judgement_workers
            if judgement_workers is None
            else judgement_workers
        )
        self._queue: stdlib_queue.Queue[uuid.UUID | None] = stdlib_queue.Queue()
        # The fidelity judgements: their own queue and their own threads (their own slots).
        self._judgements: stdlib_queue.Queue[uuid.UUID | None] = stdlib_queue.Queue()
        self._judging: set[uuid.UUID] = set()
        # Delayed jobs: (due, order, kind, id) in a heap, moved to their queue when due.
        self._delayed: list[tuple[float, int, str, uuid.UUID]] = []
        self._delayed_ids: set[uuid.UUID] = set()
        self._order = itertools.count()
        self._wake = threading.Condition(threading.Lock())
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
            runs = [(self._work, f"visualizer-worker-{i}") for i in range(self._workers)]
            runs += [(self._judge, f"visualizer-judge-{i}") for i in range(self._judgement_workers)]
            for target, name in [*runs, (self._timer, "visualizer-delays")]:
                thread = threading.Thread(target=target, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def dispatch(self, image_ids: Sequence[uuid.UUID], *, delay_s: float = 0.0) -> None:
        self._put("image", image_ids, delay_s)

    def dispatch_judgements(self, image_ids: Sequence[uuid.UUID], *, delay_s: float = 0.0) -> None:
        self._put("judgement", image_ids, delay_s)

    def _put(self, kind: str, image_ids: Sequence[uuid.UUID], delay_s: float) -> None:
        """Queue each job once (one already waiting is not queued again), or later."""
        self.start()
        if delay_s > 0:
            self._later(kind, image_ids, delay_s)
            return
        waiting, jobs = (
            (self._queued, self._queue) if kind == "image" else (self._judging, self._judgements)
        )
        for image_id in image_ids:
            with self._lock:
                if image_id in waiting:
                    continue
                waiting.add(image_id)
            jobs.put(image_id)

    def _later(self, kind: str, image_ids: Sequence[uuid.UUID], delay_s: float) -> None:
        due = time.monotonic() + delay_s
        with self._wake:
            for image_id in image_ids:
                heapq.heappush(self._delayed, (due, next(self._order), kind, image_id))
                if kind == "image":
                    self._delayed_ids.add(image_id)
            self._wake.notify()

    def _timer(self) -> None:
        """Hands each delayed job to its queue when it is due."""
        while True:
            with self._wake:
                while not self._closed and (
                    not self._delayed or self._delayed[0][0] > time.monotonic()
                ):
                    wait = self._delayed[0][0] - time.monotonic() if self._delayed else None
                    self._wake.wait(timeout=wait)
                if self._closed:
                    return
                _, _, kind, image_id = heapq.heappop(self._delayed)
                if kind == "image":
                    self._delayed_ids.discard(image_id)
            self._put(kind, [image_id], 0.0)

    def live(self, image_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        with self._lock:
            waiting = set(self._queued)
        with self._wake:
            waiting |= self._delayed_ids
        running = self._heartbeat.active() if self._heartbeat else set()
        return {i for i in image_ids if i in waiting or i in running}

    def _judge(self) -> None:
        judge_image = (self._tasks or registered_tasks()).judge_image
        self._backends.activate_for_thread()
        name = worker_name("inproc-judge")
        while True:
            image_id = self._judgements.get()
            if image_id is None:
                return
            with self._lock:
                self._judging.discard(image_id)
            try:
                judge_image(image_id, name)
            except Exception:
                log.exception("judgement of image %s failed", image_id)

    def _work(self) -> None:
        make_image = (self._tasks or registered_tasks()).make_image
        self._backends.activate_for_thread()
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
                make_image(image_id, name)
            except Exception:
                log.exception("worker failed on image %s", image_id)
            finally:
                self._heartbeat.discard(image_id)

    def flow_finished(self, flow_id: uuid.UUID) -> None:
        deliver_webhook = (self._tasks or registered_tasks()).deliver_webhook

        def deliver() -> None:
            self._backends.activate_for_thread()
            try:
                deliver_webhook(flow_id)
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
            self._judging.clear()
        with self._wake:  # delayed jobs are dropped: their rows are pending for the next worker
            self._delayed.clear()
            self._delayed_ids.clear()
            self._wake.notify_all()
        for waiting in (self._queue, self._judgements):
            while True:  # the rows of jobs not started are still pending: the next worker's
                try:
                    waiting.get_nowait()
                except stdlib_queue.Empty:
                    break
        for _ in threads:
            self._queue.put(None)
            self._judgements.put(None)
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


class EmbeddedWorker:
    """Worker threads and a sweeper thread for one set of backends.

    Its queue becomes the backends' queue, so jobs dispatched by services in this process go to
    these threads too.
    """

    def __init__(
        self,
        backends: QueueHost,
        *,
        threads: int,
        tasks: Tasks,
        sweep_s: float = SWEEP_S,
        judgement_threads: int | None = None,
    ) -> None:
        self.backends = backends
        self._tasks = tasks
        self.queue = InProcessQueue(backends, threads, tasks, judgement_workers=judgement_threads)
        backends.use_queue(self.queue)
        self._sweeper = Sweeper(self.sweep, sweep_s, name="visualizer-sweeper")

    def start(self) -> EmbeddedWorker:
        self.queue.start()
        self._sweeper.start()
        return self

    def sweep(self) -> Mapping[str, int]:
        """Reset stuck rows and queue every pending row that is not queued here yet."""
        self.backends.activate_for_thread()
        return self._tasks.sweep()

    def stop(self) -> None:
        self._sweeper.stop()
        self.queue.close()


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_embedded_worker(
    backends: QueueHost, *, threads: int, tasks: Tasks, judgement_threads: int | None = None
) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM); the images being made are finished first.

    Images still waiting in this process stay pending in the database for the next worker.
    """
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    worker = EmbeddedWorker(
        backends, threads=threads, tasks=tasks, judgement_threads=judgement_threads
    ).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        signal.signal(signal.SIGTERM, previous)
