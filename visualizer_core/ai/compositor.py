"""The local backend's image generation: a plausible layout preview of the product in the scene.

:func:`compose` does what a photographer's assistant would do with scissors and glue, and
nothing it cannot do honestly:

1. **Scene.** The scene is decoded (a JPEG at a reduced scale when that is enough), turned
   upright by its EXIF orientation, centre-cropped to the requested aspect ratio and resized
   so that its long side is :data:`OUTPUT_LONG_SIDE` pixels. The floor line (where the floor
   meets the back wall) comes from the scene analysis, 0.75 of the height when there is none,
   and is mapped through the crop.
2. **Product.** The first product image (the base PNG; an image without alpha counts as
   opaque) is trimmed to the bounding box of its alpha. Further product images are not used:
   a preview shows one view, and the first image is the most important one. Their number is
   kept in ``meta["unused_images"]``.
3. **Scale.** The back wall between the top of the frame and the floor line is taken to be
   :data:`WALL_HEIGHT_M` metres high, which gives pixels per metre. The product's real height
   comes from its category (:data:`CATEGORY_HEIGHT_M`, then the taxonomy when it knows a
   category this table does not, then its size class). Floor, surface and ceiling items stand
   in front of the wall, so nearer the camera, and are drawn :data:`FOREGROUND_SCALE` times
   larger than the wall's scale. No product is wider than :data:`MAX_WIDTH` of the frame.
4. **Position.** Floor items stand with their bottom a little below the floor line (their
   contact line, :data:`CONTACT_DEPTH` into the floor band); surface items stand on an
   implied table top :data:`TABLE_HEIGHT_M` above that contact line; wall items hang with
   their centre :data:`HANG_CENTRE_M` above the floor, always above the floor line; ceiling
   items hang from the top of the frame on a thin cord. Rugs lie flat: they are foreshortened
   and put in perspective on the floor. The seed picks the horizontal spot among a few
   (centre, left, right), so variants of one product differ and a seed always gives the same.
5. **Shadow.** Floor and surface items get a soft contact shadow (two blurred ellipses, a wide
   faint one and a tight dark one under the base); wall items a soft drop shadow of their own
   outline, offset down and to the right; a rug a faint edge shadow. The shadow colour is a
   darkened tint of the scene, not pure black.
6. **Light.** The product's exposure follows the scene's brightness, its colour temperature the
   scene's warmth (both from the scene analysis, else measured from the pixels), with a slight
   tint toward the scene's mean colour and, for standing items, a little more light at the top
   than at the base.

The result is a JPEG (quality :data:`JPEG_QUALITY`) whose ``meta`` records the placement, the
box, the scale and the seed. The same request always gives the same bytes. Unreadable images
raise :class:`~visualizer_core.errors.InvalidImage`, naming which image and why.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from visualizer_core import taxonomy
from visualizer_core.ai.base import GenerationRequest, GenerationResult
from visualizer_core.errors import InvalidImage, InvalidInput, VisualizerError
from visualizer_core.schemas import SceneAnalysis

__all__ = [
    "CATEGORY_HEIGHT_M",
    "MODEL",
    "OUTPUT_LONG_SIDE",
    "compose",
    "output_size",
]

MODEL: Final = "local-compositor-v1"
OUTPUT_LONG_SIDE: Final = 1024
# The long side of each output size a flow may ask for (FlowSettings.image_size).
_LONG_SIDES: Final = {"1K": 1024, "2K": 2048, "4K": 4096}
"""Long side of the output image in pixels."""
JPEG_QUALITY: Final = 90
MAX_PIXELS: Final = 64_000_000
"""Most pixels an input image may have (the ingest's limit)."""

WALL_HEIGHT_M: Final = 2.5
"""Metres of back wall between the top of the frame and the floor line."""
CONTACT_DEPTH: Final = 0.3
"""Floor items stand this fraction of the floor band below the floor line."""
FOREGROUND_SCALE: Final = 1.35
"""Items standing in front of the wall are this much larger than the wall's own scale."""
TABLE_HEIGHT_M: Final = 0.72
HANG_CENTRE_M: Final = 1.5
"""Height of a wall item's centre above the floor."""
MAX_WIDTH: Final = 0.6
"""Widest a product may be, as a fraction of the frame's width."""

CATEGORY_HEIGHT_M: Final[dict[str, float]] = {
    "sofa": 0.85,
    "armchair": 0.9,
    "coffee_table": 0.45,
    "side_table": 0.55,
    "tv_stand": 0.55,
    "bookshelf": 1.8,
    "floor_lamp": 1.6,
    "table_lamp": 0.55,
    "pendant_light": 0.45,
    "rug": 0.0,  # flat: sized by width, see _place_rug
    "wall_art": 0.75,
    "mirror": 0.9,
    "plant": 1.1,
    "vase": 0.3,
    "cushion": 0.45,
    "throw_blanket": 0.4,
    "bed": 1.05,
    "nightstand": 0.55,
    "dresser": 0.85,
    "wardrobe": 2.0,
    "desk": 0.76,
    "office_chair": 1.05,
    "dining_table": 0.76,
    "dining_chair": 0.88,
    "bar_stool": 0.78,
    "sideboard": 0.8,
    "cookware": 0.2,
    "kitchen_storage": 0.3,
    "bath_towel": 0.35,
    "bathroom_vanity": 0.85,
    "shoe_cabinet": 1.0,
    "coat_rack": 1.75,
    "kids_bed": 0.85,
    "toy_storage": 0.6,
    "outdoor_sofa": 0.8,
    "outdoor_table": 0.74,
    "planter": 0.55,
}
"""Typical height in metres of a product of each category, at size class ``medium``."""

_SIZE_CLASS_HEIGHT_M: Final = {"small": 0.35, "medium": 0.8, "large": 1.3}
# Categories whose members differ a lot in size: their height follows the size class too.
_SIZE_CLASS_FACTOR: Final = {"small": 0.75, "medium": 1.0, "large": 1.3}
_VARIABLE_SIZE: Final = frozenset({"plant", "planter", "vase", "wall_art", "mirror", "rug"})
_FLAT: Final = frozenset({"rug"})

_FLOOR_POSITIONS: Final = (0.5, 0.32, 0.68)
_WALL_POSITIONS: Final = (0.5, 0.4, 0.6)
_MARGIN: Final = 0.02  # of the frame, kept free at the edges
_ORIENTATION: Final = 0x0112  # the EXIF orientation tag


@dataclass(frozen=True)
class _Product:
    """A decoded product image and the box (left, top, right, bottom) of its visible part."""

    image: Image.Image
    bbox: tuple[int, int, int, int]

    @property
    def size(self) -> tuple[int, int]:
        return self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]

    def resized(self, size: tuple[int, int]) -> Image.Image:
        """The visible part, resized to ``size``."""
        return self.image.resize(size, Image.Resampling.BICUBIC, box=self.bbox, reducing_gap=2.0)


@dataclass(frozen=True)
class _Light:
    brightness: float  # 0..1
    warmth: float  # -1..1
    mean_rgb: tuple[float, float, float]


def output_size(aspect_ratio: str, long_side: int = OUTPUT_LONG_SIDE) -> tuple[int, int]:
    """The output's (width, height) for a ``"W:H"`` aspect ratio with the given long side."""
    try:
        w_text, h_text = aspect_ratio.split(":")
        w_ratio, h_ratio = float(w_text), float(h_text)
    except ValueError:
        raise InvalidInput(f"aspect ratio {aspect_ratio!r} is not of the form W:H") from None
    if not (w_ratio > 0 and h_ratio > 0 and math.isfinite(w_ratio / h_ratio)):
        raise InvalidInput(f"aspect ratio {aspect_ratio!r} must have two positive numbers")
    if w_ratio >= h_ratio:
        return long_side, max(1, round(long_side * h_ratio / w_ratio))
    return max(1, round(long_side * w_ratio / h_ratio)), long_side


def compose(request: GenerationRequest) -> GenerationResult:
    """Place the request's product into its scene and return the picture as a JPEG.

    See the module docstring for the steps. Raises :class:`InvalidImage` when the scene or the
    first product image cannot be read, and :class:`InvalidInput` for a malformed aspect ratio.
    """
    if not request.product_images:
        raise InvalidImage("product image", "no product image was given")
    long_side = _LONG_SIDES.get(request.image_size or "", OUTPUT_LONG_SIDE)
    width, height = output_size(request.aspect_ratio, long_side)
    scene_analysis = request.scene_analysis
    floor_fraction = scene_analysis.floor_line if scene_analysis else 0.75
    scene, floor_y = _load_scene(request.scene_image, (width, height), floor_fraction)
    product = _load_product(request.product_images[0])

    analysis = request.product_analysis
    category = analysis.category if analysis else "other"
    placement: str = analysis.placement if analysis else "floor"
    size_class: str = analysis.size_class if analysis else "medium"
    light = _scene_light(scene, scene_analysis)
    slot = request.seed % len(_FLOOR_POSITIONS)
    shadow_rgb = tuple(round(c * 0.22) for c in light.mean_rgb)

    if category in _FLAT:
        placed, box = _place_rug(product, scene.size, floor_y, slot, size_class)
        placed = _match_light(placed, light, shade=False)
        _drop_shadow(scene, placed, box, shadow_rgb, offset=(0.0, 0.01), blur=0.01, opacity=0.3)
        placement = "floor"
    else:
        real_height = _real_height(category, size_class)
        box = _layout(product.size, scene.size, floor_y, placement, real_height, slot)
        placed = product.resized((box[2] - box[0], box[3] - box[1]))
        placed = _match_light(placed, light, shade=placement in ("floor", "surface"))
        if placement in ("floor", "surface"):
            _contact_shadow(scene, box, shadow_rgb)
        elif placement == "wall":
            _drop_shadow(
                scene, placed, box, shadow_rgb, offset=(0.025, 0.035), blur=0.03, opacity=0.35
            )
        else:
            _cord(scene, box, shadow_rgb)
    scene.paste(placed, box[:2], placed)

    out = io.BytesIO()
    scene.save(out, format="JPEG", quality=JPEG_QUALITY)
    return GenerationResult(
        image=out.getvalue(),
        mime_type="image/jpeg",
        model=MODEL,
        usage={},
        meta={
            "placement": placement,
            "category": category,
            "composited": True,  # the product's own pixels: IPTC's composite source type
            "box": list(box),
            "size": [width, height],
            "floor_line": round(floor_y / height, 4),
            "scale": round((box[3] - box[1]) / product.size[1], 4),
            "seed": request.seed,
            "light": {"brightness": round(light.brightness, 3), "warmth": round(light.warmth, 3)},
            "unused_images": len(request.product_images) - 1,
        },
    )


# -- decoding ------------------------------------------------------------------------------------


def _open(data: bytes, what: str, *, fit: int | None = None) -> Image.Image:
    """Decode ``data`` completely, upright; ``fit``: a JPEG may be decoded reduced to this side."""
    if not data:
        raise InvalidImage(what, "is empty")
    try:
        image = Image.open(io.BytesIO(data))
    except Exception as error:  # Pillow raises many types for unreadable data
        raise InvalidImage(what, f"is not an image that can be read ({error})") from None
    if image.width * image.height > MAX_PIXELS:
        raise InvalidImage(
            what, f"has {image.width}x{image.height} pixels, more than {MAX_PIXELS:,}"
        )
    if fit is not None and image.format == "JPEG":
        # Every centre crop keeps at least the short side, so this scale is always enough.
        scale = fit / min(image.size)
        if scale < 1:
            image.draft(None, (math.ceil(image.width * scale), math.ceil(image.height * scale)))
    try:
        image.load()
    except Exception as error:
        raise InvalidImage(what, f"is damaged or truncated ({error})") from None
    try:
        if image.getexif().get(_ORIENTATION, 1) != 1:
            return ImageOps.exif_transpose(image)
    except Exception:  # unreadable EXIF: keep the image as stored
        return image
    return image


def _load_scene(
    data: bytes, size: tuple[int, int], floor_fraction: float
) -> tuple[Image.Image, float]:
    """The scene cropped to ``size``'s ratio and resized to it, and the floor line's y there."""
    width, height = size
    image = _open(data, "scene image", fit=max(size))
    try:
        if image.mode != "RGB":
            image = image.convert("RGB")
    except Exception as error:
        raise InvalidImage("scene image", f"has colours that cannot be used ({error})") from None
    src_w, src_h = image.size
    target = width / height
    if src_w / src_h > target:
        crop_w, crop_h = src_h * target, float(src_h)
    else:
        crop_w, crop_h = float(src_w), src_w / target
    left, top = (src_w - crop_w) / 2, (src_h - crop_h) / 2
    scene = image.resize(
        size,
        Image.Resampling.BICUBIC,
        box=(left, top, left + crop_w, top + crop_h),
        reducing_gap=2.0,
    )
    floor = (floor_fraction * src_h - top) / crop_h
    return scene, min(max(floor, 0.35), 0.95) * height


def _load_product(data: bytes) -> _Product:
    """The product as RGBA, and the box of what its alpha shows."""
    image = _open(data, "product image")
    try:
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    except Exception as error:
        raise InvalidImage("product image", f"has colours that cannot be used ({error})") from None
    visible = rgba.getchannel("A").point(lambda a: 255 if a > 8 else 0)
    bbox = visible.getbbox()
    if bbox is None:
        raise InvalidImage("product image", "is fully transparent: there is nothing to place")
    return _Product(rgba, bbox)


# -- scale and position --------------------------------------------------------------------------


def _real_height(category: str, size_class: str) -> float:
    """The product's height in metres, from its category, else the taxonomy, else its size."""
    height = CATEGORY_HEIGHT_M.get(category) or _taxonomy_height(category)
    if height is None:
        return _SIZE_CLASS_HEIGHT_M.get(size_class, _SIZE_CLASS_HEIGHT_M["medium"])
    if category in _VARIABLE_SIZE:
        height *= _SIZE_CLASS_FACTOR.get(size_class, 1.0)
    return height


def _taxonomy_height(category: str) -> float | None:
    """The taxonomy's real height for a category this module does not know, if it has one."""
    if category in ("", "other"):
        return None
    try:
        height = taxonomy.category_info(category).real_height_m
    except (LookupError, ValueError, VisualizerError):
        return None
    return height if 0.02 < height < 4.0 else None


def _layout(
    product_size: tuple[int, int],
    frame: tuple[int, int],
    floor_y: float,
    placement: str,
    real_height: float,
    slot: int,
) -> tuple[int, int, int, int]:
    """The product's box (left, top, right, bottom) in the frame."""
    width, height = frame
    src_w, src_h = product_size
    wall_ppm = floor_y / WALL_HEIGHT_M  # pixels per metre on the back wall
    near_ppm = wall_ppm * FOREGROUND_SCALE
    ground_y = floor_y + CONTACT_DEPTH * (height - floor_y)
    top_limit = 0.03 * height

    if placement == "wall":
        target_h = real_height * wall_ppm
        room = floor_y - 0.08 * height  # between the top margin and the floor margin
        target_h = min(target_h, 0.85 * room)
    else:
        target_h = real_height * near_ppm
    scale = target_h / src_h
    scale = min(scale, MAX_WIDTH * width / src_w)

    if placement == "surface":
        bottom = ground_y - TABLE_HEIGHT_M * near_ppm
        bottom = max(bottom, 0.3 * height)
        scale = min(scale, (bottom - top_limit) / src_h)
    elif placement == "floor":
        bottom = ground_y
        scale = min(scale, (bottom - top_limit) / src_h)
    elif placement == "ceiling":
        scale = min(scale, 0.5 * floor_y / src_h)
    w = max(1, round(src_w * scale))
    h = max(1, round(src_h * scale))

    if placement == "wall":
        centre = floor_y - HANG_CENTRE_M * wall_ppm
        centre = min(max(centre, 0.04 * height + h / 2), floor_y - 0.04 * height - h / 2)
        top = round(centre - h / 2)
        cx = _WALL_POSITIONS[slot] * width
    elif placement == "ceiling":
        top = round(0.06 * height)
        cx = _WALL_POSITIONS[slot] * width
    else:
        top = round(bottom) - h
        cx = _FLOOR_POSITIONS[slot] * width
    margin = _MARGIN * width
    left = round(cx - w / 2)
    left = (
        (width - w) // 2
        if w > width - 2 * margin
        else round(min(max(left, margin), width - margin - w))
    )
    return left, top, left + w, top + h


def _place_rug(
    product: _Product, frame: tuple[int, int], floor_y: float, slot: int, size_class: str
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A rug photographed from above, laid flat on the floor in perspective, and its box."""
    width, height = frame
    front_w = min(0.62 * width * _SIZE_CLASS_FACTOR.get(size_class, 1.0), 0.9 * width)
    band = height - floor_y
    depth = front_w * product.size[1] / product.size[0] * 0.32  # foreshortened
    top = floor_y + 0.1 * band
    depth = max(2.0, min(depth, 0.95 * height - top))
    w, h = max(2, round(front_w)), max(2, round(depth))
    flat = product.resized((w, h))
    # The far edge is narrower: a quad whose top is inset on both sides.
    inset = 0.11 * w
    quad = ((inset, 0.0), (w - inset, 0.0), (float(w), float(h)), (0.0, float(h)))
    rug = flat.transform(
        (w, h),
        Image.Transform.PERSPECTIVE,
        _perspective_coeffs(
            quad, ((0.0, 0.0), (float(w), 0.0), (float(w), float(h)), (0.0, float(h)))
        ),
        Image.Resampling.BICUBIC,
    )
    margin = _MARGIN * width
    cx = _FLOOR_POSITIONS[slot] * width
    left = round(min(max(cx - w / 2, margin), max(margin, width - margin - w)))
    top_i = round(top)
    return rug, (left, top_i, left + w, top_i + h)


def _perspective_coeffs(
    out_quad: tuple[tuple[float, float], ...], in_quad: tuple[tuple[float, float], ...]
) -> tuple[float, ...]:
    """Pillow's PERSPECTIVE coefficients mapping ``out_quad`` corners onto ``in_quad`` corners."""
    rows: list[list[float]] = []
    rhs: list[float] = []
    for (x, y), (u, v) in zip(out_quad, in_quad, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend((u, v))
    solution = np.linalg.solve(np.array(rows, dtype=np.float64), np.array(rhs, dtype=np.float64))
    return tuple(float(c) for c in solution)


# -- light and shadow ----------------------------------------------------------------------------


def _scene_light(scene: Image.Image, analysis: SceneAnalysis | None) -> _Light:
    """The scene's brightness, warmth and mean colour: the analysis's where it has them."""
    small = np.asarray(scene.resize((32, 32), Image.Resampling.BOX), dtype=np.float32)
    r, g, b = (float(v) for v in small.reshape(-1, 3).mean(axis=0))
    if analysis is not None:
        brightness, warmth = analysis.brightness, analysis.warmth
    else:
        brightness = (0.299 * r + 0.587 * g + 0.114 * b) / 255
        warmth = min(max((r - b) / 80, -1.0), 1.0)
    return _Light(brightness=brightness, warmth=warmth, mean_rgb=(r, g, b))


def _match_light(product: Image.Image, light: _Light, *, shade: bool) -> Image.Image:
    """The product re-lit for the scene: exposure, colour temperature, ambient tint, shading."""
    exposure = min(max(0.72 + 0.56 * light.brightness, 0.72), 1.06)
    warm = 0.07 * light.warmth
    temperature = np.array([1 + warm, 1 + 0.3 * warm, 1 - warm], dtype=np.float32)
    mean = np.array(light.mean_rgb, dtype=np.float32)
    tint = np.clip((mean / max(float(mean.mean()), 1.0)) ** 0.2, 0.94, 1.06)
    gain = exposure * temperature * tint

    pixels = np.asarray(product, dtype=np.float32)
    rgb = pixels[..., :3] * gain
    if shade:  # light comes from above: a touch brighter at the top, darker at the base
        ramp: NDArray[np.float32] = np.linspace(1.03, 0.9, product.height, dtype=np.float32)
        rgb *= ramp[:, None, None]
    out = np.empty(pixels.shape, dtype=np.uint8)
    out[..., :3] = np.clip(rgb + 0.5, 0, 255)
    out[..., 3] = pixels[..., 3]
    return Image.fromarray(out, "RGBA")


def _contact_shadow(
    scene: Image.Image, box: tuple[int, int, int, int], colour: tuple[int, ...]
) -> None:
    """Darken the floor under a standing product: a wide soft ellipse and a tight dark one."""
    left, _top, right, bottom = box
    w = right - left
    cx = (left + right) / 2
    wide_w, wide_h = 1.0 * w, max(6.0, 0.12 * w)
    tight_w, tight_h = 0.8 * w, max(3.0, 0.04 * w)
    cy = bottom - 0.2 * tight_h
    blur = max(2.0, 0.35 * wide_h)
    pad = math.ceil(3 * blur) + 2
    region = (
        math.floor(cx - wide_w / 2) - pad,
        math.floor(cy - wide_h / 2) - pad,
        math.ceil(cx + wide_w / 2) + pad,
        math.ceil(cy + wide_h / 2) + pad,
    )
    mask = Image.new("L", (region[2] - region[0], region[3] - region[1]), 0)
    draw = ImageDraw.Draw(mask)
    ox, oy = cx - region[0], cy - region[1]
    draw.ellipse((ox - wide_w / 2, oy - wide_h / 2, ox + wide_w / 2, oy + wide_h / 2), fill=120)
    draw.ellipse((ox - tight_w / 2, oy - tight_h / 2, ox + tight_w / 2, oy + tight_h / 2), fill=200)
    _darken(scene, region, mask.filter(ImageFilter.GaussianBlur(blur)), colour)


def _drop_shadow(
    scene: Image.Image,
    product: Image.Image,
    box: tuple[int, int, int, int],
    colour: tuple[int, ...],
    *,
    offset: tuple[float, float],
    blur: float,
    opacity: float,
) -> None:
    """Darken the scene with the product's blurred outline, offset by fractions of its size."""
    w, h = product.size
    size = max(w, h)
    radius = max(1.5, blur * size)
    pad = math.ceil(3 * radius) + 2
    dx, dy = round(offset[0] * size), round(offset[1] * size)
    alpha = product.getchannel("A").point(lambda a: round(a * opacity))
    mask = Image.new("L", (w + 2 * pad, h + 2 * pad), 0)
    mask.paste(alpha, (pad, pad))
    region = (box[0] - pad + dx, box[1] - pad + dy, box[2] + pad + dx, box[3] + pad + dy)
    _darken(scene, region, mask.filter(ImageFilter.GaussianBlur(radius)), colour)


def _cord(scene: Image.Image, box: tuple[int, int, int, int], colour: tuple[int, ...]) -> None:
    """A thin cord from the top of the frame to a hanging product."""
    cx = (box[0] + box[2]) // 2
    width = max(2, round(scene.width / 400))
    ImageDraw.Draw(scene).line((cx, 0, cx, box[1] + 2), fill=tuple(colour), width=width)


def _darken(
    scene: Image.Image,
    region: tuple[int, int, int, int],
    mask: Image.Image,
    colour: tuple[int, ...],
) -> None:
    """Blend ``colour`` into ``scene`` over ``region`` by ``mask``, clipped to the frame."""
    left, top, right, bottom = region
    clip = (max(left, 0), max(top, 0), min(right, scene.width), min(bottom, scene.height))
    if clip[0] >= clip[2] or clip[1] >= clip[3]:
        return
    part = mask.crop((clip[0] - left, clip[1] - top, clip[2] - left, clip[3] - top))
    scene.paste(tuple(colour), clip, part)
