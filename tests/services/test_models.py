"""The model registry seen from a flow: output sizes, retired and unpriced models, estimates.

Flows run on the Gemini backend (the real SDK against the stand-in), on both backend sets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from tests import gemini_flows as flows
from tests.cli.helpers import environment
from tests.plugin import backends_like
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core import backends
from visualizer_core.ai import models as registry
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL
from visualizer_core.ai.usage import records_of
from visualizer_core.errors import InvalidInput
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import estimates, generation
from visualizer_core.services import models as model_service


@pytest.fixture
def gemini(backend: backends.Backends, gemini_server: GeminiStandIn) -> Iterator[backends.Backends]:
    yield from flows.gemini_backends(backend, gemini_server)


def test_a_flow_asks_for_its_output_size_and_is_billed_by_it(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.reset()
    [row] = flows.run(scope, session_id, image_size="2K", aspect_ratio="1:1")
    assert row.status == "completed", row.error_message
    [call] = flows.image_calls(gemini_server)
    assert call.generation_config["imageConfig"] == {"aspectRatio": "1:1", "imageSize": "2K"}
    image = records_of(row.usage)[0]
    assert image.tokens.output_image == 1680  # a 2K picture of the 3.x flash image models
    price = flows.CUSTOM_PRICE
    by_hand = (
        image.tokens.input * price["input"]
        + image.tokens.output_text * price["output"]
        + 1680 * price["image_output"]
    ) / 1e6
    assert image.cost_usd == pytest.approx(by_hand)


def test_the_sizes_a_model_draws_are_public(gemini: backends.Backends) -> None:
    assert model_service.image_sizes(ADMIN) == ("1K", "2K", "4K")
    assert model_service.image_sizes(ADMIN, model="gemini-2.5-flash-image") == ("1K",)
    assert model_service.image_sizes(ADMIN, model="not-a-known-model") == ()
    prices = model_service.image_size_prices(ADMIN)
    assert list(prices) == ["1K", "2K", "4K"]
    assert prices["1K"] < prices["2K"] < prices["4K"]
    # The image tokens of the size times the image price, plus the inputs and prompt.
    assert prices["4K"] - prices["1K"] == pytest.approx((2520 - 1120) * 40.0 / 1e6)


def test_the_estimate_is_costed_by_size_and_counts_inputs_as_the_adapter(
    gemini: backends.Backends, tmp_path: Path
) -> None:
    scope, _session_id = flows.prepared_session(tmp_path, products_count=1)
    one = estimates.estimate_generation(scope, client_id=scope.client_id, products=1)
    big = estimates.estimate_generation(
        scope, client_id=scope.client_id, products=1, settings=FlowSettings(image_size="4K")
    )
    assert big.cost_usd - one.cost_usd == pytest.approx((2520 - 1120) * 40.0 / 1e6)
    usage = registry.typical_image_usage(DEFAULT_IMAGE_MODEL)
    info = registry.lookup(DEFAULT_IMAGE_MODEL)
    assert info is not None
    assert usage["input_tokens"] == 2 * info.input_image_tokens + registry.TYPICAL_PROMPT_TOKENS


def test_a_size_flows_do_not_take_is_refused_by_name() -> None:
    with pytest.raises(ValidationError, match="'1K', '2K' or '4K'"):
        FlowSettings(image_size="512")  # type: ignore[arg-type]  # a size 3.1 Flash draws
    assert FlowSettings().image_size is None  # the model's default


def test_a_retired_model_is_refused_with_its_replacement(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.reset()
    with pytest.raises(InvalidInput) as caught:
        generation.generate(
            scope, session_id=session_id, settings=FlowSettings(model="gemini-2.5-flash-image")
        )
    message = str(caught.value)
    assert "\n" not in message
    assert "gemini-2.5-flash-image was shut down" in message
    assert "use gemini-nano-banana-2.1" in message
    assert gemini_server.requests == []  # nothing was asked of the provider


def test_an_unpriced_model_is_refused_unless_gemini_prices_prices_it(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id = flows.prepared_session(tmp_path, products_count=1)
    gemini_server.models.add("gemini-9-image")
    settings = FlowSettings(model="gemini-9-image")
    with pytest.raises(InvalidInput, match=r"gemini-9-image has no price.*GEMINI_PRICES"):
        generation.generate(scope, session_id=session_id, settings=settings)
    with backends_like(
        gemini,
        gemini_prices={"gemini-9-image": {"input": 1, "output": 2, "image_output": 3}},
    ):
        flow = generation.generate(scope, session_id=session_id, settings=settings)
        assert (
            generation.wait_for_flows(scope, flow_ids=[flow.flow_id], timeout=60)["completed"] == 1
        )


def test_generate_takes_an_image_size_on_the_command_line(
    embedded: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    made = flows.gemini_backends(embedded, gemini_server)
    built = next(made)
    try:
        _scope, session_id = flows.prepared_session(tmp_path, products_count=1)
        gemini_server.reset()
        env = environment(built) | {
            "GEMINI_API_KEY": gemini_server.api_key,
            "GEMINI_BASE_URL": gemini_server.base_url,
        }

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    *(sys.executable, "-m", "visualizer_cli", "generate"),
                    *("--session", str(session_id), *args),
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )

        ran = cli("--image-size", "4K", "--wait", "--timeout", "120", "--json")
        assert ran.returncode == 0, ran.stderr
        assert json.loads(ran.stdout)["status"] == "completed"
        [call] = flows.image_calls(gemini_server)
        assert call.generation_config["imageConfig"]["imageSize"] == "4K"
        bad = cli("--image-size", "3K")
        assert bad.returncode == 2 and "1K" in bad.stderr
    finally:
        next(made, None)


def test_status_warns_of_a_configured_model_that_retires(
    embedded: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    made = flows.gemini_backends(embedded, gemini_server)
    built = next(made)
    try:
        scope, session_id = flows.prepared_session(tmp_path, products_count=1)
        env = environment(built) | {
            "GEMINI_API_KEY": gemini_server.api_key,
            "GEMINI_BASE_URL": gemini_server.base_url,
        }
        args = [sys.executable, "-m", "visualizer_cli", "status", "--session", str(session_id)]
        quiet = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True)
        assert quiet.returncode == 0, quiet.stderr
        assert "model_warnings" not in json.loads(quiet.stdout)
        env["GEMINI_IMAGE_MODEL"] = "gemini-3.1-flash-image"  # shut down on 2026-10-29
        warned = subprocess.run([*args, "--json"], env=env, capture_output=True, text=True)
        [line] = json.loads(warned.stdout)["model_warnings"]
        assert "gemini-3.1-flash-image" in line and "gemini-nano-banana-2.1" in line
        with backends_like(
            built,
            gemini_api_key=gemini_server.api_key,
            gemini_base_url=gemini_server.base_url,
            gemini_image_model="gemini-3.1-flash-image",
        ):
            assert model_service.model_warnings(ADMIN) == [line]
            # The configured model itself is refused at the start of a flow, in one line.
            with pytest.raises(InvalidInput, match=r"^the image model gemini-3\.1-flash-image was"):
                generation.generate(scope, session_id=session_id)
    finally:
        next(made, None)
