"""The production queue: Celery on Redis, and the job records of the seed.

The Celery configuration lives here so that the dispatching side (any process that calls
``generate``) and the workers (``workers/celery_app.py``) are configured identically. Every
Redis key is prefixed by ``APP_ENV``: the broker's (``client:generation`` ...) through kombu's
``global_keyprefix``, and the job records ``{APP_ENV}:generation:jobs:{image id}``, which
expire 24 hours after the job completed or failed and never while it is pending.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import redis
from celery import Celery

from visualizer_core.config import Settings

if TYPE_CHECKING:
    from visualizer_core.backends import Backends

__all__ = [
    "GENERATE_TASK",
    "JOB_TTL_S",
    "CeleryQueue",
    "JobRecords",
    "celery_config",
    "make_celery",
]

GENERATE_TASK = "visualizer.generate_image"
WEBHOOK_TASK = "visualizer.deliver_webhook"
QUEUE_NAME = "generation"
JOB_TTL_S = 24 * 3600
SOFT_TIME_LIMIT_S = 600
HARD_TIME_LIMIT_S = 660
# Redis hands an unacknowledged message to another worker after this long: it must exceed the
# hard limit, or a slow but healthy job would be delivered twice.
VISIBILITY_TIMEOUT_S = 3 * HARD_TIME_LIMIT_S


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery settings for slow, flaky calls (the README says why each is set)."""
    prefix = f"{settings.queue_prefix}:"
    return {
        "broker_url": settings.redis_url,
        "broker_transport_options": {
            "global_keyprefix": prefix,
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
        },
        "broker_connection_retry_on_startup": True,
        "task_default_queue": QUEUE_NAME,
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
    app = Celery("visualizer", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app


class JobRecords:
    """``{prefix}:generation:jobs:{id}`` hashes: a status a dashboard can read without SQL."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url is not None
        self._redis = redis.Redis.from_url(settings.redis_url)
        self._prefix = f"{settings.queue_prefix}:generation:jobs:"

    def key(self, image_id: uuid.UUID | str) -> str:
        return f"{self._prefix}{image_id}"

    def set(self, image_ids: Sequence[uuid.UUID | str], status: str, **fields: str) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for image_id in image_ids:
            key = self.key(image_id)
            mapping: dict[str | bytes, str] = {"status": status, "image_id": str(image_id)}
            mapping.update(fields)
            pipe.hset(key, mapping=mapping)  # type: ignore[arg-type]
            if status in ("completed", "error"):
                pipe.expire(key, JOB_TTL_S)
            else:
                pipe.persist(key)
        pipe.execute()

    def existing(self, image_ids: Sequence[uuid.UUID]) -> builtins.set[uuid.UUID]:
        pipe = self._redis.pipeline(transaction=False)
        for image_id in image_ids:
            pipe.exists(self.key(image_id))
        return {i for i, found in zip(image_ids, pipe.execute(), strict=True) if found}

    def get(self, image_id: uuid.UUID | str) -> dict[str, str]:
        raw = self._redis.hgetall(self.key(image_id))
        return {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]

    def close(self) -> None:
        self._redis.close()


class CeleryQueue:
    """Sends one named task per image; the task reloads the row by id."""

    name = "celery"

    def __init__(self, backends: Backends) -> None:
        self._app = make_celery(backends.settings)
        self._records = JobRecords(backends.settings)

    def dispatch(self, image_ids: Sequence[uuid.UUID]) -> None:
        if not image_ids:
            return
        self._records.set(image_ids, "pending")
        with self._app.producer_or_acquire() as producer:
            for image_id in image_ids:
                self._app.send_task(
                    GENERATE_TASK,
                    args=[str(image_id)],
                    task_id=f"{image_id}:{uuid.uuid4().hex[:8]}",
                    producer=producer,
                )

    def flow_finished(self, flow_id: uuid.UUID) -> None:
        self._app.send_task(WEBHOOK_TASK, args=[str(flow_id)])

    def live(self, image_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Images whose job record exists: dispatched and not lost with Redis."""
        return self._records.existing(image_ids)

    def close(self) -> None:
        self._records.close()
        self._app.close()
