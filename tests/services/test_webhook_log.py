"""The webhook delivery log: a client's latest deliveries, newest first, for its owners only.

The deliveries here go to a loopback address the outbound guard refuses (nothing leaves the
machine); a delivery that reaches a receiver is in ``tests/workers/test_webhooks.py``.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from visualizer_core import backends
from visualizer_core.db.models import Client, Flow
from visualizer_core.errors import Forbidden, InvalidInput, NotFound
from visualizer_core.scope import ADMIN, ClientScope, Role
from visualizer_core.services import clients, notify, sessions
from visualizer_core.services._uow import unit_of_work

# The guard refuses this URL when the delivery is made (credentials, loopback), so each delivery is
# recorded at once as failed, with the guard's reason, after no attempt.
REFUSED_URL = "https://hook-user:pw@127.0.0.1:8443/visualizer/hook?key=abc"


def client_with_webhook(name: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A client whose webhook points at :data:`REFUSED_URL`, and a session of it."""
    client = clients.create_client(ADMIN, name=f"{name} {uuid.uuid4().hex[:6]}")
    with unit_of_work() as db:
        row = db.get(Client, client.id)
        assert row is not None
        row.webhook_url, row.webhook_secret = REFUSED_URL, "a-secret-of-the-receiver-0123456789"
    session = sessions.create_session(ADMIN, client_id=client.id, name="Spring")
    return client.id, session.id


def new_flows(client_id: uuid.UUID, session_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    with unit_of_work() as db:
        flows = [
            Flow(client_id=client_id, studio_session_id=session_id, name=f"Flow {n}")
            for n in range(count)
        ]
        db.add_all(flows)
        db.flush()
        return [flow.id for flow in flows]


def owner_of(client_id: uuid.UUID, role: Role = Role.OWNER) -> ClientScope:
    return ClientScope(client_id=client_id, role=role, user_id=uuid.uuid4())


def test_the_log_keeps_the_last_50_deliveries_newest_first_with_what_happened(
    backend: backends.Backends,
) -> None:
    client_id, session_id = client_with_webhook("Brand")
    flows = new_flows(client_id, session_id, 6)
    made: list[uuid.UUID] = []  # the flow of each delivery, in the order they were made
    for _ in range(9):  # 54 deliveries in all, each flow keeping at most its last ten
        for flow_id in flows:
            assert notify.deliver_flow_webhook(flow_id) == "failed"
            made.append(flow_id)

    log = notify.delivery_log(owner_of(client_id), client_id=client_id)

    assert len(log) == 50
    assert [d.flow_id for d in log] == made[::-1][:50]
    assert [d.at for d in log] == sorted((d.at for d in log), reverse=True)
    newest = log[0]
    assert newest.at.tzinfo is not None
    assert dt.datetime.now(dt.UTC) - newest.at < dt.timedelta(minutes=5)
    assert newest.event == "flow.finished"
    assert newest.flow_name == "Flow 5" and newest.session_id == session_id
    # The receiver's host and port only: neither its path and query nor the credentials.
    assert newest.host == "127.0.0.1:8443"
    assert not newest.delivered and newest.status_code is None and newest.attempts == 0
    assert newest.error == "the URL may not carry a user name or password"  # the guard
    assert newest.duration_ms is not None and newest.duration_ms >= 0
    shown = repr(log)
    assert "hook-user" not in shown and "key=abc" not in shown

    assert len(notify.delivery_log(ADMIN, client_id=client_id, limit=5)) == 5
    with pytest.raises(InvalidInput):
        notify.delivery_log(ADMIN, client_id=client_id, limit=0)


def test_the_log_is_the_clients_own_and_its_owners_only(backend: backends.Backends) -> None:
    a, a_session = client_with_webhook("A")
    b, b_session = client_with_webhook("B")
    [a_flow] = new_flows(a, a_session, 1)
    [b_flow] = new_flows(b, b_session, 1)
    notify.deliver_flow_webhook(a_flow)
    notify.deliver_flow_webhook(b_flow)

    assert [d.flow_id for d in notify.delivery_log(owner_of(a), client_id=a)] == [a_flow]
    assert [d.flow_id for d in notify.delivery_log(owner_of(b), client_id=b)] == [b_flow]
    with pytest.raises(NotFound):
        notify.delivery_log(owner_of(a), client_id=b)
    for role in (Role.EDITOR, Role.VIEWER):
        with pytest.raises(Forbidden):
            notify.delivery_log(owner_of(a, role), client_id=a)
    # A client whose flows were never announced has an empty log.
    other = clients.create_client(ADMIN, name=f"Quiet {uuid.uuid4().hex[:6]}")
    assert notify.delivery_log(owner_of(other.id), client_id=other.id) == []
