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
    room_in_file_name,
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
    assert category_info("684").label == "Range Hoods"
    assert category_info("range_hood").room_types == ("kitchen",)
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


@pytest.mark.parametrize(
    ("filename", "room"),
    [
        ("rustic-way-to-dine.jpg", "dining_room"),
        ("Cosy_LOUNGE 2.png", "living_room"),
        ("uploads/nursery-soft-light.jpg", "kids_room"),
        ("my-study.webp", "home_office"),
        ("bedroom.photo.jpeg", "bedroom"),
        ("IMG_20240101.jpg", None),
        ("", None),
        (None, None),
    ],
)
def test_the_room_a_file_name_gives(filename: str | None, room: str | None) -> None:
    """The words people use in file names; the folder and the extension do not count."""
    assert room_in_file_name(filename) == room


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
        ("Hugo", "\u00c9tag\u00e8res", None, "bookshelf"),
        # the name when the category text says nothing
        ("Halden Coffee Table", "New In", None, "coffee_table"),
        ("Brass Table Lamp", "Lighting", None, "table_lamp"),
        ("Walnut Sofa Table", None, None, "console_table"),
        ("Oak Lamp Table", None, None, "side_table"),
        ("Oak Coffee Table with Storage Shelf", None, None, "coffee_table"),
        ("Velvet Dining Chair Cushion", None, None, "cushion"),
        ("Cushion Cover for Sofa", None, None, "cushion"),
        ("Desk Chair", None, None, "office_chair"),
        ("Desk Lamp", None, None, "table_lamp"),
        ("Plant Pot", None, None, "planter"),
        ("T.V. Unit", None, None, "tv_stand"),
        ("Chest of Drawers", None, None, "dresser"),
        ("Kids Bed Star", None, None, "kids_bed"),
        ("3-Seater", None, None, "sofa"),
        ("Marble Serving Platter", None, None, "tableware"),
        ("Serving Platter Marble", None, None, "tableware"),
        # the description; its first product word is the subject
        ("Luna", None, "A slender floor lamp with a linen shade.", "floor_lamp"),
        ("The Weekender", "Furniture", "A low, deep sofa made for lazy Sundays.", "sofa"),
        ("Oak Table", None, "A compact side table that sits beside your sofa.", "side_table"),
        ("Mirror", None, "Hang it above a console table.", "mirror"),
        ("Hand-thrown vase", "Home Decor", "Pairs beautifully with our coffee table.", "vase"),
        # families a list of furniture words did not know, named by the taxonomy
        ("Ardent 60cm Chimney Cooker Hood", None, None, "range_hood"),
        ("Extractor hood 60cm", None, None, "range_hood"),
        ("Belfast Sink, fireclay", None, None, "kitchen_utility_sink"),
        ("Oak Worktop 3m", None, None, "countertop"),
        ("Built-in single oven", None, None, "oven"),
        ("Compact Solo Microwave 800W", None, None, "microwave_oven"),
        ("Hex Cupboard Knob, pack of 6", None, None, "cabinet_knob_handle"),
        ("Bunny Soft Toy", None, None, "stuffed_animal"),
        ("Starry Night Bed Tent", None, None, "play_tent_tunnel"),
        ("A4 Magazine File Set of 2", None, None, "desk_organizer"),
        ("Coir Door Mat", None, None, "door_mat"),
        # nothing recognisable
        ("Assembly Service", None, None, "other"),
        ("", None, None, "other"),
    ],
)
def test_category_normalisation(
    name: str, category: str | None, description: str | None, expected: str
) -> None:
    assert normalize_category(name, category, description) == expected


def test_category_matching_is_by_whole_words() -> None:
    # "bed" inside "bedroom", "rug" inside "rugged" do not count
    assert normalize_category("Bedroom Collection", None, None) == "other"
    assert taxonomy.classify("Rugged Panel").kind != "rug"


def test_catalog_category_text_comes_before_the_name() -> None:
    assert normalize_category("Sofa Rug", "Rugs", None) == "rug"
    assert normalize_category("Sofa Rug", None, None) == "rug"  # the head noun of the name
    assert normalize_category("Rug", "Sofas", None) == "sofa"


def test_a_catalogs_own_taxonomy_category_wins() -> None:
    by_id = taxonomy.classify("Oslo", "Sofas", None, taxonomy_hint="684")
    assert (by_id.taxonomy_id, by_id.source, by_id.confidence) == (684, "catalog", 1.0)
    assert by_id.path == "Home & Garden > Kitchen & Dining > Kitchen Appliances > Range Hoods"
    by_path = taxonomy.classify("Oslo", "home & garden > decor > door mats", None)
    assert by_path.taxonomy_id == 2675 and by_path.rooms[0] == "entryway"
    # a department is narrowed by the text within it
    broad = taxonomy.classify("Weekender Sofa", None, None, taxonomy_hint="Furniture")
    assert broad.path == "Furniture > Sofas" and broad.source == "catalog"


def test_rooms_from_qualifiers_and_uses() -> None:
    assert taxonomy.classify("Kids' Oak Desk").rooms[0] == "kids_room"
    assert taxonomy.classify("Garden Bench, teak").rooms[0] == "outdoor"
    sofa = taxonomy.classify("Nova sofa", None, "Weatherproof frame, made for outdoor living.")
    assert sofa.rooms[0] == "outdoor"
    indoor = taxonomy.classify("Nova sofa", None, "Not weatherproof: for indoor use only.")
    assert indoor.rooms[0] == "living_room"
    assert taxonomy.classify("Baby Blue Cushion").rooms[0] == "living_room"


def test_nothing_fits_means_no_category_and_no_room() -> None:
    found = taxonomy.classify("SKU 88412 PK2")
    assert (found.taxonomy_id, found.kind, found.confidence, found.rooms) == (
        None,
        "other",
        0.0,
        (),
    )


WALKED = ("Furniture", "Home & Garden", "Baby & Toddler", "Hardware", "Toys & Games")


def test_every_category_of_the_home_departments_has_rooms_placement_and_size() -> None:
    walked = [c for c in taxonomy.all_categories() if c.department in WALKED]
    assert len(walked) >= 1900  # the five subtrees of the 2019-07-10 taxonomy: 1,939 categories
    for node in walked:
        assert node.rooms, node.path
        assert set(node.rooms) <= set(ROOM_TYPES), node.path
        assert len(set(node.rooms)) == len(node.rooms), node.path
        assert node.placement in ("floor", "surface", "wall", "ceiling"), node.path
        assert node.size_class in ("small", "medium", "large"), node.path
        assert 0 < node.height_m <= 3.0, node.path
        info = category_info(str(node.id))
        assert info.room_types == node.rooms


@pytest.mark.parametrize(
    ("path", "room", "placement"),
    [
        ("Home & Garden > Kitchen & Dining > Kitchen Appliances > Range Hoods", "kitchen", "wall"),
        (
            "Hardware > Plumbing > Plumbing Fixtures > Sinks > Kitchen & Utility Sinks",
            "kitchen",
            None,
        ),
        ("Hardware > Building Materials > Countertops", "kitchen", None),
        (
            "Hardware > Hardware Accessories > Cabinet Hardware > Cabinet Knobs & Handles",
            "kitchen",
            None,
        ),
        (
            "Toys & Games > Toys > Dolls, Playsets & Toy Figures > Stuffed Animals",
            "kids_room",
            None,
        ),
        ("Baby & Toddler > Nursing & Feeding > Baby Bottles", "kids_room", None),
        ("Furniture > Office Furniture > Desks", "home_office", "floor"),
        ("Office Supplies > Filing & Organization > Desk Organizers", "home_office", None),
        ("Home & Garden > Bathroom Accessories > Toilet Paper Holders", "bathroom", "wall"),
        ("Home & Garden > Lawn & Garden > Watering & Irrigation > Watering Cans", "outdoor", None),
        ("Furniture > Outdoor Furniture > Outdoor Tables", "outdoor", "floor"),
        ("Home & Garden > Decor > Door Mats", "entryway", "floor"),
        ("Home & Garden > Lighting > Lighting Fixtures > Chandeliers", "dining_room", "ceiling"),
    ],
)
def test_rules_on_paths_decide_by_department_and_leaf(
    path: str, room: str, placement: str | None
) -> None:
    node = taxonomy.category(path)
    assert node is not None
    assert node.rooms[0] == room
    if placement:
        assert node.placement == placement


def test_the_shipped_taxonomy_is_googles_2019_07_10_file() -> None:
    categories = taxonomy.all_categories()
    assert taxonomy.TAXONOMY_VERSION == "2019-07-10"
    assert len(categories) == 5582  # 5,583 lines less the version line
    assert taxonomy.category(460) is not None and taxonomy.category(460).path == "Furniture > Sofas"  # type: ignore[union-attr]


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


def test_a_category_path_is_read_by_its_taxonomy_meaning_not_by_its_words() -> None:
    # A blinds store's Shopify export: its category is a path one step deeper than Google's
    # list. "Home & Garden" is Google's home department: no garden, so no outdoor room.
    blinds = taxonomy.classify(
        "Easy Stick TR4470 Mild Off White Metal",
        "Home & Garden > Decor > Window Treatments > Window Blinds & Shades > Blinds",
    )
    assert blinds.path == "Home & Garden > Decor > Window Treatments > Window Blinds & Shades"
    assert "outdoor" not in blinds.rooms and blinds.rooms[0] == "living_room"
    mug = taxonomy.classify("Ceramic Mug 11oz", "Home & Garden")
    assert mug.path is not None and mug.path.endswith("Mugs")
    assert "outdoor" not in mug.rooms
    # A path the taxonomy does not know past its department keeps its meaning too.
    throw = taxonomy.classify(
        "Lake Sunset Fleece", "Home & Garden > Linens & Bedding > Blankets & Throws > Fleece"
    )
    assert "outdoor" not in throw.rooms
    # The catalog's own step past the known ones still names its room.
    bench = taxonomy.classify("Teak Bench", "Home & Garden > Garden Furniture")
    assert bench.rooms[0] == "outdoor"


# -- the classifier reads English only, and says so -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "description"),
    [
        # a Lithuanian kettle whose model name is an English word (was a hardware spring, 1.0)
        ("Elektrinis virdulys Spring", None),
        ("Elektrinis virdulys Spring 1,7 l", "Nerūdijančio plieno virdulys su mėlynu apšvietimu."),
        ("Чайник электрический Spring", "Объём 1,7 л, корпус из нержавеющей стали."),
        ("Mesa de centro de roble", None),
        ("Lampe de chevet en laiton", "Une lampe douce pour la chambre."),
    ],
)
def test_text_the_classifier_cannot_read_is_unsure_not_a_confident_guess(
    name: str, description: str | None
) -> None:
    found = taxonomy.classify(name, None, description)
    assert found.taxonomy_id is None and found.confidence == 0.0, found
    assert found.rooms == ()
    assert found.source.startswith("unread:")


@pytest.mark.parametrize(
    ("name", "description", "path_end"),
    [
        ("Ektorp Sofa", None, "Sofas"),
        ("Harbor Linden Sofa", None, "Sofas"),
        ("Kallax Shelf Unit", None, "Shelving"),
        ("Door Stops", None, "Door Stops"),
        # WooCommerce's own sample: an English name over a Latin placeholder description
        (
            "Oak Coffee Table",
            "Pellentesque habitant morbi tristique senectus et netus et malesuada fames.",
            "Coffee Tables",
        ),
    ],
)
def test_english_names_with_brand_words_are_still_read(
    name: str, description: str | None, path_end: str
) -> None:
    found = taxonomy.classify(name, None, description)
    assert found.source == "text" and found.path is not None, found
    assert found.path.endswith(path_end), found.path


def test_every_leaf_name_of_the_home_departments_is_read_as_english() -> None:
    home = ("Furniture", "Home & Garden", "Baby & Toddler", "Hardware", "Toys & Games")
    leaves = [c for c in taxonomy.all_categories() if c.department in home and not c.children]
    unread = [c.name for c in leaves if taxonomy.classify(c.name).source.startswith("unread")]
    assert unread == []


def test_a_catalogs_own_category_is_taken_whatever_the_language_of_its_text() -> None:
    found = taxonomy.classify(
        "Elektrinis virdulys Spring",
        "Home & Garden > Kitchen & Dining > Kitchen Appliances > Electric Kettles",
    )
    assert found.path is not None and found.path.endswith("Electric Kettles")
    assert found.source == "catalog"


@pytest.mark.parametrize(
    ("name", "first_room"),
    [
        # a qualifier that names the user, not the product: the nursery's bedding, a desk's seat
        ("Fitted Sheet for Cot", "kids_room"),
        ("Cot Bed Duvet Set", "kids_room"),
        ("Crib Mattress", "kids_room"),
        ("Swivel Chair with Armrests", "home_office"),
        ("LED Work Lamp", "home_office"),
        # and a measure word is not the product: a sink "with 1 bowl" is a sink
        ("Stainless Steel Kitchen Sink with 1 Bowl", "kitchen"),
    ],
)
def test_qualifiers_that_name_a_user_put_the_product_in_that_users_room(
    name: str, first_room: str
) -> None:
    found = taxonomy.classify(name)
    assert found.rooms and found.rooms[0] == first_room, found


@pytest.mark.parametrize(
    ("name", "path_ends", "first_room"),
    [
        # what a product is not, said with "no" or "non", is not what it is
        ("Perfect Fit No Drill Pleated Blind", "Window Blinds & Shades", "living_room"),
        ("Non Stick Frying Pan 28cm", "Skillets & Frying Pans", "kitchen"),
        # a spaced hyphen parts a name as a dash does: the colour after it is not the product,
        # and a colour word before it does not name the product either
        ("Perfect Fit No Drill Metal Blind - Sand - 25mm", "Window Blinds & Shades", "living_room"),
        ("Plain Soft Cream - Day and Night Blinds", "Window Blinds & Shades", "living_room"),
        # the words clothing stores and garden centres use for what the taxonomy names otherwise
        ("Lake Erie Heart Essential Tee", "Shirts & Tops", None),
        ("Yellow Wool Jumper", "Shirts & Tops", None),
        ("Wooden Fence", "Fence Panels", "outdoor"),
        # a cot is a baby's bed, its sheet bedding; a cot to camp on is camp furniture
        ("Baby Crib Sheet", "Bed Sheets", "kids_room"),
        ("Cot Sheet", "Bed Sheets", "kids_room"),
        ("Wooden Cot", "Cribs & Toddler Beds", "kids_room"),
        ("Folding Camping Cot", "Camp Furniture > Cots", "outdoor"),
    ],
)
def test_names_as_stores_write_them(name: str, path_ends: str, first_room: str | None) -> None:
    found = taxonomy.classify(name)
    assert found.path is not None and found.path.endswith(path_ends), found
    assert (found.rooms[0] if found.rooms else None) == first_room, found


def test_the_senses_a_store_names_outright_are_kept() -> None:
    assert (taxonomy.classify("Golf Tees, Pack of 50").path or "").endswith("Golf Tees")
    assert (taxonomy.classify("Baby Jumper Bouncer").path or "").endswith("Baby Jumpers & Swings")
    # a hyphen inside a word is no break
    assert taxonomy.normalize_text("V-Neck T-Shirt - Blue") == "v neck t shirt . blue"
