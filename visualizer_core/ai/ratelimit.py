"""Per-model limits on Gemini calls, shared by every worker: ``GEMINI_LIMITS``, ``GEMINI_MAX_RPM``.

Gemini's limits are per model: requests a minute (RPM), tokens a minute (TPM) and requests a
day (RPD, a day that ends at midnight Pacific time). ``GEMINI_LIMITS`` sets them per model as
JSON; ``GEMINI_MAX_RPM`` is the requests-a-minute limit of every model not listed.

Every HTTP call takes its own slot from its own model's bucket *before* it is sent
(:meth:`ModelLimiter.take`): an image and the judgement of that image draw on two buckets, and a
``generate()`` that asks twice takes two slots. What is counted where:

- RPM and TPM: moving windows kept by the ``limits`` library. With ``REDIS_URL`` they live in
  Redis (each hit is one atomic Lua script, so the budget holds across processes and machines);
  on the embedded default they live in this process's memory. TPM is charged with an estimate of
  the call's tokens made before it is sent (inputs plus the output expected).
- RPD: a counter per model and day (Redis ``INCR`` with an expiry, or memory).
- A model whose day is used up is *paused* until the day ends: by our own RPD count, or because
  Gemini itself answered a daily-quota 429. The pause is kept where every process sees it
  (Redis, or a file in ``VISUALIZER_HOME`` on the embedded default) so that ``visualizer status``
  and the studio can say so, and work resumes by itself when it ends.

A full window never blocks a worker slot: :meth:`ModelLimiter.take` raises
:class:`~visualizer_core.errors.RateLimited` (``local=True``, with the seconds until a slot frees)
and the job goes back to the queue with that countdown. Callers outside the queue (analysis run
from the command or the studio) may wait in place instead: :func:`waiting` says which.

Test knobs: ``window_s`` (``VISUALIZER_LIMIT_WINDOW_S``, 60 in production) is the length of the
limits' "minute", and ``day_s`` (``VISUALIZER_LIMIT_DAY_S``, unset in production) replaces the
Pacific day by windows of that many seconds, so that tests need not wait a real minute or day.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from visualizer_core.errors import DailyLimitReached, RateLimited

if TYPE_CHECKING:
    from visualizer_core.config import Settings

__all__ = [
    "ModelLimiter",
    "ModelLimits",
    "PauseBoard",
    "day_end",
    "limiter_from_settings",
    "limits_table",
    "paused_models",
    "waiting",
]

log = logging.getLogger(__name__)

PACIFIC = ZoneInfo("America/Los_Angeles")

_wait_in_place: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "visualizer_wait_for_slots", default=True
)


@contextlib.contextmanager
def waiting(allowed: bool) -> Iterator[None]:
    """Within the block, a full window is waited out in place (True) or raised (False).

    Queue tasks run with ``waiting(False)``: the wait is spent in the queue, not in a slot.
    """
    token = _wait_in_place.set(allowed)
    try:
        yield
    finally:
        _wait_in_place.reset(token)


@dataclass(frozen=True)
class ModelLimits:
    """One model's limits; None is "no limit of ours"."""

    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in (("rpm", self.rpm), ("tpm", self.tpm), ("rpd", self.rpd)) if v}


def limits_table(
    limits: Mapping[str, Mapping[str, int]] | None, default_rpm: int | None
) -> tuple[dict[str, ModelLimits], ModelLimits]:
    """The per-model table and the default row, from ``GEMINI_LIMITS`` and ``GEMINI_MAX_RPM``."""
    table = {model: ModelLimits(**dict(row)) for model, row in (limits or {}).items()}
    return table, ModelLimits(rpm=default_rpm)


def day_end(now: dt.datetime | None = None, *, day_s: float | None = None) -> dt.datetime:
    """When the quota day that contains ``now`` ends (UTC): midnight Pacific time by default."""
    now = now or dt.datetime.now(dt.UTC)
    if day_s:
        index = math.floor(now.timestamp() / day_s)
        return dt.datetime.fromtimestamp((index + 1) * day_s, dt.UTC)
    local = now.astimezone(PACIFIC)
    tomorrow = (local + dt.timedelta(days=1)).date()
    return dt.datetime.combine(tomorrow, dt.time(), PACIFIC).astimezone(dt.UTC)


class PauseBoard:
    """Models paused until their day ends, visible to every process.

    In Redis (``{prefix}:gemini:paused:{model}``, expiring when the pause ends) or, on the
    embedded default, in ``VISUALIZER_HOME/limits/paused.json``.
    """

    def __init__(self, *, redis_url: str | None, key_prefix: str, home: Path | None) -> None:
        self._prefix = f"{key_prefix}:gemini:paused:"
        self._redis: Any = None
        self._file: Path | None = None
        self._lock = threading.Lock()
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
        else:
            self._file = (home or Path(".visualizer")) / "limits" / "paused.json"

    def pause(self, model: str, until: dt.datetime, reason: str) -> None:
        """Pause ``model`` until ``until`` (UTC), for ``reason``."""
        value = {"until": until.isoformat(), "reason": reason}
        if self._redis is not None:
            key = self._prefix + model
            self._redis.set(key, json.dumps(value))
            self._redis.expireat(key, max(math.ceil(until.timestamp()), int(time.time()) + 1))
            return
        with self._lock:
            board = self._read_file()
            board[model] = value
            assert self._file is not None
            self._file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._file.with_suffix(".tmp")
            tmp.write_text(json.dumps(board))
            tmp.replace(self._file)

    def paused(self) -> dict[str, dict[str, Any]]:
        """``{model: {"until": datetime, "reason": str}}`` of the pauses not yet over."""
        now = dt.datetime.now(dt.UTC)
        raw: dict[str, Any] = {}
        if self._redis is not None:
            keys = list(self._redis.scan_iter(match=self._prefix + "*", count=100))
            values = self._redis.mget(keys) if keys else []
            for key, value in zip(keys, values, strict=True):
                if value is not None:
                    raw[key.decode().removeprefix(self._prefix)] = json.loads(value)
        else:
            with self._lock:
                raw = self._read_file()
        found = {}
        for model, value in raw.items():
            until = dt.datetime.fromisoformat(value["until"])
            if until > now:
                found[model] = {"until": until, "reason": value.get("reason", "")}
        return found

    def until(self, model: str) -> dt.datetime | None:
        """When the pause of ``model`` ends, or None when it is not paused."""
        if self._redis is not None:
            value = self._redis.get(self._prefix + model)
            if value is None:
                return None
            until = dt.datetime.fromisoformat(json.loads(value)["until"])
            return until if until > dt.datetime.now(dt.UTC) else None
        entry = self.paused().get(model)
        return entry["until"] if entry else None

    def _read_file(self) -> dict[str, Any]:
        assert self._file is not None
        try:
            data = json.loads(self._file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()


class ModelLimiter:
    """Hands out slots of each model's limits; never calls the provider itself."""

    def __init__(
        self,
        limits: Mapping[str, ModelLimits],
        default: ModelLimits,
        *,
        redis_url: str | None,
        key_prefix: str,
        home: Path | None = None,
        window_s: int = 60,
        day_s: float | None = None,
    ) -> None:
        self.limits = dict(limits)
        self.default = default
        self.window_s = window_s
        self.day_s = day_s
        self._prefix = f"{key_prefix}:gemini"
        if redis_url:
            import redis

            storage = storage_from_string(redis_url, key_prefix=f"{key_prefix}:ratelimit")
            self._redis: Any = redis.Redis.from_url(redis_url)
        else:
            storage = storage_from_string("memory://")
            self._redis = None
        self._windows = MovingWindowRateLimiter(storage)
        self._days: dict[str, int] = {}
        self._lock = threading.Lock()
        self.board = PauseBoard(redis_url=redis_url, key_prefix=key_prefix, home=home)

    def limits_of(self, model: str) -> ModelLimits:
        """The model's row of ``GEMINI_LIMITS``, else the ``GEMINI_MAX_RPM`` default."""
        return self.limits.get(model.removeprefix("models/"), self.default)

    def take(self, model: str, *, tokens: int = 0) -> float:
        """A slot for one call of ``model``; returns the seconds waited for it (0 mostly).

        Raises :class:`DailyLimitReached` when the model's day is used up (never waited out),
        and :class:`RateLimited` (``local``) when a window is full and :func:`waiting` is off.
        """
        waited = 0.0
        while True:
            try:
                self._take_once(model, tokens)
                return waited
            except DailyLimitReached:
                raise
            except RateLimited as full:
                if not _wait_in_place.get():
                    raise
                pause = min(max(full.retry_after or 0.05, 0.05), 5.0)
                if not waited:
                    log.info("%s; waiting for a slot", full)
                time.sleep(pause)
                waited += pause

    def _take_once(self, model: str, tokens: int) -> None:
        name = model.removeprefix("models/")
        until = self.board.until(name)
        if until is not None:
            raise DailyLimitReached(
                _paused_message(name, until), resets_at=until, local=True, model=name
            )
        limits = self.limits_of(name)
        if not (limits.rpm or limits.tpm or limits.rpd):
            return
        counted_day = False
        if limits.rpd:
            counted_day = True
            if self._count_day(name, +1) > limits.rpd:
                self._count_day(name, -1)
                end = day_end(day_s=self.day_s)
                reason = f"the {limits.rpd} requests a day set in GEMINI_LIMITS are used"
                self.board.pause(name, end, reason)
                raise DailyLimitReached(
                    _paused_message(name, end, reason), resets_at=end, local=True, model=name
                )
        try:
            if limits.tpm and tokens:
                item = RateLimitItemPerSecond(limits.tpm, self.window_s)
                cost = min(tokens, limits.tpm)
                if not self._windows.test(item, name, "tokens", cost=cost):
                    raise self._full(name, item, "tokens", f"{limits.tpm} tokens")
            if limits.rpm:
                item = RateLimitItemPerSecond(limits.rpm, self.window_s)
                if not self._windows.hit(item, name, "requests"):
                    raise self._full(name, item, "requests", f"{limits.rpm} requests")
            if limits.tpm and tokens:
                item = RateLimitItemPerSecond(limits.tpm, self.window_s)
                self._windows.hit(item, name, "tokens", cost=min(tokens, limits.tpm))
        except RateLimited:
            if counted_day:
                self._count_day(name, -1)
            raise

    def _full(self, model: str, item: RateLimitItemPerSecond, kind: str, what: str) -> RateLimited:
        stats = self._windows.get_window_stats(item, model, kind)
        wait = max(stats.reset_time - time.time(), 0.05)
        return RateLimited(
            f"the {what} a {_window_name(self.window_s)} allowed for {model} are taken",
            retry_after=wait,
            local=True,
            model=model,
        )

    def _count_day(self, model: str, delta: int) -> int:
        end = day_end(day_s=self.day_s)
        key = f"{self._prefix}:rpd:{model}:{int(end.timestamp())}"
        if self._redis is not None:
            pipe = self._redis.pipeline()
            pipe.incrby(key, delta)
            pipe.expireat(key, int(end.timestamp()) + 3600)
            value, _ = pipe.execute()
            return int(value)
        with self._lock:
            self._days[key] = self._days.get(key, 0) + delta
            return self._days[key]

    def used_today(self, model: str) -> int:
        """Requests of ``model`` counted against its day so far (0 without an RPD limit)."""
        end = day_end(day_s=self.day_s)
        key = f"{self._prefix}:rpd:{model}:{int(end.timestamp())}"
        if self._redis is not None:
            return int(self._redis.get(key) or 0)
        with self._lock:
            return self._days.get(key, 0)

    def provider_day_used(self, model: str, message: str) -> DailyLimitReached:
        """Gemini answered a daily-quota 429: the model pauses for every worker until day's end."""
        name = model.removeprefix("models/")
        end = day_end(day_s=self.day_s)
        reason = "Gemini reported the model's requests-per-day quota used up"
        self.board.pause(name, end, reason)
        return DailyLimitReached(_paused_message(name, end, reason, message), resets_at=end)

    def close(self) -> None:
        self.board.close()
        if self._redis is not None:
            self._redis.close()


def _window_name(window_s: int) -> str:
    return "minute" if window_s == 60 else f"{window_s} s window"


def _paused_message(
    model: str, until: dt.datetime, reason: str | None = None, said: str | None = None
) -> str:
    why = f" ({reason})" if reason else ""
    told = f"; Gemini said: {said}" if said else ""
    return (
        f"the daily request quota of {model} is used up{why}; its work is paused until the"
        f" quota resets at {until:%Y-%m-%d %H:%M} UTC and then resumes by itself{told}"
    )


def limiter_from_settings(settings: Settings) -> ModelLimiter:
    """The limiter the settings ask for (with no limits set it only keeps the day pauses)."""
    table, default = limits_table(settings.gemini_limits, settings.gemini_max_rpm)
    return ModelLimiter(
        table,
        default,
        redis_url=settings.redis_url,
        key_prefix=settings.queue_prefix,
        home=settings.visualizer_home,
        window_s=settings.visualizer_limit_window_s,
        day_s=settings.visualizer_limit_day_s,
    )


def paused_models(settings: Settings) -> dict[str, dict[str, Any]]:
    """The models paused for their day right now, for ``visualizer status`` and the studio.

    Cheap: one Redis scan (or a file read); it imports nothing of the SDK.
    """
    board = PauseBoard(
        redis_url=settings.redis_url,
        key_prefix=settings.queue_prefix,
        home=settings.visualizer_home,
    )
    try:
        return board.paused()
    finally:
        board.close()
