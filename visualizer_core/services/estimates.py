"""What a generation will cost and how long it will take, shown before the button is pressed.

The time comes from the client's own recent images made with the chosen model (so on the
chosen backend: the median of their recorded total time) spread over the configured workers;
with no history yet, from a typical figure per backend. The cost is what the client's recent
images really cost, from the spend ledger (the mean of every call recorded on each finished
image: refusals, retries and fidelity judgements included, economy images averaged apart);
with no history yet, the provider's price for a typical image call and its judgement. The
local backend is free.
"""

from __future__ import annotations

import math
import statistics
import uuid
from dataclasses import dataclass

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import own_client, unit_of_work
from visualizer_core.services.budgets import image_cost_usd
from visualizer_core.services.generation import quota_left

__all__ = ["GenerationEstimate", "estimate_generation"]

# A typical image call: models.typical_image_usage (two input images counted as the adapter
# counts them, a short prompt, one picture of the flow's size). Used only to estimate; the real
# usage of each call is stored on its image.
TYPICAL_SECONDS = {"local": 0.5, "gemini": 12.0}
HISTORY = 50


@dataclass(frozen=True)
class GenerationEstimate:
    """The figures the studio shows next to the generate button."""

    images: int
    cost_usd: float
    seconds: float
    seconds_per_image: float
    quota_left: int
    model: str

    @property
    def within_quota(self) -> bool:
        return self.images <= self.quota_left


def estimate_generation(
    scope: Scope,
    *,
    client_id: uuid.UUID | str,
    products: int,
    settings: FlowSettings | None = None,
) -> GenerationEstimate:
    """Images, cost, time and the quota left for ``products`` x ``settings.variants`` images."""
    scope.require(Action.READ)
    if products < 0:
        raise InvalidInput("the number of products cannot be negative")
    settings = settings or FlowSettings()
    cid = own_client(scope, client_id)
    left = quota_left(scope, client_id=cid)
    current = backends.current()
    ai = current.ai
    model = settings.model or ai.image_model
    with unit_of_work() as db:
        recent = repo.recent_timings(db, cid, limit=HISTORY, model=model)
    totals = [float(t["total_s"]) for t in recent if t and "total_s" in t]
    per_image = statistics.median(totals) if totals else TYPICAL_SECONDS.get(ai.name, 10.0)
    images = products * settings.variants
    workers = max(current.settings.visualizer_workers, 1)
    return GenerationEstimate(
        images=images,
        cost_usd=images * image_cost_usd(scope, client_id=cid, settings=settings),
        seconds=math.ceil(images / workers) * per_image,
        seconds_per_image=per_image,
        quota_left=left,
        model=model,
    )
