"""The billing account's monthly spend cap seen from a flow: the account pauses, its images wait
pending, and ``visualizer status --json`` says why (the embedded default and the studio's
reader share the file board in VISUALIZER_HOME)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests import gemini_flows as flows
from tests.cli.helpers import environment
from tests.plugin import wait_until
from tests.standins.gemini_server import GeminiStandIn
from visualizer_core import admin, backends
from visualizer_core.schemas import FlowSettings
from visualizer_core.services import generation, sessions


def test_a_monthly_cap_pauses_the_account_and_status_says_so(
    embedded: backends.Backends, gemini_server: GeminiStandIn, tmp_path: Path
) -> None:
    # One 1K image costs about USD 0.045 at the test's price row (flows.CUSTOM_PRICE), and a
    # call is reserved at a little more: the first image fits a cap of 0.06, the second not.
    limits = {"account": {"spend_usd_per_month": 0.06}}
    made = flows.gemini_backends(embedded, gemini_server, gemini_limits=json.dumps(limits))
    built = next(made)
    try:
        scope, session_id = flows.prepared_session(tmp_path, products_count=2)
        gemini_server.reset()
        flow = generation.generate(scope, session_id=session_id, settings=FlowSettings())

        def paused() -> dict[str, str] | None:
            state = admin.account()["paused"]
            counts = sessions.session_status(scope, session_id=session_id)
            return state if state and counts["completed"] == 1 else None

        state = wait_until(paused, 60, "the account's pause after one image")
        assert "monthly spend cap of USD 0.06" in state["reason"]
        counts = generation.flow_status([flow.flow_id])
        assert (counts["completed"], counts["error"]) == (1, 0)  # the other waits, not failed
        assert len(flows.image_calls(gemini_server)) == 1  # nothing sent past the cap
        env = environment(built) | {
            "GEMINI_API_KEY": gemini_server.api_key,
            "GEMINI_BASE_URL": gemini_server.base_url,
            "GEMINI_LIMITS": json.dumps(limits),
        }
        sid = str(session_id)
        ran = subprocess.run(
            [*(sys.executable, "-m", "visualizer_cli"), "status", "--json", "--session", sid],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, ran.stderr
        shown = json.loads(ran.stdout)
        assert shown["completed"] == 1 and shown["error"] == 0
        assert shown["account_paused"]["reason"] == state["reason"]
        assert shown["account_paused"]["until"].startswith(("2026-", "2027-"))
    finally:
        next(made, None)
