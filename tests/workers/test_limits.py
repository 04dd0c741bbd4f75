"""Limits that must hold with many workers at once: GEMINI_MAX_RPM, a provider's 429, the quota."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import factories
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.servers.celery_worker import QueueStack, claim_redis_db, make_world, queue_stack
from tests.servers.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY, make_s3_storage
from tests.standins.gemini_server import GeminiStandIn, RecordedRequest
from visualizer_core import backends
from visualizer_core.ai.ratelimit import ModelLimiter, ModelLimits, waiting
from visualizer_core.config import load_settings
from visualizer_core.db import migrate
from visualizer_core.db.engine import make_engine
from visualizer_core.db.models import GeneratedImage
from visualizer_core.errors import QuotaExceeded, RateLimited
from visualizer_core.scope import ADMIN
from visualizer_core.services import generation

pytestmark = [pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]

# One process of many: six threads, one Gemini image call each, under the shared budget.
_CALLER = textwrap.dedent(
    """
    import io, logging, sys, threading
    from PIL import Image
    from visualizer_core.ai import make_ai
    from visualizer_core.ai.base import GenerationRequest
    from visualizer_core.config import load_settings

    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("google_genai").setLevel(logging.WARNING)

    def picture(mode, fmt):
        buffer = io.BytesIO()
        Image.new(mode, (64, 64), (200, 120, 80)).save(buffer, fmt)
        return buffer.getvalue()

    ai = make_ai(load_settings())
    request = GenerationRequest(
        product_images=(picture("RGBA", "PNG"),), scene_image=picture("RGB", "JPEG"), prompt="x"
    )

    def call():
        ai.generate(request)
        print("answered", flush=True)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    """
)


def _image_calls(server: GeminiStandIn) -> list[RecordedRequest]:
    """The image generation calls the stand-in received (not analysis or fidelity checks)."""
    return [
        r
        for r in server.requests
        if "IMAGE" in [str(m).upper() for m in r.generation_config.get("responseModalities", [])]
    ]


def _lines(process: subprocess.Popen[str], sink: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        sink.append(line)


def test_gemini_max_rpm_holds_across_processes(tmp_path: Path) -> None:
    rpm = 6
    with GeminiStandIn() as server, claim_redis_db() as number:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VISUALIZER_", "GEMINI_", "PYTEST_"))
        }
        env |= {
            "VISUALIZER_HOME": str(tmp_path),
            "REDIS_URL": f"redis://127.0.0.1:6379/{number}",
            "VISUALIZER_AI": "gemini",
            "GEMINI_API_KEY": server.api_key,
            "GEMINI_BASE_URL": server.base_url,
            "GEMINI_MAX_RPM": str(rpm),
        }
        outputs: list[list[str]] = [[], []]
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", _CALLER],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in outputs
        ]
        readers = [
            threading.Thread(target=_lines, args=(p, out), daemon=True)
            for p, out in zip(processes, outputs, strict=True)
        ]
        for reader in readers:
            reader.start()
        try:
            # Twelve calls in two processes: each either answered or is waiting for a slot.
            deadline = time.monotonic() + 120
            while True:
                text = "".join(outputs[0] + outputs[1])
                answered = text.count("answered")
                waiting = text.count("waiting for a slot")
                if answered + waiting >= 12 or time.monotonic() > deadline:
                    break
                assert all(p.poll() in (None, 0) for p in processes), text
                time.sleep(0.1)
            assert (answered, waiting) == (rpm, 12 - rpm), text
            assert len(_image_calls(server)) == rpm  # the stand-in saw the budget, not twelve calls
            # The rest still wait: a process whose six calls all found a slot (it started
            # first) has ended well; one with calls waiting for the next minute has not.
            ended = [p.poll() for p in processes]
            assert set(ended) <= {None, 0} and None in ended, (ended, text)
        finally:
            for process in processes:
                process.kill()
                process.wait()


def test_a_full_window_waits_for_its_oldest_call_to_leave() -> None:
    with claim_redis_db() as number:
        limiter = ModelLimiter(
            {"gemini-nano-banana-2.1": ModelLimits(rpm=2)},
            ModelLimits(),
            redis_url=f"redis://127.0.0.1:6379/{number}",
            key_prefix="client",
            window_s=2,  # the test knob: a two-second "minute"
        )
        first, second = (limiter.take("gemini-nano-banana-2.1") for _ in range(2))
        assert first == second == 0.0
        with waiting(False), pytest.raises(RateLimited) as caught:
            limiter.take("gemini-nano-banana-2.1")
        assert 0 < (caught.value.retry_after or 0) <= 4
        assert limiter.take("gemini-nano-banana-2.1") > 0  # waited in place, then got its slot
        limiter.close()


@pytest.fixture
def gemini_stack(s3_server: str, tmp_path: Path) -> Iterator[tuple[QueueStack, GeminiStandIn]]:
    with GeminiStandIn() as server:
        gemini = {"gemini_api_key": server.api_key, "gemini_base_url": server.base_url}
        with queue_stack(s3_server, tmp_path / "home", **gemini) as stack:
            yield stack, server


@pytest.mark.postgres
@pytest.mark.slow
def test_a_429_goes_back_to_the_queue_for_as_long_as_the_provider_asks(
    gemini_stack: tuple[QueueStack, GeminiStandIn], tmp_path: Path
) -> None:
    stack, server = gemini_stack
    world = make_world(tmp_path / "catalog", products_count=1)
    stack.start_worker(
        concurrency=2,
        VISUALIZER_AI="gemini",
        GEMINI_API_KEY=server.api_key,
        GEMINI_BASE_URL=server.base_url,
        VISUALIZER_JUDGEMENT_WORKERS="0",
    )
    server.reset()
    server.fail_next("429", retry_delay="2.5s")

    flow = generation.generate(ADMIN, session_id=world.session_id)
    counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=120)

    assert counts["completed"] == 1, (counts, stack.worker_logs()[-3000:])
    first, second = _image_calls(server)
    assert (first.status, second.status) == (429, 200)
    assert 2.5 <= second.at - first.at <= 2.5 + 1.5 + 1.0, stack.worker_logs()[-4000:]
    assert first.generation_config["seed"] != second.generation_config["seed"]
    with backends.current().transaction() as db:
        row = db.get(GeneratedImage, flow.image_ids[0])
        assert row is not None
        assert row.attempts == 2


@pytest.mark.postgres
@pytest.mark.slow
def test_per_model_limits_hold_across_two_celery_workers(
    gemini_stack: tuple[QueueStack, GeminiStandIn], tmp_path: Path
) -> None:
    stack, server = gemini_stack
    rpm, window_s, images = 3, 2, 9
    limits = {"gemini-nano-banana-2.1": {"rpm": rpm}}
    server.limits, server.window_s = limits, window_s
    world = make_world(tmp_path / "catalog", products_count=images)
    env = {
        "VISUALIZER_AI": "gemini",
        "GEMINI_API_KEY": server.api_key,
        "GEMINI_BASE_URL": server.base_url,
        "GEMINI_LIMITS": json.dumps(limits),
        "VISUALIZER_LIMIT_WINDOW_S": str(window_s),  # the test knob: a two-second "minute"
        "VISUALIZER_JUDGEMENT_WORKERS": "1",
    }
    workers = [stack.start_worker(concurrency=3, ready=False, **env) for _ in range(2)]
    for worker in workers:
        worker.wait_ready()
    server.reset()

    flow = generation.generate(ADMIN, session_id=world.session_id)
    counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=120)

    assert counts["completed"] == images, (counts, stack.worker_logs()[-3000:])
    calls = _image_calls(server)
    assert [c.status for c in calls] == [200] * images  # no 429: the workers kept the limit
    times = sorted(c.at for c in calls)
    for index in range(len(times) - rpm):  # never more than rpm calls in one window
        assert times[index + rpm] - times[index] >= window_s - 0.05, times
    # Both worker processes took images: each had three, at most, while the first three calls
    # filled the window (the rows a worker completes depend on who takes the deferred ones).
    for worker in workers:
        assert "visualizer.generate_image[" in worker.log(), worker.log()[-3000:]
    with backends.current().transaction() as db:
        rows = [db.get(GeneratedImage, i) for i in flow.image_ids]
        assert all(r is not None and r.attempts == 1 for r in rows)  # waits are not attempts
    # The judgements ran on their own workers' slots, on the text model's own bucket.
    judged = _wait_for_judgements(flow.image_ids, timeout=60)
    assert judged == images, stack.worker_logs()[-3000:]


def _wait_for_judgements(image_ids: list[uuid.UUID], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        with backends.current().transaction() as db:
            rows = [db.get(GeneratedImage, i) for i in image_ids]
            scored = sum(1 for r in rows if r is not None and r.fidelity_score is not None)
        if scored == len(image_ids) or time.monotonic() > deadline:
            return scored
        time.sleep(0.2)


@pytest.fixture
def on_postgres(s3_server: str, tmp_path: Path) -> Iterator[backends.Backends]:
    """PostgreSQL and S3 without Redis: the quota is the database's business alone."""
    url = create_postgres_database("vz_quota")
    try:
        engine = make_engine(url)
        migrate.upgrade(engine)
        engine.dispose()
        storage = make_s3_storage(s3_server)
        settings = load_settings(
            visualizer_home=tmp_path / "home",
            database_url=url,
            r2_bucket=storage.bucket,
            r2_endpoint=storage.endpoint_url,
            r2_access_key_id=ACCESS_KEY_ID,
            r2_secret_access_key=SECRET_ACCESS_KEY,
        )
        storage.close()
        built = backends.build(settings)
        backends.activate(built)
        try:
            yield built
        finally:
            backends.reset()
    finally:
        drop_postgres_database(url)


@pytest.mark.postgres
def test_twenty_simultaneous_requests_for_ten_images_left_accept_exactly_ten(
    on_postgres: backends.Backends, tmp_path: Path
) -> None:
    world = make_world(tmp_path / "catalog", products_count=20, daily_quota=10)
    scope = factories.member_scope(world.client_id)
    start = threading.Barrier(20)
    accepted: list[uuid.UUID] = []
    refused: list[str] = []
    lock = threading.Lock()

    def ask(product_id: uuid.UUID) -> None:
        start.wait()
        try:
            flow = generation.generate(scope, session_id=world.session_id, product_ids=[product_id])
        except QuotaExceeded as error:
            with lock:
                refused.append(str(error))
        else:
            with lock:
                accepted.extend(flow.image_ids)

    threads = [threading.Thread(target=ask, args=(p,)) for p in world.product_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(accepted) == 10
    assert len(refused) == 10
    assert all("0 of 10 images left today" in message for message in refused), refused[0]
    assert generation.quota_left(scope, client_id=world.client_id) == 0


@pytest.mark.postgres
@pytest.mark.slow
def test_two_workers_and_two_clients_on_one_key_stay_within_the_spend_window(
    gemini_stack: tuple[QueueStack, GeminiStandIn], tmp_path: Path
) -> None:
    stack, server = gemini_stack
    # A 1K image is billed about USD 0.035 by the stand-in: three fit in a window of 0.11 USD
    # over ten seconds (VISUALIZER_LIMIT_WINDOW_S=1 makes our "10 minutes" ten seconds).
    ceiling, window_s, per_client = 0.11, 10.0, 4
    server.spend_limits = {"window_usd": ceiling, "window_s": window_s}
    server.prices = {
        "gemini-nano-banana-2.1": (1.5, 7.5, 30.0),
        "gemini-3.8-flash": (1.5, 7.5, None),
    }
    worlds = [
        make_world(tmp_path / f"catalog-{n}", products_count=per_client, name=f"Brand {n}")
        for n in range(2)
    ]
    env = {
        "VISUALIZER_AI": "gemini",
        "GEMINI_API_KEY": server.api_key,
        "GEMINI_BASE_URL": server.base_url,
        "GEMINI_LIMITS": json.dumps({"account": {"spend_usd_per_10min": ceiling}}),
        "VISUALIZER_LIMIT_WINDOW_S": "1",
        "VISUALIZER_JUDGEMENT_WORKERS": "0",
    }
    workers = [stack.start_worker(concurrency=2, ready=False, **env) for _ in range(2)]
    for worker in workers:
        worker.wait_ready()
    server.reset()

    flows = [generation.generate(ADMIN, session_id=w.session_id) for w in worlds]
    counts = generation.wait_for_flows(ADMIN, flow_ids=[f.flow_id for f in flows], timeout=180)

    assert counts["completed"] == 2 * per_client, (counts, stack.worker_logs()[-3000:])
    calls = _image_calls(server)
    assert [c.status for c in calls] == [200] * 2 * per_client  # no 429 from the stand-in
    assert server.spend_429s == 0
    # Never more than the ceiling billed in any window: at most three images in ten seconds.
    times = sorted(c.at for c in calls)
    for index in range(len(times) - 3):
        assert times[index + 3] - times[index] >= window_s - 1.0, times
    for worker in workers:
        assert "visualizer.generate_image[" in worker.log(), worker.log()[-3000:]
