"""Versioned prompt templates: what the image model is told, reproducible by version."""

from __future__ import annotations

import dataclasses

import pytest

from visualizer_core.errors import InvalidInput
from visualizer_core.prompts import PROMPT_VERSION, TEMPLATES, BuiltPrompt, build_prompt
from visualizer_core.schemas import FlowSettings, ProductAnalysis, SceneAnalysis


def product(**changes: object) -> ProductAnalysis:
    fields: dict[str, object] = {
        "category": "wall_art",
        "room_types": ["living_room"],
        "style": ["boho"],
        "materials": ["paper", "oak"],
        "colors": ["terracotta", "sand"],
        "placement": "wall",
        "size_class": "medium",
    }
    return ProductAnalysis.model_validate({**fields, **changes})


def scene(**changes: object) -> SceneAnalysis:
    fields: dict[str, object] = {
        "room_type": "living_room",
        "style": ["scandinavian", "minimal"],
        "lighting": "soft daylight",
    }
    return SceneAnalysis.model_validate({**fields, **changes})


def test_prompt_names_product_room_placement_extra_text_and_version() -> None:
    settings = FlowSettings(aspect_ratio="4:5", prompt="  Warm evening light, please. ")
    built = build_prompt("Terracotta Dunes Print", product(), scene(), settings)
    assert isinstance(built, BuiltPrompt)
    assert built.version == PROMPT_VERSION == "v1"
    text = built.text
    assert "Terracotta Dunes Print (wall art)" in text
    assert "first image" in text and "second image" in text
    assert "living room" in text
    assert "Placement: wall" in text and "Hang it on a wall" in text
    assert "shape, proportions, colours, materials" in text
    assert "colours: terracotta, sand; materials: paper, oak" in text
    assert "lighting (soft daylight)" in text
    assert "scandinavian, minimal style" in text
    assert "a medium wall art in a living room" in text
    assert "4:5 aspect ratio (portrait)" in text
    assert text.endswith("\nAdditional direction: Warm evening light, please.")


@pytest.mark.parametrize(
    ("placement", "words"),
    [
        ("floor", "Stand it on the floor"),
        ("surface", "Set it on a suitable surface"),
        ("wall", "Hang it on a wall"),
        ("ceiling", "Hang it from the ceiling"),
    ],
)
def test_each_placement_has_its_instruction(placement: str, words: str) -> None:
    text = build_prompt("Thing", product(placement=placement), scene(), FlowSettings()).text
    assert f"Placement: {placement}." in text
    assert words in text


def test_no_extra_text_no_additional_direction() -> None:
    text = build_prompt("Thing", product(), scene(), FlowSettings(prompt="   ")).text
    assert "Additional direction" not in text


def test_explicit_version_matches_the_default() -> None:
    settings = FlowSettings(prompt="x")
    assert build_prompt("A", product(), scene(), settings, version="v1") == build_prompt(
        "A", product(), scene(), settings
    )


def test_unknown_version_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"unknown prompt version 'v0'.*known versions: v1"):
        build_prompt("A", product(), scene(), FlowSettings(), version="v0")


def test_prompt_is_deterministic() -> None:
    settings = FlowSettings(aspect_ratio="16:9", prompt="Add a cosy throw.")
    texts = {build_prompt("Alba Sofa", product(), scene(), settings).text for _ in range(5)}
    assert len(texts) == 1


def test_works_without_analyses() -> None:
    built = build_prompt("Mystery Object", None, None, FlowSettings(prompt="Be subtle."))
    assert "Mystery Object" in built.text
    assert "a product like this in a room" in built.text
    assert "naturally belongs" in built.text
    assert "1:1 aspect ratio (square)" in built.text
    assert built.text.endswith("Additional direction: Be subtle.")


def test_room_comes_from_the_product_when_there_is_no_scene() -> None:
    text = build_prompt(
        "Rack", product(category="coat_rack", room_types=["entryway"]), None, FlowSettings()
    ).text
    assert "in an entryway" in text
    assert "boho style" in text


def test_braces_in_user_text_are_kept_literally() -> None:
    built = build_prompt("Sofa {room}", product(), scene(), FlowSettings(prompt="use {style}"))
    assert "Sofa {room} (wall art)" in built.text
    assert built.text.endswith("Additional direction: use {style}")


def test_released_templates_cannot_be_changed() -> None:
    with pytest.raises(TypeError):
        TEMPLATES["v1"] = TEMPLATES["v1"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TEMPLATES["v1"].body = "changed"  # type: ignore[misc]
