"""A client's monthly budget in USD, held against the spend ledger.

The admin sets it (:func:`set_monthly_budget`; ``visualizer client set-budget``,
``admin.set_monthly_budget``); it is kept in the client's settings. What the client spent is read
from the ledger and nowhere else: every provider call recorded on its images, products and
scenes since the calendar month (UTC) began (:func:`visualizer_core.db.ledger.client_spend_since`,
the records ``admin.spend()`` adds up). :func:`refuse_over_budget` holds a request to generate,
under the lock on the client row that the daily quota takes, to *spent + the estimate of the
images still queued + the estimate of the request <= budget*; the estimate of an image is
:func:`image_cost_usd`, the figure shown before "Generate".
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from visualizer_core import backends
from visualizer_core.ai import models
from visualizer_core.ai.spendlimit import month_end
from visualizer_core.ai.usage import BATCH_PRICE_FACTOR, estimate_cost
from visualizer_core.db import ledger, repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Client
from visualizer_core.errors import BudgetExceeded, InvalidInput
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import Action, Scope
from visualizer_core.services import spend
from visualizer_core.services._uow import client_row, unit_of_work

__all__ = ["MonthlyBudget", "monthly_budget", "set_monthly_budget"]

BUDGET_KEY = "monthly_budget_usd"  # in ``client.settings``; absent: no budget


def budget_of(client: Client) -> float | None:
    """The client row's monthly budget in USD, None when it has none."""
    value = (client.settings or {}).get(BUDGET_KEY)
    return None if value is None else float(value)


def _month_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class MonthlyBudget:
    """A client's budget for the calendar month (UTC) against what the spend ledger says it
    spent: ``spent_usd`` is the sum of every provider call recorded this month (images,
    retries and refusals, judgements, batch lines, analyses); ``queued_usd`` what its images
    still pending or generating are estimated at."""

    client_id: uuid.UUID
    client_name: str
    monthly_budget_usd: float | None
    spent_usd: float
    queued_usd: float
    month: str  # YYYY-MM
    resets_at: dt.datetime

    @property
    def left_usd(self) -> float | None:
        """What may still be spent this month (never below 0); None without a budget."""
        if self.monthly_budget_usd is None:
            return None
        return max(self.monthly_budget_usd - self.spent_usd - self.queued_usd, 0.0)


def set_monthly_budget(
    scope: Scope, *, client_id: uuid.UUID | str, monthly_budget_usd: float | None
) -> MonthlyBudget:
    """Set (or with None remove) the client's monthly budget in USD (admin only).

    A request to generate that the budget cannot take, with what was spent this month and
    what is still queued, is refused before anything is written (:class:`BudgetExceeded`).
    """
    scope.require(Action.ADMIN)
    if monthly_budget_usd is not None and not (
        math.isfinite(monthly_budget_usd) and monthly_budget_usd >= 0
    ):
        raise InvalidInput("the monthly budget must be a number of USD, 0 or more")
    with unit_of_work() as db:
        client = client_row(db, scope, client_id, lock=True)
        kept = {k: v for k, v in (client.settings or {}).items() if k != BUDGET_KEY}
        if monthly_budget_usd is not None:
            kept[BUDGET_KEY] = round(float(monthly_budget_usd), 6)
        client.settings = kept
        db.flush()
        cid = client.id
    return monthly_budget(scope, client_id=cid)


def _budget_state(
    db: Session, client: Client, *, per_image_usd: float, now: dt.datetime
) -> MonthlyBudget:
    start = _month_start(now)
    return MonthlyBudget(
        client_id=client.id,
        client_name=client.name,
        monthly_budget_usd=budget_of(client),
        spent_usd=ledger.client_spend_since(db, client.id, start),
        queued_usd=repo.open_images_of_client(db, client.id) * per_image_usd,
        month=start.strftime("%Y-%m"),
        resets_at=month_end(now),
    )


def monthly_budget(scope: Scope, *, client_id: uuid.UUID | str) -> MonthlyBudget:
    """The client's monthly budget, what the ledger says it spent this month and what its
    queued images are estimated at (owners and the admin)."""
    scope.require(Action.MANAGE)
    with unit_of_work() as db:
        cid = client_row(db, scope, client_id).id
    per_image = image_cost_usd(scope, client_id=cid)
    with unit_of_work() as db:
        client = client_row(db, scope, cid)
        return _budget_state(db, client, per_image_usd=per_image, now=utcnow())


def refuse_over_budget(
    db: Session, client: Client, *, images: int, request_usd: float, per_image_usd: float
) -> None:
    """Raise :class:`BudgetExceeded` when ``request_usd`` (the estimate of ``images`` new
    images) does not fit in what the client's monthly budget has left; nothing without a
    budget. Called inside the caller's unit of work, with the client row locked."""
    budget = budget_of(client)
    if budget is None:
        return
    state = _budget_state(db, client, per_image_usd=per_image_usd, now=utcnow())
    left = state.left_usd or 0.0
    if state.spent_usd + state.queued_usd + request_usd <= budget + 1e-9:
        return
    queued = f" and USD {state.queued_usd:,.2f} queued" if state.queued_usd > 0 else ""
    raise BudgetExceeded(
        f"{client.name} has USD {left:,.2f} of its monthly budget of USD {budget:,.2f} left"
        f" (USD {state.spent_usd:,.2f} spent in {state.month}{queued}); these {images} images"
        f" are estimated at USD {request_usd:,.2f}. Generate fewer products or variants, wait"
        f" for the month to end ({state.resets_at:%Y-%m-%d} UTC), or ask an admin to raise the"
        " monthly budget."
    )


# A typical fidelity judgement: two images and instructions in, a short JSON answer out.
TYPICAL_JUDGEMENT_TEXT = {"input_tokens": 200, "output_tokens": 40}


def _judgement_usage(text_model: str) -> dict[str, int]:
    info = models.lookup(text_model)
    per_input = info.input_image_tokens if info else 258
    usage = dict(TYPICAL_JUDGEMENT_TEXT)
    usage["input_tokens"] += 2 * per_input
    return usage


def _cost_per_image(
    scope: Scope, client_id: uuid.UUID, ai: Any, model: str, settings: FlowSettings
) -> float:
    if ai.name != "gemini":
        return 0.0
    factor = BATCH_PRICE_FACTOR if settings.economy else 1.0
    estimate = ai.estimate_cost if hasattr(ai, "estimate_cost") else estimate_cost
    recorded = spend.cost_per_image(
        scope, client_id=client_id, model=model, economy=settings.economy
    )
    if recorded.image_usd is not None:
        # The client's history is at the model's default size: what another size adds.
        default = models.typical_image_usage(model)
        chosen = models.typical_image_usage(model, settings.image_size)
        extra = estimate(model, chosen) - estimate(model, default)
        return recorded.image_usd + extra * factor
    image = estimate(model, models.typical_image_usage(model, settings.image_size))
    return image * factor + estimate(ai.text_model, _judgement_usage(ai.text_model))


def image_cost_usd(
    scope: Scope, *, client_id: uuid.UUID, settings: FlowSettings | None = None
) -> float:
    """What one image of ``settings`` is estimated to cost the client (USD, judgement and
    retries included; 0 on the free local backend): the figure :func:`estimate_generation`
    multiplies, and the one the monthly budget holds a request and its queued images to.
    Called after the caller's scope check, with the client's own id."""
    settings = settings or FlowSettings()
    ai = backends.current().ai
    return _cost_per_image(scope, client_id, ai, settings.model or ai.image_model, settings)
