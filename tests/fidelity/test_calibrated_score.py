"""Done when (issue 21): every drift kind is scored below the shipped auto-approve threshold,
and faithful renders above it, on pairs the calibration never saw.

The pairs are the ``test`` split of the project's labelled set
(:func:`visualizer_core.fidelity.examples.labelled_pairs`); the shipped calibration was fitted
by ``python -m visualizer_core.fidelity.fit`` on the ``fit`` split, which shares no product,
scene or seed with it. Each kind's pairs are the same products (index for index) as the
faithful ones, drifted.
"""

from __future__ import annotations

import functools
import statistics

import pytest

from visualizer_core.fidelity import default_calibration, measure
from visualizer_core.fidelity.examples import DRIFT_KINDS, labelled_pairs

PAIRS = 8  # of each kind


@functools.cache
def _scores(kind: str) -> tuple[float, ...]:
    return tuple(
        measure(example.product, example.image).score
        for example in labelled_pairs(PAIRS, split="test", only=kind)
    )


def test_the_shipped_calibration_approves_by_rule_at_its_stated_precision() -> None:
    calibration = default_calibration()
    assert calibration.threshold < 1.0, calibration.describe()  # auto-approve is possible
    assert calibration.precision >= calibration.target_precision == 0.97
    assert f"auto-approve at {calibration.threshold:.2f}" in calibration.describe()


def test_the_shipped_calibration_approves_half_the_faithful_renders() -> None:
    assert default_calibration().recall >= 0.5, default_calibration().describe()


def test_faithful_renders_are_approved_by_rule_and_score_above_every_drift() -> None:
    threshold = default_calibration().threshold
    scores = _scores("faithful")
    assert any(s >= threshold for s in scores), (scores, threshold)
    for kind in DRIFT_KINDS:
        assert statistics.median(scores) > statistics.median(_scores(kind)), kind


def test_faithful_renders_score_above_the_threshold() -> None:
    threshold = default_calibration().threshold
    scores = _scores("faithful")
    above = [s for s in scores if s >= threshold]
    assert len(above) >= PAIRS // 2, (scores, threshold)


@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_a_drifted_render_scores_below_the_threshold(kind: str) -> None:
    threshold = default_calibration().threshold
    scores = _scores(kind)
    assert all(s < threshold for s in scores), (kind, scores, threshold)
    # And well apart from the faithful renders of the same products.
    assert statistics.median(scores) < statistics.median(_scores("faithful")), scores
