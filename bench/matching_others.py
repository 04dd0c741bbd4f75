"""Matching on catalogs the project did not write: the real files of ``shared/data/realfeeds``.

The project's own evaluation catalogs (``bench/matching.py``) were written by the people who
tuned the classifier, so they flatter it. This bench reads catalogs written by stores (read by
the project's own importer, from ``../shared/data/realfeeds`` or ``VISUALIZER_REALFEEDS``;
never copied into the repository) and asks the offline analysis what each product is **from
its name and description alone**: the file's own category is hidden and used as the truth.

The truth, per file:

- A category the file gives as a Google or Shopify taxonomy path (Merchant Center's
  ``google_product_category``, Shopify's ``Product Category``): that category, its department
  and the rooms the taxonomy gives it.
- Files whose categories are the store's own words are mapped by what the words say, stated
  here: Shopify's apparel sample and WooCommerce's ``Clothing > ...`` are apparel (no room);
  WooCommerce's ``Music`` is media (no room), ``Decor`` home decor; Shopify's home-and-garden
  sample types each product ``Indoor`` or ``Outdoor`` (right: an indoor room, or outdoor).
- A digital good (the game add-ons of ``woo-tgmodz-export.csv``) belongs in no room.
- Text the offline classifier does not read (Lithuanian, Russian, Brazilian Portuguese) has one
  right answer: "unsure", so that Gemini (with a key) decides, never a confident guess.

A product is right when its first room is one of the truth's rooms (an indoor room for
"Indoor"), or, where the truth has no room, when the analysis gives none or says it is unsure.
The department is also counted where the truth names one.

Each file's products are split by a hash of the file and SKU into a **tuning** half, whose
misses are printed and may be studied, and a **once-read** half, whose figures are printed but
whose products are never listed: the figure to believe. Figures are per file and their mean
over files (the 1,973 blinds of one store would otherwise outweigh the other eight files).

    python -m bench matching_others
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bench.import_feeds import NINE, realfeeds
from visualizer_core import catalog, taxonomy
from visualizer_core.ai.base import ProductFacts
from visualizer_core.ai.local_analysis import analyze_product
from visualizer_core.taxonomy import UNSURE_BELOW

INDOOR = tuple(r for r in taxonomy.ROOM_TYPES if r != "outdoor")
APPAREL = "Apparel & Accessories"


@dataclass(frozen=True)
class Truth:
    """What a product is, as its file says: a department (or None) and the right rooms."""

    department: str | None
    rooms: tuple[str, ...]
    unread: bool = False
    """Its text is in a language the offline classifier does not read: right is "unsure"."""


@dataclass(frozen=True)
class Outcome:
    file: str
    sku: str
    name: str
    truth: Truth
    room_right: bool
    department_right: bool | None
    said: str


def _truth_from_path(path: str | None) -> Truth | None:
    if not path:
        return None
    steps = [step.strip() for step in path.split(">")]
    for count in range(len(steps), 1, -1):  # Shopify's taxonomy goes a step past Google's
        known = taxonomy.category(" > ".join(steps[:count]))
        if known is not None:
            return Truth(known.department, tuple(known.rooms))
    return None


def truth_of(file: str, product: catalog.CatalogRow) -> Truth | None:
    """The file's own word on one product, hidden from the analysis; None: the file says nothing."""
    assert product.product is not None
    category = product.product.category
    by_path = _truth_from_path(category)
    if by_path is not None:
        return by_path
    if file in ("merchant-vaivora.xml", "merchant-banyaline.xml", "woo-registrations-ptBR.csv"):
        return Truth(None, (), unread=True)
    if file == "woo-tgmodz-export.csv":
        return Truth(None, ())
    if file == "shopify-apparel.csv":
        return Truth(APPAREL, ())
    if file == "shopify-home-and-garden.csv" and category in ("Indoor", "Outdoor"):
        return Truth(None, INDOOR if category == "Indoor" else ("outdoor",))
    if file == "woo-sample-products.csv" and category:
        top = category.split(">", 1)[0].strip()
        if top == "Clothing":
            return Truth(APPAREL, ())
        if top == "Music":
            return Truth("Media", ())
        if top == "Decor":
            return Truth("Home & Garden", INDOOR)
    return None


def tuning_half(file: str, sku: str) -> bool:
    """A fixed split, the same on every machine: half of each file to tune on."""
    return hashlib.sha256(f"{file}\0{sku}".encode()).digest()[0] % 2 == 0


def judge(file: str, row: catalog.CatalogRow) -> Outcome | None:
    truth = truth_of(file, row)
    product = row.product
    if truth is None or product is None:
        return None
    analysis = analyze_product(
        ProductFacts(name=product.name, category=None, description=product.description), []
    )
    unsure = analysis.confidence < UNSURE_BELOW
    rooms = analysis.room_types
    if truth.unread:
        room_right = unsure
    elif not truth.rooms:
        room_right = unsure or not rooms
    else:
        room_right = bool(rooms) and rooms[0] in truth.rooms
    department = analysis.taxonomy_path.split(" > ", 1)[0] if analysis.taxonomy_path else None
    department_right = None if truth.department is None else department == truth.department
    said = (
        f"{analysis.taxonomy_path or 'no category'} {analysis.confidence:.2f} "
        f"-> {rooms[0] if rooms else 'no room'}"
    )
    return Outcome(file, product.sku, product.name, truth, room_right, department_right, said)


def outcomes(folder: Path) -> list[Outcome]:
    found = []
    for file in NINE:
        path = folder / file
        if not path.exists():
            continue
        for row in catalog.read_catalog_file(path).rows:
            outcome = judge(file, row)
            if outcome is not None:
                found.append(outcome)
    return found


def _share(values: list[bool]) -> str:
    return f"{sum(values) / len(values):.3f}" if values else "  -  "


def report(title: str, results: list[Outcome], *, show_misses: int) -> float:
    """Print the figures of one half; return the mean over files of the right-room share."""
    by_file: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in results:
        by_file[outcome.file].append(outcome)
    print(title)
    print(f"{'file':32} {'products':>8} {'right room':>10} {'department':>10}")
    means = []
    for file in NINE:
        rows = by_file.get(file)
        if not rows:
            continue
        rooms = [o.room_right for o in rows]
        departments = [o.department_right for o in rows if o.department_right is not None]
        means.append(sum(rooms) / len(rooms))
        print(f"{file:32} {len(rows):8d} {_share(rooms):>10} {_share(departments):>10}")
    mean = sum(means) / len(means)
    print(f"{'mean over files':32} {len(results):8d} {mean:10.3f}")
    misses = [o for o in results if not o.room_right]
    if show_misses and misses:
        print(f"misses (the first {show_misses} of each file):")
        shown: dict[str, int] = defaultdict(int)
        for o in misses:
            if shown[o.file] < show_misses:
                shown[o.file] += 1
                print(f"  {o.file[:18]:18} {o.name[:46]:46} {o.said}")
    return mean


def leaves_back(*, tuning: bool) -> tuple[int, int, list[str]]:
    """Every leaf of the taxonomy (all departments: its names were written by Google, not by
    us) of one half, classified from its name alone: how many come back to their own
    category, of how many, and the misses."""
    leaves = [
        c
        for c in taxonomy.all_categories()
        if not c.children and tuning_half("taxonomy", str(c.id)) == tuning
    ]
    misses = []
    for leaf in leaves:
        found = taxonomy.classify(leaf.name)
        if found.taxonomy_id != leaf.id:
            misses.append(f"  {leaf.path[:70]:70} -> {found.path or 'nothing'}")
    return len(leaves) - len(misses), len(leaves), misses


def main() -> None:
    folder = realfeeds()
    if not (folder / "SOURCES.md").exists():
        print(f"no real catalog files at {folder}: nothing to measure (VISUALIZER_REALFEEDS)")
        return
    results = outcomes(folder)
    tuning = [o for o in results if tuning_half(o.file, o.sku)]
    once = [o for o in results if not tuning_half(o.file, o.sku)]
    report("tuning half (its misses may be studied):", tuning, show_misses=6)
    print()
    report("once-read half (figures only; never tuned on):", once, show_misses=0)
    print()
    right, total, misses = leaves_back(tuning=True)
    print(f"taxonomy leaves, all departments, tuning half: {right / total:.3f} of {total} back")
    print("\n".join(misses[:15]))
    right, total, _ = leaves_back(tuning=False)
    print(f"taxonomy leaves, all departments, once-read half: {right / total:.3f} of {total} back")


if __name__ == "__main__":
    main()
