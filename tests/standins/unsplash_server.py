"""An Unsplash API stand-in: a real HTTP server on loopback speaking the API's wire format.

Routes (``Authorization: Client-ID <key>`` or ``?client_id=``, as the real API takes them):

- ``GET /search/photos?query&page&per_page&orientation&color``: ``{"total", "total_pages",
  "results": [photo, ...]}`` from a fixed catalogue of interior photos, each with ``urls``,
  ``links`` (``html``, ``download``, ``download_location``), ``user``, ``color`` and a real
  ``blur_hash`` of the picture it serves;
- ``GET /photos/{id}/download``: the download tracking event; answers ``{"url": ...}``;
- ``GET /images/{id}.jpg?w=`` on a second server, the image host (Unsplash's is
  images.unsplash.com, another host than its API): the photo, a room the server draws (in the
  photo's colour, at the photo's aspect ratio, ``w`` pixels wide). It needs no key, and records
  whether one was sent anyway (``Recorded.key_sent``): the key is the API's only.

Every API answer carries ``X-Ratelimit-Limit`` and ``X-Ratelimit-Remaining``. With ``rate_limit``
set, API calls past it answer 403 with the plain-text body ``Rate Limit Exceeded``, as Unsplash
does; image requests are not counted (Unsplash's image CDN is not rate limited).
:meth:`UnsplashStandIn.fail_next` queues one-off faults ("429", "500", "503", "401").
"""

from __future__ import annotations

import collections
import io
import json
import math
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import blurhash
from PIL import Image, ImageDraw

__all__ = ["CATALOGUE", "StandInPhoto", "UnsplashStandIn"]

_COLORS = {
    "white": (236, 233, 226),
    "black": (34, 33, 31),
    "yellow": (222, 196, 90),
    "orange": (214, 132, 64),
    "red": (178, 60, 52),
    "green": (96, 140, 92),
    "teal": (60, 136, 136),
    "blue": (70, 108, 170),
    "purple": (120, 86, 150),
    "magenta": (176, 70, 130),
    "black_and_white": (128, 128, 128),
}


@dataclass(frozen=True)
class StandInPhoto:
    id: str
    description: str
    color: str  # one of Unsplash's colour filter names
    width: int
    height: int
    photographer: str
    username: str

    @property
    def orientation(self) -> str:
        ratio = self.width / self.height
        return "landscape" if ratio > 1.1 else "portrait" if ratio < 1 / 1.1 else "squarish"

    @property
    def rgb(self) -> tuple[int, int, int]:
        return _COLORS[self.color]


def _catalogue() -> list[StandInPhoto]:
    rooms = [
        "living room",
        "bedroom",
        "home office",
        "dining room",
        "kitchen",
        "bathroom",
        "hallway",
        "patio",
    ]
    styles = ["scandinavian", "industrial", "minimal", "boho", "mid-century"]
    colors = ["white", "blue", "green", "orange", "black", "teal", "yellow"]
    shapes = [(6000, 4000), (4000, 6000), (4000, 4000), (5472, 3648)]
    people = [
        ("Ana Lopes", "analopes"),
        ("Jonas Berg", "jberg"),
        ("Mei Tanaka", "meitanaka"),
        ("Kofi Mensah", "kofim"),
    ]
    photos = []
    for n in range(48):
        room = rooms[n % len(rooms)]
        style = styles[n % len(styles)]
        width, height = shapes[n % len(shapes)]
        name, user = people[n % len(people)]
        photos.append(
            StandInPhoto(
                id=f"ph{n:03d}{'abcdefgh'[n % 8]}X",
                description=f"A {style} {room} with natural light",
                color=colors[n % len(colors)],
                width=width,
                height=height,
                photographer=name,
                username=user,
            )
        )
    return photos


CATALOGUE: list[StandInPhoto] = _catalogue()


def draw_photo(photo: StandInPhoto, width: int) -> Image.Image:
    """A room in the photo's colour: wall, floor, a window; at the photo's aspect ratio."""
    height = max(round(width * photo.height / photo.width), 1)
    wall = photo.rgb
    image = Image.new("RGB", (width, height), wall)
    draw = ImageDraw.Draw(image)
    floor_y = round(height * 0.7)
    draw.rectangle((0, floor_y, width, height), fill=tuple(round(c * 0.55) for c in wall))
    draw.rectangle(
        (round(width * 0.62), round(height * 0.12), round(width * 0.86), round(height * 0.5)),
        fill=(236, 240, 245),
    )
    seed = sum(ord(c) for c in photo.id)
    x = round(width * (0.1 + (seed % 20) / 100))
    draw.rectangle(
        (x, round(height * 0.5), x + round(width * 0.18), floor_y + 4),
        fill=tuple(min(c + 40, 255) for c in wall[::-1]),
    )
    return image


_HASHES: dict[str, str] = {}
_HASH_LOCK = threading.Lock()


def blur_hash_of(photo: StandInPhoto) -> str:
    """The BlurHash of the picture served for ``photo`` (computed once)."""
    with _HASH_LOCK:
        if photo.id not in _HASHES:
            small = draw_photo(photo, 32)
            pixels = [
                [list(small.getpixel((x, y))) for x in range(small.width)]
                for y in range(small.height)
            ]
            _HASHES[photo.id] = blurhash.encode(pixels, 4, 3)
        return _HASHES[photo.id]


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it (the access key is never kept)."""

    path: str
    query: dict[str, str]
    key_ok: bool
    status: int
    kind: str  # "search", "download", "image", "other"
    host: str = "api"  # "api" or "images": which of the two servers answered
    key_sent: bool = False  # a Client-ID header or client_id parameter came with it


class UnsplashStandIn:
    """The stand-in server. ``start()`` it, point ``UNSPLASH_API_URL`` at ``base_url``."""

    def __init__(self, *, access_key: str = "test-unsplash-key", rate_limit: int = 50) -> None:
        self.access_key = access_key
        self.rate_limit = rate_limit
        self._used = 0
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._faults: collections.deque[str] = collections.deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._image_server: ThreadingHTTPServer | None = None
        self._image_thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> UnsplashStandIn:
        self._server, self._thread = self._serve(self._handle, "unsplash-stand-in")
        self._image_server, self._image_thread = self._serve(
            self._handle_image, "unsplash-stand-in-images"
        )
        return self

    @staticmethod
    def _serve(handle: Any, name: str) -> tuple[ThreadingHTTPServer, threading.Thread]:
        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name=name, daemon=True
        )
        thread.start()
        return server, thread

    def stop(self) -> None:
        for server, thread in (
            (self._server, self._thread),
            (self._image_server, self._image_thread),
        ):
            if server is not None:
                server.shutdown()
                server.server_close()
            if thread is not None:
                thread.join(timeout=5)
        self._server = self._thread = self._image_server = self._image_thread = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def image_url(self) -> str:
        """The image host's address (another port: another origin than the API)."""
        if self._image_server is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._image_server.server_address[:2]
        return f"http://localhost:{port}" if host == "127.0.0.1" else f"http://{host!s}:{port}"

    def search_calls(self) -> int:
        """How many searches reached the API (cached answers never do)."""
        return sum(1 for r in self.requests if r.kind == "search")

    # -- knobs and records ---------------------------------------------------------------------

    def fail_next(self, kind: str, count: int = 1) -> None:
        """The next ``count`` API calls (not image fetches) fail as ``kind``."""
        if kind not in ("401", "429", "500", "503"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.extend([kind] * count)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    def downloads(self) -> list[str]:
        """Photo ids whose download was tracked, in order."""
        return [
            r.path.split("/")[2] for r in self.requests if r.kind == "download" and r.status == 200
        ]

    # -- HTTP ---------------------------------------------------------------------------------

    def _handle_image(self, http: BaseHTTPRequestHandler) -> None:
        url = urlsplit(http.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        sent = bool(http.headers.get("authorization")) or "client_id" in query
        query.pop("client_id", None)
        status, body, ctype = self._image(url.path, query)
        with self._lock:
            self._requests.append(
                Recorded(url.path, dict(query), True, status, "image", "images", sent)
            )
        self._send(http, status, body, ctype, counted=False)

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        url = urlsplit(http.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        auth = http.headers.get("authorization") or ""
        key = auth.removeprefix("Client-ID ").strip() if auth.startswith("Client-ID ") else None
        key = key or query.pop("client_id", None)
        kind = (
            "search"
            if url.path == "/search/photos"
            else "download"
            if re.fullmatch(r"/photos/[^/]+/download", url.path)
            else "other"
        )
        key_ok = key == self.access_key
        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            over = key_ok and self._used >= self.rate_limit
            if key_ok and not over:
                self._used += 1
        if not key_ok or fault == "401":
            status, body, ctype = 401, _errors("OAuth error: The access token is invalid"), None
        elif over:
            status, body, ctype = 403, b"Rate Limit Exceeded", "text/plain"
        elif fault == "429":
            status, body, ctype = 429, b"Too Many Requests", "text/plain"
        elif fault in ("500", "503"):
            status, body, ctype = int(fault), _errors("Something went wrong"), None
        elif kind == "search":
            status, body, ctype = self._search(query)
        elif kind == "download":
            status, body, ctype = self._download(url.path, query)
        else:
            status, body, ctype = 404, _errors("Couldn't find the route"), None
        self._record(url.path, query, key_ok, status, kind, key_sent=bool(key))
        self._send(http, status, body, ctype, counted=True)

    def _record(
        self,
        path: str,
        query: dict[str, str],
        key_ok: bool,
        status: int,
        kind: str,
        *,
        key_sent: bool,
    ) -> None:
        with self._lock:
            self._requests.append(
                Recorded(path, dict(query), key_ok, status, kind, "api", key_sent)
            )

    def _send(
        self,
        http: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        ctype: str | None,
        *,
        counted: bool,
    ) -> None:
        try:
            http.send_response(status)
            http.send_header("Content-Type", ctype or "application/json")
            http.send_header("Content-Length", str(len(body)))
            if counted:
                with self._lock:
                    remaining = max(self.rate_limit - self._used, 0)
                http.send_header("X-Ratelimit-Limit", str(self.rate_limit))
                http.send_header("X-Ratelimit-Remaining", str(remaining))
            http.end_headers()
            http.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -- answers ------------------------------------------------------------------------------

    def _search(self, query: dict[str, str]) -> tuple[int, bytes, str | None]:
        text = query.get("query", "").strip().lower()
        if not text:
            return 400, _errors("query is missing"), None
        try:
            page = max(int(query.get("page", "1")), 1)
            per_page = min(max(int(query.get("per_page", "10")), 1), 30)
        except ValueError:
            return 400, _errors("page and per_page must be numbers"), None
        words = re.findall(r"[a-z0-9-]+", text)
        found = [p for p in CATALOGUE if all(w in p.description.lower() for w in words)]
        if query.get("orientation"):
            found = [p for p in found if p.orientation == query["orientation"]]
        if query.get("color"):
            found = [p for p in found if p.color == query["color"]]
        total = len(found)
        window = found[(page - 1) * per_page : page * per_page]
        body = {
            "total": total,
            "total_pages": math.ceil(total / per_page),
            "results": [self._photo_json(p) for p in window],
        }
        return 200, json.dumps(body).encode(), None

    def _photo_json(self, photo: StandInPhoto) -> dict[str, Any]:
        base = self.base_url
        image = f"{self.image_url}/images/{photo.id}.jpg?ixid=standin&ixlib=rb-4.0.3"
        return {
            "id": photo.id,
            "slug": photo.description.lower().replace(" ", "-") + f"-{photo.id}",
            "created_at": "2026-03-14T09:26:53Z",
            "width": photo.width,
            "height": photo.height,
            "color": "#{:02x}{:02x}{:02x}".format(*photo.rgb),
            "blur_hash": blur_hash_of(photo),
            "description": photo.description,
            "alt_description": photo.description.lower(),
            "urls": {
                "raw": image,
                "full": f"{image}&q=85&fm=jpg",
                "regular": f"{image}&w=1080",
                "small": f"{image}&w=400",
                "thumb": f"{image}&w=200",
            },
            "links": {
                "self": f"{base}/photos/{photo.id}",
                "html": f"https://unsplash.com/photos/{photo.id}",
                "download": f"https://unsplash.com/photos/{photo.id}/download",
                "download_location": f"{base}/photos/{photo.id}/download?ixid=standin",
            },
            "user": {
                "id": f"u-{photo.username}",
                "username": photo.username,
                "name": photo.photographer,
                "links": {
                    "self": f"{base}/users/{photo.username}",
                    "html": f"https://unsplash.com/@{photo.username}",
                },
            },
        }

    def _download(self, path: str, query: dict[str, str]) -> tuple[int, bytes, str | None]:
        photo_id = path.split("/")[2]
        if not any(p.id == photo_id for p in CATALOGUE):
            return 404, _errors("Couldn't find Photo"), None
        url = f"{self.image_url}/images/{photo_id}.jpg?ixid=standin&fm=jpg"
        return 200, json.dumps({"url": url}).encode(), None

    def _image(self, path: str, query: dict[str, str]) -> tuple[int, bytes, str | None]:
        match = re.fullmatch(r"/images/([^/]+)\.jpg", path)
        photo = next((p for p in CATALOGUE if match and p.id == match[1]), None)
        if photo is None:
            return 404, b"Not Found", "text/plain"
        width = min(max(int(query.get("w", "1080")), 16), 4000)
        buffer = io.BytesIO()
        draw_photo(photo, width).save(buffer, "JPEG", quality=88)
        return 200, buffer.getvalue(), "image/jpeg"


def _errors(*messages: str) -> bytes:
    return json.dumps({"errors": list(messages)}).encode()
