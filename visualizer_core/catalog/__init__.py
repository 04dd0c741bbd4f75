"""Reading a product catalog into validated rows: the formats brands already have.

Pure parsing and validation: nothing here touches the database, storage or the network.
:func:`read_catalog_file` reads a file (its encoding and delimiter found by
:mod:`._decode` and named in the answer) and :func:`read_records` rows given as mappings (a
pandas DataFrame's ``to_dict("records")``); both detect the format by its header (or, for XML,
its root element):

===============================  ==========================================================
format                           recognised by
===============================  ==========================================================
Shopify product export CSV       ``Handle`` with ``Title``, ``Body (HTML)`` or ``Variant SKU``
WooCommerce product export CSV   ``ID``, ``Type`` and ``Name`` in any language of
                                 ``data/woocommerce-headers.toml`` (see :mod:`.woocommerce`)
our CSV                          ``sku`` and ``name``
Google Merchant Center TSV/CSV   ``id`` and ``title`` (``g:`` prefixes allowed)
Merchant Center RSS 2.0 / Atom   ``<rss>`` or ``<feed>`` with items in the ``g:`` namespace
===============================  ==========================================================

Every format becomes the same rows: ``sku, name, category, description, colors, materials,
dimensions, images`` (paths or ``http(s)`` URLs), plus the product's identifiers in its source
(:class:`~visualizer_core.schemas.SourceIds`). A product spread over rows is one product:
Shopify's rows by ``Handle``, WooCommerce's variations into their parent, Merchant Center's
items by ``item_group_id`` (their colours, sizes, patterns and materials as its variants; one
picture per group, or per colour with ``per_colour``). A Google product taxonomy category
given by the catalog (``google_product_category`` as id or path, Shopify's ``Product
Category`` or its Google Shopping column) becomes the row's category path, so the analysis
takes it as given; a path Google's list does not have is kept as the catalog's own category
text for the classifier; ``product_type``/``Type`` is the category text otherwise, and tags
join the description for the classifier to read.

Rows are numbered from 1 (the first data row; a Shopify product by the row it starts on; an
XML item by its position) and carry the line they start on; a row that cannot be used carries
its reason instead of a product, naming the line, the column and what to do. Text with NUL or
other control characters is a row error (PostgreSQL cannot store NUL, and nothing in a
catalog needs them); a quote that is never closed is reported on the row it opens, never by
silently swallowing the rows after it.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeXML
from defusedxml import DefusedXmlException
from pydantic import ValidationError

from visualizer_core.catalog import woocommerce
from visualizer_core.catalog._decode import decode, delimiter_name, delimiter_of
from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import ProductCreate, SourceIds

__all__ = [
    "COLUMNS",
    "FORMATS",
    "VARIANT_ATTRIBUTES",
    "CatalogFile",
    "CatalogRow",
    "detect_format",
    "is_url",
    "read_catalog",
    "read_catalog_file",
    "read_records",
    "resolve_image",
    "strip_html",
]

COLUMNS = ("sku", "name", "category", "description", "colors", "materials", "dimensions", "image")
REQUIRED = ("sku", "name")
FORMATS = ("visualizer", "shopify", "woocommerce", "merchant")
MAX_CSV_BYTES = 50 * 1024 * 1024
GOOGLE_NS = "http://base.google.com/ns/1.0"
VARIANT_ATTRIBUTES = ("color", "size", "pattern", "material")
"""Merchant Center's attributes that tell the items of one ``item_group_id`` apart."""

# Control characters no catalog cell needs (tab, line feed and carriage return are allowed).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class CatalogRow:
    """One data row: the product it describes, or why it cannot be used."""

    row: int
    product: ProductCreate | None = None
    error: str | None = None
    line: int | None = None
    """The line of the file the row starts on (delimited files)."""
    image_paths: list[Path] = field(default_factory=list)
    photo_errors: list[dict[str, str]] = field(default_factory=list)
    """The photos that could not be stored: ``{"url", "reason"}`` (the product still lands)."""


def is_url(name: str) -> bool:
    """Whether a photo reference is an ``http(s)`` URL rather than a file name."""
    return name.strip().lower().startswith(("http://", "https://"))


# -- values -------------------------------------------------------------------------------------


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _text(value: Any) -> str | None:
    """The value as text, verbatim (a catalog's spacing is its own), or None when blank."""
    return None if _blank(value) else str(value)


def _split_list(value: Any, separators: str = "|,") -> list[str]:
    if _blank(value):
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if not _blank(v)]
    text = str(value)
    separator = next((s for s in separators if s in text), separators[0])
    return [part.strip() for part in text.split(separator) if part.strip()]


def _control_problem(record: Mapping[str, Any]) -> str | None:
    for key, value in record.items():
        if key.startswith("_"):
            continue  # the reader's own notes, not catalog text
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, str) and (found := _CONTROL.search(item)):
                return (
                    f"{key}: contains the control character U+{ord(found.group()):04X}; "
                    "remove it and import again"
                )
    return None


def _explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(x) for x in item["loc"]) or "row"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


class _Text(HTMLParser):
    """Visible text of an HTML fragment, block elements as line breaks."""

    _BLOCKS = frozenset({"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4", "tr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_html(value: str | None) -> str | None:
    """Plain text from a description written in HTML (Shopify's ``Body (HTML)``)."""
    if value is None or "<" not in value:
        return html.unescape(value).strip() if value else value
    parser = _Text()
    parser.feed(value)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line) or None


def _taxonomy_path(value: Any) -> tuple[str | None, str | None]:
    """(path, problem) for a catalog's own Google taxonomy category (id or path)."""
    text = _text(value)
    if text is None:
        return None, None
    text = text.strip()
    from visualizer_core import taxonomy  # the taxonomy's data is loaded on first use

    if text.startswith("gid://shopify/TaxonomyCategory/"):
        return None, None  # Shopify's own taxonomy id: its name column says more
    found = taxonomy.category(text)
    if found is not None:
        return found.path, None
    if text.isdigit():
        return None, f"google_product_category: {text} is not a Google product taxonomy id"
    return None, None


# -- the common row -----------------------------------------------------------------------------


def _validate(row: int, record: Mapping[str, Any]) -> CatalogRow:
    """A row in our columns (plus ``google_product_category`` and ``tags``) as a product."""
    problem = _control_problem(record)
    if problem:
        return CatalogRow(row, error=problem)
    values = {k: (None if _blank(v) else v) for k, v in record.items() if not k.startswith("_")}
    missing = [name for name in REQUIRED if values.get(name) is None]
    if missing:
        return CatalogRow(row, error=f"missing {' and '.join(missing)}")
    google = _text(values.get("google_product_category"))
    path, problem = _taxonomy_path(google)
    if problem:
        return CatalogRow(row, error=problem)
    category = path or _text(values.get("category"))
    description = _text(values.get("description"))
    if record.get("_html"):
        description = strip_html(description)
    if path is None and google and not google.strip().startswith("gid://"):
        # A category path Google's list does not have (a newer version, a store's own
        # taxonomy): the catalog's own text, for the classifier to match, not dropped.
        own_type = category
        category = google.strip()
        if own_type and own_type != category:
            description = f"{description or ''}\nProduct type: {own_type}".strip()
    tags = _split_list(values.get("tags"), ",|")
    if tags:
        description = f"{description or ''}\nTags: {', '.join(tags)}".strip()
    try:
        product = ProductCreate(
            sku=str(values["sku"]),
            name=str(values["name"]),
            category=category,
            description=description,
            colors=_split_list(values.get("colors")),
            materials=_split_list(values.get("materials")),
            dimensions=_text(values.get("dimensions")),
            images=list(dict.fromkeys(_split_list(values.get("image"), "|"))),
            source_ids=record.get("_source_ids")
            or SourceIds(format="visualizer", sku=str(values["sku"])),
        )
    except ValidationError as error:
        return CatalogRow(row, error=_explain(error))
    return CatalogRow(row, product=product)


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


# -- formats ------------------------------------------------------------------------------------


def _key(name: str) -> str:
    key = name.strip().lower().lstrip("\ufeff")
    return key[2:] if key.startswith("g:") else key


def detect_format(columns: Iterable[str]) -> str:
    """``visualizer``, ``shopify``, ``woocommerce`` or ``merchant`` from a header;
    :class:`InvalidInput` naming the columns each format needs when none matches."""
    headers = list(columns)
    keys = {_key(c) for c in headers}
    if "handle" in keys and keys & {"title", "body (html)", "variant sku", "image src"}:
        return "shopify"
    if woocommerce.looks_like(headers):
        return "woocommerce"
    if {"sku", "name"} <= keys:
        return "visualizer"
    if keys & {"sku", "name"} and not keys & {"handle", "id"}:
        missing = [c for c in REQUIRED if c not in keys]
        raise InvalidInput(
            f"missing column(s) {', '.join(missing)} in the header; add them and import again"
        )
    if {"id", "title"} <= keys:
        return "merchant"
    raise InvalidInput(
        "the header names no catalog format this reads: our CSV needs sku and name; a Shopify "
        "product export Handle and Title; a WooCommerce export ID, Type and Name (in any of "
        "its languages); a Google Merchant Center feed id and title"
    )


def _recognised(header: list[str]) -> bool:
    try:
        detect_format(header)
    except InvalidInput:
        return False
    return True


def _merchant_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A Merchant Center item (its attribute names, ``g:`` dropped) in our columns."""
    item = {k.replace(" ", "_"): v for k, v in raw.items()}  # "image link" in some sheets
    images = _split_list(item.get("image_link"), "|")
    extra = item.get("additional_image_link")
    images += _split_list(extra, "," if isinstance(extra, str) else "|")
    title = _text(item.get("title"))
    return {
        "sku": item.get("id"),
        "name": title,
        "category": _text(item.get("product_type")),
        "google_product_category": item.get("google_product_category"),
        "description": strip_html(_text(item.get("description"))),
        "colors": _split_list(item.get("color"), "/,|"),
        "materials": _split_list(item.get("material"), "/,|"),
        "dimensions": _text(item.get("size")) or _dimensions(item),
        "image": images,
        "_source_ids": SourceIds(
            format="merchant",
            ids=[str(item["id"]).strip()] if _text(item.get("id")) else [],
            item_group_id=(_text(item.get("item_group_id")) or "").strip() or None,
        ),
        "_variant": {
            attribute: value.strip()
            for attribute in VARIANT_ATTRIBUTES
            if isinstance(value := item.get(attribute), str) and value.strip()
        },
    }


def _common_title(titles: list[str]) -> str:
    """The name a group of variants shares: the words their titles begin with ("Veer, Black"
    and "Veer, Graphite" are "Veer"), or the first title when they share too little."""
    first = titles[0]
    if all(t == first for t in titles):
        return first
    split = [re.findall(r"\S+\s*", t) for t in titles]
    shared: list[str] = []
    for words in zip(*split, strict=False):
        if any(w.strip() != words[0].strip() for w in words):
            break
        shared.append(words[0])
    name = "".join(shared).strip().rstrip("-\u2013\u2014,/|:;(").strip()
    return name if len(name) >= 3 else first


def _merchant_groups(
    numbered: list[tuple[int, dict[str, Any]]], *, per_colour: bool
) -> list[tuple[int, dict[str, Any]]]:
    """Items sharing an ``item_group_id`` as one product with its variants: its sku is the
    group's id, its name the words the titles share, its colours and materials every
    variant's, its sizes and patterns in its dimensions and its source ids; its picture the
    first item's (``per_colour``: one product, and picture, per colour of a group)."""
    records = [(n, _merchant_record(r)) for n, r in numbered]
    groups: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    out: list[tuple[int, dict[str, Any]]] = []
    for number, record in records:
        group = record["_source_ids"].item_group_id
        if not group or not _text(record.get("sku")):
            out.append((number, record))
            continue
        colour = record["_variant"].get("color", "")
        key = f"{group}/{colour}" if per_colour and colour else group
        groups.setdefault(key, []).append((number, record))
    for key, items in groups.items():
        first = items[0][1]
        variants = [{"id": str(r["sku"]), **r["_variant"]} for _, r in items]
        sizes = list(dict.fromkeys(v["size"] for v in variants if v.get("size")))
        patterns = list(dict.fromkeys(v["pattern"] for v in variants if v.get("pattern")))
        merged = {
            **first,
            "sku": key,
            "name": _common_title([str(r.get("name") or "") for _, r in items]) or first["name"],
            "colors": list(dict.fromkeys(c for _, r in items for c in r["colors"])),
            "materials": list(dict.fromkeys(m for _, r in items for m in r["materials"])),
            "dimensions": "; ".join(
                part
                for part in (
                    f"sizes {', '.join(sizes)}" if len(sizes) > 1 else first["dimensions"],
                    f"patterns {', '.join(patterns)}" if patterns else None,
                )
                if part
            )
            or None,
            "_source_ids": first["_source_ids"].model_copy(
                update={
                    "ids": [i for _, r in items for i in r["_source_ids"].ids],
                    "variants": variants,
                }
            ),
        }
        out.append((items[0][0], merged))
    out.sort(key=lambda item: item[0])
    return out


def _dimensions(item: Mapping[str, Any]) -> str | None:
    parts = [
        f"{label} {_text(item.get(key))}"
        for key, label in (
            ("product_length", "length"),
            ("product_width", "width"),
            ("product_height", "height"),
        )
        if _text(item.get(key))
    ]
    return ", ".join(parts) or None


def _shopify_records(rows: list[tuple[int, dict[str, str]]]) -> list[tuple[int, dict[str, Any]]]:
    """Shopify's rows grouped by ``Handle`` (a product spans several rows: its variants and
    its images), each group as one record in our columns, numbered by its first row."""
    groups: dict[str, list[tuple[int, dict[str, str]]]] = {}  # in the order of first rows
    out: list[tuple[int, dict[str, Any]]] = []
    for number, row in rows:
        handle = (row.get("handle") or "").strip()
        if not handle:
            out.append((number, {"_error": "missing Handle"}))
            continue
        groups.setdefault(handle, []).append((number, row))
    for handle, group in groups.items():
        first = group[0][1]
        main = next((r for _, r in group if (r.get("title") or "").strip()), first)
        skus = [r.get("variant sku", "").strip() for _, r in group]
        images: list[tuple[float, int, str]] = []
        for index, (_, r) in enumerate(group):
            src = (r.get("image src") or "").strip()
            if src:
                try:
                    position = float(r.get("image position") or "inf")
                except ValueError:
                    position = math.inf
                images.append((position, index, src))
            variant = (r.get("variant image") or "").strip()
            if variant:
                images.append((math.inf, 1000 + index, variant))
        options: dict[str, list[str]] = {"colors": [], "materials": []}
        for _, r in group:
            for n in (1, 2, 3):
                option = (r.get(f"option{n} name") or main.get(f"option{n} name") or "").lower()
                value = (r.get(f"option{n} value") or "").strip()
                if value and option in ("color", "colour"):
                    options["colors"].append(value)
                elif value and option == "material":
                    options["materials"].append(value)
        # Shopify's Product Category (its own taxonomy's path) or the Google category of the
        # Google Shopping channel: the one Google's taxonomy knows, else the first given.
        given = [
            _text(main.get(c))
            for c in ("product category", "google shopping / google product category")
        ]
        given = [g for g in given if g]
        google = next((g for g in given if _taxonomy_path(g)[0]), given[0] if given else None)
        record: dict[str, Any] = {
            "sku": next((s for s in skus if s), handle),
            "name": main.get("title"),
            "category": _text(main.get("type")),
            "google_product_category": google,
            "description": strip_html(_text(main.get("body (html)"))),
            "tags": main.get("tags"),
            "colors": list(dict.fromkeys(options["colors"])),
            "materials": list(dict.fromkeys(options["materials"])),
            "image": [src for _, _, src in sorted(images)],
            "_source_ids": SourceIds(
                format="shopify",
                handle=handle,
                variant_skus=list(dict.fromkeys(s for s in skus if s)),
            ),
        }
        out.append((group[0][0], record))
    out.sort(key=lambda item: item[0])
    return out


def _records_to_rows(
    fmt: str, numbered: list[tuple[int, dict[str, Any]]], *, per_colour: bool = False
) -> list[CatalogRow]:
    rows: list[CatalogRow] = []
    if fmt == "shopify":
        for number, record in _shopify_records(numbered):
            if "_error" in record:
                rows.append(CatalogRow(number, error=record["_error"]))
            else:
                rows.append(_validate(number, record))
    elif fmt == "merchant":
        rows = [_validate(n, r) for n, r in _merchant_groups(numbered, per_colour=per_colour)]
    elif fmt == "woocommerce":
        rows = [_validate(n, r) for n, r in woocommerce.records(numbered)]
    else:
        rows = [_validate(n, _our_aliases(dict(r))) for n, r in numbered]
    return _mark_duplicates(rows)


def _our_aliases(record: dict[str, Any]) -> dict[str, Any]:
    """Our columns under the names some exports with ``sku`` and ``name`` use (``categories``,
    ``images`` comma-separated); our own text stays verbatim."""
    if "category" not in record and "categories" in record:
        record["category"] = record["categories"]
    if "image" not in record and "images" in record:
        value = record["images"]
        record["image"] = _split_list(value, "|,") if isinstance(value, str) else value
    return record


# -- files --------------------------------------------------------------------------------------


@dataclass
class CatalogFile:
    """A catalog file as read: its rows, its format, and how its text was read (the encoding
    and, for delimited text, the delimiter: ``comma``, ``semicolon`` or ``tab``)."""

    rows: list[CatalogRow]
    format: str
    encoding: str
    delimiter: str | None = None


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_CSV_BYTES:
            raise InvalidInput(f"{path}: the catalog is {size} bytes; the limit is {MAX_CSV_BYTES}")
        return path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read the catalog ({error.strerror})") from None


def _unclosed_quote(text: str, delimiter: str) -> tuple[int, int] | None:
    """(line from 1, column from 0) where a quoted field opens that is never closed."""
    inside = False
    line = 1
    column = 0
    opened = (0, 0)
    at_field_start = True
    for i, char in enumerate(text):
        if inside:
            if char == '"':
                # "" inside quotes is an escaped quote: the next one reopens at once
                inside = False
            elif char == "\n":
                line += 1
            at_field_start = False
            continue
        if char == '"' and at_field_start:
            inside, opened = True, (line, column)
        elif char == '"' and i > 0 and text[i - 1] == '"':
            inside = True  # the second quote of "" inside a quoted field
        elif char == delimiter:
            column += 1
        elif char == "\n":
            line += 1
            column = 0
        at_field_start = char in (delimiter, "\n", "\r")
    return opened if inside else None


def _column_name(header: list[str], index: int) -> str:
    return header[index].strip().lstrip("\ufeff") if 0 <= index < len(header) else f"#{index + 1}"


def _unclosed_message(header: list[str], where: tuple[int, int]) -> str:
    line, column = where
    return (
        f"line {line}, column {_column_name(header, column)}: a quote opens there and is never "
        "closed, so the rest of the file cannot be read; close the quote (or export the file "
        "again) and import again"
    )


def _read_delimited(
    path: Path, text: str, *, per_colour: bool
) -> tuple[str, str, list[CatalogRow]]:
    """(format, delimiter, rows) of delimited text."""
    delimiter = delimiter_of(text, _recognised)
    unclosed = _unclosed_quote(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(f"{path}: the catalog is empty") from None
    except csv.Error as error:
        raise InvalidInput(f"{path}: line 1: not a CSV header ({error})") from None
    if unclosed is not None and unclosed[0] == 1:
        raise InvalidInput(f"{path}: line 1: a quote in the header is never closed")
    try:
        fmt = detect_format(header)
    except InvalidInput as error:
        found = ", ".join(h.strip().lstrip("\ufeff") for h in header[:8])
        raise InvalidInput(
            f"{path}: line 1 (the header, read as {delimiter_name(delimiter)}-separated: "
            f"{found}{', ...' if len(header) > 8 else ''}): {error}"
        ) from None
    names = woocommerce.header_keys(header) if fmt == "woocommerce" else [_key(h) for h in header]
    numbered: list[tuple[int, dict[str, Any]]] = []
    errors: list[CatalogRow] = []
    lines: dict[int, int] = {}
    number = 0
    while True:
        start_line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            number += 1
            lines[number] = start_line
            if unclosed is not None and start_line <= unclosed[0]:
                errors.append(CatalogRow(number, error=_unclosed_message(header, unclosed)))
                break
            errors.append(
                CatalogRow(
                    number,
                    error=f"line {start_line}: unreadable CSV ({error}); check the quotes of "
                    "that line and import again",
                )
            )
            continue
        if unclosed is not None and reader.line_num >= unclosed[0] >= start_line:
            number += 1
            lines[number] = start_line
            errors.append(CatalogRow(number, error=_unclosed_message(header, unclosed)))
            break
        if not any(c.strip() for c in cells):
            continue  # blank line
        number += 1
        lines[number] = start_line
        if len(cells) < len(names) and fmt == "woocommerce":
            # WooCommerce writes in batches: only the header has the later batches' columns.
            cells = cells + [""] * (len(names) - len(cells))
        elif len(cells) > len(names) and not any(c.strip() for c in cells[len(names) :]):
            cells = cells[: len(names)]  # empty cells past the header (a spreadsheet's)
        if len(cells) != len(names):
            last = _column_name(header, min(len(cells), len(names)) - 1)
            how = "ends after" if len(cells) < len(names) else "goes past"
            errors.append(
                CatalogRow(
                    number,
                    error=f"line {start_line} has {len(cells)} fields, the header has "
                    f"{len(names)} (the row {how} column {last}); check the delimiters and "
                    "quotes of that line and import again",
                )
            )
            continue
        numbered.append((number, dict(zip(names, cells, strict=True))))
    rows = _records_to_rows(fmt, numbered, per_colour=per_colour) + errors
    for row in rows:
        row.line = lines.get(row.row)
    rows.sort(key=lambda r: r.row)
    return fmt, delimiter, rows


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1].lower()


def _xml_items(root: Element) -> list[Element]:
    if _local(root.tag) == "rss":
        channel = next((c for c in root if _local(c.tag) == "channel"), root)
        return [e for e in channel if _local(e.tag) == "item"]
    if _local(root.tag) == "feed":
        return [e for e in root if _local(e.tag) == "entry"]
    raise InvalidInput(
        f"an XML catalog must be a Merchant Center RSS 2.0 (<rss>) or Atom (<feed>) feed, "
        f"not <{_local(root.tag)}>"
    )


def _xml_record(item: Element) -> dict[str, Any]:
    """An item's attributes; ``g:`` elements win over plain ones of the same name (an Atom
    ``<title>`` and a ``<g:title>``); repeated ones (additional images) become lists."""
    record: dict[str, Any] = {}
    plain: dict[str, Any] = {}
    for child in item:
        name = _local(child.tag)
        if name == "link" and child.get("href"):
            value: str = child.get("href") or ""
        else:
            value = "".join(child.itertext()).strip()
        target = record if child.tag.startswith(f"{{{GOOGLE_NS}}}") else plain
        if name in target:
            existing = target[name]
            target[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            target[name] = value
    if "summary" in plain and "description" not in plain:
        plain["description"] = plain["summary"]
    return {**plain, **record}


def _read_xml(path: Path, text: str, *, per_colour: bool) -> list[CatalogRow]:
    try:
        root = SafeXML.fromstring(text.encode("utf-8"))
    except DefusedXmlException as error:
        raise InvalidInput(f"{path}: refused XML ({type(error).__name__}): {error}") from None
    except SafeXML.ParseError as error:
        raise InvalidInput(f"{path}: not well-formed XML ({error})") from None
    numbered = [(n, _xml_record(item)) for n, item in enumerate(_xml_items(root), start=1)]
    return _records_to_rows("merchant", numbered, per_colour=per_colour)


def read_catalog_file(path: Path, *, per_colour: bool = False) -> CatalogFile:
    """Parse and validate a catalog file in any format this module reads, with the encoding
    and delimiter it was read with (see :mod:`._decode`). ``per_colour``: a Merchant Center
    item group becomes one product per colour instead of one."""
    try:
        decoded = decode(_read_bytes(path))
    except InvalidInput as error:
        raise InvalidInput(f"{path}: {error}") from None
    if decoded.text.lstrip().startswith("<"):
        rows = _read_xml(path, decoded.text, per_colour=per_colour)
        return CatalogFile(rows, "merchant", decoded.encoding)
    fmt, delimiter, rows = _read_delimited(path, decoded.text, per_colour=per_colour)
    return CatalogFile(rows, fmt, decoded.encoding, delimiter_name(delimiter))


def read_catalog(path: Path) -> list[CatalogRow]:
    """The rows of a catalog file (see :func:`read_catalog_file`)."""
    return read_catalog_file(path).rows


def read_records(
    records: Iterable[Mapping[str, Any]], *, per_colour: bool = False
) -> list[CatalogRow]:
    """Validate rows given as mappings (``DataFrame.to_dict('records')``) with any column set
    :func:`read_catalog` reads."""
    items = list(records)
    if not items:
        return []
    keys = list(dict.fromkeys(str(k) for record in items for k in record))
    fmt = detect_format(keys)
    if fmt == "woocommerce":
        lowered = dict(zip(keys, woocommerce.header_keys(keys), strict=True))
    else:
        lowered = {k: _key(k) for k in keys}
    names = set(lowered.values())
    if "images" in names and "image" not in names and "sku" in names and fmt == "visualizer":
        lowered = {k: ("image" if v == "images" else v) for k, v in lowered.items()}
    numbered = [
        (number, {lowered[str(k)]: v for k, v in record.items()})
        for number, record in enumerate(items, start=1)
    ]
    if fmt in ("shopify", "woocommerce"):
        numbered = [
            (n, {k: "" if _blank(v) else str(v) for k, v in record.items()})
            for n, record in numbered
        ]
    return _records_to_rows(fmt, numbered, per_colour=per_colour)


def resolve_image(images_dir: Path, name: str) -> Path:
    """The photo ``name`` inside ``images_dir``; refuses paths that leave it or do not exist."""
    if "://" in name:
        raise InvalidInput(f"{name}: only http(s) URLs are fetched")
    root = images_dir.resolve()
    candidate = (root / name).resolve()
    if not candidate.is_relative_to(root):
        raise InvalidInput(f"{name}: the path leaves the images folder")
    if not candidate.is_file():
        raise InvalidInput(f"{name}: no such file in {images_dir}")
    return candidate
