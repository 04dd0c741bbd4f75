"""One calibrated score from the signals, and the auto-approve threshold with its precision.

The score is a logistic regression over the signals (:data:`FEATURES`, standardised), fitted on
labelled examples by iteratively reweighted least squares with a small ridge penalty, in numpy:
a handful of weights that a person can read, no hand weights and no extra dependency. It reads
as "the probability that a person would call this the same product".

The threshold is the lowest score at which the examples above it reach the target precision
(0.97 by default: at most 3 in 100 auto-approved images would have been rejected). For the
shipped calibration it is chosen on out-of-fold scores (each example scored by a model fitted
without it), so the precision stated is one the model earned on pairs it did not see.

A client's own review decisions (approved or rejected, with the signals of the image) move the
threshold once there are :data:`MIN_DECISIONS` of them: the weights stay the shipped ones, the
threshold becomes the lowest at which the client's judged images above it were approved at the
target precision. :meth:`Calibration.describe` says what it rests on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FEATURES",
    "MIN_DECISIONS",
    "SIGNALS_ONLY",
    "Calibration",
    "calibrate",
    "choose_threshold",
    "default_calibration",
    "features_of",
]

FEATURES: Final = (
    "delta_e",
    "delta_e_worst",
    "light_tint",
    "outline_iou",
    "aspect_change",
    "structure",
    "edges",
    "pattern",
    "pattern_worst",
    "detail",
    "visible",
    "missing",
    "location_confidence",
    "detail_excess",
    "pattern_gap",
)
MIN_DECISIONS: Final = 30  # a client's decisions needed before they move its threshold
NEVER: Final = 1.0  # the threshold when no score reaches the target precision (scores are < 1)
_RIDGE: Final = 1.0
_FOLDS: Final = 5
_MIN_ABOVE: Final = 5  # a threshold rests on at least this many examples above it
DATA_FILE: Final = "calibration.json"


def features_of(signals: Mapping[str, float]) -> NDArray[np.float64]:
    """The model's inputs from a measurement's signals (colour differences on a log scale),
    and two made from them: ``detail_excess``, detail well above the photo's (a background
    showing through where a part was), and ``pattern_gap``, how much worse the worst textured
    ninth is than the whole (a re-lettered label on an unchanged product)."""
    row = []
    for name in FEATURES:
        if name == "detail_excess":
            detail = float(signals.get("detail", 1.0))
            row.append(
                max(0.0, math.log(max(detail, 1e-3) / 1.1)) if math.isfinite(detail) else 0.0
            )
            continue
        if name == "pattern_gap":
            pattern = float(signals.get("pattern", 0.0))
            gap = pattern - float(signals.get("pattern_worst", pattern))  # none measured: none
            row.append(gap if math.isfinite(gap) else 0.0)
            continue
        value = float(signals.get(name, 0.0))
        if not math.isfinite(value):
            value = 0.0
        if name in ("delta_e", "delta_e_worst"):
            value = math.log1p(max(value, 0.0))
        elif name == "detail":
            value = math.log(min(max(value, 0.05), 3.0))
        row.append(value)
    return np.array(row, dtype=np.float64)


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    result: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))
    return result


def _fit(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Ridge logistic regression by Newton's method; x is standardised."""
    n, k = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    w = np.zeros(k + 1)
    penalty = np.eye(k + 1) * _RIDGE
    penalty[k, k] = 0.0  # the intercept is not shrunk
    for _ in range(50):
        p = _sigmoid(design @ w)
        gradient = design.T @ (p - y) + penalty @ w
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty + np.eye(k + 1) * 1e-9
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return w[:k], float(w[k])


def choose_threshold(
    scores: Sequence[float], labels: Sequence[bool], target: float
) -> tuple[float, float, float] | None:
    """The lowest threshold whose examples at or above it reach ``target`` precision, with that
    precision and the recall there; None when no threshold does."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    positives = int(y.sum())
    best = None
    for t in np.unique(s)[::-1]:
        above = s >= t
        count = int(above.sum())
        if count < _MIN_ABOVE:
            continue
        precision = float(y[above].sum()) / count
        if precision >= target:
            recall = float(y[above].sum()) / positives if positives else 0.0
            best = (float(t), precision, recall)
    return best


@dataclass(frozen=True)
class Calibration:
    """How signals become a 0..1 score, and the score from which images are approved by rule."""

    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float  # auto-approve at score >= threshold; NEVER (1.0) means no auto-approve
    precision: float  # the share of examples at or above the threshold that were approved
    recall: float  # the share of approved examples at or above the threshold
    decisions: int  # the examples (labelled pairs, or a client's decisions) it rests on
    source: str  # "shipped" (the project's labelled set) or "client" (the client's decisions)
    target_precision: float = 0.97
    features: tuple[str, ...] = FEATURES

    def score(self, signals: Mapping[str, float]) -> float:
        """The calibrated score of a measurement's signals; 0 when the product was not found."""
        if float(signals.get("found", 1.0)) < 0.5:
            return 0.0
        x = (features_of(signals) - np.array(self.mean)) / np.array(self.scale)
        z = float(x @ np.array(self.weights)) + self.bias
        return round(min(float(_sigmoid(np.array([z]))[0]), 0.9999), 4)

    def approves(self, score: float) -> bool:
        """Whether an image of this score is approved by rule."""
        return self.threshold < NEVER and score >= self.threshold

    def describe(self) -> str:
        """One sentence saying where the threshold is and what it rests on."""
        if self.threshold >= NEVER:
            whose = (
                "the images your team judged"
                if self.source == "client"
                else "the project's labelled pairs"
            )
            return (
                f"no auto-approve: no score reaches {self.target_precision:.0%} approved among "
                f"{whose} ({self.decisions} {'decisions' if self.source == 'client' else 'pairs'})"
            )
        if self.source == "client":
            return (
                f"auto-approve at {self.threshold:.2f}: {self.precision:.0%} of the images above "
                f"it that your team judged were approved ({self.decisions} decisions)"
            )
        return (
            f"auto-approve at {self.threshold:.2f}: {self.precision:.0%} of the images above it "
            f"were faithful in the project's labelled set ({self.decisions} pairs, scored by "
            "models fitted without them); your team's decisions take over from "
            f"{MIN_DECISIONS} on"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        data = asdict(self)
        for key in ("weights", "mean", "scale", "features"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """The calibration :meth:`to_dict` gave."""
        features = tuple(str(f) for f in data.get("features", FEATURES))
        if features != FEATURES:
            raise ValueError(f"a calibration over other signals ({', '.join(features)})")
        return cls(
            weights=tuple(float(v) for v in data["weights"]),
            bias=float(data["bias"]),
            mean=tuple(float(v) for v in data["mean"]),
            scale=tuple(float(v) for v in data["scale"]),
            threshold=float(data["threshold"]),
            precision=float(data["precision"]),
            recall=float(data["recall"]),
            decisions=int(data["decisions"]),
            source=str(data["source"]),
            target_precision=float(data.get("target_precision", 0.97)),
            features=features,
        )


def _fit_calibration(
    examples: Sequence[tuple[Mapping[str, float], bool]], target_precision: float
) -> Calibration:
    x = np.array([features_of(s) for s, _ in examples])
    y = np.array([1.0 if ok else 0.0 for _, ok in examples])
    if len(set(y.tolist())) < 2:
        raise ValueError("a calibration needs approved and rejected examples both")
    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    z = (x - mean) / scale
    found = np.array([float(s.get("found", 1.0)) >= 0.5 for s, _ in examples])
    # Out-of-fold scores for the threshold: each example scored by a model that never saw it.
    folds = np.arange(len(y)) % _FOLDS
    out_of_fold = np.zeros(len(y))
    for fold in range(_FOLDS):
        train = (folds != fold) & found
        if len(set(y[train].tolist())) < 2:
            out_of_fold[folds == fold] = 0.5
            continue
        w, b = _fit(z[train], y[train])
        out_of_fold[folds == fold] = _sigmoid(z[folds == fold] @ w + b)
    out_of_fold = np.where(found, np.minimum(out_of_fold, 0.9999), 0.0)
    weights, bias = _fit(z[found], y[found])
    chosen = choose_threshold(
        np.round(out_of_fold, 4).tolist(), y.astype(bool).tolist(), target_precision
    )
    threshold, precision, recall = chosen if chosen else (NEVER, 0.0, 0.0)
    return Calibration(
        weights=tuple(round(float(v), 6) for v in weights),
        bias=round(bias, 6),
        mean=tuple(round(float(v), 6) for v in mean),
        scale=tuple(round(float(v), 6) for v in scale),
        threshold=round(threshold, 4),
        precision=round(precision, 4),
        recall=round(recall, 4),
        decisions=len(y),
        source="shipped",
        target_precision=target_precision,
    )


def calibrate(
    examples: Sequence[tuple[Mapping[str, float], bool]],
    *,
    target_precision: float = 0.97,
    base: Calibration | None = None,
) -> Calibration:
    """A calibration from labelled examples: (a measurement's signals, approved or not).

    Without ``base``, the weights are fitted and the threshold chosen on out-of-fold scores
    (how the shipped calibration is made). With ``base`` (a client's decisions over the shipped
    calibration), its weights are kept and the threshold moves to the lowest score at which the
    decisions above it reach ``target_precision``; with fewer than :data:`MIN_DECISIONS`
    decisions ``base`` is returned unchanged.
    """
    if not 0.5 <= target_precision < 1.0:
        raise ValueError(f"target precision {target_precision} is not between 0.5 and 1")
    if base is None:
        return _fit_calibration(examples, target_precision)
    if len(examples) < MIN_DECISIONS:
        return base
    scores = [base.score(signals) for signals, _ in examples]
    labels = [bool(ok) for _, ok in examples]
    chosen = choose_threshold(scores, labels, target_precision)
    threshold, precision, recall = chosen if chosen else (NEVER, 0.0, 0.0)
    return replace(
        base,
        threshold=round(threshold, 4),
        precision=round(precision, 4),
        recall=round(recall, 4),
        decisions=len(examples),
        source="client",
        target_precision=target_precision,
    )


SIGNALS_ONLY: Final = Calibration(
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
"""Every weight 0 (every score 0.5, nothing approved): for measuring only the signals, as the
fit and the benchmark do, with no earlier calibration needed, or used."""


@lru_cache(maxsize=1)
def default_calibration() -> Calibration:
    """The shipped calibration (``calibration.json`` beside this module), fitted by
    ``python -m visualizer_core.fidelity.fit`` on the project's labelled set."""
    text = resources.files(__package__).joinpath(DATA_FILE).read_text(encoding="utf-8")
    return Calibration.from_dict(json.loads(text))
