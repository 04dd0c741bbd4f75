"""Celery's thread pool, with the worker's event loop woken as soon as a slot frees.

With late acknowledgement and a prefetch of one, a worker asks Redis for its next message only
after a task's acknowledgement frees its slot. With the thread pool that acknowledgement happens
in the task's thread, while the event loop sits in ``poll()`` for up to a second before it
notices and issues the next ``BRPOP``: up to a second lost per image per slot. This pool wakes
the loop right after each task's completion callback (where the acknowledgement is made), so the
next message is fetched at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery.concurrency.thread import ApplyResult
from celery.concurrency.thread import TaskPool as ThreadTaskPool

__all__ = ["TaskPool"]


def _noop() -> None:
    return None


class TaskPool(ThreadTaskPool):  # type: ignore[misc]
    """``--pool=workers.pool:TaskPool``: the thread pool that wakes the event loop."""

    _hub: Any = None

    def register_with_event_loop(self, loop: Any) -> None:
        """Keep the worker's event loop (kombu's Hub) to wake it from the task threads."""
        super().register_with_event_loop(loop)
        self._hub = loop

    def on_apply(
        self,
        target: Callable[..., Any],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Callable[..., Any] | None = None,
        accept_callback: Callable[..., Any] | None = None,
        **options: Any,
    ) -> ApplyResult:
        """Run the task in a thread; after its callback (the acknowledgement), wake the loop."""

        def then(*result: Any) -> None:
            try:
                if callback is not None:
                    callback(*result)
            finally:
                hub = self._hub
                if hub is not None:
                    hub.call_soon(_noop)

        return super().on_apply(target, args, kwargs, then, accept_callback, **options)
