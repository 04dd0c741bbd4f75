"""What a brand's own decisions teach matching: which room its team wants each kind of product in.

Every placement a person makes is a label of (the product's category, the scene's room): a
scene set by hand in the match table, an image approved in review. A rejection given the
reason "wrong room" is a label against that room. The labels are kept per client as counts
(``client.settings["taught_rooms"]``: ``{category: {room: {"placed": n, "refused": n}}}``), so
every session of the client starts with what earlier sessions taught, and an owner can read
and reset them.

A room is *taught* for a category once the team placed at least :data:`TAUGHT_AFTER` products
of that category there (placements minus refusals) and more than in any other room. Matching
then treats the taught room as the category's first room, ahead of what the analysis said,
and says so in the match's reason ("your team put 9 of 9 doors in the kitchen"). A room the
team refused more often than it placed there drops to the end of the category's rooms.

This module only counts and reads counts; the services keep them on the client's row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from visualizer_core import taxonomy
from visualizer_core.schemas import ProductAnalysis

__all__ = [
    "SETTING",
    "TAUGHT_AFTER",
    "Lesson",
    "apply",
    "count",
    "lessons",
    "taught",
]

SETTING = "taught_rooms"
# Two agreeing placements teach a category: one could be a product-specific choice.
TAUGHT_AFTER = 2

Counts = dict[str, dict[str, dict[str, int]]]


@dataclass(frozen=True)
class Lesson:
    """What the team did with one category: where it placed it and where it refused it."""

    category: str
    placed: dict[str, int]  # room -> products placed there (set by hand or approved)
    refused: dict[str, int]  # room -> images rejected as the wrong room

    def net(self, room: str) -> int:
        return self.placed.get(room, 0) - self.refused.get(room, 0)

    @property
    def total(self) -> int:
        return sum(self.placed.values())

    @property
    def room(self) -> str | None:
        """The taught room, or None while the team has not agreed on one often enough."""
        ranked = sorted(self.placed, key=lambda r: (-self.net(r), r))
        if not ranked or self.net(ranked[0]) < TAUGHT_AFTER:
            return None
        if len(ranked) > 1 and self.net(ranked[1]) == self.net(ranked[0]):
            return None  # two rooms equally taught: the team has not decided
        return ranked[0]

    @property
    def avoided(self) -> list[str]:
        """Rooms the team refused more often than it placed the category there."""
        return sorted(r for r in self.refused if self.net(r) < 0)

    def sentence(self) -> str:
        """``your team put 9 of 9 doors in the kitchen``; empty while nothing is taught."""
        room = self.room
        if room is None:
            return ""
        noun = _plural(self.category)
        where = _room_words(room)
        return f"your team put {self.placed[room]} of {self.total} {noun} in {where}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "label": _category_label(self.category),
            "room": self.room,
            "placed": dict(self.placed),
            "refused": dict(self.refused),
            "sentence": self.sentence(),
        }


def _category_label(category: str) -> str:
    info = taxonomy.CATEGORY_INFO.get(category)
    return info.label if info is not None else category.replace("_", " ")


def _plural(category: str) -> str:
    label = _category_label(category).lower()
    if label.endswith(("s", "ware", "ing", "storage", "art", "furniture")):
        return label
    if label.endswith("y") and label[-2:-1] not in "aeiou":
        return label[:-1] + "ies"
    if label.endswith(("sh", "ch", "x")):
        return label + "es"
    return label + "s"


def _room_words(room: str) -> str:
    if room == "outdoor":
        return "outdoor spaces"
    label = taxonomy.ROOM_TYPES.get(room, room.replace("_", " "))
    return f"the {label.lower()}"


def count(
    settings: Mapping[str, Any] | None,
    *,
    category: str,
    room: str,
    placed: int = 0,
    refused: int = 0,
) -> dict[str, Any]:
    """``settings`` with one placement or refusal added (a negative number takes one back).

    Returns new settings; a category or room without any count left is dropped.
    """
    settings = dict(settings or {})
    if not category or category == "other" or room not in taxonomy.ROOM_TYPES:
        return settings
    table: Counts = {c: {r: dict(v) for r, v in rooms.items()} for c, rooms in _table(settings)}
    cell = table.setdefault(category, {}).setdefault(room, {"placed": 0, "refused": 0})
    cell["placed"] = max(0, cell.get("placed", 0) + placed)
    cell["refused"] = max(0, cell.get("refused", 0) + refused)
    if not cell["placed"] and not cell["refused"]:
        del table[category][room]
        if not table[category]:
            del table[category]
    settings[SETTING] = table
    return settings


def _table(settings: Mapping[str, Any]) -> list[tuple[str, dict[str, dict[str, int]]]]:
    raw = settings.get(SETTING) or {}
    if not isinstance(raw, Mapping):
        return []
    out = []
    for category, rooms in raw.items():
        if isinstance(rooms, Mapping):
            out.append(
                (
                    str(category),
                    {
                        str(r): {k: int(v.get(k, 0)) for k in ("placed", "refused")}
                        for r, v in rooms.items()
                        if isinstance(v, Mapping)
                    },
                )
            )
    return out


def lessons(settings: Mapping[str, Any] | None) -> dict[str, Lesson]:
    """Every category the client's team placed or refused, by category."""
    out = {}
    for category, rooms in _table(settings or {}):
        out[category] = Lesson(
            category,
            {r: c["placed"] for r, c in rooms.items() if c["placed"]},
            {r: c["refused"] for r, c in rooms.items() if c["refused"]},
        )
    return out


def taught(taught_by: Mapping[str, Lesson], product: ProductAnalysis) -> Lesson | None:
    """The lesson that changes this product's rooms, or None."""
    lesson = taught_by.get(product.category)
    if lesson is None or (lesson.room is None and not lesson.avoided):
        return None
    return lesson


def apply(product: ProductAnalysis, lesson: Lesson | None) -> ProductAnalysis:
    """The product's analysis with its rooms reordered by what the team taught.

    The taught room comes first; rooms the team refused go last; the rest keep their order.
    """
    if lesson is None:
        return product
    rooms = list(product.room_types)
    avoided = [r for r in lesson.avoided if r in rooms]
    rooms = [r for r in rooms if r not in avoided]
    if lesson.room is not None:
        rooms = [lesson.room, *(r for r in rooms if r != lesson.room)]
    rooms += avoided
    if rooms == list(product.room_types):
        return product
    return product.model_copy(update={"room_types": rooms})
