"""The per-model limiter: reserved slots, days, pauses; in memory and in Redis alike."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.servers.celery_worker import claim_redis_db
from visualizer_core.ai.ratelimit import (
    ModelLimiter,
    ModelLimits,
    day_end,
    holding,
    limits_table,
    paused_models,
    waiting,
)
from visualizer_core.config import load_settings
from visualizer_core.errors import ConfigError, DailyLimitReached, RateLimited

MODEL = "gemini-nano-banana-2.1"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "memory":
        yield None
        return
    with claim_redis_db() as number:
        yield f"redis://127.0.0.1:6379/{number}"


def make(redis_url: str | None, home: Path, **limits: int) -> ModelLimiter:
    return ModelLimiter(
        {MODEL: ModelLimits(**limits)},
        ModelLimits(),
        redis_url=redis_url,
        key_prefix="client",
        home=home,
        window_s=2,  # the test knob: a two-second "minute"
        day_s=3600,
    )


def refused(limiter: ModelLimiter, holder: str) -> float:
    with waiting(False), holding(holder), pytest.raises(RateLimited) as caught:
        limiter.take(MODEL)
    assert caught.value.local
    return caught.value.retry_after or 0.0


def test_a_full_window_keeps_the_next_slots_for_those_who_asked(
    redis_url: str | None, tmp_path: Path
) -> None:
    limiter = make(redis_url, tmp_path, rpm=2)
    with waiting(False):
        for holder in ("a", "b"):
            with holding(holder):
                assert limiter.take(MODEL) == 0.0
    wait_c = refused(limiter, "c")
    wait_d = refused(limiter, "d")
    wait_e = refused(limiter, "e")
    # c and d take the places of a and b when those leave the window; e waits for c's.
    assert 2.0 <= wait_c <= 3.1 and 2.0 <= wait_d <= 3.1
    assert wait_e >= wait_c + 1.9
    # Asking again early is answered with the same place, not a new one behind the others.
    assert refused(limiter, "c") <= wait_c
    time.sleep(wait_d + 0.05)
    with waiting(False):
        for holder in ("c", "d"):
            with holding(holder):
                assert limiter.take(MODEL) == 0.0
    # A newcomer finds the window full with c, d and e's place: it is kept behind e.
    assert refused(limiter, "f") > 1.5
    limiter.close()


def test_a_kept_slot_taken_early_still_goes_no_earlier_than_its_time(
    redis_url: str | None, tmp_path: Path
) -> None:
    """A job back from the queue within the margin of its slot takes it, and the call waits
    out the rest: the margin kept against the provider's clock is not spent on our side."""
    limiter = make(redis_url, tmp_path, rpm=1)
    with waiting(False), holding("a"):
        limiter.take(MODEL)
    sent = time.time()
    wait = refused(limiter, "b")  # kept for the window (2 s) plus the margin (1 s) after a's
    assert 2.9 <= wait <= 3.1
    time.sleep(wait - 0.6)  # back from the queue 0.6 s early
    with waiting(False), holding("b"):
        limiter.take(MODEL)
    assert time.time() - sent >= wait - 0.02
    limiter.close()


def test_one_holder_numbers_its_calls(redis_url: str | None, tmp_path: Path) -> None:
    limiter = make(redis_url, tmp_path, rpm=1)
    with waiting(False), holding("image:1"):
        limiter.take(MODEL)  # image:1#0
        with pytest.raises(RateLimited):
            limiter.take(MODEL)  # image:1#1: the second call of one generate() needs a slot too
    limiter.close()


def test_the_day_runs_out_and_the_model_pauses_for_everyone(
    redis_url: str | None, tmp_path: Path
) -> None:
    limiter = make(redis_url, tmp_path, rpd=2)
    limiter.take(MODEL)
    limiter.take(MODEL)
    assert limiter.used_today(MODEL) == 2
    with pytest.raises(DailyLimitReached, match="daily request quota") as caught:
        limiter.take(MODEL)
    assert caught.value.resets_at == day_end(day_s=3600)
    settings = load_settings(visualizer_home=tmp_path, redis_url=redis_url)
    assert MODEL in paused_models(settings)
    other = make(redis_url, tmp_path)  # another worker, without the limit: paused all the same
    with pytest.raises(DailyLimitReached, match="paused until"):
        other.take(MODEL)
    other.take("gemini-3.8-flash")  # other models go on
    other.close()
    limiter.close()


def test_a_pause_ends_by_itself(redis_url: str | None, tmp_path: Path) -> None:
    limiter = make(redis_url, tmp_path)
    limiter.board.pause(MODEL, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1), "test")
    with pytest.raises(DailyLimitReached):
        limiter.take(MODEL)
    time.sleep(1.1)
    limiter.take(MODEL)
    limiter.close()


def test_gemini_day_ends_at_pacific_midnight() -> None:
    noon = dt.datetime(2026, 7, 1, 19, 0, tzinfo=dt.UTC)  # 12:00 in Los Angeles (PDT)
    end = day_end(noon)
    assert end == dt.datetime(2026, 7, 2, 7, 0, tzinfo=dt.UTC)
    assert end.astimezone(ZoneInfo("America/Los_Angeles")).hour == 0
    assert day_end(noon, day_s=60) == dt.datetime(2026, 7, 1, 19, 1, tzinfo=dt.UTC)


def test_the_table_and_its_default() -> None:
    table, default = limits_table({MODEL: {"rpm": 100, "rpd": 10000}}, 30)
    assert table[MODEL] == ModelLimits(rpm=100, rpd=10000)
    assert default == ModelLimits(rpm=30)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("{not json", "GEMINI_LIMITS: not JSON"),
        ('{"m": {"rpm": 0}}', "m: rpm must be a whole number above 0"),
        ('{"m": {"rph": 5}}', "m: unknown limit 'rph'"),
        ('{"m": 5}', 'm: needs a limit such as {"rpm": 100}'),
        ("[1]", "must map model names"),
    ],
)
def test_malformed_limits_stop_with_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str, words: str
) -> None:
    monkeypatch.setenv("GEMINI_LIMITS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "\n" not in str(caught.value)
    assert words in str(caught.value)
