"""Review with the keyboard only, in a real browser: headless Chromium driven by Playwright.

A 30-image session (15 products, two variants each) is made with the ``visualizer`` command
on a fresh embedded default; the owner signs in, opens Review and, with keys alone, approves
20 images (A), rejects 5 with a re-run note (N, the note, Enter), picks a variant (1), runs
the bulk approval rule (B), and delivers the approved set at the square 2048 px preset (D, P,
S). The ZIP is checked as a store would: sizes, names, sRGB, no metadata, the manifest.

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
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageCms
from playwright.sync_api import Page, expect

from tests.studio.browser import browser_tab, running_studio
from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.db import migrate
from visualizer_core.demo import art as demo_art
from visualizer_core.schemas import FlowSettings
from visualizer_core.scope import ADMIN
from visualizer_core.services import clients, generation, products, sessions

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
PRODUCTS = 15
SLOW = 90_000
COUNTER = re.compile(r"^(\d+) of (\d+) reviewed$")


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


def make_session(home: Path, folder: Path) -> None:
    """The client, its owner and a session of 30 finished images, made in this process
    through the services on the embedded default at ``home`` (faster than a command each)."""
    settings = load_settings(
        visualizer_home=home, database_url=None, redis_url=None, r2_bucket=None
    )
    built = backends.build(settings)
    migrate.upgrade(built.engine)
    try:
        with backends.using(built):
            client = clients.create_client(ADMIN, name="Linen & Oak", daily_quota=200)
            clients.create_user(
                ADMIN, email=EMAIL, client_id=client.id, role="owner", password=PASSWORD
            )
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
            flow = generation.generate(
                ADMIN, session_id=session.id, settings=FlowSettings(variants=2)
            )
            assert len(flow.image_ids) == 2 * PRODUCTS
            counts = generation.wait_for_flows(ADMIN, flow_ids=[flow.flow_id], timeout=300)
            assert counts["completed"] == 2 * PRODUCTS, counts
    finally:
        built.close()


@pytest.fixture
def review_url(tmp_path: Path) -> Iterator[str]:
    """A running studio on a session of 30 finished images; yields its address."""
    env = {**os.environ, "VISUALIZER_HOME": str(tmp_path / "home")}
    for name in ("DATABASE_URL", "REDIS_URL", "R2_BUCKET"):
        env.pop(name, None)
    make_session(tmp_path / "home", tmp_path / "catalog")

    with running_studio(env, tmp_path / "studio.log") as url:
        yield url


@pytest.fixture
def page(review_url: str) -> Iterator[Page]:
    with browser_tab(review_url, height=1100, timeout_ms=SLOW) as tab:
        yield tab


def shoot(page: Page, name: str, *, docs: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(target))
    if docs and os.environ.get("REVIEW_DOCS_SCREENSHOTS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copy(target, DOCS / f"{name}.png")


def counter(page: Page) -> tuple[int, int]:
    """The "k of n reviewed" the page shows now."""
    text = page.get_by_text(COUNTER).first.inner_text().strip()
    found = COUNTER.match(text)
    assert found, text
    return int(found[1]), int(found[2])


def wait_idle(page: Page) -> None:
    """Wait until the page's script run has finished (what it shows is then all current)."""
    expect(page.locator('[data-testid="stApp"][data-test-script-state="running"]')).to_have_count(0)


def wait_for_counter(page: Page, reviewed: int) -> int:
    """Wait until ``reviewed`` images are decided; returns the total shown then."""
    expect(page.get_by_text(re.compile(rf"^{reviewed} of \d+ reviewed$"))).to_be_visible()
    wait_idle(page)
    return counter(page)[1]


def shown_image(page: Page) -> str:
    """What identifies the image on screen: its caption line ("**SKU** · name · variant n")."""
    return page.get_by_text(re.compile(r"· variant \d+ · fidelity")).first.inner_text()


@pytest.mark.slow
def test_review_thirty_images_with_the_keyboard(page: Page, tmp_path: Path) -> None:
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password", exact=True).press("Enter")
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    page.get_by_role("link", name="Review").click()
    expect(page.get_by_text("0 of 30 reviewed")).to_be_visible()
    expect(page.locator('[data-testid="stImage"]').first).to_be_visible()
    page.keyboard.press("Escape")  # nothing focused: keys go to the page's shortcuts
    shoot(page, "review-mode")

    # Approve 20, one key each; every decision moves on by itself.
    for done in range(1, 21):
        before = shown_image(page)
        page.keyboard.press("a")
        wait_for_counter(page, done)
        assert shown_image(page) != before or done == 30

    # Reject 5 with a note: N opens the note, Enter sends it; each makes a new version.
    for done in range(21, 26):
        page.keyboard.press("n")
        note = page.get_by_label("What should change?")
        expect(note).to_be_visible()
        note.press_sequentially("warmer light, keep the legs wooden")
        note.press("Enter")
        expect(page.get_by_label("What should change?")).to_have_count(0)
        wait_for_counter(page, done)
    reviewed, total = counter(page)
    assert reviewed == 25 and total >= 30  # the re-made versions join the queue

    # Variants side by side: 1 picks the first variant of the product shown.
    variants = page.get_by_role("heading", name=re.compile(r"^Variants of "))
    expect(variants).to_be_visible()
    variants.evaluate("element => element.scrollIntoView({block: 'start'})")
    shoot(page, "review-variants")
    page.keyboard.press("1")
    expect(
        page.get_by_text(re.compile(r"Picked this variant: \d+ image\(s\) updated\."))
    ).to_be_visible()

    # The bulk rule says how many it will approve before it runs.
    wait_idle(page)  # the toast comes first in a run: the rest of the page after it
    rule = page.get_by_role("button", name=re.compile(r"^Approve \d+ image\(s\)"))
    expect(rule).to_be_visible()
    reviewed_before, _ = counter(page)
    will_approve = int(re.search(r"Approve (\d+)", rule.inner_text())[1])  # type: ignore[index]
    page.keyboard.press("b")
    expect(page.get_by_text(f"Approved {will_approve} image(s) by the rule.")).to_be_visible()
    wait_for_counter(page, reviewed_before + will_approve)

    # Deliver the approved set at the square 2048 px preset: D, then P, then S.
    page.keyboard.press("d")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Square 2048 x 2048")).to_be_visible()
    page.keyboard.press("p")
    save = dialog.get_by_role("button", name=re.compile(r"^Save \d+ image\(s\) with manifest\.csv"))
    expect(save).to_be_visible()
    shoot(page, "delivery-dialog")
    count = int(re.search(r"Save (\d+)", save.inner_text())[1])  # type: ignore[index]
    with page.expect_download() as started:
        page.keyboard.press("s")
    target = tmp_path / "delivery.zip"
    started.value.save_as(str(target))

    archive = zipfile.ZipFile(target)
    pictures = sorted(n for n in archive.namelist() if n != "manifest.csv")
    assert len(pictures) == count >= 20
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert sorted(row["file"] for row in manifest) == pictures
    for row in manifest:
        assert re.fullmatch(rf"{re.escape(row['sku'])}_{row['variant']}(-\d+)?\.jpg", row["file"])
        assert row["review_state"] == "approved"
        assert (row["width"], row["height"], row["format"]) == ("2048", "2048", "jpeg")
    for name in pictures[:5]:
        with Image.open(io.BytesIO(archive.read(name))) as picture:
            assert picture.size == (2048, 2048) and picture.format == "JPEG"
            profile = ImageCms.ImageCmsProfile(io.BytesIO(picture.info["icc_profile"]))
            assert "sRGB" in ImageCms.getProfileDescription(profile)
            assert not picture.getexif()
