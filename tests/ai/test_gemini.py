"""GeminiAI through the real google-genai SDK, over HTTP, against the Gemini stand-in server."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from tests.standins.gemini_fixtures import jpeg_scene, make_ai, png_cutout, request
from tests.standins.gemini_server import GeminiStandIn, decode_base64
from visualizer_core import taxonomy
from visualizer_core.ai import make_ai as make_ai_from
from visualizer_core.ai.base import AIBackend, ProductFacts
from visualizer_core.ai.gemini import (
    DEFAULT_IMAGE_MODEL,
    DEFAULT_TEXT_MODEL,
    PRICES,
    GeminiAI,
    Price,
    estimate_cost,
)
from visualizer_core.ai.ratelimit import ModelLimiter, ModelLimits, paused_models, waiting
from visualizer_core.ai.usage import collect
from visualizer_core.config import load_settings
from visualizer_core.errors import (
    ConfigError,
    ContentRefused,
    DailyLimitReached,
    PermanentProviderError,
    RateLimited,
    TransientProviderError,
)
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis

# -- generation ---------------------------------------------------------------------------------


def test_is_an_ai_backend(gemini_ai: GeminiAI) -> None:
    assert isinstance(gemini_ai, AIBackend)
    assert (gemini_ai.name, gemini_ai.image_model, gemini_ai.text_model) == (
        "gemini",
        DEFAULT_IMAGE_MODEL,
        DEFAULT_TEXT_MODEL,
    )


def test_generate_sends_product_scene_and_prompt(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    product, scene = png_cutout(), jpeg_scene()
    result = gemini_ai.generate(request(product_images=(product,), scene_image=scene))

    [sent] = gemini_server.requests
    assert sent.model == DEFAULT_IMAGE_MODEL and sent.action == "generateContent"
    assert sent.images == [("image/png", product), ("image/jpeg", scene)]
    assert sent.prompt == "Place the red cabinet against the back wall."
    config = sent.generation_config
    assert "IMAGE" in config["responseModalities"]
    assert config["imageConfig"] == {"aspectRatio": "16:9"}
    assert config["seed"] == 7
    assert "x-goog-api-key" not in sent.headers and sent.key_ok

    image = Image.open(io.BytesIO(result.image))
    assert image.format == "JPEG" and result.mime_type == "image/jpeg"
    assert image.width / image.height == pytest.approx(16 / 9, rel=0.03)
    # The scene is the background; the product sits in the lower centre.
    assert image.getpixel((5, 5)) == pytest.approx((30, 90, 200), abs=12)
    red, green, _ = image.convert("RGB").getpixel((image.width // 2, image.height * 8 // 10))  # type: ignore[misc]
    assert red > 150 > green
    assert result.model == DEFAULT_IMAGE_MODEL
    assert result.usage["input_tokens"] > 2 * 258
    assert result.usage["image_output_tokens"] == 1120
    assert result.usage["total_tokens"] >= result.usage["output_tokens"]
    assert result.meta["finish_reason"] == "STOP" and result.meta["attempts"] == 1
    assert result.meta["response_id"] and result.meta["model_version"] == DEFAULT_IMAGE_MODEL
    assert result.meta["cost_usd"] == pytest.approx(
        gemini_ai.estimate_cost(DEFAULT_IMAGE_MODEL, result.usage)
    )


def test_generate_skips_thought_parts(gemini_server: GeminiStandIn) -> None:
    gemini_server.thought_image = True
    ai = make_ai(gemini_server)
    result = ai.generate(request(aspect_ratio="1:1"))
    image = Image.open(io.BytesIO(result.image))
    # The thought image is a grey PNG draft a quarter of the size; the answer is the JPEG.
    assert (image.format, image.size) == ("JPEG", (1024, 1024))
    assert result.usage["thoughts_tokens"] > 0
    ai.close()


def test_generate_with_image_size_and_request_model(gemini_server: GeminiStandIn) -> None:
    ai = make_ai(gemini_server, image_size="2K")
    result = ai.generate(request(aspect_ratio="1:1", model="gemini-3-pro-image"))
    assert Image.open(io.BytesIO(result.image)).size == (2048, 2048)
    [sent] = gemini_server.requests
    assert sent.model == "gemini-3-pro-image" and result.model == "gemini-3-pro-image"
    assert sent.generation_config["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "2K"}
    ai.close()


def test_the_sdks_default_version_is_spoken_unless_one_is_set(
    gemini_server: GeminiStandIn,
) -> None:
    ai = make_ai(gemini_server)  # the SDK's default version for Google's API
    ai.generate(request())
    ai.analyze_scene(jpeg_scene())
    assert [r.api_version for r in gemini_server.requests] == ["v1", "v1"]
    ai.close()
    beta = make_ai(gemini_server, api_version="v1beta")  # what Google's own clients send
    beta.generate(request())
    beta.analyze_scene(jpeg_scene())
    assert [r.api_version for r in gemini_server.requests][2:] == ["v1beta", "v1beta"]
    beta.close()


@pytest.mark.parametrize("version", ["v1beta", "v1"])
def test_both_versions_are_served_as_strictly(gemini_server: GeminiStandIn, version: str) -> None:
    ai = make_ai(gemini_server, api_version=version, image_size="512")
    with pytest.raises(PermanentProviderError, match=r"'512' is not supported"):
        ai.generate(request())
    ai.close()
    other = make_ai(gemini_server, api_version="v2alpha")
    with pytest.raises(PermanentProviderError, match="404"):
        other.generate(request())
    other.close()


def test_gemini_api_version_is_checked_at_start_up() -> None:
    assert load_settings(gemini_api_version="v1beta").gemini_api_version == "v1beta"
    assert load_settings().gemini_api_version is None
    with pytest.raises(ConfigError) as caught:
        load_settings(gemini_api_version="v2")
    message = str(caught.value)
    assert message.startswith("GEMINI_API_VERSION:") and "\n" not in message
    assert "'v1beta'" in message and "'v2'" in message


def test_make_ai_speaks_the_configured_version(gemini_server: GeminiStandIn) -> None:
    settings = load_settings(
        gemini_api_key="k" * 20,
        gemini_base_url=gemini_server.base_url,
        gemini_api_version="v1beta",
        visualizer_ai="gemini",
    )
    ai = make_ai_from(settings)
    try:
        with pytest.raises(PermanentProviderError):  # the stand-in's key is another one
            ai.analyze_scene(jpeg_scene())
    finally:
        ai.close()
    assert [r.api_version for r in gemini_server.requests] == ["v1beta"]


# -- analysis -----------------------------------------------------------------------------------


def test_analyze_product(gemini_server: GeminiStandIn, gemini_ai: GeminiAI) -> None:
    facts = ProductFacts(
        name="Oslo sofa", category="Sofas", description="Three seats", colors=("grey",)
    )
    analysis = gemini_ai.analyze_product(facts, [png_cutout(), jpeg_scene()])

    assert isinstance(analysis, ProductAnalysis)
    assert analysis.category and analysis.room_types
    [sent] = gemini_server.requests
    assert sent.model == DEFAULT_TEXT_MODEL
    assert sent.image_mime_types == ["image/png", "image/jpeg"]
    assert "Oslo sofa" in sent.prompt and "Three seats" in sent.prompt
    assert sent.generation_config["responseMimeType"] == "application/json"
    config = sent.generation_config
    schema: dict[str, Any] = config.get("responseSchema") or config["responseJsonSchema"]
    assert {"category", "room_types"} <= set(schema["properties"])


def test_analyze_scene_uses_the_hint(gemini_server: GeminiStandIn, gemini_ai: GeminiAI) -> None:
    analysis = gemini_ai.analyze_scene(jpeg_scene())
    assert isinstance(analysis, SceneAnalysis)
    assert analysis.room_type and 0 <= analysis.floor_line <= 1

    hinted = gemini_ai.analyze_scene(jpeg_scene(), room_type_hint="bedroom")
    assert hinted.room_type == "bedroom"
    assert "bedroom" in gemini_server.requests[-1].prompt


def test_analysis_carries_the_answer(gemini_server: GeminiStandIn) -> None:
    gemini_server.json_answer = {"summary": "A bright room.", "brightness": 0.9}
    ai = make_ai(gemini_server)
    analysis = ai.analyze_scene(jpeg_scene())
    assert (analysis.summary, analysis.brightness) == ("A bright room.", 0.9)
    ai.close()


def test_answers_are_normalised_to_the_taxonomy(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    gemini_server.json_answer = {
        "room_type": "Living Room",
        "room_types": ["Home Office", "home office"],
        "category": "Writing desk",
    }

    assert gemini_ai.analyze_scene(jpeg_scene()).room_type == "living_room"
    assert gemini_ai.analyze_scene(jpeg_scene(), room_type_hint="Home Office").room_type == (
        "home_office"
    )
    product = gemini_ai.analyze_product(ProductFacts(name="Desk"), [png_cutout()])
    assert (product.category, product.room_types) == ("desk", ["home_office"])
    assert ", ".join(taxonomy.ROOM_TYPES) in gemini_server.requests[0].prompt
    assert ", ".join(taxonomy.CATEGORIES) in gemini_server.requests[-1].prompt


def test_product_analysis_names_a_taxonomy_category_from_a_short_list(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    facts = ProductFacts(name="Ardent 60cm Chimney Cooker Hood", category="Kitchen Appliances")
    gemini_server.json_answer = {"taxonomy_id": 684, "room_types": ["kitchen"]}
    analysis = gemini_ai.analyze_product(facts, [png_cutout()])
    assert analysis.taxonomy_id == 684
    assert analysis.taxonomy_path == (
        "Home & Garden > Kitchen & Dining > Kitchen Appliances > Range Hoods"
    )
    prompt = gemini_server.requests[-1].prompt
    assert "684 = Home & Garden > Kitchen & Dining > Kitchen Appliances > Range Hoods" in prompt
    assert prompt.count(" = ") <= 6  # a short list, not the taxonomy

    # an id that was not offered is not taken: the offline classifier's answer stands
    gemini_server.json_answer = {"taxonomy_id": 1, "room_types": []}
    analysis = gemini_ai.analyze_product(facts, [png_cutout()])
    assert analysis.taxonomy_id == 684 and analysis.room_types == ["kitchen"]


def test_bad_json_is_a_clear_error(gemini_server: GeminiStandIn, gemini_ai: GeminiAI) -> None:
    gemini_server.fail_next("bad_json")
    with pytest.raises(TransientProviderError, match="not valid SceneAnalysis JSON") as caught:
        gemini_ai.analyze_scene(jpeg_scene())
    assert "living_room" in str(caught.value)  # the start of the answer is quoted


def test_blocked_analysis_is_refused(gemini_server: GeminiStandIn, gemini_ai: GeminiAI) -> None:
    gemini_server.fail_next("blocked", count=2)
    with pytest.raises(ContentRefused, match="block reason SAFETY") as caught:
        gemini_ai.analyze_product(ProductFacts(name="x"), [png_cutout()])
    assert len(gemini_server.requests) == 2  # asked once more with a seed, as images are
    assert [c.kind for c in caught.value.calls] == ["analysis", "analysis"]


# -- failures -----------------------------------------------------------------------------------


def test_429_is_rate_limited_with_retry_info(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    gemini_server.fail_next("429")
    with pytest.raises(RateLimited) as caught:
        gemini_ai.generate(request())
    assert caught.value.retry_after == pytest.approx(2.0)
    assert "RESOURCE_EXHAUSTED" in str(caught.value)
    assert len(gemini_server.requests) == 1  # the SDK did not retry on its own


@pytest.mark.parametrize("kind", ["400", "403", "404"])
def test_client_errors_are_permanent(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI, kind: str
) -> None:
    gemini_server.fail_next(kind)
    with pytest.raises(PermanentProviderError, match=f"Gemini answered {kind}"):
        gemini_ai.generate(request())
    assert len(gemini_server.requests) == 1


def test_unknown_model_is_permanent(gemini_server: GeminiStandIn) -> None:
    ai = make_ai(gemini_server, image_model="gemini-9-image")  # not in the stand-in's list
    with pytest.raises(PermanentProviderError, match="gemini-9-image"):
        ai.generate(request())
    ai.close()


def test_wrong_key_is_permanent(gemini_server: GeminiStandIn) -> None:
    ai = GeminiAI("not-the-key", base_url=gemini_server.base_url, timeout_s=10)
    with pytest.raises(PermanentProviderError, match=r"API key not valid.*GEMINI_API_KEY"):
        ai.analyze_scene(jpeg_scene())
    [sent] = gemini_server.requests
    assert not sent.key_ok and "x-goog-api-key" not in sent.headers
    ai.close()


@pytest.mark.parametrize("kind", ["blocked", "safety"])
def test_safety_refusal_is_asked_once_more_with_another_seed_then_permanent(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI, kind: str
) -> None:
    gemini_server.fail_next(kind, count=2)
    with pytest.raises(ContentRefused) as caught:
        gemini_ai.generate(request(seed=7))
    message = str(caught.value)
    assert "SAFETY" in message and "change the extra prompt text" in message
    first, second = gemini_server.requests
    assert first.generation_config["seed"] == 7
    assert second.generation_config["seed"] not in (7, None)
    assert [c.ok for c in caught.value.calls] == [False, False]  # both calls are on the error


@pytest.mark.parametrize("kind", ["blocked", "safety"])
def test_refusal_then_success(gemini_server: GeminiStandIn, gemini_ai: GeminiAI, kind: str) -> None:
    gemini_server.fail_next(kind)
    result = gemini_ai.generate(request(seed=7))
    assert result.image and result.meta["attempts"] == 2
    assert result.meta["seed"] != 7
    assert len(gemini_server.requests) == 2
    assert [(c.kind, c.ok) for c in result.calls] == [("image", False), ("image", True)]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("empty", "empty answer"),
        ("other", "finish reason OTHER"),
        ("max_tokens", "finish reason MAX_TOKENS"),
        ("no_image", "finish reason NO_IMAGE"),
    ],
)
def test_an_answer_without_an_image_is_transient_and_not_asked_again_here(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI, kind: str, words: str
) -> None:
    # Asked again with the same seed it would likely fail the same way: the queue retries it
    # later with a new seed, so the adapter makes one call and says what happened.
    gemini_server.fail_next(kind, finish_reason="NO_IMAGE")
    with pytest.raises(TransientProviderError, match=words) as caught:
        gemini_ai.generate(request())
    assert not isinstance(caught.value, ContentRefused)
    assert len(gemini_server.requests) == 1
    [call] = caught.value.calls
    assert (call.kind, call.ok, call.model) == ("image", False, DEFAULT_IMAGE_MODEL)


@pytest.mark.parametrize("kind", ["empty", "other", "max_tokens"])
def test_an_empty_analysis_is_transient(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI, kind: str
) -> None:
    gemini_server.fail_next(kind)
    with pytest.raises(TransientProviderError):
        gemini_ai.analyze_scene(jpeg_scene())


def test_timeout_is_transient(gemini_server: GeminiStandIn) -> None:
    ai = make_ai(gemini_server, timeout_s=0.5)
    gemini_server.fail_next("timeout")  # the stand-in would answer (504) only after 30s
    with pytest.raises(TransientProviderError, match="timed out"):
        ai.generate(request())
    [sent] = gemini_server.requests
    assert sent.status == 0  # received, never answered in time
    ai.close()


def test_connection_refused_is_transient() -> None:
    server = GeminiStandIn().start()
    base_url = server.base_url
    server.stop()
    ai = GeminiAI("k", base_url=base_url, timeout_s=2)
    with pytest.raises(TransientProviderError, match="failed"):
        ai.analyze_scene(jpeg_scene())
    ai.close()


def test_rpm_limit_answers_429(gemini_server: GeminiStandIn, gemini_ai: GeminiAI) -> None:
    gemini_server.rpm_limit = 2
    gemini_ai.analyze_scene(jpeg_scene())
    gemini_ai.analyze_scene(jpeg_scene())
    with pytest.raises(RateLimited) as caught:
        gemini_ai.analyze_scene(jpeg_scene())
    assert not isinstance(caught.value, DailyLimitReached)
    assert 50 <= (caught.value.retry_after or 0) <= 60
    assert "requests a minute" in str(caught.value)
    gemini_ai.generate(request())  # the image model's bucket is its own


def test_a_daily_quota_429_is_named_as_such(gemini_server: GeminiStandIn) -> None:
    gemini_server.limits = {DEFAULT_IMAGE_MODEL: {"rpd": 1}}
    ai = make_ai(gemini_server)
    ai.generate(request())
    with pytest.raises(DailyLimitReached) as caught:
        ai.generate(request())
    message = str(caught.value)
    assert "daily request quota" in message and DEFAULT_IMAGE_MODEL in message
    assert "overloaded" not in message
    assert caught.value.model == DEFAULT_IMAGE_MODEL
    # Gemini's day ends at midnight Pacific time.
    resets = caught.value.resets_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (resets.hour, resets.minute) == (0, 0)
    assert resets > dt.datetime.now(dt.UTC)
    [body] = [r.status for r in gemini_server.requests][1:]
    assert body == 429
    ai.analyze_scene(jpeg_scene())  # the text model has its own day
    ai.close()


def test_a_daily_429_pauses_the_model_for_every_caller(
    gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    limiter = ModelLimiter({}, ModelLimits(), redis_url=None, key_prefix="t", home=tmp_path)
    ai = make_ai(gemini_server, limiter=limiter)
    gemini_server.fail_next("daily_429")
    with pytest.raises(DailyLimitReached):
        ai.generate(request())
    assert len(gemini_server.requests) == 1
    # Known to every process now (here: the file of the embedded default) ...
    assert DEFAULT_IMAGE_MODEL in paused_models(load_settings(visualizer_home=tmp_path))
    # ... so the next call is not sent at all, and says why.
    with pytest.raises(DailyLimitReached, match="paused until") as caught:
        ai.generate(request())
    assert caught.value.local and len(gemini_server.requests) == 1
    ai.close()


@pytest.mark.parametrize(
    ("quotas", "free_tier", "retry_delay", "why"),
    [
        # per day, per minute and input tokens at once, each "limit: 0", RetryInfo "1s": the
        # shape of error_429_day_and_minute_limit0_free_tier.json
        (("day", "minute", "tokens"), True, "1s", "requests-per-day"),
        # a paid project's per-day quota with a per-minute one and a RetryInfo beside it
        (("minute", "day"), False, "3s", "requests-per-day"),
        # the per-day quota alone, no RetryInfo (error_429_per_day_paid_no_retryinfo.json)
        (("day",), False, None, "requests-per-day"),
        # a per-minute quota of 0 on the free tier: no minute will ever have room
        (("minute",), True, "1s", "quota of 0"),
        # only a Help link: no quota named, no time to retry (error_429_help_only_sticky_daily)
        ((), False, None, "without naming a quota"),
    ],
)
def test_a_429_naming_the_day_pauses_the_model_whatever_else_it_names(
    gemini_server: GeminiStandIn,
    tmp_path: Path,
    quotas: tuple[str, ...],
    free_tier: bool,
    retry_delay: str | None,
    why: str,
) -> None:
    limiter = ModelLimiter({}, ModelLimits(), redis_url=None, key_prefix="t", home=tmp_path)
    ai = make_ai(gemini_server, limiter=limiter)
    kind = "429" if retry_delay else "daily_429"
    gemini_server.fail_next(kind, quotas=quotas, free_tier=free_tier, retry_delay=retry_delay)
    with pytest.raises(DailyLimitReached, match=why) as caught:
        ai.generate(request())
    assert caught.value.model == DEFAULT_IMAGE_MODEL
    assert DEFAULT_IMAGE_MODEL in paused_models(load_settings(visualizer_home=tmp_path))
    with pytest.raises(DailyLimitReached, match="paused until"):
        ai.generate(request())
    assert len(gemini_server.requests) == 1  # the paused model was not asked again
    ai.close()


@pytest.mark.parametrize("quotas", [("minute",), ("minute", "tokens"), ("tokens",)])
def test_a_429_naming_only_minute_quotas_is_a_busy_minute(
    gemini_server: GeminiStandIn, tmp_path: Path, quotas: tuple[str, ...]
) -> None:
    limiter = ModelLimiter({}, ModelLimits(), redis_url=None, key_prefix="t", home=tmp_path)
    ai = make_ai(gemini_server, limiter=limiter)
    gemini_server.fail_next("429", quotas=quotas, retry_delay="7s")
    with pytest.raises(RateLimited) as caught:
        ai.generate(request())
    assert not isinstance(caught.value, DailyLimitReached)
    assert caught.value.retry_after == pytest.approx(7.0)
    assert paused_models(load_settings(visualizer_home=tmp_path)) == {}
    assert ai.generate(request()).image
    ai.close()


def test_a_text_only_answer_from_an_image_model_is_billed_as_text(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    # As in text_only_from_image_model_gemini-2.5-flash-image.json: STOP, a text part, and no
    # candidatesTokensDetails (the API lists image tokens only when it drew an image).
    gemini_server.fail_next("no_image", finish_reason="STOP")
    with collect() as calls, pytest.raises(TransientProviderError, match="no image"):
        gemini_ai.generate(request())
    [call] = calls
    [billed] = gemini_server.billing().values()
    assert billed["image_output"] == 0 and billed["candidates"] > 0
    assert call.tokens.output_image == 0
    assert call.tokens.output_text == billed["candidates"]
    assert call.tokens.input == billed["prompt"]
    price = PRICES[DEFAULT_IMAGE_MODEL]
    by_hand = (billed["prompt"] * price.input + billed["candidates"] * price.output) / 1e6
    assert call.cost_usd == pytest.approx(by_hand)


def test_an_image_size_the_model_does_not_take_is_a_clear_400(
    gemini_server: GeminiStandIn,
) -> None:
    ai = make_ai(gemini_server, image_size="512")
    with pytest.raises(PermanentProviderError, match=r"'512' is not supported.*image size"):
        ai.generate(request())
    ai.generate(request(model="gemini-3.1-flash-image"))  # that model takes 512
    ai.close()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"responseModalities": ["IMAGE"], "imageSize": "1K"}, 'Unknown name "imageSize"'),
        ({"imageConfig": {"aspectRatio": "1:1", "size": "1K"}}, 'Unknown name "size"'),
        ({"imageConfig": {"aspectRatio": "7:5"}}, "Invalid aspect ratio"),
    ],
)
def test_the_stand_in_refuses_what_the_api_refuses(
    gemini_server: GeminiStandIn, config: dict[str, Any], words: str
) -> None:
    answer = httpx.post(
        f"{gemini_server.base_url}/v1/models/{DEFAULT_IMAGE_MODEL}:generateContent",
        headers={"x-goog-api-key": gemini_server.api_key},
        json={"contents": [{"parts": [{"text": "x"}]}], "generationConfig": config},
    )
    assert answer.status_code == 400
    assert words in answer.json()["error"]["message"]


def test_an_image_asked_of_a_text_model_is_refused(gemini_server: GeminiStandIn) -> None:
    ai = make_ai(gemini_server)
    with pytest.raises(PermanentProviderError, match="does not support"):
        ai.generate(request(model=DEFAULT_TEXT_MODEL))
    ai.close()


@pytest.mark.parametrize(("kind", "words"), [("503", "overloaded"), ("500", "500"), ("504", "504")])
def test_server_errors_say_what_happened(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI, kind: str, words: str
) -> None:
    gemini_server.fail_next(kind, count=3)
    for _ in range(3):  # a burst: each call fails, none is retried inside the adapter
        with pytest.raises(TransientProviderError, match=words):
            gemini_ai.generate(request())
    assert len(gemini_server.requests) == 3
    assert gemini_ai.generate(request()).image


def test_a_fault_can_be_aimed_at_one_model(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    gemini_server.fail_next("500", model=DEFAULT_TEXT_MODEL)
    assert gemini_ai.generate(request()).image  # the image model passes the fault by
    with pytest.raises(TransientProviderError):
        gemini_ai.analyze_scene(jpeg_scene())


def test_every_call_is_a_record_on_the_result_or_the_error(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    with collect() as emitted:
        result = gemini_ai.generate(request())
        gemini_server.fail_next("503")
        with pytest.raises(TransientProviderError) as caught:
            gemini_ai.generate(request())
        check = gemini_ai.judge_fidelity(png_cutout(), result.image)
    [made] = result.calls
    assert (made.kind, made.model, made.ok) == ("image", DEFAULT_IMAGE_MODEL, True)
    assert made.tokens.output_image == 1120 and made.cost_usd > 0
    [failed] = caught.value.calls
    assert (failed.ok, failed.cost_usd) == (False, 0.0) and "503" in (failed.error or "")
    [judged] = check.calls
    assert (judged.kind, judged.model) == ("judgement", DEFAULT_TEXT_MODEL)
    assert emitted == [made, failed, judged]


# -- our own per-model limits -------------------------------------------------------------------


def test_each_call_takes_a_slot_of_its_own_models_bucket(
    gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    limiter = ModelLimiter(
        {DEFAULT_IMAGE_MODEL: ModelLimits(rpm=2), DEFAULT_TEXT_MODEL: ModelLimits(rpm=1)},
        ModelLimits(),
        redis_url=None,
        key_prefix="t",
        home=tmp_path,
    )
    ai = make_ai(gemini_server, limiter=limiter)
    gemini_server.fail_next("safety")
    with waiting(False):
        ai.generate(request())  # refused once, asked again: two calls, two slots
        with pytest.raises(RateLimited) as caught:
            ai.generate(request())
        assert caught.value.local and 0 < (caught.value.retry_after or 0) <= 62
        ai.analyze_scene(jpeg_scene())  # the text model's bucket is untouched
        with pytest.raises(RateLimited, match=DEFAULT_TEXT_MODEL):
            ai.analyze_scene(jpeg_scene())
    assert len(gemini_server.requests) == 3  # the refused slots sent nothing
    ai.close()


def test_a_full_window_is_waited_out_in_place_outside_the_queue(
    gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    limiter = ModelLimiter(
        {DEFAULT_TEXT_MODEL: ModelLimits(rpm=1)},
        ModelLimits(),
        redis_url=None,
        key_prefix="t",
        home=tmp_path,
        window_s=1,  # the test knob: a one-second "minute"
    )
    ai = make_ai(gemini_server, limiter=limiter)
    ai.analyze_scene(jpeg_scene())
    ai.analyze_scene(jpeg_scene())  # waited for the window, then sent
    assert [r.status for r in gemini_server.requests] == [200, 200]
    ai.close()


def test_server_accepts_both_base64_alphabets() -> None:
    data = bytes(range(256))
    assert decode_base64(base64.b64encode(data).decode()) == data
    assert decode_base64(base64.urlsafe_b64encode(data).decode().rstrip("=")) == data


# -- cost ---------------------------------------------------------------------------------------


def test_estimate_cost() -> None:
    usage = {"input_tokens": 1000, "output_tokens": 1130, "image_output_tokens": 1120}
    price = PRICES[DEFAULT_IMAGE_MODEL]
    expected = (1000 * price.input + 10 * price.output + 1120 * (price.image_output or 0)) / 1e6
    assert estimate_cost(DEFAULT_IMAGE_MODEL, usage) == pytest.approx(expected)
    # Thinking is billed as text output; versioned names find their family's price.
    text = {"input_tokens": 2_000_000, "output_tokens": 0, "thoughts_tokens": 1_000_000}
    flash = PRICES[DEFAULT_TEXT_MODEL]
    assert estimate_cost(f"{DEFAULT_TEXT_MODEL}-001", text) == pytest.approx(
        2 * flash.input + flash.output
    )
    assert estimate_cost("unknown-model", usage) == 0.0


def test_price_table_is_configurable(gemini_server: GeminiStandIn) -> None:
    ai = make_ai(
        gemini_server,
        prices={
            DEFAULT_IMAGE_MODEL: {"input": 0.0, "output": 0.0, "image_output": 1_000_000.0},
            "my-model": Price(input=1_000_000.0, output=0.0),
        },
    )
    assert ai.estimate_cost(DEFAULT_IMAGE_MODEL, {"image_output_tokens": 3}) == 3.0
    assert ai.estimate_cost("my-model", {"input_tokens": 2}) == 2.0
    result = ai.generate(request())
    assert result.meta["cost_usd"] == pytest.approx(1120.0)
    ai.close()


def test_price_table_comes_from_the_environment(
    gemini_server: GeminiStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from visualizer_core.ai import make_ai as make_backend
    from visualizer_core.config import load_settings

    monkeypatch.setenv("GEMINI_API_KEY", gemini_server.api_key)
    monkeypatch.setenv("GEMINI_BASE_URL", gemini_server.base_url)
    monkeypatch.setenv(
        "GEMINI_PRICES",
        json.dumps({DEFAULT_IMAGE_MODEL: {"input": 0, "output": 0, "image_output": 1000}}),
    )
    ai = make_backend(load_settings())
    assert isinstance(ai, GeminiAI)
    assert ai.generate(request()).meta["cost_usd"] == pytest.approx(1.12)
    ai.close()


# -- fidelity judgement -------------------------------------------------------------------------


def test_fidelity_judgement_sends_both_images_and_reads_the_score(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    gemini_server.json_answer = {"score": 0.82, "reason": "The legs are a shade darker."}
    generated = gemini_ai.generate(request()).image
    gemini_server.reset()

    check = gemini_ai.judge_fidelity(png_cutout(), generated)

    assert (check.score, check.reason, check.method) == (
        0.82,
        "The legs are a shade darker.",
        "gemini-judgement",
    )
    assert check.usage["input_tokens"] > 0 and check.cost_usd > 0
    [sent] = gemini_server.requests
    assert sent.model == DEFAULT_TEXT_MODEL
    assert sent.image_mime_types == ["image/png", "image/jpeg"]
    assert sent.images[1][1] == generated
    schema = sent.generation_config.get("responseJsonSchema") or sent.generation_config.get(
        "responseSchema"
    )
    assert set(schema["properties"]) == {"score", "reason"}


def test_fidelity_judgement_out_of_range_is_a_clear_error(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    gemini_server.json_answer = {"score": 7}
    with pytest.raises(TransientProviderError, match=r"not valid FidelityJudgement JSON.*score"):
        gemini_ai.judge_fidelity(png_cutout(), jpeg_scene())
