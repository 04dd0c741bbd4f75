"""The billing account's spend limits, shared by every client and worker on one key.

Google limits what one billing account may spend on the Gemini API over a rolling 10 minutes
and over a month, answering past either with a 429 ``RESOURCE_EXHAUSTED``; every client and
worker on the same key shares them. ``GEMINI_LIMITS["account"]`` sets ours below theirs:
``{"spend_usd_per_10min": X, "spend_usd_per_month": Y}``.

Every provider call *reserves* its estimated cost before it is sent (:meth:`AccountSpend.
reserve`) and *settles* its real cost (the ledger's, from the answer's usage) when it is back
(:meth:`AccountSpend.settle`; a failed call settles at 0). What is counted:

- the window: the reservations and settled costs of the last 10 minutes. A call whose estimate
  does not fit waits: :class:`~visualizer_core.errors.RateLimited` (``local``) with the seconds
  until enough spend has left the window; queue tasks go back to the queue for that long,
  callers outside the queue wait in place (:func:`.ratelimit.waiting`);
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

import datetime as dt
import math
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visualizer_core.ai.ratelimit import PauseBoard, waiting_on
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


# KEYS[1]: the window's sorted set (member "token|usd", score: time); KEYS[2]: the month total.
# ARGV: now, window, window limit (-1: none), month limit (-1: none), usd, token, month ttl.
# Returns {0, 0} when reserved, {1, wait} when the window is full for that long, {2, 0} when
# the month's cap would be passed.
_RESERVE = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local cap = tonumber(ARGV[4])
local usd = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local month = tonumber(redis.call('GET', KEYS[2]) or '0')
if cap >= 0 and month + usd > cap + 1e-9 then
  return {2, '0'}
end
if limit >= 0 then
  local items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  local total = 0
  for i = 1, #items, 2 do
    total = total + tonumber(string.match(items[i], '|(.*)$'))
  end
  if total + usd > limit + 1e-9 then
    local wait = window
    local left = total
    for i = 1, #items, 2 do
      left = left - tonumber(string.match(items[i], '|(.*)$'))
      if left + usd <= limit + 1e-9 then
        wait = tonumber(items[i + 1]) + window - now
        break
      end
    end
    return {1, tostring(math.max(wait, 0.01))}
  end
end
redis.call('ZADD', KEYS[1], now, ARGV[6] .. '|' .. ARGV[5])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
redis.call('INCRBYFLOAT', KEYS[2], usd)
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[7]))
return {0, '0'}
"""
# KEYS as above; ARGV: token, estimate, real cost, now. The reservation becomes the real cost,
# counted from now: the provider counts a call when it has answered it, so the window keeps it
# until at least as late as the provider's does.
_SETTLE = """
local old = ARGV[1] .. '|' .. ARGV[2]
if redis.call('ZREM', KEYS[1], old) == 1 then
  redis.call('ZADD', KEYS[1], tonumber(ARGV[4]), ARGV[1] .. '|' .. ARGV[3])
end
redis.call('INCRBYFLOAT', KEYS[2], tonumber(ARGV[3]) - tonumber(ARGV[2]))
return 1
"""


@dataclass(frozen=True)
class Reservation:
    """A call's place in the account's spend: settled with the call's real cost."""

    token: str
    usd: float
    month: str


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
        self._window: dict[str, tuple[float, float]] = {}  # token: (time, usd)
        self._months: dict[str, float] = {}
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url)
            self._reserve_script = self._redis.register_script(_RESERVE)
            self._settle_script = self._redis.register_script(_SETTLE)
        self.board = PauseBoard(redis_url=redis_url, key_prefix=key_prefix, home=home, kind=ACCOUNT)

    @property
    def limited(self) -> bool:
        return bool(self.limits.spend_usd_per_10min or self.limits.spend_usd_per_month)

    def reserve(self, usd: float, *, model: str | None = None) -> Reservation | None:
        """A place for a call estimated at ``usd``; None when no limit is set.

        Raises :class:`SpendCapReached` when the account is paused (or would pass its monthly
        cap now, which pauses it), and :class:`RateLimited` (``local``) when the window cannot
        take ``usd`` yet and :func:`.ratelimit.waiting` is off (else it waits in place).
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
        while True:
            try:
                return self._reserve_once(max(usd, 0.0), model)
            except SpendCapReached:
                raise
            except RateLimited as full:
                if not waiting_on():
                    raise
                time.sleep(min(max(full.retry_after or 0.05, 0.01), 5.0))

    def _reserve_once(self, usd: float, model: str | None) -> Reservation:
        now = time.time()
        month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
        token = uuid.uuid4().hex
        limit = self.limits.spend_usd_per_10min
        cap = self.limits.spend_usd_per_month
        if self._redis is not None:
            end = month_end()
            state, wait = self._reserve_script(
                keys=[f"{self._prefix}:window", f"{self._prefix}:month:{month}"],
                args=[
                    now,
                    self.window_s,
                    -1 if limit is None else limit,
                    -1 if cap is None else cap,
                    repr(usd),
                    token,
                    int((end - dt.datetime.now(dt.UTC)).total_seconds()) + 86400,
                ],
            )
            state, wait = int(state), float(wait)
        else:
            state, wait = self._reserve_here(now, month, token, usd, limit, cap)
        if state == 2:
            assert cap is not None
            raise self.pause_for_month(
                f"the monthly spend cap of USD {cap:g} set in GEMINI_LIMITS is reached", model
            )
        if state == 1:
            assert limit is not None
            raise RateLimited(
                f"the billing account's spend of USD {limit:g} per {_window_name(self.window_s)}"
                f" set in GEMINI_LIMITS is taken; room for this call in {wait:.1f} s",
                retry_after=wait,
                local=True,
                model=model,
            )
        return Reservation(token, usd, month)

    def _reserve_here(
        self,
        now: float,
        month: str,
        token: str,
        usd: float,
        limit: float | None,
        cap: float | None,
    ) -> tuple[int, float]:
        with self._lock:
            for key in [k for k, (at, _) in self._window.items() if at <= now - self.window_s]:
                del self._window[key]
            if cap is not None and self._months.get(month, 0.0) + usd > cap + 1e-9:
                return 2, 0.0
            if limit is not None:
                items = sorted(self._window.values())
                left = sum(amount for _, amount in items)
                if left + usd > limit + 1e-9:
                    wait = self.window_s
                    for at, amount in items:
                        left -= amount
                        if left + usd <= limit + 1e-9:
                            wait = at + self.window_s - now
                            break
                    return 1, max(wait, 0.01)
            self._window[token] = (now, usd)
            self._months[month] = self._months.get(month, 0.0) + usd
            return 0, 0.0

    def settle(self, reservation: Reservation | None, usd: float) -> None:
        """The call is back: its reservation becomes its real cost (0 for a failed call),
        counted in the window from now (when the provider counted it too)."""
        if reservation is None:
            return
        if self._redis is not None:
            self._settle_script(
                keys=[f"{self._prefix}:window", f"{self._prefix}:month:{reservation.month}"],
                args=[reservation.token, repr(reservation.usd), repr(max(usd, 0.0)), time.time()],
            )
            return
        with self._lock:
            if reservation.token in self._window:
                self._window[reservation.token] = (time.time(), max(usd, 0.0))
            self._months[reservation.month] = (
                self._months.get(reservation.month, 0.0) - reservation.usd + max(usd, 0.0)
            )

    def pause_for_month(self, reason: str, model: str | None = None) -> SpendCapReached:
        """Pauses the account until the month ends, for every worker; the error to raise."""
        end = month_end()
        self.board.pause(ACCOUNT, end, reason)
        return SpendCapReached(_paused_message(end, reason), resets_at=end, model=model)

    def spent(self) -> dict[str, float]:
        """USD in the current window and month (reservations included)."""
        now = time.time()
        month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
        if self._redis is not None:
            key = f"{self._prefix}:window"
            self._redis.zremrangebyscore(key, "-inf", now - self.window_s)
            members = self._redis.zrange(key, 0, -1)
            window = sum(float(m.decode().rsplit("|", 1)[1]) for m in members)
            total = float(self._redis.get(f"{self._prefix}:month:{month}") or 0.0)
            return {"window_usd": window, "month_usd": total}
        with self._lock:
            window = sum(usd for at, usd in self._window.values() if at > now - self.window_s)
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
