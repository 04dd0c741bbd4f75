"""Installs are reproducible: every dependency is pinned in ``requirements.lock``, the
environment holds the pinned versions, container images name their versions, and
``make notebooks`` points JupyterLab at the embedded default's data by an absolute path."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import tomllib
from pathlib import Path

import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _name(text: str) -> str:
    return re.sub(r"[-_.]+", "-", text).lower()


def _pins() -> dict[str, tuple[str, Marker | None]]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line or line.startswith((" ", "#")):
            continue
        spec, _, marker = line.partition(";")
        name, _, version = spec.strip().partition("==")
        pins[_name(name)] = (version, Marker(marker.strip()) if marker.strip() else None)
    return pins


def test_every_dependency_of_pyproject_is_locked() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [*project["dependencies"]]
    for extra in ("dev", "notebooks"):
        wanted += project["optional-dependencies"][extra]
    pins = _pins()
    missing = sorted({_name(Requirement(w).name) for w in wanted} - set(pins))
    assert not missing, f"not in requirements.lock: {missing}; run `make lock`"


def test_the_environment_has_the_locked_versions() -> None:
    wrong = []
    for name, (version, marker) in _pins().items():
        if marker is not None and not marker.evaluate():
            continue
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{name} (missing)")
            continue
        if installed != version:
            wrong.append(f"{name} {installed} (locked {version})")
    assert not wrong, f"installed versions differ from requirements.lock: {wrong}; make install"


def test_compose_images_name_their_versions() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    images = {name: s["image"] for name, s in compose["services"].items() if "image" in s}
    assert images
    loose = {n: i for n, i in images.items() if ":" not in i or i.endswith((":latest", ":"))}
    assert not loose, f"images without a pinned version: {loose}"


def test_make_notebooks_uses_the_embedded_data_by_absolute_path(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VISUALIZER_HOME", "MAKEFLAGS")}
    dry = subprocess.run(
        ["make", "-n", "notebooks", f"VISUALIZER_HOME={tmp_path}/../data"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lab = next(line for line in dry.splitlines() if "jupyter lab" in line)
    assert f'VISUALIZER_HOME="{tmp_path.parent}/data"' in lab
    assert f'--ServerApp.root_dir="{ROOT / "notebooks"}"' in lab
    default = subprocess.run(
        ["make", "-n", "notebooks"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert f'VISUALIZER_HOME="{ROOT / ".visualizer"}"' in default
