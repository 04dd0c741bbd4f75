"""WooCommerce's product CSV export, as WooCommerce writes it.

- **Its header in the shop's language.** A pt-BR shop writes ``Tipo``, ``Nome``, ``Produto
  ascendente``; the headers of the languages WooCommerce ships are in
  ``data/woocommerce-headers.toml`` (a data file: a language or a spelling is added there, not
  here), and :func:`header_keys` maps them to the English column names the import reads.
- **Products keyed by ID.** WooCommerce's SKU is optional, its ID is not: a product without a
  SKU is keyed ``id:N``, the form WooCommerce itself uses in its ``Parent`` column.
- **Variations folded.** Every row whose type includes ``variation`` (``variation``,
  ``variation, virtual``, ``variation, downloadable, virtual``) joins the product its
  ``Parent`` names (``id:N`` or a SKU; failing that, the product whose name the variation's
  name starts with, as in "V-Neck T-Shirt - Red"): a colour of a sofa is the same sofa to
  picture, so its attribute values, pictures and identifiers join the parent's. A variation
  whose parent is not in the file is a product of its own.
- **Short rows.** WooCommerce writes its export in batches of 50 rows, and only the header
  gets the columns found in later batches, so early rows have fewer cells than the header:
  the missing trailing cells are empty (the reader pads them, see ``catalog``).
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from visualizer_core.schemas import SourceIds

__all__ = ["VARIATION", "HeaderMap", "header_keys", "is_variation", "looks_like", "records"]

VARIATION = "variation"
_DIMENSIONS = ("length", "width", "height")
_UNIT = re.compile(r"^(?P<name>.*?)\s*\((?P<unit>[^()]*)\)$")
_SPACES = re.compile(r"\s+")


def normalize_header(text: str) -> str:
    """A header as the data file's entries are compared: case, ``?``/``¿``, spaces and the
    kind of apostrophe ignored."""
    for apostrophe in ("\u2019", "\u2018", "\u00b4"):
        text = text.replace(apostrophe, "'")
    text = text.replace("\ufeff", "")
    text = text.replace("?", "").replace("¿", "")
    return _SPACES.sub(" ", text).strip().casefold()


@dataclass(frozen=True)
class HeaderMap:
    """The data file, prepared: plain headers, numbered ones (attributes) and attribute names."""

    plain: dict[str, str]
    numbered: tuple[tuple[re.Pattern[str], str], ...]
    colors: frozenset[str]
    materials: frozenset[str]


@functools.cache
def _headers() -> HeaderMap:
    raw = tomllib.loads(
        resources.files("visualizer_core.catalog")
        .joinpath("data/woocommerce-headers.toml")
        .read_text("utf-8")
    )
    plain: dict[str, str] = {}
    numbered: list[tuple[re.Pattern[str], str]] = []
    for column, languages in raw["columns"].items():
        if not isinstance(languages, dict) or not languages:
            raise ValueError(f"woocommerce-headers.toml: [columns.{column}] lists no language")
        for language, texts in languages.items():
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValueError(f"woocommerce-headers.toml: {column}.{language} is not a list")
            for text in texts:
                key = normalize_header(text)
                if "{n}" in column:
                    pattern = re.escape(key).replace(re.escape("{n}"), r"(?P<n>\d+)")
                    numbered.append((re.compile(f"^{pattern}$"), column))
                else:
                    plain.setdefault(key, column)
    attributes = raw["attributes"]
    return HeaderMap(
        plain=plain,
        numbered=tuple(numbered),
        colors=frozenset(normalize_header(a) for a in attributes["colors"]),
        materials=frozenset(normalize_header(a) for a in attributes["materials"]),
    )


def _key(header: str) -> tuple[str | None, str | None]:
    """(column, unit) for one header; column None when WooCommerce's table does not name it."""
    table = _headers()
    text = normalize_header(header)
    if text in table.plain:
        return table.plain[text], None
    for pattern, column in table.numbered:
        found = pattern.match(text)
        if found:
            return column.replace("{n}", found.group("n")), None
    unit = _UNIT.match(text)
    if unit and table.plain.get(unit.group("name")) in ("weight", *_DIMENSIONS):
        return table.plain[unit.group("name")], unit.group("unit")
    return None, None


def header_keys(headers: Sequence[str]) -> list[str]:
    """The English column names of a WooCommerce header (in any language of the data file);
    a header the table does not name keeps its own text, lower case."""
    out = []
    for header in headers:
        column, unit = _key(header)
        out.append(f"{column} ({unit})" if column and unit else column or normalize_header(header))
    return out


def looks_like(headers: Iterable[str]) -> bool:
    """Whether a header is WooCommerce's export (``ID``, ``Type`` and ``Name``, any language)."""
    keys = {_key(h)[0] for h in headers}
    return {"id", "type", "name"} <= keys


def is_variation(record: Mapping[str, Any]) -> bool:
    kinds = {k.strip().lower() for k in str(record.get("type") or "").split(",")}
    return VARIATION in kinds


def _cells(value: Any) -> list[str]:
    """A WooCommerce list cell (``a, b``; a comma inside a value written ``\\,``)."""
    if value is None:
        return []
    parts = re.split(r"(?<!\\),", str(value))
    return [p.replace("\\,", ",").strip() for p in parts if p.strip()]


def _attributes(record: Mapping[str, Any]) -> dict[str, list[str]]:
    table = _headers()
    found: dict[str, list[str]] = {"colors": [], "materials": []}
    for key, value in record.items():
        numbered = re.fullmatch(r"attribute (\d+) name", key)
        if not numbered or not value:
            continue
        name = normalize_header(str(value))
        values = _cells(record.get(f"attribute {numbered.group(1)} value(s)"))
        if name in table.colors:
            found["colors"] += values
        elif name in table.materials:
            found["materials"] += values
    return found


def _dimensions(record: Mapping[str, Any]) -> str | None:
    parts = []
    for key, value in record.items():
        unit = _UNIT.match(key)
        name = unit.group("name") if unit else key
        if name in _DIMENSIONS and str(value or "").strip():
            parts.append(
                (name, f"{name} {str(value).strip()}{' ' + unit.group('unit') if unit else ''}")
            )
    parts.sort(key=lambda item: _DIMENSIONS.index(item[0]))
    return ", ".join(text for _, text in parts) or None


def _own(record: Mapping[str, Any]) -> dict[str, Any]:
    identifier = str(record.get("id") or "").strip()
    sku = str(record.get("sku") or "").strip()
    categories = _cells(record.get("categories"))
    attributes = _attributes(record)
    return {
        "sku": sku or (f"id:{identifier}" if identifier else ""),
        "name": record.get("name"),
        "category": categories[0] if categories else None,
        "description": record.get("description") or record.get("short description"),
        "tags": record.get("tags"),
        "colors": attributes["colors"],
        "materials": attributes["materials"],
        "dimensions": _dimensions(record),
        "image": _cells(record.get("images")),
        "_html": True,
        "_source_ids": SourceIds(
            format="woocommerce", sku=sku or None, ids=[identifier] if identifier else []
        ),
    }


def records(
    numbered: Sequence[tuple[int, Mapping[str, Any]]],
) -> list[tuple[int, dict[str, Any]]]:
    """WooCommerce rows (English column names) as records in our columns, variations folded
    into their parents, numbered by the parent's row."""
    rows = [(n, dict(r), _own(r)) for n, r in numbered]
    parents: dict[str, dict[str, Any]] = {}
    for _, raw, own in rows:
        if is_variation(raw):
            continue
        identifier = str(raw.get("id") or "").strip()
        if identifier:
            parents[f"id:{identifier}"] = own
        sku = str(raw.get("sku") or "").strip()
        if sku:
            parents.setdefault(sku, own)
    # WooCommerce names a variation "Parent name - its values": where the Parent cell names
    # nothing in the file (a SKU since emptied), the name still does.
    by_name = {
        str(raw.get("name") or "").strip(): own
        for _, raw, own in rows
        if not is_variation(raw) and str(raw.get("name") or "").strip()
    }
    out: list[tuple[int, dict[str, Any]]] = []
    for number, raw, own in rows:
        parent = None
        if is_variation(raw):
            parent = parents.get(str(raw.get("parent") or "").strip())
            name = str(raw.get("name") or "")
            if parent is None and " - " in name:
                parent = by_name.get(name.rsplit(" - ", 1)[0].strip())
        if parent is None:
            out.append((number, own))
            continue
        for column in ("colors", "materials", "image"):
            parent[column] = list(dict.fromkeys([*parent[column], *own[column]]))
        ids: SourceIds = parent["_source_ids"]
        variation: SourceIds = own["_source_ids"]
        ids.ids += [i for i in variation.ids if i not in ids.ids]
        if variation.sku and variation.sku not in ids.variant_skus:
            ids.variant_skus.append(variation.sku)
    return out
