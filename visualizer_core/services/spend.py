"""Spend: what the provider calls cost, from the ledger on the rows they served.

Every figure here is a sum of :class:`~visualizer_core.ai.usage.CallRecord` s: images (each
attempt, refused, retried and failed ones included), fidelity judgements, batch lines and the
analyses of products and scenes. So the totals of :func:`spend` by any grouping are the same,
and the image kinds add up to ``admin.generations().cost_usd.sum()``.

The headline is the **cost per approved image** (:func:`cost_per_approved`): what the paid
images cost divided by the approved images that spend made, per backend and model. Spend on
rejected images, failures and retries is in the numerator: it is what an approved image really
cost. Images made offline (the local backend) cost nothing and are counted apart, with their
own approvals, so that they neither dilute the paid figure nor disappear from the count of
approved images. The by-client and by-session rows keep the plain ratio of all spend (analysis
included) to all approvals there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Final, Literal

from sqlalchemy.orm import Session

from visualizer_core.ai.local import LocalAI
from visualizer_core.db import ledger, repo
from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import ImageStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import client_in_scope, own_client, unit_of_work

__all__ = [
    "GROUPINGS",
    "ApprovedCost",
    "SpendRow",
    "backend_of",
    "cost_per_approved",
    "cost_per_image",
    "paid_cost_per_approved",
    "spend",
]

Grouping = Literal["client", "day", "model", "kind", "session"]
GROUPINGS: Final[tuple[str, ...]] = ("client", "day", "model", "kind", "session")


@dataclass
class SpendRow:
    """One group of calls. ``approved`` and ``cost_per_approved_usd`` only by client/session."""

    key: str  # the client id, the day (YYYY-MM-DD), the model, the kind or the session id
    label: str  # what a person reads: the client's or session's name, else the key
    calls: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cost_usd: float = 0.0
    approved: int | None = None
    cost_per_approved_usd: float | None = None
    client_id: str | None = None
    kinds: dict[str, float] = field(default_factory=dict)  # cost by kind within the group
    judgements: int = 0  # fidelity judgement calls made
    judgements_saved: int | None = None  # by client/session: judgements the gate did not ask
    judgements_saved_usd: float | None = None  # what they would have cost (at the mean paid)


def spend(
    scope: Scope,
    *,
    client_id: uuid.UUID | str | None = None,
    since: dt.datetime | None = None,
    by: str = "client",
) -> list[SpendRow]:
    """The calls since ``since`` (all by default) grouped ``by`` client, day, model, kind or
    session, largest cost first (days in order). Owners see their client; the admin all."""
    if by not in GROUPINGS:
        raise InvalidInput(f"by={by!r}: group by one of {', '.join(GROUPINGS)}")
    scope.require(Action.MANAGE)
    cid = client_in_scope(scope, client_id)
    rows: dict[str, SpendRow] = {}
    with unit_of_work() as db:
        for call in ledger.calls(db, client_id=cid, since=since):
            record = call.record
            if by == "client":
                key, label = str(call.client_id), call.client_name
            elif by == "session":
                key = str(call.session_id) if call.session_id else "-"
                label = key if call.session_id else "catalog analysis (no session)"
            elif by == "day":
                key = record.at.astimezone(dt.UTC).date().isoformat()
                label = key
            elif by == "model":
                key = label = record.model
            else:
                key = label = record.kind.value
            row = rows.setdefault(key, SpendRow(key=key, label=label))
            if by in ("client", "session"):
                row.client_id = str(call.client_id)
            row.calls += 1
            row.failed += 0 if record.ok else 1
            row.input_tokens += record.tokens.input
            row.output_tokens += record.tokens.output
            row.thinking_tokens += record.tokens.thinking
            row.cost_usd += record.cost_usd
            row.kinds[record.kind.value] = row.kinds.get(record.kind.value, 0.0) + record.cost_usd
            row.judgements += 1 if record.kind.value == "judgement" else 0
        if by in ("client", "session"):
            approved = ledger.approved_counts(db, client_id=cid, since=since)
            _add_approved(db, rows, approved, by)
            _add_saved(rows, repo.judgements_saved(db, client_id=cid, since=since), by)
    for row in rows.values():
        row.cost_usd = round(row.cost_usd, 8)
    if by == "day":
        return sorted(rows.values(), key=lambda r: r.key)
    return sorted(rows.values(), key=lambda r: (-r.cost_usd, r.key))


def _add_approved(
    db: Session,
    rows: dict[str, SpendRow],
    approved: dict[tuple[uuid.UUID, uuid.UUID], int],
    by: str,
) -> None:
    per: dict[str, int] = defaultdict(int)
    for (cid, sid), count in approved.items():
        per[str(cid) if by == "client" else str(sid)] += count
    if by == "session":
        ids = [uuid.UUID(k) for k in rows if k != "-"]
        names = {str(s.id): s.name for s in repo.sessions_by_id(db, ids)}
        for key, row in rows.items():
            row.label = names.get(key, row.label)
    for key, row in rows.items():
        row.approved = per.get(key, 0)
        row.cost_per_approved_usd = row.cost_usd / row.approved if row.approved else None


def _add_saved(
    rows: dict[str, SpendRow], saved: dict[tuple[uuid.UUID, uuid.UUID], int], by: str
) -> None:
    """The judgement calls the gate saved (``fidelity_check: uncertain``), and their worth at
    the mean cost of the judgements that were paid in the group."""
    per: dict[str, int] = defaultdict(int)
    for (cid, sid), count in saved.items():
        per[str(cid) if by == "client" else str(sid)] += count
    for key, row in rows.items():
        row.judgements_saved = per.get(key, 0)
        paid = row.kinds.get("judgement", 0.0)
        if row.judgements and row.judgements_saved:
            row.judgements_saved_usd = round(row.judgements_saved * paid / row.judgements, 8)


@dataclass(frozen=True)
class CostPerImage:
    """What one image costs the client, from its recorded calls (for the Generate estimate)."""

    image_usd: float | None  # the mean recorded spend of a finished image (all its calls)
    samples: int


def cost_per_image(
    scope: Scope, *, client_id: uuid.UUID | str, model: str | None = None, economy: bool = False
) -> CostPerImage:
    """The mean spend of the client's recently finished images (``model``'s, when given):
    every call of each image counted, retries and judgements included. ``image_usd`` is None
    when there is no history yet. Economy images are averaged apart from standard ones."""
    scope.require(Action.READ)
    cid = own_client(scope, client_id)
    with unit_of_work() as db:
        costs = ledger.recent_image_costs(db, cid, model=model, economy=economy, limit=200)
    if not costs:
        return CostPerImage(None, 0)
    return CostPerImage(sum(costs) / len(costs), len(costs))


def backend_of(model: str) -> str:
    """The backend that made images with ``model``: ``offline`` (the local compositor) or
    ``gemini``."""
    return "offline" if model == LocalAI.image_model else "gemini"


@dataclass
class ApprovedCost:
    """What one model's images cost, and how many of them were approved."""

    backend: str
    model: str
    images: int = 0  # finished: completed or failed
    approved: int = 0
    cost_usd: float = 0.0

    @property
    def paid(self) -> bool:
        return self.cost_usd > 0

    @property
    def cost_per_approved_usd(self) -> float | None:
        """This model's spend divided by its approved images (None before any approval)."""
        return self.cost_usd / self.approved if self.approved else None


def cost_per_approved(
    scope: Scope, *, client_id: uuid.UUID | str | None = None, since: dt.datetime | None = None
) -> list[ApprovedCost]:
    """Per backend and model: the finished images (since ``since``), how many were approved,
    and what their recorded calls cost; by backend, then model. Owners see their client."""
    scope.require(Action.MANAGE)
    cid = client_in_scope(scope, client_id)
    rows: dict[str, ApprovedCost] = {}
    with unit_of_work() as db:
        for image in ledger.image_spend(db, client_id=cid, since=since):
            row = rows.setdefault(
                image.model, ApprovedCost(backend=backend_of(image.model), model=image.model)
            )
            row.images += 1
            row.approved += (
                image.review_state == "approved" and image.status == ImageStatus.COMPLETED
            )
            row.cost_usd += image.cost_usd
    for row in rows.values():
        row.cost_usd = round(row.cost_usd, 8)
    return sorted(rows.values(), key=lambda r: (r.backend, r.model))


def paid_cost_per_approved(rows: list[ApprovedCost]) -> float | None:
    """The headline: the paid models' spend divided by the images they made that were
    approved (None when no paid image was approved)."""
    paid = [r for r in rows if r.paid]
    approved = sum(r.approved for r in paid)
    return sum(r.cost_usd for r in paid) / approved if approved else None
