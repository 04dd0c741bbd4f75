"""Versioned prompt templates for product-in-scene generation.

A prompt tells an image model to put the exact product of the first image into the scene of
the second. Every template is kept under its version in :data:`TEMPLATES` and never edited
once released: a generated image records the version its prompt was built with, so an old
image's prompt can be rebuilt word for word. A changed wording is a new version, and
:data:`PROMPT_VERSION` names the one new prompts use.

:func:`build_prompt` is a pure function of its arguments: the same product, scene and settings
always give the same text.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import FlowSettings, ProductAnalysis, SceneAnalysis

__all__ = ["PROMPT_VERSION", "TEMPLATES", "BuiltPrompt", "PromptTemplate", "build_prompt"]


@dataclass(frozen=True)
class BuiltPrompt:
    """A prompt's text and the template version that made it."""

    text: str
    version: str


@dataclass(frozen=True)
class PromptTemplate:
    """One released wording: the body and a sentence per placement.

    The body's fields: ``product`` (the name, with its category in brackets when known),
    ``identity`` (colours and materials to keep, may be empty), ``placement`` (one of
    ``placements``), ``subject`` (e.g. "a large sofa"), ``room`` (e.g. "an entryway"),
    ``lighting`` and ``style`` (both may be empty), ``aspect_ratio`` and ``orientation``.
    """

    body: str
    placements: MappingProxyType[str, str]
    unknown_placement: str
    extra: str  # the flow's own text, with field ``text``


_V1 = PromptTemplate(
    body=(
        "Create a photorealistic interior photograph. Place the exact product shown in the first "
        "image, {product}, into the room scene shown in the second image.\n"
        "Keep the product exactly as it is in the first image: the same shape, proportions, "
        "colours, materials, textures and details{identity}. Do not redesign, restyle, recolour "
        "or crop it.\n"
        "Keep the scene from the second image: the same room, walls, floor, furniture, camera "
        "position and perspective.\n"
        "{placement}\n"
        "Give the product a realistic scale for {subject} in {room}, consistent with "
        "the room's perspective and the objects around it.\n"
        "Match the scene's lighting{lighting}: the same light direction, colour temperature and "
        "softness, with natural contact shadows and reflections where the product meets the "
        "room.\n"
        "The scene is {room}{style}; the product should look as if it was photographed there.\n"
        "Output one image with a {aspect_ratio} aspect ratio ({orientation}), with no text, "
        "labels, watermarks or borders."
    ),
    placements=MappingProxyType(
        {
            "floor": (
                "Placement: floor. Stand it on the floor in a natural free spot, with its feet or "
                "base resting firmly on the floor."
            ),
            "surface": (
                "Placement: surface. Set it on a suitable surface in the scene, such as a table, "
                "shelf, counter or sideboard, resting naturally on top of it."
            ),
            "wall": (
                "Placement: wall. Hang it on a wall at a natural height, flat against the wall "
                "and level."
            ),
            "ceiling": (
                "Placement: ceiling. Hang it from the ceiling at a natural height, with its cord "
                "or fixture attached to the ceiling."
            ),
        }
    ),
    unknown_placement="Put it where such a product naturally belongs in this room.",
    extra="Additional direction: {text}",
)

TEMPLATES: Final[MappingProxyType[str, PromptTemplate]] = MappingProxyType({"v1": _V1})
"""Every released template by version; released ones never change."""

PROMPT_VERSION: Final = "v1"
"""The version :func:`build_prompt` uses when none is asked for."""

_ROOM_NAMES: Final = {
    "kids_room": "children's room",
    "outdoor": "outdoor space",
}


def build_prompt(
    product_name: str,
    product: ProductAnalysis | None,
    scene: SceneAnalysis | None,
    settings: FlowSettings,
    *,
    version: str | None = None,
) -> BuiltPrompt:
    """The generation prompt for one product in one scene, from the template ``version``.

    ``version`` defaults to :data:`PROMPT_VERSION`; an unknown one raises
    :class:`~visualizer_core.errors.InvalidInput`. Missing analyses fall back to neutral
    wording. The flow's own text (``settings.prompt``) is appended as
    "Additional direction: ...".
    """
    chosen = PROMPT_VERSION if version is None else version
    template = TEMPLATES.get(chosen)
    if template is None:
        known = ", ".join(sorted(TEMPLATES))
        raise InvalidInput(f"unknown prompt version {chosen!r}; known versions: {known}")

    name = " ".join(product_name.split()) or "the product"
    category = _words(product.category) if product and product.category != "other" else ""
    room_id = scene.room_type if scene else ""
    if not room_id and product and product.room_types:
        room_id = product.room_types[0]
    room = _a(_room_name(room_id) if room_id else "room")
    subject = _a(
        f"{product.size_class} {category}" if product and category else "product like this"
    )
    text = template.body.format(
        product=f"{name} ({category})" if category else name,
        identity=_identity(product),
        placement=(
            template.placements.get(product.placement, template.unknown_placement)
            if product
            else template.unknown_placement
        ),
        subject=subject,
        room=room,
        lighting=f" ({scene.lighting.strip()})" if scene and scene.lighting.strip() else "",
        style=_style(scene, product),
        aspect_ratio=settings.aspect_ratio,
        orientation=_orientation(settings.aspect_ratio),
    )
    extra = settings.prompt.strip()
    if extra:
        text = f"{text}\n{template.extra.format(text=extra)}"
    return BuiltPrompt(text=text, version=chosen)


def _words(identifier: str) -> str:
    return identifier.replace("_", " ").strip()


def _a(phrase: str) -> str:
    """The phrase with its indefinite article."""
    return f"{'an' if phrase[:1].lower() in 'aeiou' else 'a'} {phrase}"


def _room_name(room_type: str) -> str:
    return _ROOM_NAMES.get(room_type, _words(room_type))


def _identity(product: ProductAnalysis | None) -> str:
    """' (colours: ...; materials: ...)' from the analysis, or nothing."""
    if product is None:
        return ""
    parts = []
    if product.colors:
        parts.append("colours: " + ", ".join(_unique(product.colors)))
    if product.materials:
        parts.append("materials: " + ", ".join(_unique(product.materials)))
    return f" ({'; '.join(parts)})" if parts else ""


def _style(scene: SceneAnalysis | None, product: ProductAnalysis | None) -> str:
    """' in a modern, minimal style' from the scene's style words, else the product's."""
    words = _unique(scene.style if scene and scene.style else product.style if product else [])
    return f" in a {', '.join(words)} style" if words else ""


def _orientation(aspect_ratio: str) -> str:
    width, _, height = aspect_ratio.partition(":")
    try:
        w, h = float(width), float(height)
    except ValueError:  # FlowSettings validates the ratio; this is only a safe fallback
        return "square"
    if w > h:
        return "landscape"
    return "portrait" if w < h else "square"


def _unique(words: list[str]) -> list[str]:
    """Stripped, non-empty words in their first order, each once (case-insensitively)."""
    seen: set[str] = set()
    out = []
    for word in words:
        clean = " ".join(word.split())
        if clean and clean.lower() not in seen:
            seen.add(clean.lower())
            out.append(clean)
    return out
