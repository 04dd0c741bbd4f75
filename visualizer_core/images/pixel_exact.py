"""Pixel-exact mode: the product photo's own pixels put back where a model drew the product.

A generative model redraws the product it is given: a seam moves, a grey comes back beige, a
logo is garbled. Where the fidelity measurement found the product (its homography maps the
cut-out's pixels onto the picture's), :func:`composite_product` puts the original back:

1. **Warp.** The measured homography is refined to the sub-pixel (ECC alignment of the
   cut-out's grey levels with the picture's, inside the product's outline: invariant to the
   light, so a relit or recoloured product aligns as well as a faithful one), then the cut-out
   (alpha premultiplied, so its transparent edge carries no stray colour) is warped onto the
   picture's grid, bilinear.
2. **Light.** Its light is matched to the scene by the measured change (per-channel gains,
   the measurement's ``light``; fitted here on the product's pixels, exposure and a limited
   white balance, when the measurement has none), so that the product sits in the room's
   light and not in the studio's.
3. **Occlusion.** Where something stands in front of the product (a chair's arm, a plant),
   the warped cut-out and the picture disagree strongly over a compact patch of the product,
   in brightness or in colour, while the rest of it agrees. A product recoloured all over
   disagrees in colour everywhere (more than :data:`RECOLOURED_SHARE` of it): that is drift,
   which the paste undoes, not something in front. When a compact patch covers more than
   :data:`OCCLUDED_SHARE` of the product, pasting would wipe out what covers it: the picture
   is left as generated and the note says what covers which side.
4. **Composite.** Only inside the product's own outline, its edge feathered by
   :data:`FEATHER_PX`; outside it the generated picture stays, its contact shadow included.

The result says what was done in words a person reads (``note``): "pixel-exact: the product
photo's own pixels, warped to where the product stands and relit to the scene", or
"pixel-exact not applied: something covers the product's left side (24 % of it)".
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from visualizer_core.errors import InvalidImage

__all__ = [
    "APPLIED_NOTE",
    "DISAGREE_COLOUR",
    "DISAGREE_LUMA",
    "FEATHER_PX",
    "MIN_CONFIDENCE",
    "OCCLUDED_SHARE",
    "RECOLOURED_SHARE",
    "PixelExact",
    "composite_product",
    "psnr",
]

MIN_CONFIDENCE: Final = 0.3
"""Below this location confidence the product's place is not sure enough to paste over it."""
OCCLUDED_SHARE: Final = 0.04
"""A compact patch of the product larger than this share, disagreeing strongly: occluded."""
FEATHER_PX: Final = 1.5
"""The Gaussian sigma, in picture pixels, of the pasted product's edge."""
DISAGREE_LUMA: Final = 40.0
"""A brightness difference (0..255, after the light is matched) that no light change explains."""
DISAGREE_COLOUR: Final = 25.0
"""A colour difference (CIE76 ΔE, after the light is matched) that no light change explains."""
RECOLOURED_SHARE: Final = 0.6
"""Colour differing over more of the product than this share: recoloured (drift), not covered."""
JPEG_QUALITY: Final = 95
APPLIED_NOTE: Final = (
    "pixel-exact: the product photo's own pixels, warped to where the product stands and relit "
    "to the scene"
)
_GAIN_RANGE = (0.4, 2.5)  # exposure gains believed (beyond: the fit is broken, not the light)
_WHITE_BALANCE = 0.12  # per-channel departure from the exposure gain believed in a fitted light
_PLAUSIBLE_GAIN = (0.5, 1.8)  # a measured light's gains believed as they are
_TINT = 0.4  # and the spread between its channels
_LUMA = np.array([0.299, 0.587, 0.114])

FloatImage = NDArray[np.float32]


@dataclass(frozen=True)
class PixelExact:
    """What pixel-exact mode did with one picture.

    ``applied``: the product's own pixels were composited; ``image`` is then the new JPEG.
    ``note`` says what was done, or why not. ``gains`` is the light applied (per channel),
    ``occluded_share`` the share of the product found covered.
    """

    applied: bool
    note: str
    image: bytes | None = None
    gains: tuple[float, float, float] = (1.0, 1.0, 1.0)
    occluded_share: float = 0.0
    mask_box: tuple[int, int, int, int] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, to keep with the image (its lineage): what was done, with which light."""
        return {
            "applied": self.applied,
            "note": self.note,
            "gains": [round(g, 4) for g in self.gains],
            "occluded_share": self.occluded_share,
            **{k: v for k, v in self.details.items() if k != "homography"},
            **({"homography": self.details["homography"]} if "homography" in self.details else {}),
        }


def _not_applied(why: str, **details: Any) -> PixelExact:
    return PixelExact(applied=False, note=f"pixel-exact not applied: {why}", details=details)


def _open(data: bytes | Image.Image, what: str, mode: str) -> Image.Image:
    if isinstance(data, Image.Image):
        return data.convert(mode)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.convert(mode)
    except (OSError, ValueError) as error:
        raise InvalidImage(what, f"cannot be read ({error})") from None


def _matrix(homography: Sequence[Sequence[float]] | NDArray[Any]) -> NDArray[np.float64] | None:
    try:
        matrix = np.asarray(homography, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        return None
    if abs(float(np.linalg.det(matrix))) < 1e-12:
        return None
    return matrix


def _gains_from(light: Mapping[str, Any] | Sequence[float] | None) -> NDArray[np.float64] | None:
    """Per-channel gains from a measured light change, when it gives them.

    Accepted forms: ``{"gain": [r, g, b]}`` (or ``"gains"``), optionally with ``"offset"``
    ignored (a cut-out's black stays black), ``{"exposure": x}``, or a plain ``[r, g, b]``.
    """
    if light is None:
        return None
    values: Any = light
    if isinstance(light, Mapping):
        values = light.get("gain", light.get("gains"))
        if values is None and isinstance(light.get("exposure"), int | float):
            values = [float(light["exposure"])] * 3
    if isinstance(values, int | float):
        values = [float(values)] * 3
    try:
        gains = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if gains.shape != (3,) or not np.all(np.isfinite(gains)) or np.any(gains <= 0):
        return None
    # A light no room gives (a fit thrown off by a drifted product): fitted here instead.
    low, high = _PLAUSIBLE_GAIN
    if gains.min() < low or gains.max() > high or gains.max() / gains.min() > 1.0 + _TINT:
        return None
    return gains


def _fit_gains(
    cut: FloatImage, picture: FloatImage, core: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Exposure (median brightness ratio) and a limited white balance, on the product's core."""
    ref = cut[core].astype(np.float64)
    out = picture[core].astype(np.float64)
    ref_luma, out_luma = ref @ _LUMA, out @ _LUMA
    lit = ref_luma > 12.0  # black carries no light information
    if int(lit.sum()) < 16:
        return np.ones(3)
    exposure = float(np.clip(np.median(out_luma[lit] / ref_luma[lit]), *_GAIN_RANGE))
    channel = np.array([np.median(out[lit, c] / np.maximum(ref[lit, c], 4.0)) for c in range(3)])
    balance = np.clip(channel / exposure, 1.0 - _WHITE_BALANCE, 1.0 + _WHITE_BALANCE)
    return exposure * balance


def _refined(
    matrix: NDArray[np.float64], cutout: FloatImage, scene: FloatImage
) -> NDArray[np.float64]:
    """The homography aligned to the sub-pixel by ECC on grey levels inside the product, or
    as measured when the alignment fails or wanders off (more than 3 % of the product's size)."""
    height, width = scene.shape[:2]
    alpha = (cutout[..., 3] > 127).astype(np.uint8)
    warped_alpha = cv2.warpPerspective(alpha, matrix, (width, height), flags=cv2.INTER_NEAREST)
    ys, xs = np.nonzero(warped_alpha)
    if len(ys) < 256:
        return matrix
    margin = 16
    x0, y0 = max(int(xs.min()) - margin, 0), max(int(ys.min()) - margin, 0)
    x1, y1 = min(int(xs.max()) + margin, width), min(int(ys.max()) + margin, height)
    shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
    local = shift @ matrix
    size = (x1 - x0, y1 - y0)
    grey = (cutout[..., :3] @ _LUMA.astype(np.float32)).astype(np.float32)
    template = cv2.warpPerspective(grey, local, size, flags=cv2.INTER_LINEAR)
    template_mask = cv2.erode(
        cv2.warpPerspective(alpha, local, size, flags=cv2.INTER_NEAREST), np.ones((5, 5), np.uint8)
    )
    picture = np.ascontiguousarray((scene[y0:y1, x0:x1] @ _LUMA.astype(np.float32)), np.float32)
    warp = np.eye(3, dtype=np.float32)
    try:
        _rho, warp = cv2.findTransformECCWithMask(
            template,
            picture,
            template_mask,
            np.ones(picture.shape, np.uint8),
            warp,
            cv2.MOTION_HOMOGRAPHY,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5),
            5,
        )
    except cv2.error:
        return matrix
    refined: NDArray[np.float64] = np.linalg.inv(shift) @ warp.astype(np.float64) @ local
    corners = np.array(
        [
            [0, 0, 1],
            [cutout.shape[1], 0, 1],
            [0, cutout.shape[0], 1],
            [cutout.shape[1], cutout.shape[0], 1],
        ],
        dtype=np.float64,
    ).T
    before, after = matrix @ corners, refined @ corners
    moved = np.abs(after[:2] / after[2] - before[:2] / before[2]).max()
    if not np.isfinite(moved) or moved > 0.03 * max(size):
        return matrix
    normalised: NDArray[np.float64] = refined / refined[2, 2]
    return normalised


def _side(ys: NDArray[np.intp], xs: NDArray[np.intp], box: tuple[int, int, int, int]) -> str:
    """Which side of the product's box a patch is on, in words."""
    left, top, right, bottom = box
    x = (float(xs.mean()) - left) / max(right - left, 1)
    y = (float(ys.mean()) - top) / max(bottom - top, 1)
    dx, dy = x - 0.5, y - 0.5
    if max(abs(dx), abs(dy)) < 0.15:
        return "middle"
    if abs(dx) >= abs(dy):
        return "left side" if dx < 0 else "right side"
    return "top" if dy < 0 else "lower part"


def psnr(a: NDArray[Any], b: NDArray[Any], mask: NDArray[np.bool_] | None = None) -> float:
    """Peak signal-to-noise ratio of two 8-bit pictures (inside ``mask`` when given), in dB."""
    diff = a.astype(np.float64) - b.astype(np.float64)
    if mask is not None:
        diff = diff[mask]
    mse = float(np.mean(diff**2)) if diff.size else 0.0
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))


def composite_product(
    product: bytes | Image.Image,
    picture: bytes | Image.Image,
    *,
    homography: Sequence[Sequence[float]] | NDArray[Any] | None,
    found: bool = True,
    location_confidence: float = 1.0,
    light: Mapping[str, Any] | Sequence[float] | None = None,
) -> PixelExact:
    """Put the product photo's own pixels back over the product the picture shows.

    ``homography`` maps the cut-out's pixels (``product``, RGBA) onto ``picture``'s, as the
    fidelity measurement found it; ``light`` is its fitted light change. Never raises for a
    picture it cannot improve: the answer then says why (not found, place not sure, occluded,
    outside the frame). Unreadable images raise :class:`~visualizer_core.errors.InvalidImage`.
    """
    if not found:
        return _not_applied("the product was not found in the picture")
    matrix = None if homography is None else _matrix(homography)
    if matrix is None:
        return _not_applied("the product's place in the picture is not known")
    if location_confidence < MIN_CONFIDENCE:
        return _not_applied(
            f"the product's place in the picture is not sure enough "
            f"(confidence {location_confidence:.2f})"
        )
    cutout = np.asarray(_open(product, "product image", "RGBA"), dtype=np.float32)
    scene_image = _open(picture, "generated image", "RGB")
    scene = np.asarray(scene_image, dtype=np.float32)
    height, width = scene.shape[:2]

    # 1. the cut-out on the picture's grid (the placement refined), alpha premultiplied
    matrix = _refined(matrix, cutout, scene)
    alpha = cutout[..., 3:4] / 255.0
    premultiplied = np.concatenate([cutout[..., :3] * alpha, alpha * 255.0], axis=2)
    warped = cv2.warpPerspective(
        premultiplied,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0.0, 0.0, 0.0, 0.0),
    )
    warped_alpha = np.clip(warped[..., 3] / 255.0, 0.0, 1.0).astype(np.float32)
    rgb = warped[..., :3] / np.maximum(warped_alpha[..., None], 1e-6)
    rgb = np.clip(rgb, 0.0, 255.0).astype(np.float32)
    shown = warped_alpha > 0.5
    inside = int(shown.sum())
    full = float((alpha > 0.5).sum()) * abs(float(np.linalg.det(matrix[:2, :2])))
    if inside < 64:
        return _not_applied("the product would cover too few pixels of the picture")
    if full > 0 and inside < 0.6 * full:
        return _not_applied("most of the product is outside the picture's frame")
    ys, xs = np.nonzero(shown)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)

    # the product's core: inside the outline by a few pixels, clear of a slightly-off edge
    erode = max(2, round(0.01 * max(box[2] - box[0], box[3] - box[1])))
    kernel = np.ones((2 * erode + 1, 2 * erode + 1), np.uint8)
    core = cv2.erode((warped_alpha > 0.95).astype(np.uint8), kernel).astype(bool)
    if int(core.sum()) < 32:
        core = warped_alpha > 0.95

    # 2. light
    gains = _gains_from(light)
    fitted = gains is None
    if gains is None:
        gains = _fit_gains(rgb, scene, core)
    lit = np.clip(rgb * gains.astype(np.float32), 0.0, 255.0)

    # 3. occlusion: a compact patch whose brightness or colour no light change explains
    blur = max(1.0, 0.004 * max(width, height))
    luma_lit = cv2.GaussianBlur(lit @ _LUMA.astype(np.float32), (0, 0), blur)
    luma_scene = cv2.GaussianBlur(scene @ _LUMA.astype(np.float32), (0, 0), blur)
    foreign = (np.abs(luma_scene - luma_lit) > DISAGREE_LUMA) & core
    lab_lit = cv2.cvtColor(cv2.GaussianBlur(lit, (0, 0), blur) / 255.0, cv2.COLOR_RGB2Lab)
    lab_scene = cv2.cvtColor(cv2.GaussianBlur(scene, (0, 0), blur) / 255.0, cv2.COLOR_RGB2Lab)
    recoloured = (np.linalg.norm(lab_lit - lab_scene, axis=2) > DISAGREE_COLOUR) & core
    if float(recoloured.sum()) <= RECOLOURED_SHARE * float(core.sum()):
        foreign |= recoloured
    foreign = cv2.morphologyEx(foreign.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    core_count = max(int(core.sum()), 1)
    covered = 0.0
    if foreign.any():
        count, labels, stats, _centres = cv2.connectedComponentsWithStats(foreign, connectivity=8)
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        covered = float(stats[biggest, cv2.CC_STAT_AREA]) / core_count
        if covered > OCCLUDED_SHARE:
            patch_ys, patch_xs = np.nonzero(labels == biggest)
            side = _side(patch_ys, patch_xs, box)
            return PixelExact(
                applied=False,
                note=(
                    f"pixel-exact not applied: something covers the product's {side} "
                    f"({covered:.0%} of it)"
                ),
                gains=(float(gains[0]), float(gains[1]), float(gains[2])),
                occluded_share=round(covered, 4),
                mask_box=box,
                details={"light_fitted": fitted, "patches": count - 1},
            )

    # 4. composite inside the outline, the edge feathered
    inner = cv2.erode((warped_alpha > 0.5).astype(np.uint8), np.ones((3, 3), np.uint8))
    feather = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), FEATHER_PX)
    weight = np.minimum(feather, warped_alpha)[..., None]
    final = scene * (1.0 - weight) + lit * weight
    out = Image.fromarray(np.clip(np.rint(final), 0, 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return PixelExact(
        applied=True,
        note=APPLIED_NOTE,
        image=buffer.getvalue(),
        gains=(float(gains[0]), float(gains[1]), float(gains[2])),
        occluded_share=round(covered, 4),
        mask_box=box,
        details={
            "light_fitted": fitted,
            "homography": [[round(float(v), 8) for v in row] for row in matrix],
        },
    )
