"""Product photos by URL: downloaded concurrently, safely, and only as far as they are images.

Catalogs from Shopify and Merchant Center name their photos by ``http(s)`` URL. Each URL goes
through :mod:`visualizer_core.outbound` (public addresses only, unless
``VISUALIZER_PRIVATE_HOSTS_ALLOWED`` names the host; the connection pinned to the checked
address), and redirects are followed by hand, each ``Location`` checked again, at most
:data:`MAX_REDIRECTS` of them. The answer is streamed: a ``Content-Length`` over the cap is
refused before a byte is read, and a body is abandoned the moment it passes the cap, so a
200 MB answer costs at most the cap in memory. What arrives must start like an image (JPEG,
PNG, GIF, WebP, TIFF, BMP, HEIF/AVIF); an HTML page is named as such. Timeouts, refused
connections, 429 and 5xx answers are retried with exponential backoff; anything else fails at
once. A failure never raises: it is the reason, for the caller to report on the row.

Downloads run on a small thread pool (:data:`CONCURRENCY` at a time), each written to a file
in a folder the caller owns, so the ingest pipeline reads them like any uploaded photo.

A dead host is recognised once: when :data:`DEAD_HOST_AFTER` photos of one host in a row fail
for a reason of the host (its name does not resolve, it refuses connections, it does not
answer), the rest of its photos are not tried; each fails at once with that reason, marked
``host_down``. Without this, a catalog of 5,000 photos on a CDN that cannot be reached (no
network) spends minutes repeating the same DNS error.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx

from visualizer_core import outbound
from visualizer_core.errors import InvalidInput
from visualizer_core.images.ingest import MAX_BYTES

__all__ = [
    "CONCURRENCY",
    "DEAD_HOST_AFTER",
    "MAX_PHOTO_BYTES",
    "MAX_REDIRECTS",
    "Downloaded",
    "download_all",
    "sniff_image",
]

CONCURRENCY = 8
MAX_REDIRECTS = 5
MAX_PHOTO_BYTES = MAX_BYTES  # the ingest's own limit: a bigger photo would be refused there
TIMEOUT_S = 20.0
ATTEMPTS = 3
BACKOFF_S = 0.5
DEAD_HOST_AFTER = 3
_CHUNK = 64 * 1024
_RETRY_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Downloaded:
    """One URL's outcome: the file it was saved to, or why it could not be."""

    url: str
    path: Path | None = None
    error: str | None = None
    host: str = ""
    host_down: bool = False
    """Not tried: earlier photos of its host failed for a reason of the host."""


class _Retry(Exception):
    """A failure worth another attempt."""


class _HostDown(Exception):
    """A failure of the host itself (no such name), not of this one photo."""


def _host_of(url: str) -> str:
    """``host`` or ``host:port``: what a dead host is recognised by."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        return ""
    host = parsed.host.lower()
    return f"{host}:{parsed.port}" if parsed.port else host


class _Hosts:
    """Consecutive host-level failures per host, shared by the download threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._reason: dict[str, str] = {}

    def dead(self, host: str) -> str | None:
        """The reason the host was given up on, or None while it is still tried."""
        with self._lock:
            if self._failures.get(host, 0) >= DEAD_HOST_AFTER:
                return self._reason[host]
            return None

    def failed(self, host: str, reason: str) -> None:
        with self._lock:
            self._failures[host] = self._failures.get(host, 0) + 1
            self._reason.setdefault(host, reason)

    def answered(self, host: str) -> None:
        with self._lock:
            self._failures[host] = 0
            self._reason.pop(host, None)


def sniff_image(head: bytes) -> str | None:
    """The image format the first bytes announce, or ``None`` when they are not an image."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:2] == b"BM":
        return "bmp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis", b"heic", b"heix", b"mif1"):
        return "heif"
    return None


def _not_an_image(head: bytes, content_type: str) -> str:
    text = head[:512].lstrip().lower()
    if content_type.startswith("text/html") or text.startswith((b"<!doctype html", b"<html")):
        return "the address answered with an HTML page, not an image"
    kind = content_type.split(";", 1)[0].strip() or "unknown content"
    return f"the answer is not an image ({kind})"


class _Clients:
    """One pinned client per checked origin (scheme, host, port and its checked addresses),
    shared by the download threads: building a client costs an SSL context (tens of
    milliseconds of CPU), and reusing one keeps its connections open. Every URL is still
    checked on its own; a host that resolves to other addresses gets a client of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[tuple[object, ...], httpx.Client] = {}

    def get(self, checked: outbound.CheckedURL) -> httpx.Client:
        key = (checked.scheme, checked.host, checked.port, checked.addresses)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = outbound.pinned_client(
                    checked,
                    timeout=httpx.Timeout(TIMEOUT_S),
                    headers={"Accept": "image/*", "User-Agent": "Visualizer catalog import"},
                )
                self._clients[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def _fetch_once(url: str, dest: Path, clients: _Clients) -> None:
    """One attempt, redirects followed hop by hop; raises InvalidInput or _Retry."""
    current = url
    for hop in range(MAX_REDIRECTS + 1):
        try:
            checked = outbound.check_url(current)
        except InvalidInput as error:
            if hop == 0:
                if "cannot be resolved" in str(error):
                    raise _HostDown(str(error)) from None
                raise
            raise InvalidInput(f"redirected to {current}: {error}") from None
        try:
            with clients.get(checked).stream("GET", current) as answer:
                if answer.is_redirect and answer.headers.get("location"):
                    current = urljoin(current, answer.headers["location"])
                    continue
                if answer.status_code in _RETRY_STATUS:
                    raise _Retry(f"the server answered HTTP {answer.status_code}")
                if answer.status_code != 200:
                    raise InvalidInput(f"the server answered HTTP {answer.status_code}")
                declared = answer.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_PHOTO_BYTES:
                    raise InvalidInput(
                        f"the photo is {int(declared)} bytes; the limit is {MAX_PHOTO_BYTES}"
                    )
                _save(answer, dest)
                return
        except httpx.TimeoutException:
            raise _Retry(f"no answer within {TIMEOUT_S:g} s") from None
        except httpx.TransportError as error:
            raise _Retry(f"could not connect ({type(error).__name__})") from None
    raise InvalidInput(f"more than {MAX_REDIRECTS} redirects")


def _save(answer: httpx.Response, dest: Path) -> None:
    """Stream the body to ``dest``, abandoning it past the size limit or if it is no image."""
    size = 0
    head = b""
    with dest.open("wb") as out:
        for chunk in answer.iter_bytes(_CHUNK):
            if len(head) < 32:
                head += chunk[: 32 - len(head)]
                if len(head) >= 32 and sniff_image(head) is None:
                    kind = answer.headers.get("content-type", "")
                    raise InvalidInput(_not_an_image(head + chunk, kind))
            size += len(chunk)
            if size > MAX_PHOTO_BYTES:
                raise InvalidInput(f"the photo is larger than the limit of {MAX_PHOTO_BYTES} bytes")
            out.write(chunk)
    if size == 0:
        raise InvalidInput("the answer was empty")
    if sniff_image(head) is None:
        raise InvalidInput(_not_an_image(head, answer.headers.get("content-type", "")))


def _download(url: str, folder: Path, hosts: _Hosts, clients: _Clients) -> Downloaded:
    host = _host_of(url)
    given_up = hosts.dead(host)
    if given_up is not None:
        return Downloaded(url, error=given_up, host=host, host_down=True)
    dest = folder / hashlib.sha256(url.encode()).hexdigest()[:32]
    reason = "not tried"
    for attempt in range(ATTEMPTS):
        try:
            _fetch_once(url, dest, clients)
            hosts.answered(host)
            return Downloaded(url, path=dest, host=host)
        except InvalidInput as error:
            dest.unlink(missing_ok=True)
            hosts.answered(host)  # the host answered; this photo is the problem
            return Downloaded(url, error=str(error), host=host)
        except _HostDown as error:
            hosts.failed(host, str(error))
            return Downloaded(url, error=str(error), host=host)
        except OSError as error:  # the folder: full disk and the like
            dest.unlink(missing_ok=True)
            return Downloaded(url, error=f"could not save the photo ({error.strerror})", host=host)
        except _Retry as error:
            dest.unlink(missing_ok=True)
            reason = str(error)
            given_up = hosts.dead(host)
            if given_up is not None:  # others found the host dead meanwhile: say it as they do
                return Downloaded(url, error=given_up, host=host)
            if attempt + 1 < ATTEMPTS:
                time.sleep(BACKOFF_S * 2**attempt)
            else:
                break
    tries = attempt + 1
    reason = f"{reason} (tried {tries} {'time' if tries == 1 else 'times'})"
    if reason.startswith(("could not connect", "no answer within")):
        hosts.failed(host, reason)
    return Downloaded(url, error=reason, host=host)


def download_all(
    urls: Sequence[str], folder: Path, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, Downloaded]:
    """Download every URL (each once) into ``folder``; ``progress(done, total)`` after each.

    The limits are this module's, read at each call: :data:`CONCURRENCY`, :data:`TIMEOUT_S`,
    :data:`MAX_PHOTO_BYTES`, :data:`ATTEMPTS`, :data:`BACKOFF_S`, :data:`DEAD_HOST_AFTER`.
    """
    unique = list(dict.fromkeys(urls))
    results: dict[str, Downloaded] = {}
    if not unique:
        return results
    hosts = _Hosts()
    clients = _Clients()
    try:
        with cf.ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(unique))) as pool:
            futures = {pool.submit(_download, url, folder, hosts, clients): url for url in unique}
            for done, future in enumerate(cf.as_completed(futures), start=1):
                results[futures[future]] = future.result()
                if progress is not None:
                    progress(done, len(unique))
    finally:
        clients.close()
    return results
