"""The fidelity gate: which images can be trusted without a person looking.

Every generated image is measured (:mod:`visualizer_core.fidelity`): is the product in it,
unchanged? The measurement's calibrated score is compared with a threshold chosen for a stated
precision. The gate's verdict on an image (:func:`verdict`):

- **trusted**: scored at or above the threshold (or, in the uncertain band, the provider's
  judgement agreed it is the same product);
- **doubtful**: below the band, or the judgement said it changed;
- **uncertain**: in the band around the threshold with no judgement yet (``fidelity_check:
  uncertain`` asks the paid judgement for exactly these);
- **unscored**: nothing measured.

Approving *by rule* (in review, or per client at generation time) approves the trusted images,
marks them as approved by rule (``decided_by = "rule"``, with the run's ``rule_batch`` so a
run is undone in one step) and draws a share of each run for a person's spot check.

These helpers take an open database session or plain values: the scoped services
(:mod:`~visualizer_core.services.review`, :mod:`~visualizer_core.services.clients`) and the
worker steps (:mod:`~visualizer_core.services.jobs`) call them after their own checks.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from visualizer_core.db import repo

__all__ = ["SPOT_CHECK_SHARE", "draw_spot_checks", "new_batch", "spot_check_sample"]

SPOT_CHECK_SHARE = 0.1
"""The share of each rule run drawn for a person's spot check (at least one image)."""


def new_batch() -> str:
    """The id of a new run of an approval rule."""
    return uuid.uuid4().hex


def _draw(image_id: uuid.UUID) -> bytes:
    return hashlib.sha256(b"spot-check:" + image_id.bytes).digest()


def spot_check_sample(ids: Sequence[uuid.UUID], share: float = SPOT_CHECK_SHARE) -> list[uuid.UUID]:
    """The images of a rule run drawn for a spot check: ``share`` of them, at least one, by a
    fixed draw from their ids (a run drawn again draws the same)."""
    if not ids:
        return []
    count = min(len(ids), max(1, math.ceil(share * len(ids))))
    return sorted(ids, key=_draw)[:count]


def draw_spot_checks(db: Session, approved: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Mark the spot-check sample of a run's approvals; returns it."""
    sample = spot_check_sample(approved)
    if sample:
        repo.update_images(db, sample, spot_check=True)
    return sample
