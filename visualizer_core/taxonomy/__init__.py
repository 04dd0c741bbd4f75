"""The room and product taxonomy: the project's room types on top of Google's product taxonomy.

Everything that names a room or a category (the analysers, matching, the compositor, the
Gemini prompts, the studio's pickers) goes through this package:

- :data:`ROOM_TYPES` maps a room type id to its display label; :func:`normalize_room_type`
  maps free text ("Lounge", "en-suite", "WFH") to one, :func:`find_room_mentions` finds rooms a
  product's text names.
- The Google product taxonomy (version :data:`TAXONOMY_VERSION`, shipped in ``data/`` with its
  source) is the backbone: :func:`category` finds a category by id or path, and every category
  has rooms (best first), a placement and a size class from the rules on its path in
  ``data/rules.toml`` (a department decides, a subtree or a leaf may override).
- :func:`classify` (in :mod:`.classify`) reads a product's catalog text into that taxonomy.
- Kinds ("sofa", "floor_lamp") are a thin layer of short names on taxonomy nodes for the
  compositor and the prompts: :data:`CATEGORIES`, :data:`CATEGORY_INFO`, :func:`category_info`,
  :func:`normalize_category`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import NamedTuple

from visualizer_core.errors import InvalidInput
from visualizer_core.taxonomy._data import (
    TAXONOMY_VERSION,
    Category,
    Placement,
    SizeClass,
    data,
)
from visualizer_core.taxonomy._text import BOUNDARY as _BOUNDARY
from visualizer_core.taxonomy._text import normalize_text, words
from visualizer_core.taxonomy.classify import (
    UNSURE_BELOW,
    Candidate,
    Classification,
    classify,
    lookup,
)

__all__ = [
    "CATEGORIES",
    "CATEGORY_INFO",
    "NEUTRAL_ROOMS",
    "ROOM_TYPES",
    "TAXONOMY_VERSION",
    "UNSURE_BELOW",
    "Candidate",
    "Category",
    "CategoryInfo",
    "Classification",
    "PhraseHit",
    "Placement",
    "SizeClass",
    "UnknownCategory",
    "UnknownRoomType",
    "all_categories",
    "category",
    "category_info",
    "classify",
    "find_phrases",
    "find_room_mentions",
    "normalize_category",
    "normalize_room_type",
    "normalize_text",
    "room_in_file_name",
    "room_types_for",
]


class UnknownRoomType(InvalidInput, ValueError):
    """Text that names no known room type (also a ``ValueError`` for generic callers)."""


class UnknownCategory(InvalidInput, LookupError):
    """Text that names no known product category (also a ``LookupError``)."""


ROOM_TYPES: dict[str, str] = dict(data().rooms)
NEUTRAL_ROOMS: tuple[str, ...] = data().neutral_rooms
"""Rooms where most things look at home, best first: where a product without a room goes."""


@dataclass(frozen=True)
class CategoryInfo:
    """What a kind or category means for a picture: the rooms it belongs in (best first),
    where it stands, its size class and its typical height in metres (for the compositor)."""

    id: str
    label: str
    room_types: tuple[str, ...]
    placement: Placement
    size_class: SizeClass
    real_height_m: float
    taxonomy_id: int | None = None


def _info_of(node: Category) -> CategoryInfo:
    return CategoryInfo(
        node.slug,
        node.name,
        node.rooms,
        node.placement,
        node.size_class,
        node.height_m,
        node.id,
    )


def _info_for_kinds() -> dict[str, CategoryInfo]:
    """A kind's facts are its first node's, under the kind's own name and height."""
    tax = data()
    out = {
        kind.id: replace(
            _info_of(tax.categories[kind.node_ids[0]]),
            id=kind.id,
            label=kind.label,
            real_height_m=kind.height_m,
        )
        for kind in tax.kinds.values()
    }
    out["other"] = CategoryInfo("other", "Other", ("living_room",), "floor", "medium", 0.5)
    return out


CATEGORY_INFO: dict[str, CategoryInfo] = _info_for_kinds()
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_INFO)


def all_categories() -> list[Category]:
    """Every category of the taxonomy, in the file's order."""
    return list(data().categories.values())


def category(value: str | int) -> Category | None:
    """The taxonomy category with this id ("4191") or path ("Furniture > Office Furniture >
    Desks", any case); ``None`` when there is none."""
    return lookup(value)


@functools.cache
def _by_slug() -> dict[str, Category]:
    out: dict[str, Category] = {}
    for node in sorted(data().categories.values(), key=lambda n: (n.depth, n.id)):
        out.setdefault(node.slug, node)
    return out


def normalize_category(name: str, category: str | None, description: str | None) -> str:
    """A short kind for a catalog product ("sofa", "floor_lamp", "range_hood"), through
    :func:`classify`; ``"other"`` when nothing fits."""
    found = classify(name or "", category, description)
    return found.kind if found.confidence >= UNSURE_BELOW else "other"


def category_info(category: str) -> CategoryInfo:
    """The facts of a kind ("sofa"), a taxonomy category (id, path or short name such as
    ``range_hood``), or any text :func:`classify` recognises.

    Raises :class:`UnknownCategory` (a ``LookupError``) for text that names no category.
    """
    info = CATEGORY_INFO.get(category)
    if info is not None:
        return info
    node = lookup(category) or _by_slug().get(category)
    if node is not None:
        return _info_of(node)
    found = classify(category, category, None) if category else None
    if found is None or found.taxonomy_id is None:
        raise UnknownCategory(
            f"unknown product category {category!r}; give a Google product taxonomy id or "
            f"path, or one of: {', '.join(CATEGORIES)}"
        )
    return CATEGORY_INFO.get(found.kind) or _info_of(data().categories[found.taxonomy_id])


def room_types_for(category: str) -> list[str]:
    """The room types a kind or category belongs in, best first."""
    return list(category_info(category).room_types)


# -- finding phrases in text --------------------------------------------------------------------

_CONTEXT_TOKENS = 3


def _words_only(text: str) -> str:
    return " ".join(words(text))


def _word_pattern(word: str) -> str:
    """A word and its plural: sofa(s), couch(es), vanity/vanities."""
    if len(word) > 2 and word.endswith("y") and word[-2] not in "aeiou":
        return re.escape(word[:-1]) + "(?:y|ies)"
    if word.isdigit():
        return re.escape(word)
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return re.escape(word) + "(?:es)?"
    return re.escape(word) + "(?:s|es)?"


def _phrase_regex(phrase: str) -> re.Pattern[str]:
    body = " ".join(_word_pattern(w) for w in words(phrase))
    return re.compile(rf"(?<![a-z0-9]){body}(?![a-z0-9])")


class PhraseHit(NamedTuple):
    """Where a phrase was found in normalised text, and what it stands for."""

    start: int
    end: int
    target: str


def find_phrases(text: str, patterns: Iterable[tuple[re.Pattern[str], str]]) -> list[PhraseHit]:
    """Non-overlapping phrase hits in normalised text, in text order; where two overlap, the
    longer phrase wins (the earlier one between equals)."""
    found = sorted(
        (
            PhraseHit(m.start(), m.end(), target)
            for pattern, target in patterns
            for m in pattern.finditer(text)
        ),
        key=lambda h: (h.start - h.end, h.start),
    )
    kept: list[PhraseHit] = []
    for hit in found:
        if not any(hit.start < k.end and k.start < hit.end for k in kept):
            kept.append(hit)
    return sorted(kept, key=lambda h: h.start)


def _negated(text: str, start: int) -> bool:
    before = text[:start].split()[-_CONTEXT_TOKENS:]
    if _BOUNDARY in before:
        before = before[len(before) - before[::-1].index(_BOUNDARY) :]
    negations = set(data().vocabulary.negations)
    return any(t in negations for t in before)


# -- room types ---------------------------------------------------------------------------------


@functools.cache
def _room_lookup() -> dict[str, str]:
    lookup_: dict[str, str] = {}
    synonyms = data().room_synonyms
    for room_id, label in ROOM_TYPES.items():
        for phrase in (room_id, label, *synonyms.get(room_id, ())):
            plain = _words_only(phrase)
            lookup_[plain] = room_id
            lookup_[plain.replace(" ", "")] = room_id
    return lookup_


@functools.cache
def _room_patterns(in_product_text: bool) -> tuple[tuple[re.Pattern[str], str], ...]:
    patterns: list[tuple[re.Pattern[str], str]] = []
    synonyms = data().room_synonyms
    ambiguous = data().ambiguous_room_words
    for room_id, label in ROOM_TYPES.items():
        for phrase in {room_id, label, *synonyms.get(room_id, ())}:
            plain = _words_only(phrase)
            if in_product_text and plain in ambiguous:
                continue
            patterns.append((_phrase_regex(plain), room_id))
    patterns.sort(key=lambda p: (p[1], p[0].pattern))
    return tuple(patterns)


def normalize_room_type(text: str) -> str:
    """The room type id for free text: "Living Room", "lounge", "WFH", "en-suite", "patio".

    Case, spacing and punctuation do not matter. Text that is not itself a room name but names
    one ("our cosy family room") gives the longest room phrase in it. Text that names no room
    raises :class:`UnknownRoomType` (an :class:`~visualizer_core.errors.InvalidInput`).
    """
    plain = _words_only(text or "")
    lookup_ = _room_lookup()
    room = lookup_.get(plain) or lookup_.get(plain.replace(" ", ""))
    if room:
        return room
    if plain:
        hits = find_phrases(plain, _room_patterns(False))
        if hits:
            return max(hits, key=lambda h: (h.end - h.start, -h.start)).target
    raise UnknownRoomType(f"unknown room type {text!r}; known room types: {', '.join(ROOM_TYPES)}")


def room_in_file_name(filename: str | None) -> str | None:
    """The room a file's name gives ("rustic-way-to-dine.jpg": dining room), or None.

    People name their photos; a room word there is their word, like one typed on upload. Only
    the name counts (not the folders nor the extension).
    """
    text = re.sub(r"[^0-9A-Za-z]+", " ", PurePath(filename or "").stem).strip()
    if not text:
        return None
    try:
        return normalize_room_type(text)
    except UnknownRoomType:
        return None


def find_room_mentions(text: str | None) -> list[str]:
    """Room type ids that a product's own text mentions, in the order they appear.

    Only unambiguous room words count ("patio", "bathroom", "nursery"; not "living" or "hall"),
    and negated ones ("not for outdoor use") are skipped.
    """
    if not text:
        return []
    norm = normalize_text(text)
    rooms = [
        h.target for h in find_phrases(norm, _room_patterns(True)) if not _negated(norm, h.start)
    ]
    return list(dict.fromkeys(rooms))
