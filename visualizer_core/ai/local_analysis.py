"""Offline, deterministic analysers: what a product is and what a scene looks like.

Products are read from their catalog text (category, rooms, style and material words, through
:mod:`visualizer_core.taxonomy`) and coloured from their photo: the base PNG's opaque pixels,
quantised to a few dominant colours that get human names. Scenes are measured from their
pixels: palette, brightness, warmth, orientation, a lighting phrase, a style guess and the
height where the floor meets the wall.

Everything works on a small downsampled copy, so an analysis takes a few milliseconds, and the
same input always gives the same answer.
"""

from __future__ import annotations

import colorsys
import functools
import io
import math
import re
import tomllib
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps
from pydantic import BaseModel, ConfigDict, model_validator

from visualizer_core import taxonomy
from visualizer_core.ai.base import ProductFacts
from visualizer_core.errors import InvalidImage
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis

__all__ = [
    "MATERIAL_WORDS",
    "NAMED_COLORS",
    "STYLE_WORDS",
    "analyze_product",
    "analyze_scene",
    "color_name",
    "palette_style",
]

RGB = tuple[int, int, int]
FloatArray = npt.NDArray[np.float64]

# Side of the downsampled copy the analysers work on.
_PRODUCT_SIDE = 96
_SCENE_SIDE = 160
_MAX_COLORS = 5
# A dominant colour must cover at least this share of the pixels.
_MIN_SHARE = 0.03
# Colours closer than this (CIE76 delta E) are one colour.
_MERGE_DELTA_E = 14.0
_ALPHA_OPAQUE = 200


class _Words(BaseModel):
    """``data/furnishing_words.toml``: the colour, style and material words, checked once."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    materials: tuple[str, ...]
    colors: dict[str, tuple[int, int, int]]
    color_aliases: dict[str, str]
    styles: dict[str, tuple[str, ...]]
    material_styles: dict[str, str]

    @model_validator(mode="after")
    def _names_known(self) -> _Words:
        unknown = [c for c in self.color_aliases.values() if c not in self.colors]
        unknown += [s for s in self.material_styles.values() if s not in self.styles]
        if unknown:
            raise ValueError(f"furnishing_words.toml names unknown {', '.join(unknown)}")
        return self


_WORDS = _Words.model_validate(
    tomllib.loads(
        resources.files(__package__).joinpath("data/furnishing_words.toml").read_text("utf-8")
    )
)
NAMED_COLORS: Final[dict[str, RGB]] = _WORDS.colors
STYLE_WORDS: Final[dict[str, tuple[str, ...]]] = _WORDS.styles
MATERIAL_WORDS: Final[tuple[str, ...]] = _WORDS.materials
_COLOR_ALIASES: Final = _WORDS.color_aliases
# Materials that say something about style when the text names none.
_MATERIAL_STYLE: Final = _WORDS.material_styles


# -- colour helpers -----------------------------------------------------------------------------


def _srgb_to_lab(rgb: npt.ArrayLike) -> FloatArray:
    """CIE L*a*b* (D65) of sRGB colours given as 0..255 values, shape (..., 3)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = c @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])],
        axis=-1,
    )


@functools.cache
def _named_lab() -> tuple[tuple[str, ...], FloatArray]:
    names = tuple(NAMED_COLORS)
    return names, _srgb_to_lab([NAMED_COLORS[n] for n in names])


def color_name(rgb: RGB) -> str:
    """The nearest name in :data:`NAMED_COLORS` (by CIE76 distance in L*a*b*)."""
    names, table = _named_lab()
    lab = _srgb_to_lab(rgb)
    return names[int(np.argmin(((table - lab) ** 2).sum(axis=1)))]


def _hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _dominant_colors(pixels: npt.NDArray[np.uint8]) -> list[tuple[RGB, float]]:
    """The dominant colours of (N, 3) pixels with their shares, largest first (up to five)."""
    if len(pixels) == 0:
        return []
    strip = Image.fromarray(pixels.reshape(1, -1, 3), "RGB")
    quantized = strip.quantize(colors=8, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    counts = np.bincount(np.asarray(quantized).ravel(), minlength=8)
    raw = quantized.getpalette() or []
    found = sorted(
        (
            (int(count), (raw[3 * i], raw[3 * i + 1], raw[3 * i + 2]))
            for i, count in enumerate(counts)
            if count > 0 and 3 * i + 2 < len(raw)
        ),
        key=lambda item: (-item[0], item[1]),
    )
    merged: list[tuple[RGB, int]] = []
    for count, rgb in found:
        lab = _srgb_to_lab(rgb)
        for index, (kept, kept_count) in enumerate(merged):
            if float(np.linalg.norm(_srgb_to_lab(kept) - lab)) < _MERGE_DELTA_E:
                merged[index] = (kept, kept_count + count)
                break
        else:
            merged.append((rgb, count))
    merged.sort(key=lambda item: (-item[1], item[0]))
    total = float(len(pixels))
    out = [(rgb, count / total) for rgb, count in merged if count / total >= _MIN_SHARE]
    return out[:_MAX_COLORS] or [(merged[0][0], merged[0][1] / total)]


def palette_style(colors: Sequence[tuple[RGB, float]]) -> list[str]:
    """A rough style guess from dominant colours and their shares (a weak signal).

    Light neutrals read as Scandinavian, dark neutrals as industrial, mid neutrals as modern,
    warm wood browns as mid-century, light blues as coastal, strong colours as boho.
    """
    if not colors:
        return ["modern"]
    total = sum(share for _, share in colors) or 1.0
    hsv = [(colorsys.rgb_to_hsv(*(v / 255 for v in rgb)), share / total) for rgb, share in colors]
    sat = sum(s * w for (_, s, _v), w in hsv)
    val = sum(v * w for (_, _s, v), w in hsv)
    vivid = [(h * 360, s, v, w) for (h, s, v), w in hsv if s >= 0.25 and v >= 0.2]
    vivid_share = sum(w for *_, w in vivid)
    if sat < 0.16 or vivid_share < 0.2:
        if val > 0.68:
            return ["scandinavian", "minimalist"]
        if val < 0.35:
            return ["industrial", "modern"]
        return ["modern", "minimalist"]
    hue, s, v, _w = max(vivid, key=lambda c: c[3])
    if 15 <= hue <= 50 and s < 0.75 and v < 0.85:
        return ["mid-century", "rustic"] if v < 0.5 else ["mid-century"]
    if 180 <= hue <= 250 and v > 0.55 and s < 0.6:
        return ["coastal"]
    if sat > 0.5:
        return ["boho"]
    return ["modern"]


# -- decoding -----------------------------------------------------------------------------------


def _open(data: bytes, what: str, side: int) -> Image.Image:
    """Decode, apply the EXIF orientation and shrink to at most ``side`` pixels a side."""
    if not data:
        raise InvalidImage(what, "the file is empty")
    try:
        opened = Image.open(io.BytesIO(data))
        if opened.format == "JPEG":
            opened.draft("RGB", (side * 2, side * 2))
        image = ImageOps.exif_transpose(opened)
        image.load()
    except Image.DecompressionBombError as error:
        raise InvalidImage(what, f"the image is too large to decode ({error})") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise InvalidImage(what, f"not an image Pillow can read ({error})") from error
    if image.width < 1 or image.height < 1:
        raise InvalidImage(what, "the image has no pixels")
    return image


def _erode(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """The mask less its one-pixel rim (4-neighbourhood)."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def _product_pixels(image: Image.Image) -> npt.NDArray[np.uint8]:
    """The product's own pixels: opaque ones of a cut-out, or those unlike a plain backdrop."""
    image = image.convert("RGBA")
    image.thumbnail((_PRODUCT_SIDE, _PRODUCT_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    rgba = np.asarray(image)
    opaque = rgba[..., 3] >= _ALPHA_OPAQUE
    rgb = rgba[..., :3]
    if opaque.all():  # no cut-out: drop a plain backdrop seen along the border
        border = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float64)
        if float(border.std(axis=0).max()) < 12.0:
            distance = np.abs(rgb.astype(np.float64) - np.median(border, axis=0)).max(axis=-1)
            foreground = _erode(distance > 28.0)  # the rim is a blend with the backdrop
            if foreground.mean() >= 0.03:
                opaque = foreground
    return rgb[opaque].astype(np.uint8)


# -- text helpers -------------------------------------------------------------------------------


@functools.cache
def _phrase(words: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z0-9]){re.escape(taxonomy.normalize_text(words))}(?![a-z0-9])")


def _keyword_hits(text: str, phrases: Iterable[tuple[str, str]]) -> list[str]:
    """Targets of the phrases found in normalised text, in text order; longer phrases win."""
    hits = taxonomy.find_phrases(text, ((_phrase(phrase), target) for phrase, target in phrases))
    return list(dict.fromkeys(hit.target for hit in hits))


def _clean(values: Iterable[str]) -> list[str]:
    out = (" ".join(v.split()).lower() for v in values if v and v.strip())
    return list(dict.fromkeys(out))


def _catalog_palette(colors: Sequence[str]) -> list[str]:
    out = []
    for name in colors:
        key = _COLOR_ALIASES.get(name, name)
        if key in NAMED_COLORS:
            out.append(_hex(NAMED_COLORS[key]))
    return list(dict.fromkeys(out))[:_MAX_COLORS]


def _tags(description: str | None) -> tuple[str | None, list[str]]:
    """The description without its ``Tags: a, b`` line (the catalog import adds one for
    Shopify's tags), and the tags."""
    if not description or "Tags:" not in description:
        return description, []
    body, _, line = description.rpartition("Tags:")
    if "\n" in line.strip():
        return description, []
    return body.strip() or None, [t.strip() for t in line.split(",") if t.strip()]


def _product_shape(photo: bytes) -> float | None:
    """Height over width of the product in its photo (the opaque part of a cut-out, or what
    differs from a plain backdrop); ``None`` when the photo cannot be read."""
    try:
        image = _open(photo, "product photo", 256).convert("RGBA")
    except InvalidImage:
        return None
    image.thumbnail((_PRODUCT_SIDE, _PRODUCT_SIDE))
    alpha = np.asarray(image)[..., 3] >= _ALPHA_OPAQUE
    if alpha.all():
        rgb = np.asarray(image.convert("RGB")).astype(np.int16)
        alpha = np.abs(rgb - rgb[0, 0]).max(axis=-1) > 28
    rows, cols = np.nonzero(alpha)
    if len(rows) == 0:
        return None
    return float(rows.max() - rows.min() + 1) / float(cols.max() - cols.min() + 1)


def _rooms(found: taxonomy.Classification, facts: ProductFacts) -> list[str]:
    """The category's rooms, with rooms the product's own text names put first.

    A room in the name or named by a qualifier ("Kids' Desk", "Garden Bench") goes first,
    and so does one in a category text that is a room department ("Dining Room Furniture").
    A room mentioned in a description goes first if the category belongs there anyway and
    second if not: it adds a room, it does not overrule what the product is. A category the
    classifier is unsure of gives no rooms of its own: only rooms the text names remain.
    """
    strong = [
        *taxonomy.find_room_mentions(facts.name),
        *taxonomy.find_room_mentions(facts.category),
    ]
    weak = taxonomy.find_room_mentions(facts.description)
    if found.confidence < taxonomy.UNSURE_BELOW:
        return list(dict.fromkeys([*strong, *weak]))
    usual = list(found.rooms)
    rooms = list(dict.fromkeys([*strong, *(r for r in weak if r in usual), *usual]))
    extra = [r for r in dict.fromkeys(weak) if r not in rooms]
    return [*rooms[:1], *extra, *rooms[1:]]


def _room_phrase(room: str) -> str:
    if room == "outdoor":
        return "outdoor spaces"
    if room == "kids_room":
        return "a kids' room"
    return f"the {taxonomy.ROOM_TYPES.get(room, room).lower()}"


def _join(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _article(word: str) -> str:
    return "An" if word[:1].lower() in "aeiou" else "A"


# -- the analysers ------------------------------------------------------------------------------


def analyze_product(facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
    """Categorise a product and describe its rooms, style, materials and colours.

    The category comes from :func:`taxonomy.classify` (a Google product taxonomy id and path
    with a confidence); rooms, placement and size from the rules on its path (rooms the text
    names go first; none when the classifier is unsure and the text names no room); style
    and material words from the text, with a guess from the colours when the text names no
    style. Colours come from the first photo's opaque pixels (the base PNG is a cut-out),
    named after the catalog's own.
    A photo that cannot be decoded raises :class:`~visualizer_core.errors.InvalidImage`.
    """
    pixels = _product_shape(images[0]) if images else None
    description, tags = _tags(facts.description)
    found = taxonomy.classify(
        facts.name,
        facts.category,
        description,
        tags=tags,
        describing=[*facts.colors, *facts.materials],
        aspect=pixels,
    )
    sure = found.taxonomy_id is not None and found.confidence >= taxonomy.UNSURE_BELOW
    text = taxonomy.normalize_text(
        " . ".join(filter(None, [facts.name, facts.category, facts.description]))
    )
    materials = _clean([*facts.materials, *_keyword_hits(text, ((m, m) for m in MATERIAL_WORDS))])
    catalog_colors = _clean(facts.colors)

    dominant: list[tuple[RGB, float]] = []
    if images:
        dominant = _dominant_colors(_product_pixels(_open(images[0], "product photo", 512)))
    palette = [_hex(rgb) for rgb, _ in dominant] or _catalog_palette(catalog_colors)
    photo_colors = [color_name(rgb) for rgb, _ in dominant]
    colors = list(dict.fromkeys([*catalog_colors, *photo_colors]))

    style = _keyword_hits(text, ((p, name) for name, ps in STYLE_WORDS.items() for p in ps))
    if not style:
        hinted = [_MATERIAL_STYLE[m] for m in materials if m in _MATERIAL_STYLE]
        style = list(dict.fromkeys([*hinted[:1], *palette_style(dominant)]))[:2]
    rooms = _rooms(found, facts)

    label = found.label.lower() if sure else "home product"
    described = f"{style[0]} {label}" if style else label
    summary = f"{_article(described)} {described}"
    if colors:
        summary += f" in {_join(colors[:2])}"
    if materials:
        summary += f", made of {_join(materials[:2])}"
    summary += (
        f", for {' or '.join(_room_phrase(r) for r in rooms[:2])}."
        if rooms
        else "; its room is not clear from the catalog."
    )
    return ProductAnalysis(
        category=found.kind if sure else "other",
        taxonomy_id=found.taxonomy_id,
        taxonomy_path=found.path,
        confidence=found.confidence,
        room_types=rooms,
        style=style,
        materials=materials,
        colors=colors,
        palette=palette,
        placement=found.placement if sure else "floor",
        size_class=found.size_class if sure else "medium",
        summary=summary,
    )


def _lighting(brightness: float, warmth: float) -> str:
    if brightness >= 0.62:
        return "bright warm daylight" if warmth >= 0.3 else "bright daylight"
    if brightness >= 0.38:
        if warmth >= 0.3:
            return "soft warm light"
        return "cool diffuse daylight" if warmth <= -0.15 else "soft natural light"
    if warmth >= 0.15:
        return "soft warm evening light"
    return "cool low light" if warmth <= -0.15 else "dim ambient light"


def _floor_line(rgb: FloatArray) -> float:
    """Where the floor meets the wall, as a height fraction (0 top .. 1 bottom).

    The row whose colour changes most between the rows just above and just below it, looked
    for between 35% and 90% of the height; rows are summarised by their median colour so
    furniture in front of the wall counts less. A picture without a clear edge gives 0.75.
    """
    height = int(rgb.shape[0])
    rows = np.median(rgb, axis=1)  # (H, 3)
    k = max(2, height // 40)
    lo, hi = max(k, int(height * 0.35)), min(height - k, math.ceil(height * 0.9))
    if hi <= lo:
        return 0.75
    cumulative = np.vstack([np.zeros((1, 3)), np.cumsum(rows, axis=0)])
    candidates = np.arange(lo, hi + 1)
    above = (cumulative[candidates] - cumulative[candidates - k]) / k
    below = (cumulative[candidates + k] - cumulative[candidates]) / k
    change = np.linalg.norm(above - below, axis=1)
    best = int(np.argmax(change))
    if float(change[best]) < 0.04:
        return 0.75
    return round(int(candidates[best]) / height, 3)


def _guess_room(rgb: FloatArray, brightness: float, warmth: float, saturation: float) -> str:
    """A weak guess at the room from colour alone: greenery and sky read as outdoors, bright
    cool neutrals (tiles) as a bathroom, anything else as a living room. People give the room
    type on upload; this is only the fallback when they do not.
    """
    hsv = np.asarray(Image.fromarray((rgb * 255).astype(np.uint8), "RGB").convert("HSV"))
    hue = hsv[..., 0].astype(np.float64) * 360 / 255
    sat = hsv[..., 1] / 255
    green = float(((hue >= 70) & (hue <= 170) & (sat > 0.25)).mean())
    top = hsv[: max(1, hsv.shape[0] // 3)]
    top_hue = top[..., 0].astype(np.float64) * 360 / 255
    sky = float(((top_hue >= 185) & (top_hue <= 235) & (top[..., 1] > 50)).mean())
    if green > 0.25 or (sky > 0.4 and green > 0.05):
        return "outdoor"
    if brightness > 0.72 and warmth < -0.05 and saturation < 0.15:
        return "bathroom"
    return "living_room"


def analyze_scene(image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
    """Measure an inspiration scene: palette, brightness, warmth, light, style and floor line.

    ``room_type_hint`` is the room the person gave on upload and wins; without one (or with
    one the taxonomy does not know) the room type is a weak guess from colour, by default
    ``"living_room"``. Undecodable bytes raise :class:`~visualizer_core.errors.InvalidImage`.
    """
    picture = _open(image, "scene image", _SCENE_SIDE)
    width, height = picture.size
    ratio = width / height
    orientation = "landscape" if ratio > 1.05 else "portrait" if ratio < 0.95 else "square"
    small = picture.convert("RGB")
    small.thumbnail((_SCENE_SIDE, _SCENE_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    pixels = np.asarray(small)
    rgb = pixels.astype(np.float64) / 255.0

    brightness = float((rgb @ np.array([0.2126, 0.7152, 0.0722])).mean())
    mean = rgb.reshape(-1, 3).mean(axis=0)
    warmth = math.tanh(4.0 * float(mean[0] - mean[2]))
    dominant = _dominant_colors(pixels.reshape(-1, 3))
    saturation = sum(
        colorsys.rgb_to_hsv(*(v / 255 for v in rgb_))[1] * share for rgb_, share in dominant
    )
    lighting = _lighting(brightness, warmth)
    style = palette_style(dominant)
    floor_line = _floor_line(rgb)

    room_type = None
    if room_type_hint:
        try:
            room_type = taxonomy.normalize_room_type(room_type_hint)
        except taxonomy.UnknownRoomType:
            room_type = None
    if room_type is None:
        room_type = _guess_room(rgb, brightness, warmth, saturation)

    room = taxonomy.ROOM_TYPES[room_type].lower()
    summary = (
        f"{_article(style[0])} {style[0]} {room} in {lighting}, "
        f"in {_join([color_name(c) for c, _ in dominant[:2]])} tones; "
        f"the floor meets the wall {round(floor_line * 100)}% down."
    )
    return SceneAnalysis(
        room_type=room_type,
        style=style,
        lighting=lighting,
        palette=[_hex(c) for c, _ in dominant],
        brightness=round(min(1.0, max(0.0, brightness)), 4),
        warmth=round(min(1.0, max(-1.0, warmth)), 4),
        orientation=orientation,
        camera_angle="eye level",
        floor_line=floor_line,
        summary=summary,
    )
