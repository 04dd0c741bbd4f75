"""Real Celery worker processes on the live Redis, PostgreSQL and S3 test server.

The promise under test: a flow's images end completed, or failed with a message a person can
act on; none is lost and none stays open, whatever happens to a worker or to Redis meanwhile.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.plugin import wait_until
from tests.servers.celery_worker import QueueStack, World, make_world, queue_stack
from visualizer_core import backends
from visualizer_core.jobqueue.celery_queue import JOB_TTL_S, MAX_COUNTDOWN_S, JobRecords
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import gallery, generation
from visualizer_core.storage import keys

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

# A worker that takes every waiting message and dies before it runs or marks any: what a worker
# killed between fetching its next message and starting it leaves behind, unacknowledged.
_TAKE_AND_DIE = textwrap.dedent(
    """
    import os
    from visualizer_core.config import load_settings
    from visualizer_core.jobqueue.celery_queue import QUEUE_NAME, make_celery

    connection = make_celery(load_settings()).connection_for_read()
    channel = connection.default_channel
    taken = 0
    while channel.basic_get(QUEUE_NAME, no_ack=False) is not None:
        taken += 1
    print(taken, flush=True)
    os._exit(0)  # no acknowledgement, no restore at close: the messages stay taken
    """
)


@pytest.fixture
def stack(s3_server: str, tmp_path: Path) -> Iterator[QueueStack]:
    with queue_stack(s3_server, tmp_path / "home") as built:
        yield built


def _cards(session_id: uuid.UUID) -> list[gallery.ImageCard]:
    cards: list[gallery.ImageCard] = []
    page = 1
    while True:
        result = gallery.list_images(ADMIN, session_id=session_id, page=page, page_size=200)
        cards += result.cards
        if page >= result.pages:
            return cards
        page += 1


def _settle(stack: QueueStack, world: World, flow_id: uuid.UUID, timeout: float) -> dict[str, int]:
    counts = generation.wait_for_flows(ADMIN, flow_ids=[flow_id], timeout=timeout)
    assert counts["pending"] + counts["generating"] == 0, (
        f"rows still open after {timeout:.0f} s: {counts}\n{stack.worker_logs()[-4000:]}"
    )
    return counts


def _assert_nothing_lost(world: World, image_ids: list[uuid.UUID]) -> None:
    """Every row is completed with its picture in storage, or failed with a message."""
    cards = {c.id: c for c in _cards(world.session_id)}
    assert set(image_ids) <= set(cards)
    storage = backends.current().storage
    for image_id in image_ids:
        card = cards[image_id]
        assert card.status in ("completed", "error"), card
        if card.status == "error":
            assert card.error_message, f"image {image_id} failed without a message"
        else:
            assert card.image_key and storage.exists(card.image_key)
    # A repeated run overwrites its row's fixed key: never more than image + thumbnail per row.
    media = storage.list(keys.session_prefix(world.client_id, world.session_id))
    generated = [k for k in media if any(str(i) in k for i in image_ids)]
    completed = sum(1 for i in image_ids if cards[i].status == "completed")
    assert len(generated) == 2 * completed, (len(generated), completed)


def _duplicates(stack: QueueStack, log_from: int = 0) -> int:
    """Duplicate deliveries: counted in Redis, and each one logged by the worker that met it.

    ``log_from``: where in the workers' log Redis last lost its counters (a flush).
    """
    records = JobRecords(backends.current().settings)
    try:
        counted = records.stats().get("duplicates", 0)
    finally:
        records.close()
    logged = stack.worker_logs()[log_from:].count("duplicate delivery of image")
    assert counted == logged, (counted, logged)
    return counted


def test_a_100_image_flow_completes_on_a_real_worker(stack: QueueStack, tmp_path: Path) -> None:
    world = make_world(tmp_path / "catalog", products_count=25)
    stack.start_worker(concurrency=8)

    flow = generation.generate(
        ADMIN, session_id=world.session_id, settings=FlowSettings(variants=4)
    )
    assert len(flow.image_ids) == 100

    counts = _settle(stack, world, flow.flow_id, timeout=240)
    assert counts == {"total": 100, "pending": 0, "generating": 0, "completed": 100, "error": 0}
    _assert_nothing_lost(world, flow.image_ids)

    # The job records say the same, and expire a day after the job finished.
    records = JobRecords(backends.current().settings)
    try:
        first = flow.image_ids[0]
        assert records.get(first)["status"] == "completed"
        assert records.key(first) == f"client:generation:jobs:{first}"
        assert 0 < records.ttl(first) <= JOB_TTL_S
    finally:
        records.close()
    # The broker's keys carry the APP_ENV prefix too.
    names = {k.decode() for k in stack.redis().keys("*")}
    assert names and all(n.startswith("client:") for n in names), sorted(names)[:10]


def test_the_compose_healthcheck_pings_a_running_worker(stack: QueueStack) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    kind, command = compose["services"]["worker"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    command = command.replace("$$", "$").replace("celery ", f"{sys.executable} -m celery ", 1)
    env = stack.env(HOSTNAME=socket.gethostname())

    down = subprocess.run(command, shell=True, env=env, cwd=ROOT, capture_output=True, timeout=60)
    assert down.returncode != 0  # no worker yet: unhealthy

    stack.start_worker(concurrency=2)
    up = subprocess.run(command, shell=True, env=env, cwd=ROOT, capture_output=True, timeout=60)
    assert up.returncode == 0, up.stdout + up.stderr


def test_pending_job_records_never_expire(stack: QueueStack, tmp_path: Path) -> None:
    world = make_world(tmp_path / "catalog", products_count=2)
    flow = generation.generate(ADMIN, session_id=world.session_id)  # no worker: stays pending
    records = JobRecords(backends.current().settings)
    try:
        for image_id in flow.image_ids:
            assert records.get(image_id)["status"] == "pending"
            assert records.ttl(image_id) == -1
    finally:
        records.close()


def test_a_job_being_sent_or_taken_is_not_sent_twice(stack: QueueStack, tmp_path: Path) -> None:
    """A second message would run a row early that waits out a provider's retry delay, so the
    sweep leaves alone the two moments when a live job looks lost: its row just committed and
    its record not yet written, and its message just taken from the list and not yet marked."""
    world = make_world(tmp_path / "catalog", products_count=1)
    flow = generation.generate(ADMIN, session_id=world.session_id)  # no worker: it waits
    [image_id] = flow.image_ids
    records = JobRecords(backends.current().settings)
    try:
        # Row committed, record not written yet: the workers' sweep (settle_s) waits a beat.
        records.forget([image_id])
        stack.redis().delete("client:generation")
        assert generation.recover(ADMIN, settle_s=60)["requeued"] == 0
        assert generation.recover(ADMIN)["requeued"] == 1  # `visualizer recover`: at once

        # Taken from the list, not marked yet: suspected first, lost only a beat later.
        fresh_s = 0.6
        stack.redis().delete("client:generation")
        records.set([image_id], "pending", at=time.time() - 2 * fresh_s)
        assert records.live([image_id], fresh_s=fresh_s) == {image_id}
        records.hold(image_id, "worker-a", alive_s=5)  # the worker marks it: alive
        assert records.live([image_id], fresh_s=fresh_s) == {image_id}
        records.set([image_id], "pending", at=time.time() - 2 * fresh_s)  # never marked
        assert records.live([image_id], fresh_s=fresh_s) == {image_id}
        time.sleep(fresh_s / 6 + 0.1)
        assert records.live([image_id], fresh_s=fresh_s) == set()
    finally:
        records.close()


def test_a_worker_killed_mid_run_loses_nothing(stack: QueueStack, tmp_path: Path) -> None:
    world = make_world(tmp_path / "catalog", products_count=40)
    # Slow images, and quick heartbeats so that a dead worker's rows are seen within seconds.
    slow = {"VISUALIZER_AI_LATENCY_S": "1.0", "VISUALIZER_HEARTBEAT_S": "1"}
    first = stack.start_worker(concurrency=4, **slow)
    flow = generation.generate(ADMIN, session_id=world.session_id)

    def some_done_some_running() -> bool:
        counts = generation.flow_status([flow.flow_id])
        return counts["completed"] >= 8 and counts["generating"] > 0

    wait_until(some_done_some_running, 120, "the first worker to be mid-run")
    first.kill()
    orphaned = generation.flow_status([flow.flow_id])
    assert orphaned["generating"] > 0  # rows the dead worker had claimed

    # A new worker recovers them by itself (its sweep); nothing else is run.
    stack.start_worker(concurrency=4, **slow)
    counts = _settle(stack, world, flow.flow_id, timeout=240)
    assert counts["total"] == 40
    assert counts["completed"] + counts["error"] == 40
    _assert_nothing_lost(world, flow.image_ids)
    duplicates = _duplicates(stack)
    print(f"killed mid-run: {orphaned['generating']} orphaned rows, {duplicates} duplicates")


def test_messages_a_worker_took_before_it_died_are_sent_again(
    stack: QueueStack, tmp_path: Path
) -> None:
    # The broker would hand these messages out again only after its visibility timeout (33
    # minutes): a killed worker must lose nothing without waiting for that.
    world = make_world(tmp_path / "catalog", products_count=4)
    flow = generation.generate(ADMIN, session_id=world.session_id)  # no worker yet: they wait
    taker = subprocess.run(
        [sys.executable, "-c", _TAKE_AND_DIE],
        env=stack.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert taker.returncode == 0 and taker.stdout.strip() == "4", taker.stderr
    broker = stack.redis()
    assert broker.llen("client:generation") == 0
    assert broker.hlen("client:unacked") == 4

    stack.start_worker(concurrency=2, VISUALIZER_HEARTBEAT_S="1")
    counts = _settle(stack, world, flow.flow_id, timeout=60)
    assert counts["completed"] == 4
    _assert_nothing_lost(world, flow.image_ids)


def test_delayed_jobs_wait_while_their_worker_lives_and_are_sent_again_when_it_dies(
    stack: QueueStack, tmp_path: Path
) -> None:
    world = make_world(tmp_path / "catalog", products_count=4)
    flow = generation.generate(ADMIN, session_id=world.session_id)  # no worker yet: they wait
    # The same jobs, now counting down (as a retry's backoff or a rate limit's wait does).
    stack.redis().delete("client:generation")
    backends.current().queue.dispatch(flow.image_ids, delay_s=MAX_COUNTDOWN_S)
    first = stack.start_worker(concurrency=2, VISUALIZER_HEARTBEAT_S="1")
    records = JobRecords(backends.current().settings)
    try:
        wait_until(
            lambda: all(records.get(i).get("held_by") for i in flow.image_ids),
            30,
            "the worker to hold the delayed messages",
        )
    finally:
        records.close()
    # Held by a live worker, they are not sent again: several sweeps (one every 2 s, a grace
    # of 6 s) leave them to their countdown.
    time.sleep(10)
    assert generation.flow_status([flow.flow_id])["pending"] == 4

    first.kill()  # the messages die with it, unacknowledged
    stack.start_worker(concurrency=2, VISUALIZER_HEARTBEAT_S="1")
    counts = _settle(stack, world, flow.flow_id, timeout=60)
    assert counts["completed"] == 4
    _assert_nothing_lost(world, flow.image_ids)


def test_redis_flushed_mid_run_then_recover_loses_nothing(
    stack: QueueStack, tmp_path: Path
) -> None:
    world = make_world(tmp_path / "catalog", products_count=40)
    # Beats every 30 s: the workers' own sweep (every 60 s) stays out of the way, so that the
    # `visualizer recover` below is what rebuilds the queue.
    slow = {"VISUALIZER_AI_LATENCY_S": "0.5", "VISUALIZER_HEARTBEAT_S": "30"}
    stack.start_worker(concurrency=4, **slow)
    flow = generation.generate(ADMIN, session_id=world.session_id)

    wait_until(
        lambda: generation.flow_status([flow.flow_id])["completed"] >= 8,
        120,
        "the worker to be mid-run",
    )
    flushed_at = len(stack.worker_logs())
    stack.redis().flushdb()  # the broker's queue, the job records: all gone
    before = generation.flow_status([flow.flow_id])
    assert before["pending"] > 0

    command = [sys.executable, "-m", "visualizer_cli", "recover", "--json"]
    done = subprocess.run(
        command, env=stack.env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # Every pending row had lost its message (a worker may have claimed one in between).
    assert 0 < report["requeued"] <= before["pending"]

    counts = _settle(stack, world, flow.flow_id, timeout=240)
    assert counts["completed"] + counts["error"] == 40
    _assert_nothing_lost(world, flow.image_ids)
    duplicates = _duplicates(stack, log_from=flushed_at)
    print(f"flushed mid-run: requeued {report['requeued']}, {duplicates} duplicates")


def test_the_workers_own_sweep_rebuilds_a_flushed_queue(stack: QueueStack, tmp_path: Path) -> None:
    world = make_world(tmp_path / "catalog", products_count=30)
    slow = {"VISUALIZER_AI_LATENCY_S": "0.5", "VISUALIZER_HEARTBEAT_S": "1"}
    stack.start_worker(concurrency=4, **slow)
    flow = generation.generate(ADMIN, session_id=world.session_id)
    wait_until(
        lambda: generation.flow_status([flow.flow_id])["completed"] >= 4,
        120,
        "the worker to be mid-run",
    )
    stack.redis().flushdb()
    counts = _settle(stack, world, flow.flow_id, timeout=240)
    assert counts["completed"] + counts["error"] == 30
    _assert_nothing_lost(world, flow.image_ids)
