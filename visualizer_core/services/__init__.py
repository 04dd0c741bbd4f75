"""The use cases: every function takes the acting scope first and runs in one unit of work.

:data:`TASKS` are the queue's tasks (the image task, the fidelity judgement, the webhook
delivery, the recovery sweep): entry points that start a worker pass them to it, and importing
the package registers them for the queue that services dispatch to
(:func:`visualizer_core.jobqueue.register_tasks`). The queue adapters run what they are given and
never import the services themselves. The tasks import their modules when they first run, so
that a quick command (``visualizer status``) that imports one service does not load them all.
"""

from __future__ import annotations

import uuid

from visualizer_core.jobqueue import Tasks, register_tasks
from visualizer_core.scope import ADMIN


def _make_image(image_id: uuid.UUID, worker_id: str) -> str:
    from visualizer_core.services import generation

    return generation.process_image(image_id, worker_id=worker_id)


def _judge_image(image_id: uuid.UUID, worker_id: str) -> str:
    from visualizer_core.services import generation

    return generation.judge_image(image_id, worker_id=worker_id)


def _deliver_webhook(flow_id: uuid.UUID) -> str:
    from visualizer_core.services import notify

    return notify.deliver_flow_webhook(flow_id)


def _sweep() -> dict[str, int]:
    from visualizer_core.services import generation

    return generation.recover(ADMIN, dispatch=True)


TASKS = Tasks(
    make_image=_make_image,
    deliver_webhook=_deliver_webhook,
    sweep=_sweep,
    judge_image=_judge_image,
)
"""The queue's tasks; entry points that start a worker pass them to it."""

register_tasks(TASKS)
