"""The whole job in a real browser, as a brand's new owner walks it: headless Chromium (Debian's)
driven by Playwright, at 1440 x 900.

``visualizer studio`` runs on a free port against a fresh ``VISUALIZER_HOME`` (the embedded
default: its in-process worker and the local AI). The owner signs in, creates a session, imports
a CSV with its photos, adds three room photos, refreshes the page (still signed in, the session
still open), matches, generates two variants of each product, and reviews with the keyboard
only: a re-run note holding every shortcut letter lands on the image shown and changes nothing
else (checked in the database), a decision is taken back with Z, a refresh keeps the member
signed in on the same image (the address names it), the bulk rule shows its images and asks
before it acts, and the approved set is delivered (the ZIP checked). Usage and Settings open
without a traceback. Each step leaves a screenshot under ``test-artifacts/studio-e2e/``.
"""

from __future__ import annotations

import csv
import io
import os
import re
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.studio.browser import (
    browser_tab,
    keys_back,
    no_traceback,
    running_studio,
    shown_image,
    visualizer,
    wait_for_counter,
    wait_idle,
)
from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.db import repo
from visualizer_core.db.models import Flow, Product
from visualizer_core.demo import art as demo_art
from visualizer_core.scope import ADMIN
from visualizer_core.services import sessions

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "studio-e2e"
EMAIL = "owner@brand.test"
PASSWORD = "a long studio password"
CATALOG = (
    ("SOFA-7", "Linen Three-Seat Sofa", "sofa", "living_room", (90, 110, 140)),
    ("BED-7", "Walnut Platform Bed", "bed", "bedroom", (120, 90, 70)),
    ("DESK-7", "Oak Writing Desk", "desk", "home_office", (160, 120, 80)),
)
VARIANTS = 2
IMAGES = VARIANTS * len(CATALOG)
EVERY_KEY = "Zinc feet: bad box, ax the flap, deep sepia, lux 1 2 3 4 5 6 7 8 9!"
""" A note holding every letter and digit review has a shortcut for (A B D E F L N P S X Z,
1-9)."""
SLOW = 90_000  # ms: generous, for a loaded two-core machine


@dataclass
class Home:
    """The studio's ``VISUALIZER_HOME``, read as a person checking the database would."""

    path: Path
    client_id: str

    def _backends(self) -> backends.Backends:
        return backends.build(
            load_settings(
                visualizer_home=self.path, database_url=None, redis_url=None, r2_bucket=None
            )
        )

    def session_id(self) -> uuid.UUID:
        built = self._backends()
        try:
            with backends.using(built):
                [only] = sessions.list_sessions(ADMIN, client_id=self.client_id)
        finally:
            built.close()
        return only.id

    def images(self) -> dict[uuid.UUID, tuple[str, int, str, bool, uuid.UUID | None, str]]:
        """Every image of the session: sku, variant (from 1), review state, favourite, what it
        re-makes, and its flow's prompt."""
        session_id = self.session_id()
        built = self._backends()
        try:
            with built.transaction() as db:
                found = {}
                for image in repo.images_of_session(db, session_id):
                    flow = db.get(Flow, image.flow_id)
                    product = db.get(Product, image.product_id)
                    assert flow is not None and product is not None
                    found[image.id] = (
                        product.sku,
                        image.variant + 1,
                        image.review_state,
                        image.favourite,
                        image.rerun_of_id,
                        str(flow.settings.get("prompt") or ""),
                    )
                return found
        finally:
            built.close()


@pytest.fixture
def home(tmp_path: Path) -> Home:
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
    return Home(tmp_path / "home", client["id"])


@pytest.fixture
def page(home: Home, tmp_path: Path) -> Iterator[Page]:
    """A browser tab at 1440 x 900 on a running studio over ``home`` (the embedded default)."""
    env = {**os.environ, "VISUALIZER_HOME": str(home.path)}
    for name in ("DATABASE_URL", "REDIS_URL", "R2_BUCKET", "GEMINI_API_KEY"):
        env.pop(name, None)
    with (
        running_studio(env, tmp_path / "studio.log") as url,
        browser_tab(url, height=900, timeout_ms=SLOW) as tab,
    ):
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
        self.page.screenshot(path=str(ARTIFACTS / f"{self.count:02d}-{name}.png"))


def uploader(page: Page, label: str) -> Locator:
    """The file input of the uploader with this label."""
    box = page.locator('[data-testid="stFileUploader"]').filter(has_text=label)
    return box.locator('input[type="file"]')


def go_to(page: Page, title: str) -> None:
    page.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title).first).to_be_visible()
    wait_idle(page)
    no_traceback(page)


def shown_id(page: Page) -> uuid.UUID:
    """The id of the image review shows, from the page's address (``&image=<id>``)."""
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"[?&]image=[0-9a-f-]{36}(&|$)"))
    found = re.search(r"[?&]image=([0-9a-f-]{36})", page.url)
    assert found, page.url
    return uuid.UUID(found[1])


def signed_in(page: Page) -> None:
    expect(page.get_by_text(f"Signed in as {EMAIL}")).to_be_visible()


@pytest.mark.slow
def test_the_whole_job_in_the_browser(page: Page, home: Home, tmp_path: Path) -> None:
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
    signed_in(page)

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
    steps.shot("scenes-added")

    # A refresh: still signed in, on the same page, the session still open.
    page.reload()
    expect(page.get_by_role("heading", name="Inspiration")).to_be_visible()
    signed_in(page)
    expect(page.get_by_text("Scenes in this session (3)")).to_be_visible()
    expect(page.get_by_role("combobox", name="Session")).to_match_aria_snapshot(
        '- combobox "Session": Spring launch'
    )

    # Match, then generate two variants of each product.
    go_to(page, "Match & generate")
    page.get_by_role("button", name="Match products to scenes").click()
    expect(page.get_by_text("Matched 3 product(s).")).to_be_visible()
    steps.shot("matched")
    variants = page.get_by_label("Variants per product")
    variants.fill(str(VARIANTS))
    variants.press("Enter")
    generate = page.get_by_role("button", name=f"Generate {IMAGES} image(s)")
    expect(generate).to_be_enabled()
    wait_idle(page)
    generate.click()

    # Progress, live, to the end.
    expect(page.get_by_text(f"Generation started: {IMAGES} image(s) on their way.")).to_be_visible()
    steps.shot("progress")
    # The progress fragment's last run and the full re-run it asks for can both show it for a
    # moment: either one is the message.
    expect(page.get_by_text(f"All {IMAGES} image(s) done").first).to_be_visible()
    expect(page.get_by_text(f"{IMAGES} image(s) · page 1 of 1")).to_be_visible()
    steps.shot("gallery")

    # Review with the keyboard only.
    go_to(page, "Review")
    expect(page.get_by_text(f"0 of {IMAGES} reviewed")).to_be_visible()
    expect(page.locator('[data-testid="stImage"]').first).to_be_visible()
    page.keyboard.press("Escape")  # nothing focused: keys go to the page's shortcuts
    for key in ("approve", "reject", "rerun", "undo", "next"):  # no scrolling at 1440 x 900
        expect(page.locator(f".st-key-review-{key} button").first).to_be_in_viewport()
    steps.shot("review")

    # N: the note dialog names the image shown, the cursor is in its field, every shortcut
    # letter typed goes into the note, Enter sends it for that image; nothing else changes.
    sku, variant = shown_image(page)
    target = shown_id(page)
    before = home.images()
    assert before[target][:2] == (sku, variant)
    page.keyboard.press("n")
    dialog = page.get_by_role("dialog")
    expect(
        dialog.get_by_text(re.compile(rf"^{re.escape(sku)} · .* · variant {variant}$"))
    ).to_be_visible()
    note = dialog.get_by_label("What should change?")
    expect(note).to_be_focused()
    page.keyboard.type(EVERY_KEY)
    expect(note).to_have_value(EVERY_KEY)
    steps.shot("note")
    page.keyboard.press("Enter")
    expect(page.get_by_role("dialog")).to_have_count(0)
    wait_for_counter(page, 1)
    keys_back(page)
    no_traceback(page)
    after = home.images()
    remade = [i for i, row in after.items() if row[4] == target]
    assert len(remade) == 1, after
    assert after[remade[0]][:2] == (sku, variant) and after[remade[0]][5].endswith(EVERY_KEY)
    assert after[target][2] == "rejected"
    for image_id, row in before.items():  # nothing else decided, favourited or re-made
        if image_id != target:
            assert after[image_id] == row, image_id
    assert set(after) - set(before) == set(remade)

    # A, then Z: the toast names what was done; Z takes it back and shows that image again.
    sku, variant = shown_image(page)
    decided = shown_id(page)
    page.keyboard.press("a")
    expect(
        page.get_by_text(f"Approved {sku} · variant {variant}. Press Z to undo.")
    ).to_be_visible()
    wait_for_counter(page, 2)
    page.keyboard.press("z")
    expect(page.get_by_text(f"Undone: Approved {sku} · variant {variant}.")).to_be_visible()
    wait_for_counter(page, 1)
    assert shown_image(page) == (sku, variant) and shown_id(page) == decided
    assert home.images()[decided][2] == "none"
    page.keyboard.press("a")
    wait_for_counter(page, 2)
    assert home.images()[decided][2] == "approved"

    # A refresh mid-review: still signed in, on Review, on the same image (the address names
    # the session and the image), the decisions kept.
    before_move = shown_id(page)
    page.keyboard.press("ArrowRight")
    expect(page).not_to_have_url(re.compile(rf"[?&]image={before_move}(&|$)"))
    linked = shown_id(page)
    sku, variant = home.images()[linked][:2]
    expect(
        page.get_by_text(re.compile(rf"^{re.escape(sku)} · .* · variant {variant} ·"))
    ).to_be_visible()
    expect(page).to_have_url(re.compile(rf"[?&]session={home.session_id()}&"))
    page.reload()
    expect(page.get_by_role("heading", name=re.compile(r"^Review"))).to_be_visible()
    signed_in(page)
    wait_for_counter(page, 2)
    steps.shot("refreshed")
    expect(page).to_have_url(re.compile(rf"[?&]image={linked}(&|$)"))
    expect(
        page.get_by_text(re.compile(rf"^{re.escape(sku)} · .* · variant {variant} ·"))
    ).to_be_visible()
    assert shown_id(page) == linked
    no_traceback(page)
    page.keyboard.press("Escape")

    # B shows the images the rule would approve, with their pictures, and asks first.
    reviewed = 2
    page.keyboard.press("b")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Approve by the rule?")).to_be_visible()
    confirm = dialog.get_by_role("button", name=re.compile(r"^Approve \d+ image\(s\)"))
    expect(confirm).to_be_focused()
    will = int(re.search(r"Approve (\d+)", confirm.inner_text())[1])  # type: ignore[index]
    assert will > 0
    expect(dialog.locator('[data-testid="stImage"]')).to_have_count(will)
    steps.shot("bulk-rule")
    assert wait_for_counter(page, reviewed)  # nothing changed yet
    page.keyboard.press("Enter")
    expect(
        page.get_by_text(f"Approved {will} image(s) by the rule. Press Z to undo.")
    ).to_be_visible()
    wait_for_counter(page, reviewed + will)
    no_traceback(page)

    # D: deliver the approved set (P prepares, S saves).
    approved = sum(row[2] == "approved" for row in home.images().values())
    page.keyboard.press("d")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Deliver approved images", exact=True)).to_be_visible()
    wait_idle(page)
    # The cursor is on the chosen size (not in the file-name field), so P reaches the shortcuts.
    expect(dialog.get_by_role("radio", name="Square 2048 x 2048")).to_be_focused()
    page.keyboard.press("p")
    save = dialog.get_by_role("button", name=f"Save {approved} image(s) with manifest.csv")
    expect(save).to_be_visible()
    steps.shot("delivery")
    with page.expect_download() as started:
        page.keyboard.press("s")
    delivered = tmp_path / "delivery.zip"
    started.value.save_as(str(delivered))
    no_traceback(page)

    archive = zipfile.ZipFile(io.BytesIO(delivered.read_bytes()))
    pictures = [name for name in archive.namelist() if name != "manifest.csv"]
    assert len(pictures) == approved and "manifest.csv" in archive.namelist()
    manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert {row["review_state"] for row in manifest} == {"approved"}
    assert {row["sku"] for row in manifest} <= {sku for sku, *_ in CATALOG}

    # Usage and Settings, an owner's pages, open without a traceback.
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    go_to(page, "Usage")
    expect(page.get_by_text("Approved images").first).to_be_visible()
    steps.shot("usage")
    go_to(page, "Settings")
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    steps.shot("settings")
