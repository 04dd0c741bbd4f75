"""The fidelity gate's rule in a real browser (headless Chromium, Playwright): the owner of a
brand whose team's decisions calibrated its gate opens Review, approves everything the gate
trusts by rule (shown the images first and asked once), sees the approvals as their own group
with a spot check drawn, and undoes them in one step. A screenshot lands in
``test-artifacts/review-gate/``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests import factories
from tests.studio.browser import brand_at, browser_tab, running_studio
from visualizer_core.db import repo
from visualizer_core.demo import art as demo_art
from visualizer_core.scope import ADMIN
from visualizer_core.services import analysis, generation, review, sessions

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "review-gate"
EMAIL = "owner@gate.test"
PASSWORD = "a long gate password"
CATALOG = (
    ("SOFA-GB", "Linen Sofa", "sofa", "living_room", (90, 60, 60)),
    ("BED-GB", "Haven Bed", "bed", "bedroom", (150, 120, 160)),
    ("DESK-GB", "Writing Desk", "desk", "home_office", (120, 85, 60)),
)
SLOW = 90_000


def make_session(home: Path) -> int:
    """A brand on the embedded default at ``home``: three finished images and its team's
    earlier decisions; returns how many images the gate trusts."""
    with brand_at(home, name="Gate & Co", email=EMAIL, password=PASSWORD) as (built, client):
        # The team's earlier work first: the newest session, the one Review opens, is next.
        history = sessions.create_session(ADMIN, client_id=client.id, name="Earlier")
        session = sessions.create_session(ADMIN, client_id=client.id, name="Autumn")
        factories.import_catalog(client.id, CATALOG)
        for seed, room in enumerate(("living_room", "bedroom", "home_office")):
            sessions.add_scenes(
                ADMIN,
                session_id=session.id,
                files=[(f"{room}.jpg", demo_art.draw_room(room, seed=seed, size=(640, 420)))],
                room_type=room,
            )
        analysis.match_session(ADMIN, session_id=session.id)
        flow = generation.generate(ADMIN, session_id=session.id)
        counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=300)
        assert counts["completed"] == 3, counts
        with built.transaction() as db:
            made = list(repo.images_of_flow(db, flow.flow_id))
            db.expunge_all()
        factories.team_decisions(built, client.id, made, history_id=history.id)
        return len(review.trusted(ADMIN, session_id=session.id))


@pytest.fixture
def gate_page(tmp_path: Path) -> Iterator[tuple[Page, int]]:
    env = {**os.environ, "VISUALIZER_HOME": str(tmp_path / "home")}
    for name in ("DATABASE_URL", "REDIS_URL", "R2_BUCKET"):
        env.pop(name, None)
    trusted = make_session(tmp_path / "home")
    with (
        running_studio(env, tmp_path / "studio.log") as url,
        browser_tab(url, height=1400, timeout_ms=SLOW) as tab,
    ):
        yield tab, trusted


@pytest.mark.slow
def test_approve_by_rule_then_undo_in_one_step(gate_page: tuple[Page, int]) -> None:
    page, trusted = gate_page
    assert trusted >= 1
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    page.get_by_role("link", name="Review").click()
    expect(page.get_by_text("0 of 3 reviewed")).to_be_visible()
    expect(page.get_by_text("What was measured:").first).to_be_visible()
    expect(
        page.get_by_text(re.compile(r"your team judged were approved \(40 decisions\)"))
    ).to_be_visible()

    page.get_by_role("button", name=f"Approve {trusted} trusted image(s) by rule...").click()
    dialog = page.get_by_role("dialog")  # the images first, and one question
    expect(dialog.get_by_text("Approve what the gate trusts?")).to_be_visible()
    expect(dialog.locator('[data-testid="stImage"]')).to_have_count(trusted)
    expect(page.get_by_text("0 of 3 reviewed")).to_be_visible()
    dialog.get_by_role("button", name=f"Approve {trusted} image(s) by rule").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(
        page.get_by_text(re.compile(rf"^Approved {trusted} image\(s\) by rule; 1 drawn"))
    ).to_be_visible()
    expect(page.get_by_text(f"{trusted} of 3 reviewed")).to_be_visible()
    expect(page.get_by_text(f"Approved by rule: {trusted}")).to_be_visible()
    expect(page.get_by_text("1 of them drawn for a spot check", exact=False)).to_be_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "approved-by-rule.png"), full_page=True)

    page.get_by_role("button", name=f"Undo the {trusted} approval(s) by rule").click()
    expect(
        page.get_by_text(f"Undone: {trusted} approval(s) by rule are open again.")
    ).to_be_visible()
    expect(page.get_by_text("0 of 3 reviewed")).to_be_visible()
    expect(page.get_by_text("No image is approved by rule in this session.")).to_be_visible()
