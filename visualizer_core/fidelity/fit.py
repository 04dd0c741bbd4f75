"""Fits the shipped calibration: ``python -m visualizer_core.fidelity.fit [--pairs N] [--jobs J]``.

Measures the ``fit`` split of the project's labelled set (:mod:`visualizer_core.fidelity.examples`,
never the ``test`` split that the benchmark and the tests measure on), fits the score's weights
and chooses the threshold on out-of-fold scores (:func:`~visualizer_core.fidelity.calibrate`),
and writes ``calibration.json`` beside this module. Prints what it fitted. ``--jobs`` measures
in that many processes (the pairs and the result are the same).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from pathlib import Path

import cv2

from visualizer_core.fidelity.calibration import DATA_FILE, SIGNALS_ONLY, Calibration, calibrate
from visualizer_core.fidelity.examples import Example, labelled_pairs
from visualizer_core.fidelity.measure import measure

__all__ = ["fit", "main"]


def _signals(example: Example) -> tuple[dict[str, float], bool]:
    cv2.setNumThreads(1)
    measured = measure(example.product, example.image, calibration=SIGNALS_ONLY)
    return measured.signals, example.faithful


def fit(pairs: int, *, target_precision: float = 0.97, jobs: int = 1) -> Calibration:
    """The calibration fitted on ``pairs`` pairs of the ``fit`` split, measured in ``jobs``
    processes."""
    examples = labelled_pairs(pairs, split="fit")
    if jobs <= 1:
        measured = [_signals(example) for example in examples]
    else:  # spawned, not forked: OpenCV's threads do not survive a fork
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            measured = pool.map(_signals, examples, chunksize=4)
    return calibrate(measured, target_precision=target_precision)


def main(argv: list[str] | None = None) -> int:
    """Fit and write the shipped calibration."""
    parser = argparse.ArgumentParser(prog="python -m visualizer_core.fidelity.fit")
    parser.add_argument("--pairs", type=int, default=1200, help="pairs of the fit split to use")
    parser.add_argument("--target-precision", type=float, default=0.97)
    parser.add_argument("--jobs", type=int, default=1, help="processes measuring the pairs")
    args = parser.parse_args(argv)
    calibration = fit(args.pairs, target_precision=args.target_precision, jobs=args.jobs)
    path = Path(__file__).with_name(DATA_FILE)
    path.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n", encoding="utf-8")
    print(calibration.describe())
    print(f"recall at the threshold: {calibration.recall:.0%}; written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
