"""The queue: dispatch image ids to whatever runs the image task.

- :class:`InProcessQueue` (embedded default, ``inprocess``): worker threads inside this process;
  :class:`EmbeddedWorker` adds the periodic sweep. It also picks up pending rows left by other
  processes, since the database is the queue.
- :class:`CeleryQueue` (``REDIS_URL`` set, ``celery_queue``): sends one named task per image to
  Celery workers (``workers/celery_app.py``, which runs the same tasks and the same sweeper).

Both keep a :class:`Heartbeat` for the rows they are working on, so that recovery can tell a row
whose worker died (no heartbeat) from one that is just slow. The queue runs the :class:`Tasks`
the service layer registered; it never imports the services.
"""

from __future__ import annotations

from visualizer_core.jobqueue.base import (
    Heartbeat,
    Periodic,
    Queue,
    QueueHost,
    Sweeper,
    Tasks,
    register_tasks,
    registered_tasks,
    worker_name,
)
from visualizer_core.jobqueue.inprocess import EmbeddedWorker, InProcessQueue, run_embedded_worker

__all__ = [
    "EmbeddedWorker",
    "Heartbeat",
    "InProcessQueue",
    "Periodic",
    "Queue",
    "QueueHost",
    "Sweeper",
    "Tasks",
    "make_queue",
    "register_tasks",
    "registered_tasks",
    "run_embedded_worker",
    "worker_name",
]


def make_queue(backends: QueueHost) -> Queue:
    """The queue the settings ask for."""
    if backends.settings.redis_url:
        from visualizer_core.jobqueue.celery_queue import CeleryQueue

        return CeleryQueue(backends)
    return InProcessQueue(backends, backends.settings.visualizer_workers)
