"""Product fidelity: how faithfully the product appears in a generated image, 0 (lost) .. 1.

Reviewers sort a gallery by this score, lowest first, to see the likely-drifted images before
the rest. Two measures, one per AI backend:

- **Local** (the compositor knows where it put the product: ``meta["box"]``): the product's
  cut-out, scaled to that box, is compared with the box's pixels where the cut-out's alpha
  shows. The score is the geometric mean of a colour-histogram intersection (are the colours
  the product's, once a plausible change of light is undone?) and the structural similarity,
  SSIM, of the grey levels (are its shapes and edges there?), so that failing either one is
  drift. A product the compositor placed and relit scores about 0.85 or more; one drawn
  over, recoloured or missing scores below 0.35.
- **Gemini** (no box: the model placed the product where it liked): a judgement call to the
  text model with both images, answered as JSON ``{"score": 0..1, "reason": ...}``.

:func:`check_fidelity` picks the measure. A failed check never fails the image: it logs and
returns None (the score stays empty and sorts last).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from visualizer_core.errors import InvalidImage, ProviderError

__all__ = ["FidelityCheck", "FidelityJudge", "check_fidelity", "local_fidelity"]

log = logging.getLogger(__name__)

_HIST_BINS = 6  # per channel: 216 colour cells
_GAIN_RANGE = (0.75, 1.33)  # per-channel light changes forgiven before colours are compared
_SSIM_WINDOW = 7
_MIN_PIXELS = 16  # fewer visible product pixels than this: nothing to compare
_COMPARE_SIDE = 256  # long side, in pixels, of the copies that are compared
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


@dataclass(frozen=True)
class FidelityCheck:
    """A fidelity score and how it was reached."""

    score: float  # 0..1, higher is more faithful
    method: str  # "local-similarity" or "gemini-judgement"
    reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)  # tokens of a judgement call
    cost_usd: float = 0.0
    calls: list[Any] = field(default_factory=list)  # usage.CallRecord of each provider call


@runtime_checkable
class FidelityJudge(Protocol):
    """An AI backend that can judge fidelity itself (the Gemini backend)."""

    def judge_fidelity(self, product_image: bytes, generated_image: bytes) -> FidelityCheck:
        """Score how faithfully the product of the first image appears in the second."""
        ...


def _open(data: bytes, what: str, mode: str) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.convert(mode)
    except (OSError, ValueError) as error:
        raise InvalidImage(what, f"cannot be read ({error})") from None


def _histogram(pixels: NDArray[np.uint8]) -> NDArray[np.float64]:
    cells = (pixels.astype(np.int64) * _HIST_BINS) // 256
    index = (cells[:, 0] * _HIST_BINS + cells[:, 1]) * _HIST_BINS + cells[:, 2]
    counts = np.bincount(index, minlength=_HIST_BINS**3).astype(np.float64)
    share: NDArray[np.float64] = counts / max(float(counts.sum()), 1.0)
    return share


def _box_mean(values: NDArray[np.float64], size: int) -> NDArray[np.float64]:
    """The mean over every ``size`` x ``size`` window (valid positions only), by integral image."""
    total = np.pad(values, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)
    window = (
        total[size:, size:] - total[:-size, size:] - total[size:, :-size] + total[:-size, :-size]
    )
    result: NDArray[np.float64] = window / float(size * size)
    return result


def _ssim(a: NDArray[np.float64], b: NDArray[np.float64], weight: NDArray[np.float64]) -> float:
    """Mean structural similarity of two grey images, each window weighted by ``weight``."""
    size = min(_SSIM_WINDOW, a.shape[0], a.shape[1])
    mean_a, mean_b = _box_mean(a, size), _box_mean(b, size)
    var_a = _box_mean(a * a, size) - mean_a**2
    var_b = _box_mean(b * b, size) - mean_b**2
    cov = _box_mean(a * b, size) - mean_a * mean_b
    ssim_map = ((2 * mean_a * mean_b + _C1) * (2 * cov + _C2)) / (
        (mean_a**2 + mean_b**2 + _C1) * (var_a + var_b + _C2)
    )
    weights = _box_mean(weight, size)
    if weights.sum() <= 0:
        return 0.0
    return float((ssim_map * weights).sum() / weights.sum())


def local_fidelity(product_png: bytes, generated: bytes, box: Sequence[int]) -> float:
    """Similarity of the product cut-out and the ``box`` (left, top, right, bottom) it was put in.

    Raises :class:`~visualizer_core.errors.InvalidImage` for unreadable images; a box outside
    the image, or with nothing of the product visible in it, scores 0.0.
    """
    product = _open(product_png, "product image", "RGBA")
    picture = _open(generated, "generated image", "RGB")
    bbox = product.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if bbox is None:
        return 0.0
    product = product.crop(bbox)
    left, top, right, bottom = (int(v) for v in box[:4])
    left, top = max(left, 0), max(top, 0)
    right, bottom = min(right, picture.width), min(bottom, picture.height)
    full_w, full_h = int(box[2]) - int(box[0]), int(box[3]) - int(box[1])
    if right - left < 2 or bottom - top < 2 or full_w < 2 or full_h < 2:
        return 0.0
    # Compare at most _COMPARE_SIDE pixels on the long side: the score is about colours and
    # shapes, which a small copy keeps, and it costs a fraction of a full-size comparison.
    factor = min(1.0, _COMPARE_SIDE / max(full_w, full_h))
    scaled = product.resize(
        (max(2, round(full_w * factor)), max(2, round(full_h * factor))),
        Image.Resampling.BILINEAR,
        reducing_gap=2.0,
    )
    # The part of the box inside the picture (a product may hang off the frame's edge).
    inside = (
        round((left - int(box[0])) * factor),
        round((top - int(box[1])) * factor),
        round((right - int(box[0])) * factor),
        round((bottom - int(box[1])) * factor),
    )
    if inside[2] - inside[0] < 2 or inside[3] - inside[1] < 2:
        return 0.0
    scaled = scaled.crop(inside)
    crop = picture.crop((left, top, right, bottom))
    if crop.size != scaled.size:
        crop = crop.resize(scaled.size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    region = np.asarray(crop, dtype=np.uint8)
    reference = np.asarray(scaled, dtype=np.uint8)
    alpha = reference[..., 3].astype(np.float64) / 255.0
    visible = alpha > 0.5
    if int(visible.sum()) < _MIN_PIXELS:
        return 0.0
    ref_rgb = reference[..., :3][visible].astype(np.float64)
    out_rgb = region[visible].astype(np.float64)
    # The compositor (and any renderer) relights the product: undo a plausible white balance
    # and exposure change before comparing colours, but not a change of colour.
    gain = np.clip(out_rgb.mean(axis=0) / np.maximum(ref_rgb.mean(axis=0), 1.0), *_GAIN_RANGE)
    balanced = np.clip(ref_rgb * gain, 0, 255).astype(np.uint8)
    hist = float(np.minimum(_histogram(balanced), _histogram(out_rgb.astype(np.uint8))).sum())
    grey_weights = np.array([0.299, 0.587, 0.114])
    grey_ref = reference[..., :3].astype(np.float64) @ grey_weights
    grey_out = region.astype(np.float64) @ grey_weights
    # Outside the cut-out both sides show the generated picture, so only the product counts.
    grey_ref = grey_ref * alpha + grey_out * (1.0 - alpha)
    structure = max(_ssim(grey_ref, grey_out, visible.astype(np.float64)), 0.0)
    # A geometric mean: a product recoloured (same shapes) or redrawn (same colours) is drift.
    return round(min(max(float(np.sqrt(hist * structure)), 0.0), 1.0), 4)


def check_fidelity(
    ai: object,
    *,
    product_png: bytes,
    generated: bytes,
    meta: Mapping[str, Any],
    raise_errors: bool = False,
) -> FidelityCheck | None:
    """The fidelity of one generated image, by the measure that fits its backend, or None.

    ``meta`` is the generation result's: a ``box`` there means the product was placed by the
    compositor and is measured locally; otherwise a backend that can judge (Gemini) is asked.
    ``raise_errors`` lets a provider's failure through (the judgement task retries it).
    """
    box = meta.get("box")
    try:
        if isinstance(box, Sequence) and len(box) == 4:
            score = local_fidelity(product_png, generated, [int(v) for v in box])
            return FidelityCheck(score=score, method="local-similarity")
        # The backend itself if it judges fidelity, or the backend a wrapper holds.
        judges = (c for c in (ai, getattr(ai, "inner", None)) if isinstance(c, FidelityJudge))
        judge = next(judges, None)
        return None if judge is None else judge.judge_fidelity(product_png, generated)
    except ProviderError as error:
        if raise_errors:
            raise
        log.warning("fidelity check failed: %s", error)
        return None
    except InvalidImage as error:
        log.warning("fidelity check failed: %s", error)
        return None
    except Exception:  # a score is a nicety: a bug here must not fail a finished image
        log.exception("fidelity check failed unexpectedly")
        return None
