"""Benchmark of the studio: the results and review pages of a 500-image session, under AppTest.

Run with ``python -m bench studio``. On a fresh embedded default (a temporary
``VISUALIZER_HOME``) it imports 500 drawn products, adds the demo rooms, matches, and makes a
flow of 500 images: one of each catalog item made by the local AI, the others marked completed with
copies of those pictures (set-up, not measured: the pictures' content does not matter to the
page, their number does). Then it measures, with ``streamlit.testing.v1.AppTest`` signed in as
the client's owner:

- the **first render** of the results page (progress, filters, the first page of thumbnails);
- **warm re-renders** of the same page (the median of ``ROUNDS``), what every click costs;
- **turning to the next page** of the gallery.

and on the **review page** (the keyboard review of issue 17):

- **open**: the first render of the review page (the queue of 500 in review order, the image,
  its product photo and scene, the variants, the bulk rule's count);
- **next**: the move to the next image (the median of ``REVIEW_ROUNDS``);
- **approve**: a decision saved and the move to the next undecided image (median).

The review figures are measured twice: on the embedded default (SQLite and a folder), and on
the production backends (PostgreSQL at ``BENCH_POSTGRES_URL``, default the local server, and
an S3 API server: moto's, started on loopback as the tests do). The lines read::

    studio: results page of 500 images  first 0.62 s  warm 0.54 s  next page 0.40 s  (...)
    review, embedded (SQLite + folder): open 0.16 s  next 155 ms  approve+advance 222 ms  (...)
    review, production (PostgreSQL + S3 server): open 0.15 s  next 264 ms  approve+advance 232 ms

(figures of one run on the two-core development machine while other test suites ran on it;
``--embedded-only`` skips the PostgreSQL + S3 part). The review times are the server's
(AppTest runs the page as the studio does, without a browser): pictures then load by URL
straight from the store, in parallel, and a picture seen before comes from the browser's cache.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from visualizer_core import backends
from visualizer_core.config import load_settings
from visualizer_core.db import migrate, repo
from visualizer_core.demo import art as demo_art
from visualizer_core.scope import ADMIN
from visualizer_core.services import analysis, auth, clients, generation, products, sessions
from visualizer_core.storage import S3Storage, keys

IMAGES = 500
ROUNDS = 5
REVIEW_ROUNDS = 15  # moves and decisions are short: more of them steady the median
PHOTO_SIDE = 200
EMAIL = "owner@bench.test"
PASSWORD = "bench password long"
APP = Path(__file__).resolve().parent.parent / "streamlit_app" / "app.py"
AIM_S = 2.0
AIM_NEXT_S = 0.3
POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def embedded_home() -> Iterator[tuple[backends.Backends, Path]]:
    """Fresh embedded backends in a temporary home, whatever the environment configures."""
    with tempfile.TemporaryDirectory(prefix="vz-bench-studio-") as folder:
        home = Path(folder)
        settings = load_settings(
            visualizer_home=home,
            database_url=None,
            redis_url=None,
            r2_bucket=None,
            visualizer_ai="local",
        )
        built = backends.build(settings)
        migrate.upgrade(built.engine)
        try:
            with backends.using(built):
                yield built, home
        finally:
            built.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 API server on a free loopback port, for as long as the block runs."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the S3 server (moto) did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def production_home() -> Iterator[tuple[backends.Backends, Path]]:
    """PostgreSQL (a database of its own, dropped after) and an S3 server, in-process queue."""
    from sqlalchemy import create_engine, text

    name = f"vz_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with (
            s3_server() as endpoint,
            tempfile.TemporaryDirectory(prefix="vz-bench-studio-") as folder,
        ):
            settings = load_settings(
                visualizer_home=Path(folder),
                database_url=url,
                redis_url=None,
                r2_bucket="vz-bench",
                r2_endpoint=endpoint,
                r2_access_key_id="bench",
                r2_secret_access_key="bench",
                visualizer_ai="local",
                auth_secret=secrets.token_urlsafe(32),
            )
            built = backends.build(settings)
            storage = built.storage
            if isinstance(storage, S3Storage):
                storage.ensure_bucket()
            migrate.upgrade(built.engine)
            try:
                with backends.using(built):
                    yield built, Path(folder)
            finally:
                built.close()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def set_up(count: int = IMAGES) -> dict[str, Any]:
    """A client, its owner, ``count`` products and a session with ``count`` completed images."""
    client = clients.create_client(ADMIN, name="Bench Home", daily_quota=10 * count)
    clients.create_user(ADMIN, email=EMAIL, client_id=client.id, role="owner", password=PASSWORD)
    catalog = demo_art.DEMO_CATALOG
    with tempfile.TemporaryDirectory(prefix="vz-bench-photos-") as folder:
        records = []
        for index in range(count):
            item = catalog[index % len(catalog)]
            name = f"p{index}.jpg"
            photo = demo_art.draw_product(
                item.category, color=item.color, seed=index, size=(PHOTO_SIDE, PHOTO_SIDE)
            )
            (Path(folder) / name).write_bytes(photo)
            records.append(
                {
                    "sku": f"{item.sku}-{index:04d}",
                    "name": f"{item.name} {index}",
                    "category": item.category,
                    "image": name,
                }
            )
        report = products.import_products(
            ADMIN, client_id=client.id, records=records, images_dir=Path(folder)
        )
    assert report.failed == 0, report.errors[:3]
    session = sessions.create_session(ADMIN, client_id=client.id, name="Bench collection")
    for room, seed in demo_art.DEMO_ROOMS:
        sessions.add_scenes(
            ADMIN,
            session_id=session.id,
            files=[(f"{room}-{seed}.jpg", demo_art.draw_room(room, seed=seed))],
            room_type=room,
        )
    analysis.match_session(ADMIN, session_id=session.id)
    flow = generation.generate(ADMIN, session_id=session.id, dispatch=False)
    current = backends.current()
    # One image of each catalog item is made for real (so the gallery shows true pictures);
    # the other images of that item reuse its pictures.
    with current.transaction() as db:
        rows = repo.images_of_flow(db, flow.flow_id)
        sku_of = {p.id: p.sku for p in repo.list_products(db, client_id=client.id)}
        item_of = {r.id: sku_of[r.product_id].rsplit("-", 1)[0] for r in rows}
    real: dict[str, Any] = {}
    for image_id in flow.image_ids:
        real.setdefault(item_of[image_id], image_id)
    current.queue.dispatch(list(real.values()))
    deadline = time.monotonic() + 600
    while True:
        with current.transaction() as db:
            done = repo.images_by_id(db, list(real.values()))
            made = {r.id: (r.image_key, r.thumbnail_key) for r in done if r.status == "completed"}
            still_open = [r for r in done if r.status in ("pending", "generating")]
        if not still_open:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("the real images were not made within 10 minutes")
        time.sleep(0.5)
    if len(made) != len(real):
        raise RuntimeError("some of the real images could not be made")
    pictures = {
        item: (current.storage.get(str(made[iid][0])), current.storage.get(str(made[iid][1])))
        for item, iid in real.items()
    }
    rng = random.Random(7)
    with current.transaction() as db:
        for image_id in flow.image_ids:
            if image_id in made:
                continue
            full, thumb = pictures[item_of[image_id]]
            image_key = keys.generated_image(client.id, session.id, image_id, "jpg")
            thumb_key = keys.generated_thumbnail(client.id, session.id, image_id)
            current.storage.put(image_key, full, content_type="image/jpeg")
            current.storage.put(thumb_key, thumb, content_type="image/jpeg")
            repo.update_images(
                db,
                [image_id],
                status="completed",
                image_key=image_key,
                thumbnail_key=thumb_key,
                fidelity_score=round(rng.uniform(0.6, 1.0), 3),
            )
    return {"client_id": client.id, "session_id": session.id, "images": len(flow.image_ids)}


def measure(session_id: Any) -> dict[str, float]:
    """Render times of the results page, in seconds."""
    from streamlit.testing.v1 import AppTest

    # AppTest runs the script without a browser session; Streamlit says so on every run.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(
        logging.ERROR
    )
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.session_state["auth.token"] = auth.issue_session_token(auth.sign_in(EMAIL, PASSWORD))
    app.session_state["studio.session_id"] = session_id
    app.run()
    app.switch_page("views/results.py")
    started = time.perf_counter()
    app.run()
    first = time.perf_counter() - started
    if app.exception or len(app.image) == 0:
        raise RuntimeError(f"the results page did not render: {app.exception}")
    warm = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        app.run()
        warm.append(time.perf_counter() - started)
    started = time.perf_counter()
    app.button(key="results.next").click().run()
    next_page = time.perf_counter() - started
    caption = next(c.value for c in app.caption if "image(s) · page" in c.value)
    if "page 2 of" not in caption:
        raise RuntimeError(f"the next page did not open: {caption}")
    return {
        "first": first,
        "warm": statistics.median(warm),
        "next": next_page,
        "thumbnails": float(len(app.image)),
    }


def measure_review(session_id: Any) -> dict[str, float]:
    """Times of the review page, in seconds: open, next image, approve and advance."""
    from streamlit.testing.v1 import AppTest

    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(
        logging.ERROR
    )
    app = AppTest.from_file(str(APP), default_timeout=120)
    app.session_state["auth.token"] = auth.issue_session_token(auth.sign_in(EMAIL, PASSWORD))
    app.session_state["studio.session_id"] = session_id
    app.run()
    app.switch_page("views/review.py")
    started = time.perf_counter()
    app.run()
    opened = time.perf_counter() - started
    progress = app.get("progress")
    if app.exception or not progress or f"of {IMAGES} reviewed" not in progress[0].proto.text:
        raise RuntimeError(f"the review page did not render: {app.exception}")
    moves = []
    for _ in range(REVIEW_ROUNDS):
        before = app.session_state["review.current"]
        started = time.perf_counter()
        app.button(key="review.next").click().run()
        moves.append(time.perf_counter() - started)
        if app.session_state["review.current"] == before:
            raise RuntimeError("next did not move to another image")
    decisions = []
    for _ in range(REVIEW_ROUNDS):
        started = time.perf_counter()
        app.button(key="review.approve").click().run()
        decisions.append(time.perf_counter() - started)
    text_now = app.get("progress")[0].proto.text
    if f"{REVIEW_ROUNDS} of {IMAGES} reviewed" not in text_now:
        raise RuntimeError(f"the decisions were not counted: {text_now}")
    return {
        "open": opened,
        "next": statistics.median(moves),
        "approve": statistics.median(decisions),
    }


def review_line(label: str, times: dict[str, float]) -> str:
    within = times["open"] < AIM_S and max(times["next"], times["approve"]) < AIM_NEXT_S
    return (
        f"review, {label}: open {times['open']:.2f} s  next {times['next'] * 1000:.0f} ms  "
        f"approve+advance {times['approve'] * 1000:.0f} ms  "
        f"(aim open < {AIM_S:.0f} s, next < {AIM_NEXT_S * 1000:.0f} ms: "
        f"{'within' if within else 'OVER'})"
    )


def screenshot(home: Path, target: Path) -> None:
    """Start ``visualizer studio`` on ``home``, sign in, and save a picture of the gallery."""
    from playwright.sync_api import expect, sync_playwright

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "VISUALIZER_HOME": str(home)}
    for name in ("DATABASE_URL", "REDIS_URL", "R2_BUCKET"):
        env.pop(name, None)
    command = [str(Path(sys.executable).parent / "visualizer"), "studio", "--port", str(port)]
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the studio did not start") from None
                time.sleep(0.5)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            page = browser.new_page(viewport={"width": 1440, "height": 1400})
            page.set_default_timeout(90_000)
            page.goto(url)
            page.get_by_label("Email").fill(EMAIL)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("link", name="Results").click()
            expect(page.get_by_text(f"{IMAGES} image(s) · page 1 of")).to_be_visible()
            expect(page.locator('[data-testid="stImage"]')).to_have_count(24)
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target), full_page=True)
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> None:
    """Print the render times of the results page of a 500-image session."""
    parser = argparse.ArgumentParser(prog="python -m bench.studio")
    parser.add_argument("--screenshot", type=Path, help="also save a picture of the gallery")
    parser.add_argument(
        "--embedded-only", action="store_true", help="skip the PostgreSQL + S3 measurement"
    )
    args = parser.parse_args(argv or [])
    print(f"studio bench: {IMAGES} completed images in one session, AppTest, median of {ROUNDS}")
    with embedded_home() as (_built, home):
        made = set_up(IMAGES)
        times = measure(made["session_id"])
        embedded_review = measure_review(made["session_id"])
        if args.screenshot is not None:
            screenshot(home, args.screenshot)
            print(f"gallery screenshot: {args.screenshot}")
    verdict = "within" if max(times["first"], times["next"]) < AIM_S else "OVER"
    print(
        f"studio: results page of {made['images']} images  first {times['first']:.2f} s  "
        f"warm {times['warm']:.2f} s  next page {times['next']:.2f} s  "
        f"({int(times['thumbnails'])} thumbnails a page; aim < {AIM_S:.0f} s: {verdict})",
        flush=True,
    )
    print(review_line("embedded (SQLite + folder)", embedded_review), flush=True)
    if not args.embedded_only:
        with production_home():
            made = set_up(IMAGES)
            production_review = measure_review(made["session_id"])
        print(review_line("production (PostgreSQL + S3 server)", production_review))


if __name__ == "__main__":
    main(sys.argv[1:])
