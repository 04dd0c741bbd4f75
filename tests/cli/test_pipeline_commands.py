"""The pipeline commands as scripts use them, on both backend sets: real processes, JSON, exits.

analyze, match, generate (with and without ``--wait``), status, export, recover, demo, worker.
"""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests import factories
from tests.cli.helpers import environment, ok_json, run
from tests.plugin import wait_until
from visualizer_core.backends import Backends
from visualizer_core.demo import art as demo_art

# Whole pipelines of processes (a Python start-up per command): make test runs them, test-fast not.
pytestmark = pytest.mark.slow


def catalog_with_photos(folder: Path) -> Path:
    """The pipeline catalog as a CSV with drawn photos; the sofa's name looks like a formula."""
    rows: list[dict[str, Any]] = []
    photos: dict[str, bytes] = {}
    for sku, name, category, _room, color in factories.PIPELINE_CATALOG:
        photos[f"{sku}.jpg"] = demo_art.draw_product(category, color=color, size=(400, 400))
        shown = "=1+2 " + name if sku == "SOFA-1" else name
        rows.append({"sku": sku, "name": shown, "category": category, "image": f"{sku}.jpg"})
    return factories.write_catalog(folder, rows, photos)


def set_up(backend: Backends, tmp_path: Path, quota: int = 100) -> dict[str, Any]:
    """A client, its catalog and a session with one scene per room type, through the command."""
    client = ok_json(backend, "client", "create", "Acme Home", "--daily-quota", str(quota))
    imported = ok_json(
        backend, "products", "import", str(catalog_with_photos(tmp_path / "cat")),
        "--client", client["id"],
    )  # fmt: skip
    assert imported["failed"] == 0
    skus = [item[0] for item in factories.PIPELINE_CATALOG]
    session = ok_json(backend, "session", "create", "--client", client["id"], "--name", "Launch")
    scenes: dict[str, str] = {}
    for seed, room in enumerate(factories.PIPELINE_ROOMS):
        picture = tmp_path / f"{room}.jpg"
        picture.write_bytes(demo_art.draw_room(room, seed=seed, size=(600, 400)))
        label = room.replace("_", " ").title()  # "Living Room", as a person types it
        added = ok_json(
            backend, "scenes", "add", "--session", session["id"], "--room-type", label,
            str(picture),
        )  # fmt: skip
        scenes[room] = added["scene_ids"][0]
    return {
        "client": client["id"],
        "session": session["id"],
        "products": dict(zip(skus, imported["product_ids"], strict=True)),
        "scenes": scenes,
    }


def test_analyze_match_generate_status_export(backend: Backends, tmp_path: Path) -> None:
    world = set_up(backend, tmp_path)
    sid = world["session"]

    assert ok_json(backend, "analyze", "--session", sid) == {
        "products": 4,
        "scenes": 4,
        "failed": [],
    }
    assert ok_json(backend, "analyze", "--session", sid)["products"] == 0

    matches = ok_json(backend, "match", "--session", sid)["matches"]
    scene_of = {m["product_id"]: m["scene_id"] for m in matches}
    for sku, _name, _category, room, _color in factories.PIPELINE_CATALOG:
        assert scene_of[world["products"][sku]] == world["scenes"][room], sku
    assert all(m["reason"] and 0 <= m["score"] <= 1 for m in matches)
    sofa = world["products"]["SOFA-1"]
    only = ok_json(backend, "match", "--session", sid, "--products", sofa)["matches"]
    assert [m["product_id"] for m in only] == [sofa]

    done = run(
        backend, "generate", "--session", sid, "--variants", "2", "--aspect-ratio", "4:5",
        "--wait", "--timeout", "120", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.strip().splitlines()
    flow = json.loads(line)
    assert flow["status"] == "completed"
    assert len(flow["image_ids"]) == 8
    assert flow["counts"] == {"total": 8, "pending": 0, "generating": 0, "completed": 8, "error": 0}
    assert "generating" in done.stderr and "8/8" in done.stderr  # the progress bar

    assert ok_json(backend, "status", "--session", sid) == flow["counts"]

    out = tmp_path / "out" / "launch.zip"
    exported = ok_json(backend, "export", "--session", sid, "--out", str(out))
    assert exported == {"images": 8, "path": str(out)}
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert sorted(names) == sorted([*(row["file"] for row in manifest), "manifest.csv"])
    assert len(manifest) == 8

    store = tmp_path / "out" / "merchant.zip"
    delivered = ok_json(
        backend, "export", "--session", sid, "--out", str(store),
        "--preset", "merchant-lifestyle", "--feed", "merchant-xml",
        "--base-url", "https://cdn.example/spring",
    )  # fmt: skip
    assert delivered["images"] == 8 and delivered["feed"] == "merchant-supplemental.xml"
    with zipfile.ZipFile(store) as archive:
        feed = archive.read("merchant-supplemental.xml").decode()
    assert feed.count("<g:lifestyle_image_link>https://cdn.example/spring/") == 8
    wrong = run(backend, "export", "--session", sid, "--out", str(store), "--feed", "shopify-csv")
    assert wrong.returncode == 1 and len(wrong.stderr.strip().splitlines()) == 1
    assert "base URL" in wrong.stderr
    sofa_rows = [row for row in manifest if row["sku"] == "SOFA-1"]
    assert [row["product_name"] for row in sofa_rows] == ["'=1+2 Harbor Three-Seat Sofa"] * 2

    delivered = ok_json(
        backend, "export", "--session", sid, "--out", str(out), "--preset", "portrait-1600x2000"
    )
    assert delivered["images"] == 8 and delivered["preset"]["size"] == "portrait_1600x2000"
    with zipfile.ZipFile(out) as archive:
        manifest = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert {(row["width"], row["height"]) for row in manifest} == {("1600", "2000")}
    assert {row["file"] for row in manifest} == {f"{r['sku']}_{r['variant']}.jpg" for r in manifest}
    refused = run(backend, "export", "--session", sid, "--out", str(out), "--preset", "poster")
    assert refused.returncode == 1 and "unknown preset 'poster'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    assert ok_json(backend, "recover")["reset"] == 0

    # Images of two products made again with a note: one new flow (lineage kept), waited for;
    # both variants of one product are two flows (a product is in a flow once).
    again = flow["image_ids"][::2][:2]
    remade = ok_json(
        backend, "rerun", *again, "--note", "softer light", "--wait", "--timeout", "120"
    )
    assert remade["status"] == "completed" and len(remade["flow_ids"]) == 1
    assert sorted(remade["image_ids"]) == sorted(again)
    assert all(len(new) == 1 for new in remade["image_ids"].values())
    assert ok_json(backend, "status", "--session", sid)["completed"] == 10
    twice = ok_json(backend, "rerun", *flow["image_ids"][:2], "--prompt", "on a rug")
    assert len(twice["flow_ids"]) == 2 and twice["status"] == "queued"
    assert ok_json(backend, "rerun", "--session", sid, "--errors")["flow_ids"] == []
    unknown = run(backend, "rerun", "00000000-0000-4000-8000-000000000000")
    assert unknown.returncode == 1 and "not found" in unknown.stderr.lower()
    assert run(backend, "rerun", *again, "--session", sid, "--errors").returncode == 2


def test_a_refused_generation_is_one_line_and_writes_nothing(
    backend: Backends, tmp_path: Path
) -> None:
    world = set_up(backend, tmp_path, quota=3)
    done = run(backend, "generate", "--session", world["session"], "--json")
    assert done.returncode == 1
    assert done.stdout == ""
    [message] = done.stderr.strip().splitlines()
    assert "3 of 3 images left today" in message and "needs 4" in message
    assert ok_json(backend, "status", "--session", world["session"])["total"] == 0

    bad = run(backend, "generate", "--session", world["session"], "--aspect-ratio", "7:3")
    assert bad.returncode == 2
    assert "aspect ratio" in bad.stderr


def wait_for_status(backend: Backends, session_id: str, timeout: float) -> dict[str, Any]:
    def settled() -> dict[str, Any] | None:
        status = ok_json(backend, "status", "--session", session_id)
        return status if status["pending"] + status["generating"] == 0 else None

    found: dict[str, Any] = wait_until(settled, timeout, "every image to be made", every_s=0.5)
    return found


def test_demo_then_the_worker_makes_its_first_generation(backend: Backends) -> None:
    demo = ok_json(backend, "demo")
    assert set(demo) >= {"client_id", "session_id", "email", "password"}
    again = ok_json(backend, "demo", "--if-missing")
    assert (again["client_id"], again["session_id"]) == (demo["client_id"], demo["session_id"])

    pending = ok_json(backend, "status", "--session", demo["session_id"])
    assert pending["pending"] == pending["total"] > 0  # the database is the queue
    recovered = ok_json(backend, "recover")
    assert (recovered["requeued"], recovered["reset"]) == (pending["total"], 0)

    worker = subprocess.Popen(
        [sys.executable, "-m", "visualizer_cli", "worker", "--concurrency", "2"],
        env=environment(backend),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        status = wait_for_status(backend, demo["session_id"], timeout=180)
    finally:
        worker.send_signal(signal.SIGTERM)  # as a process manager stops it
        _out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert "Traceback" not in err
    assert status["completed"] == status["total"] == pending["total"]
