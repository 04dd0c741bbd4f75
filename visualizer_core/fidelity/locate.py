"""Finding the product in a picture that has no box: where is its cut-out, and how sure is that.

Two searches, the first that holds wins:

1. **Keypoints.** SIFT keypoints of the product (inside its mask only) are matched with those of
   the picture (Lowe's ratio test), and a homography is fitted to the matches by RANSAC
   (OpenCV's MAGSAC++). It holds when enough matches agree (:data:`MIN_INLIERS`) and the
   homography is a plausible view of a flat-ish object: the outline stays convex, is not
   folded, not tiny, and not stretched beyond what a camera does.
2. **Templates.** Where keypoints are too few (a plain product: a white vase, a single-colour
   cushion) the product's grey levels, inside its mask, are slid over the picture at a dozen
   scales (normalised cross-correlation, which forgives a change of exposure). The best peak
   gives a box (a scale and a place, no perspective); it holds when its correlation is at least
   :data:`MIN_TEMPLATE_SCORE`.

Neither holds: the product is not found. That is a result (a score of 0), not an error.

The search runs on copies no larger than :data:`SEARCH_SIDE` pixels; the homography is returned
in full-size coordinates (product cut-out pixels to picture pixels).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

import cv2
import numpy as np
from numpy.typing import NDArray

from visualizer_core.fidelity.compare import compare

__all__ = ["Location", "PreparedProduct", "locate", "prepare_product"]

SEARCH_SIDE: Final = 720  # long side of the picture's copy the keypoints are found in
PRODUCT_SIDE: Final = 400  # long side of the product's copy
MIN_INLIERS: Final = 10
MIN_INLIER_SHARE: Final = 0.25
MIN_TEMPLATE_SCORE: Final = 0.55
TEMPLATE_SIDE: Final = 224  # long side of the picture's copy the templates slide over
TEMPLATE_SCALES: Final = 18  # product heights between 12 % and 95 % of the picture's
MAX_ANISOTROPY: Final = 3.0  # a plausible view squeezes one axis at most this much
VERIFY_SIDE: Final = 160  # long side of the frame a candidate's outline is checked in
COLOUR_SHARE: Final = 0.75  # of the product's pixels whose colours are compared to place it
FINE_SIDE: Final = 320  # long side of the frame the last ECC step aligns in
EDGE_STEP: Final = (
    40.0  # Sobel response across the outline that counts as an edge (a 10-level step)
)
TEMPLATE_PLACES: Final = 8  # the best places of the template search that are checked
EDGE_PLACES: Final = 2  # of which found by edges alone
PLAIN_STD: Final = 4.0  # grey levels: a product plainer than this has no inside to correlate
COARSE_SOFTEN: Final = 2.0  # edges softened more in the coarse search: its scales are 10 % apart
CHROMA_BINS: Final = 32
REFINED_CANDIDATES: Final = 3  # the best places of the template search that are refined
LOCAL_SIDE: Final = 64  # the product's long side, in pixels, in the fine search around a place
MIN_EVIDENCE: Final = 0.55  # the evidence (see evidence()) for a place to hold: 0.75 / 1.35
MIN_HELD: Final = 2.0  # a place of the template search holds: see _by_template()


@dataclass(frozen=True)
class PreparedProduct:
    """A product cut-out ready to be searched for (computed once, reused for every picture)."""

    rgb: NDArray[np.uint8]  # the cut-out's colours, cropped to the product
    mask: NDArray[np.uint8]  # 255 where the product is
    small_grey: NDArray[np.uint8]  # grey copy at most PRODUCT_SIDE on the long side
    small_mask: NDArray[np.uint8]
    small_scale: float  # small = full * small_scale
    keypoints: tuple[tuple[float, float], ...]  # in the small copy
    descriptors: NDArray[np.float32] | None
    # How ``rgb`` was cut from the image given: rgb pixel = (given pixel - offset) * scale.
    offset: tuple[int, int] = (0, 0)
    scale: float = 1.0
    source_size: tuple[int, int] = (0, 0)  # the given image's (width, height)
    contour: tuple[tuple[float, float], ...] = ()  # the product's silhouette in ``rgb`` pixels
    # The product's chroma (Lab a, b) histogram, softened: what its colours look like under
    # a slightly warmer or cooler light (see colour_likeness()).
    chroma: NDArray[np.float32] | None = field(default=None, repr=False, compare=False)
    # Copies of ``rgb`` and ``mask`` at the sizes the checks ask for, made once.
    _sized: dict[tuple[str, int, int], NDArray[Any]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def sized(self, what: str, width: int, height: int) -> NDArray[Any]:
        """``rgb``, its grey levels (``"grey"``, float32) or ``mask`` (0/255) at (width, height),
        made once per size (the checks of many places share them)."""
        key = (what, width, height)
        cached = self._sized.get(key)
        if cached is None:
            if what == "mask":  # area-averaged: 255 inside, soft at the outline
                cached = cv2.resize(self.mask, (width, height), interpolation=cv2.INTER_AREA)
            else:
                rgb = cv2.resize(self.rgb, (width, height), interpolation=cv2.INTER_AREA)
                cached = _grey(rgb).astype(np.float32) if what == "grey" else rgb
            if len(self._sized) > 64:
                self._sized.clear()
            self._sized[key] = cached
        return cached

    def from_source(self) -> NDArray[np.float64]:
        """The 3x3 map from the given image's pixels to ``rgb``'s pixels."""
        s = self.scale
        return np.array(
            [[s, 0, -self.offset[0] * s], [0, s, -self.offset[1] * s], [0, 0, 1.0]],
            dtype=np.float64,
        )


@dataclass(frozen=True)
class Location:
    """Where the product is in the picture; ``homography`` maps cut-out pixels to picture pixels."""

    found: bool
    confidence: float  # 0..1
    method: str  # "keypoints" | "template" | "not-found"
    homography: NDArray[np.float64] | None
    outline: list[tuple[float, float]]  # the cut-out's corners in the picture
    inliers: int = 0


_SIFT = cv2.SIFT_create(nfeatures=1500, contrastThreshold=0.02)


def _grey(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    grey: NDArray[np.uint8] = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return grey


def _resize(image: NDArray[np.uint8], scale: float) -> NDArray[np.uint8]:
    if abs(scale - 1.0) < 1e-6:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized: NDArray[np.uint8] = cv2.resize(image, size, interpolation=interpolation)
    return resized


def prepare_product(
    rgb: NDArray[np.uint8],
    mask: NDArray[np.uint8],
    *,
    offset: tuple[int, int] = (0, 0),
    scale: float = 1.0,
    source_size: tuple[int, int] | None = None,
) -> PreparedProduct:
    """The product's keypoints and small copies, from its colours and mask (cropped already:
    ``offset`` and ``scale`` say how, from an image of ``source_size``)."""
    small_scale = min(1.0, PRODUCT_SIDE / max(rgb.shape[:2]))
    small_grey = _resize(_grey(rgb), small_scale)
    small_mask = _resize(mask, small_scale)
    small_mask = np.where(small_mask > 127, 255, 0).astype(np.uint8)
    # The outline is part of what identifies a product: keypoints on its edge count, so the
    # mask they are looked for in is dilated a little.
    search_mask = cv2.dilate(small_mask, np.ones((5, 5), np.uint8))
    points, descriptors = _SIFT.detectAndCompute(small_grey, search_mask)
    small_rgb = _resize(rgb, small_scale)
    return PreparedProduct(
        chroma=chroma_histogram(small_rgb, small_mask),
        contour=_silhouette(mask),
        rgb=rgb,
        mask=mask,
        small_grey=small_grey,
        small_mask=small_mask,
        small_scale=small_scale,
        keypoints=tuple((float(p.pt[0]), float(p.pt[1])) for p in points),
        descriptors=descriptors if descriptors is not None and len(points) else None,
        offset=offset,
        scale=scale,
        source_size=source_size or (rgb.shape[1], rgb.shape[0]),
    )


def _silhouette(mask: NDArray[np.uint8]) -> tuple[tuple[float, float], ...]:
    """The outline of the mask's largest part, simplified to within 0.5 % of its perimeter."""
    contours, _hierarchy = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return ()
    largest = max(contours, key=cv2.contourArea)
    simple = cv2.approxPolyDP(largest, 0.005 * cv2.arcLength(largest, True), True)
    return tuple((float(x), float(y)) for x, y in simple.reshape(-1, 2))


def _corners(width: int, height: int) -> NDArray[np.float64]:
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)


def _project(h: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray[np.float64]:
    ones = np.ones((len(points), 1))
    projected = np.hstack([points, ones]) @ h.T
    result: NDArray[np.float64] = projected[:, :2] / projected[:, 2:3]
    return result


def plausible(h: NDArray[np.float64], width: int, height: int, picture: tuple[int, int]) -> bool:
    """A homography that a camera could give: convex, unfolded, sizeable, not too skewed."""
    if not np.all(np.isfinite(h)):
        return False
    corners = _corners(width, height)
    w = np.hstack([corners, np.ones((4, 1))]) @ h.T
    if np.any(w[:, 2] <= 1e-9):
        return False  # a corner behind the camera
    quad = w[:, :2] / w[:, 2:3]
    crosses = []
    for i in range(4):
        a, b, c = quad[i], quad[(i + 1) % 4], quad[(i + 2) % 4]
        crosses.append((b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0]))
    if not (all(c > 0 for c in crosses) or all(c < 0 for c in crosses)):
        return False
    area = abs(float(cv2.contourArea(quad.astype(np.float32))))
    pic_w, pic_h = picture
    if area < 0.0025 * pic_w * pic_h or area > 4.0 * pic_w * pic_h:
        return False
    sides = [float(np.linalg.norm(quad[(i + 1) % 4] - quad[i])) for i in range(4)]
    expected = [width, height, width, height]
    ratios = [s / e for s, e in zip(sides, expected, strict=True)]
    return max(ratios) / max(min(ratios), 1e-9) <= MAX_ANISOTROPY


def _by_keypoints(
    product: PreparedProduct, grey: NDArray[np.uint8], scale: float, full: tuple[int, int]
) -> Location | None:
    if product.descriptors is None or len(product.keypoints) < 2 * MIN_INLIERS:
        return None  # too plain for keypoints: the template search finds it
    points, descriptors = _SIFT.detectAndCompute(grey, None)
    if descriptors is None or len(points) < 4:
        return None
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    pairs = matcher.knnMatch(product.descriptors, descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    src = np.array([product.keypoints[m.queryIdx] for m in good], dtype=np.float32)
    dst = np.array([points[m.trainIdx].pt for m in good], dtype=np.float32)
    h_small, inlier_mask = cv2.findHomography(src, dst, cv2.USAC_MAGSAC, 4.0, maxIters=2000)
    if h_small is None or inlier_mask is None:
        return None
    inliers = int(inlier_mask.sum())
    share = inliers / len(good)
    if inliers < MIN_INLIERS or share < MIN_INLIER_SHARE:
        return None
    # small product -> small picture, to full product -> full picture
    to_small = np.diag([product.small_scale, product.small_scale, 1.0])
    from_small = np.diag([1 / scale, 1 / scale, 1.0])
    h = from_small @ h_small @ to_small
    h = h / h[2, 2]
    height, width = product.mask.shape
    if not plausible(h, width, height, full):
        return None
    # Confidence: many agreeing matches, and most of the good matches agreeing.
    confidence = (1 - np.exp(-inliers / 25.0)) * min(1.0, 0.5 + share)
    return Location(
        found=True,
        confidence=round(float(confidence), 4),
        method="keypoints",
        homography=h,
        outline=[(float(x), float(y)) for x, y in _project(h, _corners(width, height))],
        inliers=inliers,
    )


def _frame(
    product: PreparedProduct, h: NDArray[np.float64], grey: NDArray[np.uint8], side: int
) -> tuple[NDArray[np.float32], NDArray[np.uint8], NDArray[np.float64]]:
    """The picture's grey levels warped into the product's frame (long side at most ``side``,
    at most the product's size in the picture), the mask at that size, and frame -> picture."""
    height, width = product.mask.shape
    quad = _project(h, _corners(width, height))
    apparent = max(
        float(np.linalg.norm(quad[1] - quad[0])) / width,
        float(np.linalg.norm(quad[3] - quad[0])) / height,
    ) * max(width, height)
    s = max(24.0, min(float(side), apparent)) / max(width, height)
    fw, fh = max(8, round(width * s)), max(8, round(height * s))
    frame_to_cut = np.diag([width / fw, height / fh, 1.0])
    matrix = h @ frame_to_cut
    warped = cv2.warpPerspective(
        grey.astype(np.float32), matrix, (fw, fh), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP
    )
    mask = product.sized("mask", fw, fh)
    return warped, np.where(mask > 127, 255, 0).astype(np.uint8), matrix


def outline_support(
    product: PreparedProduct, h: NDArray[np.float64], grey: NDArray[np.uint8], reach: int = 1
) -> float:
    """The share of the product's outline that has an edge across it in the picture, 0..1.

    Colour-blind (a recoloured product keeps its outline), so it tells a found product from a
    place that merely correlates with it, such as a skirting board under a table top.
    """
    warped, mask, _matrix = _frame(product, h, grey, VERIFY_SIDE)
    inside = (mask > 0).astype(np.uint8)
    # The frame's border counts as outside: a product that fills its photo has an outline too.
    edge = inside - cv2.erode(
        inside, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0
    )
    boundary = edge > 0
    if int(boundary.sum()) < 8:
        return 0.0
    soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.5)
    nx, ny = cv2.Sobel(soft, cv2.CV_32F, 1, 0), cv2.Sobel(soft, cv2.CV_32F, 0, 1)
    norm = np.hypot(nx, ny) + 1e-6
    smooth = cv2.GaussianBlur(warped, (0, 0), 0.7)
    gx, gy = cv2.Sobel(smooth, cv2.CV_32F, 1, 0), cv2.Sobel(smooth, cv2.CV_32F, 0, 1)
    # The picture's gradient across the outline, best within ``reach`` pixels of it.
    size = 2 * reach + 1
    across = cv2.dilate(np.abs(gx * nx + gy * ny) / norm, np.ones((size, size), np.uint8))
    return float((across[boundary] >= EDGE_STEP).mean())


def grey_correlation(
    product: PreparedProduct, h: NDArray[np.float64], grey: NDArray[np.uint8], blur: float = 0.0
) -> float:
    """The correlation coefficient of the grey levels inside the product's mask, -1..1 (blind
    to exposure and contrast); ``blur`` (pixels) forgives a slight misalignment."""
    warped, mask, _matrix = _frame(product, h, grey, VERIFY_SIDE)
    fh, fw = mask.shape
    ref = product.sized("grey", fw, fh)
    if blur > 0:
        ref = cv2.GaussianBlur(ref, (0, 0), blur)
        warped = cv2.GaussianBlur(warped, (0, 0), blur)
    inside = mask > 0
    a, b = ref[inside], warped[inside]
    if len(a) < 16 or float(a.std()) < 1e-3 or float(b.std()) < 1e-3:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


def _ecc(
    product: PreparedProduct,
    h: NDArray[np.float64],
    grey: NDArray[np.uint8],
    side: int,
    motion: int,
) -> NDArray[np.float64]:
    """One ECC step at a frame of ``side`` pixels: ``h`` moved to maximise the correlation of
    the grey levels inside the product's mask; ``h`` itself when ECC does not converge."""
    height, width = product.mask.shape
    s = side / max(width, height)
    fw, fh = max(8, round(width * s)), max(8, round(height * s))
    grey_template = product.sized("grey", fw, fh)
    inside = product.sized("mask", fw, fh) > 127
    # Edges, not grey levels: the outline (where the product meets whatever is behind it) is
    # then part of what is aligned, and a flat product still has something to align on.
    pad = 6
    template = _edges(np.pad(grey_template * inside, pad)) + 0.5 * _edges(
        np.pad(inside.astype(np.float32) * 255, pad)
    )
    mask = cv2.dilate(
        np.pad(inside.astype(np.uint8) * 255, pad), np.ones((5, 5), np.uint8), iterations=1
    )
    # The picture at about the frame's scale: the product is as large there as in the frame.
    quad = _project(h, _corners(width, height))
    apparent = max(
        float(np.linalg.norm(quad[1] - quad[0])), float(np.linalg.norm(quad[3] - quad[0]))
    )
    d = min(1.0, side / max(apparent, 1.0))
    # Only the part of the picture around the place (a third of its size beyond it each way).
    (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
    reach = (x1 - x0 + y1 - y0) / 6
    pic_h, pic_w = grey.shape[:2]
    left, top = int(max(0, min(pic_w - 8, x0 - reach))), int(max(0, min(pic_h - 8, y0 - reach)))
    right, bottom = (
        int(min(pic_w, max(left + 8, x1 + reach))),
        int(min(pic_h, max(top + 8, y1 + reach))),
    )
    part = np.ascontiguousarray(grey[top:bottom, left:right])
    picture = _edges(cv2.GaussianBlur(_resize(part, d).astype(np.float32), (0, 0), 0.8))
    frame_to_cut = np.array(
        [[width / fw, 0, -pad * width / fw], [0, height / fh, -pad * height / fh], [0, 0, 1.0]]
    )
    to_small = np.array([[d, 0, -left * d], [0, d, -top * d], [0, 0, 1.0]])
    start = to_small @ h @ frame_to_cut
    start = start / start[2, 2]
    warp = start[:2].astype(np.float32) if motion == cv2.MOTION_AFFINE else start.astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    try:
        _cc, refined = cv2.findTransformECCWithMask(
            template, picture, mask, None, warp, motion, criteria, 5
        )
    except cv2.error:
        return h
    full = np.asarray(refined, dtype=np.float64)
    if full.shape[0] == 2:
        full = np.vstack([full, [0.0, 0.0, 1.0]])
    result: NDArray[np.float64] = np.linalg.inv(to_small) @ full @ np.linalg.inv(frame_to_cut)
    normalised: NDArray[np.float64] = result / float(result[2, 2])
    return normalised


def _polish(
    product: PreparedProduct,
    h: NDArray[np.float64],
    refined: NDArray[np.float64],
    start: NDArray[np.float64],
    picture: NDArray[np.uint8],
    grey: NDArray[np.uint8],
) -> NDArray[np.float64]:
    """The place the template search settled on (``h``, from ``start``) taken to the
    picture's own pixels: ECC coarse to fine from both (an affine step on a small frame reaches
    a tenth of misplacement, a homography on :data:`VERIFY_SIDE` then :data:`FINE_SIDE` pixels
    gives the perspective), and of the plausible results the one where the product looks most
    like itself (structure and edges of :func:`~.compare.compare`). ECC can slip off a plain or
    thin product; the comparison sees that, and the place it left is kept.

    Measured on the labelled set's faithful renders found by templates (test split): corners
    within 2 % of the product's size for 78 % of them (1 %: 62 %), against 60 % (35 %) with
    one ECC step.
    """
    height, width = product.mask.shape
    size = (grey.shape[1], grey.shape[0])
    # ``h`` is ``refined`` (``start`` after one ECC step at VERIFY_SIDE) or, where that step
    # did not raise the evidence (see _better()), ``start``: then the step is judged again here.
    tries = [h] if refined is h else [h, refined]
    affine = _ecc(product, start, grey, 64, cv2.MOTION_AFFINE)
    tries.append(_ecc(product, affine, grey, VERIFY_SIDE, cv2.MOTION_HOMOGRAPHY))
    best, best_likeness = h, _likeness(product, h, picture)
    for candidate in tries[1:]:
        if plausible(candidate, width, height, size):
            likeness = _likeness(product, candidate, picture)
            if likeness > best_likeness + 1e-6:
                best, best_likeness = candidate, likeness
    # The finest step from the best of those, kept where it makes the product look more alike.
    fine = _ecc(product, best, grey, FINE_SIDE, cv2.MOTION_HOMOGRAPHY)
    if plausible(fine, width, height, size) and _likeness(product, fine, picture) > best_likeness:
        return fine
    return best


def _likeness(
    product: PreparedProduct, h: NDArray[np.float64], picture: NDArray[np.uint8]
) -> float:
    """How much the product at ``h`` looks like itself: structure plus edges (see compare())."""
    signals = compare(
        product.rgb, product.mask, picture, h, side=VERIFY_SIDE, alignment_only=True
    ).signals
    return signals["structure"] + signals["edges"]


def colour_agreement(
    product: PreparedProduct, h: NDArray[np.float64], picture: NDArray[np.uint8]
) -> float:
    """How well the colours at ``h`` agree with the product's once a light change is allowed
    (an exposure, and a white balance within 18 %), 0..1: exp(-mean ΔE76 / 20) over the
    :data:`COLOUR_SHARE` of its pixels that agree best."""
    height, width = product.mask.shape
    s = 64 / max(width, height)
    fw, fh = max(8, round(width * s)), max(8, round(height * s))
    matrix = h @ np.diag([width / fw, height / fh, 1.0])
    seen = cv2.warpPerspective(
        picture, matrix, (fw, fh), flags=cv2.INTER_AREA | cv2.WARP_INVERSE_MAP
    ).astype(np.float32)
    ref = product.sized("rgb", fw, fh).astype(np.float32)
    mask = product.sized("mask", fw, fh) > 200
    if int(mask.sum()) < 8:
        return 0.0
    a, b = ref[mask], seen[mask]
    gains = (a * b).sum(axis=0) / np.maximum((a * a).sum(axis=0), 1e-6)
    exposure = float(gains.mean())
    gains = exposure * np.clip(gains / max(exposure, 1e-6), 0.82, 1.18)
    lit = np.clip(a * gains, 0, 255)
    lab_ref = cv2.cvtColor((lit / 255).reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_RGB2LAB)
    lab_seen = cv2.cvtColor((b / 255).reshape(-1, 1, 3).astype(np.float32), cv2.COLOR_RGB2LAB)
    # The best three quarters of the product's pixels: something standing in front of a part
    # of it (a box, a chair) is not a reason to doubt where it is.
    distances = np.sort(np.linalg.norm(lab_ref - lab_seen, axis=2).ravel())
    delta = float(distances[: max(1, int(len(distances) * COLOUR_SHARE))].mean())
    return float(np.exp(-delta / 20.0))


def _edges(grey: NDArray[np.float32], soften: float = 1.2) -> NDArray[np.float32]:
    """Gradient magnitude, softened so that edges ``soften`` pixels or so apart still meet."""
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude: NDArray[np.float32] = cv2.GaussianBlur(np.hypot(gx, gy), (0, 0), soften)
    return magnitude


def _peaks(
    scores: NDArray[np.float32], count: int, size: tuple[int, int]
) -> list[tuple[float, tuple[int, int]]]:
    """The ``count`` best places of a score map, each at least half a template apart."""
    scores = np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0)
    found = []
    tw, th = size
    for _ in range(count):
        _low, peak, _low_at, at = cv2.minMaxLoc(scores)
        if peak <= 0:
            break
        found.append((float(peak), (int(at[0]), int(at[1]))))
        x0, y0 = max(0, at[0] - tw // 2), max(0, at[1] - th // 2)
        scores[y0 : at[1] + th // 2 + 1, x0 : at[0] + tw // 2 + 1] = -1.0
    return found


def chroma_histogram(rgb: NDArray[np.uint8], mask: NDArray[np.uint8] | None) -> NDArray[np.float32]:
    """The share of pixels (inside ``mask``) per bin of Lab chroma (a, b), softened by a bin
    either way: a slightly warmer or cooler light moves a colour a bin or so."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    hist = cv2.calcHist([lab], [1, 2], mask, [CHROMA_BINS, CHROMA_BINS], [0, 256, 0, 256])
    hist = cv2.GaussianBlur(hist, (0, 0), 1.0)
    total = float(hist.sum())
    result: NDArray[np.float32] = (hist / max(total, 1e-6)).astype(np.float32)
    return result


def colour_likeness(product: PreparedProduct, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Per pixel of ``rgb``, 0..1, how much its chroma is the product's rather than the
    picture's at large (Swain and Ballard's ratio histogram, back-projected): a plain product,
    with nothing inside it to correlate, still stands out from its surroundings by colour."""
    if product.chroma is None:
        return np.zeros(rgb.shape[:2], np.float32)
    scene = chroma_histogram(rgb, None)
    ratio = np.minimum(product.chroma / np.maximum(scene, 1e-6), 1.0).astype(np.float32)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    likeness: NDArray[np.float32] = cv2.calcBackProject(
        [lab], [1, 2], ratio * 255.0, [0, 256, 0, 256], 1.0
    ).astype(np.float32)
    return likeness / 255.0


def _distinct(
    found: list[tuple[float, int, int, int, int]],
    count: int,
    taken: list[tuple[float, int, int, int, int]] | None = None,
) -> list[tuple[float, int, int, int, int]]:
    """The ``count`` best of ``found`` (score, x, y, w, h), none where a better one (or one of
    ``taken``) already is: centres within a quarter of its size, sizes within a quarter."""
    kept: list[tuple[float, int, int, int, int]] = []
    for candidate in sorted(found, key=lambda c: -c[0]):
        _peak, x, y, tw, th = candidate
        if any(
            abs(x + tw / 2 - kx - kw / 2) < 0.25 * kw
            and abs(y + th / 2 - ky - kh / 2) < 0.25 * kh
            and 0.8 < tw / kw < 1.25
            for _p, kx, ky, kw, kh in [*(taken or []), *kept]
        ):
            continue
        kept.append(candidate)
        if len(kept) >= count:
            break
    return kept


def _match(
    product: PreparedProduct,
    size: tuple[int, int],
    grey: NDArray[np.float32],
    likeness: NDArray[np.float32],
    edges: NDArray[np.float32],
    soften: float,
) -> tuple[NDArray[np.float32], float, NDArray[np.float32]] | None:
    """The product at ``size`` (width, height) slid over a picture (its softened ``grey``
    levels, its :func:`colour_likeness` and its :func:`_edges` softened by ``soften``).

    Gives the sum of the weighted correlation maps by looks (the grey levels inside the
    product's mask, normalised, weighted by how much texture the product has: a plain
    product's grey levels are mostly the light across it; and its silhouette against the
    picture's likeness to its colours), the sum of their weights, and the correlation map of
    the edges (the product's inner edges and its outline, an edge whatever the background).
    None when the product is too small at that size.
    """
    tw, th = size
    template = cv2.resize(product.small_grey, (tw, th), interpolation=cv2.INTER_AREA)
    template = cv2.GaussianBlur(template.astype(np.float32), (0, 0), 0.8)
    mask = cv2.resize(product.small_mask, (tw, th), interpolation=cv2.INTER_NEAREST)
    if int(np.count_nonzero(mask)) < 32:
        return None
    inside = (mask > 0).astype(np.float32)
    looks = np.zeros((grey.shape[0] - th + 1, grey.shape[1] - tw + 1), np.float32)
    weight = 0.0
    texture = min(1.0, max(0.0, (float(template[mask > 0].std()) - PLAIN_STD) / 20.0))
    if texture > 0:
        correlation = cv2.matchTemplate(grey, template, cv2.TM_CCOEFF_NORMED, mask=mask)
        looks += texture * np.nan_to_num(correlation, nan=-1.0, posinf=-1.0, neginf=-1.0)
        weight += texture
    if float(inside.std()) > 1e-3:
        silhouette = cv2.matchTemplate(likeness, inside, cv2.TM_CCOEFF_NORMED)
        looks += np.nan_to_num(silhouette, nan=-1.0, posinf=-1.0, neginf=-1.0)
        weight += 1.0
    outline = cv2.GaussianBlur(inside * 255.0, (0, 0), 0.8)
    edge_template = _edges(template * inside, soften) + _edges(outline, soften) * 0.5
    edge_map = cv2.matchTemplate(edges, edge_template, cv2.TM_CCOEFF_NORMED)
    return looks, weight, np.nan_to_num(edge_map, nan=-1.0, posinf=-1.0, neginf=-1.0)


def _candidates(
    product: PreparedProduct, picture: NDArray[np.uint8], picture_grey: NDArray[np.uint8]
) -> list[tuple[float, NDArray[np.float64]]]:
    """Places of a multi-scale template search: (score, homography), best first, at most
    :data:`TEMPLATE_PLACES`, none on top of a better one.

    At each scale (see :func:`_match`): places by looks (the grey levels inside the product's
    mask, normalised and blind to exposure, as much as the product has texture; and the
    product's silhouette against where the picture has the product's colours, which finds a
    plain product), and a few places by edges, outline included (which finds thin products,
    table legs and lamp stems, and recoloured ones).
    """
    pic_h, pic_w = picture_grey.shape[:2]
    scale = min(1.0, TEMPLATE_SIDE / max(pic_w, pic_h))
    small = cv2.GaussianBlur(_resize(picture_grey, scale).astype(np.float32), (0, 0), 0.8)
    small_edges = _edges(small, COARSE_SOFTEN)
    likeness = colour_likeness(product, _resize(picture, scale))
    height, width = product.mask.shape
    by_looks: list[tuple[float, int, int, int, int]] = []  # score, x, y, w, h (small copy)
    by_edges: list[tuple[float, int, int, int, int]] = []
    for share in np.geomspace(0.12, 0.95, TEMPLATE_SCALES):
        factor = share * small.shape[0] / height
        tw, th = round(width * factor), round(height * factor)
        if tw < 8 or th < 8 or tw > small.shape[1] or th > small.shape[0]:
            continue
        matched = _match(product, (tw, th), small, likeness, small_edges, COARSE_SOFTEN)
        if matched is None:
            continue
        looks, weight, edge_map = matched
        for peak, (x, y) in _peaks(edge_map, 1, (tw, th)):
            by_edges.append((peak, x, y, tw, th))
        if weight > 0:
            for peak, (x, y) in _peaks(looks / weight, 2, (tw, th)):
                by_looks.append((peak, x, y, tw, th))
    # The edges of a room (window frames, shelves) can outscore the product's outline: the
    # places by edges are kept apart from the places by grey levels and colour, a few of them.
    kept = _distinct(by_looks, TEMPLATE_PLACES - EDGE_PLACES)
    kept += _distinct(by_edges, EDGE_PLACES, kept)
    places = []
    for peak, x, y, tw, _th in kept:
        full_factor = tw / width / scale
        h = np.array(
            [[full_factor, 0, x / scale], [0, full_factor, y / scale], [0, 0, 1]],
            dtype=np.float64,
        )
        places.append((peak, h))
    return places


def evidence(
    product: PreparedProduct,
    h: NDArray[np.float64],
    picture: NDArray[np.uint8],
    grey: NDArray[np.uint8],
    *,
    rough: bool = False,
) -> tuple[float, float]:
    """How much a place looks like the product: (evidence, colour agreement).

    The evidence (0..1) weighs the grey levels' correlation and the outline's support, blind to a
    change of colour: a recoloured product is still found (and then judged on its colour).
    ``rough`` forgives a few pixels of misalignment (a place before it is refined).
    """
    support = outline_support(product, h, grey, reach=3 if rough else 1)
    correlation = max(grey_correlation(product, h, grey, blur=2.0 if rough else 0.0), 0.0)
    # Measured on the project's labelled set: at the true place the correlation is mostly
    # above 0.5 and the outline's support varies (a product as light as the wall behind it);
    # at the best wrong place of a picture without the product, the correlation is mostly
    # below 0.25 while the support reaches 0.75 (floor planks, window frames).
    shown = (correlation + 0.35 * support) / 1.35
    return shown, colour_agreement(product, h, picture)


def _local_search(
    product: PreparedProduct,
    h: NDArray[np.float64],
    picture: NDArray[np.uint8],
    grey: NDArray[np.uint8],
) -> NDArray[np.float64]:
    """``h`` moved to the best place and size near it: the template search again, finer (the
    product about :data:`LOCAL_SIDE` pixels long), over a window a fifth larger than the place
    each way, at sizes within 15 % of it and widths within 6 % of its proportion. The coarse
    search's steps of scale and place are too large for ECC to close on a plain product."""
    height, width = product.mask.shape
    quad = _project(h, _corners(width, height))
    (x0, y0), (x1, y1) = quad.min(axis=0), quad.max(axis=0)
    bw, bh = max(float(x1 - x0), 1.0), max(float(y1 - y0), 1.0)
    d = min(1.0, LOCAL_SIDE / max(bw, bh))
    pic_h, pic_w = grey.shape[:2]
    wx0, wy0 = max(0, int(x0 - 0.2 * bw)), max(0, int(y0 - 0.2 * bh))
    wx1, wy1 = min(pic_w, int(x1 + 0.2 * bw) + 1), min(pic_h, int(y1 + 0.2 * bh) + 1)
    if wx1 - wx0 < 8 or wy1 - wy0 < 8:
        return h
    window = cv2.GaussianBlur(
        _resize(np.ascontiguousarray(grey[wy0:wy1, wx0:wx1]), d).astype(np.float32), (0, 0), 0.8
    )
    window_edges = _edges(window)
    likeness = colour_likeness(
        product, cv2.resize(picture[wy0:wy1, wx0:wx1], (window.shape[1], window.shape[0]))
    )
    dx = window.shape[1] / (wx1 - wx0)
    dy = window.shape[0] / (wy1 - wy0)
    best: tuple[float, int, int, int, int] | None = None
    for size in np.geomspace(0.87, 1.15, 5):
        for stretch in (0.94, 1.0, 1.06):
            tw, th = round(bw * dx * size * stretch), round(bh * dy * size / stretch)
            if tw < 8 or th < 8 or tw > window.shape[1] or th > window.shape[0]:
                continue
            matched = _match(product, (tw, th), window, likeness, window_edges, 1.2)
            if matched is None:
                continue
            looks, weight, edge_map = matched
            # Edges join in at half weight: near the place, a room's edges rarely mislead.
            combined = (looks + 0.5 * edge_map) / (weight + 0.5)
            _low, peak, _low_at, at = cv2.minMaxLoc(combined)
            if best is None or peak > best[0]:
                best = (float(peak), int(at[0]), int(at[1]), tw, th)
    if best is None:
        return h
    _peak, x, y, tw, th = best
    moved = np.array(
        [
            [tw / width / dx, 0, wx0 + x / dx],
            [0, th / height / dy, wy0 + y / dy],
            [0, 0, 1.0],
        ],
        dtype=np.float64,
    )
    return moved


def _better(
    product: PreparedProduct,
    h: NDArray[np.float64],
    picture: NDArray[np.uint8],
    grey: NDArray[np.uint8],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``h`` refined by ECC (a homography: the perspective), unless that made it worse: ECC
    can slip off a plain product, and then the place it left is kept. Gives the place kept
    and the refinement tried (``_polish()`` judges a refinement left here again, by likeness)."""
    height, width = product.mask.shape
    refined = _ecc(product, h, grey, VERIFY_SIDE, cv2.MOTION_HOMOGRAPHY)
    if not plausible(refined, width, height, (grey.shape[1], grey.shape[0])):
        return h, refined
    before, _colour = evidence(product, h, picture, grey)
    after, _colour = evidence(product, refined, picture, grey)
    return (refined if after >= before else h), refined


def _by_template(
    product: PreparedProduct,
    picture: NDArray[np.uint8],
    picture_grey: NDArray[np.uint8],
    full: tuple[int, int],
) -> Location | None:
    # Each place is judged roughly by its evidence and, to choose among look-alikes (a cabinet
    # in the scene beside the product), by its colours under a plausible light; the best few
    # are refined (ECC) and judged again, exactly.
    ranked: list[tuple[float, NDArray[np.float64]]] = []
    for _peak, h in _candidates(product, picture, picture_grey):
        shown, colour = evidence(product, h, picture, picture_grey, rough=True)
        if shown >= MIN_EVIDENCE * 0.6:
            ranked.append((shown * (0.5 + colour), h))
    ranked.sort(key=lambda item: -item[0])
    height, width = product.mask.shape
    best: tuple[float, NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]] | None = None
    for _rough, h in ranked[:REFINED_CANDIDATES]:
        # The finer search can be drawn off by something beside or in front of the product
        # (a box of a similar colour): the place as the coarse search found it is refined too.
        for start in (_local_search(product, h, picture, picture_grey), h):
            placed, refined = _better(product, start, picture, picture_grey)
            shown, colour = evidence(product, placed, picture, picture_grey, rough=True)
            if best is None or shown * (0.5 + colour) > best[0]:
                best = (shown * (0.5 + colour), placed, refined, start)
    if best is None:
        return None
    _rank, h, refined, start = best
    h = _polish(product, h, refined, start, picture, picture_grey)
    # Whether the place holds: its evidence exactly and allowing for a few pixels of
    # misalignment (a plain product's exact evidence is sensitive to them; a finely patterned
    # one's is not, and loses to the blur), and its colours under a plausible light. Measured
    # on the project's labelled set (fit split): faithful renders mostly sum above 2.1, the
    # best wrong place in a picture without the product stayed below 2.0 but for 3 in 40 (a
    # thin lamp on a window frame, a planter, a vanity); a part of a sofa taken for the whole
    # sofa, half of it hidden behind a box, summed 1.95. A wrong place found costs little: the
    # comparison there scores low, as a product not found does.
    shown, colour = evidence(product, h, picture, picture_grey)
    rough = max(shown, evidence(product, h, picture, picture_grey, rough=True)[0])
    held = shown + rough + colour
    if held < MIN_HELD:
        return None
    return Location(
        found=True,
        confidence=round(float(min(1.0, held / 3)), 4),
        method="template",
        homography=h,
        outline=[(float(px), float(py)) for px, py in _project(h, _corners(width, height))],
    )


def locate(product: PreparedProduct, picture: NDArray[np.uint8]) -> Location:
    """Where ``product`` is in ``picture`` (RGB): by keypoints, else templates, else not found."""
    full = (picture.shape[1], picture.shape[0])
    grey = _grey(picture)
    scale = min(1.0, SEARCH_SIDE / max(full))
    found = _by_keypoints(product, _resize(grey, scale), scale, full)
    matched = None if found is None else found.homography
    if found is not None and matched is not None:
        # Matches that agree can still agree on the wrong thing (a repeated pattern): the place
        # must look like the product too, or the template search is asked.
        # Thin parts (a desk's legs) lose their exact correlation to a pixel of misalignment:
        # the evidence allowing for a few pixels counts as well.
        shown = max(
            evidence(product, matched, picture, grey)[0],
            evidence(product, matched, picture, grey, rough=True)[0],
        )
        if shown < MIN_EVIDENCE:
            found = None
        else:  # keypoints on a reduced copy: ECC takes the place to the picture's own pixels
            h, _refined = _better(product, matched, picture, grey)
            height, width = product.mask.shape
            corners = [(float(x), float(y)) for x, y in _project(h, _corners(width, height))]
            found = replace(found, homography=h, outline=corners)
    if found is None:
        found = _by_template(product, picture, grey, full)
    if found is None:
        return Location(False, 0.0, "not-found", None, [])
    return found
