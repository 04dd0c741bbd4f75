"""The demo's catalog and rooms, drawn by the project itself with Pillow: no external assets.

- :data:`DEMO_CATALOG` is a small home-goods catalog across the main categories, with names,
  descriptions, colours and materials a brand would write (``catalog.csv`` beside this file).
- :func:`draw_product` draws a recognisable product of a category (a sofa with seat, back, arms
  and legs; a lamp with base, pole and shade; ...) in a colour, with simple studio shading, on
  a plain white background, as a product photographer would shoot it. Every shape has a
  slightly darker edge, so the ingest's background removal finds the product's outline even
  where a part is light.
- :data:`DEMO_ROOMS` lists the demo's inspiration scenes and :func:`draw_room` draws one: a
  back wall lit from a window, a skirting board, a floor of planks, tiles or carpet in
  perspective, and a hint of the room type kept to one side so that the centre stays free for
  the product. :func:`room_floor_line` says where its floor meets the wall.

Everything is deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import random
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Final

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "DEMO_CATALOG",
    "DEMO_ROOMS",
    "DemoProduct",
    "draw_product",
    "draw_room",
    "room_floor_line",
]

RGB = tuple[int, int, int]
Point = tuple[float, float]

WHITE: Final[RGB] = (255, 255, 255)
JPEG_QUALITY: Final = 92
_SUPERSAMPLE: Final = 2


@dataclass(frozen=True)
class DemoProduct:
    """One product of the demo catalog; ``color`` is the RGB its drawing is made in."""

    sku: str
    name: str
    category: str
    description: str
    colors: tuple[str, ...]
    materials: tuple[str, ...]
    color: RGB


def _load_catalog() -> tuple[DemoProduct, ...]:
    """``catalog.csv``: our catalog CSV (lists split by ``|``), and the colour each is drawn in."""
    text = resources.files(__package__).joinpath("catalog.csv").read_text(encoding="utf-8")
    found = []
    for row in csv.DictReader(io.StringIO(text)):
        r, g, b = bytes.fromhex(row.pop("rgb").removeprefix("#"))
        colors, materials = (tuple(row.pop(key).split("|")) for key in ("colors", "materials"))
        found.append(DemoProduct(**row, colors=colors, materials=materials, color=(r, g, b)))
    return tuple(found)


DEMO_CATALOG: Final = _load_catalog()
"""The demo's catalog."""

DEMO_ROOMS: Final[list[tuple[str, int]]] = [
    ("living_room", 1),
    ("living_room", 2),
    ("bedroom", 3),
    ("home_office", 4),
    ("dining_room", 5),
]
"""The demo's inspiration scenes as (room type, seed)."""


# -- colour helpers ------------------------------------------------------------------------------


def _shade(color: RGB, factor: float) -> RGB:
    r, g, b = (min(255, max(0, round(c * factor))) for c in color)
    return (r, g, b)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


# -- product drawings ----------------------------------------------------------------------------


class _Sketch:
    """A supersampled white canvas with a 0..100 coordinate square centred on it.

    Every shape is also drawn into a mask, so the studio shading touches only the product.
    """

    def __init__(self, size: tuple[int, int]) -> None:
        self.width, self.height = size[0] * _SUPERSAMPLE, size[1] * _SUPERSAMPLE
        self.image = Image.new("RGB", (self.width, self.height), WHITE)
        self.mask = Image.new("L", (self.width, self.height), 0)
        self.unit = min(self.width, self.height) / 100
        self.ox = (self.width - 100 * self.unit) / 2
        self.oy = (self.height - 100 * self.unit) / 2
        self._draw = ImageDraw.Draw(self.image)
        self._mask = ImageDraw.Draw(self.mask)

    def _pt(self, x: float, y: float) -> Point:
        return (self.ox + x * self.unit, self.oy + y * self.unit)

    def _box(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        x0, y0 = self._pt(min(box[0], box[2]), min(box[1], box[3]))
        x1, y1 = self._pt(max(box[0], box[2]), max(box[1], box[3]))
        return (x0, y0, x1, y1)

    def _edge(self, fill: RGB, edge: bool) -> tuple[RGB | None, int]:
        return (_shade(fill, 0.7), max(1, round(0.45 * self.unit))) if edge else (None, 0)

    def rect(
        self, box: Sequence[float], fill: RGB, *, radius: float = 0.0, edge: bool = True
    ) -> None:
        outline, width = self._edge(fill, edge)
        xy = self._box(box)
        r = radius * self.unit
        self._draw.rounded_rectangle(xy, r, fill=fill, outline=outline, width=width)
        self._mask.rounded_rectangle(xy, r, fill=255)

    def ellipse(self, box: Sequence[float], fill: RGB, *, edge: bool = True) -> None:
        outline, width = self._edge(fill, edge)
        xy = self._box(box)
        self._draw.ellipse(xy, fill=fill, outline=outline, width=width)
        self._mask.ellipse(xy, fill=255)

    def polygon(self, points: Sequence[Point], fill: RGB, *, edge: bool = True) -> None:
        outline, width = self._edge(fill, edge)
        xy = [self._pt(x, y) for x, y in points]
        self._draw.polygon(xy, fill=fill, outline=outline, width=width)
        self._mask.polygon(xy, fill=255)

    def line(self, points: Sequence[Point], fill: RGB, width: float) -> None:
        xy = [self._pt(x, y) for x, y in points]
        w = max(1, round(width * self.unit))
        self._draw.line(xy, fill=fill, width=w, joint="curve")
        self._mask.line(xy, fill=255, width=w, joint="curve")

    def render(self, size: tuple[int, int]) -> Image.Image:
        """Studio light from the upper left on the product, then down to ``size``."""
        pixels = np.asarray(self.image, dtype=np.float32)
        weight = np.asarray(self.mask, dtype=np.float32)[..., None] / 255
        ys = np.linspace(1.06, 0.88, self.height, dtype=np.float32)[:, None, None]
        xs = np.linspace(1.03, 0.95, self.width, dtype=np.float32)[None, :, None]
        lit = pixels * (1 + (ys * xs - 1) * weight)
        image = Image.fromarray(np.clip(lit + 0.5, 0, 255).astype(np.uint8), "RGB")
        return image.resize(size, Image.Resampling.LANCZOS)


_WOOD: Final[RGB] = (92, 64, 42)
_METAL: Final[RGB] = (70, 70, 74)
_LINEN: Final[RGB] = (222, 208, 182)
_BEDDING: Final[RGB] = (214, 208, 198)
_STONE: Final[RGB] = (150, 146, 140)


def _legs(s: _Sketch, xs: Sequence[float], top: float, bottom: float, color: RGB) -> None:
    for x in xs:
        s.polygon([(x - 1.4, top), (x + 1.4, top), (x + 0.8, bottom), (x - 0.8, bottom)], color)


def _draw_sofa(s: _Sketch, c: RGB, rng: random.Random, *, seats: int = 3) -> None:
    half = {1: 27.0, 2: 38.0}.get(seats, 44.0)
    left, right = 50 - half, 50 + half
    _legs(s, (left + 7, right - 7), 80, 89, _WOOD)
    s.rect((left + 2, 56, right - 2, 82), _shade(c, 0.88), radius=3)
    s.rect((left + 6, 28, right - 6, 60), _shade(c, 0.82), radius=5)
    inner = (right - left - 16) / seats
    for i in range(seats):
        x0 = left + 8 + i * inner
        s.rect((x0 + 0.5, 31, x0 + inner - 0.5, 58), _shade(c, 0.95), radius=4)
        s.rect((x0, 55, x0 + inner, 68), _shade(c, 1.05), radius=3)
    s.rect((left, 42, left + 10, 81), _shade(c, 0.92), radius=4)
    s.rect((right - 10, 42, right, 81), _shade(c, 0.92), radius=4)
    if seats > 1 and rng.random() < 0.7:
        accent = _mix(c, (235, 225, 205), 0.55)
        s.rect((left + 10, 41, left + 24, 56), accent, radius=5)
        s.ellipse((left + 16, 47.5, left + 18, 49.5), _shade(accent, 0.8), edge=False)


def _draw_chair(s: _Sketch, c: RGB, rng: random.Random) -> None:
    # No closed gaps (between back posts, or legs and a stretcher): the ingest keeps light
    # areas enclosed by a product, so they would stay white in the cut-out.
    _legs(s, (35, 65), 62, 86, _shade(c, 0.8))
    _legs(s, (30, 70), 62, 90, c)
    s.rect((31, 14, 69, 58), _shade(c, 0.9), radius=3)
    for x in (39.0, 46.5, 54.0, 61.5):
        s.rect((x - 0.3, 26, x + 0.3, 54), _shade(c, 0.8), edge=False)
    if rng.random() < 0.5:
        s.rect((29, 12, 71, 24), c, radius=4)
    else:
        s.polygon([(29, 14), (71, 14), (66, 26), (34, 26)], c)
    seat = _mix(c, (196, 170, 120), 0.7)
    s.rect((26, 55, 74, 63), seat, radius=2)


def _draw_office_chair(s: _Sketch, c: RGB, rng: random.Random) -> None:
    for x in (18, 34, 50, 66, 82):
        s.ellipse((x - 3, 86, x + 3, 92), _shade(c, 0.7))
    for x in (20, 36, 64, 80):
        s.line([(50, 78), (x, 87)], _shade(c, 0.9), 2.2)
    s.rect((47.5, 58, 52.5, 80), _METAL)
    s.rect((31, 12, 69, 50), _shade(c, 1.1), radius=8)
    for y in range(16, 48, 4):
        s.line([(35, y), (65, y)], _shade(c, 0.8), 0.4)
    s.rect((24, 50, 76, 59), c, radius=4)
    s.rect((22, 40, 27, 44), _METAL, radius=1)
    s.rect((73, 40, 78, 44), _METAL, radius=1)
    s.line([(24.5, 44), (26, 52)], _METAL, 1.6)
    s.line([(75.5, 44), (74, 52)], _METAL, 1.6)


def _draw_stool(s: _Sketch, c: RGB, rng: random.Random) -> None:
    s.line([(40, 32), (30, 90)], _shade(c, 0.85), 2)
    s.line([(60, 32), (70, 90)], _shade(c, 0.85), 2)
    s.line([(45, 32), (43, 88)], _shade(c, 0.7), 1.6)
    s.line([(55, 32), (57, 88)], _shade(c, 0.7), 1.6)
    s.ellipse((32, 26, 68, 36), c)


def _draw_table(s: _Sketch, c: RGB, rng: random.Random, *, kind: str) -> None:
    if kind == "side":
        s.ellipse((38, 84, 62, 90), _shade(c, 0.8))
        s.rect((47, 46, 53, 87), _shade(c, 0.9))
        s.ellipse((26, 38, 74, 48), _shade(c, 1.08))
        s.rect((26, 43, 74, 47), _shade(c, 0.85), edge=False)
        return
    top, bottom, half = {"coffee": (54, 80, 40), "desk": (40, 89, 43)}.get(kind, (38, 89, 45))
    thick = 6.0 if kind in ("coffee", "dining") else 4.5
    _legs(s, (50 - half + 9, 50 + half - 9), top, bottom - 3, _shade(c, 0.72))
    _legs(s, (50 - half + 4, 50 + half - 4), top, bottom, _shade(c, 0.9))
    if kind == "coffee" and rng.random() < 0.6:  # a drawer in a deep apron, not a shelf (a hole)
        s.rect((50 - half + 3, top - 1, 50 + half - 3, top + 7), _shade(c, 0.95))
        s.rect((46, top + 2.5, 54, top + 3.5), _METAL, radius=0.5)
    if kind == "desk":
        s.rect((50 + half - 28, top, 50 + half - 2, bottom - 6), _shade(c, 0.95))
        for i in range(3):
            y = top + 3 + i * (bottom - top - 10) / 3
            s.rect((50 + half - 26, y, 50 + half - 4, y + 11), _shade(c, 1.0), radius=1)
            s.rect((50 + half - 17, y + 4.5, 50 + half - 13, y + 6), _METAL, radius=0.5)
    s.rect((50 - half, top - thick, 50 + half, top), _shade(c, 1.05), radius=1)
    if kind == "outdoor":
        for x in range(int(50 - half) + 6, int(50 + half), 6):
            s.line([(x, top - thick + 1), (x, top - 1)], _shade(c, 0.8), 0.4)


def _draw_cabinet(s: _Sketch, c: RGB, rng: random.Random, *, kind: str) -> None:
    boxes = {
        "nightstand": (30, 40, 70, 82),
        "dresser": (16, 32, 84, 82),
        "sideboard": (8, 44, 92, 80),
        "tv_stand": (6, 58, 94, 82),
        "shoe_cabinet": (24, 22, 76, 84),
        "toy_storage": (18, 44, 82, 86),
        "bathroom_vanity": (14, 46, 86, 84),
    }
    x0, y0, x1, y1 = boxes.get(kind, (20, 40, 80, 84))
    if y1 < 88:
        _legs(s, (x0 + 5, x1 - 5), y1, 90, _WOOD if sum(c) > 300 else _shade(c, 0.7))
    s.rect((x0, y0, x1, y1), c, radius=1)
    if kind == "bathroom_vanity":
        s.rect((x0 - 2, y0 - 4, x1 + 2, y0 + 1), (208, 204, 198))
        s.ellipse((42, y0 - 5.5, 58, y0 - 2.5), (180, 180, 182))
        s.rect((49, y0 - 12, 51, y0 - 4), _METAL)
    else:
        s.rect((x0 - 1.5, y0 - 3, x1 + 1.5, y0), _shade(c, 1.08), radius=0.5)
    doors = kind in ("sideboard", "tv_stand", "shoe_cabinet", "bathroom_vanity")
    if doors:
        count = 3 if kind == "sideboard" else 2
        step = (x1 - x0 - 4) / count
        for i in range(count):
            dx = x0 + 2 + i * step
            s.rect((dx + 0.5, y0 + 2.5, dx + step - 0.5, y1 - 2.5), _shade(c, 1.04), radius=0.5)
            hx = dx + step - 4 if i % 2 == 0 else dx + 3
            s.rect((hx, (y0 + y1) / 2 - 4, hx + 1, (y0 + y1) / 2 + 4), _METAL, radius=0.4)
        return
    rows = 2 if kind in ("nightstand", "toy_storage") else 3 + rng.randrange(2)
    step = (y1 - y0 - 4) / rows
    for i in range(rows):
        dy = y0 + 2 + i * step
        s.rect((x0 + 2.5, dy + 0.5, x1 - 2.5, dy + step - 0.5), _shade(c, 1.04), radius=0.5)
        mid = dy + step / 2
        s.ellipse((48.5, mid - 1.5, 51.5, mid + 1.5), (181, 146, 76))


def _draw_tall_storage(s: _Sketch, c: RGB, rng: random.Random, *, kind: str) -> None:
    s.rect((22, 6, 78, 90), c, radius=1)
    if kind == "wardrobe":
        s.rect((24, 8, 49.5, 86), _shade(c, 1.05), radius=0.5)
        s.rect((50.5, 8, 76, 86), _shade(c, 1.05), radius=0.5)
        s.rect((46, 40, 47.5, 54), _METAL, radius=0.5)
        s.rect((52.5, 40, 54, 54), _METAL, radius=0.5)
        return
    shelves = (8.0, 28.0, 48.0, 68.0)
    for top in shelves:
        s.rect((25, top, 75, top + 18), _shade(c, 0.7), edge=False)
        x = 26.0
        while x < 70:
            w = rng.uniform(2.5, 5)
            h = rng.uniform(11, 17)
            book = _mix(_shade(c, 0.6), (rng.randrange(60, 200), 90, rng.randrange(60, 160)), 0.6)
            s.rect((x, top + 18 - h, x + w, top + 18), book, edge=False)
            x += w + 0.4
            if rng.random() < 0.15:
                x += 6
        s.rect((23, top + 18, 77, top + 20), c, edge=False)


def _draw_lamp(s: _Sketch, c: RGB, rng: random.Random, *, kind: str) -> None:
    if kind == "floor":
        s.ellipse((36, 86, 64, 92), _shade(c, 0.85))
        s.rect((49, 26, 51, 89), c, edge=False)
        s.polygon([(37, 8), (63, 8), (70, 30), (30, 30)], _LINEN)
        for x in (42, 50, 58):
            s.line([(x, 9), (x + (x - 50) * 0.3, 29)], _shade(_LINEN, 0.9), 0.3)
        return
    if kind == "pendant":
        s.line([(50, 2), (50, 42)], _METAL, 0.8)
        s.rect((47, 40, 53, 46), _METAL, radius=1)
        s.polygon(
            [
                (50 + 26 * math.cos(a / 20 * math.pi), 72 - 28 * math.sin(a / 20 * math.pi))
                for a in range(21)
            ],
            c,
        )
        s.ellipse((43, 69, 57, 75), (250, 236, 190))
        return
    body = [(50 + r, 54 + t * 34) for t, r in ((0, 5), (0.25, 11), (0.5, 13), (0.8, 10), (1, 7))]
    s.polygon(body + [(100 - x, y) for x, y in reversed(body)], c)
    s.rect((48.5, 44, 51.5, 55), _METAL, edge=False)
    s.polygon([(33, 16), (67, 16), (76, 46), (24, 46)], _LINEN)


def _draw_bed(s: _Sketch, c: RGB, rng: random.Random, *, kids: bool = False) -> None:
    left, right = (14.0, 86.0) if kids else (6.0, 94.0)
    _legs(s, (left + 4, right - 4), 78, 88, _WOOD)
    s.rect((left + 4, 18 if not kids else 30, right - 4, 66), c, radius=10 if not kids else 4)
    s.rect((left, 60, right, 80), _shade(c, 0.85), radius=2)
    s.rect((left + 1, 52, right - 1, 66), _BEDDING, radius=3)
    for x in ((left + 6, 48.5), (51.5, right - 6)):
        s.rect((x[0], 44, x[1], 56), _shade(_BEDDING, 1.04), radius=5)
    throw = _mix(c, (230, 220, 200), 0.35) if rng.random() < 0.5 else _shade(c, 0.7)
    s.rect((left + 1, 60, right - 1, 72), throw, radius=2)


def _leaf(cx: float, cy: float, length: float, width: float, angle: float) -> list[Point]:
    """A pointed leaf whose stem end is at (cx, cy), pointing along ``angle`` (radians)."""
    cos, sin = math.cos(angle), math.sin(angle)
    outline = [
        (length / 2 * (1 - math.cos(a)), width / 2 * math.sin(a) * (0.8 + 0.2 * math.cos(a)))
        for a in (i / 24 * 2 * math.pi for i in range(24))
    ]
    return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in outline]


def _draw_plant(s: _Sketch, c: RGB, rng: random.Random, *, planter: bool = False) -> None:
    pot = (170, 96, 66) if planter else _STONE
    top = 58.0 if planter else 66.0
    s.line([(50, top), (49, 22)], _WOOD, 1.4)
    leaves = 9 if planter else 15
    for i in range(leaves):
        y = top - 6 - (i / leaves) * (top - 22 if not planter else 30)
        side = -1 if i % 2 else 1
        angle = -math.pi / 2 + side * rng.uniform(0.5, 1.2)
        length = rng.uniform(12, 18) if not planter else rng.uniform(8, 14)
        tone = _shade(c, rng.uniform(0.8, 1.15))
        s.polygon(_leaf(49.5, y, length, length * 0.55, angle), tone)
    s.polygon(_leaf(49, 24, 14, 8, -math.pi / 2 + rng.uniform(-0.3, 0.3)), _shade(c, 1.1))
    s.polygon([(32, top), (68, top), (63, 90), (37, 90)], pot)
    s.rect((30, top - 3, 70, top + 2), _shade(pot, 1.08), radius=1)


def _draw_frame(s: _Sketch, c: RGB, rng: random.Random) -> None:
    s.rect((16, 8, 84, 92), (34, 32, 30), radius=0.5)
    s.rect((20, 12, 80, 88), (226, 221, 212), edge=False)
    s.rect((25, 17, 75, 83), _mix(c, (236, 220, 196), 0.7), edge=False)
    for i in range(3):
        tone = _shade(c, 0.75 + 0.2 * i)
        y = 56 + i * 8 + rng.uniform(-2, 2)
        s.polygon(
            [(25, 83), (25, y), (40, y - 6), (58, y + 2), (75, y - 4), (75, 83)], tone, edge=False
        )
    sun = rng.uniform(35, 62)
    s.ellipse((sun, 26, sun + 13, 39), _shade(c, 1.15), edge=False)


def _draw_mirror(s: _Sketch, c: RGB, rng: random.Random) -> None:
    s.ellipse((22, 6, 78, 94), c)
    s.ellipse((26, 10, 74, 90), (176, 188, 194))
    s.polygon([(38, 20), (46, 16), (34, 60), (30, 52)], (206, 214, 218), edge=False)


def _draw_rug(s: _Sketch, c: RGB, rng: random.Random) -> None:
    ivory = (226, 214, 192)
    for y in range(22, 79, 2):
        s.line([(3, y), (7, y)], ivory, 0.5)
        s.line([(93, y), (97, y)], ivory, 0.5)
    s.rect((6, 20, 94, 80), c, radius=0.5)
    s.rect((10, 24, 90, 76), _shade(c, 0.8), edge=False)
    s.rect((12, 26, 88, 74), c, edge=False)
    columns = 3 + rng.randrange(2)
    step = 76 / columns
    for i in range(columns):
        cx = 12 + step * (i + 0.5)
        s.polygon([(cx, 30), (cx + step / 2 - 2, 50), (cx, 70), (cx - step / 2 + 2, 50)], ivory)
        s.polygon([(cx, 40), (cx + step / 4, 50), (cx, 60), (cx - step / 4, 50)], c)


def _draw_vase(s: _Sketch, c: RGB, rng: random.Random) -> None:
    bulge = rng.uniform(14, 20)
    neck = rng.uniform(5, 8)
    right = []
    for i in range(21):
        t = i / 20
        r = neck + (bulge - neck) * math.sin(math.pi * min(1.0, max(0.0, (t - 0.15) / 0.9))) ** 0.8
        right.append((50 + r, 12 + t * 78))
    s.polygon(right + [(100 - x, y) for x, y in reversed(right)], c)
    s.ellipse((50 - neck, 10, 50 + neck, 14), _shade(c, 0.6))
    s.polygon([(40, 34), (43, 32), (41, 70), (38, 66)], _mix(c, WHITE, 0.35), edge=False)


def _draw_soft(s: _Sketch, c: RGB, rng: random.Random, *, kind: str) -> None:
    if kind == "cushion":
        s.rect((20, 24, 80, 78), c, radius=9)
        s.rect((26, 30, 74, 72), _shade(c, 1.05), radius=7, edge=False)
        s.ellipse((48, 49, 52, 53), _shade(c, 0.75))
        return
    for i, y in enumerate((64.0, 50.0, 36.0)):
        tone = _shade(c, 1.0 - 0.08 * i) if kind == "throw_blanket" else _shade(c, 1.06 - 0.1 * i)
        s.rect((18 + 2 * i, y, 82 - 2 * i, y + 14), tone, radius=6)
    if kind == "throw_blanket":
        for x in range(22, 80, 3):
            s.line([(x, 78), (x, 82)], _shade(c, 0.9), 0.6)


def _draw_cookware(s: _Sketch, c: RGB, rng: random.Random, *, jar: bool = False) -> None:
    if jar:
        s.rect((32, 28, 68, 88), (190, 198, 196), radius=5)
        s.rect((35, 50, 65, 86), (176, 136, 90), radius=3, edge=False)
        s.rect((30, 20, 70, 30), c, radius=2)
        return
    s.rect((14, 52, 26, 57), _shade(c, 0.8), radius=2)
    s.rect((74, 52, 86, 57), _shade(c, 0.8), radius=2)
    s.rect((24, 46, 76, 84), c, radius=6)
    s.ellipse((22, 40, 78, 50), _shade(c, 1.08))
    s.rect((45, 34, 55, 42), _METAL, radius=2)


def _draw_coat_rack(s: _Sketch, c: RGB, rng: random.Random) -> None:
    s.line([(50, 80), (36, 92)], c, 1.6)
    s.line([(50, 80), (64, 92)], c, 1.6)
    s.line([(50, 80), (50, 92)], _shade(c, 0.8), 1.6)
    s.rect((48.5, 10, 51.5, 82), c, radius=1)
    for side in (-1, 1):
        s.line([(50, 16), (50 + side * 9, 10)], c, 1.2)
        s.line([(50, 26), (50 + side * 8, 21)], c, 1.2)
    s.ellipse((47, 6, 53, 12), _shade(c, 1.1))


def _draw_other(s: _Sketch, c: RGB, rng: random.Random) -> None:
    s.rect((26, 36, 74, 86), c, radius=4)
    s.polygon([(26, 36), (34, 28), (82, 28), (74, 36)], _shade(c, 1.12))
    s.polygon([(74, 36), (82, 28), (82, 78), (74, 86)], _shade(c, 0.85))


_Drawer = Callable[[_Sketch, RGB, random.Random], None]

_DRAWERS: Final[dict[str, _Drawer]] = {
    "sofa": _draw_sofa,
    "outdoor_sofa": lambda s, c, r: _draw_sofa(s, c, r, seats=2),
    "armchair": lambda s, c, r: _draw_sofa(s, c, r, seats=1),
    "dining_chair": _draw_chair,
    "office_chair": _draw_office_chair,
    "bar_stool": _draw_stool,
    "coffee_table": lambda s, c, r: _draw_table(s, c, r, kind="coffee"),
    "side_table": lambda s, c, r: _draw_table(s, c, r, kind="side"),
    "dining_table": lambda s, c, r: _draw_table(s, c, r, kind="dining"),
    "outdoor_table": lambda s, c, r: _draw_table(s, c, r, kind="outdoor"),
    "desk": lambda s, c, r: _draw_table(s, c, r, kind="desk"),
    "nightstand": lambda s, c, r: _draw_cabinet(s, c, r, kind="nightstand"),
    "dresser": lambda s, c, r: _draw_cabinet(s, c, r, kind="dresser"),
    "sideboard": lambda s, c, r: _draw_cabinet(s, c, r, kind="sideboard"),
    "tv_stand": lambda s, c, r: _draw_cabinet(s, c, r, kind="tv_stand"),
    "shoe_cabinet": lambda s, c, r: _draw_cabinet(s, c, r, kind="shoe_cabinet"),
    "toy_storage": lambda s, c, r: _draw_cabinet(s, c, r, kind="toy_storage"),
    "bathroom_vanity": lambda s, c, r: _draw_cabinet(s, c, r, kind="bathroom_vanity"),
    "bookshelf": lambda s, c, r: _draw_tall_storage(s, c, r, kind="bookshelf"),
    "wardrobe": lambda s, c, r: _draw_tall_storage(s, c, r, kind="wardrobe"),
    "floor_lamp": lambda s, c, r: _draw_lamp(s, c, r, kind="floor"),
    "table_lamp": lambda s, c, r: _draw_lamp(s, c, r, kind="table"),
    "pendant_light": lambda s, c, r: _draw_lamp(s, c, r, kind="pendant"),
    "bed": _draw_bed,
    "kids_bed": lambda s, c, r: _draw_bed(s, c, r, kids=True),
    "plant": _draw_plant,
    "planter": lambda s, c, r: _draw_plant(s, c, r, planter=True),
    "wall_art": _draw_frame,
    "mirror": _draw_mirror,
    "rug": _draw_rug,
    "vase": _draw_vase,
    "cushion": lambda s, c, r: _draw_soft(s, c, r, kind="cushion"),
    "throw_blanket": lambda s, c, r: _draw_soft(s, c, r, kind="throw_blanket"),
    "bath_towel": lambda s, c, r: _draw_soft(s, c, r, kind="bath_towel"),
    "cookware": _draw_cookware,
    "kitchen_storage": lambda s, c, r: _draw_cookware(s, c, r, jar=True),
    "coat_rack": _draw_coat_rack,
    "other": _draw_other,
}


def draw_product(
    category: str, *, color: RGB, seed: int = 0, size: tuple[int, int] = (800, 800)
) -> bytes:
    """A studio photo (JPEG) of a product of ``category`` in ``color`` on a white background.

    Unknown categories get a generic box. ``seed`` varies details (cushions, books, leaves,
    the print's composition) and always gives the same picture.
    """
    rng = random.Random(f"{category}:{seed}")
    sketch = _Sketch(size)
    rgb: RGB = (color[0], color[1], color[2])
    _DRAWERS.get(category, _draw_other)(sketch, rgb, rng)
    out = io.BytesIO()
    sketch.render(size).save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


# -- rooms ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _RoomStyle:
    walls: tuple[RGB, ...]
    floors: tuple[RGB, ...]
    floor_kind: str  # planks | tiles | carpet


_ROOM_STYLES: Final[dict[str, _RoomStyle]] = {
    "living_room": _RoomStyle(
        walls=((234, 228, 218), (212, 204, 190), (194, 204, 184), (188, 200, 210)),
        floors=((176, 136, 96), (160, 120, 84), (196, 168, 134)),
        floor_kind="planks",
    ),
    "bedroom": _RoomStyle(
        walls=((226, 208, 198), (204, 211, 218), (232, 226, 214)),
        floors=((196, 186, 170), (182, 176, 168)),
        floor_kind="carpet",
    ),
    "home_office": _RoomStyle(
        walls=((220, 220, 214), (190, 190, 160), (206, 214, 210)),
        floors=((124, 90, 64), (150, 112, 78)),
        floor_kind="planks",
    ),
    "dining_room": _RoomStyle(
        walls=((214, 180, 154), (168, 184, 164), (232, 222, 204)),
        floors=((134, 96, 66), (170, 128, 88)),
        floor_kind="planks",
    ),
    "kitchen": _RoomStyle(
        walls=((236, 234, 228), (214, 222, 216)),
        floors=((184, 182, 176), (150, 150, 148)),
        floor_kind="tiles",
    ),
    "bathroom": _RoomStyle(
        walls=((228, 230, 228), (206, 216, 218)),
        floors=((170, 170, 168), (196, 190, 180)),
        floor_kind="tiles",
    ),
    "outdoor": _RoomStyle(
        walls=((206, 196, 180), (186, 178, 168)),
        floors=((140, 110, 82), (120, 96, 74)),
        floor_kind="planks",
    ),
}
_DEFAULT_STYLE: Final = _ROOM_STYLES["living_room"]


@dataclass(frozen=True)
class _RoomLayout:
    width: int
    height: int
    floor_y: float
    vanishing: Point
    window_left: bool
    wall: RGB
    floor: RGB
    style: _RoomStyle


def _room_layout(room_type: str, seed: int, size: tuple[int, int]) -> _RoomLayout:
    rng = random.Random(f"room:{room_type}:{seed}")
    style = _ROOM_STYLES.get(room_type, _DEFAULT_STYLE)
    width, height = size
    floor_y = rng.uniform(0.66, 0.74) * height
    return _RoomLayout(
        width=width,
        height=height,
        floor_y=floor_y,
        vanishing=(rng.uniform(0.42, 0.58) * width, rng.uniform(0.4, 0.48) * height),
        window_left=rng.random() < 0.5,
        wall=rng.choice(style.walls),
        floor=rng.choice(style.floors),
        style=style,
    )


def room_floor_line(room_type: str, *, seed: int = 0) -> float:
    """Where the floor meets the wall in :func:`draw_room`'s picture, as a fraction of height."""
    layout = _room_layout(room_type, seed, (1200, 800))
    return layout.floor_y / layout.height


def draw_room(room_type: str, *, seed: int = 0, size: tuple[int, int] = (1200, 800)) -> bytes:
    """A simple photo-like room (JPEG) of ``room_type``, varied by ``seed``.

    A back wall lit from a window on one side, a skirting board, a perspective floor (planks,
    tiles or carpet by room type) and a room-type hint at the far side from the window. The
    floor meets the wall at :func:`room_floor_line` of the height, between 0.66 and 0.74.
    """
    layout = _room_layout(room_type, seed, size)
    rng = random.Random(f"room-details:{room_type}:{seed}")
    image = _wall(layout)
    draw = ImageDraw.Draw(image)
    window = _window(draw, layout, rng)
    _floor(image, layout, rng)
    _window_light(image, layout, window)
    _skirting(draw, layout)
    _room_hint(draw, layout, room_type, rng)
    image = image.filter(ImageFilter.GaussianBlur(0.6))
    noise_rng = np.random.default_rng(zlib.crc32(f"{room_type}:{seed}".encode()))
    pixels = np.asarray(image, dtype=np.int16)
    grain = noise_rng.integers(-3, 4, size=pixels.shape[:2], dtype=np.int16)[..., None]
    image = Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8), "RGB")
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def _wall(layout: _RoomLayout) -> Image.Image:
    """The back wall: brighter toward the window, darker toward the ceiling and the far side."""
    w, h = layout.width, layout.height
    xs = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    window_x = 0.17 if layout.window_left else 0.83
    side = 0.9 + 0.16 * np.exp(-(((xs - window_x) / 0.45) ** 2))
    top = 0.86 + 0.14 * np.clip(ys / 0.3, 0, 1)
    light = (side * top)[..., None]
    pixels = np.array(layout.wall, dtype=np.float32)[None, None, :] * light
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def _window(
    draw: ImageDraw.ImageDraw, layout: _RoomLayout, rng: random.Random
) -> tuple[float, ...]:
    """A window with sky and a hint of garden; returns its box."""
    w, h = layout.width, layout.height
    x0 = (0.06 if layout.window_left else 0.74) * w
    x1 = x0 + 0.2 * w
    y0, y1 = 0.12 * h, layout.floor_y - 0.2 * h
    frame = (246, 245, 240)
    draw.rectangle((x0 - 0.012 * w, y0 - 0.012 * w, x1 + 0.012 * w, y1 + 0.012 * w), fill=frame)
    for i in range(int(y1 - y0)):
        t = i / max(1.0, y1 - y0)
        draw.line((x0, y0 + i, x1, y0 + i), fill=_mix((176, 206, 232), (232, 240, 242), t))
    hedge = (108, 140, 98)
    draw.rectangle((x0, y1 - 0.22 * (y1 - y0), x1, y1), fill=hedge)
    for _ in range(6):
        cx = rng.uniform(x0, x1)
        r = rng.uniform(0.03, 0.06) * w
        draw.ellipse(
            (cx - r, y1 - 0.22 * (y1 - y0) - r * 0.6, cx + r, y1 - 0.22 * (y1 - y0) + r * 0.6),
            fill=_shade(hedge, rng.uniform(0.85, 1.1)),
        )
    bar = max(2, round(0.008 * w))
    mid_x, mid_y = (x0 + x1) / 2, y0 + 0.45 * (y1 - y0)
    draw.rectangle((mid_x - bar / 2, y0, mid_x + bar / 2, y1), fill=frame)
    draw.rectangle((x0, mid_y - bar / 2, x1, mid_y + bar / 2), fill=frame)
    draw.rectangle(
        (x0 - 0.02 * w, y1 + 0.012 * w, x1 + 0.02 * w, y1 + 0.024 * w), fill=_shade(frame, 0.95)
    )
    if rng.random() < 0.7:
        curtain = rng.choice(((196, 182, 160), (150, 160, 170), (170, 120, 100)))
        cx0 = x0 - 0.06 * w if layout.window_left else x1 + 0.01 * w
        for i in range(6):
            fold = _shade(curtain, 0.9 + 0.12 * (i % 2))
            draw.rectangle(
                (cx0 + i * 0.008 * w, 0.06 * h, cx0 + (i + 1) * 0.008 * w, layout.floor_y),
                fill=fold,
            )
    return (x0, y0, x1, y1)


def _floor(image: Image.Image, layout: _RoomLayout, rng: random.Random) -> None:
    """The floor band in one-point perspective toward the vanishing point."""
    w, h = layout.width, layout.height
    fy = layout.floor_y
    vx, vy = layout.vanishing
    floor = Image.new("RGB", (w, h - round(fy)), layout.floor)
    draw = ImageDraw.Draw(floor)

    def at(y: float, bottom_x: float) -> float:
        """x at height y of the line from the vanishing point through (bottom_x, h)."""
        return vx + (bottom_x - vx) * (y - vy) / (h - vy)

    kind = layout.style.floor_kind
    if kind != "carpet":
        pitch = w / (7 if kind == "planks" else 5)
        xs = [vx + k * pitch for k in range(-22, 23)]
        for left, right in itertools.pairwise(xs):
            tone = _shade(layout.floor, rng.uniform(0.9, 1.07))
            quad = [(at(fy, left), 0.0), (at(fy, right), 0.0), (right, h - fy), (left, h - fy)]
            draw.polygon(quad, fill=tone)
            draw.line(quad[0:1] + quad[3:4], fill=_shade(layout.floor, 0.72), width=2)
            if kind == "planks":
                for _ in range(2):
                    depth = rng.uniform(0.05, 1.0) ** 1.6
                    y = fy + depth * (h - fy)
                    draw.line(
                        (at(y, left), y - fy, at(y, right), y - fy),
                        fill=_shade(layout.floor, 0.74),
                        width=2,
                    )
        if kind == "tiles":
            far = (h - vy) / (fy - vy)  # distance of the wall, in units of the nearest row
            z = far
            while z > 1:
                y = vy + (h - vy) / z
                draw.line((0, y - fy, w, y - fy), fill=_shade(layout.floor, 0.78), width=2)
                z -= 0.35
    pixels = np.asarray(floor, dtype=np.float32)
    ys = np.linspace(0.86, 1.02, pixels.shape[0], dtype=np.float32)[:, None, None]
    if kind == "carpet":
        noise = np.random.default_rng(rng.randrange(1 << 30)).normal(1, 0.025, pixels.shape[:2])
        ys = ys * noise[..., None].astype(np.float32)
    image.paste(
        Image.fromarray(np.clip(pixels * ys, 0, 255).astype(np.uint8), "RGB"), (0, round(fy))
    )


def _window_light(image: Image.Image, layout: _RoomLayout, window: tuple[float, ...]) -> None:
    """A soft patch of daylight on the floor, thrown from the window toward the room."""
    w, h = layout.width, layout.height
    x0, _y0, x1, _y1 = window
    fy = layout.floor_y
    shift = 0.18 * w if layout.window_left else -0.18 * w
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(
        [(x0, fy + 4), (x1, fy + 4), (x1 + shift * 1.6, h), (x0 + shift * 1.6, h)], fill=70
    )
    mask = mask.filter(ImageFilter.GaussianBlur(0.03 * w))
    image.paste((255, 248, 230), (0, 0, w, h), mask)


def _skirting(draw: ImageDraw.ImageDraw, layout: _RoomLayout) -> None:
    w, h, fy = layout.width, layout.height, layout.floor_y
    board = _mix(layout.wall, (248, 247, 242), 0.6)
    draw.rectangle((0, fy - 0.024 * h, w, fy), fill=board)
    draw.line((0, fy - 0.024 * h, w, fy - 0.024 * h), fill=_shade(board, 0.8), width=2)
    draw.line((0, fy, w, fy), fill=_shade(layout.floor, 0.55), width=3)


def _room_hint(
    draw: ImageDraw.ImageDraw, layout: _RoomLayout, room_type: str, rng: random.Random
) -> None:
    """Something that says which room this is, at the far side from the window."""
    w, h, fy = layout.width, layout.height, layout.floor_y
    right = layout.window_left  # the hint goes opposite the window

    def x(fraction: float) -> float:
        return w * (1 - fraction) if right else w * fraction

    def box(a: float, top: float, b: float, bottom: float) -> tuple[float, float, float, float]:
        xa, xb = x(a), x(b)
        return (min(xa, xb), top, max(xa, xb), bottom)

    if room_type in ("living_room", "outdoor"):
        pot = (150, 146, 140) if room_type == "living_room" else (168, 98, 70)
        base = fy + 0.06 * h
        draw.polygon(
            [
                (x(0.07), base - 0.1 * h),
                (x(0.15), base - 0.1 * h),
                (x(0.14), base),
                (x(0.08), base),
            ],
            fill=pot,
        )
        for _ in range(14):
            cx = x(rng.uniform(0.05, 0.17))
            cy = rng.uniform(fy - 0.32 * h, base - 0.12 * h)
            r = rng.uniform(0.02, 0.035) * w
            draw.line((x(0.11), base - 0.1 * h, cx, cy), fill=(70, 90, 56), width=2)
            draw.ellipse(
                (cx - r, cy - r * 0.6, cx + r, cy + r * 0.6),
                fill=_shade((74, 118, 66), rng.uniform(0.8, 1.15)),
            )
    elif room_type == "bedroom":
        wood = (140, 104, 74)
        draw.rectangle(box(0.04, fy - 0.14 * h, 0.15, fy + 0.03 * h), fill=wood)
        draw.line(box(0.05, fy - 0.07 * h, 0.14, fy - 0.07 * h), fill=_shade(wood, 0.7), width=2)
        draw.polygon(
            [
                (x(0.08), fy - 0.2 * h),
                (x(0.11), fy - 0.2 * h),
                (x(0.125), fy - 0.26 * h),
                (x(0.065), fy - 0.26 * h),
            ],
            fill=(222, 208, 182),
        )
        draw.rectangle(box(0.09, fy - 0.2 * h, 0.10, fy - 0.14 * h), fill=(200, 180, 140))
    elif room_type in ("home_office", "kids_room", "entryway"):
        shelf = (120, 92, 66)
        for level in (0.22, 0.38):
            y = level * h
            draw.rectangle(box(0.03, y, 0.2, y + 0.012 * h), fill=shelf)
            pos = 0.04
            while pos < 0.18:
                bw = rng.uniform(0.008, 0.016)
                bh = rng.uniform(0.06, 0.1) * h
                tone = (rng.randrange(70, 200), rng.randrange(70, 160), rng.randrange(60, 150))
                draw.rectangle(box(pos, y - bh, pos + bw, y), fill=tone)
                pos += bw + 0.002
    elif room_type == "dining_room":
        wood = (110, 78, 54)
        draw.rectangle(box(-0.01, fy - 0.2 * h, 0.16, fy + 0.02 * h), fill=wood)
        for d in (0.05, 0.1):
            draw.line(box(d, fy - 0.18 * h, d, fy), fill=_shade(wood, 0.7), width=2)
        draw.ellipse(box(0.06, fy - 0.27 * h, 0.1, fy - 0.2 * h), fill=(200, 196, 186))
    elif room_type == "kitchen":
        cabinet = (226, 224, 216)
        draw.rectangle(box(-0.01, 0.1 * h, 0.22, 0.34 * h), fill=cabinet)
        draw.rectangle(box(-0.01, fy - 0.24 * h, 0.22, fy + 0.03 * h), fill=cabinet)
        draw.rectangle(box(-0.01, fy - 0.27 * h, 0.23, fy - 0.24 * h), fill=(90, 88, 84))
        draw.line(box(0.1, 0.1 * h, 0.1, 0.34 * h), fill=_shade(cabinet, 0.8), width=2)
    elif room_type == "bathroom":
        tile = _shade(layout.wall, 1.03)
        top = fy - 0.17 * h  # below the window
        draw.rectangle((0, top, w, fy - 0.024 * h), fill=tile)
        step = 0.05 * w
        for i in range(int(w / step) + 1):
            draw.line((i * step, top, i * step, fy - 0.024 * h), fill=_shade(tile, 0.88))
        for j in range(3):
            y = top + j * 0.05 * h
            draw.line((0, y, w, y), fill=_shade(tile, 0.88))
