"""The provider policy end to end: the real google-genai SDK against the strict stand-in.

Analysis is retried like images; ``generate`` makes what it can when analysis keeps failing for
some products; transient failures go back to the queue with a new seed; a model's day used up
pauses its work and resumes by itself. The retry waits and the limits' window are shortened with
their test knobs (``VISUALIZER_RETRY_BASE_S``, ``VISUALIZER_LIMIT_WINDOW_S``/``_DAY_S``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import factories
from tests.plugin import backends_like
from tests.standins.gemini_server import GeminiStandIn, RecordedRequest
from visualizer_core import backends
from visualizer_core.ai.gemini import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL
from visualizer_core.scope import ClientScope
from visualizer_core.services import analysis, products, sessions


def _with_gemini(
    base: backends.Backends, server: GeminiStandIn, **extra: Any
) -> Iterator[backends.Backends]:
    extra.setdefault("visualizer_retry_base_s", 0.02)
    extra.setdefault("visualizer_retry_max_s", 0.1)
    with backends_like(
        base,
        gemini_api_key=server.api_key,
        gemini_base_url=server.base_url,
        gemini_timeout_s=3.0,
        **extra,
    ) as built:
        yield built


@pytest.fixture
def gemini(
    embedded: backends.Backends, gemini_server: GeminiStandIn
) -> Iterator[backends.Backends]:
    yield from _with_gemini(embedded, gemini_server)


def _catalog(tmp_path: Path, scope: ClientScope, count: int) -> list[str]:
    rows = [
        {
            "sku": f"LAMP-{n}",
            "name": f"Arc lamp {n}",
            "category": "lamp",
            "image": f"lamp-{n}.jpg",
        }
        for n in range(count)
    ]
    photos = {f"lamp-{n}.jpg": factories.product_photo() for n in range(count)}
    path = factories.write_catalog(tmp_path / "catalog", rows, photos)
    report = products.import_products(scope, client_id=scope.client_id, csv_path=path)
    assert report.failed == 0, report.errors
    return report.product_ids


def _session(tmp_path: Path, count: int) -> tuple[ClientScope, uuid.UUID, list[str]]:
    client = factories.create_client()
    scope = factories.member_scope(client.id)
    product_ids = _catalog(tmp_path, scope, count)
    session = sessions.create_session(scope, client_id=client.id, name="Lamps")
    sessions.add_scenes(
        scope,
        session_id=session.id,
        files=[("living.jpg", factories.scene_photo())],
        room_type="Living Room",
    )
    return scope, session.id, product_ids


def _text_calls(server: GeminiStandIn) -> list[RecordedRequest]:
    return [r for r in server.requests if r.model == DEFAULT_TEXT_MODEL]


def test_analysis_is_retried_through_passing_faults(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id, _ = _session(tmp_path, 1)
    gemini_server.reset()
    for kind in ("503", "empty", "429"):
        gemini_server.fail_next(kind, model=DEFAULT_TEXT_MODEL, retry_delay="0.05s")

    done = analysis.analyze_session(scope, session_id=session_id)

    assert done["failed"] == [] and (done["products"], done["scenes"]) == (1, 1)
    # Three faults met (the empty answer is a 200 without candidates), each retried.
    assert sorted(r.status for r in _text_calls(gemini_server)) == [200, 200, 200, 429, 503]


def test_analysis_that_keeps_failing_says_so_and_is_tried_again_later(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id, _ = _session(tmp_path, 1)
    gemini_server.reset()
    gemini_server.fail_rate("503", 1.0, model=DEFAULT_TEXT_MODEL)

    done = analysis.analyze_session(scope, session_id=session_id)

    attempts = gemini.settings.visualizer_max_attempts
    assert len(done["failed"]) == 2
    assert all(f"still failing after {attempts} attempts" in f["error"] for f in done["failed"])
    assert all("overloaded" in f["error"] for f in done["failed"])
    assert len(_text_calls(gemini_server)) == 2 * attempts
    gemini_server.fail_rate("503", 0)
    again = analysis.analyze_session(scope, session_id=session_id)
    assert (again["products"], again["scenes"], again["failed"]) == (1, 1, [])


def test_image_model_faults_do_not_touch_analysis(
    gemini: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    scope, session_id, _ = _session(tmp_path, 2)
    gemini_server.reset()
    gemini_server.fail_rate("500", 1.0, model=DEFAULT_IMAGE_MODEL)
    done = analysis.analyze_session(scope, session_id=session_id)
    assert done["failed"] == [] and done["products"] == 2
