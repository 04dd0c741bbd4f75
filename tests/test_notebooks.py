"""The notebooks: they run clean against a populated database, and are committed stripped.

Each notebook is executed with nbclient in a real Jupyter kernel that gets its configuration
only from the environment (``VISUALIZER_HOME``, ``DATABASE_URL``, ``R2_*``), as an analyst's
kernel does, once on the embedded default and once on PostgreSQL with S3 storage. The database
holds the demo and a second client, and their first generations include refused images, so
the analysis has errors to count and the bulk re-run has something to re-run.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.factories import RefusingAI, World, build_world
from tests.plugin import backends_like
from visualizer_core import admin, backends
from visualizer_core.config import Settings
from visualizer_core.scope import ADMIN
from visualizer_core.services import generation
from visualizer_core.services.demo import create_demo

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
EXPECTED = ["01_generation_analysis", "02_bulk_rerun", "03_catalog_matching"]
CELL_TIMEOUT_S = 600

_PROJECT_IMPORT = re.compile(r"^\s*(?:from|import)\s+(visualizer_core\S*)(.*)$", re.MULTILINE)


def kernel_env(settings: Settings) -> dict[str, str]:
    """The kernel's environment: this process's, with the backends given as variables only."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("R2_", "GEMINI_", "VISUALIZER_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "MPLBACKEND")
    }
    env["VISUALIZER_HOME"] = str(settings.visualizer_home)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    if settings.database_url:
        env["DATABASE_URL"] = settings.database_url
    if settings.r2_bucket:
        assert settings.r2_endpoint and settings.r2_access_key_id
        assert settings.r2_secret_access_key is not None
        env["R2_BUCKET"] = settings.r2_bucket
        env["R2_ENDPOINT"] = settings.r2_endpoint
        env["R2_ACCESS_KEY_ID"] = settings.r2_access_key_id
        env["R2_SECRET_ACCESS_KEY"] = settings.r2_secret_access_key.get_secret_value()
    return env


def execute(path: Path, env: dict[str, str], **parameters: Any) -> Any:
    """Run the notebook in a fresh kernel, with ``parameters`` injected as papermill does."""
    notebook = nbformat.read(path, as_version=4)
    if parameters:
        position = next(
            i
            for i, cell in enumerate(notebook.cells)
            if "parameters" in cell.metadata.get("tags", [])
        )
        injected = nbformat.v4.new_code_cell(
            "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
        )
        injected.metadata["tags"] = ["injected-parameters"]
        notebook.cells.insert(position + 1, injected)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute(env=env)
    return notebook


def outputs(notebook: Any) -> list[Any]:
    return [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]


def pictures(notebook: Any) -> int:
    return sum(1 for o in outputs(notebook) if "image/png" in o.get("data", {}))


def warnings_shown(notebook: Any) -> list[str]:
    """Warnings the notebook printed (pandas deprecations, matplotlib ...): there should be none."""
    return [
        o.text
        for o in outputs(notebook)
        if o.output_type == "stream" and o.name == "stderr" and "Warning" in o.text
    ]


def shown_text(notebook: Any) -> str:
    parts = []
    for output in outputs(notebook):
        if output.output_type == "stream":
            parts.append(output.text)
        for kind in ("text/plain", "text/html"):
            if kind in output.get("data", {}):
                parts.append(output["data"][kind])
    return "\n".join(parts)


@pytest.fixture
def populated(
    backend: backends.Backends, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, Any], World]]:
    """The demo and a second client, generated with an AI that refuses desks and vases."""
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    ai = RefusingAI({"desk", "vase"})
    with backends_like(backend, ai=ai):
        demo = create_demo()
        generation.wait_for_flows(ADMIN, flow_ids=[demo["flow_id"]], timeout=120)
        world = build_world(ai, clients_count=1)
        yield demo, world


@pytest.mark.slow  # a kernel per notebook: make test runs it, test-fast not
def test_the_notebooks_run_clean_on_a_populated_database(
    populated: tuple[dict[str, Any], World],
) -> None:
    demo, world = populated
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    env = kernel_env(backends.current().settings)
    before = admin.generations()
    failed = before[before["status"] == "error"]
    assert set(failed["category"]) == {"desk", "vase"}
    assert len(failed) == 3  # the demo's desk and vase, the other client's desk

    # 01: success rates, latency, cost and errors, with their plots, for both clients.
    analysis = execute(NOTEBOOKS_DIR / "01_generation_analysis.ipynb", env)
    assert pictures(analysis) >= 3
    text = shown_text(analysis)
    assert "Demo Home Co" in text
    assert "judged unsafe" in text  # the commonest error message is listed

    # 02: every error of the last week re-run with the new prompt, then compared.
    prompt = f"a test prompt {uuid.uuid4().hex[:6]}"
    rerun = execute(NOTEBOOKS_DIR / "02_bulk_rerun.ipynb", env, NEW_PROMPT=prompt)
    after = admin.generations()
    remade = after[after["rerun_of_id"].notna()]
    assert sorted(remade["rerun_of_id"]) == sorted(failed["id"])
    assert (remade["status"] == "completed").all()
    assert (remade["flow_prompt"] == prompt).all()
    assert set(remade["session_id"]) == {demo["session_id"], str(world.session_ids[0])}
    assert pictures(rerun) >= 1  # the before and after pictures
    assert "completed" in shown_text(rerun)

    assert warnings_shown(analysis) == warnings_shown(rerun) == []

    # 03: the score matrix of the demo's session as a heatmap, and the products without a
    # good scene.
    matching = execute(
        NOTEBOOKS_DIR / "03_catalog_matching.ipynb", env, SESSION_ID=demo["session_id"]
    )
    assert pictures(matching) >= 1
    text = shown_text(matching)
    assert "Spring collection" in text
    assert "have no good scene" in text
    assert warnings_shown(matching) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_are_stripped_and_use_only_the_admin_api(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", []), "the first code cell: parameters"
    for cell in code:
        assert cell.outputs == [], f"{path.name} has outputs: strip them before committing"
        assert cell.execution_count is None, f"{path.name} has execution counts"
        assert "execution" not in cell.metadata
    assert "widgets" not in notebook.metadata
    imports = [
        (module, rest.strip())
        for cell in code
        for module, rest in _PROJECT_IMPORT.findall(cell.source)
    ]
    assert imports == [("visualizer_core", "import admin")], imports
