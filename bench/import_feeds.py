"""Real catalog exports in: the nine files of ``shared/data/realfeeds`` imported as a new user
would, counted against what their ``SOURCES.md`` expects, and the 7,725-row Shopify export
timed offline and with its photos on loopback.

Run with ``python -m bench import`` (or ``import_feeds``). The files are others' data: they
are read from ``../shared/data/realfeeds`` beside the repository (``VISUALIZER_REALFEEDS``
names another folder) and never copied into it; when the folder is absent the bench says so
and ends. Every import runs on a fresh embedded default in a temporary folder.

1. **Counts.** Each file is read (format, encoding, delimiter) and its products counted against
   the "products expected" column of ``SOURCES.md``: Shopify by handle, WooCommerce without its
   folded variations, Merchant Center by item (every item id is kept in a product's
   ``source_ids``; items of one ``item_group_id`` are one product, so the products are the
   groups plus the items without a group).
2. **Photos on loopback.** Each file is imported with its photo URLs pointed at a server on
   127.0.0.1 (a copy in the temporary folder, each ``http(s)://host/`` rewritten to
   ``http://127.0.0.1:PORT/host/``), which answers every path with a photo drawn from the path.
   A second import of the same file must fetch nothing.
3. **The 7,725-row export** (``shopify-onlineblinds-large.csv``): rows per second with its
   5,596 photos on loopback, and the time to the answer offline (its URLs as they are: no
   network, so no photo can be fetched; aim under a minute).

Photos are drawn small (320 pixels) so the figures measure the import, not the drawing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image, ImageDraw

NINE = (
    "shopify-home-and-garden.csv",
    "shopify-apparel.csv",
    "shopify-onlineblinds-large.csv",
    "merchant-lecc.tsv",
    "merchant-vaivora.xml",
    "merchant-banyaline.xml",
    "woo-sample-products.csv",
    "woo-registrations-ptBR.csv",
    "woo-tgmodz-export.csv",
)
LARGE = "shopify-onlineblinds-large.csv"
_URL = re.compile(r"https?://([A-Za-z0-9.-]+)/")


def realfeeds() -> Path:
    """The folder of real files: ``VISUALIZER_REALFEEDS``, else ``../shared/data/realfeeds``."""
    named = os.environ.get("VISUALIZER_REALFEEDS")
    if named:
        return Path(named)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realfeeds"


def expected_products(sources: Path) -> dict[str, int]:
    """File name to the first number of its "products expected" cell in SOURCES.md."""
    found: dict[str, int] = {}
    header: list[str] = []
    for line in sources.read_text("utf-8").splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells and cells[0] == "file":
            header = cells
            continue
        if header and "products expected" in header and cells[0].startswith("`"):
            cell = cells[header.index("products expected")]
            number = re.search(r"\d[\d,]*", cell)
            if number:
                found[cells[0].strip("`")] = int(number.group().replace(",", ""))
    return found


# -- photos on loopback ----------------------------------------------------------------------


def _photo(path: str) -> bytes:
    seed = int(hashlib.sha256(path.encode()).hexdigest()[:8], 16)
    colour = (seed % 200, (seed >> 8) % 200, (seed >> 16) % 200)
    image = Image.new("RGB", (320, 320), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    inset = 40 + seed % 40
    draw.rectangle((inset, inset, 320 - inset, 320 - inset // 2), fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


class _Photos(BaseHTTPRequestHandler):
    hits: ClassVar[int] = 0
    lock: ClassVar[threading.Lock] = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        with type(self).lock:
            type(self).hits += 1
        body = _photo(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def photo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Photos)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def on_loopback(source: Path, folder: Path, base: str) -> Path:
    """A copy of ``source`` in ``folder`` whose photo URLs point at the loopback server."""
    text = source.read_bytes().decode("utf-8-sig")
    target = folder / source.name
    target.write_text(_URL.sub(lambda m: f"{base}/{m.group(1)}/", text), "utf-8")
    return target


# -- imports ---------------------------------------------------------------------------------


@contextmanager
def fresh_default(folder: Path, **settings: Any) -> Iterator[Any]:
    """A fresh embedded default in ``folder``, active; yields a new client's id."""
    from visualizer_core import backends
    from visualizer_core.config import load_settings
    from visualizer_core.db import migrate
    from visualizer_core.scope import ADMIN
    from visualizer_core.services import clients

    built = backends.build(load_settings(visualizer_home=folder, **settings))
    migrate.upgrade(built.engine)
    try:
        with backends.using(built):
            yield clients.create_client(ADMIN, name="Bench").id
    finally:
        built.close()


def _import(client_id: Any, path: Path) -> tuple[Any, float]:
    from visualizer_core.scope import ADMIN
    from visualizer_core.services import products

    started = time.perf_counter()
    report = products.import_products(ADMIN, client_id=client_id, csv_path=path)
    return report, time.perf_counter() - started


def counts(root: Path) -> dict[str, tuple[Any, float]]:
    """Each file read and imported with its photos on loopback, against SOURCES.md; returns
    each file's first import (report, seconds)."""
    from visualizer_core.catalog import read_catalog_file
    from visualizer_core.scope import ADMIN
    from visualizer_core.services import products

    expected = expected_products(root / "SOURCES.md")
    results: dict[str, tuple[Any, float]] = {}
    print(
        f"{'file':32} {'format':11} {'encoding':15} {'delim':6} {'expected':>8} "
        f"{'items':>6} {'products':>8} {'refused':>7} {'photos':>7} {'missing':>7} "
        f"{'again':>5} {'rows/s':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="vz-feeds-") as folder, photo_server() as base:
        for name in NINE:
            source = root / name
            if not source.exists():
                print(f"{name:32} absent")
                continue
            read = read_catalog_file(source)
            landed = [r.product for r in read.rows if r.product is not None]
            refused = len(read.rows) - len(landed)
            items = sum(
                len(p.source_ids.ids) if p.source_ids and p.source_ids.ids else 1 for p in landed
            )
            # Merchant Center's expected count is by item; the others' by product.
            counted = items if read.format == "merchant" else len(landed)
            mark = "" if counted == expected.get(name) else "  <- differs"
            copy = on_loopback(source, Path(folder), base)
            home = Path(folder) / f"home-{name}"
            with fresh_default(home, visualizer_private_hosts_allowed="127.0.0.1/32") as client:
                report, elapsed = _import(client, copy)
                hits_before = _Photos.hits
                again, _ = _import(client, copy)
                fetched_again = _Photos.hits - hits_before
                stored = products.list_products(ADMIN, client_id=client)
            rows = len(read.rows)
            print(
                f"{name:32} {read.format:11} {read.encoding:15} {read.delimiter or '-':6} "
                f"{expected.get(name, '?')!s:>8} {items:>6} {len(landed):>8} {refused:>7} "
                f"{report.photos_fetched:>7} {sum(p.photo_state == 'missing' for p in stored):>7} "
                f"{fetched_again:>5} {rows / elapsed:>7.1f}{mark}"
            )
            assert again.failed == report.failed and again.imported == 0, again
            results[name] = (report, elapsed)
    return results


def large_export(root: Path, loopback: tuple[Any, float] | None) -> None:
    """The 7,725-row export: offline (time to the answer), and with its photos on loopback
    (rows per second, from :func:`counts`)."""
    source = root / LARGE
    if not source.exists():
        print(f"{LARGE} absent: no timing")
        return
    with source.open(newline="", encoding="utf-8-sig") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    with (
        tempfile.TemporaryDirectory(prefix="vz-large-") as folder,
        fresh_default(Path(folder)) as client,
    ):
        report, offline = _import(client, source)
    down = ", ".join(f"{h['host']} ({h['photos']} photos)" for h in report.hosts_down)
    print(
        f"bench import, offline: {rows} rows, {report.imported} products stored "
        f"(photo_state missing), {report.photos_missing} photos named missing, answered in "
        f"{offline:.1f} s (aim < 60 s; was 17.5 min); hosts given up on after the first "
        f"failures: {down or 'none'}"
    )
    if loopback is not None:
        report, online = loopback
        print(
            f"bench import, photos on loopback: {rows} rows ({report.imported} products, "
            f"{report.photos_fetched} photos fetched and stored) in {online:.1f} s: "
            f"{rows / online:.1f} rows/s, {report.photos_fetched / online:.1f} photos/s"
        )


def main() -> None:
    root = realfeeds()
    if not root.is_dir():
        print(f"no real catalog files at {root}: nothing to import (set VISUALIZER_REALFEEDS)")
        return
    results = counts(root)
    large_export(root, results.get(LARGE))


if __name__ == "__main__":
    main()
