"""Review with the keyboard only, in a real browser: headless Chromium driven by Playwright,
at 1440 x 900.

A 12-image session (6 products, two variants each) is made through the services on a fresh
embedded default; the owner signs in, opens Review and, with keys alone: types a re-run note
holding every shortcut letter (N), which lands on the image shown and changes nothing else
(checked in the database); reaches the dialog combinations a keyboard user reaches (N then L,
D then N) without a traceback; approves and takes it back (A, Z); picks a variant (1); runs
the bulk approval rule, which shows its images and asks first (B, Enter) and is taken back
(Z); and delivers the approved set at the square 2048 px preset (D, P on the size's radio
button, S). The ZIP is checked as a store would: sizes, names, sRGB, no metadata, the
manifest.

Screenshots of review mode, the variants and the delivery dialog land in
``test-artifacts/review-e2e/``; with ``REVIEW_DOCS_SCREENSHOTS=1`` they also refresh the
ones in ``docs/`` that the README and the docs show.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageCms
from playwright.sync_api import Page, expect

from tests.studio.browser import (
    brand_at,
    browser_tab,
    counter,
    keys_back,
    no_traceback,
    running_studio,
    shown_image,
    wait_for_counter,
    wait_idle,
)
from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.db import repo
from visualizer_core.db.models import Flow, GeneratedImage
from visualizer_core.demo import art as demo_art
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import generation, products, review, sessions

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "review-e2e"
DOCS = ROOT / "docs"
EMAIL = "owner@linen.test"
PASSWORD = "a long review password"
KINDS = (
    ("SOFA", "sofa", "living_room"),
    ("BED", "bed", "bedroom"),
    ("DESK", "desk", "home_office"),
)
PRODUCTS = 6
SLOW = 90_000
EVERY_KEY = "Zinc feet: bad box, ax the flap, deep sepia, lux 1 2 3 4 5 6 7 8 9!"
""" A note holding every letter and digit the review page has a shortcut for (A B D E F L N P
S X Z, 1-9), typed where the cursor is after N."""


def write_catalog(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(PRODUCTS):
        prefix, category, _room = KINDS[index % len(KINDS)]
        sku = f"{prefix}-{index + 1:02d}"
        photo = folder / f"{sku.lower()}.jpg"
        colour = (60 + 12 * index, 90 + 5 * index, 140 - 4 * index)
        photo.write_bytes(
            demo_art.draw_product(category, color=colour, seed=index, size=(360, 360))
        )
        rows.append({"sku": sku, "name": f"{category.title()} {index + 1}", "image": photo.name})
    path = folder / "catalog.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["sku", "name", "image"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_session(home: Path, folder: Path) -> uuid.UUID:
    """The client, its owner and a session of 30 finished images, made in this process
    through the services on the embedded default at ``home`` (faster than a command each)."""
    with brand_at(home, name="Linen & Oak", email=EMAIL, password=PASSWORD) as (_, client):
        catalog = write_catalog(folder)
        report = products.import_products(
            ADMIN, client_id=client.id, csv_path=catalog, images_dir=folder
        )
        assert report.failed == 0, report.errors
        session = sessions.create_session(ADMIN, client_id=client.id, name="Spring")
        for seed, (_prefix, _category, room) in enumerate(KINDS):
            sessions.add_scenes(
                ADMIN,
                session_id=session.id,
                files=[(f"{room}.jpg", demo_art.draw_room(room, seed=seed, size=(640, 420)))],
                room_type=room,
            )
        flow = generation.generate(ADMIN, session_id=session.id, settings=FlowSettings(variants=2))
        assert len(flow.image_ids) == 2 * PRODUCTS
        counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=300)
        assert counts["completed"] == 2 * PRODUCTS, counts
    return session.id


@dataclass
class Made:
    """The studio's home and the session made in it."""

    home: Path
    session_id: uuid.UUID

    def states(self) -> dict[uuid.UUID, tuple[str, bool, uuid.UUID | None]]:
        """Every image of the session: review state, favourite, what it re-makes (read in the
        database the studio writes, as a person checking it would)."""
        built = backends.build(
            load_settings(
                visualizer_home=self.home, database_url=None, redis_url=None, r2_bucket=None
            )
        )
        try:
            with built.transaction() as db:
                return {
                    i.id: (i.review_state, i.favourite, i.rerun_of_id)
                    for i in repo.images_of_session(db, self.session_id)
                }
        finally:
            built.close()

    def prompt_of(self, image_id: uuid.UUID) -> str:
        """The prompt text of the flow that made an image."""
        built = backends.build(
            load_settings(
                visualizer_home=self.home, database_url=None, redis_url=None, r2_bucket=None
            )
        )
        try:
            with built.transaction() as db:
                image = db.get(GeneratedImage, image_id)
                assert image is not None
                flow = db.get(Flow, image.flow_id)
                assert flow is not None
                return str(flow.settings.get("prompt") or "")
        finally:
            built.close()

    def image_of(self, sku: str, variant: int) -> uuid.UUID:
        built = backends.build(
            load_settings(
                visualizer_home=self.home, database_url=None, redis_url=None, r2_bucket=None
            )
        )
        try:
            with backends.using(built):
                items = review.review_queue(ADMIN, session_id=self.session_id).items
        finally:
            built.close()
        [found] = [i.id for i in items if i.sku == sku and i.variant + 1 == variant]
        return found


@pytest.fixture
def made(tmp_path: Path) -> Made:
    """A session of 12 finished images on a fresh embedded default."""
    home = tmp_path / "home"
    return Made(home, make_session(home, tmp_path / "catalog"))


@pytest.fixture
def page(made: Made, tmp_path: Path) -> Iterator[Page]:
    """A browser tab at 1440 x 900 on the studio running over ``made``."""
    env = {**os.environ, "VISUALIZER_HOME": str(made.home)}
    for name in ("DATABASE_URL", "REDIS_URL", "R2_BUCKET"):
        env.pop(name, None)
    with (
        running_studio(env, tmp_path / "studio.log") as url,
        browser_tab(url, height=900, timeout_ms=SLOW) as tab,
    ):
        yield tab


def shoot(page: Page, name: str, *, docs: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target))
    if docs and os.environ.get("REVIEW_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(target, DOCS / f"{name}.png")


@pytest.mark.slow
def test_review_with_the_keyboard_acts_on_the_image_shown(
    page: Page, made: Made, tmp_path: Path
) -> None:
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    page.get_by_role("link", name="Review").click()
    expect(page.get_by_text(f"0 of {2 * PRODUCTS} reviewed")).to_be_visible()
    expect(page.locator('[data-testid="stImage"]').first).to_be_visible()
    wait_idle(page)
    page.keyboard.press("Escape")  # nothing focused: keys go to the page's shortcuts
    # The decision row is on screen without scrolling, at 1440 x 900.
    for key in ("approve", "reject", "rerun", "undo", "next"):
        expect(page.locator(f".st-key-review-{key} button").first).to_be_in_viewport()
    shoot(page, "review-mode")

    # A product's variants are side by side in the queue.
    order = []
    for _ in range(4):
        order.append(shown_image(page))
        page.keyboard.press("ArrowRight")
        expect(page.get_by_text(re.compile(rf"^Image {len(order) + 1} of "))).to_be_visible()
        wait_idle(page)
    assert order[0][0] == order[1][0] and order[2][0] == order[3][0], order
    assert {order[0][1], order[1][1]} == {order[2][1], order[3][1]} == {1, 2}, order

    # N: the dialog names the image shown and the cursor is in the note; every shortcut
    # letter typed goes into the note; Enter sends it for that image, and nothing else changes.
    sku, variant = shown_image(page)
    target = made.image_of(sku, variant)
    before = made.states()
    page.keyboard.press("n")
    dialog = page.get_by_role("dialog")
    expect(
        dialog.get_by_text(re.compile(rf"^{re.escape(sku)} · .* · variant {variant}$"))
    ).to_be_visible()
    note = dialog.get_by_label("What should change?")
    expect(note).to_be_focused()
    page.keyboard.type(EVERY_KEY)
    expect(note).to_have_value(EVERY_KEY)
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_have_count(0)
    wait_for_counter(page, 1)
    keys_back(page)
    no_traceback(page)
    after = made.states()
    remade = [i for i, (_, _, source) in after.items() if source == target]
    assert len(remade) == 1 and made.prompt_of(remade[0]).endswith(EVERY_KEY)
    assert after[target][0] == "rejected"
    for image_id, state in before.items():  # nothing else was decided, favourited or re-made
        if image_id != target:
            assert after[image_id] == state, image_id
    assert set(after) - set(before) == set(remade)

    # N then L (the cursor moved off the note with Tab): L does nothing behind the dialog.
    page.keyboard.press("n")
    expect(page.get_by_label("What should change?")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("l")
    wait_idle(page)
    expect(page.get_by_role("dialog")).to_have_count(1)
    expect(page.get_by_role("dialog").get_by_text("Re-run with a note")).to_be_visible()
    no_traceback(page)
    page.keyboard.press("Escape")  # Esc closes it, nothing changed
    expect(page.get_by_role("dialog")).to_have_count(0)
    keys_back(page)
    assert made.states() == after

    # A, then Z: the toast names what was done; Z takes it back and shows that image again.
    sku, variant = shown_image(page)
    page.keyboard.press("a")
    expect(
        page.get_by_text(f"Approved {sku} · variant {variant}. Press Z to undo.")
    ).to_be_visible()
    wait_for_counter(page, 2)
    page.keyboard.press("z")
    expect(page.get_by_text(f"Undone: Approved {sku} · variant {variant}.")).to_be_visible()
    wait_for_counter(page, 1)
    assert shown_image(page) == (sku, variant)
    assert made.states()[made.image_of(sku, variant)][0] == "none"
    page.keyboard.press("a")
    wait_for_counter(page, 2)

    # 1 picks the first variant of the product shown.
    page.keyboard.press("1")
    expect(page.get_by_text(re.compile(r"^Picked .* image\(s\) updated\. Press Z"))).to_be_visible()
    wait_idle(page)
    shoot(page, "review-variants")

    # B shows the images the rule would approve, with their pictures, and asks first.
    reviewed, _ = counter(page)
    page.keyboard.press("b")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Approve by the rule?")).to_be_visible()
    confirm = dialog.get_by_role("button", name=re.compile(r"^Approve \d+ image\(s\)"))
    expect(confirm).to_be_focused()
    will = int(re.search(r"Approve (\d+)", confirm.inner_text())[1])  # type: ignore[index]
    assert will > 0
    expect(dialog.locator('[data-testid="stImage"]')).to_have_count(min(will, 24))
    shoot(page, "review-bulk-rule")
    assert counter(page)[0] == reviewed  # nothing yet
    page.keyboard.press("Enter")
    expect(
        page.get_by_text(f"Approved {will} image(s) by the rule. Press Z to undo.")
    ).to_be_visible()
    wait_for_counter(page, reviewed + will)
    page.keyboard.press("z")
    wait_for_counter(page, reviewed)
    page.keyboard.press("b")
    expect(page.get_by_role("dialog").get_by_text("Approve by the rule?")).to_be_visible()
    wait_idle(page)
    page.keyboard.press("Enter")
    wait_for_counter(page, reviewed + will)
    no_traceback(page)

    # D then N: N does nothing behind the delivery dialog; P works on the size's radio button.
    page.keyboard.press("d")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Square 2048 x 2048", exact=True)).to_be_visible()
    wait_idle(page)
    expect(dialog.get_by_role("radio", name="Square 2048 x 2048")).to_be_focused()
    page.keyboard.press("n")
    wait_idle(page)
    expect(dialog.get_by_text("Deliver approved images", exact=True)).to_be_visible()
    no_traceback(page)
    page.keyboard.press("p")
    save = dialog.get_by_role("button", name=re.compile(r"^Save \d+ image\(s\) with manifest\.csv"))
    expect(save).to_be_visible()
    shoot(page, "delivery-dialog")
    count = int(re.search(r"Save (\d+)", save.inner_text())[1])  # type: ignore[index]
    with page.expect_download() as started:
        page.keyboard.press("s")
    target_zip = tmp_path / "delivery.zip"
    started.value.save_as(str(target_zip))
    no_traceback(page)

    archive = zipfile.ZipFile(target_zip)
    pictures = sorted(n for n in archive.namelist() if n != "manifest.csv")
    assert len(pictures) == count == sum(s == "approved" for s, _, _ in made.states().values())
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert sorted(row["file"] for row in manifest) == pictures
    for row in manifest:
        # one file per sku and variant: no "-2" for a second image named like another
        assert re.fullmatch(rf"{re.escape(row['sku'])}_{row['variant']}\.jpg", row["file"])
        assert row["review_state"] == "approved"
        assert (row["width"], row["height"], row["format"]) == ("2048", "2048", "jpeg")
    for name in pictures[:3]:
        with Image.open(io.BytesIO(archive.read(name))) as picture:
            assert picture.size == (2048, 2048) and picture.format == "JPEG"
            profile = ImageCms.ImageCmsProfile(io.BytesIO(picture.info["icc_profile"]))
            assert "sRGB" in ImageCms.getProfileDescription(profile)
            assert not picture.getexif()
