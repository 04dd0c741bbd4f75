"""The taxonomy's data: Google's category list, the project's rules on it, and its vocabulary.

Three files under ``data/`` (their source and version in ``data/SOURCE.md``) are read once,
validated with pydantic, and turned into a tree of :class:`Category` objects whose rooms,
placement, size class and height come from the rules on their paths: the deepest rule that
sets a value wins, so a department decides and a subtree or a leaf may override. A rule whose
path names no category, or a room that is not one of the project's rooms, is an error when
the data is loaded, not a silently dead rule.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from visualizer_core.taxonomy._text import singular, words

__all__ = [
    "TAXONOMY_VERSION",
    "Category",
    "Kind",
    "Placement",
    "SizeClass",
    "TaxonomyData",
    "data",
]

Placement = Literal["floor", "surface", "wall", "ceiling"]
SizeClass = Literal["small", "medium", "large"]
SEPARATOR = " > "


class _Room(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    synonyms: list[str] = Field(default_factory=list)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    rooms: list[str] | None = None
    placement: Placement | None = None
    size: SizeClass | None = None
    height_m: float | None = Field(default=None, gt=0, le=5)


class _Kind(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    paths: list[str] = Field(min_length=1)
    subtree: bool = False
    tall: bool = False
    words: list[str] = Field(default_factory=list)
    height_m: float = Field(gt=0, le=5)


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    rooms: dict[str, _Room]
    ambiguous_room_words: list[str]
    neutral_rooms: list[str]
    rule: list[_Rule]
    kinds: dict[str, _Kind]
    department_weight: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rooms_known(self) -> _Rules:
        known = set(self.rooms)
        for rule in self.rule:
            unknown = [r for r in rule.rooms or [] if r not in known]
            if unknown:
                raise ValueError(f"rule {rule.path!r}: unknown room(s) {', '.join(unknown)}")
        unknown = [r for r in self.neutral_rooms if r not in known]
        if unknown:
            raise ValueError(f"neutral_rooms: unknown room(s) {', '.join(unknown)}")
        return self


class _Equivalent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    words: list[str] = Field(min_length=2)


class _Vocabulary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    spellings: dict[str, str]
    phrases: dict[str, str]
    equivalents: list[_Equivalent]
    room_modifiers: dict[str, list[str]]
    relational: list[str]
    negations: list[str]
    stopwords: list[str]
    modifier_words: list[str]
    description_room_words: dict[str, list[str]]


@dataclass(frozen=True)
class Kind:
    """A short product kind ("sofa", "floor_lamp") on top of a taxonomy node."""

    id: str
    label: str
    node_ids: tuple[int, ...]
    subtree: bool
    words: tuple[str, ...]
    height_m: float
    tall: bool = False


@dataclass
class Category:
    """One category of the Google product taxonomy, with what the rules say about it."""

    id: int
    path: str
    name: str
    depth: int
    parent: int | None
    rooms: tuple[str, ...] = ()
    placement: Placement = "floor"
    size_class: SizeClass = "medium"
    height_m: float = 0.5
    children: list[int] = field(default_factory=list)

    @property
    def department(self) -> str:
        return self.path.split(SEPARATOR, 1)[0]

    @property
    def slug(self) -> str:
        """A short id from the leaf's name: "Range Hoods" gives ``range_hood``."""
        tokens = [singular(t) for t in words(self.name) if t != "and"]
        return "_".join(tokens) or str(self.id)


@dataclass
class TaxonomyData:
    version: str
    categories: dict[int, Category]
    by_path: dict[str, int]
    rooms: dict[str, str]
    room_synonyms: dict[str, tuple[str, ...]]
    ambiguous_room_words: frozenset[str]
    neutral_rooms: tuple[str, ...]
    kinds: dict[str, Kind]
    kinds_at: dict[int, tuple[Kind, ...]]
    department_weight: dict[str, float]
    vocabulary: _Vocabulary

    def ancestors(self, node_id: int) -> list[Category]:
        """The node and its ancestors, the node first."""
        out = []
        current: int | None = node_id
        while current is not None:
            node = self.categories[current]
            out.append(node)
            current = node.parent
        return out


_LINE = re.compile(r"^(\d+) - (.+)$")


def _read_text(name: str) -> str:
    return resources.files("visualizer_core.taxonomy").joinpath("data", name).read_text("utf-8")


def _parse_taxonomy(text: str) -> tuple[str, dict[int, Category], dict[str, int]]:
    lines = text.splitlines()
    version = lines[0].split(":", 1)[1].strip() if lines and lines[0].startswith("#") else ""
    categories: dict[int, Category] = {}
    by_path: dict[str, int] = {}
    for line in lines[1:]:
        found = _LINE.match(line.strip())
        if not found:
            continue
        node_id, path = int(found.group(1)), found.group(2).strip()
        parts = path.split(SEPARATOR)
        parent = by_path.get(SEPARATOR.join(parts[:-1]).lower()) if len(parts) > 1 else None
        categories[node_id] = Category(node_id, path, parts[-1], len(parts), parent)
        by_path[path.lower()] = node_id
        if parent is not None:
            categories[parent].children.append(node_id)
    return version, categories, by_path


def _apply_rules(rules: _Rules, categories: dict[int, Category], by_path: dict[str, int]) -> None:
    by_rule_path: dict[str, _Rule] = {}
    for rule in rules.rule:
        if rule.path and rule.path.lower() not in by_path:
            raise ValueError(f"rules.toml: no taxonomy category has the path {rule.path!r}")
        if rule.path.lower() in by_rule_path:
            raise ValueError(f"rules.toml: two rules for {rule.path!r}")
        by_rule_path[rule.path.lower()] = rule
    root = by_rule_path.get("")
    if root is None or None in (root.rooms, root.placement, root.size, root.height_m):
        raise ValueError(
            "rules.toml: the rule for the whole taxonomy (path '') must set all values"
        )
    for node in categories.values():
        parts = node.path.split(SEPARATOR)
        rooms, placement, size, height = root.rooms, root.placement, root.size, root.height_m
        for depth in range(1, len(parts) + 1):
            step = by_rule_path.get(SEPARATOR.join(parts[:depth]).lower())
            if step is None:
                continue
            rooms = step.rooms if step.rooms is not None else rooms
            placement = step.placement or placement
            size = step.size or size
            height = step.height_m or height
        assert rooms is not None and placement and size and height
        node.rooms = tuple(rooms)
        node.placement = placement
        node.size_class = size
        node.height_m = height


@functools.cache
def data() -> TaxonomyData:
    """The taxonomy with its rules and vocabulary, loaded and validated once."""
    version, categories, by_path = _parse_taxonomy(_read_text("google-product-taxonomy.en-US.txt"))
    try:
        rules = _Rules.model_validate(tomllib.loads(_read_text("rules.toml")))
        vocabulary = _Vocabulary.model_validate(tomllib.loads(_read_text("vocabulary.toml")))
    except ValidationError as error:  # a broken data file is a bug in the package
        raise RuntimeError(f"the taxonomy's data files are invalid: {error}") from error
    _apply_rules(rules, categories, by_path)
    kinds: dict[str, Kind] = {}
    kinds_at: dict[int, list[Kind]] = {}
    for kind_id, spec in rules.kinds.items():
        node_ids = []
        for path in spec.paths:
            node_id = by_path.get(path.lower())
            if node_id is None:
                raise ValueError(f"rules.toml: kind {kind_id!r} names no category ({path!r})")
            node_ids.append(node_id)
        kind = Kind(
            kind_id,
            spec.label,
            tuple(node_ids),
            spec.subtree,
            tuple(spec.words),
            spec.height_m,
            spec.tall,
        )
        kinds[kind_id] = kind
        for node_id in node_ids:
            kinds_at.setdefault(node_id, []).append(kind)
    unknown = [
        r
        for r in [*vocabulary.room_modifiers, *vocabulary.description_room_words]
        if r not in rules.rooms
    ]
    if unknown:
        raise ValueError(f"vocabulary.toml: unknown room(s) {', '.join(unknown)}")
    return TaxonomyData(
        version=version,
        categories=categories,
        by_path=by_path,
        rooms={room_id: room.label for room_id, room in rules.rooms.items()},
        room_synonyms={room_id: tuple(room.synonyms) for room_id, room in rules.rooms.items()},
        ambiguous_room_words=frozenset(rules.ambiguous_room_words),
        neutral_rooms=tuple(rules.neutral_rooms),
        kinds=kinds,
        kinds_at={node: tuple(found) for node, found in kinds_at.items()},
        department_weight=dict(rules.department_weight),
        vocabulary=vocabulary,
    )


TAXONOMY_VERSION = "2019-07-10"
