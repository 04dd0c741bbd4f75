"""The embedded worker: in-process worker threads plus a periodic sweep of the database.

Used by ``visualizer worker`` without ``REDIS_URL`` and by the studio on the embedded default.
The sweep is what makes the database the queue: rows left pending by another process (a
``generate`` without ``--wait``, a crash) are picked up, and rows whose worker died are reset.
"""

from __future__ import annotations

import logging
import signal
import threading

from visualizer_core.backends import Backends
from visualizer_core.queue import InProcessQueue
from visualizer_core.scope import ADMIN

__all__ = ["EmbeddedWorker", "run_embedded_worker"]

log = logging.getLogger(__name__)

SWEEP_S = 10.0


class EmbeddedWorker:
    """Worker threads and a sweeper thread for one set of backends."""

    def __init__(self, backends: Backends, *, threads: int, sweep_s: float = SWEEP_S) -> None:
        self.backends = backends
        self.queue = InProcessQueue(backends, threads)
        # Jobs dispatched by services in this process go to these threads too.
        backends.__dict__["queue"] = self.queue
        self._sweep_s = sweep_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="visualizer-sweeper", daemon=True)

    def start(self) -> EmbeddedWorker:
        self.queue.start()
        self._thread.start()
        return self

    def sweep(self) -> dict[str, int]:
        """Reset stuck rows and queue every pending row that is not queued here yet."""
        from visualizer_core import backends as backends_module
        from visualizer_core.services.generation import recover

        backends_module.activate_for_thread(self.backends)
        return recover(ADMIN, dispatch=True)

    def _run(self) -> None:
        while True:
            try:
                self.sweep()
            except Exception:
                log.warning("sweep failed", exc_info=True)
            if self._stop.wait(self._sweep_s):
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.queue.close()


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_embedded_worker(backends: Backends, *, threads: int) -> None:
    """Run until interrupted (Ctrl-C or SIGTERM); the images being made are finished first.

    Images still waiting in this process stay pending in the database for the next worker.
    """
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    worker = EmbeddedWorker(backends, threads=threads).start()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        signal.signal(signal.SIGTERM, previous)
