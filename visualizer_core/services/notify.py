"""Telling a client that a flow finished: the webhook, and the record of each delivery."""

from __future__ import annotations

import uuid
from typing import Any

from visualizer_core import outbound, webhooks
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Client, Flow
from visualizer_core.errors import InvalidInput
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import in_scope, unit_of_work

# ``deliver_flow_webhook`` is the queue's task, not part of the services' public API: it takes
# no scope, only ids the queue dispatched itself.
__all__ = ["flow_summary", "webhook_deliveries"]


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
    try:  # checked again now: the name may resolve elsewhere than when it was registered
        checked = outbound.check_url(url)
    except InvalidInput as refused:
        result = webhooks.Delivery(False, 0, None, str(refused))
    else:
        result = webhooks.deliver(checked, secret, payload, attempts=attempts, backoff_s=backoff_s)
    record = {
        "url": outbound.redact(url),
        "delivered": result.delivered,
        "attempts": result.attempts,
        "status_code": result.status_code,
        "error": result.error,
        "at": utcnow().isoformat(),
    }
    with unit_of_work() as db:
        flow = repo.get(db, Flow, flow_id, client_id=None, lock=True)
        if flow is not None:
            history = list((flow.webhook or {}).get("deliveries", []))
            flow.webhook = {
                "status": "delivered" if result.delivered else "failed",
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
