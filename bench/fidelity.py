"""Benchmark of fidelity: how well the calibrated score tells faithful pictures from drifted ones.

Run with ``python -m bench fidelity``. Measures :data:`PAIRS` pairs of the project's labelled
set (:mod:`visualizer_core.fidelity.examples`, the ``test`` split: half drifted, every drift
kind, none of them seen by the shipped calibration, which is fitted on the ``fit`` split) with
the shipped calibration, on one core (OpenCV's own threads off), and prints:

- ROC-AUC of the score (faithful = positive), and the share of pairs where the product was found;
- precision and recall at the auto-approve threshold (aims: precision >= 0.97 at recall >= 0.5);
- the mean score and the share auto-approved per kind (faithful, then each drift);
- milliseconds of CPU per image (product preparation included: every pair has its own product),
  median and 90th percentile (aim: under 300 ms);
- pixel-exact: on :data:`PIXEL_EXACT_PICTURES` pictures drawn as the Gemini stand-in draws
  when told to drift (``tests/standins/drawing.py``: the same :func:`render` and :func:`drift`,
  a warm light, JPEG 90 to 95; recoloured, washed out, a part missing), the product found by
  the measurement and its own pixels put back: the PSNR of the product region of the final
  picture against the original cut-out, warped to where it was drawn and relit by the gains
  applied (aim: at least 35 dB).

``BENCH_FIDELITY_PAIRS`` changes the number of pairs (at least 300 for the figures quoted).
"""

from __future__ import annotations

import io
import os
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from visualizer_core.fidelity import Calibration, default_calibration, measure
from visualizer_core.fidelity.calibration import SIGNALS_ONLY
from visualizer_core.fidelity.examples import (
    CATEGORIES,
    KINDS,
    ROOMS,
    drift,
    labelled_pairs,
    make_product,
    render,
)
from visualizer_core.images.pixel_exact import composite_product, psnr

PAIRS = int(os.environ.get("BENCH_FIDELITY_PAIRS", "300"))
PIXEL_EXACT_PICTURES = 24
PIXEL_EXACT_DRIFTS = ("recolour", "washed_out", "part_missing")
_PIXEL_EXACT_SEED = 2_000_003  # products and scenes of neither split


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
        measured = measure(example.product, example.image, calibration=SIGNALS_ONLY)
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


def pixel_exact(count: int) -> list[str]:
    """The pixel-exact lines: ``count`` drifted pictures drawn as the stand-in draws them, the
    product found (no placement given) and composited back; PSNR of its region."""
    from visualizer_core.demo.art import draw_room

    results: dict[str, list[float]] = defaultdict(list)
    notes: dict[str, list[str]] = defaultdict(list)
    for index in range(count):
        seed = _PIXEL_EXACT_SEED + index
        rng = random.Random(seed)
        kind = PIXEL_EXACT_DRIFTS[index % len(PIXEL_EXACT_DRIFTS)]
        category = rng.choice(CATEGORIES)
        colour = (rng.randrange(40, 220), rng.randrange(40, 220), rng.randrange(40, 220))
        cutout = make_product(category, colour=colour, seed=seed)
        with Image.open(io.BytesIO(draw_room(rng.choice(ROOMS), seed=seed, size=(1024, 768)))) as s:
            scene = s.convert("RGB")
        drawn = drift(kind, cutout, rng)
        picture, placement = render(
            drawn, scene, rng, height_share=(0.35, 0.55), perspective=0.04,
            jpeg_quality=(90, 95), light=(1.08, 1.0, 0.9),
        )  # fmt: skip
        product = io.BytesIO()
        cutout.save(product, "PNG")
        measured = measure(product.getvalue(), picture)
        done = composite_product(
            product.getvalue(),
            picture,
            homography=measured.homography,
            found=measured.found,
            location_confidence=measured.location_confidence,
            light=measured.light,
        )
        if not done.applied or done.image is None:
            notes[kind].append(done.note)
            continue
        final = np.asarray(Image.open(io.BytesIO(done.image)).convert("RGB"))
        height, width = final.shape[:2]
        source = np.array([(0, 0), (cutout.width, 0), cutout.size, (0, cutout.height)], np.float32)
        place = cv2.getPerspectiveTransform(source, np.array(placement.corners, np.float32))
        rgba = np.asarray(cutout).astype(np.float32)
        warped = cv2.warpPerspective(rgba, place, (width, height), flags=cv2.INTER_LINEAR)
        core = cv2.erode((warped[..., 3] > 250).astype(np.uint8), np.ones((9, 9), np.uint8))
        expected = np.clip(warped[..., :3] * np.array(done.gains, np.float32), 0, 255)
        results[kind].append(psnr(final, expected.astype(np.uint8), core.astype(bool)))
    all_psnr = [v for values in results.values() for v in values]
    lines = [
        f"pixel-exact on {count} drifted pictures drawn as the stand-in draws them: applied to "
        f"{len(all_psnr)}, product region PSNR median "
        f"{statistics.median(all_psnr) if all_psnr else float('nan'):.1f} dB, lowest "
        f"{min(all_psnr) if all_psnr else float('nan'):.1f} dB (aim >= 35 dB)"
    ]
    for kind in PIXEL_EXACT_DRIFTS:
        values = results[kind]
        median = f"{statistics.median(values):.1f} dB" if values else "-"
        lines.append(
            f"  {kind:<13} applied {len(values)}/{len(values) + len(notes[kind])}, "
            f"PSNR median {median}"
            + (f"; not applied: {'; '.join(sorted(set(notes[kind])))}" if notes[kind] else "")
        )
    return lines


def main() -> None:
    """Run the benchmark and print its figures."""
    rows = measure_pairs(PAIRS)
    for line in report(rows, default_calibration()):
        print(line)
    for line in pixel_exact(PIXEL_EXACT_PICTURES):
        print(line)
