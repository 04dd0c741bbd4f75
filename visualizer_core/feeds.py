"""The files stores import, written beside the delivered pictures.

- A Google Merchant Center **supplemental feed** (TSV or RSS 2.0 XML): one item per Merchant
  item id (``id``; every item of an ``item_group_id`` gets its product's pictures), the item's
  ``title`` as it was imported (the project's importer needs it to read the file back), and the
  pictures as ``lifestyle_image_link`` (``merchant-lifestyle``, at most 20) or
  ``additional_image_link`` (``merchant-additional``, at most 10), in order.
- A **Shopify product CSV** (``Handle``, ``Title``, ``Image Src``, ``Image Position``,
  ``Image Alt Text``): imported with "Overwrite products with matching handles", it sets each
  product's images to the rows given, so the product's own photos (as imported) come first and
  the new pictures after them; the columns left out keep their values.

Alt text is written from the product's analysis: its name, colour, material and the room it
is shown in, within Shopify's 512 characters (cut at a word near 125, what screen readers read
comfortably). Every cell goes through :func:`visualizer_core.services.export.spreadsheet_safe`'s
rule where a spreadsheet may open the file (TSV, CSV).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

__all__ = ["FeedItem", "alt_text", "merchant_tsv", "merchant_xml", "shopify_csv"]

ALT_TEXT_TARGET = 125
MAX_LIFESTYLE = 20
MAX_ADDITIONAL = 10
GOOGLE_NS = "http://base.google.com/ns/1.0"


@dataclass
class FeedItem:
    """One product's entry: its ids in the store, its name, its photos and new pictures."""

    sku: str
    title: str
    merchant_ids: list[str] = field(default_factory=list)
    handle: str | None = None
    photos: list[str] = field(default_factory=list)  # the product's own photos' addresses
    pictures: list[tuple[str, str]] = field(default_factory=list)  # (address, alt text)


def alt_text(
    name: str, *, colors: Sequence[str], materials: Sequence[str], room: str | None
) -> str:
    """``"Oak Dining Table, natural oak wood, in a dining room"``: short, plain, one line."""
    words = " ".join(
        w for w in (colors[0] if colors else "", materials[0] if materials else "") if w
    )
    parts = [" ".join(name.split())]
    if words and words.lower() not in parts[0].lower():
        parts.append(words)
    text = ", ".join(parts)
    if room:
        text += f", in a {room.replace('_', ' ')}"
    if len(text) <= ALT_TEXT_TARGET:
        return text
    cut = text[:ALT_TEXT_TARGET].rsplit(" ", 1)[0].rstrip(",")
    return cut or text[:ALT_TEXT_TARGET]


def _merchant_rows(items: Sequence[FeedItem], column: str) -> list[tuple[str, str, list[str]]]:
    limit = MAX_LIFESTYLE if column == "lifestyle_image_link" else MAX_ADDITIONAL
    rows = []
    for item in items:
        links = [address for address, _ in item.pictures][:limit]
        for item_id in item.merchant_ids or [item.sku]:
            rows.append((item_id, item.title, links))
    return rows


def merchant_tsv(items: Sequence[FeedItem], column: str, safe: Callable[[str], str]) -> str:
    """The supplemental feed as TSV (several links in one cell, comma-separated)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(["id", "title", column])
    for item_id, title, links in _merchant_rows(items, column):
        writer.writerow([safe(item_id), safe(title), ",".join(links)])
    return out.getvalue()


def merchant_xml(items: Sequence[FeedItem], column: str, *, channel_title: str) -> str:
    """The supplemental feed as RSS 2.0 with Google's namespace, one ``g:`` element per link."""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<rss version="2.0" xmlns:g="{GOOGLE_NS}">',
        "<channel>",
        f"<title>{escape(channel_title)}</title>",
    ]
    for item_id, title, links in _merchant_rows(items, column):
        lines.append("<item>")
        lines.append(f"<g:id>{escape(item_id)}</g:id>")
        lines.append(f"<g:title>{escape(title)}</g:title>")
        lines += [f"<g:{column}>{escape(link)}</g:{column}>" for link in links]
        lines.append("</item>")
    lines += ["</channel>", "</rss>", ""]
    return "\n".join(lines)


def shopify_csv(items: Sequence[FeedItem], safe: Callable[[str], str]) -> str:
    """The product CSV: per handle, the product's own photos, then the new pictures."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Handle", "Title", "Image Src", "Image Position", "Image Alt Text"])
    for item in items:
        handle = item.handle or item.sku
        images = [(src, "") for src in item.photos] + list(item.pictures)
        for position, (src, alt) in enumerate(images, start=1):
            title = item.title if position == 1 else ""
            writer.writerow([safe(handle), safe(title), src, position, safe(alt)])
    return out.getvalue()
