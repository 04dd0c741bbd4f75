"""The demo's drawn catalog and rooms."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from visualizer_core.demo import art as demo_art
from visualizer_core.images.ingest import ingest_image

ROOM_TYPES = (
    "living_room",
    "bedroom",
    "dining_room",
    "kitchen",
    "home_office",
    "bathroom",
    "entryway",
    "kids_room",
    "outdoor",
)


def decode(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_catalog_is_a_plausible_home_goods_range() -> None:
    catalog = demo_art.DEMO_CATALOG
    assert len(catalog) >= 12
    assert len({item.sku for item in catalog}) == len(catalog)
    categories = {item.category for item in catalog}
    assert {"sofa", "armchair", "floor_lamp", "bed", "desk", "dining_table", "plant"} <= categories
    assert {"wall_art", "rug", "vase"} <= categories
    for item in catalog:
        assert item.name and len(item.description) > 30
        assert item.colors and item.materials
        assert len(item.color) == 3 and all(0 <= c <= 255 for c in item.color)


def test_rooms_cover_the_demo_room_types() -> None:
    types = [room for room, _seed in demo_art.DEMO_ROOMS]
    assert {"living_room", "bedroom", "home_office", "dining_room"} <= set(types)
    assert types.count("living_room") == 2
    assert len(set(demo_art.DEMO_ROOMS)) == len(demo_art.DEMO_ROOMS)


@pytest.mark.parametrize("item", demo_art.DEMO_CATALOG, ids=lambda item: item.category)
def test_product_drawing_is_a_product_on_white(item: demo_art.DemoProduct) -> None:
    data = demo_art.draw_product(item.category, color=item.color, seed=1)
    rgb = decode(data)
    assert rgb.shape == (800, 800, 3)
    border = np.concatenate([rgb[:4].reshape(-1, 3), rgb[-4:].reshape(-1, 3)])
    assert border.min() >= 245  # a plain white studio background
    centre = rgb[:, 300:500]  # the middle band, top to bottom: tables are mostly air below
    assert (centre.min(axis=2) < 230).mean() > 0.03
    assert (rgb.min(axis=2) < 230).mean() > 0.02
    assert demo_art.draw_product(item.category, color=item.color, seed=1) == data


@pytest.mark.parametrize("item", demo_art.DEMO_CATALOG, ids=lambda item: item.category)
def test_ingest_cuts_the_drawing_out_without_white_holes(item: demo_art.DemoProduct) -> None:
    photo = demo_art.draw_product(item.category, color=item.color, seed=2)
    ingested = ingest_image(photo, filename=f"{item.sku}.jpg")
    assert ingested.background_removed
    base = np.asarray(Image.open(io.BytesIO(ingested.base_png)).convert("RGBA"), dtype=np.int16)
    opaque = base[..., 3] > 200
    white = opaque & (base[..., :3].min(axis=2) > 240)
    assert white.sum() < 0.02 * opaque.sum()  # no light gap kept as a white patch


def test_product_drawing_is_in_the_given_colour() -> None:
    rgb = decode(demo_art.draw_product("sofa", color=(200, 40, 40), seed=0))
    product = rgb[rgb.min(axis=2) < 230]
    r, g, b = product.mean(axis=0)
    assert r > g + 60 and r > b + 60


@pytest.mark.parametrize(
    "category", ["pendant_light", "wardrobe", "bathroom_vanity", "coat_rack", "unknown"]
)
def test_any_category_draws_something(category: str) -> None:
    rgb = decode(demo_art.draw_product(category, color=(90, 110, 140), size=(400, 300)))
    assert rgb.shape == (300, 400, 3)
    assert (rgb.min(axis=2) < 230).mean() > 0.02


def test_seed_varies_the_details() -> None:
    drawings = {demo_art.draw_product("bookshelf", color=(150, 110, 70), seed=s) for s in range(3)}
    assert len(drawings) == 3


@pytest.mark.parametrize(("room_type", "seed"), [*demo_art.DEMO_ROOMS, ("kitchen", 6)])
def test_room_has_a_wall_and_a_floor_band(room_type: str, seed: int) -> None:
    data = demo_art.draw_room(room_type, seed=seed)
    assert demo_art.draw_room(room_type, seed=seed) == data
    rgb = decode(data)
    height, width = rgb.shape[:2]
    assert (width, height) == (1200, 800)
    floor_line = demo_art.room_floor_line(room_type, seed=seed)
    assert 0.65 <= floor_line <= 0.75
    # The strongest change between neighbouring rows, in the centre, is where floor meets wall.
    column = rgb[:, int(0.4 * width) : int(0.6 * width)].mean(axis=1)
    steps = np.abs(np.diff(column, axis=0)).sum(axis=1)
    band = slice(int(0.5 * height), int(0.9 * height))
    edge = int(np.argmax(steps[band])) + band.start
    assert abs(edge / height - floor_line) < 0.03
    wall = rgb[int(0.15 * height) : int((floor_line - 0.06) * height)]
    floor = rgb[int((floor_line + 0.04) * height) :]
    assert np.abs(wall.mean(axis=(0, 1)) - floor.mean(axis=(0, 1))).sum() > 40
    # The centre of the wall stays free for the product: no window, shelf or plant there.
    centre = wall[:, int(0.35 * width) : int(0.65 * width)]
    assert centre.std(axis=(0, 1)).max() < 12


@pytest.mark.parametrize("room_type", ROOM_TYPES)
def test_every_room_type_draws(room_type: str) -> None:
    rgb = decode(demo_art.draw_room(room_type, seed=0, size=(600, 400)))
    assert rgb.shape == (400, 600, 3)


def test_room_seeds_differ() -> None:
    assert demo_art.draw_room("living_room", seed=1) != demo_art.draw_room("living_room", seed=2)
