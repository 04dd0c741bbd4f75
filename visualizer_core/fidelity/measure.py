"""Measuring one picture: find the product, compare only it, one calibrated score and reasons.

:func:`measure` takes the product (its cut-out with transparency, as the ingest stores it, or a
photo on a plain light background) and the picture, both as bytes or Pillow images. A product
that is not in the picture gives ``found=False`` and a score of 0; unreadable images raise
:class:`~visualizer_core.errors.InvalidImage` naming which. The product's preparation (mask,
keypoints) is kept for the last few products, so that scoring many pictures of one product
prepares it once.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from visualizer_core.errors import InvalidImage
from visualizer_core.fidelity.calibration import Calibration, default_calibration
from visualizer_core.fidelity.compare import compare
from visualizer_core.fidelity.locate import Location, PreparedProduct, locate, prepare_product

__all__ = ["Measurement", "measure", "reasons_for"]

PRODUCT_MAX_SIDE: Final = 1024  # the cut-out is worked on at most this large
PICTURE_MAX_SIDE: Final = 1600  # and the picture
_CACHE_SIZE: Final = 16
_BORDER_TOLERANCE: Final = 24  # a plain background: border pixels this close to their median


@dataclass(frozen=True)
class Measurement:
    """How faithfully the product appears in a picture, with where it is and why."""

    score: float  # calibrated 0..1 (0 when not found)
    auto_approve: bool  # score >= calibration.threshold
    found: bool
    location_confidence: float  # 0..1
    outline: list[tuple[float, float]]  # the product's silhouette in the picture; [] if not found
    homography: list[list[float]] | None  # 3x3: product image pixels (as given) -> picture
    light: list[float] | None  # fitted light change product -> picture: gain per R, G, B
    signals: dict[str, float]
    reasons: list[str]
    method: str  # "keypoints" | "template" | "box" | "not-found"
    threshold: float = 1.0  # the calibration's threshold this was judged against
    product_size: tuple[int, int] = (0, 0)  # the product image's (width, height), as given
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the worst place of colour drift

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for storing with the image."""
        return {
            "score": self.score,
            "auto_approve": self.auto_approve,
            "found": self.found,
            "location_confidence": self.location_confidence,
            "outline": [[round(x, 2), round(y, 2)] for x, y in self.outline],
            "homography": self.homography,
            "light": self.light,
            "signals": dict(self.signals),
            "reasons": list(self.reasons),
            "method": self.method,
            "threshold": self.threshold,
            "product_size": list(self.product_size),
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


# -- reading the inputs ---------------------------------------------------------------------------


def _open(data: Image.Image | bytes, what: str) -> Image.Image:
    if isinstance(data, Image.Image):
        return data
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidImage(what, f"is a {type(data).__name__}, not image bytes or a Pillow image")
    try:
        with Image.open(io.BytesIO(bytes(data))) as image:
            image.load()
            return ImageOps.exif_transpose(image)
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise InvalidImage(what, f"cannot be read ({error})") from None


def _plain_background_mask(rgb: NDArray[np.uint8]) -> NDArray[np.uint8] | None:
    """255 on the product of a photo on a plain background (the border's colour), else None."""
    h, w = rgb.shape[:2]
    edge = max(2, min(h, w) // 100)
    ring = np.concatenate(
        [
            rgb[:edge].reshape(-1, 3),
            rgb[-edge:].reshape(-1, 3),
            rgb[:, :edge].reshape(-1, 3),
            rgb[:, -edge:].reshape(-1, 3),
        ]
    ).astype(np.int16)
    colour = np.median(ring, axis=0)
    close_ring = np.abs(ring - colour).max(axis=1) <= _BORDER_TOLERANCE
    if close_ring.mean() < 0.9:
        return None
    distance = np.abs(rgb.astype(np.int16) - colour.astype(np.int16)).max(axis=2)
    near = (distance <= _BORDER_TOLERANCE).astype(np.uint8)
    # Background: near the border colour and connected to the border.
    _count, labels = cv2.connectedComponents(near, connectivity=4)
    border_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, border_labels[border_labels > 0]) & (near > 0)
    mask = np.where(background, 0, 255).astype(np.uint8)
    if int(np.count_nonzero(mask)) < max(64, mask.size // 500):
        return None
    return mask


def _product_arrays(image: Image.Image) -> PreparedProduct:
    """The product's colours and mask (255 on it), cropped to it, at most PRODUCT_MAX_SIDE."""
    rgba = np.asarray(image.convert("RGBA"))
    alpha = rgba[..., 3]
    rgb = np.ascontiguousarray(rgba[..., :3])
    if int(alpha.min()) < 250:
        mask = np.where(alpha > 127, 255, 0).astype(np.uint8)
    else:
        plain = _plain_background_mask(rgb)
        mask = plain if plain is not None else np.full(alpha.shape, 255, np.uint8)
    ys, xs = np.nonzero(mask)
    if len(ys) < 16:
        raise InvalidImage("product image", "shows no product (it is empty or transparent)")
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgb, mask = rgb[top:bottom, left:right], mask[top:bottom, left:right]
    scale = min(1.0, PRODUCT_MAX_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_AREA)
        mask = np.where(mask > 127, 255, 0).astype(np.uint8)
    return prepare_product(
        np.ascontiguousarray(rgb),
        np.ascontiguousarray(mask),
        offset=(int(left), int(top)),
        scale=scale,
        source_size=(image.width, image.height),
    )


_prepared: OrderedDict[str, PreparedProduct] = OrderedDict()
_prepared_lock = threading.Lock()


def _prepare(product: Image.Image | bytes) -> PreparedProduct:
    if isinstance(product, Image.Image):
        key = hashlib.sha1(
            product.tobytes() + repr((product.mode, product.size)).encode()
        ).hexdigest()
    else:
        key = hashlib.sha1(bytes(product)).hexdigest()
    with _prepared_lock:
        cached = _prepared.get(key)
        if cached is not None:
            _prepared.move_to_end(key)
            return cached
    prepared = _product_arrays(_open(product, "product image"))
    with _prepared_lock:
        _prepared[key] = prepared
        while len(_prepared) > _CACHE_SIZE:
            _prepared.popitem(last=False)
    return prepared


def _picture_array(image: Image.Image) -> tuple[NDArray[np.uint8], float]:
    """The picture as RGB, at most PICTURE_MAX_SIDE, and the factor it was scaled by."""
    rgb = np.asarray(image.convert("RGB"))
    scale = min(1.0, PICTURE_MAX_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:
        size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(rgb), scale


# -- reasons --------------------------------------------------------------------------------------


def reasons_for(signals: dict[str, float], *, found: bool, place: str = "") -> list[str]:
    """What a person would say about the product in the picture, from the signals."""
    if not found:
        return ["product not found in the picture"]
    reasons = []
    delta_e, worst = signals.get("delta_e", 0.0), signals.get("delta_e_worst", 0.0)
    iou = signals.get("outline_iou", 1.0)
    missing = signals.get("missing", 0.0)
    # Where the product should be, the picture shows its surroundings: a part is gone (and
    # the colour there differs because it is the wall's, not because it was recoloured).
    gone = missing >= 0.15 and iou < 0.7
    if gone:
        reasons.append(f"part of the product missing: {missing:.0%} of it shows what is behind")
    elif delta_e >= 8:
        reasons.append(f"colour changed: ΔE {delta_e:.0f} on the product")
    elif worst >= 14:
        where = f"the product's {place}" if place and place != "middle" else "part of the product"
        reasons.append(f"colour changed: ΔE {worst:.0f} on {where}")
    aspect = signals.get("aspect_change", 0.0)
    if aspect >= 0.15:
        reasons.append(f"proportions changed: {np.expm1(aspect):.0%} longer along one side")
    if iou < 0.7 and not gone:
        reasons.append(f"outline differs: {iou:.0%} overlap with the photo's")
    if signals.get("visible", 1.0) < 0.8:
        reasons.append(f"only {signals['visible']:.0%} of the product is in the frame")
    detail = signals.get("detail", 1.0)
    if detail < 0.55:
        reasons.append(f"detail washed out: {1 - detail:.0%} of the fine detail is gone")
    structure = signals.get("structure", 1.0)
    if structure < 0.45:
        reasons.append(f"shape or print differs: structure {structure:.2f} of 1")
    elif signals.get("pattern", 1.0) < 0.35:
        reasons.append(f"pattern, print or text differs: {signals['pattern']:.2f} of 1")
    elif signals.get("pattern_worst", 1.0) < 0.45 and signals.get("pattern", 1.0) >= 0.7:
        reasons.append(
            f"print or text differs in one part: {signals['pattern_worst']:.2f} of 1 there"
        )
    if not reasons:
        reasons.append(
            f"the product matches its photo: ΔE {delta_e:.0f}, outline {iou:.0%}, "
            f"structure {structure:.2f}"
        )
    return reasons


# -- measuring ------------------------------------------------------------------------------------


def _outline(product: PreparedProduct, h: NDArray[np.float64]) -> list[tuple[float, float]]:
    """The product's silhouette (its box's corners if it has none) through ``h``."""
    height, width = product.mask.shape
    points = product.contour or ((0, 0), (width, 0), (width, height), (0, height))
    p = np.hstack([np.array(points, dtype=np.float64), np.ones((len(points), 1))]) @ h.T
    return [(round(float(x), 2), round(float(y), 2)) for x, y in p[:, :2] / p[:, 2:3]]


def _box_location(product: PreparedProduct, box: Sequence[float], scale: float) -> Location:
    left, top, right, bottom = (float(v) * scale for v in box[:4])
    height, width = product.mask.shape
    h = np.array(
        [[(right - left) / width, 0, left], [0, (bottom - top) / height, top], [0, 0, 1]],
        dtype=np.float64,
    )
    outline = [(left, top), (right, top), (right, bottom), (left, bottom)]
    return Location(True, 1.0, "box", h, outline)


def measure(
    product: Image.Image | bytes,
    image: Image.Image | bytes,
    *,
    calibration: Calibration | None = None,
    box: Sequence[float] | None = None,
) -> Measurement:
    """How faithfully ``product`` (its cut-out, or a photo on a plain background) appears in
    ``image``, scored by ``calibration`` (the shipped one by default).

    ``box`` (left, top, right, bottom in picture pixels) is where a compositor put the
    product's cut-out: the search is skipped. Raises
    :class:`~visualizer_core.errors.InvalidImage` for an unreadable or empty image.
    """
    calibration = calibration or default_calibration()
    prepared = _prepare(product)
    picture, scale = _picture_array(_open(image, "generated image"))
    location = _box_location(prepared, box, scale) if box is not None else locate(prepared, picture)
    width, height = prepared.source_size
    if not location.found or location.homography is None:
        signals = {"found": 0.0, "location_confidence": 0.0}
        return Measurement(
            score=0.0,
            auto_approve=False,
            found=False,
            location_confidence=0.0,
            outline=[],
            homography=None,
            light=None,
            signals=signals,
            reasons=reasons_for(signals, found=False),
            method="not-found",
            threshold=calibration.threshold,
            product_size=(width, height),
        )
    comparison = compare(prepared.rgb, prepared.mask, picture, location.homography)
    signals = {
        "found": 1.0,
        "location_confidence": location.confidence,
        **comparison.signals,
    }
    score = calibration.score(signals)
    # From the product image as given to the picture's own pixels (both were worked on cropped
    # or smaller copies).
    to_full = np.diag([1 / scale, 1 / scale, 1.0])
    homography = to_full @ location.homography @ prepared.from_source()
    homography = homography / homography[2, 2]
    outline = _outline(prepared, to_full @ location.homography)
    return Measurement(
        score=score,
        auto_approve=calibration.approves(score),
        found=True,
        location_confidence=location.confidence,
        outline=outline,
        homography=[[round(float(v), 8) for v in row] for row in homography],
        light=comparison.light,
        signals=signals,
        reasons=reasons_for(signals, found=True, place=comparison.worst_place),
        method=location.method,
        threshold=calibration.threshold,
        product_size=(width, height),
        extra={"worst_place": comparison.worst_place},
    )
