"""The recorded Gemini bodies themselves, replayed through the stand-in, the SDK and the adapter.

``../shared/data/gemini-recorded/`` (beside the checkout; others' data, read from there and
never copied) holds response bodies recorded from the live API, with SOURCES.md naming the
status each was served with and where it was recorded. Each body is served as it is (the
stand-in's ``answer_next``) to the real google-genai SDK on ``v1beta``, the version every
recorded request went to, and read by the adapter the way the project reads that kind of
answer: an image call for an image model's answer or an error, a scene analysis for a text
model's answer, a batch poll for a batch job resource. Printed per body: what it was classified
as, and its cost against the cost worked out here from its ``usageMetadata`` (image tokens only
where ``candidatesTokensDetails`` names them). The check fails when a classification is not
the one expected for that body (:data:`EXPECTED`) or a cost differs.

``python -m bench gemini_replay``; nothing to do (and said so) where the folder is absent.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any

from tests.standins.gemini_server import GeminiStandIn
from visualizer_core.ai.gemini import GeminiAI
from visualizer_core.ai.gemini_batch import GeminiBatch
from visualizer_core.ai.ratelimit import ModelLimiter, ModelLimits
from visualizer_core.ai.usage import collect
from visualizer_core.errors import ProviderError

FOLDER = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "gemini-recorded"

# What each recorded body must be classified as (read by hand from each body).
EXPECTED = {
    "image_only_gemini-3-pro-image.json": "image",
    "image_only_gemini-3.1-flash-image.json": "image",
    "text_and_image_gemini-2.5-flash-image.json": "image",
    "text_and_image_thoughtsig_gemini-3-pro-image-preview.json": "image",
    "text_only_from_image_model_gemini-2.5-flash-image.json": "TransientProviderError",
    "no_image_gemini-3.1-flash-image-preview.json": "TransientProviderError",
    "prompt_blocked_prohibited_content_gemini-3.1-flash-image-preview.json": "ContentRefused",
    "finish_safety_no_content_gemini-1.5-flash.json": "ContentRefused",
    # a JSON answer of another schema than a scene analysis: read, then not taken as one
    "json_answer_gemini-2.5-flash.json": "TransientProviderError",
    "max_tokens_empty_gemini-2.5-pro.json": "TransientProviderError",
    "error_400_invalid_argument.json": "PermanentProviderError",
    "error_404_model_not_found.json": "PermanentProviderError",
    "error_503_unavailable.json": "TransientProviderError",
    "error_429_per_minute_free_tier.json": "RateLimited",
    "error_429_per_day_paid_no_retryinfo.json": "DailyLimitReached",
    "error_429_day_and_minute_limit0_free_tier.json": "DailyLimitReached",
    "error_429_help_only_sticky_daily.json": "DailyLimitReached",
    "batch_create_pending.json": "batch pending",
    "batch_get_succeeded.json": "batch succeeded",
}
# USD per 1M tokens (input, output, image output) for the models the bodies name and the
# registry does not price (retired or older ones), as GEMINI_PRICES would give them.
REPLAY_PRICES = {
    "gemini-2.5-flash-image": {"input": 0.3, "output": 2.5, "image_output": 30.0},
    "gemini-3-pro-image-preview": {"input": 2.0, "output": 12.0, "image_output": 120.0},
    "gemini-3.1-flash-image-preview": {"input": 0.5, "output": 3.0, "image_output": 60.0},
    "gemini-1.5-flash": {"input": 0.075, "output": 0.3},
    "gemini-2.5-flash": {"input": 0.3, "output": 2.5},
    "gemini-2.5-pro": {"input": 1.25, "output": 10.0},
}


def sources(text: str) -> dict[str, str]:
    """SOURCES.md's table: body file name -> "status|source repository"."""
    found: dict[str, str] = {}
    previous = ""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].endswith(".json"):
            continue
        where = re.split(r"[,;]", cells[2])[0].strip()
        if where.startswith("same "):
            where = previous
        previous = where
        found[cells[0]] = f"{cells[1]}|{where}"
    return found


def expected_cost(ai: GeminiAI, model: str, raw: dict[str, Any]) -> float:
    """The cost worked out from the body: image tokens only where the details name them."""
    meta = raw.get("usageMetadata") or {}
    image = sum(
        int(d.get("tokenCount") or 0)
        for d in meta.get("candidatesTokensDetails") or []
        if d.get("modality") == "IMAGE"
    )
    text = int(meta.get("candidatesTokenCount") or 0) - image
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    price = ai.pricing.price(model)
    if price is None:
        return 0.0
    rate = price.image_output if price.image_output is not None else price.output
    usd = int(meta.get("promptTokenCount") or 0) * price.input
    return (usd + (text + thoughts) * price.output + image * rate) / 1e6


def replay(server: GeminiStandIn, name: str, status: int, raw: dict[str, Any]) -> tuple[str, str]:
    """(classification, cost line) of one recorded body."""
    with tempfile.TemporaryDirectory() as home:
        limiter = ModelLimiter({}, ModelLimits(), redis_url=None, key_prefix="b", home=Path(home))
        model = str(raw.get("modelVersion") or "gemini-nano-banana-2.1")
        ai = GeminiAI(
            server.api_key,
            base_url=server.base_url,
            api_version="v1beta",
            text_model=model,
            prices=REPLAY_PRICES,
            limiter=limiter,
            timeout_s=10,
        )
        try:
            return _replay(server, ai, name, status, raw, model)
        finally:
            ai.close()


def _replay(
    server: GeminiStandIn, ai: GeminiAI, name: str, status: int, raw: dict[str, Any], model: str
) -> tuple[str, str]:
    from tests.standins.gemini_fixtures import jpeg_scene, request

    if "metadata" in raw:
        server.answer_next(status, raw, path="/batches/")
        state = GeminiBatch(ai).status(str(raw.get("name")))
        return f"batch {state.state}", f"model {state.model}, results {state.responses_file}"
    for _ in range(2):  # a refusal is asked once more
        server.answer_next(status, raw)
    image_call = "error" in raw or "image" in model
    with collect() as calls:
        try:
            if image_call:
                ai.generate(request(model=None if "error" in raw else model))
            else:
                ai.analyze_scene(jpeg_scene())
            what = "image" if image_call else "scene analysis"
        except ProviderError as error:
            what = type(error).__name__
    server.stop_failing()
    cost = sum(c.cost_usd for c in calls[:1])
    want = 0.0 if "error" in raw else expected_cost(ai, model, raw)
    if abs(cost - want) > 1e-12:
        raise AssertionError(f"{name}: costed {cost:.8f} USD, the body says {want:.8f}")
    return what, f"{len(calls)} call(s), first costed {cost:.6f} USD (body: {want:.6f})"


EXPECTED_BATCH_IMAGES = 4  # the four image answers; the other lines are failures


def batch_lines(server: GeminiStandIn, bodies: list[Path]) -> int:
    """The recorded generateContent answers as the lines of one batch results file (the
    documented shape ``{"key", "response"}``; SOURCES.md: not recorded), read by the batch
    mode; returns how many lines gave an image."""
    from visualizer_core.ai.gemini_batch import BatchStatus

    answers = []
    for path in bodies:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if "candidates" in raw or "promptFeedback" in raw:
            answers.append({"key": path.stem, "response": raw})
    ai = GeminiAI(server.api_key, base_url=server.base_url, prices=REPLAY_PRICES)
    status = BatchStatus(
        name="batches/replay",
        state="succeeded",
        model="models/gemini-3.1-flash-image",
        responses_file="files/replay",
        error=None,
    )
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "responses.jsonl"
        results.write_text("".join(json.dumps(a) + "\n" for a in answers), encoding="utf-8")
        lines = list(GeminiBatch(ai).lines(results, status))
    ai.close()
    kept = [line.key for line in lines if not isinstance(line.result, Exception)]
    names = ", ".join(map(str, kept))
    print(f"  batch results: {len(lines)} lines read, {len(kept)} images kept: {names}")
    return len(kept)


def main() -> None:
    folder = FOLDER.resolve()
    if not folder.is_dir():
        print(f"no recorded bodies at {folder}: nothing to replay")
        return
    table = sources((folder / "SOURCES.md").read_text(encoding="utf-8"))
    bodies = sorted(folder.glob("*.json"))
    wrong = []
    with GeminiStandIn() as server:
        for path in bodies:
            status, _source = table[path.name].split("|", 1)
            raw = json.loads(path.read_text(encoding="utf-8"))
            what, cost = replay(server, path.name, int(status), raw)
            server.reset()
            ok = EXPECTED.get(path.name) == what
            wrong += [] if ok else [f"{path.name}: {what}, expected {EXPECTED.get(path.name)}"]
            print(f"  {'ok ' if ok else 'BAD'} {status} {path.name}: {what}; {cost}")
        kept = batch_lines(server, bodies)
    used = {table[p.name].split("|", 1)[1] for p in bodies}
    print(f"replayed {len(bodies)} recorded bodies from {len(used)} sources on v1beta")
    if kept != EXPECTED_BATCH_IMAGES:
        wrong.append(f"the batch lines kept {kept} images, expected {EXPECTED_BATCH_IMAGES}")
    if wrong:
        raise AssertionError("classified otherwise than expected: " + "; ".join(wrong))


if __name__ == "__main__":
    main()
