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
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sqlalchemy.orm import Session

from visualizer_core.db import repo
from visualizer_core.fidelity import Calibration, calibrate, default_calibration

__all__ = [
    "JUDGED_SAME",
    "SPOT_CHECK_SHARE",
    "UNCERTAIN_BAND",
    "Verdict",
    "calibration_of",
    "draw_spot_checks",
    "drawn_for_spot_check",
    "in_band",
    "new_batch",
    "spot_check_sample",
    "verdict",
]

SPOT_CHECK_SHARE = 0.1
"""The share of each rule run drawn for a person's spot check (at least one image)."""
UNCERTAIN_BAND = 0.1
"""Scores within this distance of the threshold are uncertain: the paid judgement helps there."""
JUDGED_SAME = 0.8
"""A provider's judgement at or above this says "the same product" (its scale: 0.7 is drift)."""

Verdict = Literal["trusted", "doubtful", "uncertain", "unscored"]


def in_band(score: float, threshold: float) -> bool:
    """Whether a calibrated score is in the uncertain band around the threshold."""
    return threshold - UNCERTAIN_BAND <= score < threshold + UNCERTAIN_BAND


def verdict(
    score: float | None, fidelity: Mapping[str, Any] | None, calibration: Calibration
) -> Verdict:
    """The gate's word on one image from its score and measurement (see the module's text)."""
    if score is None:
        return "unscored"
    judgement = (fidelity or {}).get("judgement")
    judged = judgement.get("score") if isinstance(judgement, Mapping) else None
    if fidelity and "signals" in fidelity and in_band(score, calibration.threshold):
        if isinstance(judged, int | float):
            return "trusted" if judged >= JUDGED_SAME else "doubtful"
        if (fidelity or {}).get("judged") == "asked":
            return "uncertain"  # the judgement is on its way
    if fidelity is None or "signals" not in fidelity:
        return "doubtful"  # a provider's score alone (no measurement): never approved by rule
    return "trusted" if calibration.approves(score) else "doubtful"


# The client's calibration, by (client, the labels' count and latest change): recomputed only
# when a person's decision was added or changed.
_calibrations: OrderedDict[tuple[uuid.UUID, int, str], Calibration] = OrderedDict()
_calibrations_lock = threading.Lock()


def calibration_of(db: Session, client_id: uuid.UUID) -> Calibration:
    """The client's calibration: from its own review decisions once there are enough
    (:func:`~visualizer_core.fidelity.calibrate` over the shipped one), else the shipped one."""
    count, latest = repo.label_stamp(db, client_id)
    base = default_calibration()
    if count == 0:
        return base
    key = (client_id, count, str(latest))
    with _calibrations_lock:
        found = _calibrations.get(key)
    if found is not None:
        return found
    examples = [
        (signals, approved)
        for signals, approved in repo.review_labels(db, client_id)
        if signals  # decisions on images measured before the gate have no signals
    ]
    made = calibrate(examples, base=base)
    with _calibrations_lock:
        _calibrations[key] = made
        while len(_calibrations) > 256:
            _calibrations.popitem(last=False)
    return made


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


def drawn_for_spot_check(image_id: uuid.UUID, share: float = SPOT_CHECK_SHARE) -> bool:
    """Whether one image approved on its own (at generation time) is drawn for a spot check:
    the same fixed draw, ``share`` of the images."""
    return int.from_bytes(_draw(image_id)[:4], "big") / 2**32 < share


def draw_spot_checks(db: Session, approved: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """Mark the spot-check sample of a run's approvals; returns it."""
    sample = spot_check_sample(approved)
    if sample:
        repo.update_images(db, sample, spot_check=True)
    return sample
