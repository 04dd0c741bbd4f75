"""Fits the shipped calibration: ``python -m visualizer_core.fidelity.fit [--pairs N]``.

Measures the ``fit`` split of the project's labelled set (:mod:`visualizer_core.fidelity.examples`,
never the ``test`` split that the benchmark and the tests measure on), fits the score's weights
and chooses the threshold on out-of-fold scores (:func:`~visualizer_core.fidelity.calibrate`),
and writes ``calibration.json`` beside this module. Prints what it fitted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from visualizer_core.fidelity.calibration import DATA_FILE, SIGNALS_ONLY, Calibration, calibrate
from visualizer_core.fidelity.examples import labelled_pairs
from visualizer_core.fidelity.measure import measure

__all__ = ["fit", "main"]


def fit(pairs: int, *, target_precision: float = 0.97) -> Calibration:
    """The calibration fitted on ``pairs`` pairs of the ``fit`` split."""
    examples = []
    for example in labelled_pairs(pairs, split="fit"):
        measured = measure(example.product, example.image, calibration=SIGNALS_ONLY)
        examples.append((measured.signals, example.faithful))
    return calibrate(examples, target_precision=target_precision)


def main(argv: list[str] | None = None) -> int:
    """Fit and write the shipped calibration."""
    parser = argparse.ArgumentParser(prog="python -m visualizer_core.fidelity.fit")
    parser.add_argument("--pairs", type=int, default=600, help="pairs of the fit split to use")
    parser.add_argument("--target-precision", type=float, default=0.97)
    args = parser.parse_args(argv)
    calibration = fit(args.pairs, target_precision=args.target_precision)
    path = Path(__file__).with_name(DATA_FILE)
    path.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n", encoding="utf-8")
    print(calibration.describe())
    print(f"recall at the threshold: {calibration.recall:.0%}; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
