"""The billing account's spend limits: reserved before a call, settled after, shared through
Redis (or this process's memory), and Gemini's own spend 429s read as such."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers.celery_worker import claim_redis_db
from tests.standins.gemini_fixtures import make_ai, request
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
from visualizer_core.ai.ratelimit import holding, waiting
from visualizer_core.ai.spendlimit import (
    AccountLimits,
    AccountSpend,
    SpendCapReached,
    account_pause,
)
from visualizer_core.config import load_settings
from visualizer_core.errors import ConfigError, RateLimited

# The stand-in bills at the registry's prices (USD per 1M input, output, image output).
STAND_IN_PRICES = {DEFAULT_IMAGE_MODEL: (1.5, 7.5, 30.0), DEFAULT_TEXT_MODEL: (1.5, 7.5, None)}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "memory":
        yield None
        return
    with claim_redis_db() as number:
        yield f"redis://127.0.0.1:6379/{number}"


def spend(redis_url: str | None, home: Path, **limits: float) -> AccountSpend:
    return AccountSpend(
        AccountLimits(**limits), redis_url=redis_url, key_prefix="client", home=home, window_s=2.0
    )


def test_a_call_reserves_its_estimate_and_settles_its_cost(
    redis_url: str | None, tmp_path: Path
) -> None:
    account = spend(redis_url, tmp_path, spend_usd_per_10min=1.0)
    first = account.reserve(0.6)
    assert account.spent()["window_usd"] == pytest.approx(0.6)
    with waiting(False), pytest.raises(RateLimited, match="spend of USD 1") as caught:
        account.reserve(0.6)  # 1.2 would pass the window's dollar
    assert caught.value.local and 0 < (caught.value.retry_after or 0) <= 2.0
    account.settle(first, 0.3)  # it cost less than guessed: room again
    assert account.spent() == pytest.approx({"window_usd": 0.3, "month_usd": 0.3})
    second = account.reserve(0.6)
    assert second is not None
    account.close()


def test_a_full_window_is_waited_out_in_place_outside_the_queue(
    redis_url: str | None, tmp_path: Path
) -> None:
    account = spend(redis_url, tmp_path, spend_usd_per_10min=1.0)
    account.settle(account.reserve(0.9), 0.9)
    with waiting(True):
        account.reserve(0.5)  # waits (about 2 s here) for the 0.9 to leave the window
    assert account.spent()["window_usd"] == pytest.approx(0.5)
    account.close()


def test_a_waiting_call_is_given_a_place_in_line_and_takes_it_when_it_comes_back(
    redis_url: str | None, tmp_path: Path
) -> None:
    """Like the requests-a-minute slots: a queue job (a holder) that cannot start is given
    the first moment its estimate fits behind every call placed before it, and keeps it."""
    account = spend(redis_url, tmp_path, spend_usd_per_10min=1.0)  # a 2 s window
    with waiting(False):
        for _ in range(2):
            account.settle(account.reserve(0.4), 0.4)  # 0.8 of the dollar, just spent
        waits = []
        for n in range(3):
            with holding(f"image:{n}"), pytest.raises(RateLimited) as caught:
                account.reserve(0.4)
            waits.append(caught.value.retry_after or 0.0)
        # Images 0 and 1 start when the first two calls have left the window (2 s), image 2
        # when those two have left it in turn (2 s later); each job is told to come back a
        # moment (lead_s) before its place, to wait the rest in place.
        assert account.lead_s == pytest.approx(0.2)
        assert 1.5 < waits[0] <= 2.0 and waits[1] == pytest.approx(waits[0], abs=0.1)
        assert waits[2] == pytest.approx(waits[0] + 2.0, abs=0.3)
        with pytest.raises(RateLimited) as caught:
            account.reserve(0.1)  # a newcomer with no place waits behind them all
        assert (caught.value.retry_after or 0.0) >= waits[2] - 0.1
        with holding("image:0"), pytest.raises(RateLimited) as caught:
            account.reserve(0.4)  # back too early: the same place, nearer
        assert (caught.value.retry_after or 0.0) <= waits[0]
        time.sleep(waits[1] + 0.05)
        started = []
        for n in range(2):
            with holding(f"image:{n}"):
                started.append(account.reserve(0.4))
        assert all(started) and account.spent()["window_usd"] == pytest.approx(0.8)
        with holding("image:2"), pytest.raises(RateLimited):
            account.reserve(0.4)  # its place is still ahead
    account.close()


def test_a_call_is_reserved_at_what_calls_of_its_model_have_lately_cost(
    redis_url: str | None, tmp_path: Path
) -> None:
    """Estimates carry a margin of text output that answers mostly do not use: reserving the
    margin would leave the window part empty. Calls are reserved at their estimate times what
    the model's calls lately settled at against theirs."""
    account = spend(redis_url, tmp_path, spend_usd_per_10min=1.0)
    with waiting(False):
        account.settle(account.reserve(0.5, model="m"), 0.25)  # it cost half its estimate
        taken = [account.reserve(0.5, model="m") for _ in range(3)]
        assert [t.usd for t in taken if t] == [0.25, 0.25, 0.25]
        assert account.spent()["window_usd"] == pytest.approx(1.0)
        with pytest.raises(RateLimited):
            account.reserve(0.5, model="m")
        with pytest.raises(RateLimited):
            account.reserve(0.2, model="other")  # no history: its own estimate, in full
    account.close()


def test_two_processes_worth_of_callers_share_one_window(
    redis_url: str | None, tmp_path: Path
) -> None:
    accounts = [spend(redis_url, tmp_path, spend_usd_per_10min=1.0) for _ in range(2)]
    taken: list[bool] = []

    def take(account: AccountSpend) -> None:
        try:
            with waiting(False):
                account.reserve(0.25)
            taken.append(True)
        except RateLimited:
            taken.append(False)

    threads = [threading.Thread(target=take, args=(accounts[i % 2],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if redis_url is not None:  # one ledger for both: four quarters fit in the dollar
        assert taken.count(True) == 4
    else:  # in memory each process keeps its own (the embedded default has one process)
        assert taken.count(True) == 8
    for account in accounts:
        account.close()


def test_the_monthly_cap_pauses_the_account_for_everyone(
    redis_url: str | None, tmp_path: Path
) -> None:
    account = spend(redis_url, tmp_path, spend_usd_per_month=1.0)
    account.settle(account.reserve(0.8), 0.8)
    with pytest.raises(SpendCapReached, match="monthly spend cap of USD 1") as caught:
        account.reserve(0.3)
    assert caught.value.resets_at.day == 1  # the month's end
    other = spend(redis_url, tmp_path)  # another worker, no limits of its own set
    with pytest.raises(SpendCapReached, match="paused"):
        other.reserve(0.01)
    paused = account.board.paused()["account"]
    assert "monthly spend cap" in paused["reason"]
    # What status, the studio and the notebooks read, for the app's own key prefix.
    settings = load_settings(visualizer_home=tmp_path, redis_url=redis_url)
    shown = account_pause(settings)
    assert shown is not None and "monthly spend cap of USD 1" in shown["reason"]
    assert shown["until"].startswith(f"{caught.value.resets_at:%Y-%m-01}")
    account.close()
    other.close()


def test_gemini_limits_takes_the_account_row_and_says_what_is_wrong() -> None:
    row = '{"account": {"spend_usd_per_10min": 10, "spend_usd_per_month": 250.5}}'
    settings = load_settings(gemini_limits=row)
    assert settings.gemini_limits == {
        "account": {"spend_usd_per_10min": 10, "spend_usd_per_month": 250.5}
    }
    for bad, words in [
        ('{"account": {"spend_usd_per_day": 1}}', "unknown limit 'spend_usd_per_day'"),
        ('{"account": {"spend_usd_per_10min": 0}}', "must be a number of USD above 0"),
        ('{"account": {}}', "needs a limit"),
    ]:
        with pytest.raises(ConfigError) as caught:
            load_settings(gemini_limits=bad)
        assert str(caught.value).startswith("GEMINI_LIMITS: account:") and words in str(
            caught.value
        )


# -- through the adapter and the stand-in ---------------------------------------------------------


def test_calls_keep_within_the_window_and_the_stand_in_never_429s(tmp_path: Path) -> None:
    ceiling = 0.1  # about three 1K images in a window
    server = GeminiStandIn(
        spend_limits={"window_usd": ceiling, "window_s": 2.0}, prices=STAND_IN_PRICES
    ).start()
    try:
        account = spend(None, tmp_path, spend_usd_per_10min=ceiling)
        ai = make_ai(server, spend=account)
        with waiting(True):
            for _ in range(7):
                assert ai.generate(request()).image
        assert server.spend_429s == 0
        assert [r.status for r in server.requests] == [200] * 7
        spent = server.spent()
        assert spent["window_usd"] <= ceiling + 1e-9
        ai.close()
    finally:
        server.stop()


def test_a_429_naming_spend_is_read_as_such(tmp_path: Path) -> None:
    server = GeminiStandIn(spend_limits={"window_usd": 0.01}, prices=STAND_IN_PRICES).start()
    try:
        account = spend(None, tmp_path)  # no limit of ours: Gemini's answers decide
        ai = make_ai(server, spend=account)
        ai.generate(request())  # past the stand-in's window from now on
        with pytest.raises(RateLimited, match="spend limit over 10 minutes") as caught:
            ai.generate(request())
        assert not isinstance(caught.value, SpendCapReached)
        assert caught.value.retry_after == pytest.approx(30.0)
        server.spend_limits = {"month_usd": 0.01}
        with pytest.raises(SpendCapReached, match="monthly spend cap"):
            ai.generate(request())
        with pytest.raises(SpendCapReached, match="paused"):  # not sent again
            ai.generate(request())
        assert server.spend_429s == 2
        ai.close()
    finally:
        server.stop()
