"""Reading a product catalog into validated rows: the formats brands already have.

Pure parsing and validation: nothing here touches the database, storage or the network.
:func:`read_catalog` reads a file and :func:`read_records` rows given as mappings (a pandas
DataFrame's ``to_dict("records")``); both detect the format by its header (or, for XML, its
root element):

===============================  ==========================================================
format                           recognised by
===============================  ==========================================================
our CSV                          ``sku`` and ``name``
Shopify product export CSV       ``Handle`` with ``Title``, ``Body (HTML)`` or ``Variant SKU``
Google Merchant Center TSV/CSV   ``id`` and ``title`` (``g:`` prefixes allowed)
Merchant Center RSS 2.0 / Atom   ``<rss>`` or ``<feed>`` with items in the ``g:`` namespace
===============================  ==========================================================

Every format becomes the same rows: ``sku, name, category, description, colors, materials,
dimensions, images`` (paths or ``http(s)`` URLs). A Google product taxonomy category given by
the catalog (``google_product_category`` as id or path, Shopify's ``Product Category``) becomes
the row's category path, so the analysis takes it as given; ``product_type``/``Type`` is the
category text otherwise, and tags join the description for the classifier to read.

Rows are numbered from 1 (the first data row; a Shopify product by the row it starts on; an
XML item by its position); a row that cannot be used carries its reason instead of a product.
Text with NUL or other control characters is a row error (PostgreSQL cannot store NUL, and
nothing in a catalog needs them); a quote that is never closed is reported on the row it opens,
never by silently swallowing the rows after it.
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

from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import ProductCreate, SourceIds

__all__ = [
    "COLUMNS",
    "FORMATS",
    "CatalogRow",
    "detect_format",
    "is_url",
    "read_catalog",
    "read_records",
    "resolve_image",
]

COLUMNS = ("sku", "name", "category", "description", "colors", "materials", "dimensions", "image")
REQUIRED = ("sku", "name")
FORMATS = ("visualizer", "shopify", "merchant")
MAX_CSV_BYTES = 50 * 1024 * 1024
GOOGLE_NS = "http://base.google.com/ns/1.0"

# Control characters no catalog cell needs (tab, line feed and carriage return are allowed).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class CatalogRow:
    """One data row: the product it describes, or why it cannot be used."""

    row: int
    product: ProductCreate | None = None
    error: str | None = None
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
    path, problem = _taxonomy_path(values.get("google_product_category"))
    if problem:
        return CatalogRow(row, error=problem)
    description = _text(values.get("description"))
    tags = _split_list(values.get("tags"), ",|")
    if tags:
        description = f"{description or ''}\nTags: {', '.join(tags)}".strip()
    try:
        product = ProductCreate(
            sku=str(values["sku"]),
            name=str(values["name"]),
            category=path or _text(values.get("category")),
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
    """``visualizer``, ``shopify`` or ``merchant`` from a header; :class:`InvalidInput` naming
    the columns each format needs when none matches."""
    keys = {_key(c) for c in columns}
    if {"sku", "name"} <= keys:
        return "visualizer"
    if keys & {"sku", "name"} and not keys & {"handle", "id"}:
        missing = [c for c in REQUIRED if c not in keys]
        raise InvalidInput(f"missing column(s) {', '.join(missing)} in the header")
    if "handle" in keys and keys & {"title", "body (html)", "variant sku", "image src"}:
        return "shopify"
    if {"id", "title"} <= keys:
        return "merchant"
    raise InvalidInput(
        "the header names no catalog format this reads: our CSV needs sku and name; a Shopify "
        "product export Handle and Title; a Google Merchant Center feed id and title"
    )


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
    }


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
        google = main.get("product category") or main.get(
            "google shopping / google product category"
        )
        record: dict[str, Any] = {
            "sku": next((s for s in skus if s), handle),
            "name": main.get("title"),
            "category": _text(main.get("type")) or _text(main.get("product category")),
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


def _lenient_google(record: dict[str, Any]) -> dict[str, Any]:
    """Shopify's category columns hold names from its own taxonomy too: a path Google's
    taxonomy does not know is text for the classifier, not an error."""
    value = _text(record.get("google_product_category"))
    if value and not value.isdigit():
        path, _ = _taxonomy_path(value)
        if path is None:
            record["google_product_category"] = None
            record["category"] = record.get("category") or value
    return record


def _records_to_rows(fmt: str, numbered: list[tuple[int, dict[str, Any]]]) -> list[CatalogRow]:
    rows: list[CatalogRow] = []
    if fmt == "shopify":
        for number, record in _shopify_records(numbered):
            if "_error" in record:
                rows.append(CatalogRow(number, error=record["_error"]))
            else:
                rows.append(_validate(number, _lenient_google(record)))
    elif fmt == "merchant":
        rows = [_validate(n, _merchant_record(r)) for n, r in numbered]
    else:
        rows = [_validate(n, _our_aliases(r)) for n, r in _woocommerce_variations(numbered)]
    return _mark_duplicates(rows)


def _attributes(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """WooCommerce's ``Attribute N name`` / ``Attribute N value(s)`` pairs that say a colour
    or a material, as our columns."""
    found: dict[str, list[str]] = {"colors": [], "materials": []}
    for n in range(1, 10):
        name = str(record.get(f"attribute {n} name") or "").strip().lower()
        column = {"color": "colors", "colour": "colors", "material": "materials"}.get(name)
        if column:
            found[column] += _split_list(record.get(f"attribute {n} value(s)"), ",|")
    return found


def _woocommerce_variations(
    numbered: list[tuple[int, dict[str, Any]]],
) -> list[tuple[int, dict[str, Any]]]:
    """A WooCommerce export's variations folded into their parent product (``Parent`` names it
    as ``id:N`` or by sku): a colour of a sofa is the same sofa to picture, so the variation's
    attribute values and pictures join the parent's instead of becoming products to pay for. A
    variation whose parent is not in the file is a product of its own. Other files pass as
    they are."""
    if not numbered or "parent" not in numbered[0][1] or "type" not in numbered[0][1]:
        return numbered

    def is_variation(record: Mapping[str, Any]) -> bool:
        return str(record.get("type") or "").strip().lower() == "variation"

    rows = [(n, {**r, **_woo_columns(r), "_source_ids": _woo_source(r)}) for n, r in numbered]
    parents: dict[str, dict[str, Any]] = {}
    for _, record in rows:
        if not is_variation(record):
            for ref in (f"id:{str(record.get('id') or '').strip()}", record.get("sku")):
                if ref and ref != "id:":
                    parents[str(ref).strip()] = record
    out: list[tuple[int, dict[str, Any]]] = []
    for number, record in rows:
        parent = parents.get(str(record.get("parent") or "").strip())
        if not is_variation(record) or parent is None:
            out.append((number, record))
            continue
        for column in ("colors", "materials", "image"):
            parent[column] = list(dict.fromkeys([*parent[column], *record[column]]))
        ids, variation = parent["_source_ids"], record["_source_ids"]
        ids.ids += [i for i in variation.ids if i not in ids.ids]
        if variation.sku and variation.sku not in ids.variant_skus:
            ids.variant_skus.append(variation.sku)
    return out


def _woo_source(record: Mapping[str, Any]) -> SourceIds:
    identifier = str(record.get("id") or "").strip()
    return SourceIds(
        format="woocommerce",
        sku=str(record.get("sku") or "").strip() or None,
        ids=[identifier] if identifier else [],
    )


def _woo_columns(record: Mapping[str, Any]) -> dict[str, list[str]]:
    """A WooCommerce row's colours, materials (its own columns, else its attributes) and
    pictures (``Images``, comma-separated) as lists."""
    attributes = _attributes(record)
    pictures = record.get("image", record.get("images"))
    return {
        "colors": _split_list(record.get("colors")) or attributes["colors"],
        "materials": _split_list(record.get("materials")) or attributes["materials"],
        "image": _split_list(pictures, "|,"),
    }


def _our_aliases(record: dict[str, Any]) -> dict[str, Any]:
    """Our columns under the names other exports with ``sku`` and ``name`` use (WooCommerce's
    ``Categories``, ``Images`` (comma-separated), ``Short description``); our own text stays
    verbatim."""
    if "category" not in record and "categories" in record:
        record["category"] = record["categories"]
    if "image" not in record and "images" in record:
        value = record["images"]
        record["image"] = _split_list(value, "|,") if isinstance(value, str) else value
    if "short description" in record:  # a WooCommerce export: its descriptions are HTML
        description = _text(record.get("description")) or _text(record["short description"])
        record["description"] = strip_html(description)
    return record


# -- files --------------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read the catalog ({error.strerror})") from None
    if size > MAX_CSV_BYTES:
        raise InvalidInput(f"{path}: the catalog is {size} bytes; the limit is {MAX_CSV_BYTES}")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {error.start})") from None


def _unclosed_quote(text: str, delimiter: str) -> int | None:
    """The line (from 1) where a quoted field opens that is never closed, if one does."""
    inside = False
    line = 1
    opened = 0
    at_field_start = True
    i = 0
    while i < len(text):
        char = text[i]
        if inside:
            if char == '"':
                if i + 1 < len(text) and text[i + 1] == '"':
                    i += 1
                else:
                    inside = False
            elif char == "\n":
                line += 1
        elif char == '"' and at_field_start:
            inside, opened = True, line
        elif char == "\n":
            line += 1
        at_field_start = not inside and char in (delimiter, "\n", "\r")
        i += 1
    return opened if inside else None


def _unclosed_message(line: int) -> str:
    return (
        f"a quote opened on line {line} is never closed, so the rest of the file cannot be "
        "read; close the quote and import again"
    )


def _read_delimited(path: Path, text: str) -> list[CatalogRow]:
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    unclosed = _unclosed_quote(text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(f"{path}: the catalog is empty") from None
    except csv.Error as error:
        raise InvalidInput(f"{path}: not a CSV file ({error})") from None
    if unclosed == 1:
        raise InvalidInput(f"{path}: a quote in the header is never closed")
    names = [_key(h) for h in header]
    try:
        fmt = detect_format(names)
    except InvalidInput as error:
        raise InvalidInput(f"{path}: {error}") from None
    numbered: list[tuple[int, dict[str, Any]]] = []
    errors: list[CatalogRow] = []
    number = 0
    while True:
        start_line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            number += 1
            if unclosed is not None and start_line <= unclosed:
                errors.append(CatalogRow(number, error=_unclosed_message(unclosed)))
                break
            errors.append(CatalogRow(number, error=f"unreadable CSV ({error})"))
            continue
        if unclosed is not None and reader.line_num >= unclosed >= start_line:
            number += 1
            errors.append(CatalogRow(number, error=_unclosed_message(unclosed)))
            break
        if not any(c.strip() for c in cells):
            continue  # blank line
        number += 1
        if len(cells) != len(names):
            errors.append(
                CatalogRow(number, error=f"has {len(cells)} fields, the header has {len(names)}")
            )
            continue
        numbered.append((number, dict(zip(names, cells, strict=True))))
    rows = _records_to_rows(fmt, numbered) + errors
    rows.sort(key=lambda r: r.row)
    return rows


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


def _read_xml(path: Path, text: str) -> list[CatalogRow]:
    try:
        root = SafeXML.fromstring(text.encode("utf-8"))
    except DefusedXmlException as error:
        raise InvalidInput(f"{path}: refused XML ({type(error).__name__}): {error}") from None
    except SafeXML.ParseError as error:
        raise InvalidInput(f"{path}: not well-formed XML ({error})") from None
    numbered = [(n, _xml_record(item)) for n, item in enumerate(_xml_items(root), start=1)]
    return _records_to_rows("merchant", numbered)


def read_catalog(path: Path) -> list[CatalogRow]:
    """Parse and validate a catalog file in any format this module reads (UTF-8)."""
    text = _read_text(path)
    if text.lstrip().startswith("<"):
        return _read_xml(path, text)
    return _read_delimited(path, text)


def read_records(records: Iterable[Mapping[str, Any]]) -> list[CatalogRow]:
    """Validate rows given as mappings (``DataFrame.to_dict('records')``) with any column set
    :func:`read_catalog` reads."""
    items = list(records)
    if not items:
        return []
    keys = list(dict.fromkeys(str(k) for record in items for k in record))
    lowered = {k: _key(k) for k in keys}
    names = set(lowered.values())
    if "images" in names and "image" not in names and "sku" in names:
        lowered = {k: ("image" if v == "images" else v) for k, v in lowered.items()}
    fmt = detect_format(lowered.values())
    numbered = [
        (number, {lowered[str(k)]: v for k, v in record.items()})
        for number, record in enumerate(items, start=1)
    ]
    if fmt == "shopify":
        numbered = [
            (n, {k: "" if _blank(v) else str(v) for k, v in record.items()})
            for n, record in numbered
        ]
    return _records_to_rows(fmt, numbered)


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
