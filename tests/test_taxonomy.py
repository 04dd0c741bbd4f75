"""The room and product taxonomy: ids, facts, and free text normalised to ids."""

from __future__ import annotations

import pytest

from visualizer_core import taxonomy
from visualizer_core.errors import InvalidInput
from visualizer_core.taxonomy import (
    CATEGORIES,
    CATEGORY_INFO,
    ROOM_TYPES,
    category_info,
    find_room_mentions,
    normalize_category,
    normalize_room_type,
    room_types_for,
)

REQUIRED_CATEGORIES = [
    "sofa",
    "armchair",
    "coffee_table",
    "side_table",
    "tv_stand",
    "bookshelf",
    "floor_lamp",
    "table_lamp",
    "pendant_light",
    "rug",
    "wall_art",
    "mirror",
    "plant",
    "vase",
    "cushion",
    "throw_blanket",
    "bed",
    "nightstand",
    "dresser",
    "wardrobe",
    "desk",
    "office_chair",
    "dining_table",
    "dining_chair",
    "bar_stool",
    "sideboard",
    "cookware",
    "kitchen_storage",
    "bath_towel",
    "bathroom_vanity",
    "shoe_cabinet",
    "coat_rack",
    "kids_bed",
    "toy_storage",
    "outdoor_sofa",
    "outdoor_table",
    "planter",
    "other",
]


def test_room_type_ids_are_the_agreed_ones() -> None:
    assert list(ROOM_TYPES) == [
        "living_room",
        "bedroom",
        "dining_room",
        "kitchen",
        "home_office",
        "bathroom",
        "entryway",
        "kids_room",
        "outdoor",
    ]
    assert all(label and label[0].isupper() for label in ROOM_TYPES.values())


def test_categories_cover_the_catalog_and_their_facts_are_sane() -> None:
    assert set(REQUIRED_CATEGORIES) <= set(CATEGORIES)
    assert tuple(CATEGORY_INFO) == CATEGORIES
    for cid, info in CATEGORY_INFO.items():
        assert info.id == cid
        assert info.room_types, cid
        assert set(info.room_types) <= set(ROOM_TYPES), cid
        assert len(set(info.room_types)) == len(info.room_types), cid
        assert info.placement in ("floor", "surface", "wall", "ceiling")
        assert info.size_class in ("small", "medium", "large")
        assert 0 < info.real_height_m < 3.0, cid


def test_category_facts_that_drive_pictures() -> None:
    assert category_info("pendant_light").placement == "ceiling"
    assert category_info("wall_art").placement == "wall"
    assert category_info("table_lamp").placement == "surface"
    assert category_info("sofa").size_class == "large"
    assert category_info("floor_lamp").real_height_m > category_info("table_lamp").real_height_m
    assert room_types_for("sofa")[0] == "living_room"
    assert room_types_for("outdoor_sofa") == ["outdoor"]
    assert room_types_for("bathroom_vanity") == ["bathroom"]


def test_category_info_accepts_text_and_refuses_nonsense() -> None:
    assert category_info("Floor lamps").id == "floor_lamp"
    assert category_info("other").id == "other"
    with pytest.raises(LookupError, match="zebra crossing"):
        category_info("zebra crossing")
    with pytest.raises(InvalidInput):
        category_info("zebra crossing")


@pytest.mark.parametrize(
    ("text", "room"),
    [
        ("Living Room", "living_room"),
        ("living_room", "living_room"),
        ("LivingRoom", "living_room"),
        ("  living   ROOM ", "living_room"),
        ("lounge", "living_room"),
        ("family room", "living_room"),
        ("Sitting-room", "living_room"),
        ("Home Office", "home_office"),
        ("study", "home_office"),
        ("WFH", "home_office"),
        ("master bedroom", "bedroom"),
        ("Bedrooms", "bedroom"),
        ("guest room", "bedroom"),
        ("patio", "outdoor"),
        ("garden", "outdoor"),
        ("balcony", "outdoor"),
        ("Roof terrace", "outdoor"),
        ("nursery", "kids_room"),
        ("Kids' room", "kids_room"),
        ("children's bedroom", "kids_room"),
        ("hallway", "entryway"),
        ("foyer", "entryway"),
        ("mudroom", "entryway"),
        ("dining", "dining_room"),
        ("Dining Room", "dining_room"),
        ("bath", "bathroom"),
        ("en-suite", "bathroom"),
        ("Ensuite", "bathroom"),
        ("kitchen-diner", "kitchen"),
        ("our cosy family room", "living_room"),
        ("Bedroom / Office", "bedroom"),
    ],
)
def test_room_type_synonyms(text: str, room: str) -> None:
    assert normalize_room_type(text) == room


@pytest.mark.parametrize("text", ["spaceship", "", "   ", "room"])
def test_unknown_room_type_names_the_value_and_the_known_ones(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize_room_type(text)
    message = str(caught.value)
    assert repr(text) in message
    for room in ROOM_TYPES:
        assert room in message
    # Generic callers (the Gemini adapter) catch ValueError.
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("name", "category", "description", "expected"),
    [
        # the catalog's category text first, in its many spellings
        ("Oslo", "Sofas & Couches", None, "sofa"),
        ("Arc", "Lighting > Floor Lamps", None, "floor_lamp"),
        ("Mara", "Accent chair", None, "armchair"),
        ("Nord", "Living Room > Coffee Tables", None, "coffee_table"),
        ("Nord", "coffee_table", None, "coffee_table"),
        ("Bower", "Bedside Tables", None, "nightstand"),
        ("Kit", "Bar Stools", None, "bar_stool"),
        ("Basin", "Bathroom Vanities", None, "bathroom_vanity"),
        ("Hugo", "Étagères", None, "bookshelf"),
        # the name when the category text says nothing
        ("Halden Coffee Table", "New In", None, "coffee_table"),
        ("Brass Table Lamp", "Lighting", None, "table_lamp"),
        ("Walnut Sofa Table", None, None, "console_table"),
        ("Oak Lamp Table", None, None, "side_table"),
        ("Oak Coffee Table with Storage Shelf", None, None, "coffee_table"),
        ("Velvet Dining Chair Cushion", None, None, "cushion"),
        ("Cushion Cover for Sofa", None, None, "cushion"),
        ("Wishbone Chairs, Set of 2", None, None, "dining_chair"),
        ("Desk Chair", None, None, "office_chair"),
        ("Desk Lamp", None, None, "table_lamp"),
        ("Plant Pot", None, None, "planter"),
        ("T.V. Unit", None, None, "tv_stand"),
        ("Chest of Drawers", None, None, "dresser"),
        ("Kids Bed Star", None, None, "kids_bed"),
        ("Children's Chair", None, None, "kids_furniture"),
        ("Bunk Beds", None, None, "kids_bed"),
        ("3-Seater", None, None, "sofa"),
        # outdoor words turn seating and tables into their outdoor kind
        ("Teak Sofa", "Outdoor Furniture", None, "outdoor_sofa"),
        ("Patio Dining Table", None, None, "outdoor_table"),
        ("Nova sofa", None, "Weatherproof frame, made for outdoor living.", "outdoor_sofa"),
        ("Nova sofa", None, "Not suitable for outdoor use.", "sofa"),
        # the description last; its first product word is the subject
        ("Luna", None, "A slender floor lamp with a linen shade.", "floor_lamp"),
        ("The Weekender", "Furniture", "A low, deep sofa made for lazy Sundays.", "sofa"),
        ("Oak Table", None, "A compact side table that sits beside your sofa.", "side_table"),
        ("Mirror", None, "Hang it above a console table.", "mirror"),
        ("Hand-thrown vase", "Home Decor", "Pairs beautifully with our coffee table.", "vase"),
        # vague words count only when nothing specific is found
        ("Luna Lamp", None, "A slender floor lamp with a linen shade.", "floor_lamp"),
        ("Sheepskin Stool", "Seating", None, "bar_stool"),
        ("Moon", "Lighting", None, "pendant_light"),
        # nothing recognisable
        ("Gift Card", None, None, "other"),
        ("Cover", None, "Protects your sofa from pets.", "other"),
        ("", None, None, "other"),
    ],
)
def test_category_normalisation(
    name: str, category: str | None, description: str | None, expected: str
) -> None:
    assert normalize_category(name, category, description) == expected


def test_category_matching_is_by_whole_words() -> None:
    # "bed" inside "bedroom", "pan" inside "panel", "rug" inside "rugged" do not count
    assert normalize_category("Bedroom Collection", None, None) == "other"
    assert normalize_category("Rugged Panel", None, None) == "other"


def test_catalog_category_text_comes_before_the_name() -> None:
    assert normalize_category("Sofa Rug", "Rugs", None) == "rug"
    assert normalize_category("Sofa Rug", None, None) == "rug"  # the head noun of the name
    assert normalize_category("Rug", "Sofas", None) == "sofa"


def test_room_mentions_in_product_text() -> None:
    assert find_room_mentions("Teak lantern for the patio") == ["outdoor"]
    assert find_room_mentions("Not for bathroom use") == []
    assert find_room_mentions("Bath towel, also lovely in a nursery") == ["bathroom", "kids_room"]
    # ambiguous room words do not count in product text
    assert find_room_mentions("An entry-level living essential") == []
    assert find_room_mentions(None) == []


def test_normalize_text() -> None:
    assert taxonomy.normalize_text("Sofas & Couches > Mid-Century") == (
        "sofas and couches . mid century"
    )
    assert taxonomy.normalize_text("Kids\u2019 Room, 3.5m") == "kids room . 3 . 5m"
