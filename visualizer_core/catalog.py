"""Reading a product catalog (CSV file or pandas DataFrame) into validated rows.

Pure parsing and validation: nothing here touches the database or storage. Rows are numbered
from 1 (the first data row); a row that cannot be used carries its reason instead of a product.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import ProductCreate

__all__ = ["COLUMNS", "CatalogRow", "read_csv", "read_records", "resolve_image"]

COLUMNS = ("sku", "name", "category", "description", "colors", "materials", "dimensions", "image")
REQUIRED = ("sku", "name")
MAX_CSV_BYTES = 50 * 1024 * 1024


@dataclass
class CatalogRow:
    """One data row: the product it describes, or why it cannot be used."""

    row: int
    product: ProductCreate | None = None
    error: str | None = None
    image_paths: list[Path] = field(default_factory=list)


def _split_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value)
    separator = "|" if "|" in text else ","
    return [part.strip() for part in text.split(separator) if part.strip()]


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(x) for x in item["loc"]) or "row"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _validate(row: int, record: Mapping[str, Any]) -> CatalogRow:
    values = {k: (None if _blank(v) else v) for k, v in record.items()}
    missing = [name for name in REQUIRED if values.get(name) is None]
    if missing:
        return CatalogRow(row, error=f"missing {' and '.join(missing)}")
    try:
        product = ProductCreate(
            sku=str(values["sku"]),
            name=str(values["name"]),
            category=None if values.get("category") is None else str(values["category"]),
            description=None if values.get("description") is None else str(values["description"]),
            colors=_split_list(values.get("colors")),
            materials=_split_list(values.get("materials")),
            dimensions=None if values.get("dimensions") is None else str(values["dimensions"]),
            images=[p for p in (_split_images(values.get("image")))],
        )
    except ValidationError as error:
        return CatalogRow(row, error=_explain(error))
    return CatalogRow(row, product=product)


def _split_images(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split("|") if part.strip()]


def _mark_duplicates(rows: list[CatalogRow]) -> list[CatalogRow]:
    first_seen: dict[str, int] = {}
    for row in rows:
        if row.product is None:
            continue
        earlier = first_seen.get(row.product.sku)
        if earlier is not None:
            row.error = f"sku {row.product.sku!r} appears again (first in row {earlier})"
            row.product = None
        else:
            first_seen[row.product.sku] = row.row
    return rows


def read_csv(path: Path) -> list[CatalogRow]:
    """Parse and validate a catalog CSV (UTF-8, a header row with the contract's columns)."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read the catalog ({error.strerror})") from None
    if size > MAX_CSV_BYTES:
        raise InvalidInput(f"{path}: the catalog is {size} bytes; the limit is {MAX_CSV_BYTES}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {error.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(f"{path}: the catalog is empty") from None
    except csv.Error as error:
        raise InvalidInput(f"{path}: not a CSV file ({error})") from None
    names = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InvalidInput(f"{path}: missing column(s) {', '.join(missing)} in the header")
    rows: list[CatalogRow] = []
    number = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            number += 1
            rows.append(CatalogRow(number, error=f"unreadable CSV ({error})"))
            continue
        if not any(c.strip() for c in cells):
            continue  # blank line
        number += 1
        if len(cells) != len(names):
            rows.append(
                CatalogRow(number, error=f"has {len(cells)} fields, the header has {len(names)}")
            )
            continue
        rows.append(_validate(number, dict(zip(names, cells, strict=True))))
    return _mark_duplicates(rows)


def read_records(records: Iterable[Mapping[str, Any]]) -> list[CatalogRow]:
    """Validate rows given as mappings (``DataFrame.to_dict('records')``)."""
    rows = []
    for number, record in enumerate(records, start=1):
        lowered = {str(k).strip().lower(): v for k, v in record.items()}
        if "images" in lowered and "image" not in lowered:
            lowered["image"] = lowered.pop("images")
        rows.append(_validate(number, lowered))
    return _mark_duplicates(rows)


def resolve_image(images_dir: Path, name: str) -> Path:
    """The photo ``name`` inside ``images_dir``; refuses paths that leave it or do not exist."""
    if "://" in name:
        raise InvalidInput(
            f"{name}: remote images are not fetched; download it into the images folder"
        )
    root = images_dir.resolve()
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root):
        raise InvalidInput(f"{name}: the path leaves the images folder")
    if not candidate.is_file():
        raise InvalidInput(f"{name}: no such file in {images_dir}")
    return candidate
