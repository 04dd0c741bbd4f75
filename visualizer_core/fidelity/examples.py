"""The labelled set fidelity is calibrated and measured on: faithful renders and drifted ones.

Every product is one the project draws itself (:func:`visualizer_core.demo.art.draw_product`,
a studio photo on white), cut out by the ingest exactly as a brand's photo would be (the base
PNG with transparency), and some carry a printed label (text in Pillow's bundled font, Aileron
Regular, CC0). Every scene is a room the project draws
(:func:`~visualizer_core.demo.art.draw_room`).
Nothing here comes from outside, so every picture may be used and shipped.

A **faithful** render is the product as a careful model would draw it: scaled and placed on
the floor, in a slight perspective, relit (exposure, warm or cool light, a gradient across it),
with a contact shadow, softened and saved as a JPEG of varying quality. A **drifted** render is
the same, after one of :data:`DRIFT_KINDS` has changed the product itself:

- ``recolour``: its colours turned (hue and chroma in Lab; a grey product comes back tinted);
- ``swap``: another product of the same family (a different sofa, another cabinet);
- ``proportions``: stretched or squeezed by a quarter or more along one axis;
- ``part_missing``: a part of it gone (a band of a fifth to a third of it from one side);
- ``washed_out``: its detail blurred and flattened, as an over-smoothed render;
- ``text_garbled``: its printed label re-lettered (only products that carry one).

:func:`labelled_pairs` makes a split deterministically: ``"fit"`` (what the shipped
calibration is fitted on) and ``"test"`` (what the benchmark and the tests measure on) share no
product, scene or seed. :func:`render` and :func:`drift` are also what the Gemini stand-in draws
with, so the end-to-end path sees the same kinds of pictures.
"""

from __future__ import annotations

import io
import math
import random
import string
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from visualizer_core.demo.art import draw_product, draw_room
from visualizer_core.images.ingest import ingest_image

__all__ = [
    "DRIFT_KINDS",
    "KINDS",
    "Example",
    "Placement",
    "drift",
    "labelled_pairs",
    "make_product",
    "render",
]

DRIFT_KINDS: Final = (
    "recolour",
    "swap",
    "proportions",
    "part_missing",
    "washed_out",
    "text_garbled",
)
KINDS: Final = ("faithful", *DRIFT_KINDS)

# Families of categories that look alike: a swap takes another member of the same family.
FAMILIES: Final[tuple[tuple[str, ...], ...]] = (
    ("sofa", "outdoor_sofa", "armchair"),
    ("dining_chair", "office_chair", "bar_stool"),
    ("coffee_table", "dining_table", "outdoor_table", "desk", "side_table"),
    ("nightstand", "dresser", "sideboard", "tv_stand", "shoe_cabinet", "toy_storage"),
    ("bathroom_vanity", "sideboard", "dresser"),
    ("bookshelf", "wardrobe"),
    ("floor_lamp", "table_lamp", "pendant_light"),
    ("bed", "kids_bed"),
    ("plant", "planter", "vase"),
    ("wall_art", "mirror"),
    ("cushion", "throw_blanket", "bath_towel"),
    ("cookware", "kitchen_storage"),
    ("rug", "wall_art"),
    ("coat_rack", "floor_lamp"),
)
CATEGORIES: Final = tuple(sorted({c for family in FAMILIES for c in family}))
ROOMS: Final = ("living_room", "bedroom", "home_office", "dining_room", "kitchen", "bathroom")
# Products whose photo carries a printed label (a brand name, a care tag, a print).
LABELLED: Final = frozenset(
    {"cookware", "kitchen_storage", "cushion", "wall_art", "dresser", "sideboard", "other"}
)
_SPLIT_SEED: Final = {"fit": 0, "test": 1_000_003}
_WORDS: Final = (
    "NORD", "OAK", "LINEN", "CASA", "ALBA", "ORBIT", "FJORD", "TERRA", "LUMEN", "SOLA",
    "KAVA", "MIRA", "ATLAS", "VELA", "BRIO", "ONDA",
)  # fmt: skip


@dataclass(frozen=True)
class Placement:
    """Where a render put the product: its cut-out's corners in the picture (clockwise from top
    left) and the light applied (per-channel gain)."""

    corners: list[tuple[float, float]]
    gain: tuple[float, float, float]


@dataclass(frozen=True)
class Example:
    """One labelled pair: the product cut-out (PNG with alpha), the picture (JPEG), the truth."""

    product: bytes
    image: bytes
    kind: str  # "faithful" or one of DRIFT_KINDS
    category: str
    seed: int
    placement: Placement = field(repr=False)

    @property
    def faithful(self) -> bool:
        return self.kind == "faithful"


# -- products -------------------------------------------------------------------------------------


def _random_colour(rng: random.Random) -> tuple[int, int, int]:
    """A product colour: muted or saturated, light or dark, sometimes a near grey."""
    if rng.random() < 0.2:
        grey = rng.randrange(70, 200)
        tint = rng.randrange(-6, 7)
        return (grey + tint, grey, grey - tint)
    h = rng.random()
    s = rng.uniform(0.25, 0.8)
    v = rng.uniform(0.35, 0.9)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return (round(r * 255), round(g * 255), round(b * 255))


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _label_text(rng: random.Random) -> str:
    return f"{rng.choice(_WORDS)} {rng.randrange(10, 99)}"


def _draw_label(rgba: Image.Image, text: str, box: tuple[int, int, int, int]) -> Image.Image:
    """The cut-out with a printed label: a light plate in ``box`` with ``text`` on it."""
    out = rgba.copy()
    draw = ImageDraw.Draw(out)
    left, top, right, bottom = box
    draw.rectangle(box, fill=(238, 232, 218, 255), outline=(60, 52, 44, 255), width=2)
    size = max(8, int((bottom - top) * 0.62))
    font = _font(size)
    while size > 8 and draw.textlength(text, font=font) > (right - left) * 0.9:
        size -= 2
        font = _font(size)
    draw.text(
        ((left + right) / 2, (top + bottom) / 2),
        text,
        fill=(30, 28, 40, 255),
        font=font,
        anchor="mm",
    )
    return out


def _label_box(rgba: Image.Image) -> tuple[int, int, int, int] | None:
    """Where a label fits on the product: a band across the middle of its opaque part."""
    alpha = np.asarray(rgba.getchannel("A")) > 200
    rows = np.flatnonzero(alpha.sum(axis=1) > 0.6 * alpha.shape[1] * alpha.any(axis=0).mean())
    if len(rows) < 20:
        return None
    middle = int(np.median(rows))
    cols = np.flatnonzero(alpha[middle])
    if len(cols) < 40:
        return None
    width = cols[-1] - cols[0]
    height = max(16, int(min(width * 0.28, alpha.shape[0] * 0.16)))
    cx = (cols[0] + cols[-1]) // 2
    half = int(width * 0.36)
    return (cx - half, middle - height // 2, cx + half, middle + height // 2)


@dataclass(frozen=True)
class _Product:
    cutout: Image.Image  # RGBA, what the ingest stores
    label: str | None
    label_box: tuple[int, int, int, int] | None


@lru_cache(maxsize=64)
def _product(category: str, colour: tuple[int, int, int], seed: int, label: str | None) -> _Product:
    photo = draw_product(category, color=colour, seed=seed, size=(560, 560))
    base = ingest_image(photo, filename=f"{category}.jpg").base_png
    with Image.open(io.BytesIO(base)) as opened:
        cutout = opened.convert("RGBA")
    box = _label_box(cutout) if label else None
    if label and box:
        cutout = _draw_label(cutout, label, box)
    return _Product(cutout=cutout, label=label if box else None, label_box=box)


def make_product(
    category: str, *, colour: tuple[int, int, int], seed: int = 0, label: str | None = None
) -> Image.Image:
    """A product cut-out (RGBA) as the ingest stores it, with a printed ``label`` if given."""
    return _product(category, colour, seed, label).cutout.copy()


# -- drift ---------------------------------------------------------------------------------------


def _lab(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    lab: NDArray[np.float32] = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    return lab


def _recolour(cutout: Image.Image, rng: random.Random) -> Image.Image:
    """Hue and chroma turned in Lab (a grey gains a tint), lightness kept: not a light change."""
    rgba = np.asarray(cutout).copy()
    lab = _lab(np.ascontiguousarray(rgba[..., :3]))
    a, b = lab[..., 1] - 128, lab[..., 2] - 128
    chroma = float(np.median(np.hypot(a, b)[rgba[..., 3] > 128]))
    if chroma < 12 or rng.random() < 0.3:
        angle = rng.uniform(0, 2 * math.pi)
        shift = rng.uniform(18, 32)
        a, b = a + shift * math.cos(angle), b + shift * math.sin(angle)
    else:
        turn = rng.choice((-1, 1)) * rng.uniform(0.9, 2.6)  # radians: 50 to 150 degrees
        a, b = a * math.cos(turn) - b * math.sin(turn), a * math.sin(turn) + b * math.cos(turn)
    lab[..., 1], lab[..., 2] = np.clip(a + 128, 0, 255), np.clip(b + 128, 0, 255)
    rgb = cv2.cvtColor(lab.astype(np.uint8), cv2.COLOR_LAB2RGB)
    rgba[..., :3] = rgb
    return Image.fromarray(rgba, "RGBA")


def _stretch(cutout: Image.Image, rng: random.Random) -> Image.Image:
    factor = rng.uniform(1.3, 1.7)
    w, h = cutout.size
    size = (round(w * factor), h) if rng.random() < 0.5 else (w, round(h * factor))
    return cutout.resize(size, Image.Resampling.BICUBIC)


def _remove_part(cutout: Image.Image, rng: random.Random) -> Image.Image:
    """A band from one side of the product's box made transparent: a part is gone."""
    rgba = np.asarray(cutout).copy()
    ys, xs = np.nonzero(rgba[..., 3] > 128)
    top, bottom, left, right = ys.min(), ys.max(), xs.min(), xs.max()
    share = rng.uniform(0.22, 0.36)
    side = rng.choice(("top", "bottom", "left", "right"))
    if side == "top":
        rgba[: top + int((bottom - top) * share), :, 3] = 0
    elif side == "bottom":
        rgba[bottom - int((bottom - top) * share) :, :, 3] = 0
    elif side == "left":
        rgba[:, : left + int((right - left) * share), 3] = 0
    else:
        rgba[:, right - int((right - left) * share) :, 3] = 0
    return Image.fromarray(rgba, "RGBA")


def _wash_out(cutout: Image.Image, rng: random.Random) -> Image.Image:
    """Detail blurred away and contrast flattened inside the product; its outline kept."""
    rgba = np.asarray(cutout).copy()
    sigma = rng.uniform(5.0, 9.0) * max(cutout.size) / 560
    rgb = rgba[..., :3].astype(np.float32)
    weight = (rgba[..., 3:4] > 128).astype(np.float32)
    blurred = cv2.GaussianBlur(rgb * weight, (0, 0), sigma)
    norm = cv2.GaussianBlur(weight[..., 0], (0, 0), sigma)[..., None]
    smooth = blurred / np.maximum(norm, 1e-3)
    mean = (rgb * weight).sum(axis=(0, 1)) / max(float(weight.sum()), 1.0)
    flat = smooth + (mean - smooth) * rng.uniform(0.25, 0.5)
    rgba[..., :3] = np.where(weight > 0, np.clip(flat, 0, 255), rgb).astype(np.uint8)
    return Image.fromarray(rgba, "RGBA")


def _garble(text: str, rng: random.Random) -> str:
    letters = list(text)
    for i, ch in enumerate(letters):
        if ch.isalnum():
            pool = string.digits if ch.isdigit() else string.ascii_uppercase
            letters[i] = rng.choice([c for c in pool if c != ch])
    return "".join(letters)


def drift(
    kind: str,
    cutout: Image.Image,
    rng: random.Random,
    *,
    category: str = "other",
    colour: tuple[int, int, int] = (128, 128, 128),
    seed: int = 0,
    label: str | None = None,
) -> Image.Image:
    """The cut-out changed by ``kind`` (one of :data:`DRIFT_KINDS`), as a drifting model would.

    ``swap`` and ``text_garbled`` redraw the product, so they need what it was made from
    (``category``, ``colour``, ``seed``, ``label``); the others change the pixels given.
    """
    if kind == "recolour":
        return _recolour(cutout, rng)
    if kind == "proportions":
        return _stretch(cutout, rng)
    if kind == "part_missing":
        return _remove_part(cutout, rng)
    if kind == "washed_out":
        return _wash_out(cutout, rng)
    if kind == "swap":
        family = next((f for f in FAMILIES if category in f), (category,))
        others = [c for c in family if c != category] or [category]
        other = rng.choice(others)
        return make_product(other, colour=colour, seed=seed + 7919, label=label)
    if kind == "text_garbled":
        made = _product(category, colour, seed, label)
        if made.label is None or made.label_box is None:
            raise ValueError(f"a {category} without a label cannot have its text garbled")
        plain = _product(category, colour, seed, None).cutout
        return _draw_label(plain, _garble(made.label, rng), made.label_box)
    raise ValueError(f"unknown drift {kind!r}; one of {', '.join(DRIFT_KINDS)}")


# -- rendering -----------------------------------------------------------------------------------


def _light(rng: random.Random) -> tuple[float, float, float]:
    """A plausible light change: exposure and a warm or cool white balance."""
    exposure = rng.uniform(0.72, 1.18)
    warmth = rng.uniform(-0.07, 0.1)
    return (exposure * (1 + warmth), exposure, exposure * (1 - warmth * 1.2))


def render(
    cutout: Image.Image,
    scene: Image.Image,
    rng: random.Random,
    *,
    height_share: tuple[float, float] = (0.3, 0.62),
    perspective: float = 0.05,
    jpeg_quality: tuple[int, int] = (72, 94),
    light: tuple[float, float, float] | None = None,
) -> tuple[bytes, Placement]:
    """The cut-out placed in the scene as a model would draw it; the JPEG and the placement.

    Scaled so its height is within ``height_share`` of the picture's (narrower if it would not
    fit), standing on the lower part of the frame, its corners moved by up to ``perspective`` of
    its size, relit by ``light`` (per-channel gain, random when None) with a vertical gradient,
    over a soft contact shadow, softened slightly and saved at a quality in ``jpeg_quality``.
    """
    canvas = np.asarray(scene.convert("RGB"), dtype=np.float32).copy()
    height, width = canvas.shape[:2]
    cw, ch = cutout.size
    target_h = rng.uniform(*height_share) * height
    scale = min(target_h / ch, 0.8 * width / cw)
    pw, ph = cw * scale, ch * scale
    x0 = rng.uniform(0.04 * width, width - pw - 0.04 * width)
    bottom = rng.uniform(max(ph + 0.03 * height, 0.7 * height), 0.97 * height)
    y0 = bottom - ph
    jitter = perspective * min(pw, ph)
    corners = [(x0, y0), (x0 + pw, y0), (x0 + pw, y0 + ph), (x0, y0 + ph)]
    moved = [
        (x + rng.uniform(-jitter, jitter), y + rng.uniform(-jitter, jitter)) for x, y in corners
    ]
    source = np.array([(0, 0), (cw, 0), (cw, ch), (0, ch)], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, np.array(moved, dtype=np.float32))
    rgba = np.asarray(cutout, dtype=np.float32)
    warped = cv2.warpPerspective(
        rgba, matrix, (width, height), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    alpha = warped[..., 3:4] / 255.0
    gain = light if light is not None else _light(rng)
    ys = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    centre = (y0 + ph / 2) / height
    gradient = 1 + rng.uniform(-0.12, 0.12) * (ys - centre) / max(ph / height, 1e-3)
    lit = warped[..., :3] * np.array(gain, dtype=np.float32) * np.clip(gradient, 0.85, 1.15)
    # A soft contact shadow: a dark blurred ellipse under the product's base.
    shadow = np.zeros((height, width), np.float32)
    base_y = max(y for _x, y in moved[2:])
    cv2.ellipse(
        shadow,
        (round(x0 + pw / 2), round(base_y)),
        (max(2, round(pw * 0.48)), max(2, round(ph * 0.05))),
        0,
        0,
        360,
        1.0,
        -1,
    )
    shadow = cv2.GaussianBlur(shadow, (0, 0), max(1.0, ph * 0.03))
    canvas *= 1 - 0.45 * shadow[..., None]
    canvas = canvas * (1 - alpha) + lit * alpha
    image = np.clip(canvas, 0, 255).astype(np.uint8)
    blur = rng.uniform(0.0, 0.8)
    if blur > 0.2:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    out = io.BytesIO()
    Image.fromarray(image, "RGB").save(out, "JPEG", quality=rng.randrange(*jpeg_quality))
    placement = Placement(corners=[(float(x), float(y)) for x, y in moved], gain=gain)
    return out.getvalue(), placement


@lru_cache(maxsize=32)
def _scene(room: str, seed: int, size: tuple[int, int]) -> Image.Image:
    with Image.open(io.BytesIO(draw_room(room, seed=seed, size=size))) as opened:
        return opened.convert("RGB")


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def labelled_pairs(
    count: int, *, split: str = "test", drifted: float = 0.5, only: str | None = None
) -> Iterator[Example]:
    """``count`` labelled pairs of ``split`` (``fit`` or ``test``): a ``drifted`` share drifted,
    spread evenly over :data:`DRIFT_KINDS`, the rest faithful (or all of kind ``only``); the
    same arguments give the same pairs, and the two splits share no product, scene or seed."""
    if split not in _SPLIT_SEED:
        raise ValueError(f"unknown split {split!r}; fit or test")
    if only is not None and only not in KINDS:
        raise ValueError(f"unknown kind {only!r}; one of {', '.join(KINDS)}")
    base = _SPLIT_SEED[split]
    n_drifted = round(count * drifted)
    kinds = ["faithful"] * (count - n_drifted) + [
        DRIFT_KINDS[i % len(DRIFT_KINDS)] for i in range(n_drifted)
    ]
    random.Random(base).shuffle(kinds)
    if only is not None:
        kinds = [only] * count
    for index, kind in enumerate(kinds):
        seed = base + index
        rng = random.Random(seed * 7 + 1)
        pool = sorted(LABELLED & set(CATEGORIES)) if kind == "text_garbled" else CATEGORIES
        category = rng.choice(pool)
        labelled = category in LABELLED and (kind == "text_garbled" or rng.random() < 0.6)
        label = _label_text(rng) if labelled else None
        colour = _random_colour(rng)
        made = _product(category, colour, seed, label)
        if kind == "text_garbled" and made.label is None:  # no room for a label: another drift
            kind = "recolour"
        shown = made.cutout
        if kind != "faithful":
            shown = drift(kind, made.cutout, rng, category=category, colour=colour, seed=seed,
                          label=made.label)  # fmt: skip
        size = rng.choice(((1024, 768), (1024, 1024), (768, 1024)))
        scene = _scene(rng.choice(ROOMS), base + rng.randrange(40), size)
        image, placement = render(shown, scene, rng)
        yield Example(
            product=_png(made.cutout),
            image=image,
            kind=kind,
            category=category,
            seed=seed,
            placement=placement,
        )
