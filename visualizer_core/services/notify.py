"""Telling a client that a flow finished: the webhook, and the record of each delivery.

Each delivery is kept on its flow (``flow.webhook``, the flow's last ten); the client's owners
read the client's latest deliveries across its flows with :func:`delivery_log` (the Settings
page shows the last 50).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from visualizer_core import outbound, webhooks
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Client, Flow
from visualizer_core.errors import InvalidInput
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import in_scope, own_client, read_only, unit_of_work

# ``deliver_flow_webhook`` is the queue's task, not part of the services' public API: it takes
# no scope, only ids the queue dispatched itself.
__all__ = [
    "DELIVERY_LOG_LENGTH",
    "WebhookDelivery",
    "delivery_log",
    "flow_summary",
    "webhook_deliveries",
]

DELIVERY_LOG_LENGTH = 50
"""How many of a client's latest deliveries :func:`delivery_log` gives by default."""


def flow_summary(flow: Flow, counts: dict[str, int]) -> dict[str, Any]:
    """The JSON body of the ``flow.finished`` webhook."""
    return {
        "event": "flow.finished",
        "flow_id": str(flow.id),
        "session_id": str(flow.studio_session_id),
        "client_id": str(flow.client_id),
        "finished_at": flow.finished_at.isoformat() if flow.finished_at else None,
        "total": counts["total"],
        "completed": counts["completed"],
        "error": counts["error"],
    }


def deliver_flow_webhook(
    flow_id: uuid.UUID,
    *,
    attempts: int = webhooks.ATTEMPTS,
    backoff_s: float = webhooks.BACKOFF_S,
) -> str:
    """Deliver the finished flow's webhook, if its client has one; record how it went.

    Each delivery (its attempts, the receiver's last status, the error) is kept on
    ``flow.webhook``, the last ten of them, with ``status`` ``delivered`` or ``failed``.
    Internal: called by the queue's background delivery, never by a person.
    """
    with unit_of_work() as db:
        flow = repo.get(db, Flow, flow_id, client_id=None)
        if flow is None:
            return "no flow"
        client = repo.get(db, Client, flow.client_id, client_id=None)
        if client is None or not client.webhook_url or not client.webhook_secret:
            return "no webhook"
        url, secret = client.webhook_url, client.webhook_secret
        payload = flow_summary(flow, repo.status_counts(db, flow_ids=[flow.id]))
    started = time.monotonic()
    try:  # checked again now: the name may resolve elsewhere than when it was registered
        checked = outbound.check_url(url)
    except InvalidInput as refused:
        result = webhooks.Delivery(False, 0, None, str(refused))
    else:
        result = webhooks.deliver(checked, secret, payload, attempts=attempts, backoff_s=backoff_s)
    at = utcnow().isoformat()
    record = {
        "url": outbound.redact(url),
        "event": payload["event"],
        "delivered": result.delivered,
        "attempts": result.attempts,
        "status_code": result.status_code,
        "error": result.error,
        "duration_ms": round((time.monotonic() - started) * 1000),
        "at": at,
    }
    with unit_of_work() as db:
        flow = repo.get(db, Flow, flow_id, client_id=None, lock=True)
        if flow is not None:
            history = list((flow.webhook or {}).get("deliveries", []))
            flow.webhook = {
                "status": "delivered" if result.delivered else "failed",
                "last_at": at,
                "deliveries": [*history, record][-10:],
            }
    return "delivered" if result.delivered else "failed"


def webhook_deliveries(scope: Scope, *, flow_id: uuid.UUID | str) -> dict[str, Any]:
    """How the flow's webhook went: ``{"status", "deliveries": [...]}``; empty before any.

    Owners and the admin only: the receiver's status codes and errors say things about the
    receiver's network that viewers and editors have no need to see. No response body is kept.
    """
    scope.require(Action.MANAGE)
    with unit_of_work() as db:
        flow = in_scope(db, scope, Flow, flow_id, "flow")
        return dict(flow.webhook or {})


@dataclass(frozen=True)
class WebhookDelivery:
    """One delivery of a client's webhook, as its owners see it in the delivery log.

    ``host`` is the receiver's host (and port), never the path or credentials of its URL;
    ``status_code`` the receiver's last answer (None when none came), ``error`` why it was not
    delivered; ``duration_ms`` the time from the first attempt to the last answer, the waits
    between attempts included (None for deliveries recorded before it was measured).
    """

    at: dt.datetime
    flow_id: uuid.UUID
    session_id: uuid.UUID
    flow_name: str | None
    event: str
    host: str
    delivered: bool
    status_code: int | None
    error: str | None
    attempts: int
    duration_ms: int | None


def _host(url: str) -> str:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return ""
    return netloc.rpartition("@")[2]


def _delivery(flow: Flow, record: dict[str, Any]) -> WebhookDelivery:
    duration = record.get("duration_ms")
    return WebhookDelivery(
        at=dt.datetime.fromisoformat(record["at"]),
        flow_id=flow.id,
        session_id=flow.studio_session_id,
        flow_name=flow.name,
        event=str(record.get("event") or "flow.finished"),
        host=_host(str(record.get("url") or "")),
        delivered=bool(record.get("delivered")),
        status_code=record.get("status_code"),
        error=record.get("error"),
        attempts=int(record.get("attempts") or 0),
        duration_ms=None if duration is None else int(duration),
    )


def delivery_log(
    scope: Scope, *, client_id: uuid.UUID | str, limit: int = DELIVERY_LOG_LENGTH
) -> list[WebhookDelivery]:
    """The client's latest webhook deliveries across its flows, newest first (at most ``limit``).

    Owners and the admin only, like :func:`webhook_deliveries`: the receiver's answers and
    errors are the owners' business. Another client's id is not found.
    """
    scope.require(Action.MANAGE)
    cid = own_client(scope, client_id)
    if not 1 <= limit <= 500:
        raise InvalidInput("the delivery log shows between 1 and 500 deliveries")
    with read_only() as db:
        flows = repo.flows_with_webhook_deliveries(db, cid, limit=limit)
        found = [
            _delivery(flow, record)
            for flow in flows
            for record in (flow.webhook or {}).get("deliveries", [])
        ]
    found.sort(key=lambda d: d.at, reverse=True)
    return found[:limit]
