"""Per-model limits on Gemini calls, shared by every worker: ``GEMINI_LIMITS``, ``GEMINI_MAX_RPM``.

Gemini's limits are per model: requests a minute (RPM), tokens a minute (TPM) and requests a
day (RPD, a day that ends at midnight Pacific time). ``GEMINI_LIMITS`` sets them per model as
JSON; ``GEMINI_MAX_RPM`` is the requests-a-minute limit of every model not listed.

Every HTTP call takes its own slot from its own model's bucket *before* it is sent
(:meth:`ModelLimiter.take`): an image and the judgement of that image draw on two buckets, and a
``generate()`` that asks twice takes two slots. What is counted where:

- RPM: a sliding log of the calls' times per model, with *reservations*. A call that finds the
  last minute full is not just told "later": it is given the first moment its request fits the
  window (the time the oldest call that blocks it leaves), and that place is kept for it. The
  job goes back to the queue until then and, when it returns, its reserved slot is waiting (a
  reservation belongs to a holder: ``image:{id}``, ``judgement:{id}``; see :func:`holding`).
  So a burst of 200 images against 100 a minute runs the first 100 at once and the rest as
  their slots free, with no herd of retries polling the window. With ``REDIS_URL`` the log is a
  sorted set changed by one Lua script per take (atomic across processes and machines); on the
  embedded default it lives in this process's memory under a lock.
- TPM: a moving window of the ``limits`` library (Redis or memory), charged with an estimate of
  the call's tokens made before it is sent (inputs plus the output expected).
- RPD: a counter per model and day (Redis ``INCR`` with an expiry, or memory).
- A model whose day is used up is *paused* until the day ends: by our own RPD count, or because
  Gemini itself answered a daily-quota 429. The pause is kept where every process sees it
  (Redis, or a file in ``VISUALIZER_HOME`` on the embedded default) so that ``visualizer status``
  and the studio can say so, and work resumes by itself when it ends.

A job may take its kept slot up to a second early (a queue countdown is not exact); the call
then sleeps the rest, so that the second of margin between our clock and the provider's arrival
time is kept. Beyond that, a full window never blocks a worker slot: :meth:`ModelLimiter.take`
raises :class:`~visualizer_core.errors.RateLimited` (``local=True``, with the seconds until a
slot frees) and the job goes back to the queue with that countdown. Callers outside the queue
(analysis run from the command or the studio) may wait in place instead: :func:`waiting` says
which.

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
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from visualizer_core.errors import DailyLimitReached, RateLimited

if TYPE_CHECKING:
    from limits import RateLimitItemPerSecond

    from visualizer_core.config import Settings

__all__ = [
    "ModelLimiter",
    "ModelLimits",
    "PauseBoard",
    "day_end",
    "holding",
    "limiter_from_settings",
    "limits_table",
    "paused_models",
    "peek_holder",
    "waiting",
    "waiting_on",
]

log = logging.getLogger(__name__)

PACIFIC = ZoneInfo("America/Los_Angeles")
_MARGIN_S = 1.0  # a reserved slot starts this long after the blocking call leaves the window
# (our clock starts before the request is built and sent; the provider counts its arrival)

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


_holder: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar(
    "visualizer_slot_holder", default=None
)


@contextlib.contextmanager
def holding(holder: str) -> Iterator[None]:
    """Calls made within the block take (and keep) their reservations as ``holder``.

    The n-th call of the block is ``{holder}#{n}``: a job that went back to the queue to wait
    for its slot finds it under the same name when it runs again.
    """
    token = _holder.set([holder, 0])
    try:
        yield
    finally:
        _holder.reset(token)


def peek_holder() -> str | None:
    """The name the next call of the :func:`holding` block will hold its slot as (None outside
    one), without taking it: the spend limit keeps a place under it (``{name}:spend``)."""
    state = _holder.get()
    return None if state is None else f"{state[0]}#{state[1]}"


def _next_holder() -> str | None:
    state = _holder.get()
    if state is None:
        return None
    name = f"{state[0]}#{state[1]}"
    state[1] += 1
    return name


# KEYS[1]: the model's sorted set of calls (member: holder or a unique name; score: the time
# the slot is for). ARGV: now, window, limit, member, margin. A member that is a reservation not
# yet due answers its wait; one due is consumed (renamed, so it is never taken twice). Returns
# {1, when} when the slot is for now (or was reserved and is due), {0, when} when a slot was
# reserved for ``when`` (later).
_RESERVE = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local member = ARGV[4]
local margin = tonumber(ARGV[5])
local reserve = ARGV[6] == '1'
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local mine = redis.call('ZSCORE', key, member)
if mine then
  mine = tonumber(mine)
  if mine <= now + margin then
    redis.call('ZREM', key, member)
    redis.call('ZADD', key, mine, member .. ':used:' .. now)
    return {1, tostring(mine)}
  end
  return {0, tostring(mine)}
end
local count = redis.call('ZCARD', key)
local at = now
if count >= limit then
  local blocker = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
  at = math.max(now, tonumber(blocker[2]) + window + margin)
end
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) > at and count >= limit then
  at = tonumber(last[2])
end
if at <= now then
  redis.call('ZADD', key, now, member .. ':used:' .. now)
  redis.call('PEXPIRE', key, math.ceil(window * 1000) + 1000)
  return {1, tostring(now)}
end
if not reserve then
  return {0, tostring(at)}
end
redis.call('ZADD', key, at, member)
redis.call('PEXPIRE', key, math.ceil((at - now + window) * 1000) + 1000)
return {0, tostring(at)}
"""


@dataclass(frozen=True)
class ModelLimits:
    """One model's limits; None is "no limit of ours"."""

    rpm: int | None = None
    tpm: int | None = None
    rpd: int | None = None


def limits_table(
    limits: Mapping[str, Mapping[str, float]] | None, default_rpm: int | None
) -> tuple[dict[str, ModelLimits], ModelLimits]:
    """The per-model table and the default row, from ``GEMINI_LIMITS`` and ``GEMINI_MAX_RPM``."""
    table = {
        model: ModelLimits(**{name: int(value) for name, value in row.items()})
        for model, row in (limits or {}).items()
        if model != "account"  # the billing account's spend limits: see .spendlimit
    }
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

    def __init__(
        self, *, redis_url: str | None, key_prefix: str, home: Path | None, kind: str = "paused"
    ) -> None:
        """``kind`` names the board: ``paused`` (models) or ``account`` (the billing account,
        see :mod:`.spendlimit`)."""
        self._prefix = f"{key_prefix}:gemini:{kind}:"
        self._redis: Any = None
        self._file: Path | None = None
        self._lock = threading.Lock()
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
        else:
            self._file = (home or Path(".visualizer")) / "limits" / f"{kind}.json"

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
        # Imported here: ``visualizer status`` reads the pauses without loading the limiter.
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        if redis_url:
            import redis

            storage = storage_from_string(redis_url, key_prefix=f"{key_prefix}:ratelimit")
            self._redis: Any = redis.Redis.from_url(redis_url)
        else:
            storage = storage_from_string("memory://")
            self._redis = None
        self._windows = MovingWindowRateLimiter(storage)
        self._script: Any = self._redis.register_script(_RESERVE) if self._redis else None
        self._logs: dict[str, dict[str, float]] = {}
        self._days: dict[str, int] = {}
        self._lock = threading.Lock()
        self.board = PauseBoard(redis_url=redis_url, key_prefix=key_prefix, home=home)

    def limits_of(self, model: str) -> ModelLimits:
        """The model's row of ``GEMINI_LIMITS``, else the ``GEMINI_MAX_RPM`` default."""
        return self.limits.get(model.removeprefix("models/"), self.default)

    def take(self, model: str, *, tokens: int = 0) -> float:
        """A slot for one call of ``model``; returns the seconds waited for it (0 mostly).

        Raises :class:`DailyLimitReached` when the model's day is used up (never waited out),
        and :class:`RateLimited` (``local``, ``retry_after`` the seconds until the slot kept for
        this holder is due) when a window is full and :func:`waiting` is off.
        """
        holder = _next_holder()
        member = holder or f"anon:{uuid.uuid4().hex}"
        waited = 0.0
        while True:
            try:
                self._take_once(model, tokens, member, reserve=holder is not None or waiting_on())
                return waited
            except DailyLimitReached:
                raise
            except RateLimited as full:
                if not waiting_on():
                    raise
                pause = min(max(full.retry_after or 0.05, 0.01), 5.0)
                if not waited:
                    log.info("%s; waiting for a slot", full)
                time.sleep(pause)
                waited += pause

    def _take_once(self, model: str, tokens: int, member: str, *, reserve: bool) -> None:
        name = model.removeprefix("models/")
        until = self.board.until(name)
        if until is not None:
            raise DailyLimitReached(
                _paused_message(name, until), resets_at=until, local=True, model=name
            )
        limits = self.limits_of(name)
        if not (limits.rpm or limits.tpm or limits.rpd):
            return
        item: RateLimitItemPerSecond | None = None  # a tokens window, charged once all pass
        if limits.tpm and tokens:
            from limits import RateLimitItemPerSecond

            item = RateLimitItemPerSecond(limits.tpm, self.window_s)
            cost = min(tokens, limits.tpm)
            if not self._windows.test(item, name, "tokens", cost=cost):
                raise self._full(name, item, "tokens", f"{limits.tpm} tokens")
        if limits.rpm:
            now = time.time()
            ready, at = self._reserve(name, limits.rpm, member, now, reserve=reserve)
            if ready and at > now:
                # A kept slot taken up to the margin early (a job back from the queue a little
                # before its countdown): the call still goes no earlier than the slot's time, or
                # the margin kept against the provider's clock would be spent here.
                time.sleep(at - now)
            if not ready:
                raise RateLimited(
                    f"the {limits.rpm} requests a {_window_name(self.window_s)} allowed for"
                    f" {name} are taken; a slot is kept for {at - now:.1f} s from now",
                    retry_after=max(at - now, 0.01),
                    local=True,
                    model=name,
                )
        if limits.rpd and self._count_day(name, +1) > limits.rpd:
            self._count_day(name, -1)
            end = day_end(day_s=self.day_s)
            reason = f"the {limits.rpd} requests a day set in GEMINI_LIMITS are used"
            self.board.pause(name, end, reason)
            raise DailyLimitReached(
                _paused_message(name, end, reason), resets_at=end, local=True, model=name
            )
        if item is not None:
            self._windows.hit(item, name, "tokens", cost=cost)

    def _reserve(
        self, model: str, limit: int, member: str, now: float, *, reserve: bool
    ) -> tuple[bool, float]:
        """(True, now) when the slot is this call's now, else (False, when it will be)."""
        window = float(self.window_s)
        if self._redis is not None:
            ready, at = self._script(
                keys=[f"{self._prefix}:rpm:{model}"],
                args=[now, window, limit, member, _MARGIN_S, "1" if reserve else "0"],
            )
            return bool(int(ready)), float(at)
        with self._lock:
            log_ = self._logs.setdefault(model, {})
            for key in [k for k, t in log_.items() if t <= now - window]:
                del log_[key]
            mine = log_.get(member)
            if mine is not None:
                if mine <= now + _MARGIN_S:
                    del log_[member]
                    log_[f"{member}:used:{now}"] = mine
                    return True, mine
                return False, mine
            times = sorted(log_.values())
            at = now
            if len(times) >= limit:
                at = max(now, times[len(times) - limit] + window + _MARGIN_S, times[-1])
            if at <= now:
                log_[f"{member}:used:{now}"] = now
                return True, now
            if reserve:
                log_[member] = at
            return False, at

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

    def provider_day_used(
        self,
        model: str,
        message: str,
        *,
        reason: str = "Gemini reported the model's requests-per-day quota used up",
    ) -> DailyLimitReached:
        """Gemini answered a daily-quota 429: the model pauses for every worker until day's end."""
        name = model.removeprefix("models/")
        end = day_end(day_s=self.day_s)
        self.board.pause(name, end, reason)
        return DailyLimitReached(_paused_message(name, end, reason, message), resets_at=end)

    def close(self) -> None:
        self.board.close()
        if self._redis is not None:
            self._redis.close()


def waiting_on() -> bool:
    """Whether a full window is waited out in place here (see :func:`waiting`)."""
    return _wait_in_place.get()


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
