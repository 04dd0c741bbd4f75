"""``visualizer fidelity`` and ``admin.fidelity``: pairs of files scored in one process."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from visualizer_core import admin
from visualizer_core.errors import InvalidInput
from visualizer_core.fidelity.examples import drift, make_product, render


def _files(folder: Path) -> dict[str, Path]:
    """A product cut-out, a faithful picture of it, a recoloured one, and a bare scene."""
    product = make_product("kitchen_storage", colour=(180, 60, 50), seed=3, label="TERRA 21")
    scene = Image.new("RGB", (1024, 768), (214, 205, 190))
    scene.paste((150, 120, 90), (0, 560, 1024, 768))
    paths = {
        "product": folder / "product.png",
        "faithful": folder / "faithful.jpg",
        "recoloured": folder / "recoloured.jpg",
        "empty": folder / "empty.jpg",
    }
    product.save(paths["product"])
    faithful, _ = render(product, scene, random.Random(1), light=(1.05, 1.0, 0.95))
    paths["faithful"].write_bytes(faithful)
    recoloured, _ = render(drift("recolour", product, random.Random(2)), scene, random.Random(1))
    paths["recoloured"].write_bytes(recoloured)
    scene.save(paths["empty"], "JPEG")
    return paths


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["VISUALIZER_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "visualizer_cli", "fidelity", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_the_command_scores_pairs_in_order(tmp_path: Path) -> None:
    f = _files(tmp_path)
    done = _run(
        str(f["product"]), str(f["faithful"]),
        str(f["product"]), str(f["recoloured"]),
        str(f["product"]), str(f["empty"]),
        "--json",
        home=tmp_path / "home",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.strip().splitlines()
    results = json.loads(line)["results"]
    assert [r["image"] for r in results] == [
        str(f["faithful"]), str(f["recoloured"]), str(f["empty"])
    ]  # fmt: skip
    faithful, recoloured, empty = results
    for r in results:
        assert set(r) >= {"product", "image", "score", "auto_approve", "found", "outline"}
        assert set(r) >= {"signals", "method"}
    assert faithful["found"] and faithful["method"] in ("keypoints", "template")
    assert len(faithful["outline"]) >= 4
    assert faithful["signals"]["delta_e"] < recoloured["signals"]["delta_e"]
    assert faithful["score"] > recoloured["score"]
    assert not empty["found"] and empty["score"] == 0.0 and empty["method"] == "not-found"


@pytest.mark.parametrize("which", ["missing", "not-an-image", "odd"])
def test_a_bad_file_is_named_on_one_line(tmp_path: Path, which: str) -> None:
    f = _files(tmp_path)
    bad = tmp_path / "broken.jpg"
    if which == "not-an-image":
        bad.write_text("hello")
    args = [str(f["product"]), str(f["faithful"])]
    if which == "odd":
        done = _run(*args, str(f["product"]), "--json", home=tmp_path / "home")
        assert done.returncode == 2
        return
    done = _run(*args, str(f["product"]), str(bad), "--json", home=tmp_path / "home")
    assert done.returncode == 1
    assert done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert str(bad) in line and "Traceback" not in done.stderr


def test_admin_fidelity_adds_the_score_and_the_signals(tmp_path: Path) -> None:
    f = _files(tmp_path)
    df = pd.DataFrame(
        {
            "sku": ["A", "B"],
            "product_path": [f["product"], f["product"]],
            "image_path": [f["faithful"], f["empty"]],
        }
    )
    out = admin.fidelity(df)
    assert list(out["sku"]) == ["A", "B"]
    assert list(out["found"]) == [True, False]
    assert out.loc[0, "score"] > 0 and out.loc[1, "score"] == 0.0
    for column in ("auto_approve", "delta_e", "outline_iou", "aspect_change", "structure"):
        assert column in out.columns
    assert out.loc[0, "delta_e"] < 8
    with pytest.raises(InvalidInput, match="image_path"):
        admin.fidelity(df.drop(columns=["image_path"]))
    with pytest.raises(InvalidInput, match=r"nowhere\.jpg"):
        admin.fidelity(df.assign(image_path=[f["faithful"], tmp_path / "nowhere.jpg"]))
