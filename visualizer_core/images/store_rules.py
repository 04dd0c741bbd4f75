"""What each store accepts, and where a picture stands against it: the delivery presets' rules.

The rules are data (``data/store_rules.toml``, each with the store's page it comes from),
validated once. :func:`plan` says what a preset does to one picture (its crop, around the
product when its box is known; its output size; whether it enlarges it) and :func:`judge` what
a store would say of the result: a refusal (below the store's minimum, above its pixel or file
caps, a format it does not list) or a warning (below its recommended size, enlarged, cropped,
the product cut by the crop). A store preset never enlarges a picture: one that is too small
is refused, with what to do.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Finding",
    "Plan",
    "StoreRules",
    "judge",
    "judge_bytes",
    "plan",
    "store_rules",
]

Box = tuple[int, int, int, int]
FORMAT_NAMES = {"jpeg": "JPEG", "webp": "WebP", "png": "PNG"}


class StoreRules(BaseModel):
    """One store's rules for one kind of picture."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label: str
    store: str
    formats: tuple[Literal["jpeg", "webp", "png"], ...] = Field(min_length=1)
    shape: Literal["as-made", "square"]
    side: int | None = Field(default=None, gt=0)
    min_width: int = 0
    min_height: int = 0
    min_long_side: int = 0
    recommended_width: int = 0
    recommended_height: int = 0
    max_megapixels: float | None = None
    max_long_side: int | None = None
    max_bytes: int | None = None

    def minimum(self) -> str:
        if self.min_long_side:
            return f"{self.min_long_side} px on the longest side"
        return f"{self.min_width} x {self.min_height} px"


@cache
def store_rules() -> dict[str, StoreRules]:
    """Every store's rules, by preset name (loaded and validated once)."""
    text = resources.files(__package__).joinpath("data/store_rules.toml").read_text("utf-8")
    return {
        name: StoreRules.model_validate({"name": name, **fields})
        for name, fields in tomllib.loads(text).items()
    }


@dataclass(frozen=True)
class Plan:
    """What a preset does to one picture."""

    source: tuple[int, int]
    crop: Box  # the part of the source kept
    size: tuple[int, int]  # the output size
    focus: Box | None  # the product's box in the source, when known

    @property
    def enlarged(self) -> float:
        """How many times the kept part is enlarged (1.0: not at all)."""
        return max(self.size[0] / (self.crop[2] - self.crop[0]), 1.0)

    @property
    def cropped(self) -> bool:
        return self.crop != (0, 0, *self.source)

    @property
    def cuts_product(self) -> bool:
        if self.focus is None or not self.cropped:
            return False
        left, top, right, bottom = self.crop
        fx0, fy0, fx1, fy1 = self.focus
        return fx0 < left or fy0 < top or fx1 > right or fy1 > bottom


@dataclass(frozen=True)
class Finding:
    """What a check says of one picture."""

    sku: str
    image: str  # the image id's first 8 characters
    size: tuple[int, int]
    rule: str
    advice: str
    refused: bool

    def sentence(self) -> str:
        width, height = self.size
        return f"{self.sku} (image {self.image}, {width} x {height}): {self.rule}; {self.advice}"


def _crop_around(width: int, height: int, ratio: float, focus: Box | None) -> Box:
    """The largest ``ratio`` (width / height) window of the picture, centred on the product's
    box when known (else the picture's centre), kept inside the picture."""
    if width / height > ratio:
        cw, ch = round(height * ratio), height
    else:
        cw, ch = width, round(width / ratio)
    cx, cy = width / 2, height / 2
    if focus is not None:
        cx, cy = (focus[0] + focus[2]) / 2, (focus[1] + focus[3]) / 2
    left = int(min(max(cx - cw / 2, 0), width - cw))
    top = int(min(max(cy - ch / 2, 0), height - ch))
    return left, top, left + cw, top + ch


def plan(
    source: tuple[int, int],
    *,
    target: tuple[int, int] | None,
    rules: StoreRules | None,
    focus: Box | None = None,
) -> Plan:
    """The crop and output size of a picture at a preset.

    ``target`` is a size preset's fixed size (None: the picture's own). With store ``rules``
    the store decides: a square store crops to 1:1 at its ``side`` or the largest square the
    picture allows, never more; pixel caps shrink the picture to fit. Nothing is enlarged
    except to a size preset's fixed ``target``.
    """
    width, height = source
    crop: Box = (0, 0, width, height)
    if rules is not None and rules.shape == "square":
        crop = _crop_around(width, height, 1.0, focus)
        side = min(crop[2] - crop[0], rules.side or crop[2] - crop[0])
        size = (side, side)
    elif target is not None:
        crop = _crop_around(width, height, target[0] / target[1], focus)
        size = target
    else:
        size = source
    if rules is not None:
        scale = 1.0
        if rules.max_megapixels and size[0] * size[1] > rules.max_megapixels * 1e6:
            scale = (rules.max_megapixels * 1e6 / (size[0] * size[1])) ** 0.5
        if rules.max_long_side and max(size) * scale > rules.max_long_side:
            scale = rules.max_long_side / max(size)
        if scale < 1.0:
            size = (max(1, int(size[0] * scale)), max(1, int(size[1] * scale)))
    return Plan(source=source, crop=crop, size=size, focus=focus)


def judge(
    the_plan: Plan, *, rules: StoreRules | None, fmt: str, sku: str, image: str
) -> list[Finding]:
    """What the store (or, without rules, a careful person) would say of the planned picture."""
    found: list[Finding] = []
    size = the_plan.source
    out_w, out_h = the_plan.size

    def add(rule: str, advice: str, *, refused: bool) -> None:
        found.append(Finding(sku, image, size, rule, advice, refused))

    if rules is not None:
        if fmt not in rules.formats:
            listed = ", ".join(FORMAT_NAMES[f] for f in rules.formats)
            add(
                f"{rules.label} does not list {FORMAT_NAMES.get(fmt, fmt)} (it lists {listed})",
                f"choose {FORMAT_NAMES[rules.formats[0]]}",
                refused=True,
            )
        too_small = (
            out_w < rules.min_width
            or out_h < rules.min_height
            or max(out_w, out_h) < rules.min_long_side
        )
        if too_small:
            add(
                f"below {rules.store}'s minimum of {rules.minimum()}",
                "re-make it at 2K (or 4K), or choose another preset; it is not enlarged",
                refused=True,
            )
        elif out_w < rules.recommended_width or out_h < rules.recommended_height:
            add(
                f"below {rules.store}'s recommended {rules.recommended_width} x "
                f"{rules.recommended_height} px (delivered at {out_w} x {out_h})",
                "re-make it at 2K for the recommended size",
                refused=False,
            )
    if the_plan.enlarged > 1.01:
        add(
            f"enlarged {the_plan.enlarged:.1f}x to {out_w} x {out_h}",
            "re-make it at 2K, or choose the original size",
            refused=False,
        )
    if the_plan.cuts_product:
        add(
            f"cropped to {out_w}:{out_h} the product does not fit",
            "choose a preset of the picture's shape, or re-make it at that aspect ratio",
            refused=False,
        )
    elif the_plan.cropped:
        where = "around the product" if the_plan.focus is not None else "from the centre"
        left, top, right, bottom = the_plan.crop
        add(
            f"cropped {where} to {right - left} x {bottom - top}",
            "choose a preset of the picture's shape to keep all of it",
            refused=False,
        )
    return found


def judge_bytes(
    length: int, *, rules: StoreRules | None, size: tuple[int, int], sku: str, image: str
) -> Finding | None:
    """A refusal when the encoded file is above the store's byte cap."""
    if rules is None or rules.max_bytes is None or length <= rules.max_bytes:
        return None
    return Finding(
        sku,
        image,
        size,
        f"{length / 1e6:.1f} MB, above {rules.store}'s {rules.max_bytes / 1e6:.0f} MB",
        "choose JPEG or a lower quality",
        refused=True,
    )
