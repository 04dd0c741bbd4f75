"""The studio end to end in a real browser: headless Chromium driven by Playwright.

``visualizer studio`` runs on a free port against a fresh ``VISUALIZER_HOME`` (the embedded
default, its in-process worker included). A brand's owner signs in, creates a session, imports
a CSV with its photos, uploads scenes, matches, generates, watches the progress to the end,
approves an image and downloads the ZIP. Each step leaves a screenshot under
``test-artifacts/studio-e2e/``.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.studio.browser import browser_tab, running_studio, visualizer
from visualizer_core.demo import art as demo_art

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "studio-e2e"
EMAIL = "owner@brand.test"
PASSWORD = "a long studio password"
CATALOG = (
    ("SOFA-7", "Linen Three-Seat Sofa", "sofa", "living_room", (90, 110, 140)),
    ("BED-7", "Walnut Platform Bed", "bed", "bedroom", (120, 90, 70)),
    ("DESK-7", "Oak Writing Desk", "desk", "home_office", (160, 120, 80)),
)
SLOW = 90_000  # ms: generous, for a loaded two-core machine


@pytest.fixture
def studio_url(tmp_path: Path) -> Iterator[str]:
    """A running ``visualizer studio`` with one client and its owner; yields its address."""
    env = {**os.environ, "VISUALIZER_HOME": str(tmp_path / "home")}
    visualizer(env, "db", "upgrade")
    client = visualizer(env, "client", "create", "Linen & Oak", "--daily-quota", "50")
    visualizer(
        env,
        "user",
        "create",
        EMAIL,
        "--client",
        client["id"],
        "--role",
        "owner",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    with running_studio(env, tmp_path / "studio.log") as url:
        yield url


@pytest.fixture
def page(studio_url: str) -> Iterator[Page]:
    with browser_tab(studio_url, height=1000, timeout_ms=SLOW) as tab:
        yield tab


def catalog_files(folder: Path) -> tuple[Path, list[Path]]:
    """The catalog CSV and the product photos it names."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = []
    rows = []
    for index, (sku, name, category, _room, color) in enumerate(CATALOG):
        photo = folder / f"{sku.lower()}.jpg"
        photo.write_bytes(demo_art.draw_product(category, color=color, seed=index, size=(400, 400)))
        photos.append(photo)
        rows.append({"sku": sku, "name": name, "category": category, "image": photo.name})
    path = folder / "catalog.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["sku", "name", "category", "image"])
        writer.writeheader()
        writer.writerows(rows)
    return path, photos


def room_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for seed, (*_, room, _color) in enumerate(CATALOG):
        path = folder / f"{room}.jpg"
        path.write_bytes(demo_art.draw_room(room, seed=seed, size=(640, 420)))
        paths.append(path)
    return paths


class Steps:
    """Numbered screenshots of the steps, for people to look at."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.count = 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for old in ARTIFACTS.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.count:02d}-{name}.png"), full_page=True)


def uploader(page: Page, label: str):  # type: ignore[no-untyped-def]
    """The file input of the uploader with this label."""
    box = page.locator('[data-testid="stFileUploader"]').filter(has_text=label)
    return box.locator('input[type="file"]')


def go_to(page: Page, title: str) -> None:
    page.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title).first).to_be_visible()


@pytest.mark.slow
def test_from_catalog_to_approved_zip(page: Page, tmp_path: Path) -> None:
    steps = Steps(page)
    csv_path, photos = catalog_files(tmp_path / "catalog")
    rooms = room_files(tmp_path / "rooms")

    # Sign in.
    expect(page.get_by_text("Visualizer studio")).to_be_visible()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    steps.shot("sign-in")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()

    # A new session.
    page.get_by_label("New session").fill("Spring launch")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Spring launch").first).to_be_visible()
    steps.shot("session-created")

    # The catalog with its photos.
    go_to(page, "Products")
    page.get_by_text("Import a catalog (CSV and photos)").click()
    uploader(page, "Catalog file").set_input_files(str(csv_path))
    uploader(page, "Photos named in the CSV").set_input_files([str(p) for p in photos])
    expect(page.get_by_text(photos[-1].name)).to_be_visible()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("3 imported · 0 updated · 0 failed")).to_be_visible()
    expect(page.get_by_text("3 of 3 product(s) shown")).to_be_visible()
    steps.shot("catalog-imported")

    # Scenes.
    go_to(page, "Inspiration")
    uploader(page, "Scene photos").set_input_files([str(p) for p in rooms])
    expect(page.get_by_text(rooms[-1].name).first).to_be_visible()
    page.get_by_role("button", name="Add scenes").click()
    expect(page.get_by_text("3 scene(s) added.")).to_be_visible()
    expect(page.get_by_text("Scenes in this session (3)")).to_be_visible()
    expect(page.locator('[data-testid="stImage"]')).to_have_count(3)
    steps.shot("scenes-added")

    # Match, then generate.
    go_to(page, "Match & generate")
    page.get_by_role("button", name="Match products to scenes").click()
    expect(page.get_by_text("Matched 3 product(s).")).to_be_visible()
    steps.shot("matched")
    page.get_by_role("button", name="Generate 3 image(s)").click()

    # Progress, live, to the end.
    expect(page.get_by_text("Generation started: 3 image(s) on their way.")).to_be_visible()
    steps.shot("progress")
    # The progress fragment's last run and the full re-run it asks for can both show it for a
    # moment (seen once with the suite on both cores): either one is the message.
    expect(page.get_by_text("All 3 image(s) done").first).to_be_visible()
    expect(page.get_by_text("3 image(s) · page 1 of 1")).to_be_visible()
    expect(page.locator('[data-testid="stImage"]')).to_have_count(3)
    steps.shot("gallery")

    # Approve one, download the approved set.
    page.locator('[class*="st-key-results-approve-"] button').first.click()  # approve
    expect(page.get_by_text("1 image(s) updated.")).to_be_visible()
    cards = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text=" · v1")
    expect(cards.filter(has_text="approved")).to_have_count(1)
    steps.shot("approved")
    page.get_by_role("button", name="Prepare ZIP of approved images").click()
    download_button = page.get_by_role("button", name="Download 1 approved image(s)")
    expect(download_button).to_be_visible()
    with page.expect_download() as started:
        download_button.click()
    target = ARTIFACTS / "approved.zip"
    started.value.save_as(str(target))
    steps.shot("downloaded")

    archive = zipfile.ZipFile(io.BytesIO(target.read_bytes()))
    pictures = [n for n in archive.namelist() if n.endswith(".jpg")]
    assert len(pictures) == 1 and "manifest.csv" in archive.namelist()
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [row["review_state"] for row in manifest] == ["approved"]
    assert manifest[0]["sku"] in {sku for sku, *_ in CATALOG}
