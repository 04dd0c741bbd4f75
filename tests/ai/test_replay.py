"""Answers in the shapes recorded from the live API, replayed through the stand-in, the real SDK
and the adapter, on both API versions: each one parsed, classified and costed as checked here by
hand. The bodies are the project's own (``replay_bodies.py``, each naming the recorded body it
is modelled on); ``bench/gemini_replay.py`` replays the recorded ones themselves."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.ai.replay_bodies import BODIES, body, picture
from tests.standins.gemini_fixtures import jpeg_scene, make_ai, request
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai.gemini import GeminiAI
from visualizer_core.ai.gemini_batch import BATCH_PRICE_FACTOR, GeminiBatch
from visualizer_core.ai.ratelimit import ModelLimiter, ModelLimits, paused_models
from visualizer_core.ai.usage import CallRecord, collect
from visualizer_core.config import load_settings
from visualizer_core.errors import (
    ContentRefused,
    DailyLimitReached,
    PermanentProviderError,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

VERSIONS = ["v1beta", "v1"]
# USD per 1M tokens (input, output, image output) of the models the bodies name: the registry's
# for the priced ones, and rows given here (as GEMINI_PRICES would) for the retired ones.
PRICES = {
    "gemini-3-pro-image": (2.0, 12.0, 120.0),
    "gemini-3.1-flash-image": (0.5, 3.0, 60.0),
    "gemini-nano-banana-2.1": (1.5, 7.5, 30.0),
    "gemini-2.5-flash-image": (0.3, 2.5, 30.0),
    "gemini-3-pro-image-preview": (2.0, 12.0, 120.0),
    "gemini-3.1-flash-image-preview": (0.5, 3.0, 60.0),
    "gemini-1.5-flash": (0.075, 0.3, None),
    "gemini-2.5-flash": (0.3, 2.5, None),
    "gemini-2.5-pro": (1.25, 10.0, None),
}
_GIVEN = {
    model: {"input": i, "output": o, **({"image_output": m} if m is not None else {})}
    for model, (i, o, m) in PRICES.items()
    if model.startswith(("gemini-2.5", "gemini-1.5")) or model.endswith("-preview")
}


def _ai(server: GeminiStandIn, version: str, **options: object) -> GeminiAI:
    return make_ai(server, api_version=version, prices=_GIVEN, **options)


def _usd(model: str, *, inp: int, text: int, image: int = 0, thoughts: int = 0) -> float:
    i, o, m = PRICES[model]
    return (inp * i + (text + thoughts) * o + image * (m or o)) / 1e6


def _only(calls: list[CallRecord]) -> CallRecord:
    [call] = calls
    return call


# -- answers with an image ---------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("name", "model", "mime", "tokens"),
    [
        # image only, thoughtSignature, thoughts without thought parts, serviceTier
        ("image_only_pro", "gemini-3-pro-image", "image/jpeg", (31, 98, 1120, 164)),
        # image only; 270 of the 1390 output tokens are not named IMAGE: text
        ("image_only_flash", "gemini-3.1-flash-image", "image/jpeg", (12, 270, 1120, 0)),
        # a text part, then a PNG; only IMAGE listed in the details
        ("text_and_image", "gemini-2.5-flash-image", "image/png", (19, 12, 1290, 0)),
        # text and image, both signed; thoughts 170
        ("text_and_image_signed", "gemini-3-pro-image-preview", "image/jpeg", (16, 20, 1120, 170)),
    ],
)
def test_an_image_answer_is_kept_and_costed_by_modality(
    gemini_server: GeminiStandIn,
    version: str,
    name: str,
    model: str,
    mime: str,
    tokens: tuple[int, int, int, int],
) -> None:
    ai = _ai(gemini_server, version)
    gemini_server.answer_next(200, body(name))
    with collect() as calls:
        result = ai.generate(request(model=model))
    inp, text, image, thoughts = tokens
    assert result.mime_type == mime
    expected = picture("PNG") if mime == "image/png" else picture()
    assert result.image == expected  # the answer's picture, not a signature or the text
    call = _only(calls)
    assert call.ok and call.model == model
    assert (call.tokens.input_text, call.tokens.output_text) == (inp, text)
    assert (call.tokens.output_image, call.tokens.thinking) == (image, thoughts)
    usd = _usd(model, inp=inp, text=text, image=image, thoughts=thoughts)
    assert call.cost_usd == pytest.approx(usd)
    assert result.meta["cost_usd"] == pytest.approx(usd)
    assert result.meta["response_id"] == BODIES[name].body["responseId"]
    [sent] = gemini_server.requests
    assert sent.api_version == version
    ai.close()


# -- answers without one -----------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_a_text_only_answer_of_an_image_model_is_transient_and_billed_as_text(
    gemini_server: GeminiStandIn, version: str
) -> None:
    ai = _ai(gemini_server, version)
    gemini_server.answer_next(200, body("text_only_from_image_model"))
    with collect() as calls, pytest.raises(TransientProviderError, match="finish reason STOP"):
        ai.generate(request(model="gemini-2.5-flash-image"))
    call = _only(calls)
    assert not call.ok and call.tokens.output_image == 0 and call.tokens.output_text == 52
    assert call.cost_usd == pytest.approx(_usd("gemini-2.5-flash-image", inp=21, text=52))
    ai.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_no_image_with_empty_content_is_transient(
    gemini_server: GeminiStandIn, version: str
) -> None:
    ai = _ai(gemini_server, version)
    gemini_server.answer_next(200, body("no_image"))
    model = "gemini-3.1-flash-image-preview"
    with collect() as calls, pytest.raises(TransientProviderError, match="NO_IMAGE"):
        ai.generate(request(model=model))
    call = _only(calls)
    assert call.cost_usd == pytest.approx(_usd(model, inp=11, text=0))
    ai.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_blocked_prompt_is_asked_once_more_then_refused(
    gemini_server: GeminiStandIn, version: str
) -> None:
    ai = _ai(gemini_server, version)
    model = "gemini-3.1-flash-image-preview"
    for _ in range(2):
        gemini_server.answer_next(200, body("prompt_blocked"))
    with collect() as calls, pytest.raises(ContentRefused, match="PROHIBITED_CONTENT"):
        ai.generate(request(model=model))
    assert [c.ok for c in calls] == [False, False]
    assert [c.cost_usd for c in calls] == [pytest.approx(_usd(model, inp=8, text=0))] * 2
    seeds = [r.generation_config["seed"] for r in gemini_server.requests]
    assert len(set(seeds)) == 2  # asked again with another seed
    ai.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_safety_stop_with_empty_content_refuses_the_analysis(
    gemini_server: GeminiStandIn, version: str
) -> None:
    ai = _ai(gemini_server, version, text_model="gemini-1.5-flash")
    for _ in range(2):
        gemini_server.answer_next(200, body("safety_no_content"))
    with collect() as calls, pytest.raises(ContentRefused, match="SAFETY"):
        ai.analyze_scene(jpeg_scene())
    assert len(calls) == 2
    assert calls[0].cost_usd == pytest.approx(_usd("gemini-1.5-flash", inp=17, text=0))
    ai.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_a_json_answer_with_thoughts_is_parsed_and_costed(
    gemini_server: GeminiStandIn, version: str
) -> None:
    ai = _ai(gemini_server, version, text_model="gemini-2.5-flash")
    gemini_server.answer_next(200, body("json_answer"))
    with collect() as calls:
        scene = ai.analyze_scene(jpeg_scene())
    assert (scene.room_type, scene.style, scene.floor_line) == ("bedroom", ["scandinavian"], 0.7)
    call = _only(calls)
    assert (call.tokens.input_text, call.tokens.input_image) == (144, 258)
    assert (call.tokens.output_text, call.tokens.thinking) == (48, 57)
    usd = _usd("gemini-2.5-flash", inp=402, text=48, thoughts=57)
    assert call.cost_usd == pytest.approx(usd)
    ai.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_max_tokens_with_no_parts_is_transient(gemini_server: GeminiStandIn, version: str) -> None:
    ai = _ai(gemini_server, version, text_model="gemini-2.5-pro")
    gemini_server.answer_next(200, body("max_tokens_empty"))
    with collect() as calls, pytest.raises(TransientProviderError, match="MAX_TOKENS"):
        ai.analyze_scene(jpeg_scene())
    call = _only(calls)
    assert call.cost_usd == pytest.approx(_usd("gemini-2.5-pro", inp=13, text=0, thoughts=4))
    ai.close()


# -- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("error_404", PermanentProviderError, "check the model name"),
        ("error_400", PermanentProviderError, "refused the request as it was sent"),
        ("error_503", TransientProviderError, "overloaded"),
        ("error_429_minute", RateLimited, "requests a minute"),
        ("error_429_day_paid", DailyLimitReached, "requests-per-day"),
        ("error_429_day_and_minute", DailyLimitReached, "requests-per-day"),
        ("error_429_help_only", DailyLimitReached, "without naming a quota"),
    ],
)
def test_an_error_answer_is_classified(
    gemini_server: GeminiStandIn,
    tmp_path: Path,
    version: str,
    name: str,
    kind: type[ProviderError],
    words: str,
) -> None:
    limiter = ModelLimiter({}, ModelLimits(), redis_url=None, key_prefix="t", home=tmp_path)
    ai = _ai(gemini_server, version, limiter=limiter)
    replay = BODIES[name]
    gemini_server.answer_next(replay.status, body(name))
    with collect() as calls, pytest.raises(kind, match=words) as caught:
        ai.generate(request())
    assert type(caught.value) is kind  # a busy minute is not taken for the day, nor back
    call = _only(calls)
    assert not call.ok and call.cost_usd == 0.0
    paused = paused_models(load_settings(visualizer_home=tmp_path))
    assert (ai.image_model in paused) == (kind is DailyLimitReached)
    if name == "error_429_minute":
        assert caught.value.retry_after == pytest.approx(41.0)  # type: ignore[attr-defined]
    ai.close()


# -- a batch job, its resources and its results ---------------------------------------------------


def test_batch_job_resources_and_result_lines(gemini_server: GeminiStandIn) -> None:
    ai = _ai(gemini_server, "v1beta")
    batch = GeminiBatch(ai)
    name = "batches/vz0replay4pending7job2"
    gemini_server.answer_next(200, body("batch_pending"), path="/batches/")
    gemini_server.answer_next(200, body("batch_succeeded"), path="/batches/")
    pending = batch.status(name)
    assert (pending.state, pending.done, pending.responses_file) == ("pending", False, None)
    done = batch.status(name)
    assert (done.state, done.done) == ("succeeded", True)
    assert done.responses_file == "files/batch-vz0replay4pending7job2"
    assert done.model == "models/gemini-nano-banana-2.1"
    # The results file: one line per request, each a generateContent answer or an error (its
    # shape is documented, not recorded: SOURCES.md says so).
    lines = [
        {"key": "a", "response": body("image_only_flash")},
        {"key": "b", "response": body("text_only_from_image_model")},
        {"key": "c", "error": {"code": 8, "message": "Resource has been exhausted."}},
    ]
    jsonl = "".join(json.dumps(line) + "\n" for line in lines).encode()
    gemini_server.answer_next(200, jsonl, path=":download")
    results = batch.results(done)
    image = results["a"]
    assert not isinstance(image, Exception) and image.image == picture()
    usd = _usd("gemini-nano-banana-2.1", inp=12, text=270, image=1120) * BATCH_PRICE_FACTOR
    assert image.meta["cost_usd"] == pytest.approx(usd)
    assert isinstance(results["b"], TransientProviderError)
    assert isinstance(results["c"], RateLimited)
    ai.close()


def test_the_recorded_bodies_replay_as_expected(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/gemini_replay.py over ../shared/data/gemini-recorded, where that folder is."""
    from bench import gemini_replay

    if not gemini_replay.FOLDER.is_dir():
        message = f"no recorded bodies at {gemini_replay.FOLDER} (others' data, not ours)"
        if os.environ.get("CI"):  # CI has ../shared beside the clone: its absence is a fault
            pytest.fail(message)
        pytest.skip(message)
    gemini_replay.main()
    printed = capsys.readouterr().out
    assert "replayed 19 recorded bodies from 8 sources on v1beta" in printed
    assert "BAD" not in printed


@pytest.mark.parametrize("version", VERSIONS)
def test_input_image_tokens_are_the_answers_own_count_not_the_registrys_estimate(
    gemini_server: GeminiStandIn, version: str
) -> None:
    """The registry's ``input_image_tokens = 258`` is an estimate made before a call (the
    Generate estimate, the spend reservation); the ledger counts what the answer lists under
    ``promptTokensDetails`` IMAGE. None of the recorded bodies carries an input image (every
    recorded prompt is text only), so none confirms or refutes the 258: this answer (the
    recorded image_only_gemini-3.1-flash-image.json's shape, with an IMAGE entry in the shape
    of its TEXT one) lists 1120 per input image, what Google's media-resolution page gives a
    Gemini 3 image at its default (high) resolution, and the ledger takes that figure."""
    ai = _ai(gemini_server, version)
    answer = body("image_only_flash")
    answer["usageMetadata"].update(
        promptTokenCount=12 + 2 * 1120,
        totalTokenCount=12 + 2 * 1120 + 1390,
        promptTokensDetails=[
            {"modality": "TEXT", "tokenCount": 12},
            {"modality": "IMAGE", "tokenCount": 2 * 1120},
        ],
    )
    gemini_server.answer_next(200, answer)
    with collect() as calls:
        ai.generate(request(model="gemini-3.1-flash-image"))  # a product photo and a scene
    call = _only(calls)
    assert (call.tokens.input_text, call.tokens.input_image) == (12, 2240)
    usd = _usd("gemini-3.1-flash-image", inp=12 + 2240, text=270, image=1120)
    assert call.cost_usd == pytest.approx(usd)
    ai.close()
