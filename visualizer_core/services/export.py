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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from PIL import Image, ImageCms
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from visualizer_core import backends, feeds
from visualizer_core.db import repo
from visualizer_core.db.models import GeneratedImage, Product
from visualizer_core.errors import InvalidInput, first_problem
from visualizer_core.images import content_credentials, provenance
from visualizer_core.images.store_rules import (
    Box,
    Finding,
    StoreRules,
    judge,
    judge_bytes,
    plan,
    store_rules,
)
from visualizer_core.schemas import FlowSettings, ImageStatus
from visualizer_core.scope import Action, Scope
from visualizer_core.services import models
from visualizer_core.services._uow import client_row, unit_of_work
from visualizer_core.services.sessions import load_session
from visualizer_core.storage import keys

__all__ = [
    "FEEDS",
    "MANIFEST_COLUMNS",
    "PRESETS",
    "SIZES",
    "DeliveryCheck",
    "DeliveryPreset",
    "check_delivery",
    "client_preset",
    "credit_line",
    "export_session",
    "image_size_for",
    "parse_preset",
    "remember_preset",
    "render",
    "set_credit_line",
    "set_signing_credentials",
    "spreadsheet_safe",
    "with_delivery_size",
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
MAX_PATTERN = 120
FORMAT_LABELS = {"jpeg": "JPEG", "webp": "WebP", "png": "PNG", "original": "as made"}
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SRGB_BYTES = _SRGB.tobytes()
_PRESET_KEY = "delivery_preset"
_CREDIT_KEY = "credit_line"
FEEDS = {
    "merchant-tsv": "merchant-supplemental.tsv",
    "merchant-xml": "merchant-supplemental.xml",
    "shopify-csv": "shopify-images.csv",
}
_SIGNING_KEY = "c2pa_signing"
_KINDS = {"image/jpeg": "jpeg", "image/png": "png", "image/webp": "webp"}
_MIMES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_EXTENSIONS = {"jpeg": "jpg", "webp": "webp", "png": "png"}
_COMPOSITOR_MODELS = ("local-compositor",)


StoreName = Literal["merchant-lifestyle", "merchant-additional", "shopify", "amazon-secondary"]


class DeliveryPreset(BaseModel):
    """How the approved set is delivered: format, size or store, file names.

    ``store`` names a store's rules (:mod:`visualizer_core.images.store_rules`): the store then
    decides the shape and size (never enlarging) and every picture is checked against its
    limits before the set is written. ``format="original"`` hands the stored picture over as
    it is (size ``original`` only).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["jpeg", "webp", "png", "original"] = "jpeg"
    size: Literal["square_2048", "portrait_1600x2000", "original"] = "square_2048"
    store: StoreName | None = None
    pattern: str = Field(default="{sku}_{variant}", min_length=1, max_length=MAX_PATTERN)
    quality: int = Field(default=90, ge=50, le=100)

    @field_validator("pattern")
    @classmethod
    def _plain_placeholders(cls, value: str) -> str:
        """Only ``{name}`` placeholders: a format spec (``{sku:>4000000000}``), a conversion
        (``{sku!r}``), an attribute or an index would run inside ``str.format`` with a size
        or a reach the pattern's author chooses."""
        try:
            parts = list(string.Formatter().parse(value))
        except ValueError as error:
            raise ValueError(f"the file name pattern is malformed: {error}") from None
        fields = [(name, spec, conv) for _, name, spec, conv in parts if name is not None]
        known = ", ".join("{" + p + "}" for p in sorted(_PLACEHOLDERS))
        for name, spec, conversion in fields:
            if name not in _PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {{{name}}} in the pattern; use {known}")
            if spec or conversion:
                shown = (
                    name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                )
                raise ValueError(
                    f"the placeholder {{{shown}}} has a format; use plain placeholders: {known}"
                )
        if not fields:
            raise ValueError("the file name pattern needs a placeholder such as {sku}")
        return value

    @model_validator(mode="after")
    def _fits_the_store(self) -> DeliveryPreset:
        if self.format == "original" and (self.size != "original" or self.store is not None):
            raise ValueError("the original format is handed over at its own size, for no store")
        if self.store is not None:
            rules = store_rules()[self.store]
            if self.format not in rules.formats:
                listed = " or ".join(FORMAT_LABELS[f] for f in rules.formats)
                raise ValueError(
                    f"{rules.label} does not list {FORMAT_LABELS[self.format]}; choose {listed}"
                )
        return self

    @property
    def rules(self) -> StoreRules | None:
        return store_rules()[self.store] if self.store is not None else None

    @property
    def extension(self) -> str:
        return {"jpeg": "jpg", "webp": "webp", "png": "png", "original": "jpg"}[self.format]

    def describe(self) -> str:
        shape = self.rules.label if self.rules else SIZE_LABELS[self.size]
        return f"{FORMAT_LABELS[self.format]} · {shape} · {self.pattern}"


PRESETS: dict[str, DeliveryPreset] = {
    "merchant-lifestyle": DeliveryPreset(store="merchant-lifestyle", size="original"),
    "merchant-additional": DeliveryPreset(store="merchant-additional", size="original"),
    "shopify": DeliveryPreset(store="shopify", size="original"),
    "amazon-secondary": DeliveryPreset(store="amazon-secondary", size="original"),
    "square-2048": DeliveryPreset(size="square_2048"),
    "portrait-1600x2000": DeliveryPreset(size="portrait_1600x2000"),
    "square-2048-webp": DeliveryPreset(size="square_2048", format="webp"),
    "original-size": DeliveryPreset(size="original"),
    "original": DeliveryPreset(size="original", format="original"),
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
    data: bytes,
    preset: DeliveryPreset,
    stamp: provenance.Provenance | None = None,
    *,
    focus: Box | None = None,
) -> tuple[bytes, int, int]:
    """The picture at the preset: sRGB, cropped to the preset's shape around the product
    (``focus``, its box in the picture, when known; else the centre) and resized as
    :func:`~visualizer_core.images.store_rules.plan` says, no metadata but the sRGB profile and
    the provenance packet (``stamp``; by default the source type the picture declares, else
    ``trainedAlgorithmicMedia``); returns the bytes, width and height."""
    if stamp is None:
        stamp = provenance.Provenance(provenance.read(data) or provenance.TRAINED)
    if preset.format == "original":
        return _as_made(data, stamp)
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
        chosen = plan(picture.size, target=SIZES[preset.size], rules=preset.rules, focus=focus)
        if chosen.cropped or chosen.size != picture.size:
            picture = picture.resize(chosen.size, Image.Resampling.LANCZOS, box=chosen.crop)
        encoded = provenance.encode(
            picture,
            preset.format,
            stamp,
            quality=preset.quality,
            icc_profile=_SRGB_BYTES,
        )
        return encoded, picture.width, picture.height


def _as_made(data: bytes, stamp: provenance.Provenance) -> tuple[bytes, int, int]:
    """The stored picture as it is, its header given the provenance packet (a picture that is
    not a JPEG, or whose header cannot be walked, is encoded again at its own size)."""
    try:
        stamped = provenance.restamp_jpeg(data, stamp)
    except ValueError:
        return render(data, _AS_STORED, stamp)
    width, height = _size_of(stamped)
    return stamped, width, height


def _size_of(data: bytes) -> tuple[int, int]:
    """A picture's size from its header (the pixels are not decoded)."""
    with Image.open(io.BytesIO(data)) as picture:
        return picture.size


def _focus(image: GeneratedImage) -> Box | None:
    """The product's box in the picture: the bounds of the outline the fidelity measurement
    found (``image.fidelity["outline"]``, picture pixels), None when it found none."""
    outline = (image.fidelity or {}).get("outline") if image.fidelity else None
    if not isinstance(outline, list) or len(outline) < 3:
        return None
    try:
        xs = [float(point[0]) for point in outline]
        ys = [float(point[1]) for point in outline]
    except (TypeError, ValueError, IndexError):
        return None
    return int(min(xs)), int(min(ys)), int(max(xs)) + 1, int(max(ys)) + 1


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


def image_size_for(preset: DeliveryPreset) -> Literal["1K", "2K", "4K"] | None:
    """The generation size a preset needs: the smallest of 1K (1024 px on the long side), 2K
    (2048) and 4K whose long side reaches the store's recommended size (its minimum where it
    recommends none) or the size preset's target; None for the original size."""
    rules = preset.rules
    if rules is not None:
        need = max(
            rules.recommended_width,
            rules.recommended_height,
            rules.side or 0,
            rules.min_long_side,
            rules.min_width,
            rules.min_height,
        )
    else:
        target = SIZES[preset.size]
        if target is None:
            return None
        need = max(target)
    if need <= 1024:
        return "1K"
    return "2K" if need <= 2048 else "4K"


def with_delivery_size(
    scope: Scope, *, session_id: uuid.UUID | str, settings: FlowSettings
) -> FlowSettings:
    """``settings`` with the generation size the client's chosen delivery preset needs, when
    it names none: a 1K picture cannot serve Merchant Center's 1500 px recommendation. Kept
    as they are when the client chose no preset yet, the preset needs no size, or the model
    does not draw that size."""
    scope.require(Action.READ)
    if settings.image_size is not None:
        return settings
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        saved = (client_row(db, scope, session.client_id).settings or {}).get(_PRESET_KEY)
    if not saved:
        return settings
    try:
        size = image_size_for(DeliveryPreset.model_validate(saved))
    except ValidationError:
        return settings
    if size is None or size not in models.image_sizes(scope, model=settings.model):
        return settings
    return settings.model_copy(update={"image_size": size})


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
    for which, value in line.items():
        if len(value) > provenance.MAX_CREDIT:
            raise InvalidInput(
                f"the {which} line is {len(value)} characters; at most "
                f"{provenance.MAX_CREDIT} fit in a picture's metadata"
            )
        if any(not c.isprintable() for c in value):
            raise InvalidInput(f"the {which} line has a control character; use one plain line")
    with unit_of_work() as db:
        client = client_row(db, scope, client_id, lock=True)
        client.settings = {**(client.settings or {}), _CREDIT_KEY: line}
    return line


def _stamp_for(image: GeneratedImage, data: bytes, credit: dict[str, str]) -> provenance.Provenance:
    """The provenance packet of one delivered picture: the source type its file declares
    (images stored before the tag existed: by the model that made them), the credit line."""
    declared = provenance.read(data)
    if image.product_pixels == "composited":  # pixel-exact mode put the photo's pixels back
        declared = provenance.COMPOSITE
    elif declared is None:
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


def _client_delivery(
    scope: Scope, session_id: uuid.UUID | str
) -> tuple[dict[str, str], content_credentials.SigningCredentials | None]:
    """The session's client's credit line and C2PA signing credentials (None: not set)."""
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        settings = client_row(db, scope, session.client_id).settings or {}
    saved = settings.get(_CREDIT_KEY) or {}
    credit = {"credit": str(saved.get("credit") or ""), "rights": str(saved.get("rights") or "")}
    signing = settings.get(_SIGNING_KEY) or {}
    if not signing.get("certificate_chain") or not signing.get("private_key"):
        return credit, None
    return credit, content_credentials.SigningCredentials(
        str(signing["certificate_chain"]), str(signing["private_key"])
    )


def set_signing_credentials(
    scope: Scope, *, client_id: uuid.UUID | str, certificate_chain: str, private_key: str
) -> bool:
    """Keep the client's C2PA signing certificate chain and private key (PEM; empty strings
    remove them): every re-encoded picture it delivers is then signed with a C2PA manifest
    naming the provider's picture as ingredient. Returns whether signing is on."""
    scope.require(Action.MANAGE)
    if not certificate_chain.strip() and not private_key.strip():
        with unit_of_work() as db:
            client = client_row(db, scope, client_id, lock=True)
            client.settings = {
                k: v for k, v in (client.settings or {}).items() if k != _SIGNING_KEY
            }
        return False
    problem = content_credentials.SigningCredentials(certificate_chain, private_key).problem()
    if problem:
        raise InvalidInput(f"C2PA signing: {problem}")
    with unit_of_work() as db:
        client = client_row(db, scope, client_id, lock=True)
        client.settings = {
            **(client.settings or {}),
            _SIGNING_KEY: {"certificate_chain": certificate_chain, "private_key": private_key},
        }
    return True


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


@dataclass
class DeliveryCheck:
    """The rule check's answer for a set at a preset, before anything is written."""

    preset: str
    images: int
    refusals: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refusals

    def message(self, limit: int = 10) -> str:
        """One line: what is refused and what to do (the first ``limit`` pictures)."""
        if self.ok:
            return f"{self.images} picture(s) fit {self.preset}"
        shown = "; ".join(f.sentence() for f in self.refusals[:limit])
        more = len(self.refusals) - limit
        tail = f"; and {more} more" if more > 0 else ""
        return (
            f"{len(self.refusals)} of {self.images} picture(s) cannot be delivered as "
            f"{self.preset}: {shown}{tail}"
        )

    def as_dict(self) -> dict[str, Any]:
        def rows(found: list[Finding]) -> list[dict[str, Any]]:
            return [
                {
                    "sku": f.sku,
                    "image": f.image,
                    "width": f.size[0],
                    "height": f.size[1],
                    "rule": f.rule,
                    "advice": f.advice,
                }
                for f in found
            ]

        return {
            "ok": self.ok,
            "images": self.images,
            "refused": rows(self.refusals),
            "warnings": rows(self.warnings),
        }


def _findings(
    image: GeneratedImage, data: bytes, chosen: DeliveryPreset, sku: str
) -> list[Finding]:
    """What the preset's rules say of one stored picture, before it is converted."""
    if chosen.format == "original":
        return []
    size = _size_of(data)
    planned = plan(size, target=SIZES[chosen.size], rules=chosen.rules, focus=_focus(image))
    return judge(planned, rules=chosen.rules, fmt=chosen.format, sku=sku, image=image.id.hex[:8])


def check_delivery(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    preset: DeliveryPreset | str | dict[str, Any],
    approved_only: bool = True,
    image_ids: list[uuid.UUID] | None = None,
) -> DeliveryCheck:
    """The rule check of :func:`export_session` alone: which pictures a store would refuse
    (and why, and what to do), which ones will be enlarged or cropped; nothing is written."""
    scope.require(Action.READ)
    chosen = parse_preset(preset)
    _name, images, products = _completed(scope, session_id, approved_only, image_ids)
    storage = backends.current().storage
    answer = DeliveryCheck(preset=chosen.describe(), images=len(images))

    def look(image: GeneratedImage) -> list[Finding]:
        assert image.image_key is not None
        product = products.get(image.product_id)
        return _findings(
            image, storage.get(image.image_key), chosen, product.sku if product else "product"
        )

    for _image, found in _in_order(images, look, 4):
        answer.refusals += [f for f in found if f.refused]
        answer.warnings += [f for f in found if not f.refused]
    return answer


def export_session(
    scope: Scope,
    *,
    session_id: uuid.UUID | str,
    out: Path,
    approved_only: bool = False,
    image_ids: list[uuid.UUID] | None = None,
    preset: DeliveryPreset | str | dict[str, Any] | None = None,
    feed: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Write the completed images (approved ones only, if asked) and their manifest to ``out``.

    ``feed`` adds the file a store imports (:mod:`visualizer_core.feeds`): ``merchant-tsv``,
    ``merchant-xml`` (a Merchant Center supplemental feed) or ``shopify-csv``. Its links are
    ``{base_url}/{file}`` (where the user will upload the set) or, without ``base_url``, the
    pictures' public addresses: each is then stored under the session's media and linked at
    ``R2_PUBLIC_URL``.

    With a ``preset`` each picture is checked against its rules (:func:`check_delivery`) and
    converted to it (on threads, in order); a store's preset never enlarges a picture. When
    any picture breaks a rule, :class:`InvalidInput` names each (sku, image, size, rule, what to
    do) and ``out`` is left as it was. The ZIP is written to a temporary file beside ``out``
    and moved into place at the end, so a failure never leaves a half-written archive. The
    result has ``warnings``: the pictures below a store's recommended size, enlarged or cropped.
    """
    scope.require(Action.READ)
    chosen = parse_preset(preset) if preset is not None else None
    if feed is not None and feed not in FEEDS:
        raise InvalidInput(f"unknown feed {feed!r}; use one of {', '.join(FEEDS)}")
    public = backends.current().settings.r2_public_url
    if feed is not None and not base_url and not public:
        raise InvalidInput(
            "a feed links to the pictures: give a base URL (where you will upload the files) "
            "or set R2_PUBLIC_URL so the pictures are published from the storage"
        )
    if base_url is not None and not re.fullmatch(r"https?://[^\s\"'<>]+", base_url):
        raise InvalidInput(f"the base URL {base_url!r} is not an http(s) address")
    session_name, images, products = _completed(scope, session_id, approved_only, image_ids)
    storage = backends.current().storage
    credit, signing = _client_delivery(scope, session_id)
    links: dict[uuid.UUID, list[tuple[str, str]]] = {}  # product -> (address, file name)

    def _provider_original(image: GeneratedImage) -> tuple[bytes, str] | None:
        """The provider's signed bytes of the image and their MIME type, when kept."""
        prefix = keys.provider_image_prefix(image.client_id, image.studio_session_id, image.id)
        for key in storage.list(prefix):
            return storage.get(key), _MIMES.get(key.rsplit(".", 1)[-1], "image/jpeg")
        return None

    answer = DeliveryCheck(preset=chosen.describe() if chosen else "stored", images=len(images))

    def picture(image: GeneratedImage) -> tuple[bytes, int, int, str, list[Finding]]:
        assert image.image_key is not None
        data = storage.get(image.image_key)
        stamp = _stamp_for(image, data, credit)
        product = products.get(image.product_id)
        sku = product.sku if product else "product"
        as_made = chosen is None or chosen.format == "original"
        provider = _provider_original(image) if as_made or signing else None
        if chosen is not None and chosen.format == "original" and provider is not None:
            width, height = _size_of(provider[0])  # the provider's signed bytes, untouched
            return provider[0], width, height, _KINDS[provider[1]], []
        found: list[Finding] = []
        if chosen is None or chosen.format == "original":
            encoded, width, height = _as_made(data, stamp)
            kind = "jpeg" if encoded[:2] == b"\xff\xd8" else "png"
        else:
            found = _findings(image, data, chosen, sku)
            if any(f.refused for f in found):
                return b"", 0, 0, chosen.format, found  # refused before it is converted
            encoded, width, height = render(data, chosen, stamp, focus=_focus(image))
            kind = chosen.format
        if signing is not None:
            encoded = content_credentials.sign(
                encoded,
                kind,
                signing,
                title=f"{sku} variant {image.variant + 1}",
                source_type=stamp.source_type,
                ingredient=provider,
                resized=(width, height) != _size_of(provider[0]) if provider else False,
            )
        rules = chosen.rules if chosen is not None else None
        too_big = judge_bytes(
            len(encoded), rules=rules, size=_size_of(data), sku=sku, image=image.id.hex[:8]
        )
        return encoded, width, height, kind, [*found, *([too_big] if too_big else [])]

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
            for n, (image, (data, width, height, kind, found)) in enumerate(
                _in_order(images, picture, workers), start=1
            ):
                answer.refusals += [f for f in found if f.refused]
                answer.warnings += [f for f in found if not f.refused]
                if answer.refusals:
                    continue  # the set is refused: the rest is only checked
                product: Product | None = products.get(image.product_id)
                sku = product.sku if product else "product"
                if chosen is None:
                    name = _file_name(sku, image)
                else:
                    base = _preset_name(
                        chosen, image, sku, product.name if product else "", session_name, n
                    )
                    name = _unique(base, _EXTENSIONS[kind], taken)
                archive.writestr(name, data)
                if feed is not None:
                    links.setdefault(image.product_id, []).append(
                        (_publish(storage, image, name, data, kind, base_url), name)
                    )
                row = _manifest_row(name, image, sku, product.name if product else "")
                writer.writerow([spreadsheet_safe(v) for v in [*row, width, height, kind]])
            if feed is not None and not answer.refusals:
                feed_name, feed_text = _feed_file(
                    scope, session_id, feed, chosen, products, links, session_name
                )
                archive.writestr(feed_name, feed_text)
            archive.writestr("manifest.csv", manifest.getvalue())
        if answer.refusals:
            raise InvalidInput(answer.message() + ". Nothing was written.")
        os.replace(temp_name, out)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    result: dict[str, Any] = {"images": len(images), "path": str(out)}
    if chosen is not None:
        result["preset"] = chosen.model_dump()
        result["warnings"] = [f.sentence() for f in answer.warnings]
    if feed is not None:
        result["feed"] = FEEDS[feed]
    return result


def _publish(
    storage: Any, image: GeneratedImage, name: str, data: bytes, kind: str, base_url: str | None
) -> str:
    """The address a store fetches the delivered file from: under ``base_url``, or stored
    under the session's media and linked at the storage's public address."""
    if base_url:
        return f"{base_url.rstrip('/')}/{quote(name)}"
    key = keys.session_media(image.client_id, image.studio_session_id, f"delivery-{name}")
    storage.put(key, data, content_type=f"image/{kind}")
    address: str = storage.url(key)
    return address


def _feed_file(
    scope: Scope,
    session_id: uuid.UUID | str,
    feed: str,
    chosen: DeliveryPreset | None,
    products: dict[uuid.UUID, Product],
    links: dict[uuid.UUID, list[tuple[str, str]]],
    session_name: str,
) -> tuple[str, str]:
    """The feed's file name and text, one entry per product with delivered pictures."""
    with unit_of_work() as db:
        session = load_session(db, scope, session_id)
        rooms = {str(s.get("id")): s.get("room_type") for s in session.scenes or []}
        scene_of = dict(session.matches or {}) if isinstance(session.matches, dict) else {}
        photos = repo.images_of(db, list(links))
        sources = {
            pid: [
                i.source_name
                for i in rows
                if i.source_name and i.source_name.startswith(("http://", "https://"))
            ]
            for pid, rows in photos.items()
        }
    items = []
    for product_id, delivered in links.items():
        product = products.get(product_id)
        if product is None:
            continue
        ids = product.source_ids or {}
        analysis = product.analysis or {}
        match = scene_of.get(str(product_id))
        scene_id = match.get("scene_id") if isinstance(match, dict) else None
        room = rooms.get(str(scene_id)) or next(iter(analysis.get("room_types") or []), None)
        alt = feeds.alt_text(
            product.name,
            colors=analysis.get("colors") or product.colors or [],
            materials=analysis.get("materials") or product.materials or [],
            room=room,
        )
        items.append(
            feeds.FeedItem(
                sku=product.sku,
                title=product.name,
                merchant_ids=list(ids.get("ids") or []) if ids.get("format") == "merchant" else [],
                handle=ids.get("handle"),
                photos=sources.get(product_id, []),
                pictures=[(address, alt) for address, _ in delivered],
            )
        )
    items.sort(key=lambda item: item.sku)
    column = (
        "additional_image_link"
        if chosen is not None and chosen.store == "merchant-additional"
        else "lifestyle_image_link"
    )
    if feed == "merchant-tsv":
        return FEEDS[feed], feeds.merchant_tsv(items, column, spreadsheet_safe)
    if feed == "merchant-xml":
        return FEEDS[feed], feeds.merchant_xml(items, column, channel_title=session_name)
    return FEEDS[feed], feeds.shopify_csv(items, spreadsheet_safe)
