"""A Gemini API stand-in: a real HTTP server on loopback that the google-genai SDK talks to.

It speaks the ``generateContent`` wire format of the Gemini Developer API (camelCase JSON,
base64 ``inlineData``, ``generationConfig``, google.rpc error bodies), checks the
``x-goog-api-key`` header (or ``?key=``), records every request, and is as strict as the real
service where our code could go wrong:

- the API versions Google serves (``api_versions``: ``v1beta``, what Google's documentation and
  clients use, and ``v1``, the SDK's default), each as strict as the other; another is a 404;
- a known model list (:data:`MODELS`: image or text model, the image sizes it takes): another
  model is a 404, an image size the model does not take or an image asked of a text model a 400;
- ``generationConfig`` and ``imageConfig`` fields it does not know are a 400 ("Unknown name"),
  as the real API's proto parsing answers;
- per-model limits (``limits={"model": {"rpm", "tpm", "rpd"}}``, ``rpm_limit`` the default):
  past the minute's requests or tokens a 429 RESOURCE_EXHAUSTED with a per-minute QuotaFailure
  and a RetryInfo; past the day's requests a 429 with a per-day QuotaFailure and no RetryInfo.
  ``window_s`` (60) and ``day_s`` (a day) are test knobs: the same lengths the client's limiter
  is told (``VISUALIZER_LIMIT_WINDOW_S`` / ``VISUALIZER_LIMIT_DAY_S``).

It answers:

- image requests (``responseModalities`` has IMAGE): optional thought parts, a text part and a
  JPEG composed from the inputs (the last image is the scene, the first is pasted into its
  lower centre), sized for ``imageConfig.aspectRatio`` and ``imageSize``;
- JSON requests (``responseMimeType`` application/json): a plausible instance of the sent
  ``responseSchema`` or ``responseJsonSchema``;
- anything else: a short text.

Knobs: ``latency_s`` (and ``model_latency_s`` per model), ``rpm_limit`` / ``limits``,
``models`` (the names served; others get 404), ``thoughts`` / ``thought_image`` (thought parts
before the answer), ``json_answer`` (values merged into JSON answers). Faults: every failure our
client must handle can be sent on purpose, once (:meth:`GeminiStandIn.fail_next`, optionally only
for one model) or at a rate (:meth:`GeminiStandIn.fail_rate`): see :data:`FAULT_KINDS`. Routes
are a table (:meth:`GeminiStandIn.add_route`).

The Batch API is there too, as the SDK speaks it: the Files API's resumable upload
(``/upload/{v}/files``, then the upload URL it hands out, which takes no key),
``models/{model}:batchGenerateContent`` on an uploaded JSONL file, ``batches/{id}`` to poll
(``batch_polls`` polls answer RUNNING, the next runs every line through the same answer code,
queued faults included, and answers SUCCEEDED) and ``files/{id}:download`` for the responses
file: one ``{"key", "response"}`` or ``{"key", "error"}`` line per request. Each line is
recorded with ``action == "batchLine"``; :meth:`GeminiStandIn.fail_next_batch` fails a job whole.
"""

from __future__ import annotations

import base64
import binascii
import collections
import io
import json
import math
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

from tests.standins.drawing import Drawing

__all__ = [
    "FAULT_KINDS",
    "MODELS",
    "Fault",
    "GeminiStandIn",
    "ModelSpec",
    "RecordedRequest",
    "Reply",
    "Request",
]

FAULT_KINDS = (
    "429",  # a busy minute: per-minute QuotaFailure and RetryInfo (``retry_delay``); ``quotas``
    # and ``free_tier`` name other or several quotas, as real 429s may
    "daily_429",  # the model's day is used up: per-day QuotaFailure, no RetryInfo
    "400",
    "403",
    "404",
    "500",
    "503",  # "The model is overloaded"
    "504",
    "blocked",  # promptFeedback.blockReason (``block_reason``), no candidates
    "no_image",  # a text-only answer with ``finish_reason`` (IMAGE_SAFETY by default)
    "safety",  # no_image with finish reason IMAGE_SAFETY
    "empty",  # 200 with no candidates at all
    "other",  # finish reason OTHER, nothing in the answer
    "max_tokens",  # finish reason MAX_TOKENS, a cut-off text and no image
    "bad_json",  # a JSON answer cut off in the middle
    "timeout",  # no answer for ``sleep_s`` seconds
)
_ALIASES = {"safety": ("no_image", "IMAGE_SAFETY")}


@dataclass(frozen=True)
class ModelSpec:
    """What a model served here takes: ``kind`` image or text, and its image sizes."""

    kind: str
    image_sizes: tuple[str, ...] = ()


# The models of the Gemini Developer API this stand-in knows (ai.google.dev, 2026-11).
MODELS: dict[str, ModelSpec] = {
    "gemini-nano-banana-2.1": ModelSpec("image", ("1K", "2K", "4K")),
    "gemini-3.1-flash-image": ModelSpec("image", ("512", "1K", "2K", "4K")),
    "gemini-3-pro-image": ModelSpec("image", ("1K", "2K", "4K")),
    "gemini-3.8-flash": ModelSpec("text"),
    "gemini-3.5-flash": ModelSpec("text"),
}

# The GenerationConfig fields of the API (camelCase, as sent on the wire).
_GENERATION_CONFIG_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
    }
)
_IMAGE_CONFIG_FIELDS = frozenset({"aspectRatio", "imageSize"})
_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")

# Status, google.rpc code name and message of the real API's error answers.
_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    403: ("PERMISSION_DENIED", "The caller does not have permission"),
    404: ("NOT_FOUND", "Requested entity was not found."),
    429: (
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. For more"
        " information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    ),
    500: (
        "INTERNAL",
        "An internal error has occurred. Please retry or report in"
        " https://developers.generativeai.google/guide/troubleshooting",
    ),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
}

# Output pixels per imageSize; the aspect ratio keeps the area.
_SIZES = {"512": 512, "1K": 1024, "2K": 2048, "4K": 4096}
_IMAGE_TOKENS = {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520}
_TOKENS_PER_INPUT_IMAGE = 258


@dataclass(frozen=True)
class Fault:
    """One planned failure: ``kind`` is one of :data:`FAULT_KINDS`."""

    kind: str
    retry_delay: str = "2s"  # for 429: google.rpc.RetryInfo.retryDelay
    finish_reason: str = "IMAGE_SAFETY"  # for no_image
    block_reason: str = "SAFETY"  # for blocked
    sleep_s: float = 30.0  # for timeout: how long the answer takes
    model: str | None = None  # only calls of this model meet it (None: any call)
    prompt_contains: str | None = None  # only calls whose text parts contain this meet it
    # for 429 and daily_429: the quotas the QuotaFailure names ("day", "minute", "tokens"; () is
    # none, a Help link alone), and the free tier's names with "limit: 0" everywhere
    quotas: tuple[str, ...] | None = None
    free_tier: bool = False


@dataclass(frozen=True)
class RecordedRequest:
    """What one request carried, for tests to assert on (the API key is never kept)."""

    method: str
    path: str
    api_version: str | None
    model: str | None
    action: str | None
    headers: dict[str, str]
    key_ok: bool
    images: list[tuple[str, bytes]]  # (mime type, bytes) of every inline part, in order
    prompt: str  # the text parts, joined by newlines
    generation_config: dict[str, Any]
    body: dict[str, Any]  # the JSON body with inline data replaced by its length
    status: int = 0  # the answer's HTTP status; 0 for a timeout fault (no answer in time)
    at: float = field(default_factory=time.monotonic)  # when it was recorded (monotonic s)
    fault: str | None = None  # the planned failure it met (a kind of FAULT_KINDS), if any

    @property
    def image_mime_types(self) -> list[str]:
        return [mime for mime, _ in self.images]


@dataclass
class Request:
    """A parsed request handed to a route handler."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    match: re.Match[str]

    def json(self) -> dict[str, Any]:
        if not self.raw:
            return {}
        value = json.loads(self.raw)
        if not isinstance(value, dict):
            raise ValueError("the body is not a JSON object")
        return value


@dataclass
class Reply:
    """A route handler's answer."""

    status: int
    body: dict[str, Any] | bytes
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


def error_body(
    status: int, message: str | None = None, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A google.rpc.Status error body as the Gemini API sends it."""
    name, default = _ERRORS.get(status, ("UNKNOWN", "Unknown error"))
    error: dict[str, Any] = {"code": status, "message": message or default, "status": name}
    if details:
        error["details"] = details
    return {"error": error}


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GeminiStandIn:
    """The stand-in server. ``start()`` it, point the SDK at ``base_url``, ``stop()`` it."""

    def __init__(
        self,
        *,
        api_key: str = "test-gemini-key",
        latency_s: float = 0.0,
        rpm_limit: int | None = None,
        models: set[str] | None = None,
        thoughts: bool = False,
        thought_image: bool = False,
        json_answer: dict[str, Any] | None = None,
        retry_delay: str = "2s",
        batch_polls: int = 1,
        api_versions: tuple[str, ...] = ("v1beta", "v1"),
        limits: dict[str, dict[str, int]] | None = None,
        window_s: float = 60.0,
        day_s: float | None = None,
        model_latency_s: dict[str, float] | None = None,
        spend_limits: dict[str, float] | None = None,
        prices: dict[str, tuple[float, float, float | None]] | None = None,
    ) -> None:
        self.api_key = api_key
        self.latency_s = latency_s
        self.model_latency_s = dict(model_latency_s or {})
        self.rpm_limit = rpm_limit
        self.models = set(MODELS) if models is None else set(models)
        self.thoughts = thoughts
        self.thought_image = thought_image
        self.json_answer = dict(json_answer or {})
        self.retry_delay = retry_delay
        self.api_versions = tuple(api_versions)
        self.limits = {model: dict(row) for model, row in (limits or {}).items()}
        self.window_s = window_s
        self.day_s = day_s
        self.drawing = Drawing()  # how image answers are drawn (tests/standins/drawing.py)
        # The billing account's spend limits: {"window_usd", "window_s", "month_usd"}, charged
        # with each answer's usage at ``prices`` (model: USD per 1M input, output, image out).
        self.spend_limits = dict(spend_limits or {})
        self.prices = dict(prices or {})
        self._spend: collections.deque[tuple[float, float]] = collections.deque()
        self._spend_month = 0.0
        self.spend_429s = 0
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._faults: collections.deque[Fault] = collections.deque()
        self._rates: list[tuple[Fault, float]] = []
        self._random = random.Random(0)
        # Per model: times of the requests in the window, (time, tokens) of the tokens, and the
        # requests counted in the current day ((day index, count)).
        self._windows: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self._token_windows: dict[str, collections.deque[tuple[float, int]]] = (
            collections.defaultdict(collections.deque)
        )
        self._days: dict[str, tuple[int, int]] = {}
        self._canned: collections.deque[tuple[str, Reply]] = collections.deque()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        self.add_route(
            "POST",
            r"/(?P<version>v[0-9a-z]+)/models/(?P<model>[^/:]+):generateContent",
            self._generate_content,
        )
        self.batch_polls = batch_polls
        self._billing: dict[str, dict[str, int]] = {}
        self._batch_faults: dict[str, collections.deque[str]] = {
            "create": collections.deque(),
            "download": collections.deque(),
        }
        self._unkeyed_lines = 0
        self._keyed_first = 0
        self._uploads: dict[str, dict[str, Any]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._fail_batches = 0
        # The Files API's resumable upload: the start needs the key, the upload URL does not.
        self.add_route("POST", r"/upload/(?P<version>v[0-9a-z]+)/files", self._upload)
        self.add_route(
            "POST",
            r"/upload/(?P<version>v[0-9a-z]+)/files/(?P<upload>[^/]+)",
            self._upload_chunk,
            auth=False,
        )
        self.add_route(
            "POST",
            r"/(?P<version>v[0-9a-z]+)/models/(?P<model>[^/:]+):batchGenerateContent",
            self._create_batch,
        )
        self.add_route(
            "GET", r"/(?P<version>v[0-9a-z]+)/batches/(?P<batch>[^/:]+)", self._get_batch
        )
        self.add_route(
            "GET", r"/(?P<version>v[0-9a-z]+)/files/(?P<file>[^/:]+):download", self._download
        )
        self.add_route("GET", r"/(?P<version>v[0-9a-z]+)/batches", self._list_batches)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> GeminiStandIn:
        """Binds a free port on 127.0.0.1 and serves in a daemon thread."""
        stand_in = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                stand_in._handle(self)

            def do_GET(self) -> None:
                stand_in._handle(self)

            def do_DELETE(self) -> None:
                stand_in._handle(self)

            def do_PUT(self) -> None:
                stand_in._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll
            name="gemini-stand-in",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops serving; sleeping handlers (latency, timeout faults) wake up and end."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> GeminiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- knobs and records ---------------------------------------------------------------------

    def fail_next(self, kind: str, count: int = 1, **options: Any) -> None:
        """The next ``count`` generateContent calls fail as ``kind`` (see :data:`FAULT_KINDS`).

        Options are :class:`Fault` fields, e.g. ``retry_delay="7s"``,
        ``finish_reason="NO_IMAGE"``, ``model="gemini-3.8-flash"`` or ``prompt_contains="Oslo"``
        (only the calls of that model, or whose text has that, meet the fault; the others pass
        it by). Faults queue up in order.
        """
        fault = self._fault(kind, options)
        with self._lock:
            self._faults.extend(fault for _ in range(count))

    def fail_rate(self, kind: str, rate: float, *, seed: int = 0, **options: Any) -> None:
        """From now on a share ``rate`` (0..1) of the calls fails as ``kind``, drawn from a
        generator seeded with ``seed`` (so a run is repeatable); ``rate`` 0 stops it."""
        fault = self._fault(kind, options)
        with self._lock:
            self._random = random.Random(seed)
            self._rates = [
                (f, r)
                for f, r in self._rates
                if (f.kind, f.model, f.prompt_contains)
                != (fault.kind, fault.model, fault.prompt_contains)
            ]
            if rate > 0:
                self._rates.append((fault, rate))

    def stop_failing(self) -> None:
        """Forgets every queued fault and fault rate."""
        with self._lock:
            self._faults.clear()
            self._rates.clear()

    def _fault(self, kind: str, options: dict[str, Any]) -> Fault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        kind, finish = _ALIASES.get(kind, (kind, None))
        if finish:
            options.setdefault("finish_reason", finish)
        options.setdefault("retry_delay", self.retry_delay)
        return Fault(kind, **options)

    def _next_fault(self, model: str, prompt: str = "") -> Fault | None:
        def meets(fault: Fault) -> bool:
            return fault.model in (None, model) and (
                fault.prompt_contains is None or fault.prompt_contains in prompt
            )

        with self._lock:
            for fault in self._faults:
                if meets(fault):
                    self._faults.remove(fault)
                    return fault
            for fault, rate in self._rates:
                if meets(fault) and self._random.random() < rate:
                    return fault
        return None

    def reset(self) -> None:
        """Forgets requests, faults, queued answers and the limits' counts; knobs stay."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._rates.clear()
            self._windows.clear()
            self._token_windows.clear()
            self._days.clear()
            self._billing.clear()
            self._canned.clear()
            self._spend.clear()
            self._spend_month = 0.0
            self.spend_429s = 0

    def new_day(self) -> None:
        """The quota day ends now: every model's requests-per-day count starts again."""
        with self._lock:
            self._days.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def add_route(self, method: str, pattern: str, handler: Handler, *, auth: bool = True) -> None:
        """Serves ``method`` requests whose path fully matches ``pattern`` with ``handler``.

        ``auth`` False serves without an API key (the upload URL the API hands out).
        """
        self._routes.append((method.upper(), re.compile(pattern), handler, auth))

    def fail_next_batch(self, count: int = 1) -> None:
        """The next ``count`` batch jobs end in BATCH_STATE_FAILED, with no results."""
        with self._lock:
            self._fail_batches += count

    def answer_next(
        self, status: int, body: dict[str, Any] | bytes, *, path: str = ":generateContent"
    ) -> None:
        """The next authorised request whose path contains ``path`` (any API version) gets
        exactly ``status`` and ``body``: a recorded answer replayed through the SDK as it came
        (``tests/ai/replay_bodies.py``, ``bench/gemini_replay.py``). Answers queue up in order;
        such a request is recorded, and billed from the body's ``usageMetadata``."""
        with self._lock:
            self._canned.append((path, Reply(status, body)))

    def _canned_reply(self, path: str) -> Reply | None:
        with self._lock:
            for entry in self._canned:
                if entry[0] in path:
                    self._canned.remove(entry)
                    return entry[1]
        return None

    # -- batch faults: refused or ambiguous creates, failed downloads, lines without a key ----

    def fail_next_create(self, kind: str, count: int = 1) -> None:
        """The next ``count`` batch creates fail: ``"429"`` or ``"400"`` (refused, no job made),
        or ``"503-after"`` (the job IS made, then the answer is a 503: the caller cannot know)."""
        if kind not in ("429", "400", "503-after"):
            raise ValueError(f"unknown create fault {kind!r}")
        with self._lock:
            self._batch_faults["create"].extend([kind] * count)

    def fail_next_download(self, count: int = 1, status: int = 503) -> None:
        """The next ``count`` downloads of a responses file answer ``status``."""
        with self._lock:
            self._batch_faults["download"].extend([str(status)] * count)

    def drop_keys(self, count: int = 1, *, after: int = 0) -> None:
        """``count`` lines written to responses files, after the next ``after``, lose ``key``."""
        with self._lock:
            self._keyed_first = after
            self._unkeyed_lines += count

    def batches_created(self) -> int:
        """How many batch jobs exist (each one is paid for when it runs)."""
        with self._lock:
            return len(self._batches)

    def _batch_fault(self, where: str) -> str | None:
        with self._lock:
            faults = self._batch_faults[where]
            return faults.popleft() if faults else None

    def _line_key(self, key: Any) -> dict[str, Any]:
        with self._lock:
            if self._keyed_first > 0:
                self._keyed_first -= 1
            elif self._unkeyed_lines > 0:
                self._unkeyed_lines -= 1
                return {}
        return {"key": key}

    def _batch_error_reply(self, status: int) -> Reply:
        """An error answer to a batch step; a 429 carries RetryInfo (``retry_delay``)."""
        details = []
        if status == 429:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": self.retry_delay,
                }
            ]
        return Reply(status, error_body(status, details=details))

    def _list_batches(self, request: Request) -> Reply:
        with self._lock:
            ids = list(self._batches)
        self._record(request, key_ok=True, status=200, body={})
        return Reply(200, {"operations": [self._batch_json(i) for i in ids]})

    # -- billing: what the provider would count ----------------------------------------------

    def billing(self) -> dict[str, dict[str, int]]:
        """The server's own count, per model: ``calls`` (generateContent requests, failed and
        timed-out ones too), ``batch_lines`` (answered lines of batch jobs) and the tokens of
        every answer's ``usageMetadata`` (``prompt``, ``candidates``, ``thoughts``, ``total``,
        and ``image_output`` from the candidates' details). Uploads and polls are not billed.
        """
        with self._lock:
            return {model: dict(counts) for model, counts in self._billing.items()}

    def _bill(self, model: str, reply: Reply | None, *, batch: bool) -> None:
        metadata: dict[str, Any] = {}
        if reply is not None and reply.status == 200 and isinstance(reply.body, dict):
            metadata = reply.body.get("usageMetadata") or {}
        image_output = sum(
            int(item.get("tokenCount") or 0)
            for item in metadata.get("candidatesTokensDetails") or []
            if item.get("modality") == "IMAGE"
        )
        with self._lock:
            counts = self._billing.setdefault(
                model,
                dict.fromkeys(
                    ("calls", "batch_lines", "prompt", "candidates", "thoughts", "total"), 0
                )
                | {"image_output": 0},
            )
            counts["batch_lines" if batch else "calls"] += 1
            counts["prompt"] += int(metadata.get("promptTokenCount") or 0)
            counts["candidates"] += int(metadata.get("candidatesTokenCount") or 0)
            counts["thoughts"] += int(metadata.get("thoughtsTokenCount") or 0)
            counts["total"] += int(metadata.get("totalTokenCount") or 0)
            counts["image_output"] += image_output
            price = self.prices.get(model)
            if price is not None and metadata:
                text = int(metadata.get("candidatesTokenCount") or 0) - image_output
                text += int(metadata.get("thoughtsTokenCount") or 0)
                usd = int(metadata.get("promptTokenCount") or 0) * price[0] + text * price[1]
                usd = (usd + image_output * (price[2] if price[2] is not None else price[1])) / 1e6
                self._spend.append((time.monotonic(), usd))
                self._spend_month += usd

    # -- HTTP plumbing -------------------------------------------------------------------------

    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        url = urlsplit(http.path)
        length = int(http.headers.get("content-length") or 0)
        raw = http.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in http.headers.items()}
        query = parse_qs(url.query)
        key = headers.get("x-goog-api-key") or next(iter(query.get("key") or []), None)
        for method, pattern, handler, auth in self._routes:
            match = pattern.fullmatch(url.path)
            if match is None or method != http.command:
                continue
            version = match.groupdict().get("version")
            if version is not None and version not in self.api_versions:
                continue  # an API version Google does not serve: a 404 as there
            request = Request(http.command, url.path, query, headers, raw, match)
            if not auth:
                reply = handler(request)
            elif not key:
                reply = Reply(
                    403,
                    error_body(
                        403,
                        "Method doesn't allow unregistered callers (callers without established"
                        " identity). Please use API Key or other form of API consumer identity"
                        " to call this API.",
                    ),
                )
                self._record(request, key_ok=False, status=reply.status)
            elif key != self.api_key:
                reply = Reply(400, _invalid_key_body())
                self._record(request, key_ok=False, status=reply.status)
            elif (canned := self._canned_reply(url.path)) is not None:
                reply = canned
                self._record(request, key_ok=True, status=reply.status)
                if match.groupdict().get("model"):
                    self._bill(match["model"], reply, batch=False)
            else:
                try:
                    reply = handler(request)
                except _BadRequest as bad:
                    reply = Reply(400, error_body(400, bad.message))
                    self._record(request, key_ok=True, status=reply.status)
            break
        else:
            reply = Reply(404, error_body(404, f"Method not found: {http.command} {url.path}"))
        self._send(http, reply)

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
            http.send_response(reply.status)
            http.send_header("Content-Type", "application/json; charset=UTF-8")
            http.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                http.send_header(name, value)
            http.end_headers()
            http.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to tell it

    def _record(
        self,
        request: Request,
        *,
        key_ok: bool,
        status: int,
        body: dict[str, Any] | None = None,
        images: list[tuple[str, bytes]] | None = None,
        at: float | None = None,
        fault: Fault | None = None,
    ) -> RecordedRequest:
        match = request.match.groupdict()
        if body is None:
            try:
                body = request.json()
            except ValueError:
                body = {}
        texts = [
            part["text"]
            for content in body.get("contents") or []
            for part in content.get("parts") or []
            if isinstance(part.get("text"), str)
        ]
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            api_version=match.get("version"),
            model=match.get("model"),
            action=request.path.rsplit(":", 1)[-1] if ":" in request.path else None,
            headers={k: v for k, v in request.headers.items() if k != "x-goog-api-key"},
            key_ok=key_ok,
            images=images or [],
            prompt="\n".join(texts),
            generation_config=dict(body.get("generationConfig") or {}),
            body=_without_data(body),
            status=status,
            at=time.monotonic() if at is None else at,
            fault=None if fault is None else fault.kind,
        )
        with self._lock:
            self._requests.append(recorded)
        return recorded

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    # -- generateContent -----------------------------------------------------------------------

    def _generate_content(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError as error:
            raise _BadRequest(f"Invalid JSON payload received. {error}") from error
        model = request.match["model"]
        images = _inline_images(body)  # raises _BadRequest on undecodable base64
        fault = self._next_fault(model, "\n".join(_texts(body)))
        arrived = time.monotonic()

        def done(reply: Reply) -> Reply:
            self._record(
                request,
                key_ok=True,
                status=reply.status,
                body=body,
                images=images,
                at=arrived,
                fault=fault,
            )
            self._bill(model, reply, batch=False)
            return reply

        # The limits count a request when it arrives, and a 429 is answered at once.
        limited = None
        if fault is None and model in self.models:
            try:
                _check_config(model, body.get("generationConfig") or {})
            except _BadRequest:
                pass  # answered below, as a 400
            else:
                limited = self._over_limit(model, _prompt_tokens(body, len(images)))
                limited = limited or self._over_spend()
        if limited is not None:
            return done(limited)
        self._sleep(self.model_latency_s.get(model, self.latency_s))

        if fault is not None and fault.kind == "timeout":
            # Recorded now, with status 0: the client gives up long before this answers.
            self._record(request, key_ok=True, status=0, body=body, images=images, fault=fault)
            self._bill(model, None, batch=False)
            self._sleep(fault.sleep_s)
            return Reply(504, error_body(504, "Deadline expired before operation could complete."))
        return done(
            self._answer(model, request.match["version"], body, images, fault, rate_limited=False)
        )

    def _answer(
        self,
        model: str,
        version: str,
        body: dict[str, Any],
        images: list[tuple[str, bytes]],
        fault: Fault | None,
        *,
        rate_limited: bool = True,
    ) -> Reply:
        """The answer to one generateContent request (interactive, or a line of a batch)."""
        if model not in self.models:
            return Reply(
                404,
                error_body(
                    404,
                    f"models/{model} is not found for API version {version}, or is not"
                    " supported for generateContent. Call ListModels to see the list of"
                    " available models and their supported methods.",
                ),
            )
        if fault is not None and fault.kind == "timeout":
            return Reply(504, error_body(504))
        if fault is not None and fault.kind == "daily_429":
            quotas = "day" if fault.quotas is None else fault.quotas
            return self._quota_reply(model, quotas, None, free_tier=fault.free_tier)
        if fault is not None and fault.kind.isdigit():
            if fault.kind == "429":
                return self._quota_reply(
                    model,
                    "minute" if fault.quotas is None else fault.quotas,
                    fault.retry_delay,
                    free_tier=fault.free_tier,
                )
            return Reply(int(fault.kind), error_body(int(fault.kind)))
        config = body.get("generationConfig") or {}
        try:
            _check_config(model, config)
        except _BadRequest as bad:
            return Reply(400, error_body(400, bad.message))
        if rate_limited:
            limited = self._over_limit(model, _prompt_tokens(body, len(images)))
            if limited is not None:
                return limited
        modalities = [str(m).upper() for m in config.get("responseModalities") or []]
        try:
            if fault is not None and fault.kind == "blocked":
                answer = self._blocked_answer(fault, body)
            elif fault is not None and fault.kind in ("empty", "other", "max_tokens"):
                answer = self._unfinished_answer(fault.kind, body, images)
            elif "IMAGE" in modalities:
                answer = self._image_answer(body, images, config, fault)
            elif str(config.get("responseMimeType", "")).startswith("application/json"):
                answer = self._json_answer(body, config, fault)
            else:
                answer = self._text_answer(body, "A stand-in answer.")
        except _BadRequest as bad:
            return Reply(400, error_body(400, bad.message))
        answer["modelVersion"] = model
        answer["responseId"] = uuid.uuid4().hex[:22]
        return Reply(200, answer)

    def _limits_of(self, model: str) -> dict[str, int]:
        row = dict(self.limits.get(model, {}))
        if "rpm" not in row and self.rpm_limit is not None:
            row["rpm"] = self.rpm_limit
        return row

    def _over_limit(self, model: str, tokens: int) -> Reply | None:
        """The 429 of a limit this request is past, else None (and the request is counted)."""
        limits = self._limits_of(model)
        now = time.monotonic()
        with self._lock:
            window = self._windows[model]
            while window and now - window[0] >= self.window_s:
                window.popleft()
            token_window = self._token_windows[model]
            while token_window and now - token_window[0][0] >= self.window_s:
                token_window.popleft()
            day = math.floor(time.time() / self.day_s) if self.day_s else int(time.time() // 86400)
            day_index, day_count = self._days.get(model, (day, 0))
            if day_index != day:
                day_count = 0
            if "rpd" in limits and day_count >= limits["rpd"]:
                quota: tuple[str, str | None] | None = ("day", None)
            elif "rpm" in limits and len(window) >= limits["rpm"]:
                wait = self.window_s - (now - window[0])
                quota = ("minute", f"{max(wait, 0.001):.3f}s")
            elif "tpm" in limits and sum(t for _, t in token_window) + tokens > limits["tpm"]:
                wait = self.window_s - (now - token_window[0][0]) if token_window else 0.0
                quota = ("tokens", f"{max(wait, 0.001):.3f}s")
            else:
                quota = None
                window.append(now)
                token_window.append((now, tokens))
                self._days[model] = (day, day_count + 1)
        if quota is None:
            return None
        return self._quota_reply(model, quota[0], quota[1])

    def spent(self) -> dict[str, float]:
        """USD billed in the current spend window and in all (the month), at ``prices``."""
        with self._lock:
            return {"window_usd": self._window_spend(), "month_usd": self._spend_month}

    def _window_spend(self) -> float:
        window = float(self.spend_limits.get("window_s", 600.0))
        now = time.monotonic()
        while self._spend and now - self._spend[0][0] >= window:
            self._spend.popleft()
        return sum(usd for _, usd in self._spend)

    def _over_spend(self) -> Reply | None:
        """The 429 of a spend limit the account is past when this request arrives, else None.

        Its shape is assumed (no recorded one was found): RESOURCE_EXHAUSTED with a
        QuotaFailure whose quota id and metric name the billing account's spend."""
        if not self.spend_limits:
            return None
        with self._lock:
            spent, month = self._window_spend(), self._spend_month
        per = None
        if month >= self.spend_limits.get("month_usd", math.inf):
            per, value = "Month", self.spend_limits["month_usd"]
        elif spent >= self.spend_limits.get("window_usd", math.inf):
            per, value = "10Minutes", self.spend_limits["window_usd"]
        if per is None:
            return None
        with self._lock:
            self.spend_429s += 1
        metric = "generativelanguage.googleapis.com/billing_account_spend_usd"
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": metric,
                        "quotaId": f"SpendPerBillingAccountPer{per}",
                        "quotaValue": f"{value:g}",
                    }
                ],
            }
        ]
        if per != "Month":
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "30s"}
            )
        message = (
            f"{_ERRORS[429][1]}\n* Your billing account reached its spend limit for the"
            f" {'month' if per == 'Month' else '10 minutes'}: USD {value:g}"
        )
        return Reply(429, error_body(429, message, details))

    def _quota_reply(
        self,
        model: str,
        per: str | tuple[str, ...],
        retry_delay: str | None,
        *,
        free_tier: bool = False,
    ) -> Reply:
        """A 429 as Gemini sends it: a Help link, a QuotaFailure naming each quota ``per``
        (``day``, ``minute``, ``tokens``; several at once as real 429s do, or none: the Help
        link alone) and a RetryInfo when ``retry_delay`` is given. ``free_tier``: the free
        tier's quota names and ``limit: 0`` everywhere (a project without billing), as in the
        recorded body ``error_429_day_and_minute_limit0_free_tier.json``."""
        limits = self._limits_of(model)
        tier = "free_tier" if free_tier else "paid_tier"
        suffix = "-FreeTier" if free_tier else ""
        rows = {
            "minute": ("GenerateRequestsPerMinutePerProjectPerModel", "requests", "rpm", 10),
            "tokens": (
                "GenerateContentInputTokensPerModelPerMinute",
                "input_token_count",
                "tpm",
                250_000,
            ),
            "day": ("GenerateRequestsPerDayPerProjectPerModel", "requests", "rpd", 10),
        }
        violations = []
        lines = []
        for quota in (per,) if isinstance(per, str) else per:
            quota_id, metric, limit, fallback = rows[quota]
            value = 0 if free_tier else limits.get(limit, fallback)
            metric = f"generativelanguage.googleapis.com/generate_content_{tier}_{metric}"
            violations.append(
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id + suffix,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(value),
                }
            )
            lines.append(f"\n* Quota exceeded for metric: {metric}, limit: {value}, model: {model}")
        details: list[dict[str, Any]] = [
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
        ]
        if violations:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": violations}
            )
        if retry_delay is not None:
            details.append(
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
            )
        message = _ERRORS[429][1] + "".join(lines)
        if retry_delay is not None:
            message += f"\nPlease retry in {retry_delay}."
        return Reply(429, error_body(429, message, details))

    def _usage(
        self, body: dict[str, Any], images: int, output: dict[str, int], thoughts: int
    ) -> dict[str, Any]:
        """``usageMetadata`` in the shape of the recorded answers (``tests/ai/replay_bodies.py``):
        ``candidatesTokensDetails`` lists the IMAGE tokens only, and only when an image was
        drawn (the text is the rest of ``candidatesTokenCount``); no output, no count at all;
        ``serviceTier``, a field the SDK does not know, as the 2.5 and 3.x models send."""
        prompt_text = sum(len(t) for t in _texts(body)) // 4 + 1
        prompt = prompt_text + images * _TOKENS_PER_INPUT_IMAGE
        candidates = sum(output.values())
        usage: dict[str, Any] = {
            "promptTokenCount": prompt,
            "totalTokenCount": prompt + candidates + thoughts,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_text}]
            + ([{"modality": "IMAGE", "tokenCount": images * 258}] if images else []),
        }
        if candidates:
            usage["candidatesTokenCount"] = candidates
        if output.get("IMAGE"):
            usage["candidatesTokensDetails"] = [
                {"modality": "IMAGE", "tokenCount": output["IMAGE"]}
            ]
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        usage["serviceTier"] = "standard"
        return usage

    def _unfinished_answer(
        self, kind: str, body: dict[str, Any], images: list[tuple[str, bytes]]
    ) -> dict[str, Any]:
        """A 200 that carries nothing usable: no candidates, or one stopped OTHER/MAX_TOKENS."""
        usage = self._usage(body, len(images), {}, 0)
        if kind == "empty":
            return {"usageMetadata": usage}
        if kind == "other":
            return {"candidates": [{"finishReason": "OTHER", "index": 0}], "usageMetadata": usage}
        cut = "Here is the product placed in the sce"
        return {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": cut}]},
                    "finishReason": "MAX_TOKENS",
                    "index": 0,
                }
            ],
            "usageMetadata": self._usage(body, len(images), {"TEXT": 8}, 0),
        }

    def _blocked_answer(self, fault: Fault, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "promptFeedback": {
                "blockReason": fault.block_reason,
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}
                ],
            },
            "usageMetadata": self._usage(body, len(_inline_images(body)), {}, 0),
        }

    def _text_answer(self, body: dict[str, Any], text: str) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        thoughts = 0
        if self.thoughts:
            parts.append(
                {"text": "**Reading the request**\n\nI look at the inputs.", "thought": True}
            )
            thoughts = 24
        parts.append({"text": text})
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": self._usage(
                body, len(_inline_images(body)), {"TEXT": len(text) // 4 + 1}, thoughts
            ),
        }

    def _image_answer(
        self,
        body: dict[str, Any],
        images: list[tuple[str, bytes]],
        config: dict[str, Any],
        fault: Fault | None,
    ) -> dict[str, Any]:
        if fault is not None and fault.kind == "no_image":
            text = "I can't make that image. Try a different description or photo."
            answer = self._text_answer(body, text)
            answer["candidates"][0]["finishReason"] = fault.finish_reason
            return answer
        image_config = config.get("imageConfig") or {}
        ratio = str(image_config.get("aspectRatio") or "1:1")
        size = str(image_config.get("imageSize") or "1K")
        width, height = _dimensions(ratio, _SIZES[size])
        parts: list[dict[str, Any]] = []
        thoughts = 0
        if self.thoughts or self.thought_image:
            parts.append(
                {"text": "**Composing the scene**\n\nI place the product.", "thought": True}
            )
            thoughts += 32
        if self.thought_image:
            draft = Image.new("RGB", (width // 4, height // 4), (128, 128, 128))
            parts.append(
                {"inlineData": {"mimeType": "image/png", "data": _b64(_encode(draft, "PNG"))}}
                | {"thought": True}
            )
            thoughts += _IMAGE_TOKENS[size]
        parts.append({"text": "Here is the product placed in the scene."})
        # Model-like on request (perspective, light, drift): tests/standins/drawing.py
        picture = self.drawing.draw(images, width, height) or _compose(images, width, height)
        parts.append(
            {
                "inlineData": {"mimeType": "image/jpeg", "data": _b64(_encode(picture, "JPEG"))},
                "thoughtSignature": _b64(uuid.uuid4().bytes),
            }
        )
        return {
            "candidates": [
                {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": self._usage(
                body, len(images), {"TEXT": 10, "IMAGE": _IMAGE_TOKENS[size]}, thoughts
            ),
        }

    def _json_answer(
        self, body: dict[str, Any], config: dict[str, Any], fault: Fault | None
    ) -> dict[str, Any]:
        if fault is not None and fault.kind == "bad_json":
            return self._text_answer(body, '{"room_type": "living_room", "style": [')
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        value = _instance(schema, schema, "") if isinstance(schema, dict) else {}
        if isinstance(value, dict):
            value.update(self.json_answer)
        return self._text_answer(body, json.dumps(value))

    # -- files and batches ----------------------------------------------------------------------

    def _upload(self, request: Request) -> Reply:
        """Starts a resumable upload: answers the URL to send the bytes to."""
        if request.headers.get("x-goog-upload-command") != "start":
            raise _BadRequest("Upload command must be 'start' on the files collection.")
        meta = (request.json().get("file") or {}) if request.raw else {}
        size = int(request.headers.get("x-goog-upload-header-content-length") or 0)
        upload_id = uuid.uuid4().hex
        version = request.match["version"]
        with self._lock:
            self._uploads[upload_id] = {"meta": meta, "size": size, "data": bytearray()}
        self._record(request, key_ok=True, status=200, body={})
        return Reply(
            200,
            {},
            {
                "x-goog-upload-url": f"{self.base_url}/upload/{version}/files/{upload_id}",
                "x-goog-upload-status": "active",
            },
        )

    def _upload_chunk(self, request: Request) -> Reply:
        command = request.headers.get("x-goog-upload-command", "")
        offset = int(request.headers.get("x-goog-upload-offset") or 0)
        with self._lock:
            upload = self._uploads.get(request.match["upload"])
            if upload is None:
                return Reply(404, error_body(404, "No such upload."))
            if offset != len(upload["data"]):
                return Reply(400, error_body(400, "Upload offset mismatch."))
            upload["data"].extend(request.raw)
            if "finalize" not in command:
                return Reply(200, {}, {"x-goog-upload-status": "active"})
            del self._uploads[request.match["upload"]]
            name = f"files/{uuid.uuid4().hex[:12]}"
            file = {
                "name": name,
                "displayName": upload["meta"].get("display_name")
                or upload["meta"].get("displayName"),
                "mimeType": upload["meta"].get("mime_type") or "application/octet-stream",
                "sizeBytes": str(len(upload["data"])),
                "state": "ACTIVE",
                "source": "UPLOADED",
            }
            self._files[name] = {"meta": file, "data": bytes(upload["data"])}
        return Reply(200, {"file": file}, {"x-goog-upload-status": "final"})

    def _create_batch(self, request: Request) -> Reply:
        fault = self._batch_fault("create")
        if fault in ("429", "400"):
            reply = self._batch_error_reply(int(fault))
            self._record(request, key_ok=True, status=reply.status)
            return reply
        made = self._create_batch_job(request)
        if fault == "503-after":
            return self._batch_error_reply(503)
        return made

    def _create_batch_job(self, request: Request) -> Reply:
        spec = request.json().get("batch") or {}
        source = (spec.get("inputConfig") or {}).get("fileName")
        with self._lock:
            known = source in self._files
        if not known:
            raise _BadRequest(f"Input file {source!r} not found.")
        batch_id = uuid.uuid4().hex[:16]
        with self._lock:
            fails = self._fail_batches > 0
            self._fail_batches -= 1 if fails else 0
            self._batches[batch_id] = {
                "model": request.match["model"],
                "version": request.match["version"],
                "display_name": spec.get("displayName"),
                "source": source,
                "polls": 0,
                "state": "BATCH_STATE_PENDING",
                "output": None,
                "fail": fails,
            }
        self._record(request, key_ok=True, status=200)
        return Reply(200, self._batch_json(batch_id))

    def _get_batch(self, request: Request) -> Reply:
        batch_id = request.match["batch"]
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return Reply(404, error_body(404, f"Batch batches/{batch_id} not found."))
            batch["polls"] += 1
            due = batch["polls"] > self.batch_polls and batch["state"] in (
                "BATCH_STATE_PENDING",
                "BATCH_STATE_RUNNING",
            )
            if not due and batch["state"] == "BATCH_STATE_PENDING":
                batch["state"] = "BATCH_STATE_RUNNING"
        if due:
            self._run_batch(batch_id)
        self._record(request, key_ok=True, status=200)
        return Reply(200, self._batch_json(batch_id))

    def _run_batch(self, batch_id: str) -> None:
        """Answers every line of the batch's input file, in order, into a responses file."""
        with self._lock:
            batch = self._batches[batch_id]
            data = self._files[batch["source"]]["data"]
        if batch["fail"]:
            with self._lock:
                batch["state"] = "BATCH_STATE_FAILED"
            return
        out: list[str] = []
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            body = item.get("request") or {}
            try:
                images = _inline_images(body)
            except _BadRequest as bad:
                out.append(
                    json.dumps(
                        {"key": item.get("key"), "error": error_body(400, bad.message)["error"]}
                    )
                )
                continue
            fault = self._next_fault(batch["model"], "\n".join(_texts(body)))
            reply = self._answer(
                batch["model"], batch["version"], body, images, fault, rate_limited=False
            )
            self._record_line(batch_id, batch["model"], item.get("key"), body, images, reply)
            self._bill(batch["model"], reply, batch=True)
            assert isinstance(reply.body, dict)
            keyed = self._line_key(item.get("key"))
            if reply.status == 200:
                out.append(json.dumps({**keyed, "response": reply.body}))
            else:
                out.append(json.dumps({**keyed, "error": reply.body["error"]}))
        name = f"files/batch-{batch_id}-responses"
        with self._lock:
            self._files[name] = {
                "meta": {"name": name, "mimeType": "application/jsonl", "source": "GENERATED"},
                "data": ("\n".join(out) + "\n").encode(),
            }
            batch["output"] = name
            batch["state"] = "BATCH_STATE_SUCCEEDED"

    def _record_line(
        self,
        batch_id: str,
        model: str,
        key: Any,
        body: dict[str, Any],
        images: list[tuple[str, bytes]],
        reply: Reply,
    ) -> None:
        texts = _texts(body)
        recorded = RecordedRequest(
            method="BATCH",
            path=f"/batches/{batch_id}#{key}",
            api_version=None,
            model=model,
            action="batchLine",
            headers={},
            key_ok=True,
            images=images,
            prompt="\n".join(texts),
            generation_config=dict(body.get("generationConfig") or {}),
            body=_without_data(body),
            status=reply.status,
        )
        with self._lock:
            self._requests.append(recorded)

    def _batch_json(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            batch = dict(self._batches[batch_id])
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "name": f"batches/{batch_id}",
            "model": f"models/{batch['model']}",
            "displayName": batch["display_name"],
            "state": batch["state"],
            "createTime": "2026-11-25T08:00:00Z",
            "inputConfig": {"fileName": batch["source"]},
        }
        answer: dict[str, Any] = {"name": f"batches/{batch_id}", "metadata": metadata}
        if batch["output"]:
            metadata["output"] = {"responsesFile": batch["output"]}
            answer["done"] = True
            answer["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1main"
                ".GenerateContentBatchOutput",
                "responsesFile": batch["output"],
            }
        if batch["state"] == "BATCH_STATE_FAILED":
            answer["done"] = True
            answer["error"] = {"code": 13, "message": "The batch job failed."}
        return answer

    def _download(self, request: Request) -> Reply:
        fault = self._batch_fault("download")
        if fault is not None:
            return self._batch_error_reply(int(fault))
        name = f"files/{request.match['file']}"
        with self._lock:
            file = self._files.get(name)
        if file is None or file["meta"].get("source") != "GENERATED":
            return Reply(400, error_body(400, f"File {name} is not downloadable."))
        return Reply(200, file["data"])


# -- request decoding ---------------------------------------------------------------------------


def _invalid_key_body() -> dict[str, Any]:
    message = "API key not valid. Please pass a valid API key."
    return error_body(
        400,
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


def decode_base64(text: str) -> bytes:
    """Standard or URL-safe base64, padded or not (protobuf JSON accepts all four)."""
    cleaned = re.sub(r"\s+", "", text).replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    return base64.b64decode(cleaned, validate=True)


def _inline_images(body: dict[str, Any]) -> list[tuple[str, bytes]]:
    found = []
    for c, content in enumerate(body.get("contents") or []):
        for p, part in enumerate(content.get("parts") or []):
            blob = part.get("inlineData") or part.get("inline_data")
            if not isinstance(blob, dict):
                continue
            mime = str(blob.get("mimeType") or blob.get("mime_type") or "")
            try:
                data = decode_base64(str(blob.get("data") or ""))
            except (binascii.Error, ValueError) as error:
                raise _BadRequest(
                    f"Invalid value at 'contents[{c}].parts[{p}].inline_data.data' (TYPE_BYTES),"
                    " Base64 decoding failed"
                ) from error
            found.append((mime, data))
    return found


def _texts(body: dict[str, Any]) -> list[str]:
    return [
        part["text"]
        for content in body.get("contents") or []
        for part in content.get("parts") or []
        if isinstance(part.get("text"), str)
    ]


def _without_data(body: dict[str, Any]) -> dict[str, Any]:
    """The body with inline data replaced by ``<n bytes>``, small enough to print."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (f"<{len(v)} chars>" if k == "data" and isinstance(v, str) else strip(v))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    result = strip(body)
    assert isinstance(result, dict)
    return result


# -- answers ------------------------------------------------------------------------------------


def _spec(model: str) -> ModelSpec:
    """The model's spec; a model served but not in :data:`MODELS` is taken by its name."""
    return MODELS.get(model) or ModelSpec(
        "image" if "image" in model else "text", tuple(_SIZES) if "image" in model else ()
    )


def _unknown_field(name: str, where: str) -> _BadRequest:
    return _BadRequest(
        f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
    )


def _check_config(model: str, config: dict[str, Any]) -> None:
    """Refuses what the real API refuses in a ``generationConfig``, as a 400."""
    if not isinstance(config, dict):
        raise _BadRequest("Invalid value at 'generation_config': not an object")
    for name in config:
        if name not in _GENERATION_CONFIG_FIELDS:
            raise _unknown_field(name, "generation_config")
    spec = _spec(model)
    modalities = [str(m).upper() for m in config.get("responseModalities") or []]
    for modality in modalities:
        if modality not in ("TEXT", "IMAGE", "AUDIO"):
            raise _BadRequest(
                f"Invalid value at 'generation_config.response_modalities' ({modality})"
            )
    if "IMAGE" in modalities and spec.kind != "image":
        raise _BadRequest(
            f"Model {model} does not support the requested response modalities: image"
        )
    image_config = config.get("imageConfig")
    if image_config is None:
        return
    if spec.kind != "image":
        raise _BadRequest(f"Image config is not supported by model {model}.")
    for name in image_config:
        if name not in _IMAGE_CONFIG_FIELDS:
            raise _unknown_field(name, "generation_config.image_config")
    ratio = image_config.get("aspectRatio")
    if ratio is not None and ratio not in _ASPECT_RATIOS:
        raise _BadRequest(
            f"Invalid aspect ratio {ratio!r}; supported: {', '.join(_ASPECT_RATIOS)}."
        )
    size = image_config.get("imageSize")
    if size is not None and size not in spec.image_sizes:
        raise _BadRequest(
            f"Image size {size!r} is not supported by {model}; use one of"
            f" {', '.join(spec.image_sizes)}."
        )


def _prompt_tokens(body: dict[str, Any], images: int) -> int:
    return sum(len(t) for t in _texts(body)) // 4 + 1 + images * _TOKENS_PER_INPUT_IMAGE


def _dimensions(ratio: str, side: int) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+):(\d+)", ratio)
    if match is None or not int(match[1]) or not int(match[2]):
        raise _BadRequest(f"Invalid aspect ratio {ratio!r}.")
    r = int(match[1]) / int(match[2])
    return round(side * math.sqrt(r) / 16) * 16, round(side / math.sqrt(r) / 16) * 16


def _compose(images: list[tuple[str, bytes]], width: int, height: int) -> Image.Image:
    """The scene (last input image) filled to size, the first input pasted in its lower centre."""
    opened = []
    for _mime, data in images:
        try:
            with Image.open(io.BytesIO(data)) as image:
                opened.append(image.convert("RGBA"))
        except OSError as error:
            raise _BadRequest(
                "Unable to process input image. Please retry or report in"
                " https://developers.generativeai.google/guide/troubleshooting"
            ) from error
    if len(opened) >= 2:
        scene = opened[-1]
        scale = max(width / scene.width, height / scene.height)
        scene = scene.resize((math.ceil(scene.width * scale), math.ceil(scene.height * scale)))
        left, top = (scene.width - width) // 2, (scene.height - height) // 2
        canvas = scene.crop((left, top, left + width, top + height))
    else:
        canvas = Image.new("RGBA", (width, height), (214, 205, 190, 255))
        ImageDraw.Draw(canvas).rectangle((0, height * 3 // 4, width, height), fill=(150, 120, 90))
    if opened:
        product = opened[0].copy()
        product.thumbnail((width // 2, height // 2))
        x = (width - product.width) // 2
        y = height * 9 // 10 - product.height
        canvas.alpha_composite(product, (x, max(y, 0)))
    return canvas.convert("RGB")


def _encode(image: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    options = {"quality": 85} if kind == "JPEG" else {}
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_WORDS: dict[str, Any] = {
    "room_type": "living_room",
    "room_types": "living_room",
    "category": "sofa",
    "style": "modern",
    "materials": "fabric",
    "colors": "beige",
    "palette": "#b8a99a",
    "lighting": "bright daylight",
    "camera_angle": "eye level",
    "summary": "A stand-in answer.",
}


def _instance(schema: dict[str, Any], root: dict[str, Any], name: str) -> Any:
    """A plausible value for ``schema`` (OpenAPI-style responseSchema or JSON Schema)."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for key in ref[2:].split("/"):
            target = target[key]
        return _instance(target, root, name)
    for combinator in ("anyOf", "any_of", "oneOf", "allOf"):
        options = schema.get(combinator)
        if options:
            usable = [o for o in options if str(o.get("type", "")).lower() != "null"]
            return _instance((usable or options)[0], root, name)
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if str(k).lower() != "null"), "null")
    kind = str(kind or ("object" if "properties" in schema else "string")).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: _instance(sub, root, key) for key, sub in properties.items()}
    if kind == "array":
        count = max(int(schema.get("minItems") or schema.get("min_items") or 1), 1)
        items = schema.get("items") or {"type": "string"}
        return [_instance(items, root, name) for _ in range(count)]
    if kind in ("number", "integer"):
        low = schema.get("minimum")
        high = schema.get("maximum")
        if low is not None and high is not None:
            value = (float(low) + float(high)) / 2
        elif low is not None:
            value = float(low) + 1
        elif high is not None:
            value = float(high) - 1
        else:
            value = 1.0
        return round(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if name in _WORDS:
        return _WORDS[name]
    if isinstance(schema.get("default"), str):
        return schema["default"]  # valid by definition, even under checks the schema omits
    return f"stand-in {name}".strip()
