"""The spend ledger's records: one per Gemini call, failed and refused calls included."""

from __future__ import annotations

import threading

import pytest

from tests.standins.gemini_fixtures import make_ai, png_cutout, request
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai import usage
from visualizer_core.ai.base import ProductFacts
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL, GeminiAI
from visualizer_core.ai.usage import CallKind, CallRecord, Pricing, Tokens
from visualizer_core.errors import ContentRefused, TransientProviderError


def _ledger_tokens(records: list[CallRecord]) -> dict[str, int]:
    return {
        "prompt": sum(r.tokens.input for r in records),
        "candidates": sum(r.tokens.output for r in records),
        "thoughts": sum(r.tokens.thinking for r in records),
        "image_output": sum(r.tokens.output_image for r in records),
    }


def test_every_call_is_one_record_with_tokens_by_kind(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    with usage.collect() as calls:
        result = gemini_ai.generate(request())
        gemini_ai.analyze_product(ProductFacts(name="Cabinet"), [png_cutout()])
        gemini_ai.judge_fidelity(png_cutout(), result.image)
    assert [c.kind for c in calls] == [CallKind.IMAGE, CallKind.ANALYSIS, CallKind.JUDGEMENT]
    assert [c.model for c in calls] == [DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL, DEFAULT_TEXT_MODEL]
    image = calls[0]
    assert image.ok and image.tokens.output_image == 1120 and image.tokens.input_image == 2 * 258
    assert image.tokens.input_text > 0 and image.tokens.output_text == 10
    assert image.price["image_output"] == 30.0
    expected = (image.tokens.input * 1.5 + 10 * 7.5 + 1120 * 30.0) / 1e6
    assert image.cost_usd == pytest.approx(expected)
    assert result.meta["cost_usd"] == pytest.approx(expected)
    # The server's own count is the ledger's.
    billed = gemini_server.billing()
    assert billed[DEFAULT_IMAGE_MODEL]["calls"] == 1
    assert billed[DEFAULT_TEXT_MODEL]["calls"] == 2
    for model in (DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL):
        mine = _ledger_tokens([c for c in calls if c.model == model])
        theirs = billed[model]
        assert mine == {k: theirs[k] for k in mine}


def test_failed_and_refused_calls_are_recorded(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    gemini_server.fail_next("503")
    with usage.collect() as calls, pytest.raises(TransientProviderError):
        gemini_ai.generate(request())
    [failed] = calls
    assert not failed.ok and failed.cost_usd == 0 and "503" in (failed.error or "")

    gemini_server.fail_next("no_image", count=2)
    with usage.collect() as calls, pytest.raises(ContentRefused):
        gemini_ai.generate(request())
    # Both refused answers were billed (their input was read): both are in the ledger.
    assert [c.ok for c in calls] == [False, False]
    assert all(c.cost_usd > 0 and "ContentRefused" in (c.error or "") for c in calls)

    gemini_server.fail_next("no_image")
    with usage.collect() as calls:
        gemini_ai.generate(request())
    assert [c.ok for c in calls] == [False, True]  # the refusal, then the image


def test_collectors_nest_and_stay_in_their_thread(gemini_ai: GeminiAI) -> None:
    other: list[CallRecord] = []

    def elsewhere() -> None:
        with usage.collect() as mine:
            gemini_ai.generate(request())
        other.extend(mine)

    with usage.collect() as outer:
        with usage.collect() as inner:
            gemini_ai.generate(request())
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
    assert len(inner) == 1 and len(outer) == 1 and len(other) == 1
    assert outer[0] is inner[0]


def test_prices_are_configurable_and_batch_is_half() -> None:
    pricing = Pricing({"my-model": {"input": 1.0, "output": 2.0, "image_output": 4.0}})
    tokens = Tokens(input_text=1000, output_text=100, output_image=1000, thinking=50)
    assert pricing.cost("my-model", tokens) == pytest.approx((1000 + 150 * 2 + 4000) / 1e6)
    batch = pricing.record("batch", "models/my-model-001", tokens, factor=0.5)
    assert batch.model == "my-model-001" and batch.cost_usd == pytest.approx(
        (1000 + 300 + 4000) / 2e6
    )
    assert pricing.record("image", "unknown-model", tokens).cost_usd == 0.0
    stored = usage.summarize([batch, batch])
    assert stored["cost_usd"] == pytest.approx(2 * batch.cost_usd)
    assert [r.cost_usd for r in usage.records_of(stored)] == [batch.cost_usd] * 2


def test_prices_come_from_gemini_prices(gemini_server: GeminiStandIn) -> None:
    ai = make_ai(gemini_server, prices={DEFAULT_IMAGE_MODEL: {"input": 0, "output": 0}})
    with usage.collect() as calls:
        ai.generate(request())
    # Without an image price, image tokens are billed at the output price (here 0).
    assert calls[0].cost_usd == 0.0
    ai.close()
