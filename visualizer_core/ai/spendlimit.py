"""The billing account's spend limits, shared by every client and worker on one key.

Google limits what one billing account may spend on the Gemini API over a rolling 10 minutes
and over a month, answering past either with a 429 ``RESOURCE_EXHAUSTED``; every client and
worker on the same key shares them. ``GEMINI_LIMITS["account"]`` sets ours below theirs:
``{"spend_usd_per_10min": X, "spend_usd_per_month": Y}``.

Every provider call *reserves* its estimated cost before it is sent (:meth:`AccountSpend.
reserve`) and *settles* its real cost (the ledger's, from the answer's usage) when it is back
(:meth:`AccountSpend.settle`; a failed call settles at 0). What is counted:

- the window: the calls in flight and the settled costs of the last 10 minutes, each counted
  until 10 minutes after its answer (the provider counts a call from then). A call whose
  estimate does not fit waits: :class:`~visualizer_core.errors.RateLimited` (``local``). Like
  the requests-a-minute slots (:mod:`.ratelimit`), a queue job (a holder) is *given a place*:
  the first moment its estimate fits behind every call placed before it, reckoning calls still
  in flight to answer after the calls' mean latency; the place is kept in the window (so later
  callers queue behind it, neither overshooting nor leaving room unused while jobs poll), the
  job goes back to the queue until a moment (0.8 ``lead_s``; ``lead_s`` is a tenth of the
  window, at most 1 s) before its place is due and waits the rest in place (the queue's own
  delays would otherwise leave the window unused), then takes its place once the window
  really has room (else the place moves later). A place is counted at its estimate times
  what calls of its model have lately cost against their estimates. Callers outside the
  queue wait in place (:func:`.ratelimit.waiting`);
- the month (calendar month, UTC): a call that would pass the monthly cap *pauses the
  account* until the month ends (:class:`SpendCapReached`, a ``DailyLimitReached``: its images
  stay pending and resume by themselves), with the reason where ``visualizer status --json``,
  the studio and the notebooks read it (:func:`account_pause`). A 429 from Gemini naming the
  monthly spend cap pauses the account the same way.

With ``REDIS_URL`` both live in Redis (a sorted set of the window's amounts and a month total,
changed by one Lua script per reservation: atomic across processes and machines); on the
embedded default in this process's memory under a lock. The test knob
``VISUALIZER_LIMIT_WINDOW_S`` shortens the limits' minute, and the 10 minutes with it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visualizer_core.ai.ratelimit import PauseBoard, peek_holder, waiting_on
from visualizer_core.errors import DailyLimitReached, RateLimited

if TYPE_CHECKING:
    from visualizer_core.config import Settings

__all__ = [
    "AccountLimits",
    "AccountSpend",
    "SpendCapReached",
    "account_pause",
    "month_end",
    "spend_from_settings",
]

ACCOUNT = "account"


class SpendCapReached(DailyLimitReached):
    """The billing account's monthly spend cap is reached: its work pauses until the month
    ends (``resets_at``); nothing fails."""


@dataclass(frozen=True)
class AccountLimits:
    """The billing account's spend limits in USD; None is "no limit of ours"."""

    spend_usd_per_10min: float | None = None
    spend_usd_per_month: float | None = None


def month_end(now: dt.datetime | None = None) -> dt.datetime:
    """When the calendar month (UTC) that contains ``now`` ends."""
    now = now or dt.datetime.now(dt.UTC)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return (first + dt.timedelta(days=32)).replace(day=1)


# The window's sorted set holds one member per call, ``name|usd|state`` scored by a time:
#   r  a place reserved for a call that waits (``name`` its holder), scored when it may start;
#   i  a call in flight, scored when it started;
#   s  a settled call (its real cost), scored when its answer came back.
# A call counts against the window until ``W`` after its answer (the provider counts it from
# then); for one not back yet that is estimated with the calls' mean latency (KEYS[3]).
#
# KEYS: the window, the month total, the mean latency. ARGV: now, window, window limit (-1:
# none), month cap (-1: none), usd, name, token, month ttl, reserve (1: keep a place for
# ``name``), ratio, estimate. A place keeps the caller's estimate and counts as the estimate x
# the ratio of the moment (what calls have lately cost against their estimates), so places made
# before that was known do not keep the line at the estimates' pace. Returns {0, 0} when the
# call may start now (it is in flight as ``token``), {1, wait} when its place is that many
# seconds away, {2, 0} when the month's cap would be passed.
_RESERVE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local usd = tonumber(ARGV[5])
local ratio = tonumber(ARGV[10])
local name = ARGV[6]
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if cap >= 0 and month + usd > cap + 1e-9 then
  return {2, '0'}
end
local lat = tonumber(redis.call('GET', KEYS[3]) or '0')
local items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local entries = {}
local mine = nil
local last = now
for i = 1, #items, 2 do
  local who, amount, state = string.match(items[i], '^(.*)|([^|]*)|(%a)$')
  local at = tonumber(items[i + 1])
  if state == 'r' and who == name then
    mine = {items[i], at}
  else
    local usd_of = tonumber(amount)
    if state == 'r' then usd_of = usd_of * ratio end
    entries[#entries + 1] = {at, usd_of, state}
    if state == 'r' and at > last then last = at end
  end
end
if mine and mine[2] > now + 1e-6 then
  return {1, tostring(mine[2] - now)}
end
local start = now
if not mine then start = last end
local bound = math.huge
if mine then bound = mine[2] end
local need = usd
if limit >= 0 and need > limit then need = limit end
local at = start
if limit >= 0 then
  local counted = {}
  local total = 0
  for _, e in ipairs(entries) do
    if not (e[3] == 'r' and e[1] > bound) then
      local leaves = e[1]
      if e[3] == 'i' then leaves = math.max(e[1] + lat, now) end
      if e[3] == 'r' then leaves = math.max(e[1], now) + lat end
      if leaves > start - window then
        counted[#counted + 1] = {leaves, e[2]}
        total = total + e[2]
      end
    end
  end
  if total + need > limit + 1e-9 then
    table.sort(counted, function(x, y) return x[1] < y[1] end)
    for _, c in ipairs(counted) do
      total = total - c[2]
      if total + need <= limit + 1e-9 then
        at = math.max(start, c[1] + window)
        break
      end
    end
  end
end
if at <= now + 1e-6 then
  if mine then redis.call('ZREM', KEYS[1], mine[1]) end
  redis.call('ZADD', KEYS[1], now, ARGV[7] .. '|' .. ARGV[5] .. '|i')
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) * 3 + 1000)
  redis.call('INCRBYFLOAT', KEYS[2], usd)
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[8]))
  return {0, '0'}
end
if mine then
  redis.call('ZADD', KEYS[1], at, mine[1])
elseif ARGV[9] == '1' then
  redis.call('ZADD', KEYS[1], at, name .. '|' .. ARGV[11] .. '|r')
  redis.call('PEXPIRE', KEYS[1], math.ceil((at - now + window) * 1000) * 3 + 1000)
end
return {1, tostring(at - now)}
"""
# KEYS as above; ARGV: token, estimate, real cost, now. The call in flight becomes its real
# cost, counted from now (the provider counts a call when it has answered it); the mean
# latency learns how long it took.
_SETTLE = """
local old = ARGV[1] .. '|' .. ARGV[2] .. '|i'
local now = tonumber(ARGV[4])
local started = redis.call('ZSCORE', KEYS[1], old)
if started then
  redis.call('ZREM', KEYS[1], old)
  redis.call('ZADD', KEYS[1], now, ARGV[1] .. '|' .. ARGV[3] .. '|s')
  local took = now - tonumber(started)
  local lat = tonumber(redis.call('GET', KEYS[3]) or '-1')
  if lat < 0 then lat = took else lat = 0.8 * lat + 0.2 * took end
  redis.call('SET', KEYS[3], tostring(lat), 'EX', 86400)
end
redis.call('INCRBYFLOAT', KEYS[2], tonumber(ARGV[3]) - tonumber(ARGV[2]))
return 1
"""
# KEYS[1]: a model's ratio of real cost to estimate; ARGV[1]: the ratio one call showed.
_LEARN = """
local old = redis.call('GET', KEYS[1])
local seen = tonumber(ARGV[1])
if old then seen = 0.8 * tonumber(old) + 0.2 * seen end
redis.call('SET', KEYS[1], tostring(seen), 'EX', 86400)
return 1
"""


@dataclass(frozen=True)
class _Entry:
    """One member of the in-memory window: its time, USD and state (r, i or s)."""

    at: float
    usd: float
    state: str


@dataclass(frozen=True)
class Reservation:
    """A call's place in the account's spend: settled with the call's real cost."""

    token: str
    usd: float  # what was reserved: the estimate, scaled by what such calls really cost
    month: str
    estimate: float = 0.0  # the caller's own estimate, before scaling
    model: str | None = None


class AccountSpend:
    """The account's spend windows; never calls the provider itself. Safe between threads."""

    def __init__(
        self,
        limits: AccountLimits,
        *,
        redis_url: str | None,
        key_prefix: str,
        home: Path | None = None,
        window_s: float = 600.0,
    ) -> None:
        self.limits = limits
        self.window_s = window_s
        self._prefix = f"{key_prefix}:gemini:spend"
        self._lock = threading.Lock()
        self._window: dict[str, _Entry] = {}  # a token, or a holder's name for a place
        self._months: dict[str, float] = {}
        self._latency = -1.0  # the calls' mean latency, once one came back
        self._ratios: dict[str, float] = {}  # model: real cost / estimate, a moving mean
        # A place due within this long is waited for in place (see reserve).
        self.lead_s = min(1.0, window_s / 10)
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
            self._reserve_script = self._redis.register_script(_RESERVE)
            self._settle_script = self._redis.register_script(_SETTLE)
            self._learn_script = self._redis.register_script(_LEARN)
        self.board = PauseBoard(redis_url=redis_url, key_prefix=key_prefix, home=home, kind=ACCOUNT)

    @property
    def limited(self) -> bool:
        return bool(self.limits.spend_usd_per_10min or self.limits.spend_usd_per_month)

    def reserve(self, usd: float, *, model: str | None = None) -> Reservation | None:
        """A place for a call estimated at ``usd``; None when no limit is set.

        Raises :class:`SpendCapReached` when the account is paused (or would pass its monthly
        cap now, which pauses it), and :class:`RateLimited` (``local``) when the window cannot
        take ``usd`` yet and :func:`.ratelimit.waiting` is off (else it waits in place). A call
        made for a holder (:func:`.ratelimit.holding`: a queue job) that must wait is *given a
        place*: the first moment its estimate fits behind every call already placed, kept for
        it; when the job comes back it takes that place, so waiting calls start in their
        order, each as soon as the spend ahead of it has left the window.
        """
        until = self.board.until(ACCOUNT)
        if until is not None:
            raise SpendCapReached(
                _paused_message(until, self.board.paused()[ACCOUNT]["reason"]),
                resets_at=until,
                local=True,
                model=model,
            )
        if not self.limited:
            return None
        holder = peek_holder()
        name = f"{holder}:spend" if holder else f"anon:{uuid.uuid4().hex}"
        keep = holder is not None or waiting_on()
        estimate = max(usd, 0.0)
        ratio = self._ratio(model)
        scaled = round(estimate * ratio, 10)
        while True:
            try:
                reservation = self._reserve_once(
                    scaled, model, name, keep, estimate=estimate, ratio=ratio
                )
                return dataclasses.replace(reservation, estimate=estimate, model=model)
            except SpendCapReached:
                raise
            except RateLimited as full:
                wait = full.retry_after or 0.05
                if waiting_on() or wait <= self.lead_s:
                    # A place due within a moment is waited for here: sending the job round
                    # the queue for it would cost more than the wait.
                    time.sleep(min(max(wait, 0.005), 5.0))
                    continue
                if keep:  # back a moment before its place is due, to wait the rest here
                    full.retry_after = max(wait - 0.8 * self.lead_s, 0.005)
                raise

    def _reserve_once(
        self,
        usd: float,
        model: str | None,
        name: str,
        keep: bool,
        *,
        estimate: float,
        ratio: float,
    ) -> Reservation:
        now = time.time()
        month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
        token = f"{name}:{uuid.uuid4().hex[:12]}"
        limit = self.limits.spend_usd_per_10min
        cap = self.limits.spend_usd_per_month
        if self._redis is not None:
            end = month_end()
            state, wait = self._reserve_script(
                keys=self._keys(month),
                args=[
                    now,
                    self.window_s,
                    -1 if limit is None else limit,
                    -1 if cap is None else cap,
                    repr(usd),
                    name,
                    token,
                    int((end - dt.datetime.now(dt.UTC)).total_seconds()) + 86400,
                    "1" if keep else "0",
                    repr(ratio),
                    repr(estimate),
                ],
            )
            state, wait = int(state), float(wait)
        else:
            state, wait = self._reserve_here(
                now, month, name, token, usd, limit, cap, keep, estimate=estimate, ratio=ratio
            )
        if state == 2:
            assert cap is not None
            raise self.pause_for_month(
                f"the monthly spend cap of USD {cap:g} set in GEMINI_LIMITS is reached", model
            )
        if state == 1:
            assert limit is not None
            raise RateLimited(
                f"the billing account's spend of USD {limit:g} per {_window_name(self.window_s)}"
                f" set in GEMINI_LIMITS is taken; a place for this call is kept for"
                f" {wait:.1f} s from now",
                retry_after=max(wait, 0.005),
                local=True,
                model=model,
            )
        return Reservation(token, usd, month)

    def _ratio(self, model: str | None) -> float:
        """What the calls of ``model`` settled at against their estimates, lately (a moving
        mean, 1 until one settled, kept within 0.5 and 2): estimates carry a margin of text
        output that most answers do not use, and reserving it would leave room unused."""
        if self._redis is not None:
            value = self._redis.get(f"{self._prefix}:ratio:{model}")
            ratio = float(value) if value is not None else 1.0
        else:
            ratio = self._ratios.get(model or "", 1.0)
        return min(max(ratio, 0.5), 2.0)

    def _learn(self, reservation: Reservation, usd: float) -> None:
        if usd <= 0 or reservation.estimate <= 0:
            return  # a failed call tells nothing of what answers cost
        seen = usd / reservation.estimate
        if self._redis is not None:
            self._learn_script(keys=[f"{self._prefix}:ratio:{reservation.model}"], args=[seen])
            return
        with self._lock:
            key = reservation.model or ""
            old = self._ratios.get(key)
            self._ratios[key] = seen if old is None else 0.8 * old + 0.2 * seen

    def _keys(self, month: str) -> list[str]:
        return [
            f"{self._prefix}:window",
            f"{self._prefix}:month:{month}",
            f"{self._prefix}:latency",
        ]

    def _reserve_here(
        self,
        now: float,
        month: str,
        name: str,
        token: str,
        usd: float,
        limit: float | None,
        cap: float | None,
        keep: bool,
        *,
        estimate: float,
        ratio: float,
    ) -> tuple[int, float]:
        """The reservation script's steps, in this process's memory (see ``_RESERVE``)."""
        window = self.window_s
        latency = max(self._latency, 0.0)
        with self._lock:
            for key in [k for k, e in self._window.items() if e.at <= now - window]:
                del self._window[key]
            if cap is not None and self._months.get(month, 0.0) + usd > cap + 1e-9:
                return 2, 0.0
            mine = self._window.get(name)
            mine = mine if mine is not None and mine.state == "r" else None
            if mine is not None and mine.at > now + 1e-6:
                return 1, mine.at - now
            others = [e for k, e in self._window.items() if k != name]
            placed = [e.at for e in others if e.state == "r"]
            start = now if mine is not None else max([now, *placed])
            bound = mine.at if mine is not None else math.inf
            at = start
            if limit is not None:
                counted = []
                for e in others:
                    if e.state == "r" and e.at > bound:
                        continue  # behind this call in the line
                    leaves, amount = e.at, e.usd
                    if e.state == "i":
                        leaves = max(e.at + latency, now)
                    elif e.state == "r":
                        leaves, amount = max(e.at, now) + latency, e.usd * ratio
                    if leaves > start - window:
                        counted.append((leaves, amount))
                total = sum(amount for _, amount in counted)
                need = min(usd, limit)
                if total + need > limit + 1e-9:
                    for leaves, amount in sorted(counted):
                        total -= amount
                        if total + need <= limit + 1e-9:
                            at = max(start, leaves + window)
                            break
            if at <= now + 1e-6:
                if mine is not None:
                    del self._window[name]
                self._window[token] = _Entry(now, usd, "i")
                self._months[month] = self._months.get(month, 0.0) + usd
                return 0, 0.0
            if mine is not None:
                self._window[name] = _Entry(at, mine.usd, "r")
            elif keep:
                self._window[name] = _Entry(at, estimate, "r")
            return 1, at - now

    def settle(self, reservation: Reservation | None, usd: float) -> None:
        """The call is back: its reservation becomes its real cost (0 for a failed call),
        counted in the window from now (when the provider counted it too)."""
        if reservation is None:
            return
        self._learn(reservation, max(usd, 0.0))
        now = time.time()
        if self._redis is not None:
            self._settle_script(
                keys=self._keys(reservation.month),
                args=[reservation.token, repr(reservation.usd), repr(max(usd, 0.0)), now],
            )
            return
        with self._lock:
            entry = self._window.get(reservation.token)
            if entry is not None and entry.state == "i":
                self._window[reservation.token] = _Entry(now, max(usd, 0.0), "s")
                took = now - entry.at
                self._latency = took if self._latency < 0 else 0.8 * self._latency + 0.2 * took
            self._months[reservation.month] = (
                self._months.get(reservation.month, 0.0) - reservation.usd + max(usd, 0.0)
            )

    def pause_for_month(self, reason: str, model: str | None = None) -> SpendCapReached:
        """Pauses the account until the month ends, for every worker; the error to raise."""
        end = month_end()
        self.board.pause(ACCOUNT, end, reason)
        return SpendCapReached(_paused_message(end, reason), resets_at=end, model=model)

    def spent(self) -> dict[str, float]:
        """USD in the current window (calls in flight and settled) and month."""
        now = time.time()
        month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
        if self._redis is not None:
            key = f"{self._prefix}:window"
            self._redis.zremrangebyscore(key, "-inf", now - self.window_s)
            members = [m.decode().rsplit("|", 2) for m in self._redis.zrange(key, 0, -1)]
            window = sum(float(usd) for _, usd, state in members if state != "r")
            total = float(self._redis.get(f"{self._prefix}:month:{month}") or 0.0)
            return {"window_usd": window, "month_usd": total}
        with self._lock:
            since = now - self.window_s
            window = sum(e.usd for e in self._window.values() if e.state != "r" and e.at > since)
            return {"window_usd": window, "month_usd": self._months.get(month, 0.0)}

    def close(self) -> None:
        self.board.close()
        if self._redis is not None:
            self._redis.close()


def _window_name(window_s: float) -> str:
    return "10 minutes" if math.isclose(window_s, 600) else f"{window_s:g} s"


def _paused_message(until: dt.datetime, reason: str) -> str:
    return (
        f"the billing account's spend is paused ({reason}); its work waits until"
        f" {until:%Y-%m-%d %H:%M} UTC and then resumes by itself"
    )


def spend_from_settings(settings: Settings) -> AccountSpend:
    """The account's spend limits the settings ask for (none set: it only keeps the pause)."""
    row = (settings.gemini_limits or {}).get(ACCOUNT) or {}
    return AccountSpend(
        AccountLimits(**{k: float(v) for k, v in row.items()}),
        redis_url=settings.redis_url,
        key_prefix=settings.queue_prefix,
        home=settings.visualizer_home,
        window_s=10 * settings.visualizer_limit_window_s,
    )


def account_pause(settings: Settings) -> dict[str, Any] | None:
    """``{"until": ISO time, "reason"}`` while the account is paused, else None. Cheap: one
    Redis read (or a file read); for ``visualizer status``, the studio and the notebooks."""
    board = PauseBoard(
        redis_url=settings.redis_url,
        key_prefix=settings.queue_prefix,
        home=settings.visualizer_home,
        kind=ACCOUNT,
    )
    try:
        entry = board.paused().get(ACCOUNT)
    finally:
        board.close()
    if entry is None:
        return None
    return {"until": entry["until"].isoformat(), "reason": entry["reason"]}
