"""Export: a session's images as a ZIP with ``manifest.csv``, as stored or at a delivery preset.

Without a preset the completed images go in as stored (what ``visualizer export`` has always
written). A :class:`DeliveryPreset` gives what stores ask for: JPEG, WebP or PNG, square 2048 px,
4:5 at 1600 x 2000 or the original size, sRGB (converted from any embedded profile, and the
sRGB profile embedded), and file names from a pattern (``{sku}_{variant}`` by default). A
preset chosen once is remembered per client (``client.settings["delivery_preset"]``).

Every picture written carries its provenance as XMP (:mod:`visualizer_core.images.provenance`):
IPTC's digital source type (``trainedAlgorithmicMedia``, or
``compositeWithTrainedAlgorithmicMedia`` where the product's own pixels were composited), and
the client's credit line when it set one (``client.settings["credit_line"]``:
``photoshop:Credit`` and ``dc:rights``). Nothing else of the inputs' metadata (EXIF with its
camera and GPS fields, IPTC-IIM, comments) is written.

Every cell of every CSV the project writes goes through :func:`spreadsheet_safe`.
"""

from __future__ import annotations

import csv
import io
import os
import re
import string
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

from PIL import Image, ImageCms, ImageOps
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from visualizer_core import backends
from visualizer_core.db import repo
from visualizer_core.db.models import GeneratedImage, Product
from visualizer_core.errors import InvalidInput, first_problem
from visualizer_core.images import provenance
from visualizer_core.schemas import ImageStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import client_row, unit_of_work
from visualizer_core.services.sessions import load_session

__all__ = [
    "MANIFEST_COLUMNS",
    "PRESETS",
    "SIZES",
    "DeliveryPreset",
    "client_preset",
    "credit_line",
    "export_session",
    "parse_preset",
    "remember_preset",
    "render",
    "set_credit_line",
    "spreadsheet_safe",
]

MANIFEST_COLUMNS = (
    "file",
    "image_id",
    "product_id",
    "sku",
    "product_name",
    "scene_id",
    "variant",
    "review_state",
    "favourite",
    "model",
    "prompt_version",
    "seed",
    "aspect_ratio",
    "fidelity_score",
    "created_at",
    "completed_at",
    "width",
    "height",
    "format",
)

# A spreadsheet reads a cell starting with one of these as a formula (or as the start of one:
# TAB and CR are what Excel and LibreOffice step over before looking).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")

SIZES: dict[str, tuple[int, int] | None] = {
    "square_2048": (2048, 2048),
    "portrait_1600x2000": (1600, 2000),
    "original": None,
}
SIZE_LABELS = {
    "square_2048": "Square 2048 x 2048",
    "portrait_1600x2000": "4:5, 1600 x 2000",
    "original": "Original size",
}
_PLACEHOLDERS = frozenset({"sku", "variant", "product", "session", "image_id", "scene", "n"})
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SRGB_BYTES = _SRGB.tobytes()
_PRESET_KEY = "delivery_preset"
_CREDIT_KEY = "credit_line"
_COMPOSITOR_MODELS = ("local-compositor",)


class DeliveryPreset(BaseModel):
    """How the approved set is delivered: format, size, file names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["jpeg", "webp", "png"] = "jpeg"
    size: Literal["square_2048", "portrait_1600x2000", "original"] = "square_2048"
    pattern: str = Field(default="{sku}_{variant}", min_length=1, max_length=200)
    quality: int = Field(default=90, ge=50, le=100)

    @field_validator("pattern")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as error:
            raise ValueError(f"the file name pattern is malformed: {error}") from None
        unknown = [f for f in fields if f not in _PLACEHOLDERS]
        if unknown:
            known = ", ".join("{" + p + "}" for p in sorted(_PLACEHOLDERS))
            raise ValueError(f"unknown placeholder {{{unknown[0]}}} in the pattern; use {known}")
        if not fields:
            raise ValueError("the file name pattern needs a placeholder such as {sku}")
        return value

    @property
    def extension(self) -> str:
        return {"jpeg": "jpg", "webp": "webp", "png": "png"}[self.format]

    def describe(self) -> str:
        return f"{self.format.upper()} · {SIZE_LABELS[self.size]} · {self.pattern}"


PRESETS: dict[str, DeliveryPreset] = {
    "square-2048": DeliveryPreset(size="square_2048"),
    "portrait-1600x2000": DeliveryPreset(size="portrait_1600x2000"),
    "original": DeliveryPreset(size="original"),
    "square-2048-webp": DeliveryPreset(size="square_2048", format="webp"),
}
# A stored picture whose JPEG header cannot be rewritten is encoded again at its own size.
_AS_STORED = DeliveryPreset(size="original", quality=92)


def parse_preset(value: DeliveryPreset | str | dict[str, Any]) -> DeliveryPreset:
    """A preset from its name (``square-2048``, ...), a dict of its fields, or itself."""
    if isinstance(value, DeliveryPreset):
        return value
    if isinstance(value, str):
        if value not in PRESETS:
            raise InvalidInput(f"unknown preset {value!r}; use one of {', '.join(PRESETS)}")
        return PRESETS[value]
    try:
        return DeliveryPreset.model_validate(value)
    except ValidationError as error:
        raise InvalidInput(f"delivery preset {first_problem(error, 'preset')}") from None


def spreadsheet_safe(value: object) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula gets a leading '."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def render(
    data: bytes, preset: DeliveryPreset, stamp: provenance.Provenance | None = None
) -> tuple[bytes, int, int]:
    """The picture at the preset: sRGB, resized (cropped to the shape from the centre), no
    metadata but the sRGB profile and the provenance packet (``stamp``; by default the
    source type the picture declares, else ``trainedAlgorithmicMedia``); returns the bytes,
    width and height."""
    if stamp is None:
        stamp = provenance.Provenance(provenance.read(data) or provenance.TRAINED)
    with Image.open(io.BytesIO(data)) as opened:
        opened.load()
        picture: Image.Image = opened
        profile = opened.info.get("icc_profile")
        if profile:
            try:
                source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
                picture = (
                    ImageCms.profileToProfile(
                        picture.convert("RGB"), source, _SRGB, outputMode="RGB"
                    )
                    or picture
                )
            except (ImageCms.PyCMSError, OSError):
                pass  # an unreadable profile: the pixels are taken as sRGB
        if picture.mode in ("RGBA", "LA", "P"):
            rgba = picture.convert("RGBA")
            flat = Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            picture = flat
        elif picture.mode != "RGB":
            picture = picture.convert("RGB")
        target = SIZES[preset.size]
        if target is not None and picture.size != target:
            picture = ImageOps.fit(picture, target, Image.Resampling.LANCZOS, centering=(0.5, 0.5))
        encoded = provenance.encode(
            picture, preset.format, stamp, quality=preset.quality, icc_profile=_SRGB_BYTES
        )
        return encoded, picture.width, picture.height


def _slug(text: str, fallback: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:120] or fallback


def _file_name(sku: str, image: GeneratedImage) -> str:
    safe = _slug(sku, "product")[:80]
    return f"{safe}_v{image.variant + 1}_{image.id.hex[:8]}.jpg"


def _preset_name(
    preset: DeliveryPreset, image: GeneratedImage, sku: str, product: str, session: str, n: int
) -> str:
    values = {
        "sku": sku,
        "variant": str(image.variant + 1),
        "product": product,
        "session": session,
        "image_id": image.id.hex[:8],
        "scene": image.scene_id or "scene",
        "n": f"{n:04d}",
    }
    return _slug(preset.pattern.format(**values), "image")


def _unique(name: str, extension: str, taken: set[str]) -> str:
    candidate, number = f"{name}.{extension}", 2
    while candidate.lower() in taken:
        candidate, number = f"{name}-{number}.{extension}", number + 1
    taken.add(candidate.lower())
    return candidate


def _in_order(
    jobs: Sequence[Any], work: Callable[[Any], Any], workers: int
) -> Iterator[tuple[Any, Any]]:
    """``(job, work(job))`` in order, computed on threads with a bounded window in flight."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        window: list[tuple[Any, Future[Any]]] = []
        for job in jobs:
            window.append((job, pool.submit(work, job)))
            if len(window) >= 2 * workers:
                first, future = window.pop(0)
                yield first, future.result()
        for job, future in window:
            yield job, future.result()


def client_preset(scope: Scope, *, client_id: uuid.UUID | str) -> DeliveryPreset:
    """The preset the client chose last (the square JPEG preset until one is chosen)."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        saved = (client_row(db, scope, client_id).settings or {}).get(_PRESET_KEY)
    if not saved:
        return PRESETS["square-2048"]
    try:
        return DeliveryPreset.model_validate(saved)
    except ValidationError:
        return PRESETS["square-2048"]


def remember_preset(
    scope: Scope, *, client_id: uuid.UUID | str, preset: DeliveryPreset | str | dict[str, Any]
) -> DeliveryPreset:
    """Keep the client's delivery preset, for every member's next delivery."""
    scope.require(Action.EDIT)
    chosen = parse_preset(preset)
    with unit_of_work() as db:
        client = client_row(db, scope, client_id, lock=True)
        client.settings = {**(client.settings or {}), _PRESET_KEY: chosen.model_dump()}
    return chosen


def credit_line(scope: Scope, *, client_id: uuid.UUID | str) -> dict[str, str]:
    """The client's credit line for its pictures: ``{"credit", "rights"}`` (empty strings
    when unset)."""
    scope.require(Action.READ)
    with unit_of_work() as db:
        saved = (client_row(db, scope, client_id).settings or {}).get(_CREDIT_KEY) or {}
    return {"credit": str(saved.get("credit") or ""), "rights": str(saved.get("rights") or "")}


def set_credit_line(
    scope: Scope, *, client_id: uuid.UUID | str, credit: str = "", rights: str = ""
) -> dict[str, str]:
    """Set (or clear, with empty strings) the credit line written into every delivered
    picture's XMP: ``photoshop:Credit`` (``credit``) and ``dc:rights`` (``rights``)."""
    scope.require(Action.MANAGE)
    line = {"credit": credit.strip(), "rights": rights.strip()}
    for field, value in line.items():
        if len(value) > provenance.MAX_CREDIT:
            raise InvalidInput(
                f"the {field} line is {len(value)} characters; at most "
                f"{provenance.MAX_CREDIT} fit in a picture's metadata"
            )
        if any(not c.isprintable() for c in value):
            raise InvalidInput(f"the {field} line has a control character; use one plain line")
    with unit_of_work() as db:
        client = client_row(db, scope, client_id, lock=True)
        client.settings = {**(client.settings or {}), _CREDIT_KEY: line}
    return line


def _stamp_for(image: GeneratedImage, data: bytes, credit: dict[str, str]) -> provenance.Provenance:
    """The provenance packet of one delivered picture: the source type its file declares
    (images stored before the tag existed: by the model that made them), the credit line."""
    declared = provenance.read(data)
    if declared is None:
        made_by_compositor = (image.model or "").startswith(_COMPOSITOR_MODELS)
        declared = provenance.COMPOSITE if made_by_compositor else provenance.TRAINED
    return provenance.Provenance(
        declared, credit=credit.get("credit") or None, rights=credit.get("rights") or None
    )


def _completed(
    scope: Scope,
    session_id: uuid.UUID | str,
    approved_only: bool,
    image_ids: list[uuid.UUID] | None,
) -> tuple[str, list[GeneratedImage], dict[uuid.UUID, Product]]:
    """The session's name, its completed images (by sku and variant) and their products."""
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        images = list(
            repo.images_of_session(
                db,
                session.id,
                status=ImageStatus.COMPLETED,
                review_state="approved" if approved_only else None,
                ids=image_ids,
            )
        )
        wanted = list({i.product_id for i in images})
        products = {
            p.id: p for p in repo.list_products(db, client_id=session.client_id, ids=wanted)
        }
        name = session.name
        db.expunge_all()
    images.sort(
        key=lambda i: (products[i.product_id].sku if i.product_id in products else "", i.variant)
    )
    return name, images, products


def _client_credit(scope: Scope, session_id: uuid.UUID | str) -> dict[str, str]:
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        saved = (client_row(db, scope, session.client_id).settings or {}).get(_CREDIT_KEY) or {}
    return {"credit": str(saved.get("credit") or ""), "rights": str(saved.get("rights") or "")}


def _manifest_row(name: str, image: GeneratedImage, sku: str, product_name: str) -> list[Any]:
    """What ``manifest.csv`` says of one picture, up to its size and format."""
    return [
        name,
        image.id,
        image.product_id,
        sku,
        product_name,
        image.scene_id,
        image.variant + 1,
        image.review_state,
        image.favourite,
        image.model,
        image.prompt_version,
        image.seed,
        image.aspect_ratio,
        "" if image.fidelity_score is None else f"{image.fidelity_score:.3f}",
        image.created_at.isoformat(),
        image.completed_at.isoformat() if image.completed_at else "",
    ]


def export_session(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    out: Path,
    approved_only: bool = False,
    image_ids: list[uuid.UUID] | None = None,
    preset: DeliveryPreset | str | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the completed images (approved ones only, if asked) and their manifest to ``out``.

    With a ``preset`` each picture is converted to it (on threads, in order). The ZIP is
    written to a temporary file beside ``out`` and moved into place at the end, so a failure
    never leaves a half-written archive.
    """
    scope.require(Action.READ)
    chosen = parse_preset(preset) if preset is not None else None
    session_name, images, products = _completed(scope, session_id, approved_only, image_ids)
    storage = backends.current().storage
    credit = _client_credit(scope, session_id)

    def picture(image: GeneratedImage) -> tuple[bytes, int | str, int | str]:
        assert image.image_key is not None
        data = storage.get(image.image_key)
        stamp = _stamp_for(image, data, credit)
        if chosen is None:
            try:
                return provenance.restamp_jpeg(data, stamp), "", ""
            except ValueError:
                return render(data, _AS_STORED, stamp)
        return render(data, chosen, stamp)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=".export-", suffix=".zip", dir=out.parent)
    os.close(handle)
    taken: set[str] = {"manifest.csv"}
    try:
        manifest = io.StringIO()
        writer = csv.writer(manifest)
        writer.writerow(MANIFEST_COLUMNS)
        workers = max(1, min(8, os.cpu_count() or 1)) if chosen is not None else 4
        with zipfile.ZipFile(temp_name, "w", compression=zipfile.ZIP_STORED) as archive:
            for n, (image, (data, width, height)) in enumerate(
                _in_order(images, picture, workers), start=1
            ):
                product: Product | None = products.get(image.product_id)
                sku = product.sku if product else "product"
                if chosen is None:
                    name = _file_name(sku, image)
                    kind = "jpeg"
                else:
                    base = _preset_name(
                        chosen, image, sku, product.name if product else "", session_name, n
                    )
                    name = _unique(base, chosen.extension, taken)
                    kind = chosen.format
                archive.writestr(name, data)
                row = _manifest_row(name, image, sku, product.name if product else "")
                writer.writerow([spreadsheet_safe(v) for v in [*row, width, height, kind]])
            archive.writestr("manifest.csv", manifest.getvalue())
        os.replace(temp_name, out)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    result: dict[str, Any] = {"images": len(images), "path": str(out)}
    if chosen is not None:
        result["preset"] = chosen.model_dump()
    return result
