"""The Gemini Batch API through the real SDK: JSONL upload, job, polling, results per row."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from google.genai import types
from pydantic import ValidationError

from tests.standins.gemini_fixtures import make_ai, png_cutout, request
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL, GeminiAI
from visualizer_core.ai.gemini_batch import (
    BATCH_PRICE_FACTOR,
    BatchRefused,
    GeminiBatch,
    read_answer,
)
from visualizer_core.errors import (
    ContentRefused,
    InvalidInput,
    PermanentProviderError,
    RateLimited,
    TransientProviderError,
)


def test_a_batch_runs_every_row_with_both_images(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    batch = GeminiBatch(gemini_ai)
    rows = [
        ("row-a", request(product_images=(png_cutout((200, 30, 30)),), seed=1)),
        ("row-b", request(product_images=(png_cutout((30, 30, 200)),), seed=2)),
    ]
    name = batch.submit(rows, display_name="flow 1")
    assert name.startswith("batches/")

    first = batch.status(name)
    assert first.state == "running" and not first.done  # the stand-in takes one poll
    done = batch.status(name)
    assert done.state == "succeeded" and done.done and done.responses_file

    results = batch.results(done)
    assert set(results) == {"row-a", "row-b"}
    for key, _req in rows:
        result = results[key]
        assert not isinstance(result, Exception)
        assert result.image[:3] == b"\xff\xd8\xff" and result.model == DEFAULT_IMAGE_MODEL
        assert result.meta["batch"] == name
        full = gemini_ai.estimate_cost(DEFAULT_IMAGE_MODEL, result.usage)
        assert result.meta["cost_usd"] == pytest.approx(full * BATCH_PRICE_FACTOR)
    lines = {r.path.rsplit("#", 1)[1]: r for r in gemini_server.requests if r.action == "batchLine"}
    assert set(lines) == {"row-a", "row-b"}
    for key, req in rows:
        line = lines[key]
        assert line.image_mime_types == ["image/png", "image/jpeg"]
        assert line.images[0][1] == req.product_images[0]
        assert line.images[1][1] == req.scene_image
        assert line.generation_config["seed"] == req.seed
        assert line.generation_config["imageConfig"]["aspectRatio"] == "16:9"
    # The upload went through the resumable protocol; the create named the uploaded file.
    calls = [(r.method, r.path.split("/")[-1]) for r in gemini_server.requests]
    assert ("POST", "files") in calls
    assert ("POST", f"{DEFAULT_IMAGE_MODEL}:batchGenerateContent") in calls


def test_failures_are_per_row(gemini_server: GeminiStandIn, gemini_ai: GeminiAI) -> None:
    batch = GeminiBatch(gemini_ai)
    rows = [(f"row-{n}", request(seed=n)) for n in range(6)]
    gemini_server.fail_next("429")
    gemini_server.fail_next("503")
    gemini_server.fail_next("400")
    gemini_server.fail_next("blocked")
    gemini_server.fail_next("no_image", finish_reason="IMAGE_SAFETY")
    name = batch.submit(rows, display_name="mixed")
    batch.status(name)
    results = batch.results(batch.status(name))

    assert isinstance(results["row-0"], RateLimited)
    assert isinstance(results["row-1"], TransientProviderError)
    assert isinstance(results["row-2"], PermanentProviderError)
    assert "400" in str(results["row-2"])
    assert isinstance(results["row-3"], ContentRefused)
    assert "block reason SAFETY" in str(results["row-3"])
    assert isinstance(results["row-4"], ContentRefused)
    assert "IMAGE_SAFETY" in str(results["row-4"])
    assert not isinstance(results["row-5"], Exception) and results["row-5"].image


def test_a_failed_job_has_no_results(gemini_server: GeminiStandIn, gemini_ai: GeminiAI) -> None:
    batch = GeminiBatch(gemini_ai)
    gemini_server.fail_next_batch()
    name = batch.submit([("only", request())], display_name="doomed")
    batch.status(name)
    status = batch.status(name)
    assert status.state == "failed" and status.done and status.error
    with pytest.raises(InvalidInput, match="no results"):
        batch.results(status)


def test_submit_checks_its_input(gemini_server: GeminiStandIn, gemini_ai: GeminiAI) -> None:
    batch = GeminiBatch(gemini_ai)
    with pytest.raises(InvalidInput, match="at least one"):
        batch.submit([], display_name="empty")
    with pytest.raises(InvalidInput, match="unique"):
        batch.submit([("a", request()), ("a", request())], display_name="twice")
    with pytest.raises(InvalidInput, match="one model"):
        batch.submit(
            [("a", request()), ("b", request(model="gemini-3-pro-image"))], display_name="two"
        )
    assert gemini_server.requests == []  # nothing was sent


def test_a_wrong_key_is_permanent(gemini_server: GeminiStandIn) -> None:
    ai = GeminiAI("not-the-key", base_url=gemini_server.base_url, timeout_s=10)
    with pytest.raises(BatchRefused, match="GEMINI_API_KEY"):
        GeminiBatch(ai).submit([("a", request())], display_name="x")
    ai.close()


def test_the_jsonl_lines_are_generate_content_requests(gemini_server: GeminiStandIn) -> None:
    ai = make_ai(gemini_server, image_size="2K")
    GeminiBatch(ai).submit([("k1", request(prompt="Put it by the window."))], display_name="x")
    [upload] = [r for r in gemini_server.requests if r.path.endswith("/files")]
    assert upload.key_ok
    # What the stand-in stored is what the SDK uploaded: one JSON object per line.
    stored = next(iter(gemini_server._files.values()))["data"].decode()
    [line] = [json.loads(text) for text in stored.splitlines()]
    assert line["key"] == "k1"
    config = line["request"]["generationConfig"]
    assert config["imageConfig"] == {"aspectRatio": "16:9", "imageSize": "2K"}
    assert config["responseModalities"] == ["TEXT", "IMAGE"]
    parts = line["request"]["contents"][0]["parts"]
    assert [sorted(p) for p in parts] == [["inlineData"], ["inlineData"], ["text"]]
    assert parts[2]["text"] == "Put it by the window."
    ai.close()


# -- failures of every step: nothing made or paid twice ---------------------------------------


def _batch(ai: GeminiAI) -> GeminiBatch:
    return GeminiBatch(ai, sleep=lambda _s: None)


def test_several_polls_then_lines_without_key_and_failed_lines(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI, tmp_path
) -> None:
    gemini_server.batch_polls = 3
    batch = _batch(gemini_ai)
    rows = [(f"row-{n}", request(seed=n)) for n in range(5)]
    gemini_server.fail_next("503")  # the first line fails
    gemini_server.drop_keys(1, after=1)  # the second comes back without its key
    name = batch.submit(iter(rows), display_name="polls")
    states = [batch.status(name).state for _ in range(3)]
    assert states == ["running", "running", "running"]
    done = batch.status(name)
    assert done.state == "succeeded"
    lines = list(batch.lines(batch.download(done, tmp_path / "out.jsonl"), done))
    assert len(lines) == 5
    assert [line.key for line in lines] == ["row-0", None, "row-2", "row-3", "row-4"]
    failed, unkeyed = lines[0], lines[1]
    assert isinstance(failed.result, TransientProviderError)
    assert not failed.record.ok and failed.record.cost_usd == 0
    # The unkeyed line made an image, and was paid: its record says so.
    assert not isinstance(unkeyed.result, Exception) and unkeyed.record.cost_usd > 0
    for line in lines[1:]:
        assert line.record.kind == "batch" and line.record.factor == BATCH_PRICE_FACTOR
        assert line.record.batch == name


def test_a_failed_download_is_retried(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI, tmp_path
) -> None:
    batch = _batch(gemini_ai)
    name = batch.submit([("a", request())], display_name="dl")
    batch.status(name)
    done = batch.status(name)
    gemini_server.fail_next_download(2)
    path = batch.download(done, tmp_path / "out.jsonl")
    assert [line.key for line in batch.lines(path, done)] == ["a"]
    gemini_server.fail_next_download(4)
    with pytest.raises(TransientProviderError, match="downloading the results"):
        batch.download(done, tmp_path / "again.jsonl")


def test_a_create_without_an_answer_never_makes_a_second_job(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    batch = _batch(gemini_ai)
    gemini_server.fail_next_create("503-after")  # the job is made, the answer is lost
    name = batch.submit([("a", request())], display_name="ambiguous")
    assert gemini_server.batches_created() == 1
    assert name.startswith("batches/")
    batch.status(name)
    assert batch.status(name).state == "succeeded"


def test_a_refused_create_is_reported_not_retried(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    batch = _batch(gemini_ai)
    gemini_server.fail_next_create("429")
    with pytest.raises(BatchRefused, match="429") as refused:
        batch.submit([("a", request())], display_name="refused")
    assert refused.value.retry_after == 2.0
    assert gemini_server.batches_created() == 0
    creates = [r for r in gemini_server.requests if r.path.endswith(":batchGenerateContent")]
    assert len(creates) == 1


def test_a_line_with_a_field_the_sdk_does_not_know_keeps_its_image(
    gemini_server: GeminiStandIn, gemini_ai: GeminiAI
) -> None:
    # The stand-in's answers carry usageMetadata.serviceTier, as the 2.5 and 3.x models' do
    # (image_only_gemini-3.1-flash-image.json): the SDK's strict model does not know it.
    batch = GeminiBatch(gemini_ai)
    name = batch.submit([("row-a", request())], display_name="flow tier")
    batch.status(name)
    done = batch.status(name)
    with_tier = [r for r in gemini_server.requests if r.action == "batchLine"]
    assert len(with_tier) == 1
    with tempfile.TemporaryDirectory() as folder:
        path = batch.download(done, Path(folder) / "out.jsonl")
        raw = json.loads(path.read_text().splitlines()[0])
        assert raw["response"]["usageMetadata"]["serviceTier"] == "standard"
        [line] = list(batch.lines(path, done))
    result = line.result
    assert not isinstance(result, Exception), result
    assert result.image[:3] == b"\xff\xd8\xff"
    assert line.record.ok and line.record.tokens.output_image == 1120
    assert line.record.cost_usd == pytest.approx(result.meta["cost_usd"])


def test_read_answer_drops_unknown_fields_at_every_depth() -> None:
    answer = read_answer(
        {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": "hi", "newPartField": 1}]},
                    "finishReason": "STOP",
                    "newCandidateField": True,
                }
            ],
            "usageMetadata": {"promptTokenCount": 3, "serviceTier": "standard"},
            "newTopField": {"x": 1},
        }
    )
    assert answer.text == "hi" and answer.usage_metadata is not None
    assert answer.usage_metadata.prompt_token_count == 3
    with pytest.raises(TypeError):
        read_answer(["not", "an", "object"])


def test_the_sdk_has_no_public_lenient_reader_so_read_answer_keeps_its_own() -> None:
    """Pins why :func:`read_answer` calls the SDK's ``GenerateContentResponse._from_response``
    (private: what ``models.generate_content`` reads every answer with). The public
    ``model_validate`` refuses a field the SDK does not know (python-genai issue 2510, open),
    and google-genai offers no public reader of a batch results file. When the first check
    fails, the SDK became lenient: ``read_answer`` can then call ``model_validate`` alone."""
    body = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 3, "aFieldFromNextYear": 1},
    }
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        types.GenerateContentResponse.model_validate(body)
    known = json.loads(json.dumps(body))
    del known["usageMetadata"]["aFieldFromNextYear"]
    assert read_answer(body) == types.GenerateContentResponse.model_validate(known)
    assert body["usageMetadata"]["aFieldFromNextYear"] == 1  # the caller's line is not changed
