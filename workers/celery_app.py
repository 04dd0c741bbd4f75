"""The Celery app of the workers: named tasks that take ids and call the library's services.

Start one with ``visualizer worker --concurrency N`` (or ``celery -A workers.celery_app
worker``). Each worker process also runs the recovery sweep every two heartbeats
(``VISUALIZER_HEARTBEAT_S``, 15 s by default) under a Redis lock, once right when it is ready
and then periodically, so no extra process is needed to rebuild the queue after Redis lost its
data or a worker died.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid
from typing import Any

import redis
from celery import signals

from visualizer_core import backends
from visualizer_core.config import get_settings
from visualizer_core.jobqueue import Heartbeat, Periodic, Sweeper, worker_name
from visualizer_core.jobqueue.celery_queue import (
    FINISHED,
    GENERATE_TASK,
    JUDGE_TASK,
    JUDGEMENT_QUEUE,
    QUEUE_NAME,
    WEBHOOK_TASK,
    JobRecords,
    make_celery,
)
from visualizer_core.scope import ADMIN
from visualizer_core.services import generation, jobs, notify

__all__ = [
    "app",
    "deliver_webhook",
    "generate_image",
    "judge_image",
    "run_worker",
    "sweep_once",
]

log = logging.getLogger(__name__)

settings = get_settings()
app = make_celery(settings)
# The thread pool (see run_worker), waking the event loop when a slot frees: workers/pool.py.
app.conf.worker_pool = "workers.pool:TaskPool"
SWEEP_S = 2 * settings.visualizer_heartbeat_s

_state: dict[str, Any] = {}
_state_lock = threading.Lock()


def _worker_state() -> dict[str, Any]:
    """Per worker process: the heartbeat and the job records, made on first use."""
    with _state_lock:
        if not _state:
            current = backends.current()
            _state["heartbeat"] = Heartbeat(current, current.settings.visualizer_heartbeat_s)
            _state["records"] = JobRecords(current.settings)
        return _state


# This process, as the holder of the messages it received (JobRecords.hold): alive while its
# presence key is, which ``_presence`` refreshes every beat and lets lapse after six missed.
HOLDER = f"celery@{socket.gethostname()}:{os.getpid()}"
PRESENCE_S = settings.stale_after_s


def _beat_presence() -> None:
    records: JobRecords = _worker_state()["records"]
    records.beat(HOLDER, alive_s=PRESENCE_S)


_presence = Periodic(_beat_presence, settings.visualizer_heartbeat_s, name="presence")


@signals.task_received.connect
def _hold(request: Any = None, **_: Any) -> None:
    """An image's message arrived (to run now, or held until its countdown is due): mark its
    job as held by this worker, so that the sweep knows it is neither waiting nor lost."""
    if request is None or request.name != GENERATE_TASK or not request.args:
        return
    records: JobRecords = _worker_state()["records"]
    try:
        records.hold(request.args[0], HOLDER, alive_s=PRESENCE_S)
    except redis.RedisError:  # unmarked, the job counts as waiting in the list: sent twice at worst
        log.warning("could not mark image %s as held", request.args[0], exc_info=True)


@app.task(name=GENERATE_TASK, ignore_result=True)
def generate_image(image_id: str) -> str:
    """Make one image (the same function the in-process queue runs); returns what happened.

    A delivery that finds its row already taken (``skipped``) or taken back by a recovery while
    it worked (``superseded``) is a duplicate: it changes nothing, is logged and counted in
    ``{APP_ENV}:generation:stats``, and leaves the job record to the run that owns the row.
    """
    state = _worker_state()
    records: JobRecords = state["records"]
    heartbeat: Heartbeat = state["heartbeat"]
    iid = uuid.UUID(image_id)
    name = worker_name("celery")
    heartbeat.add(iid)
    try:
        records.set([iid], "generating", worker=name)
        outcome = generation.process_image(iid, worker_id=name)
    except BaseException:
        # The row may still be pending with a record that says otherwise: drop the record so
        # that the next sweep sees a pending row without a job and dispatches it again.
        with contextlib.suppress(redis.RedisError):
            records.forget([iid])
        raise
    finally:
        heartbeat.discard(iid)
    if outcome in FINISHED:
        records.set([iid], outcome, worker=name)
        return outcome
    if outcome == "deferred":  # back in the queue with a countdown: its record says pending
        return outcome
    records.count("duplicates")
    status = jobs.image_status(iid)
    log.warning("duplicate delivery of image %s: %s (the row is %s)", iid, outcome, status)
    if status in FINISHED:
        records.set([iid], status)
    elif status is None:
        records.forget([iid])
    return outcome


@app.task(name=JUDGE_TASK, ignore_result=True)
def judge_image(image_id: str) -> str:
    """The fidelity judgement of one completed image, on the judgement queue's own slots."""
    return generation.judge_image(uuid.UUID(image_id), worker_id=worker_name("celery-judge"))


@app.task(name=WEBHOOK_TASK, ignore_result=True)
def deliver_webhook(flow_id: str) -> str:
    """Send a finished flow's summary to the client's webhook (retried with backoff inside)."""
    return notify.deliver_flow_webhook(uuid.UUID(flow_id))


def sweep_once() -> dict[str, int] | None:
    """One recovery sweep, unless another worker is sweeping right now (then None)."""
    client = redis.Redis.from_url(settings.redis_url or "")
    try:
        lock = client.lock(f"{settings.queue_prefix}:generation:sweep-lock", timeout=SWEEP_S)
        if not lock.acquire(blocking=False):
            return None
        try:
            # Rows changed within the last beat are being sent right now: not lost.
            return generation.recover(
                ADMIN, dispatch=True, settle_s=settings.visualizer_heartbeat_s
            )
        finally:
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
    finally:
        client.close()


_sweeper = Sweeper(sweep_once, SWEEP_S, name="sweeper")


@signals.worker_ready.connect
def _start_sweeper(**_: Any) -> None:
    _presence.start()
    if os.environ.get("VISUALIZER_SWEEPER", "1") != "0":  # the judgement worker does not sweep
        _sweeper.start()


@signals.worker_shutdown.connect
def _stop(**_: Any) -> None:
    _sweeper.stop(timeout=0)
    _presence.stop(timeout=0)
    heartbeat = _state.get("heartbeat")
    if heartbeat is not None:
        heartbeat.stop()


def run_worker(
    *, concurrency: int = 8, judgement_concurrency: int = 2, loglevel: str = "INFO"
) -> None:
    """Run a worker with the thread pool until it is stopped.

    The work is waiting on Gemini, S3 and the database, so threads give many slots per process
    at little memory, with no monkey-patching (gevent/eventlet) and no fork per slot (prefork).

    The images' queue gets ``concurrency`` slots here. The fidelity judgements have their own
    queue and their own slots: ``judgement_concurrency`` of them in a second worker process that
    this one starts (and stops with itself), so that a judgement never holds an image's slot.
    """
    judge = None
    if judgement_concurrency > 0:
        judge = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.celery_app",
                "worker",
                f"--concurrency={judgement_concurrency}",
                f"--queues={JUDGEMENT_QUEUE}",
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
                "--hostname=judgement@%h",
            ],
            env={**os.environ, "VISUALIZER_SWEEPER": "0"},
        )
    try:
        app.worker_main(
            [
                "worker",
                f"--concurrency={concurrency}",
                f"--queues={QUEUE_NAME}",
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
                "--hostname=visualizer@%h",  # what the compose healthcheck pings
            ]
        )
    finally:
        if judge is not None:
            judge.terminate()
            try:
                judge.wait(timeout=30)
            except subprocess.TimeoutExpired:
                judge.kill()
