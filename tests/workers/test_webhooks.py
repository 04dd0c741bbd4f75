"""Webhooks: a finished flow's summary, signed, retried with backoff, its failures on record."""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.plugin import wait_until
from tests.servers.celery_worker import QueueStack, make_world, queue_stack
from visualizer_core import backends, outbound, webhooks
from visualizer_core.config import load_settings
from visualizer_core.db.models import Client
from visualizer_core.errors import InvalidInput
from visualizer_core.outbound import parse_private_hosts
from visualizer_core.scope import ADMIN
from visualizer_core.services import clients, generation, notify

SECRET = "receiver-shared-secret-0123456789"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    def signature_ok(self, secret: str) -> bool:
        """What a receiver does: recompute the HMAC of "{timestamp}.{body}" and compare."""
        timestamp = self.headers["x-visualizer-timestamp"]
        expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256)
        return hmac.compare_digest(
            self.headers["x-visualizer-signature"], "sha256=" + expected.hexdigest()
        )


@dataclass
class Receiver:
    """A webhook receiver on loopback that answers the given statuses in turn, then 200."""

    answers: list[int]
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/visualizer"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.received.append(Received(headers, body))
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def wait_for(self, count: int, timeout: float = 60) -> None:
        wait_until(lambda: len(self.received) >= count, timeout, f"{count} webhook call(s)")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver(answers=[500]).start()
    try:
        yield started
    finally:
        started.stop()


# The receivers run on loopback, which the outbound guard refuses unless it is allowed, as an
# on-premise install allows its own hosts.
LOOPBACK = "127.0.0.1/32"


@pytest.fixture
def stack(s3_server: str, tmp_path: Path) -> Iterator[QueueStack]:
    with queue_stack(
        s3_server, tmp_path / "home", visualizer_private_hosts_allowed=LOOPBACK
    ) as built:
        yield built


@pytest.fixture
def embedded(tmp_path: Path, sqlite_template: Path) -> Iterator[backends.Backends]:
    """The embedded default, with the loopback receivers allowed."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "visualizer.db")
    built = backends.build(
        load_settings(visualizer_home=home, visualizer_private_hosts_allowed=LOOPBACK)
    )
    backends.activate(built)
    try:
        yield built
    finally:
        backends.reset()


def _wait_for_record(flow_id: Any, timeout: float = 60) -> dict[str, Any]:
    def recorded() -> dict[str, Any] | None:
        record = notify.webhook_deliveries(ADMIN, flow_id=flow_id)
        return record if record.get("status") else None

    found: dict[str, Any] = wait_until(recorded, timeout, "the delivery to be recorded")
    return found


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
def test_a_finished_flow_is_announced_signed_after_a_failed_first_try(
    stack: QueueStack, receiver: Receiver, tmp_path: Path
) -> None:
    world = make_world(tmp_path / "catalog", products_count=3)
    clients.set_webhook(ADMIN, client_id=world.client_id, url=receiver.url, secret=SECRET)
    stack.start_worker(concurrency=4, VISUALIZER_PRIVATE_HOSTS_ALLOWED=LOOPBACK)

    flow = generation.generate(ADMIN, session_id=world.session_id)
    generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=120)
    receiver.wait_for(2)  # the first answer was a 500: the worker tried again

    first, second = receiver.received
    assert first.body == second.body  # the same summary, signed afresh each time
    assert second.signature_ok(SECRET)
    assert not second.signature_ok("someone-elses-secret-0123456789")
    assert abs(int(second.headers["x-visualizer-timestamp"]) - time.time()) < 300
    summary = json.loads(second.body)
    assert summary["event"] == "flow.finished"
    assert summary["flow_id"] == str(flow.flow_id)
    assert summary["session_id"] == str(world.session_id)
    assert (summary["total"], summary["completed"], summary["error"]) == (3, 3, 0)

    record = _wait_for_record(flow.flow_id)
    assert record["status"] == "delivered"
    [delivery] = record["deliveries"]
    assert delivery["attempts"] == 2 and delivery["status_code"] == 200


def test_a_refused_delivery_is_on_record(embedded: backends.Backends, tmp_path: Path) -> None:
    refusing = Receiver(answers=[410]).start()  # 4xx: the receiver does not want it; no retry
    try:
        world = make_world(tmp_path / "catalog", products_count=1)
        clients.set_webhook(ADMIN, client_id=world.client_id, url=refusing.url, secret=SECRET)
        flow = generation.generate(ADMIN, session_id=world.session_id)  # the in-process queue
        generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=60)

        record = _wait_for_record(flow.flow_id)
        assert record["status"] == "failed"
        [delivery] = record["deliveries"]
        assert delivery["url"] == refusing.url
        assert delivery["status_code"] == 410
        assert "410" in delivery["error"]
        assert len(refusing.received) == 1
        # The owners' delivery log (Settings) shows the same delivery with its receiver's host.
        [logged] = notify.delivery_log(ADMIN, client_id=world.client_id)
        assert (logged.flow_id, logged.event, logged.status_code) == (
            flow.flow_id,
            "flow.finished",
            410,
        )
        assert logged.host == refusing.url.split("/")[2] and logged.attempts == 1
        assert not logged.delivered and logged.error == "the receiver answered 410"
        assert logged.duration_ms is not None and logged.duration_ms >= 0
    finally:
        refusing.stop()


def test_a_receiver_that_keeps_failing_is_given_up_on_after_the_attempts() -> None:
    failing = Receiver(answers=[503] * 10).start()
    try:
        checked = outbound.check_url(failing.url, allowed=parse_private_hosts(LOOPBACK))
        result = webhooks.deliver(
            checked, SECRET, {"event": "flow.finished"}, attempts=3, backoff_s=0.01
        )
    finally:
        failing.stop()
    assert not result.delivered
    assert result.attempts == 3 and len(failing.received) == 3
    assert result.status_code == 503
    assert result.error == "the receiver answered 503"


def test_stopping_the_in_process_queue_lets_a_webhook_under_retry_finish(
    embedded: backends.Backends, tmp_path: Path
) -> None:
    flaky = Receiver(answers=[503]).start()  # the first try fails; the retry comes a second later
    try:
        world = make_world(tmp_path / "catalog", products_count=1)
        clients.set_webhook(ADMIN, client_id=world.client_id, url=flaky.url, secret=SECRET)
        flow = generation.generate(ADMIN, session_id=world.session_id)  # the in-process queue
        generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=60)
        embedded.queue.close()  # as the studio or `visualizer worker` does when it stops

        assert len(flaky.received) == 2
        record = notify.webhook_deliveries(ADMIN, flow_id=flow.flow_id)
        assert record["status"] == "delivered"
        assert [d["status_code"] for d in record["deliveries"]][-1] == 200
    finally:
        flaky.stop()


# -- finding 6 of issue 12: the webhook was a port scanner into the studio's network -------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:6379/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://[::1]:5432/", "loopback"),
        ("http://0x7f000001/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("https://user:pw@10.0.0.1/", "user name or password"),
        ("https://93.184.215.14/hook\r\nX-Injected: 1", "control character"),
        ("gopher://127.0.0.1:6379/_INFO", "http:// or https://"),
    ],
)
def test_a_webhook_into_the_network_is_refused_when_it_is_set(
    backend: backends.Backends, tmp_path: Path, url: str, reason: str
) -> None:
    world = make_world(tmp_path / "catalog", products_count=1)
    with pytest.raises(InvalidInput) as caught:
        clients.set_webhook(ADMIN, client_id=world.client_id, url=url, secret=SECRET)
    assert reason in str(caught.value)
    with backend.transaction() as db:
        client = db.get(Client, world.client_id)
        assert client is not None and client.webhook_url is None


def test_the_url_is_checked_again_at_delivery(embedded: backends.Backends, tmp_path: Path) -> None:
    """A host that was fine when the webhook was set may point inside by the time a flow ends."""
    listener = Receiver(answers=[]).start()
    try:
        world = make_world(tmp_path / "catalog", products_count=1)
        clients.set_webhook(ADMIN, client_id=world.client_id, url=listener.url, secret=SECRET)
        # the same install, now without loopback allowed: the stored URL leads inside
        strict = backends.build(load_settings(visualizer_home=embedded.settings.visualizer_home))
        with backends.using(strict):
            flow = generation.generate(ADMIN, session_id=world.session_id)
            generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=60)
            record = _wait_for_record(flow.flow_id)
        strict.close()
    finally:
        listener.stop()
    assert record["status"] == "failed"
    [delivery] = record["deliveries"]
    assert delivery["attempts"] == 0 and delivery["status_code"] is None
    assert "loopback" in delivery["error"]
    assert listener.received == []
