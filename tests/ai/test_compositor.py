"""The local compositor: a layout preview with scale, floor contact, shadow and scene light."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from visualizer_core.ai.base import GenerationRequest
from visualizer_core.ai.compositor import MODEL, compose, output_size
from visualizer_core.errors import InvalidImage, InvalidInput
from visualizer_core.schemas import ASPECT_RATIOS, ProductAnalysis, SceneAnalysis

RED = (200, 30, 30)
WALL = (190, 186, 180)
FLOOR = (120, 100, 80)


def scene_jpeg(
    *,
    size: tuple[int, int] = (1200, 800),
    floor: float = 0.7,
    wall: tuple[int, int, int] = WALL,
    floor_color: tuple[int, int, int] = FLOOR,
) -> bytes:
    image = Image.new("RGB", size, wall)
    ImageDraw.Draw(image).rectangle((0, round(floor * size[1]), size[0], size[1]), fill=floor_color)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95)
    return out.getvalue()


def product_png(
    size: tuple[int, int] = (900, 500), color: tuple[int, int, int] = RED, margin: int = 60
) -> bytes:
    """A filled shape on a transparent canvas with an empty margin (trimmed by the compositor)."""
    w, h = size
    image = Image.new("RGBA", (w + 2 * margin, h + 2 * margin), (0, 0, 0, 0))
    ImageDraw.Draw(image).rounded_rectangle(
        (margin, margin, margin + w, margin + h), radius=20, fill=(*color, 255)
    )
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def request(
    *,
    category: str = "sofa",
    placement: str = "floor",
    size_class: str = "medium",
    scene: bytes | None = None,
    product: bytes | None = None,
    floor: float | None = 0.7,
    aspect_ratio: str = "3:2",
    seed: int = 0,
    scene_analysis: SceneAnalysis | None = None,
) -> GenerationRequest:
    if scene_analysis is None and floor is not None:
        scene_analysis = SceneAnalysis(room_type="living_room", floor_line=floor)
    return GenerationRequest(
        product_images=(product if product is not None else product_png(),),
        scene_image=scene if scene is not None else scene_jpeg(floor=floor or 0.75),
        prompt="place it",
        aspect_ratio=aspect_ratio,
        seed=seed,
        product_analysis=ProductAnalysis.model_validate(
            {
                "category": category,
                "room_types": ["living_room"],
                "placement": placement,
                "size_class": size_class,
            }
        ),
        scene_analysis=scene_analysis,
    )


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def red_mask(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.asarray((r > 110) & (r - g > 70) & (r - b > 70), dtype=bool)


def red_box(rgb: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the red pixels, bottom and right exclusive."""
    ys, xs = np.nonzero(red_mask(rgb))
    assert ys.size > 0, "the product's pixels are not in the output"
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def luma(rgb: np.ndarray) -> np.ndarray:
    return 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_output_has_the_requested_aspect_ratio(ratio: str) -> None:
    result = compose(request(aspect_ratio=ratio))
    image = Image.open(io.BytesIO(result.image))
    assert image.format == "JPEG"
    assert result.mime_type == "image/jpeg"
    assert result.model == MODEL == "local-compositor-v1"
    assert result.usage == {}
    w_ratio, h_ratio = (int(part) for part in ratio.split(":"))
    assert max(image.size) == 1024
    assert abs(image.width / image.height - w_ratio / h_ratio) < 0.005
    assert image.size == output_size(ratio) == tuple(result.meta["size"])


def test_malformed_aspect_ratio_is_refused() -> None:
    with pytest.raises(InvalidInput, match="aspect ratio"):
        compose(request(aspect_ratio="wide"))
    with pytest.raises(InvalidInput, match="aspect ratio"):
        output_size("0:1")


def test_same_request_gives_the_same_bytes_and_the_seed_moves_the_product() -> None:
    first = compose(request(seed=3))
    again = compose(request(seed=3))
    assert first.image == again.image
    assert first.meta == again.meta
    boxes = {tuple(compose(request(seed=seed)).meta["box"]) for seed in range(3)}
    assert len(boxes) == 3  # centre, left, right
    assert compose(request(seed=4)).meta["box"] == compose(request(seed=1)).meta["box"]


def test_meta_records_placement_box_scale_and_seed() -> None:
    meta = compose(request(seed=7)).meta
    assert meta["placement"] == "floor"
    assert meta["seed"] == 7
    assert meta["category"] == "sofa"
    left, top, right, bottom = meta["box"]
    assert 0 <= left < right <= 1024 and 0 <= top < bottom <= 683
    assert meta["scale"] == pytest.approx((bottom - top) / 500, abs=0.01)
    assert meta["unused_images"] == 0


def test_floor_item_stands_just_below_the_floor_line() -> None:
    rgb = pixels(compose(request(floor=0.7)).image)
    height = rgb.shape[0]
    left, top, right, bottom = red_box(rgb)
    floor_y = 0.7 * height
    assert floor_y < bottom < floor_y + 0.15 * height  # standing on the floor, in front of the wall
    assert top < floor_y  # and rising against the wall
    assert 0.25 * height < bottom - top < 0.5 * height  # a sofa: about a third of the picture
    assert right - left <= 0.6 * rgb.shape[1] + 2


def test_floor_line_follows_the_scene_analysis() -> None:
    low = red_box(pixels(compose(request(floor=0.8)).image))
    high = red_box(pixels(compose(request(floor=0.6)).image))
    assert low[3] > high[3] + 40


def test_floor_line_defaults_to_three_quarters_without_analysis() -> None:
    result = compose(request(floor=None))
    assert result.meta["floor_line"] == pytest.approx(0.75, abs=0.01)


def test_wall_item_hangs_above_the_floor_line() -> None:
    product = product_png((600, 800))
    rgb = pixels(compose(request(category="wall_art", placement="wall", product=product)).image)
    height = rgb.shape[0]
    left, top, right, bottom = red_box(rgb)
    assert bottom < 0.7 * height
    assert top > 0.02 * height
    assert abs((left + right) / 2 - rgb.shape[1] / 2) < 5  # seed 0: centred


def test_surface_item_stands_at_table_height() -> None:
    product = product_png((300, 600))
    rgb = pixels(compose(request(category="vase", placement="surface", product=product)).image)
    height = rgb.shape[0]
    _left, _top, _right, bottom = red_box(rgb)
    assert 0.35 * height < bottom < 0.65 * height


def test_ceiling_item_hangs_from_the_top_on_a_cord() -> None:
    product = product_png((500, 300))
    result = compose(request(category="pendant_light", placement="ceiling", product=product))
    rgb = pixels(result.image)
    left, top, right, bottom = red_box(rgb)
    assert top < 0.12 * rgb.shape[0]
    assert bottom < 0.7 * rgb.shape[0]
    cord = luma(rgb[: max(1, top - 4), (left + right) // 2])
    assert cord.max() < 120  # a dark cord from the top of the frame down to the product


def test_rug_lies_flat_on_the_floor_in_perspective() -> None:
    rgb = pixels(compose(request(category="rug", product=product_png((900, 600)))).image)
    height = rgb.shape[0]
    left, top, right, bottom = red_box(rgb)
    assert top > 0.7 * height  # on the floor, not against the wall
    assert bottom - top < (right - left) / 3  # foreshortened
    mask = red_mask(rgb)
    far_width = mask[top + 2].sum()
    near_width = mask[bottom - 3].sum()
    assert far_width < near_width  # the far edge is narrower


def test_a_sofa_is_bigger_than_a_vase() -> None:
    product = product_png((600, 600))
    sofa = red_mask(pixels(compose(request(category="sofa", product=product)).image)).sum()
    vase = red_mask(
        pixels(compose(request(category="vase", placement="surface", product=product)).image)
    ).sum()
    assert sofa > 6 * vase


def test_size_class_scales_an_unknown_category() -> None:
    product = product_png((400, 600))
    small = compose(request(category="other", size_class="small", product=product)).meta
    large = compose(request(category="other", size_class="large", product=product)).meta
    assert large["scale"] > 2 * small["scale"]


def test_a_category_only_the_taxonomy_knows_gets_its_height() -> None:
    product = product_png((400, 600))
    bench = compose(request(category="bench", product=product)).meta  # about 0.45 m tall
    generic = compose(request(category="other", size_class="medium", product=product)).meta
    assert bench["scale"] < 0.75 * generic["scale"]


def test_shadow_darkens_the_floor_just_under_the_product() -> None:
    grey = (170, 170, 170)
    scene = scene_jpeg(wall=grey, floor_color=grey)
    result = compose(request(scene=scene))
    rgb = pixels(result.image)
    left, _top, right, bottom = result.meta["box"]
    under = luma(
        rgb[bottom + 1 : bottom + 6, left + (right - left) // 4 : right - (right - left) // 4]
    )
    assert under.mean() < 150
    assert luma(rgb[-5:, 5:50]).mean() > 165  # away from the product the floor is untouched


def test_wall_item_casts_an_offset_drop_shadow() -> None:
    grey = (170, 170, 170)
    scene = scene_jpeg(wall=grey, floor_color=grey)
    result = compose(request(category="mirror", placement="wall", scene=scene))
    rgb = pixels(result.image)
    left, top, right, bottom = result.meta["box"]
    right_of = luma(rgb[top + 10 : bottom, right + 1 : right + 4]).mean()
    left_of = luma(rgb[top + 10 : bottom, max(0, left - 4) : left - 1]).mean()
    assert right_of < left_of - 5  # the shadow falls down and to the right


def test_a_dark_warm_scene_makes_the_product_darker_and_warmer() -> None:
    grey_product = product_png(color=(150, 150, 150))

    def product_mean(scene: bytes) -> np.ndarray:
        result = compose(request(scene=scene, product=grey_product, floor=None))
        left, top, right, bottom = result.meta["box"]
        rgb = pixels(result.image)
        inside = rgb[top + 20 : bottom - 20, left + 20 : right - 20].reshape(-1, 3)
        return np.asarray(inside.mean(axis=0))

    dark_warm = product_mean(scene_jpeg(wall=(70, 50, 30), floor_color=(60, 40, 25)))
    bright_cool = product_mean(scene_jpeg(wall=(200, 215, 235), floor_color=(180, 190, 205)))
    assert luma(dark_warm) < luma(bright_cool) - 20
    assert dark_warm[0] - dark_warm[2] > bright_cool[0] - bright_cool[2] + 10


def test_scene_analysis_light_is_used_when_given() -> None:
    grey_product = product_png(color=(150, 150, 150))
    dim = SceneAnalysis(room_type="bedroom", brightness=0.1, warmth=0.8, floor_line=0.7)
    bright = SceneAnalysis(room_type="bedroom", brightness=0.9, warmth=-0.8, floor_line=0.7)
    dim_meta = compose(request(product=grey_product, scene_analysis=dim))
    bright_meta = compose(request(product=grey_product, scene_analysis=bright))
    assert dim_meta.meta["light"] == {"brightness": 0.1, "warmth": 0.8}
    box = dim_meta.meta["box"]
    assert box == bright_meta.meta["box"]
    crop = (slice(box[1] + 20, box[3] - 20), slice(box[0] + 20, box[2] - 20))
    assert luma(pixels(dim_meta.image)[crop]).mean() < luma(pixels(bright_meta.image)[crop]).mean()


def test_only_the_first_product_image_is_used() -> None:
    base = request()
    more = GenerationRequest(
        product_images=(*base.product_images, product_png(color=(20, 20, 200))),
        scene_image=base.scene_image,
        prompt=base.prompt,
        aspect_ratio=base.aspect_ratio,
        product_analysis=base.product_analysis,
        scene_analysis=base.scene_analysis,
    )
    result = compose(more)
    assert result.image == compose(base).image
    assert result.meta["unused_images"] == 1


def test_an_opaque_product_is_placed_whole() -> None:
    image = Image.new("RGB", (600, 400), RED)
    out = io.BytesIO()
    image.save(out, format="JPEG")
    result = compose(request(product=out.getvalue()))
    left, top, right, bottom = result.meta["box"]
    assert (right - left) / (bottom - top) == pytest.approx(1.5, abs=0.02)


def test_scene_exif_orientation_is_applied() -> None:
    stored = Image.new("RGB", (1200, 800), (200, 40, 40))
    ImageDraw.Draw(stored).rectangle((0, 400, 1200, 800), fill=(40, 40, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the red top becomes the right side
    out = io.BytesIO()
    stored.save(out, format="JPEG", exif=exif)
    product = product_png((100, 100), color=(90, 200, 90))
    result = compose(
        request(scene=out.getvalue(), category="vase", placement="surface", product=product)
    )
    rgb = pixels(result.image)
    assert rgb[5, 5, 2] > 150 and rgb[5, 5, 0] < 100  # left: blue
    assert rgb[5, -5, 0] > 150 and rgb[5, -5, 2] < 100  # right: red


@pytest.mark.parametrize(
    ("scene", "product", "match"),
    [
        (b"", None, "scene image: is empty"),
        (b"not an image at all", None, "scene image: is not an image"),
        (scene_jpeg()[:2000], None, "scene image: is damaged or truncated"),
        (None, b"\x89PNG\r\n\x1a\nbroken", "product image"),
        (None, b"", "product image: is empty"),
    ],
)
def test_bad_image_bytes_raise_invalid_image(
    scene: bytes | None, product: bytes | None, match: str
) -> None:
    with pytest.raises(InvalidImage, match=match):
        compose(request(scene=scene, product=product))


def test_a_fully_transparent_product_is_refused() -> None:
    out = io.BytesIO()
    Image.new("RGBA", (200, 200), (255, 0, 0, 0)).save(out, format="PNG")
    with pytest.raises(InvalidImage, match="fully transparent"):
        compose(request(product=out.getvalue()))


def test_no_product_image_is_refused() -> None:
    base = request()
    empty = GenerationRequest(product_images=(), scene_image=base.scene_image, prompt="x")
    with pytest.raises(InvalidImage, match="no product image"):
        compose(empty)


def test_a_large_scene_and_product_still_give_the_requested_frame() -> None:
    big_scene = scene_jpeg(size=(3000, 2000))
    req = request(scene=big_scene, product=product_png((1800, 1200)), aspect_ratio="1:1")
    out = Image.open(io.BytesIO(compose(req).image))
    assert out.size[0] == out.size[1] and max(out.size) <= 1024
