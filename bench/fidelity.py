"""Benchmark of fidelity: how well the calibrated score tells faithful pictures from drifted ones.

Run with ``python -m bench fidelity``. Measures :data:`PAIRS` pairs of the project's labelled
set (:mod:`visualizer_core.fidelity.examples`, the ``test`` split: half drifted, every drift
kind, none of them seen by the shipped calibration, which is fitted on the ``fit`` split) with
the shipped calibration, on one core (OpenCV's own threads off), and prints:

- ROC-AUC of the score (faithful = positive), and the share of pairs where the product was found;
- precision and recall at the auto-approve threshold (aims: precision >= 0.97 at recall >= 0.5);
- the mean score and the share auto-approved per kind (faithful, then each drift);
- milliseconds of CPU per image (product preparation included: every pair has its own product),
  median and 90th percentile (aim: under 300 ms).

``BENCH_FIDELITY_PAIRS`` changes the number of pairs (at least 300 for the figures quoted).
"""

from __future__ import annotations

import os
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from visualizer_core.fidelity import Calibration, default_calibration, measure
from visualizer_core.fidelity.calibration import FEATURES, NEVER
from visualizer_core.fidelity.examples import KINDS, labelled_pairs

PAIRS = int(os.environ.get("BENCH_FIDELITY_PAIRS", "300"))

# Only the signals are needed while measuring; the shipped calibration scores them after.
_SIGNALS_ONLY = Calibration(
    weights=(0.0,) * len(FEATURES),
    bias=0.0,
    mean=(0.0,) * len(FEATURES),
    scale=(1.0,) * len(FEATURES),
    threshold=NEVER,
    precision=0.0,
    recall=0.0,
    decisions=0,
    source="shipped",
)


@dataclass(frozen=True)
class Row:
    """One measured pair."""

    kind: str
    category: str
    signals: dict[str, float]
    found: bool
    cpu_ms: float


def measure_pairs(count: int) -> list[Row]:
    """The signals of ``count`` pairs of the test split, with the CPU time of each."""
    cv2.setNumThreads(1)
    rows = []
    for example in labelled_pairs(count, split="test"):
        started = time.process_time()
        measured = measure(example.product, example.image, calibration=_SIGNALS_ONLY)
        cpu_ms = (time.process_time() - started) * 1000
        rows.append(Row(example.kind, example.category, measured.signals, measured.found, cpu_ms))
    return rows


def roc_auc(scores: Sequence[float], positive: Sequence[bool]) -> float:
    """The probability that a random positive scores above a random negative (ties count 1/2)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positive, dtype=bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def report(rows: Sequence[Row], calibration: Calibration) -> list[str]:
    """The benchmark's lines for measured ``rows`` scored by ``calibration``."""
    scores = [calibration.score(r.signals) for r in rows]
    faithful = [r.kind == "faithful" for r in rows]
    approved = [calibration.approves(s) for s in scores]
    true_pos = sum(a and f for a, f in zip(approved, faithful, strict=True))
    precision = true_pos / sum(approved) if any(approved) else float("nan")
    recall = true_pos / sum(faithful) if any(faithful) else float("nan")
    lines = [
        f"pairs: {len(rows)} ({sum(faithful)} faithful, {len(rows) - sum(faithful)} drifted), "
        f"product found in {sum(r.found for r in rows) / len(rows):.0%}",
        f"ROC-AUC: {roc_auc(scores, faithful):.3f} (aim >= 0.95)",
        f"auto-approve threshold {calibration.threshold:.2f}: precision {precision:.3f} "
        f"(aim >= 0.97), recall {recall:.3f} (aim >= 0.5), {sum(approved)} approved",
        f"calibration: {calibration.describe()}",
    ]
    by_kind: dict[str, list[float]] = defaultdict(list)
    approved_kind: dict[str, int] = defaultdict(int)
    for row, score, ok in zip(rows, scores, approved, strict=True):
        by_kind[row.kind].append(score)
        approved_kind[row.kind] += ok
    for kind in KINDS:
        if by_kind[kind]:
            lines.append(
                f"  {kind:<13} n={len(by_kind[kind]):>3}  mean score {np.mean(by_kind[kind]):.2f}"
                f"  auto-approved {approved_kind[kind] / len(by_kind[kind]):.0%}"
            )
    cpu = [r.cpu_ms for r in rows]
    p90 = float(np.percentile(cpu, 90))
    lines.append(
        f"CPU per image (one core): median {statistics.median(cpu):.0f} ms, 90th percentile "
        f"{p90:.0f} ms (aim < 300 ms; load average {os.getloadavg()[0]:.1f})"
    )
    return lines


def main() -> None:
    """Run the benchmark and print its figures."""
    rows = measure_pairs(PAIRS)
    for line in report(rows, default_calibration()):
        print(line)
