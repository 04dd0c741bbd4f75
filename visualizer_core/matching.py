"""Which inspiration scene fits each product: a score, a reason and a deterministic choice.

A product/scene pair scores between 0 and 1 from four parts:

The room decides first: each rank of a product's room list has its own band of scores, and
the look of the scene (style 0.45, palette 0.35, light 0.20 of it) only orders scenes within
a band. A scene of the product's best room therefore beats one of its second room however
good the second one looks, and any room it belongs in beats a room it does not.

=================================  ===========  =============================================
the scene's room, for the product  band         notes
=================================  ===========  =============================================
its best room                      0.60 - 1.00  (no room: the neutral rooms, in order)
its second room                    0.52 - 0.60
its third room or further down     0.46 - 0.52
next to its best room              0.06 - 0.40  kitchen and dining room, bedroom and kids' room
next to another of its rooms       0.03 - 0.30
any other room                     0.00 - 0.20
=================================  ===========  =============================================

Within a band: style is shared style words (related styles count half: modern and
minimalist); palette is colour harmony in CIE L*a*b* (neutrals go anywhere, analogous and
complementary hues suit, clashing hues and a product that would vanish into the wall do
not; warm products suit warm rooms); light is a well-lit scene and contrast between product
and room.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from visualizer_core import learning, taxonomy
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis

__all__ = [
    "TIE_MARGIN",
    "Match",
    "best_matches",
    "placement_warning",
    "ranked_scenes",
    "score",
    "score_matrix",
]

# (low, high) score of each room band; the scene's look places a pair within its band.
_BANDS = {
    "rank0": (0.60, 1.00),
    "rank1": (0.52, 0.60),
    "rank2+": (0.46, 0.52),
    "near_best": (0.06, 0.40),
    "near_other": (0.03, 0.30),
    "other": (0.00, 0.20),
}
_STYLE_WEIGHT = 0.45
_PALETTE_WEIGHT = 0.35
_LIGHT_WEIGHT = 0.20

# Scenes of the same room scoring within this of the best are equally good: products are
# spread over them in turn instead of all going to one.
TIE_MARGIN = 0.02

_NEIGHBOUR_PAIRS = (
    ("kitchen", "dining_room"),
    ("dining_room", "living_room"),
    ("living_room", "home_office"),
    ("living_room", "entryway"),
    ("bedroom", "kids_room"),
    ("bedroom", "home_office"),
    ("bedroom", "bathroom"),
)
_NEIGHBOURS: dict[str, frozenset[str]] = {
    room: frozenset(
        {b for a, b in _NEIGHBOUR_PAIRS if a == room}
        | {a for a, b in _NEIGHBOUR_PAIRS if b == room}
    )
    for room in taxonomy.ROOM_TYPES
}

_RELATED_STYLES = frozenset(
    frozenset(pair)
    for pair in (
        ("modern", "minimalist"),
        ("modern", "scandinavian"),
        ("modern", "mid-century"),
        ("modern", "industrial"),
        ("minimalist", "scandinavian"),
        ("minimalist", "japandi"),
        ("scandinavian", "japandi"),
        ("scandinavian", "mid-century"),
        ("rustic", "farmhouse"),
        ("rustic", "industrial"),
        ("rustic", "boho"),
        ("farmhouse", "traditional"),
        ("farmhouse", "coastal"),
        ("boho", "coastal"),
        ("glam", "art deco"),
        ("glam", "traditional"),
        ("traditional", "art deco"),
    )
)

# How much each dominant colour counts, dominant first.
_COLOR_WEIGHTS = (0.45, 0.25, 0.15, 0.1, 0.05)
_NEUTRAL_CHROMA = 12.0


@dataclass(frozen=True)
class Match:
    """The scene chosen for one product, how well it fits (0..1) and why, in one sentence."""

    scene_id: str
    score: float
    reason: str
    overridden: bool = False
    needs_room: bool = False
    learned: bool = False  # the room came from what the client's team taught (learning.py)


# -- colour -------------------------------------------------------------------------------------

Lab = tuple[float, float, float]


def _lab(hex_color: str) -> Lab | None:
    """CIE L*a*b* (D65) of a #rrggbb colour; ``None`` for anything else."""
    text = hex_color.strip().lstrip("#")
    if len(text) != 6:
        return None
    try:
        channels = [int(text[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    except ValueError:
        return None
    r, g, b = (((c + 0.055) / 1.055) ** 2.4 if c > 0.04045 else c / 12.92 for c in channels)
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    fx, fy, fz = f(x), f(y), f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def _weighted(palette: Sequence[str]) -> list[tuple[Lab, float]]:
    labs = [lab for lab in (_lab(c) for c in palette) if lab is not None][: len(_COLOR_WEIGHTS)]
    total = sum(_COLOR_WEIGHTS[: len(labs)])
    return [(lab, w / total) for lab, w in zip(labs, _COLOR_WEIGHTS, strict=False)]


def _chroma(lab: Lab) -> float:
    return math.hypot(lab[1], lab[2])


def _hue(lab: Lab) -> float:
    return math.degrees(math.atan2(lab[2], lab[1])) % 360


def _hue_fit(a: Lab, b: Lab) -> float:
    diff = abs(_hue(a) - _hue(b)) % 360
    diff = min(diff, 360 - diff)
    if diff <= 35:
        return 1.0  # analogous
    if diff >= 150:
        return 0.85  # complementary
    if diff <= 60:
        return 0.7
    return 0.35  # clashing


def _warmth(colors: Sequence[tuple[Lab, float]]) -> float:
    """-1 cool .. +1 warm: chromatic colours near orange are warm, near blue-cyan cool."""
    return sum(
        w * min(1.0, _chroma(lab) / 40) * math.cos(math.radians(_hue(lab) - 60))
        for lab, w in colors
    )


def _palette_fit(product: ProductAnalysis, scene: SceneAnalysis) -> float:
    ours, theirs = _weighted(product.palette), _weighted(scene.palette)
    if not ours or not theirs:
        return 0.5
    accents = [(lab, w) for lab, w in theirs if _chroma(lab) >= _NEUTRAL_CHROMA]
    accent_total = sum(w for _, w in accents)
    wall = theirs[0][0]
    harmony = 0.0
    for lab, weight in ours:
        if _chroma(lab) < _NEUTRAL_CHROMA:
            fit = 0.85  # a neutral goes anywhere
        elif not accents:
            fit = 0.8  # a colour against a neutral room
        else:
            fit = sum(w * _hue_fit(lab, other) for other, w in accents) / accent_total
        if math.dist(lab, wall) < 10:
            fit *= 0.7  # it would vanish into the room's main colour
        harmony += weight * fit
    warm_fit = 1.0 - abs(_warmth(ours) - scene.warmth) / 2
    return max(0.0, min(1.0, 0.7 * harmony + 0.3 * warm_fit))


def _light_fit(product: ProductAnalysis, scene: SceneAnalysis) -> float:
    quality = 1.0 - min(1.0, abs(scene.brightness - 0.6) / 0.5)
    ours = _weighted(product.palette)
    if not ours:
        return quality
    lightness = sum(lab[0] * w for lab, w in ours) / 100
    contrast = min(1.0, abs(lightness - scene.brightness) / 0.3)
    return 0.6 * quality + 0.4 * contrast


# -- style and room -----------------------------------------------------------------------------


def _style_affinity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return 0.5 if frozenset((a, b)) in _RELATED_STYLES else 0.0


def _style_fit(product: ProductAnalysis, scene: SceneAnalysis) -> float:
    ours = [s.lower() for s in product.style]
    theirs = [s.lower() for s in scene.style]
    if not ours or not theirs:
        return 0.5
    return sum(max(_style_affinity(p, s) for s in theirs) for p in ours) / len(ours)


def _rooms_of(product: ProductAnalysis) -> list[str]:
    """The product's rooms; a product that needs a room goes where most things look at home."""
    return list(product.room_types) or list(taxonomy.NEUTRAL_ROOMS)


def _room_band(product: ProductAnalysis, scene: SceneAnalysis) -> tuple[float, float]:
    rooms = _rooms_of(product)
    if scene.room_type in rooms:
        rank = rooms.index(scene.room_type)
        return _BANDS["rank0" if rank == 0 else "rank1" if rank == 1 else "rank2+"]
    near = _NEIGHBOURS.get(scene.room_type, frozenset())
    if rooms and rooms[0] in near:
        return _BANDS["near_best"]
    if any(r in near for r in rooms):
        return _BANDS["near_other"]
    return _BANDS["other"]


# -- the reason ---------------------------------------------------------------------------------


def placement_warning(
    what: str, product_rooms: Sequence[str], scene_room: str | None
) -> str | None:
    """The warning "Sofas in a kitchen: change the scene?" when the scene's room is not one of
    the rooms the product belongs in; None when it is, or when either is not known.

    ``what`` names the product as people would (its category, else its name).
    """
    if not product_rooms or not scene_room or scene_room in product_rooms:
        return None
    room = _room_label(scene_room).lower()
    article = "an" if room[:1].lower() in "aeiou" else "a"
    return f"{what} in {article} {room}: change the scene?"


def _room_label(room: str) -> str:
    if room == "outdoor":
        return "Outdoor space"
    return taxonomy.ROOM_TYPES.get(room, room.replace("_", " "))


# Category labels that take no article ("Kitchen fits cookware").
_MASS_NOUNS = frozenset(
    {
        "cookware",
        "tableware",
        "bedding",
        "kitchen storage",
        "toy storage",
        "wall art",
        "kids' furniture",
    }
)


def _with_article(noun: str) -> str:
    if noun in _MASS_NOUNS:
        return noun
    return f"{'an' if noun[:1] in 'aeiou' else 'a'} {noun}"


def _product_noun(product: ProductAnalysis) -> str:
    if product.category in ("", "other"):
        return "product"
    info = taxonomy.CATEGORY_INFO.get(product.category)
    if info is not None:
        return info.label.lower()
    return product.category.replace("_", " ")


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _reason(product: ProductAnalysis, scene: SceneAnalysis, room: float, palette: float) -> str:
    noun = _with_article(_product_noun(product))
    label = _room_label(scene.room_type)
    rooms = product.room_types
    if not rooms:
        parts = [f"needs a room: {label} is a neutral setting for {noun}"]
    elif scene.room_type in rooms:
        verb = "fits" if rooms.index(scene.room_type) == 0 else "suits"
        parts = [f"{label} {verb} {noun}"]
    elif room > 0:
        parts = [f"{label} is close to where {noun} belongs"]
    else:
        best = _room_label(rooms[0]).lower()
        parts = [f"{label} is not a usual room for {noun} (best: {best})"]

    scene_styles = [s.lower() for s in scene.style]
    shared = [s for s in (p.lower() for p in product.style) if s in scene_styles]
    if shared:
        parts.append(f"shares {_join(shared[:2])} style")
    else:
        related = [
            (p, s)
            for p in (p.lower() for p in product.style)
            for s in scene_styles
            if _style_affinity(p, s) > 0
        ]
        if related:
            parts.append(f"its {related[0][0]} look goes with {related[0][1]} style")

    things = list(dict.fromkeys([*product.materials[:1], *product.colors[:1]])) or ["colours"]
    tone = "warm" if scene.warmth > 0.2 else "cool" if scene.warmth < -0.2 else "neutral"
    if product.palette and scene.palette:
        if palette >= 0.7:
            parts.append(f"{tone} palette suits its {_join(things)}")
        elif palette < 0.5:
            parts.append(f"{tone} palette contrasts with its {_join(things)}")
    return "; ".join(parts)


# -- public API ---------------------------------------------------------------------------------


def _score(product: ProductAnalysis, scene: SceneAnalysis) -> tuple[float, float, float]:
    low, high = _room_band(product, scene)
    palette = _palette_fit(product, scene)
    look = (
        _STYLE_WEIGHT * _style_fit(product, scene)
        + _PALETTE_WEIGHT * palette
        + _LIGHT_WEIGHT * _light_fit(product, scene)
    )
    total = low + (high - low) * max(0.0, min(1.0, look))
    return max(0.0, min(1.0, total)), low, palette


def score(product: ProductAnalysis, scene: SceneAnalysis) -> tuple[float, str]:
    """How well a scene fits a product (0..1), and why, as one short sentence.

    Room type dominates (see the module docstring for the weights), then style, palette
    and light.
    """
    total, room, palette = _score(product, scene)
    return total, _reason(product, scene, room, palette)


def ranked_scenes(
    product: ProductAnalysis, scenes: Mapping[str, SceneAnalysis]
) -> list[tuple[str, float, str]]:
    """Every scene for one product, best first: ``(scene id, score, reason)``.

    The order :func:`best_matches` takes its best scene from (the lower scene id on an exact
    tie), before it spreads products over scenes that fit equally well.
    """
    scored = [(sid, *score(product, scenes[sid])) for sid in sorted(scenes)]
    return sorted(scored, key=lambda item: -item[1])  # a stable sort keeps ids in order


def score_matrix(
    analyses: Mapping[str, ProductAnalysis], scenes: Mapping[str, SceneAnalysis]
) -> dict[str, dict[str, float]]:
    """Every product's score against every scene: ``{product_id: {scene_id: score}}``.

    Meant for notebooks (``pandas.DataFrame(score_matrix(...)).T``); scenes in id order.
    """
    ids = sorted(scenes)
    return {pid: {sid: _score(p, scenes[sid])[0] for sid in ids} for pid, p in analyses.items()}


def best_matches(
    analyses: Mapping[str, ProductAnalysis],
    scenes: Mapping[str, SceneAnalysis],
    overrides: Mapping[str, str] | None = None,
    taught: Mapping[str, learning.Lesson] | None = None,
) -> dict[str, Match]:
    """The best scene for each product, keyed by product id in the order given.

    A hand-set scene (``overrides``: product id to scene id) is kept as it is, with its score
    and ``overridden=True``; one that names no given scene is ignored. Otherwise the
    highest-scoring scene wins, the lower scene id on an exact tie. Scenes of the same room
    that score within :data:`TIE_MARGIN` of the best are treated as equally good, and each
    product goes to the one that has the fewest products so far, so many similar products
    spread over equally fitting scenes rather than crowding into one. Products are taken in
    product id order, so the result depends only on the input, not on its order.

    ``taught`` (category to :class:`learning.Lesson`) is what the client's team taught: a
    category's taught room is ranked first, its refused rooms last, and a match in the taught
    room says so in its reason and has ``learned=True``.
    """
    if not scenes:
        return {}
    scene_ids = sorted(scenes)
    hand_set = {pid: sid for pid, sid in (overrides or {}).items() if sid in scenes}
    load = dict.fromkeys(scene_ids, 0)
    found: dict[str, Match] = {}
    for pid in sorted(hand_set.keys() & analyses.keys()):
        sid = hand_set[pid]
        total, _room, _palette = _score(analyses[pid], scenes[sid])
        found[pid] = Match(sid, total, "set by hand", True, not analyses[pid].room_types)
        load[sid] += 1
    for pid in sorted(analyses):
        if pid in found:
            continue
        lesson = learning.taught(taught or {}, analyses[pid])
        product = learning.apply(analyses[pid], lesson)
        scored = {sid: _score(product, scenes[sid]) for sid in scene_ids}
        top_id = max(scene_ids, key=lambda sid: scored[sid][0])  # max keeps the first on ties
        top = scored[top_id][0]
        room = scenes[top_id].room_type
        equal = [
            sid
            for sid in scene_ids
            if scenes[sid].room_type == room and scored[sid][0] >= top - TIE_MARGIN
        ]
        chosen = min(equal, key=lambda sid: (load[sid], -scored[sid][0], sid))
        load[chosen] += 1
        total, room_part, palette = scored[chosen]
        reason = _reason(product, scenes[chosen], room_part, palette)
        learned = lesson is not None and lesson.room == scenes[chosen].room_type
        if learned and lesson is not None:
            reason = f"{lesson.sentence()}; {reason}"
        found[pid] = Match(chosen, total, reason, False, not product.room_types, learned)
    return {pid: found[pid] for pid in analyses}
