"""Catalog import with photos at URLs, served by a loopback server the settings allow.

Each format lands the right products with their photos; hostile answers (a 404, a slow server,
an HTML page, a 200 MB body, a redirect to a private address) fail their row with the URL and
the reason and nothing else; importing again fetches only what failed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pytest

from tests import factories
from visualizer_core import admin, backends
from visualizer_core.config import load_settings
from visualizer_core.errors import InvalidInput
from visualizer_core.images import fetch
from visualizer_core.scope import ADMIN
from visualizer_core.services import generation, products

PHOTO = factories.product_photo((40, 120, 60))
PHOTO_2 = factories.product_photo((200, 60, 40))
# The download timeout in these tests, and how long /slow takes: far apart, so that a loaded
# machine (CI runs two processes on two cores) neither makes a healthy answer miss the timeout
# nor lets the slow one in.
TIMEOUT_S = 2.0
SLOW_S = 3 * TIMEOUT_S


class _Photos(BaseHTTPRequestHandler):
    """Routes: /img/NAME (a JPEG), /missing, /slow, /page, /huge, /huge-declared,
    /to-private, /to-photo, /flaky (503 once, then the photo)."""

    hits: ClassVar[dict[str, int]] = {}
    sent_huge = 0
    flaky_left = 1

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "image/jpeg", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        with contextlib.suppress(OSError):  # the reader gave up (the /slow answer, timed out)
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        type(self).hits[path] = type(self).hits.get(path, 0) + 1
        if path.startswith("/img/"):
            self._send(200, PHOTO_2 if "red" in path else PHOTO)
        elif path == "/missing":
            self._send(404, b"no", "text/plain")
        elif path == "/slow":
            time.sleep(SLOW_S)
            self._send(200, PHOTO)
        elif path == "/page":
            self._send(200, b"<!DOCTYPE html><html><body>Shop</body></html>" * 4, "text/html")
        elif path == "/huge":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()  # no length: the body streams until the reader stops
            chunk = PHOTO[:4] + b"\0" * (256 * 1024 - 4)
            try:
                for _ in range(800):  # 200 MB if nobody stops reading
                    self.wfile.write(chunk)
                    type(self).sent_huge += len(chunk)
            except OSError:
                pass
        elif path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(200 * 1024 * 1024))
            self.end_headers()
        elif path == "/to-private":
            self._send(302, b"", "text/plain", Location="http://169.254.169.254/latest/meta-data")
        elif path == "/to-photo":
            self._send(302, b"", "text/plain", Location="/img/redirected.jpg")
        elif path == "/flaky":
            if type(self).flaky_left > 0:
                type(self).flaky_left -= 1
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, PHOTO)
        else:
            self._send(404, b"", "text/plain")


@pytest.fixture
def photo_server() -> Iterator[str]:
    _Photos.hits = {}
    _Photos.sent_huge = 0
    _Photos.flaky_left = 1
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Photos)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def allowed_loopback(
    tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[backends.Backends]:
    """The embedded backends with ``VISUALIZER_PRIVATE_HOSTS_ALLOWED=127.0.0.1/32``, and the
    download limits small enough for a test."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sqlite_template, home / "visualizer.db")
    settings = load_settings(visualizer_home=home, visualizer_private_hosts_allowed="127.0.0.1/32")
    built = backends.build(settings)
    backends.activate(built)
    monkeypatch.setattr(fetch, "TIMEOUT_S", TIMEOUT_S)
    monkeypatch.setattr(fetch, "BACKOFF_S", 0.01)
    monkeypatch.setattr(fetch, "ATTEMPTS", 2)
    monkeypatch.setattr(fetch, "MAX_PHOTO_BYTES", 2 * 1024 * 1024)
    try:
        yield built
    finally:
        backends.reset()


pytestmark = pytest.mark.usefixtures("allowed_loopback")


def _errors(report: products.ImportReport) -> dict[int, str]:
    return {e["row"]: e["error"] for e in report.errors}


def test_our_csv_with_urls_and_the_hostile_answers(tmp_path: Path, photo_server: str) -> None:
    client = factories.create_client()
    base = photo_server
    rows = [
        {"sku": "OK", "name": "Sofa", "image": f"{base}/img/a.jpg|{base}/to-photo"},
        {"sku": "404", "name": "Lamp", "image": f"{base}/missing"},
        {"sku": "SLOW", "name": "Rug", "image": f"{base}/slow"},
        {"sku": "HTML", "name": "Vase", "image": f"{base}/page"},
        {"sku": "HUGE", "name": "Bed", "image": f"{base}/huge"},
        {"sku": "DECLARED", "name": "Desk", "image": f"{base}/huge-declared"},
        {"sku": "PRIVATE", "name": "Mirror", "image": f"{base}/to-private"},
        {"sku": "FLAKY", "name": "Stool", "image": f"{base}/flaky"},
    ]
    path = factories.write_catalog(tmp_path, rows)
    seen: list[tuple[int, int]] = []
    report = products.import_products(
        ADMIN, client_id=client.id, csv_path=path, progress=lambda d, t: seen.append((d, t))
    )
    errors = _errors(report)
    # Every product is stored; the photos that failed are named, and their products have none.
    assert (report.imported, report.failed) == (8, 0)
    assert set(errors) == {2, 3, 4, 5, 6, 7}, errors
    assert report.photos_missing == 6
    assert f"{base}/missing" in errors[2] and "HTTP 404" in errors[2]
    assert f"no answer within {TIMEOUT_S:g} s" in errors[3] and "tried 2 times" in errors[3]
    assert "HTML page, not an image" in errors[4]
    assert "larger than the limit" in errors[5]
    assert _Photos.sent_huge < 50 * 1024 * 1024  # the reader stopped long before 200 MB
    assert "limit" in errors[6] and str(200 * 1024 * 1024) in errors[6]
    assert "redirected to http://169.254.169.254" in errors[7]
    assert "public addresses" in errors[7]
    assert seen[-1] == (9, 9) and len(seen) == 9  # a progress step per distinct URL

    sofa = products.get_product(ADMIN, product_id=report.product_ids[0])
    assert len(sofa.image_ids) == 2  # its redirect was followed to a photo
    stool = products.get_product(ADMIN, product_id=report.product_ids[7])
    assert stool.sku == "FLAKY" and len(stool.image_ids) == 1  # retried after a 503
    (lamp,) = products.list_products(ADMIN, client_id=client.id, search="Lamp")
    assert lamp.photo_state == "missing" and lamp.image_ids == []
    assert lamp.photo_errors[0]["url"] == f"{base}/missing"
    assert "HTTP 404" in lamp.photo_errors[0]["reason"]

    # Importing again fetches only what failed: the landed photos are not downloaded again.
    before = dict(_Photos.hits)
    again = products.import_products(ADMIN, client_id=client.id, csv_path=path)
    assert (again.imported, again.updated, again.failed) == (0, 8, 0)
    assert _Photos.hits.get("/img/a.jpg") == before.get("/img/a.jpg") == 1
    assert _Photos.hits["/missing"] == before["/missing"] + 1
    assert len(products.get_product(ADMIN, product_id=report.product_ids[0]).image_ids) == 2


def test_a_url_to_an_address_not_allowed_is_refused(tmp_path: Path) -> None:
    client = factories.create_client()
    path = factories.write_catalog(
        tmp_path, [{"sku": "A", "name": "Sofa", "image": "http://10.0.0.7/sofa.jpg"}]
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=path)
    assert (report.imported, report.failed, report.photos_missing) == (1, 0, 1)
    assert "http://10.0.0.7/sofa.jpg" in report.errors[0]["error"]
    assert "private" in report.errors[0]["error"]


def test_each_format_lands_its_products_with_photos(tmp_path: Path, photo_server: str) -> None:
    client = factories.create_client()
    base = photo_server
    shopify = tmp_path / "products_export.csv"
    shopify.write_text(
        "Handle,Title,Body (HTML),Type,Tags,Variant SKU,Image Src,Image Position\n"
        f"bunny,Bunny Soft Toy,<p>So <b>soft</b></p>,Toys,nursery,BUN-1,{base}/img/b2.jpg,2\n"
        f",,,,,BUN-2,,\n"
        f"bunny,,,,,,{base}/img/red-b1.jpg,1\n",
        encoding="utf-8",
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=shopify)
    assert (report.imported, report.errors) == (
        1,
        [{"row": 2, "error": "missing Handle", "line": 3}],
    )
    bunny = products.get_product(ADMIN, product_id=report.product_ids[0])
    assert (bunny.sku, bunny.name, bunny.description) == (
        "BUN-1",
        "Bunny Soft Toy",
        "So soft\nTags: nursery",
    )
    assert len(bunny.image_ids) == 2

    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<rss xmlns:g="http://base.google.com/ns/1.0" version="2.0"><channel>'
        f"<item><g:id>MAT-1</g:id><title>Coir Door Mat</title>"
        f"<g:image_link>{base}/img/mat.jpg</g:image_link>"
        "<g:google_product_category>2675</g:google_product_category></item>"
        "</channel></rss>",
        encoding="utf-8",
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=feed)
    assert (report.imported, report.failed) == (1, 0)
    mat = products.get_product(ADMIN, product_id=report.product_ids[0])
    assert mat.category == "Home & Garden > Decor > Door Mats"

    tsv = tmp_path / "feed.tsv"
    tsv.write_text(
        f"id\ttitle\timage_link\tproduct_type\nHOOD-1\tCooker Hood\t{base}/img/hood.jpg\tKitchen\n",
        encoding="utf-8",
    )
    report = products.import_products(ADMIN, client_id=client.id, csv_path=tsv)
    assert report.imported == 1

    frame = pd.DataFrame(
        [{"id": "MAT-1", "title": "Coir Door Mat, large", "image_link": f"{base}/img/mat.jpg"}]
    )
    found = admin.import_products(frame, client_id=client.id, progress=False)
    assert (found["imported"], found["updated"], found["failed"]) == (0, 1, 0)  # idempotent by id
    assert products.get_product(ADMIN, product_id=found["product_ids"][0]).name == (
        "Coir Door Mat, large"
    )


class _HangUp:
    """A host that accepts connections and closes them at once, counting them: a dead host
    whose failures take no time, so the test sees how many photos were tried."""

    def __init__(self) -> None:
        self.connections = 0
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.base = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


def test_a_dead_host_is_recognised_once_and_its_products_kept(
    tmp_path: Path, photo_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fetch, "CONCURRENCY", 2)
    dead = _HangUp()
    try:
        client = factories.create_client()
        rows = [
            {"sku": f"BLIND-{n}", "name": f"Roller Blind {n}", "image": f"{dead.base}/b{n}.jpg"}
            for n in range(30)
        ]
        rows.append({"sku": "LAMP", "name": "Arc Lamp", "image": f"{photo_server}/img/lamp.jpg"})
        path = factories.write_catalog(tmp_path, rows)
        report = products.import_products(ADMIN, client_id=client.id, csv_path=path)
    finally:
        dead.close()
    # Every product is stored; the dead host's photos are named missing, with one reason.
    assert (report.imported, report.failed, report.photos_missing) == (31, 0, 30)
    host = dead.base.removeprefix("http://")
    [down] = report.hosts_down
    tried = (fetch.DEAD_HOST_AFTER + fetch.CONCURRENCY) * fetch.ATTEMPTS
    assert down["host"] == host and down["photos"] >= 30 - tried // fetch.ATTEMPTS
    assert dead.connections <= tried < 30 * fetch.ATTEMPTS  # the rest were not tried
    reasons = [e["error"].split(": ", 1)[1] for e in report.errors]
    assert reasons.count(down["reason"]) >= down["photos"]  # the ones not tried say it the same
    assert all(r.startswith("could not connect") for r in reasons)
    listed = {p.sku: p for p in products.list_products(ADMIN, client_id=client.id)}
    assert listed["LAMP"].photo_state == "ok"
    assert all(listed[f"BLIND-{n}"].photo_state == "missing" for n in range(30))


def test_a_product_with_a_failed_photo_keeps_the_ones_that_came(
    tmp_path: Path, photo_server: str
) -> None:
    client = factories.create_client()
    base = photo_server
    path = factories.write_catalog(
        tmp_path,
        [
            {"sku": "HALF", "name": "Sofa", "image": f"{base}/img/sofa.jpg|{base}/missing"},
            {"sku": "NONE", "name": "Lamp", "image": f"{base}/missing"},
        ],
    )
    first = products.import_products(ADMIN, client_id=client.id, csv_path=path)
    assert (first.imported, first.failed, first.photos_missing) == (2, 0, 2)
    half = products.get_product(ADMIN, product_id=first.product_ids[0])
    assert half.photo_state == "ok" and len(half.image_ids) == 1
    assert half.photo_errors == [
        {"url": f"{base}/missing", "reason": "the server answered HTTP 404"}
    ]

    # Importing again fetches only the photos not yet stored: not the sofa's photo again.
    again = products.import_products(ADMIN, client_id=client.id, csv_path=path)
    assert (again.updated, again.photos_fetched, again.photos_kept) == (2, 0, 1)
    assert _Photos.hits["/img/sofa.jpg"] == 1
    assert _Photos.hits["/missing"] == 2

    # Generation skips the product without a photo, saying which photo and why.
    session = factories.create_session(client.id)
    scene_id = next(iter(factories.add_rooms(session.id, ["living_room"]).values()))
    lamp_id = first.product_ids[1]
    with pytest.raises(InvalidInput) as refused:
        generation.generate(
            ADMIN,
            session_id=session.id,
            product_ids=[lamp_id],
            scenes={uuid.UUID(lamp_id): scene_id},
            dispatch=False,
        )
    assert f"its photo {base}/missing could not be stored: the server answered HTTP 404" in str(
        refused.value
    )
