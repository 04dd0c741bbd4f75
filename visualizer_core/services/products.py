"""Products: catalog import (CSV or DataFrame), photo upload, listing.

Import is idempotent by ``sku``: a row whose sku exists updates the product. Each row lands
whole or not at all: its photos are decoded and validated first (in parallel, on every core),
their derivatives are stored under fresh keys, and only then one short transaction writes the
product and its ``product_image`` rows; if that fails, the objects just written are deleted.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import sys
import tempfile
import types
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from visualizer_core import backends
from visualizer_core.catalog import (
    CatalogRow,
    is_url,
    read_catalog_file,
    read_records,
    resolve_image,
)
from visualizer_core.db import repo
from visualizer_core.db.base import utcnow
from visualizer_core.db.models import Product, ProductImage, StudioSession
from visualizer_core.errors import InvalidInput, VisualizerError
from visualizer_core.images.fetch import download_all
from visualizer_core.images.ingest import IngestedImage, ingest_file, ingest_image
from visualizer_core.schemas import PhotoState
from visualizer_core.scope import Action, Scope
from visualizer_core.services._uow import (
    client_in_scope,
    client_row,
    in_scope,
    own_client,
    parse_id,
    search_text,
    unit_of_work,
)
from visualizer_core.storage import keys

__all__ = [
    "ImportReport",
    "ProductRead",
    "add_product_photo",
    "get_product",
    "import_products",
    "list_products",
]

# Below this many photos, a process pool costs more than it saves.
_PARALLEL_FROM = 8


@dataclass
class ImportReport:
    """What an import did. ``failed`` counts rows not stored; ``errors`` names them and every
    photo that could not be stored (``{"row", "error", "url"}``; its product landed with
    ``photo_state`` missing when it has no other photo). ``photos_missing`` counts those
    photos, ``hosts_down`` the hosts given up on (``{"host", "reason", "photos"}``: after the
    first failures, the rest of a dead host's photos fail fast with the same reason)."""

    imported: int = 0
    updated: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    product_ids: list[str] = field(default_factory=list)
    photos_fetched: int = 0
    photos_kept: int = 0
    photos_missing: int = 0
    hosts_down: list[dict[str, Any]] = field(default_factory=list)
    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None

    @property
    def stored(self) -> int:
        """Products written by this import (new or updated)."""
        return self.imported + self.updated

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ProductRead:
    id: uuid.UUID
    client_id: uuid.UUID
    sku: str
    name: str
    category: str | None
    description: str | None
    colors: list[str]
    materials: list[str]
    dimensions: str | None
    analysis: dict[str, Any] | None
    image_ids: list[uuid.UUID]
    base_keys: list[str]
    preview_keys: list[str]
    thumbnail_keys: list[str]
    source_ids: dict[str, Any] = field(default_factory=dict)
    """Its identifiers in the catalog it came from (:class:`~visualizer_core.schemas.SourceIds`
    as JSON; empty for a product imported before they were kept)."""
    photo_errors: list[dict[str, str]] = field(default_factory=list)
    """The photos of its last import that could not be stored: ``{"url", "reason"}``."""

    @property
    def photo_state(self) -> PhotoState:
        """``ok`` when it has a stored photo to picture, else ``missing``."""
        return PhotoState.OK if self.image_ids else PhotoState.MISSING

    @property
    def rooms(self) -> list[str]:
        """The room types its analysis put it in, best first (empty before analysis)."""
        return list((self.analysis or {}).get("room_types") or [])

    @property
    def missing_photo_reason(self) -> str | None:
        """Why it has no photo, for a person; None when it has one."""
        return None if self.image_ids else no_photo_reason(self.photo_errors)

    def listing(self) -> dict[str, Any]:
        """What ``visualizer products list`` prints for it."""
        return {
            "id": str(self.id),
            "sku": self.sku,
            "name": self.name,
            "category": self.category,
            "rooms": self.rooms,
            "photo_state": self.photo_state.value,
            "photo_errors": self.photo_errors,
            "source_ids": self.source_ids,
        }


def no_photo_reason(photo_errors: Sequence[Mapping[str, str]] | None) -> str:
    """Why a product has no photo to picture, for a person: the first photo that could not be
    stored and its reason, or that the catalog named none."""
    if photo_errors:
        first = photo_errors[0]
        more = len(photo_errors) - 1
        extra = f" (and {more} more photo(s))" if more else ""
        return (
            f"its photo {first['url']} could not be stored: {first['reason']}{extra}; "
            "upload one or import again"
        )
    return "it has no photo: upload one, then generate it again"


def _read(product: Product, images: list[ProductImage]) -> ProductRead:
    return ProductRead(
        id=product.id,
        client_id=product.client_id,
        sku=product.sku,
        name=product.name,
        category=product.category,
        description=product.description,
        colors=list(product.colors or []),
        materials=list(product.materials or []),
        dimensions=product.dimensions,
        analysis=product.analysis,
        image_ids=[i.id for i in images],
        base_keys=[i.base_key for i in images],
        preview_keys=[i.preview_key for i in images],
        thumbnail_keys=[i.thumbnail_key for i in images],
        source_ids=dict(product.source_ids or {}),
        photo_errors=list(product.photo_errors or []),
    )


# -- ingest ------------------------------------------------------------------------------------


class _Ingest:
    """Photos being ingested on every core; results are taken in the order rows need them.

    Rows land (storage writes and their transaction) while later photos are still being
    ingested, so the two overlap instead of running one after the other.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        unique = list(dict.fromkeys(paths))
        self._pool: cf.ProcessPoolExecutor | None = None
        self._futures: dict[Path, cf.Future[IngestedImage | str]] = {}
        self._done: dict[Path, IngestedImage | str] = {}
        if len(unique) < _PARALLEL_FROM:
            self._done = {p: ingest_file(str(p)) for p in unique}
            return
        # "spawn": forking a process that runs worker threads and holds connections is unsafe.
        context = multiprocessing.get_context("spawn")
        workers = min(os.cpu_count() or 1, 8)
        self._pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=context)
        with _no_main_script():  # the processes start with the first submits
            self._futures = {p: self._pool.submit(ingest_file, str(p)) for p in unique}

    def result(self, path: Path) -> IngestedImage | str:
        if path not in self._done:
            self._done[path] = self._futures.pop(path).result()
        return self._done[path]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _no_main_script() -> Iterator[None]:
    """Spawned processes start without re-running the parent's ``__main__`` script.

    A spawned child runs the file of ``sys.modules["__main__"]`` before its task. In the
    studio that module is the page script Streamlit is running (Streamlit installs each run's
    module as ``__main__``), so every ingest process would run the studio's page, or fail
    (an ``AppTest`` script needs arguments only its runner has). ``ingest_file`` is found by
    its module's name, so the children need no main at all.
    """
    previous = sys.modules.get("__main__")
    blank = types.ModuleType("__main__")
    sys.modules["__main__"] = blank
    try:
        yield
    finally:
        if sys.modules.get("__main__") is blank:  # a script run may have installed its own
            if previous is None:
                del sys.modules["__main__"]
            else:
                sys.modules["__main__"] = previous


@dataclass
class _Planned:
    row: CatalogRow
    # (source name, derivatives); None keeps the product's stored photo of that source
    photos: list[tuple[str, IngestedImage | None]]


def _store_photo(
    client_id: uuid.UUID, product_id: uuid.UUID, photo: IngestedImage, position: int, source: str
) -> ProductImage:
    """Write a photo's three derivatives under a fresh image id; the row is not yet added."""
    storage = backends.current().storage
    image_id = uuid.uuid4()
    base = keys.product_base(client_id, product_id, image_id)
    preview = keys.product_preview(client_id, product_id, image_id)
    thumb = keys.product_thumbnail(client_id, product_id, image_id)
    written: list[str] = []
    try:
        for key, data, kind in (
            (base, photo.base_png, "image/png"),
            (preview, photo.preview_jpeg, "image/jpeg"),
            (thumb, photo.thumbnail_jpeg, "image/jpeg"),
        ):
            storage.put(key, data, content_type=kind)
            written.append(key)
    except BaseException:
        _delete_quietly(written)
        raise
    public = backends.current().settings.r2_public_url
    return ProductImage(
        id=image_id,
        client_id=client_id,
        product_id=product_id,
        position=position,
        base_key=base,
        preview_key=preview,
        thumbnail_key=thumb,
        image_url=storage.url(preview) if public else None,
        source_name=source,
        sha256=photo.sha256,
        width=photo.width,
        height=photo.height,
        has_alpha=photo.has_alpha,
        background_removed=photo.background_removed,
    )


def _delete_quietly(object_keys: Iterable[str]) -> None:
    """Best effort: an orphan object is harmless, a lost row is not."""
    storage = backends.current().storage
    for key in object_keys:
        with contextlib.suppress(VisualizerError):
            storage.delete(key)


def _delete_photos(rows: Iterable[ProductImage]) -> None:
    """The stored derivatives of these photos, quietly."""
    _delete_quietly(k for r in rows for k in (r.base_key, r.preview_key, r.thumbnail_key))


def _land_row(
    client_id: uuid.UUID, planned: _Planned, existing: Product | None
) -> tuple[uuid.UUID, bool]:
    """Store one row's photos and write it in one transaction. Returns (product id, created)."""
    product_data = planned.row.product
    assert product_data is not None
    product_id = existing.id if existing is not None else uuid.uuid4()
    known = {}
    if existing is not None:
        with unit_of_work() as db:
            known = {img.sha256: img.id for img in repo.images_of(db, [product_id])[product_id]}
    new_rows: list[ProductImage] = []
    try:
        for position, (source, photo) in enumerate(planned.photos):
            if photo is None or photo.sha256 in known:
                continue
            new_rows.append(_store_photo(client_id, product_id, photo, position, source))
        stale: list[ProductImage] = []
        with unit_of_work() as db:
            product = repo.get(db, Product, product_id, client_id=client_id) if existing else None
            if product is None:
                product = Product(id=product_id, client_id=client_id, sku=product_data.sku, name="")
                db.add(product)
            product.name = product_data.name
            product.category = product_data.category
            product.description = product_data.description
            product.colors = product_data.colors
            product.materials = product_data.materials
            product.dimensions = product_data.dimensions
            if product_data.source_ids is not None:
                product.source_ids = product_data.source_ids.model_dump(mode="json")
            product.photo_errors = list(planned.row.photo_errors) or None
            if existing is not None and (
                existing.name != product_data.name
                or existing.category != product_data.category
                or existing.description != product_data.description
            ):
                product.analysis = None  # the text changed: analyse again
                product.analyzed_at = None
            if planned.photos:
                wanted = {
                    photo.sha256: pos
                    for pos, (_, photo) in enumerate(planned.photos)
                    if photo is not None
                }
                kept = {src: pos for pos, (src, photo) in enumerate(planned.photos) if not photo}
                for image in repo.images_of(db, [product_id])[product_id]:
                    if image.sha256 in wanted:
                        image.position = wanted[image.sha256]
                    elif image.source_name in kept:
                        image.position = kept[image.source_name or ""]
                    else:
                        stale.append(image)
                        repo.remove_product_image(db, image)
            db.add_all(new_rows)
            product.updated_at = utcnow()
            db.flush()
    except BaseException:
        _delete_photos(new_rows)
        raise
    _delete_photos(stale)
    return product_id, existing is None


# Stands for "the product already has this photo": nothing to download or ingest.
_KEEP = Path("")


def _plan(
    rows: list[CatalogRow],
    images_dir: Path | None,
    stored_sources: Mapping[str, set[str]],
) -> list[str]:
    """Resolve each row's local photos; return the URLs still to download.

    A URL the product already has a stored photo from is kept, not fetched again, so
    importing a catalog again fetches only the photos not yet stored. A photo file that
    cannot be used (not in the images folder, or outside it) is left out of its row and named
    in the row's ``photo_errors``; the product lands without it.
    """
    urls: list[str] = []
    for row in rows:
        if row.product is None or not row.product.images:
            continue
        stored = stored_sources.get(row.product.sku, set())
        images: list[str] = []
        paths: list[Path] = []
        for name in row.product.images:
            if not is_url(name):
                try:
                    if images_dir is None:
                        raise InvalidInput("a photo file is named but no images folder was given")
                    paths.append(resolve_image(images_dir, name))
                except InvalidInput as error:
                    row.photo_errors.append({"url": name, "reason": str(error)})
                    continue
            elif name in stored:
                paths.append(_KEEP)
            else:
                paths.append(Path(name))  # replaced by the downloaded file
                urls.append(name)
            images.append(name)
        row.product.images, row.image_paths = images, paths
    return urls


def _fetch(
    rows: list[CatalogRow],
    urls: list[str],
    folder: Path,
    progress: Callable[[int, int], None] | None,
    report: ImportReport,
) -> None:
    """Download the rows' photo URLs. A photo that fails is left out of its row and named in
    the row's ``photo_errors``: the product still lands, with the photos that came."""
    found = download_all(urls, folder, progress=progress)
    report.photos_fetched = sum(1 for d in found.values() if d.path is not None)
    down: dict[str, dict[str, Any]] = {}
    for result in found.values():
        if result.host_down:
            entry = down.setdefault(
                result.host, {"host": result.host, "reason": result.error, "photos": 0}
            )
            entry["photos"] += 1
    report.hosts_down = list(down.values())
    for row in rows:
        if row.product is None:
            continue
        images: list[str] = []
        paths: list[Path] = []
        for name, path in zip(row.product.images, row.image_paths, strict=True):
            if is_url(name) and path != _KEEP:
                result = found[name]
                if result.path is None:
                    row.photo_errors.append({"url": name, "reason": result.error or "failed"})
                    continue
                path = result.path
            images.append(name)
            paths.append(path)
        row.product.images, row.image_paths = images, paths


def import_products(
    scope: Scope,
    *,
    client_id: uuid.UUID | str,
    csv_path: Path | None = None,
    records: Iterable[Mapping[str, Any]] | None = None,
    images_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    per_colour: bool = False,
) -> ImportReport:
    """Import a catalog from a file or from records (a DataFrame's ``to_dict('records')``) in
    any format :mod:`visualizer_core.catalog` reads: our CSV, a Shopify product export, a
    Google Merchant Center feed (TSV, CSV, RSS or Atom XML).

    Bad rows are reported with their row number and reason and leave nothing behind; good rows
    land whole. Photo paths are relative to ``images_dir`` (the file's folder by default) and
    may not leave it; ``http(s)`` photo URLs are downloaded (see
    :mod:`visualizer_core.images.fetch`), ``progress(done, total)`` called after each, and a
    photo that fails makes its row an error naming the URL and the reason.
    """
    scope.require(Action.EDIT)
    cid = own_client(scope, client_id)
    if (csv_path is None) == (records is None):
        raise InvalidInput("give either a CSV file or records")
    with unit_of_work() as db:
        client_row(db, scope, client_id)
    report = ImportReport()
    if csv_path is not None:
        read = read_catalog_file(Path(csv_path), per_colour=per_colour)
        rows = read.rows
        report.format, report.encoding, report.delimiter = (
            read.format,
            read.encoding,
            read.delimiter,
        )
        images_dir = images_dir or Path(csv_path).parent
    else:
        assert records is not None
        rows = read_records(records, per_colour=per_colour)
    if images_dir is not None and not Path(images_dir).is_dir():
        raise InvalidInput(f"{images_dir}: the images folder does not exist")

    with unit_of_work() as db:
        skus = [row.product.sku for row in rows if row.product]
        existing = repo.products_by_sku(db, cid, skus)
        stored = repo.images_of(db, [p.id for p in existing.values()])
        stored_sources = {
            sku: {i.source_name for i in stored[p.id] if i.source_name}
            for sku, p in existing.items()
        }
        db.expunge_all()
    urls = _plan(rows, Path(images_dir) if images_dir else None, stored_sources)
    with tempfile.TemporaryDirectory(prefix="visualizer-photos-") as folder:
        if urls:
            _fetch(rows, urls, Path(folder), progress, report)
        report.photos_kept = sum(p == _KEEP for row in rows if row.product for p in row.image_paths)
        photos = _Ingest([p for row in rows if row.product for p in row.image_paths if p != _KEEP])
        try:
            _land_rows(cid, rows, photos, existing, report)
        finally:
            photos.close()
    return report


def _land_rows(
    cid: uuid.UUID,
    rows: list[CatalogRow],
    photos: _Ingest,
    existing: Mapping[str, Product],
    report: ImportReport,
) -> None:
    for row in rows:
        if row.product is not None:
            planned: list[tuple[str, IngestedImage | None]] = []
            for name, path in zip(row.product.images, row.image_paths, strict=True):
                if path == _KEEP:
                    planned.append((name, None))
                    continue
                result = photos.result(path)
                if isinstance(result, str):  # not an image, or a damaged one
                    row.photo_errors.append({"url": name, "reason": result})
                    continue
                planned.append((name, result))
            try:
                pid, created = _land_row(cid, _Planned(row, planned), existing.get(row.product.sku))
            except VisualizerError as error:
                row.error = str(error)
            else:
                report.product_ids.append(str(pid))
                if created:
                    report.imported += 1
                else:
                    report.updated += 1
                for problem in row.photo_errors:
                    report.photos_missing += 1
                    report.errors.append(
                        {
                            "row": row.row,
                            "error": f"photo {problem['url']}: {problem['reason']}",
                            "url": problem["url"],
                            "product_id": str(pid),
                        }
                    )
                continue
        report.failed += 1
        entry: dict[str, Any] = {"row": row.row, "error": row.error or "invalid row"}
        if row.line is not None:
            entry["line"] = row.line
        report.errors.append(entry)
    report.errors.sort(key=lambda e: e["row"])


def add_product_photo(
    scope: Scope, *, product_id: uuid.UUID | str, data: bytes, filename: str
) -> ProductRead:
    """Add one uploaded photo to a product."""
    scope.require(Action.EDIT)
    with unit_of_work() as db:
        product = in_scope(db, scope, Product, product_id, "product")
        pid, client_id = product.id, product.client_id
        position = len(repo.images_of(db, [pid])[pid])
    photo = ingest_image(data, filename=filename)
    image = _store_photo(client_id, pid, photo, position, filename)
    try:
        with unit_of_work() as db:
            db.add(image)
    except BaseException:
        _delete_photos([image])
        raise
    return get_product(scope, product_id=pid)


def get_product(scope: Scope, *, product_id: uuid.UUID | str) -> ProductRead:
    scope.require(Action.READ)
    with unit_of_work() as db:
        product = in_scope(db, scope, Product, product_id, "product")
        return _read(product, repo.images_of(db, [product.id])[product.id])


def list_products(
    scope: Scope,
    *,
    client_id: uuid.UUID | str | None = None,
    session_id: uuid.UUID | str | None = None,
    product_ids: Sequence[uuid.UUID | str] | None = None,
    search: str | None = None,
    category: str | None = None,
) -> list[ProductRead]:
    """Products of the scope's client (any or the given client for the admin); with
    ``session_id``, the products of that session's client (what it generates from)."""
    scope.require(Action.READ)
    search = search_text(search)
    category = search_text(category, "category")
    ids = None if product_ids is None else [parse_id(p, "product") for p in product_ids]
    with unit_of_work() as db:
        if session_id is not None:
            session = in_scope(db, scope, StudioSession, session_id, "session")
            if client_id is not None and parse_id(client_id, "client") != session.client_id:
                raise InvalidInput("the session belongs to another client")
            cid: uuid.UUID | None = session.client_id
        else:
            cid = client_in_scope(scope, client_id)
        products = repo.list_products(db, client_id=cid, ids=ids, search=search, category=category)
        images = repo.images_of(db, [p.id for p in products])
        return [_read(p, images[p.id]) for p in products]
