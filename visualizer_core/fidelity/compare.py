"""Comparing only the product: its photo and the found region, aligned pixel for pixel.

The picture is warped into the cut-out's frame by the homography the search found (at the size
the product has in the picture, at most :data:`COMPARE_SIDE` pixels), so that each product pixel
of the photo sits on the picture's pixel that shows it. Then, inside the product's mask only:

- **light**: the change of light from photo to picture is fitted and undone: an exposure that
  may vary smoothly across the product (a plane in log luminance: a lamp on one side) and a
  white balance (one gain per channel, within :data:`MAX_TINT` of neutral). A sofa in warm
  light is the same sofa; a grey sofa come back beige is not, because no plausible light makes
  grey beige. ``light_tint`` says how strong the white balance had to be.
- **colour**: ΔE2000 between the relit photo and the picture, in CIE Lab, the mean over the
  product (``delta_e``) and over its worst ninth (``delta_e_worst``, a 3 x 3 grid: a recoloured
  seat on an unchanged frame).
- **presence**: ``missing``, the share of the product's pixels (thin parts included) whose
  relit colour is nowhere within two pixels in the picture: a part gone or recoloured.
- **shape**: ``outline_iou``, the overlap of the photo's outline with what in the picture looks
  like the product rather than its surroundings (each pixel goes to the nearer of two palettes,
  the product's and that of a ring around it); ``aspect_change``, how much the homography
  stretches one axis against the other (``|log(sx/sy)|``: 0.18 is 20 % wider).
- **structure and detail**: ``structure``, the structural similarity (SSIM) of the grey levels;
  ``edges``, the correlation of their gradient magnitudes; ``pattern``, SSIM weighted to where the
  photo has texture, print or text (``pattern_worst``, over its worst textured ninth: a
  re-lettered label); ``detail``, the picture's fine-detail energy over the
  photo's (below 1: washed out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["COMPARE_SIDE", "Comparison", "compare", "delta_e_2000"]

COMPARE_SIDE: Final = 224  # long side of the compared copies, in pixels
MARGIN: Final = 0.15  # the frame around the product, for the ring of surroundings
MISSING_REACH: Final = 2  # pixels of misalignment forgiven when looking for a part's colour
MISSING_DELTA_E: Final = 12.0  # ΔE76 beyond which a colour is not the product's
MAX_TINT: Final = 0.18  # white balance forgiven: each channel's gain within 18 % of neutral
_SSIM_WINDOW: Final = 7
_C1: Final = (0.01 * 255) ** 2
_C2: Final = (0.03 * 255) ** 2
_PLACES: Final = (
    ("upper left", "top", "upper right"),
    ("left side", "middle", "right side"),
    ("lower left", "base", "lower right"),
)

F32 = NDArray[np.float32]


@dataclass(frozen=True)
class Comparison:
    """The signals of one comparison, the light fitted, and where colour differs most."""

    signals: dict[str, float]
    light: list[float]  # gain per channel (R, G, B) at the product's centre
    worst_place: str  # "upper left", "base", ...


def delta_e_2000(lab1: F32, lab2: F32) -> F32:
    """CIEDE2000 colour difference of two arrays of Lab colours (..., 3), L 0..100."""
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c1, c2 = np.hypot(a1, b1), np.hypot(a2, b2)
    c_mean7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_mean7 / (c_mean7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0, dh)
    dhh = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    lm = (l1 + l2) / 2
    cm = (c1p + c2p) / 2
    hsum = h1p + h2p
    hm = np.where(
        c1p * c2p == 0,
        hsum,
        np.where(
            np.abs(h1p - h2p) <= 180,
            hsum / 2,
            np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2),
        ),
    )
    t = (
        1
        - 0.17 * np.cos(np.radians(hm - 30))
        + 0.24 * np.cos(np.radians(2 * hm))
        + 0.32 * np.cos(np.radians(3 * hm + 6))
        - 0.20 * np.cos(np.radians(4 * hm - 63))
    )
    d_theta = 30 * np.exp(-(((hm - 275) / 25) ** 2))
    rc = 2 * np.sqrt(cm**7 / (cm**7 + 25.0**7))
    sl = 1 + 0.015 * (lm - 50) ** 2 / np.sqrt(20 + (lm - 50) ** 2)
    sc = 1 + 0.045 * cm
    sh = 1 + 0.015 * cm * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    result: F32 = np.sqrt(
        (dl / sl) ** 2 + (dc / sc) ** 2 + (dhh / sh) ** 2 + rt * (dc / sc) * (dhh / sh)
    ).astype(np.float32)
    return result


def _lab(rgb: F32) -> F32:
    """Lab of float RGB 0..255 (clipped), L 0..100."""
    scaled = np.clip(rgb, 0, 255).astype(np.float32) / 255.0
    lab: F32 = cv2.cvtColor(scaled, cv2.COLOR_RGB2LAB)
    return lab


def _box_mean(values: F32, size: int) -> F32:
    result: F32 = cv2.boxFilter(values, cv2.CV_32F, (size, size), borderType=cv2.BORDER_REFLECT)
    return result


def _ssim_map(a: F32, b: F32) -> F32:
    size = _SSIM_WINDOW
    mean_a, mean_b = _box_mean(a, size), _box_mean(b, size)
    var_a = _box_mean(a * a, size) - mean_a**2
    var_b = _box_mean(b * b, size) - mean_b**2
    cov = _box_mean(a * b, size) - mean_a * mean_b
    ssim = ((2 * mean_a * mean_b + _C1) * (2 * cov + _C2)) / (
        (mean_a**2 + mean_b**2 + _C1) * (var_a + var_b + _C2)
    )
    return ssim.astype(np.float32)


def _weighted_mean(values: F32, weights: F32) -> float:
    total = float(weights.sum())
    return float((values * weights).sum() / total) if total > 0 else 0.0


def _fit_light(ref: F32, obs: F32, inside: NDArray[np.bool_]) -> tuple[F32, NDArray[np.float64]]:
    """The exposure field (per pixel) and the white balance (3 gains) from ``ref`` to ``obs``."""
    h, w = inside.shape
    ys, xs = np.nonzero(inside)
    lum_weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ref_y = ref[ys, xs] @ lum_weights
    obs_y = obs[ys, xs] @ lum_weights
    usable = (ref_y > 8) & (ref_y < 250) & (obs_y > 4)
    if int(usable.sum()) < 12:
        usable = np.ones_like(usable)
    ratio = np.log((obs_y[usable] + 1) / (ref_y[usable] + 1))
    u = (xs[usable] / max(w, 1) - 0.5).astype(np.float64)
    v = (ys[usable] / max(h, 1) - 0.5).astype(np.float64)
    design = np.column_stack([np.ones_like(u), u, v])
    keep = np.ones(len(ratio), dtype=bool)
    coef = np.array([float(np.median(ratio)), 0.0, 0.0])
    for _ in range(2):  # least squares, then again without the worst fifth (the drifted part)
        if int(keep.sum()) < 6:
            break
        coef, *_ = np.linalg.lstsq(design[keep], ratio[keep], rcond=None)
        residual = np.abs(ratio - design @ coef)
        keep = residual <= np.quantile(residual, 0.8)
    coef[0] = float(np.clip(coef[0], math.log(0.3), math.log(3.0)))
    coef[1:] = np.clip(coef[1:], -0.5, 0.5)
    grid_u = (np.arange(w, dtype=np.float32) / max(w, 1) - 0.5)[None, :]
    grid_v = (np.arange(h, dtype=np.float32) / max(h, 1) - 0.5)[:, None]
    exposure: F32 = np.exp(coef[0] + coef[1] * grid_u + coef[2] * grid_v).astype(np.float32)
    lit = ref[ys, xs] * exposure[ys, xs][:, None]
    seen = obs[ys, xs]
    gains = np.ones(3)
    for c in range(3):
        denominator = float((lit[:, c] ** 2).sum())
        if denominator > 0:
            gains[c] = float((lit[:, c] * seen[:, c]).sum()) / denominator
    neutral = float(gains @ lum_weights)
    gains = np.clip(gains / max(neutral, 1e-6), 1 - MAX_TINT, 1 + MAX_TINT)
    return exposure, gains


def _palette(lab: F32, k: int) -> F32:
    """``k`` representative colours (k-means) of a list of Lab colours."""
    if len(lab) <= k:
        return lab.astype(np.float32)
    if len(lab) > 1500:
        lab = lab[np.linspace(0, len(lab) - 1, 1500).astype(int)]
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 12, 0.5)
    cv2.setRNGSeed(7)
    _compact, _labels, centres = cv2.kmeans(
        lab.astype(np.float32), k, None, criteria, 1, cv2.KMEANS_PP_CENTERS
    )
    result: F32 = centres
    return result


def _nearest(lab: F32, palette: F32) -> F32:
    distance = np.linalg.norm(lab[:, None, :] - palette[None, :, :], axis=2)
    result: F32 = distance.min(axis=1)
    return result


def _outline_iou(
    ref_lab: F32, obs_lab: F32, mask: NDArray[np.bool_], valid: NDArray[np.bool_], pad: int
) -> float:
    """Overlap of the photo's outline with what in the picture looks like the product."""
    kernel = np.ones((3, 3), np.uint8)
    mask_u8 = mask.astype(np.uint8)
    near = cv2.dilate(mask_u8, kernel, iterations=max(2, pad // 2)).astype(bool)
    ring = valid & ~cv2.dilate(mask_u8, kernel, iterations=max(2, pad // 3)).astype(bool)
    core = mask & valid
    if int(ring.sum()) < 30 or int(core.sum()) < 30:
        return 1.0  # nothing around the product to tell it from: no evidence either way
    product_palette = _palette(ref_lab[core], 6)
    around_palette = _palette(obs_lab[ring], 6)
    region = near & valid
    pixels = obs_lab[region]
    looks_product = _nearest(pixels, product_palette) < _nearest(pixels, around_palette)
    product_like = np.zeros(mask.shape, np.uint8)
    product_like[region] = looks_product.astype(np.uint8)
    product_like = cv2.morphologyEx(product_like, cv2.MORPH_OPEN, kernel).astype(bool)
    union = int((product_like | core).sum())
    return float((product_like & core).sum() / union) if union else 0.0


def _missing(
    ref_lab: F32, obs_lab: F32, product: NDArray[np.bool_], inside_picture: NDArray[np.bool_]
) -> float:
    """The share of the product's pixels (its whole mask: thin parts count) with nothing of
    their colour, once relit, within :data:`MISSING_REACH` pixels in the picture (ΔE76 above
    :data:`MISSING_DELTA_E`): a part gone, recoloured or drawn elsewhere."""
    ys, xs = np.nonzero(product & inside_picture)
    if len(ys) < 8:
        return 1.0
    r = MISSING_REACH
    padded = np.pad(obs_lab, ((r, r), (r, r), (0, 0)), mode="edge")
    want = ref_lab[ys, xs]
    nearest = np.full(len(ys), np.inf, np.float32)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            seen = padded[ys + r + dy, xs + r + dx]
            nearest = np.minimum(nearest, np.sum((want - seen) ** 2, axis=1))
    return float((nearest > MISSING_DELTA_E**2).mean())


def _aspect_change(h: NDArray[np.float64], width: int, height: int) -> float:
    """``|log(sx/sy)|`` of the homography's local scales at the product's centre."""
    cx, cy = width / 2, height / 2
    base = h @ np.array([cx, cy, 1.0])
    step = max(width, height) * 0.05

    def at(dx: float, dy: float) -> NDArray[np.float64]:
        p = h @ np.array([cx + dx, cy + dy, 1.0])
        result: NDArray[np.float64] = p[:2] / p[2] - base[:2] / base[2]
        return result

    sx = float(np.linalg.norm(at(step, 0)))
    sy = float(np.linalg.norm(at(0, step)))
    return abs(math.log(max(sx, 1e-9) / max(sy, 1e-9)))


def compare(
    rgb: NDArray[np.uint8],
    mask: NDArray[np.uint8],
    picture: NDArray[np.uint8],
    homography: NDArray[np.float64],
    *,
    side: int = COMPARE_SIDE,
    alignment_only: bool = False,
) -> Comparison:
    """The signals of the product (``rgb``, ``mask``: the cut-out) against where ``homography``
    puts it in ``picture`` (RGB), compared at most ``side`` pixels long. ``alignment_only``
    measures ``structure`` and ``edges`` alone: what the locator tells places apart by."""
    height, width = mask.shape
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], float)
    projected = corners @ homography.T
    quad = projected[:, :2] / projected[:, 2:3]
    apparent = max(
        float(np.linalg.norm(quad[(i + 1) % 4] - quad[i]))
        * max(width, height)
        / (width, height)[i % 2]
        for i in range(4)
    )
    side_px = max(16.0, min(float(side), apparent))
    s = side_px / max(width, height)
    fw, fh = max(4, round(width * s)), max(4, round(height * s))
    pad = max(4, round(MARGIN * max(fw, fh)))
    # The picture is brought down to about the product's frame resolution first (no aliasing).
    d = min(1.0, side_px / max(apparent, 1.0))
    pic = picture
    if d < 0.999:
        pic = cv2.resize(
            picture,
            (max(1, round(picture.shape[1] * d)), max(1, round(picture.shape[0] * d))),
            interpolation=cv2.INTER_AREA,
        )
    # frame (u, v) -> cut-out ((u - pad) / s', (v - pad) / s'') -> picture -> small picture
    frame_to_cut = np.array(
        [[width / fw, 0, -pad * width / fw], [0, height / fh, -pad * height / fh], [0, 0, 1]]
    )
    to_small = np.diag([d, d, 1.0])
    matrix = to_small @ homography @ frame_to_cut
    size = (fw + 2 * pad, fh + 2 * pad)
    obs = cv2.warpPerspective(
        pic.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    )
    inside_picture = cv2.warpPerspective(
        np.ones(pic.shape[:2], np.uint8),
        matrix,
        size,
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
    ).astype(bool)
    ref = np.zeros((size[1], size[0], 3), np.float32)
    ref[pad : pad + fh, pad : pad + fw] = cv2.resize(
        rgb, (fw, fh), interpolation=cv2.INTER_AREA
    ).astype(np.float32)
    mask_frame = np.zeros((size[1], size[0]), np.uint8)
    mask_frame[pad : pad + fh, pad : pad + fw] = cv2.resize(
        mask, (fw, fh), interpolation=cv2.INTER_AREA
    )
    product = mask_frame > 127
    eroded = cv2.erode(product.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=2).astype(
        bool
    )
    inside = eroded & inside_picture
    if int(inside.sum()) < 24:
        inside = product & inside_picture
    if int(inside.sum()) < 8:
        return Comparison(
            signals={
                "delta_e": 50.0,
                "delta_e_worst": 50.0,
                "light_tint": 0.0,
                "outline_iou": 0.0,
                "aspect_change": _aspect_change(homography, width, height),
                "structure": 0.0,
                "edges": 0.0,
                "pattern": 0.0,
                "pattern_worst": 0.0,
                "detail": 0.0,
                "visible": 0.0,
                "missing": 1.0,
            },
            light=[1.0, 1.0, 1.0],
            worst_place="middle",
        )
    exposure, gains = _fit_light(ref, obs, inside)
    relit = ref * exposure[..., None] * gains.astype(np.float32)
    lum = np.array([0.299, 0.587, 0.114], np.float32)
    grey_ref = relit @ lum
    grey_obs = obs @ lum
    # Outside the product both sides show the picture, so that only the product counts.
    weight = product.astype(np.float32)
    grey_ref_full = grey_ref * weight + grey_obs * (1 - weight)
    ssim = _ssim_map(grey_ref_full, grey_obs)
    structure = _weighted_mean(ssim, (product & inside_picture).astype(np.float32))
    gx_r, gy_r = (
        cv2.Sobel(grey_ref_full, cv2.CV_32F, 1, 0),
        cv2.Sobel(grey_ref_full, cv2.CV_32F, 0, 1),
    )
    gx_o, gy_o = cv2.Sobel(grey_obs, cv2.CV_32F, 1, 0), cv2.Sobel(grey_obs, cv2.CV_32F, 0, 1)
    near = cv2.dilate(product.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    near &= inside_picture
    mag_r = np.hypot(gx_r, gy_r)[near]
    mag_o = np.hypot(gx_o, gy_o)[near]
    edges = 0.0
    if mag_r.std() > 1e-6 and mag_o.std() > 1e-6:
        edges = float(np.corrcoef(mag_r, mag_o)[0, 1])
    if alignment_only:
        return Comparison(
            signals={"structure": round(structure, 4), "edges": round(edges, 4)},
            light=[1.0, 1.0, 1.0],
            worst_place="middle",
        )
    relit_smooth = cv2.GaussianBlur(relit, (0, 0), 1.0)
    obs_smooth = cv2.GaussianBlur(obs, (0, 0), 1.0)
    ref_lab, obs_lab = _lab(relit_smooth), _lab(obs_smooth)
    de = delta_e_2000(ref_lab, obs_lab)
    delta_e = float(de[inside].mean())
    worst, worst_place = 0.0, "middle"
    rows = np.linspace(0, size[1], 4).astype(int)
    cols = np.linspace(0, size[0], 4).astype(int)
    least = max(8, int(inside.sum()) // 30)
    for i in range(3):
        for j in range(3):
            cell = inside[rows[i] : rows[i + 1], cols[j] : cols[j + 1]]
            if int(cell.sum()) >= least:
                value = float(de[rows[i] : rows[i + 1], cols[j] : cols[j + 1]][cell].mean())
                if value > worst:
                    worst, worst_place = value, _PLACES[i][j]
    texture = np.sqrt(np.maximum(_box_mean(grey_ref**2, 5) - _box_mean(grey_ref, 5) ** 2, 0))
    texture_inside = texture * inside.astype(np.float32)
    pattern = _weighted_mean(ssim, texture_inside)
    # The worst textured ninth: a re-lettered label is a small part of a product's texture.
    pattern_worst = pattern
    total = float(texture_inside.sum())
    for i in range(3):
        for j in range(3):
            cell = (slice(rows[i], rows[i + 1]), slice(cols[j], cols[j + 1]))
            if float(texture_inside[cell].sum()) >= 0.08 * total > 0:
                pattern_worst = min(pattern_worst, _weighted_mean(ssim[cell], texture_inside[cell]))
    high_ref = grey_ref - cv2.GaussianBlur(grey_ref, (0, 0), 1.5)
    high_obs = grey_obs - cv2.GaussianBlur(grey_obs, (0, 0), 1.5)
    energy_ref = float((high_ref[inside] ** 2).mean())
    energy_obs = float((high_obs[inside] ** 2).mean())
    detail = math.sqrt(energy_obs / energy_ref) if energy_ref > 1e-3 else 1.0
    signals = {
        "delta_e": delta_e,
        "delta_e_worst": worst,
        "light_tint": float(np.abs(gains - 1).max()),
        "outline_iou": _outline_iou(ref_lab, obs_lab, product, inside_picture, pad),
        "aspect_change": _aspect_change(homography, width, height),
        "structure": structure,
        "edges": edges,
        "pattern": pattern,
        "pattern_worst": pattern_worst,
        "detail": min(detail, 3.0),
        "visible": float((product & inside_picture).sum() / max(int(product.sum()), 1)),
        "missing": _missing(ref_lab, obs_lab, product, inside_picture),
    }
    centre = float(exposure[size[1] // 2, size[0] // 2])
    light = [round(float(g) * centre, 4) for g in gains]
    return Comparison(
        signals={k: round(v, 4) for k, v in signals.items()}, light=light, worst_place=worst_place
    )
