"""The locator: ``backends.using(built)`` is the one way to swap the current backends."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

from visualizer_core import backends
from visualizer_core.config import load_settings


def _built(folder: Path) -> backends.Backends:
    return backends.build(load_settings(visualizer_home=folder))


def test_using_swaps_for_the_block_and_restores_even_when_nested(tmp_path: Path) -> None:
    outer, inner = _built(tmp_path / "outer"), _built(tmp_path / "inner")
    try:
        with backends.using(outer):
            assert backends.current() is outer
            with backends.using(inner):
                assert backends.current() is inner
            assert backends.current() is outer
            try:
                with backends.using(inner):
                    raise RuntimeError("a failing block")
            except RuntimeError:
                pass
            assert backends.current() is outer
    finally:
        outer.close()
        inner.close()


def test_a_thread_with_its_own_backends_keeps_them(tmp_path: Path) -> None:
    process, own = _built(tmp_path / "process"), _built(tmp_path / "own")
    seen: list[backends.Backends] = []

    def worker() -> None:
        own.activate_for_thread()
        with backends.using(process):
            seen.append(backends.current())

    try:
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(10)
        assert seen == [own]  # the worker thread's backends win over the process's
    finally:
        process.close()
        own.close()


class _Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.closed = False

    def dispatch(self, image_ids: Sequence[uuid.UUID]) -> None:
        pass

    def live(self, image_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        return set()

    def flow_finished(self, flow_id: uuid.UUID) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_use_queue_replaces_the_queue_and_closes_the_one_before(tmp_path: Path) -> None:
    built = _built(tmp_path)
    first, second = _Recorder(), _Recorder()
    try:
        built.use_queue(first)
        assert built.queue is first
        built.use_queue(second)
        assert built.queue is second and first.closed and not second.closed
    finally:
        built.close()
    assert second.closed
