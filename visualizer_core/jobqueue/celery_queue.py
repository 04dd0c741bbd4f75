"""The production queue: Celery on Redis, and the job records of the seed.

The Celery configuration lives here so that the dispatching side (any process that calls
``generate``) and the workers (``workers/celery_app.py``) are configured identically. Every
Redis key is prefixed by ``APP_ENV``: the broker's (``client:generation`` ...) through kombu's
``global_keyprefix``, and the job records ``{APP_ENV}:generation:jobs:{image id}``, which
expire 24 hours after the job completed or failed and never while it is pending.

Whether a pending job is alive never waits for the broker's visibility timeout: a message is
either still in the queue's list (the sweep compares the record's dispatch time with the oldest
message waiting there, which carries its own in a header) or held by a worker that marked the
record when it received the message and keeps a presence key alive in Redis. A message taken by
a worker that died before running it is neither, so the sweep sends the row again.
"""

from __future__ import annotations

import builtins
import json
import math
import time
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery

from visualizer_core.config import Settings
from visualizer_core.errors import ConfigError
from visualizer_core.jobqueue.base import QueueHost

__all__ = [
    "DISPATCHED_AT_HEADER",
    "FINISHED",
    "GENERATE_TASK",
    "JOB_TTL_S",
    "JUDGEMENT_QUEUE",
    "JUDGE_TASK",
    "MAX_COUNTDOWN_S",
    "WEBHOOK_TASK",
    "CeleryQueue",
    "JobRecords",
    "celery_config",
    "make_celery",
]

GENERATE_TASK = "visualizer.generate_image"
JUDGE_TASK = "visualizer.judge_image"
WEBHOOK_TASK = "visualizer.deliver_webhook"
QUEUE_NAME = "generation"
JUDGEMENT_QUEUE = "judgement"
# A delayed job waits in Redis as an ETA message that a worker holds unacknowledged; it must be
# due well before the visibility timeout hands it to another worker. Longer waits (a model's
# day used up) are made of several hops of at most this long.
MAX_COUNTDOWN_S = 600
JOB_TTL_S = 24 * 3600
FINISHED = ("completed", "error")
SOFT_TIME_LIMIT_S = 600
HARD_TIME_LIMIT_S = 660
# Redis hands an unacknowledged message to another worker after this long: it must exceed the
# hard limit, or a slow but healthy job would be delivered twice.
VISIBILITY_TIMEOUT_S = 3 * HARD_TIME_LIMIT_S
# The header with a message's dispatch time, the same number as its job record's ``at``.
DISPATCHED_AT_HEADER = "visualizer_dispatched_at"

# Mark a pending job's record as held by a worker (only while it is pending: a late mark must
# not reopen a finished record), and refresh that worker's presence key in the same call.
_HOLD_SCRIPT = """
if redis.call('HGET', KEYS[1], 'status') == 'pending' then
  redis.call('HSET', KEYS[1], 'held_by', ARGV[1])
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 1
"""


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for slow, flaky calls (docs/deploying.md says why each is set)."""
    prefix = f"{settings.queue_prefix}:"
    return {
        "broker_url": settings.redis_url,
        "broker_transport_options": {
            "global_keyprefix": prefix,
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
        },
        "broker_connection_retry_on_startup": True,
        "task_default_queue": QUEUE_NAME,
        # The fidelity judgement runs on its own queue, consumed by its own worker slots.
        "task_routes": {JUDGE_TASK: {"queue": JUDGEMENT_QUEUE}},
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "worker_prefetch_multiplier": 1,
        "task_ignore_result": True,
        "result_backend": None,
        "task_soft_time_limit": SOFT_TIME_LIMIT_S,
        "task_time_limit": HARD_TIME_LIMIT_S,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "broker_pool_limit": 10,
    }


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured by :func:`celery_config` (no tasks: the workers add those)."""
    app = Celery("visualizer", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


class JobRecords:
    """``{prefix}:generation:jobs:{id}`` hashes: a job's status a dashboard can read without SQL.

    A record is written ``pending`` when the job is dispatched and never expires while the job
    is open; ``completed`` and ``error`` records expire ``JOB_TTL_S`` (24 hours) later. A worker
    that receives a pending job's message writes its name in ``held_by`` and keeps
    ``{prefix}:generation:workers:{name}`` alive while it runs (:meth:`hold`, :meth:`beat`).
    Beside them, ``{prefix}:generation:stats`` counts deliveries that found their row already
    taken (``duplicates``): harmless, but worth seeing.
    """

    def __init__(self, settings: Settings) -> None:
        if settings.redis_url is None:
            raise ConfigError("REDIS_URL: required for the Celery queue's job records")
        self._redis = redis.Redis.from_url(settings.redis_url)
        self._prefix = f"{settings.queue_prefix}:generation:jobs:"
        self._stats_key = f"{settings.queue_prefix}:generation:stats"
        self._workers_prefix = f"{settings.queue_prefix}:generation:workers:"
        # The broker's list of waiting messages (kombu's ``global_keyprefix`` + the queue).
        self._queue_key = f"{settings.queue_prefix}:{QUEUE_NAME}"
        self._hold = self._redis.register_script(_HOLD_SCRIPT)

    def key(self, image_id: uuid.UUID | str) -> str:
        """The record's Redis key."""
        return f"{self._prefix}{image_id}"

    def set(
        self,
        image_ids: Sequence[uuid.UUID | str],
        status: str,
        *,
        at: float | None = None,
        **fields: str,
    ) -> None:
        """Write the records of these jobs: open ones persist, finished ones expire in 24 h.

        ``at`` is when it happened (now by default); for ``pending``, the time the messages
        carry in their :data:`DISPATCHED_AT_HEADER`. A new status drops ``held_by`` and
        ``suspect``.
        """
        pipe = self._redis.pipeline(transaction=False)
        now = time.time() if at is None else at
        for image_id in image_ids:
            key = self.key(image_id)
            mapping = {"status": status, "image_id": str(image_id), "at": f"{now:.3f}", **fields}
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            pipe.hdel(key, "held_by", "suspect")
            if status in FINISHED:
                pipe.expire(key, JOB_TTL_S)
            else:
                pipe.persist(key)
        pipe.execute()

    def hold(self, image_id: uuid.UUID | str, worker: str, *, alive_s: float) -> None:
        """``worker`` received this job's message: mark its pending record as held by it, and
        count the worker alive for ``alive_s`` seconds more (see :meth:`beat`)."""
        self._hold(
            keys=[self.key(image_id), self._workers_prefix + worker],
            args=[worker, max(int(alive_s * 1000), 1)],
        )

    def beat(self, worker: str, *, alive_s: float) -> None:
        """``worker`` is alive for ``alive_s`` seconds more (a worker beats well within that)."""
        self._redis.set(self._workers_prefix + worker, "1", px=max(int(alive_s * 1000), 1))

    def live(self, image_ids: Sequence[uuid.UUID], *, fresh_s: float) -> builtins.set[uuid.UUID]:
        """Those of the images whose job is alive, by their records and the broker's list.

        - ``pending`` and held by a worker: alive while that worker's presence key is (a
          worker that died holding it, prefetched or counting down, left the message
          unacknowledged, and the broker would hand it out only after its visibility timeout);
        - ``pending`` and not held: alive while its message may still wait in the list. The
          list is first in, first out, so a message dispatched well before the oldest one
          waiting there (``fresh_s`` earlier: dispatch batches and clocks differ a little), or
          before now when the list is empty, has been taken; by a worker that died before
          marking it, since none holds it. A worker marks a message a moment after it takes it
          from the list, so such a job is only suspected at first (``suspect`` on its record)
          and counted lost once it is still unmarked a heartbeat (``fresh_s / 6``) later: a
          sweep running in that moment sends nothing twice, and a countdown is kept;
        - ``generating``: a worker took the message less than ``fresh_s`` ago and is about to
          claim the row.

        A job wrongly taken for dead is only sent twice: the claim lets one run make the image.
        """
        ids = list(image_ids)
        if not ids:
            return set()
        pipe = self._redis.pipeline(transaction=False)
        for image_id in ids:
            pipe.hmget(self.key(image_id), ["status", "at", "held_by", "suspect"])
        records = pipe.execute()
        now = time.time()
        waiting_since = self._oldest_waiting(now) - fresh_s
        holders = sorted({held for status, _, held, _ in records if status == b"pending" and held})
        present: builtins.set[bytes] = set()
        if holders:
            pipe = self._redis.pipeline(transaction=False)
            for holder in holders:
                pipe.exists(self._workers_prefix + holder.decode())
            present = {h for h, found in zip(holders, pipe.execute(), strict=True) if found}
        alive = set()
        suspects = self._redis.pipeline(transaction=False)
        for image_id, (status, at, held, suspect) in zip(ids, records, strict=True):
            since = float(at or 0)
            if status == b"pending" and held:
                job_alive = held in present
            elif status == b"pending" and since < waiting_since:
                if suspect is None:
                    suspects.hset(self.key(image_id), "suspect", f"{now:.3f}")
                job_alive = suspect is None or now - float(suspect) < fresh_s / 6
            else:
                job_alive = status == b"pending" or (
                    status == b"generating" and since >= now - fresh_s
                )
            if job_alive:
                alive.add(image_id)
        suspects.execute()
        return alive

    def _oldest_waiting(self, now: float) -> float:
        """The dispatch time of the oldest message in the queue's list; ``now`` when it is
        empty, and minus infinity when that message has no time (then every message that is
        not held may still be waiting)."""
        raw = self._redis.lindex(self._queue_key, -1)
        if raw is None:
            return now
        try:
            headers = json.loads(raw)["headers"]
            return float(headers[DISPATCHED_AT_HEADER])
        except (ValueError, KeyError, TypeError):
            return -math.inf

    def forget(self, image_ids: Sequence[uuid.UUID | str]) -> None:
        """Delete these records (their jobs are gone; a sweep will dispatch them again)."""
        if image_ids:
            self._redis.delete(*(self.key(i) for i in image_ids))

    def get(self, image_id: uuid.UUID | str) -> dict[str, str]:
        """The record's fields (empty when there is none)."""
        raw = self._redis.hgetall(self.key(image_id))
        return {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]

    def ttl(self, image_id: uuid.UUID | str) -> int:
        """Seconds until the record expires; -1 when it never does, -2 when there is none."""
        return int(self._redis.ttl(self.key(image_id)))  # type: ignore[arg-type]

    def count(self, name: str, amount: int = 1) -> None:
        """Add to one of the queue's counters (``duplicates``, ...)."""
        self._redis.hincrby(self._stats_key, name, amount)

    def stats(self) -> dict[str, int]:
        """The queue's counters."""
        raw = self._redis.hgetall(self._stats_key)
        return {k.decode(): int(v) for k, v in raw.items()}  # type: ignore[union-attr]

    def close(self) -> None:
        """Close the Redis connections."""
        self._redis.close()


class CeleryQueue:
    """Sends one named task per image; the task reloads the row by id."""

    name = "celery"

    def __init__(self, backends: QueueHost) -> None:
        self._app = make_celery(backends.settings)
        self._records = JobRecords(backends.settings)
        self._stale_after_s = backends.settings.stale_after_s

    def dispatch(self, image_ids: Sequence[uuid.UUID], *, delay_s: float = 0.0) -> None:
        """One message per image, after a ``pending`` job record for each.

        Messages go to the queue's list through the anonymous exchange, so a Redis that lost
        kombu's exchange bindings (a flush, a restart without persistence) still routes them.
        When sending fails the records are removed again, so that a sweep dispatches the rows.
        ``delay_s`` is the message's countdown (what ``Task.retry(countdown=...)`` sends),
        at most :data:`MAX_COUNTDOWN_S`.
        """
        if not image_ids:
            return
        countdown = min(delay_s, MAX_COUNTDOWN_S) if delay_s > 0 else None
        at = time.time()
        self._records.set(image_ids, "pending", at=at)
        headers = {DISPATCHED_AT_HEADER: f"{at:.3f}"}
        try:
            # One pipelined round trip per thousand messages rather than one per message.
            with self._app.producer_or_acquire() as producer, producer.batch(max_size=1000):
                for image_id in image_ids:
                    self._app.send_task(
                        GENERATE_TASK,
                        args=[str(image_id)],
                        task_id=f"{image_id}:{uuid.uuid4().hex[:8]}",
                        producer=producer,
                        countdown=countdown,
                        headers=headers,
                    )
        except BaseException:
            # No message, so no record: the next sweep sees pending rows without a job.
            self._records.forget(image_ids)
            raise

    def dispatch_judgements(self, image_ids: Sequence[uuid.UUID], *, delay_s: float = 0.0) -> None:
        """One judgement message per image, on the judgement queue (its own workers' slots)."""
        countdown = min(delay_s, MAX_COUNTDOWN_S) if delay_s > 0 else None
        with self._app.producer_or_acquire() as producer:
            for image_id in image_ids:
                self._app.send_task(
                    JUDGE_TASK,
                    args=[str(image_id)],
                    queue=JUDGEMENT_QUEUE,
                    producer=producer,
                    countdown=countdown,
                )

    def flow_finished(self, flow_id: uuid.UUID) -> None:
        """Deliver the flow's webhook from a worker (it retries with backoff, so not here)."""
        # Its dispatch time too: it waits in the images' list, where the sweep reads the oldest.
        self._app.send_task(
            WEBHOOK_TASK, args=[str(flow_id)], headers={DISPATCHED_AT_HEADER: f"{time.time():.3f}"}
        )

    def live(self, image_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of these pending images that still have a job (:meth:`JobRecords.live`).

        A record that says ``pending`` means a message waits in the list or is held by a live
        worker; one that says ``generating`` on a pending row means a worker took the message
        and is about to claim the row, unless that was longer ago than a heartbeat-based grace
        (then the worker died in between). A pending row without a record (Redis lost it) has
        no job.
        """
        return self._records.live(image_ids, fresh_s=self._stale_after_s)

    def close(self) -> None:
        """Close the broker and Redis connections."""
        self._records.close()
        self._app.close()
