"""The ``visualizer`` command as scripts use it: real processes, JSON on stdout, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import factories
from tests.cli.helpers import ok_json, run
from visualizer_core.backends import Backends


def test_the_core_commands_end_to_end(backend: Backends, tmp_path: Path) -> None:
    assert ok_json(backend, "db", "upgrade")["revision"]
    client = ok_json(backend, "client", "create", "Acme Home", "--daily-quota", "50")
    assert client["name"] == "Acme Home"
    user = ok_json(
        backend,
        "user",
        "create",
        "Owner@Acme.test",
        "--client",
        client["id"],
        "--role",
        "owner",
        "--password-stdin",
        stdin="correct horse battery\n",
    )
    assert user["email"] == "owner@acme.test"

    catalog = factories.write_catalog(
        tmp_path / "cat",
        [
            {"sku": "S1", "name": "Sofa", "image": "s1.jpg"},
            {"sku": "S2", "name": "", "image": "s2.jpg"},
            {"sku": "S3", "name": "Lamp", "image": "../../etc/passwd"},
            {"sku": "S4", "name": "Rug"},
        ],
        {"s1.jpg": factories.product_photo(), "s2.jpg": factories.product_photo()},
    )
    report = ok_json(backend, "products", "import", str(catalog), "--client", client["id"])
    # S2 has no name: refused. S3's photo leaves the folder: stored without it.
    assert (report["imported"], report["updated"], report["failed"]) == (3, 0, 1)
    assert [e["row"] for e in report["errors"]] == [2, 3]
    assert report["errors"][1]["url"] == "../../etc/passwd"
    assert len(report["product_ids"]) == 3
    again = ok_json(backend, "products", "import", str(catalog), "--client", client["id"])
    assert (again["imported"], again["updated"]) == (0, 3)
    assert again["product_ids"] == report["product_ids"]
    listed = ok_json(backend, "products", "list", "--client", client["id"])["products"]
    by_sku = {p["sku"]: p for p in listed}
    assert sorted(by_sku) == ["S1", "S3", "S4"]
    assert by_sku["S1"]["photo_state"] == "ok"
    assert by_sku["S3"]["photo_state"] == "missing"
    assert by_sku["S3"]["photo_errors"][0]["url"] == "../../etc/passwd"
    assert by_sku["S1"]["source_ids"]["format"] == "visualizer"
    assert by_sku["S1"]["source_ids"]["sku"] == "S1"
    assert set(by_sku["S1"]) >= {"id", "sku", "name", "category", "rooms", "photo_state"}

    session = ok_json(backend, "session", "create", "--client", client["id"], "--name", "Launch")
    scene = tmp_path / "room.jpg"
    scene.write_bytes(factories.scene_photo())
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff garbage")
    added = ok_json(
        backend,
        "scenes",
        "add",
        "--session",
        session["id"],
        "--room-type",
        "Living Room",
        str(scene),
        str(junk),
    )
    assert len(added["scene_ids"]) == 1
    assert added["failed"][0]["file"] == "junk.jpg"

    in_session = ok_json(backend, "products", "list", "--session", session["id"])
    assert in_session["products"] == listed

    status = ok_json(backend, "status", "--session", session["id"])
    assert status == {"total": 0, "pending": 0, "generating": 0, "completed": 0, "error": 0}


@pytest.mark.usefixtures("backend")
def test_refusals_are_one_line_with_exit_1(backend: Backends) -> None:
    cases = [
        ("status", "--session", "00000000-0000-0000-0000-000000000000"),
        ("status", "--session", "nonsense"),
        (
            "user",
            "create",
            "not-an-email",
            "--client",
            "00000000-0000-0000-0000-000000000000",
            "--role",
            "owner",
        ),
        ("client", "create", "   "),
    ]
    for args in cases:
        done = run(backend, *args, "--json")
        assert done.returncode == 1, (args, done.stderr)
        assert done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.usefixtures("embedded")
def test_wrong_usage_exits_2(embedded: Backends) -> None:
    for args in (
        ("client",),
        ("user", "create", "a@b.c", "--client", "x", "--role", "king"),
        ("bogus-command",),
        ("status",),
    ):
        done = run(embedded, *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)


def test_products_import_reads_a_shopify_export(embedded: Backends, tmp_path: Path) -> None:
    assert ok_json(embedded, "db", "upgrade")["revision"]
    client = ok_json(embedded, "client", "create", "Nord")
    export = tmp_path / "products_export.csv"
    export.write_text(
        "Handle,Title,Body (HTML),Type,Variant SKU,Image Src,Image Position\n"
        "oslo,Oslo Sofa,<p>Deep</p>,Sofas,OSLO-1,,\n"
        "oslo,,,,OSLO-2,,\n"
        "hood,Cooker Hood,,Kitchen,,,\n",
        encoding="utf-8",
    )
    report = ok_json(embedded, "products", "import", str(export), "--client", client["id"])
    assert (report["imported"], report["failed"], len(report["product_ids"])) == (2, 0, 2)
    again = ok_json(embedded, "products", "import", str(export), "--client", client["id"])
    assert (again["imported"], again["updated"]) == (0, 2)


def test_products_import_exits_1_only_when_nothing_was_stored(
    embedded: Backends, tmp_path: Path
) -> None:
    assert ok_json(embedded, "db", "upgrade")["revision"]
    client = ok_json(embedded, "client", "create", "Nothing Stored")
    # Every photo fails: the products are still stored, so the import succeeded.
    photos_gone = factories.write_catalog(
        tmp_path / "a", [{"sku": "A1", "name": "Chair", "image": "gone.jpg"}]
    )
    kept = ok_json(embedded, "products", "import", str(photos_gone), "--client", client["id"])
    assert (kept["imported"], kept["photos_missing"], kept["encoding"]) == (1, 1, "UTF-8")
    listed = ok_json(embedded, "products", "list", "--client", client["id"])["products"]
    assert [(p["sku"], p["photo_state"]) for p in listed] == [("A1", "missing")]
    assert "gone.jpg" in listed[0]["photo_errors"][0]["reason"]
    # Every row refused: nothing stored, exit 1 with one line saying so.
    refused = factories.write_catalog(tmp_path / "b", [{"sku": "B1"}, {"sku": "B2"}])
    done = run(embedded, "products", "import", str(refused), "--client", client["id"], "--json")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: nothing was stored from {refused}: all 2 row(s) were refused "
        "(each is named in the errors)"
    ]
    assert json.loads(done.stdout)["failed"] == 2
    human = run(embedded, "products", "list", "--client", client["id"])
    assert human.returncode == 0 and "A1: its photo gone.jpg could not be stored" in human.stdout
