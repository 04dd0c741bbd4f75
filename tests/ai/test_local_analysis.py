"""The offline analysers: products from their text and photo, scenes from their pixels."""

from __future__ import annotations

import colorsys
import io

import pytest
from PIL import Image, ImageDraw

from visualizer_core.ai.base import ProductFacts
from visualizer_core.ai.local_analysis import analyze_product, analyze_scene, color_name
from visualizer_core.errors import InvalidImage

RGB = tuple[int, int, int]


def cutout(color: RGB, size: int = 400, accent: RGB | None = None) -> bytes:
    """A base PNG: a product shape on a transparent background."""
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle(
        (size * 0.15, size * 0.3, size * 0.85, size * 0.8), radius=size // 20, fill=(*color, 255)
    )
    if accent:
        for x in (0.2, 0.75):
            draw.rectangle(
                (size * x, size * 0.8, size * (x + 0.05), size * 0.92), fill=(*accent, 255)
            )
    return _png(image)


def on_white(color: RGB, size: int = 400) -> bytes:
    """A catalog photo with no cut-out: a shape on a plain white backdrop."""
    image = Image.new("RGB", (size, size), (255, 255, 255))
    ImageDraw.Draw(image).ellipse((size * 0.25, size * 0.2, size * 0.75, size * 0.85), fill=color)
    return _png(image)


def scene(
    wall: RGB,
    floor: RGB,
    floor_line: float = 0.7,
    size: tuple[int, int] = (960, 640),
    furniture: RGB | None = None,
    fmt: str = "JPEG",
) -> bytes:
    """A drawn room: a wall, a floor band from ``floor_line`` down, maybe a window and a sofa."""
    width, height = size
    image = Image.new("RGB", size, wall)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, int(height * floor_line), width, height), fill=floor)
    draw.rectangle((width * 0.6, height * 0.12, width * 0.8, height * 0.45), fill=(250, 250, 245))
    if furniture:
        draw.rectangle(
            (width * 0.1, height * (floor_line - 0.2), width * 0.4, height * (floor_line + 0.05)),
            fill=furniture,
        )
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=90) if fmt == "JPEG" else image.save(buffer, fmt)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _rgb(hex_color: str) -> RGB:
    return (int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16))


def _hue(hex_color: str) -> float:
    r, g, b = (v / 255 for v in _rgb(hex_color))
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


# -- products -----------------------------------------------------------------------------------


def test_a_red_product_has_a_reddish_palette() -> None:
    facts = ProductFacts(name="Mara Accent Chair")
    analysis = analyze_product(facts, [cutout((190, 30, 35), accent=(60, 40, 25))])
    r, g, b = _rgb(analysis.palette[0])
    assert r > g + 80 and r > b + 80
    assert analysis.colors[0] == "red"
    assert "dark brown" in analysis.colors  # the legs
    # transparent pixels are not part of the product
    assert all(name not in analysis.colors for name in ("black", "white"))
    assert all(len(c) == 7 and c.startswith("#") for c in analysis.palette)
    assert len(analysis.palette) <= 5


def test_a_photo_on_white_loses_its_backdrop() -> None:
    analysis = analyze_product(ProductFacts(name="Vase"), [on_white((40, 70, 160))])
    assert analysis.colors == ["blue"]
    assert 200 <= _hue(analysis.palette[0]) <= 240


def test_catalog_colours_come_first_and_photo_colours_join_them() -> None:
    facts = ProductFacts(name="Oslo Sofa", colors=("Forest Green", "Oak"))
    analysis = analyze_product(facts, [cutout((240, 232, 210))])
    assert analysis.colors[:2] == ["forest green", "oak"]
    assert "cream" in analysis.colors


def test_without_a_photo_the_catalog_colours_give_the_palette() -> None:
    analysis = analyze_product(ProductFacts(name="Linen Cushion", colors=("Navy", "gray")), [])
    assert analysis.colors == ["navy", "gray"]
    assert len(analysis.palette) == 2


def test_category_rooms_placement_and_size_come_from_the_taxonomy() -> None:
    lamp = analyze_product(ProductFacts(name="Rattan Pendant", category="Ceiling Lights"), [])
    assert (lamp.category, lamp.placement) == ("pendant_light", "ceiling")
    assert lamp.room_types[0] == "dining_room"
    sofa = analyze_product(ProductFacts(name="Oslo 3-Seater Sofa"), [])
    assert (sofa.category, sofa.size_class, sofa.room_types[0]) == ("sofa", "large", "living_room")
    art = analyze_product(ProductFacts(name="Abstract Print No. 4", category="Wall Art"), [])
    assert art.placement == "wall"


def test_rooms_the_text_names_come_first() -> None:
    lantern = analyze_product(ProductFacts(name="Patio Lantern"), [])
    assert lantern.room_types[0] == "outdoor"
    rug = analyze_product(
        ProductFacts(name="Kasbah Rug", description="Indoor/outdoor weave, lovely on a patio."), []
    )
    assert rug.room_types[:2] == ["living_room", "outdoor"]  # a description adds, second
    towel = analyze_product(ProductFacts(name="Waffle Towel", description="For any bathroom."), [])
    assert towel.room_types == ["bathroom"]


def test_style_words_from_text_and_a_guess_from_colour() -> None:
    worded = analyze_product(
        ProductFacts(name="Nord Chair", description="A Scandi take on a mid-century classic."), []
    )
    assert worded.style == ["scandinavian", "mid-century", "traditional"]
    pale = analyze_product(ProductFacts(name="Cloud Sofa"), [cutout((238, 234, 226))])
    assert pale.style[0] == "scandinavian"
    rattan = analyze_product(ProductFacts(name="Sun Chair", materials=("Rattan",)), [])
    assert rattan.style[0] == "boho"


def test_materials_from_facts_and_text() -> None:
    analysis = analyze_product(
        ProductFacts(
            name="Halden Coffee Table",
            description="Solid walnut top on powder-coated steel legs, glass shelf.",
            materials=("Walnut veneer",),
        ),
        [],
    )
    assert analysis.materials == ["walnut veneer", "walnut", "steel", "glass"]


def test_summary_is_one_sentence() -> None:
    analysis = analyze_product(
        ProductFacts(name="Oslo Sofa", description="Modern sofa in linen."),
        [cutout((214, 196, 164))],
    )
    assert analysis.summary.startswith("A modern sofa in beige")
    assert analysis.summary.endswith(".") and analysis.summary.count(".") == 1
    assert "living room" in analysis.summary


def test_product_analysis_is_deterministic() -> None:
    facts = ProductFacts(name="Arc Floor Lamp", description="Brass arc lamp with a linen shade.")
    photo = cutout((180, 140, 60), size=1024, accent=(30, 30, 30))
    first = analyze_product(facts, [photo])
    assert analyze_product(facts, [photo]) == first


def test_a_broken_product_photo_is_an_invalid_image() -> None:
    with pytest.raises(InvalidImage, match="product photo"):
        analyze_product(ProductFacts(name="Sofa"), [b"not a png"])


# -- scenes -------------------------------------------------------------------------------------


def test_scene_brightness_orders_light_above_dark() -> None:
    light = analyze_scene(scene((236, 232, 224), (190, 170, 140)))
    dark = analyze_scene(scene((52, 50, 56), (40, 32, 28)))
    assert light.brightness > 0.7 > 0.3 > dark.brightness
    assert light.lighting.startswith("bright")
    assert "bright" not in dark.lighting


def test_scene_warmth_orders_warm_above_cool() -> None:
    warm = analyze_scene(scene((236, 200, 150), (150, 100, 60)))
    cool = analyze_scene(scene((170, 196, 228), (150, 160, 180)))
    neutral = analyze_scene(scene((200, 200, 200), (120, 120, 120)))
    assert warm.warmth > neutral.warmth > cool.warmth
    assert warm.warmth > 0.3 and cool.warmth < -0.2
    assert "warm" in warm.lighting


@pytest.mark.parametrize("floor_line", [0.5, 0.62, 0.7, 0.78, 0.86])
def test_floor_line_is_found_near_the_drawn_floor(floor_line: float) -> None:
    picture = scene((228, 222, 210), (140, 100, 70), floor_line, furniture=(90, 110, 130))
    analysis = analyze_scene(picture)
    assert abs(analysis.floor_line - floor_line) <= 0.1


def test_floor_line_of_a_flat_picture_is_the_default() -> None:
    flat = Image.new("RGB", (400, 300), (128, 128, 128))
    assert analyze_scene(_png(flat)).floor_line == 0.75


def test_scene_palette_orientation_and_camera() -> None:
    analysis = analyze_scene(scene((30, 60, 120), (200, 190, 170), size=(600, 900)))
    assert analysis.orientation == "portrait"
    assert analysis.camera_angle == "eye level"
    assert 1 <= len(analysis.palette) <= 5
    assert color_name(_rgb(analysis.palette[0])) == "navy"
    square = analyze_scene(scene((200, 200, 200), (90, 90, 90), size=(500, 500), fmt="PNG"))
    assert square.orientation == "square"


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (900, 600), (200, 190, 180))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated a quarter turn: portrait
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    assert analyze_scene(buffer.getvalue()).orientation == "portrait"


def test_room_type_comes_from_the_hint() -> None:
    picture = scene((230, 225, 215), (150, 110, 80))
    assert analyze_scene(picture, room_type_hint="Home Office").room_type == "home_office"
    assert analyze_scene(picture, room_type_hint="en-suite").room_type == "bathroom"
    assert analyze_scene(picture).room_type == "living_room"  # the weak default
    # an unknown hint falls back to the guess rather than failing the analysis
    assert analyze_scene(picture, room_type_hint="spaceship").room_type == "living_room"


def test_a_garden_is_guessed_outdoors() -> None:
    image = Image.new("RGB", (800, 600), (120, 170, 230))
    ImageDraw.Draw(image).rectangle((0, 300, 800, 600), fill=(70, 140, 60))
    assert analyze_scene(_png(image)).room_type == "outdoor"


def test_scene_analysis_is_deterministic() -> None:
    picture = scene((210, 200, 190), (110, 80, 60), furniture=(150, 40, 40))
    first = analyze_scene(picture, room_type_hint="lounge")
    assert analyze_scene(picture, room_type_hint="lounge") == first
    assert first.summary.endswith(".")


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty"), (b"definitely not an image", "Pillow"), (cutout((1, 2, 3))[:60], "Pillow")],
)
def test_invalid_scene_bytes_raise_invalid_image(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImage) as caught:
        analyze_scene(data)
    assert caught.value.filename == "scene image"
    assert reason in str(caught.value)


def _shape(width: int, height: int) -> bytes:
    image = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    left, top = (400 - width) // 2, (400 - height) // 2
    ImageDraw.Draw(image).rectangle((left, top, left + width, top + height), fill=(30, 30, 30, 255))
    return _png(image)


def test_the_photos_shape_settles_what_the_text_leaves_open() -> None:
    facts = ProductFacts(name="Luna Lamp", category="Lighting")
    assert analyze_product(facts, [_shape(60, 360)]).category == "floor_lamp"
    assert analyze_product(facts, [_shape(200, 240)]).category == "table_lamp"
    # words win over the shape
    named = ProductFacts(name="Luna Table Lamp", category="Lighting")
    assert analyze_product(named, [_shape(60, 360)]).category == "table_lamp"


def test_the_word_file_refuses_an_alias_or_style_it_does_not_define() -> None:
    from visualizer_core.ai import local_analysis

    words = local_analysis._WORDS.model_dump()
    assert local_analysis.NAMED_COLORS["light grey"] == (196, 196, 194)
    assert "velvet" in local_analysis.MATERIAL_WORDS
    with pytest.raises(ValueError, match="unknown silver"):
        local_analysis._Words.model_validate({**words, "color_aliases": {"argent": "silver"}})
    with pytest.raises(ValueError, match="unknown gothic"):
        local_analysis._Words.model_validate({**words, "material_styles": {"onyx": "gothic"}})
