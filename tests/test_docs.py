"""The README is the front door and links into ``docs/``: every relative link it has must land.

The pages in ``docs/`` are checked by ``make docs`` (``mkdocs build --strict``: a broken link or
anchor there fails the build); the README lives outside the site, so its links are checked here.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_relative_link_of_the_readme_reaches_a_file() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]
    assert targets, "the README links into docs/"
    missing = [t for t in targets if not (ROOT / t.split("#", 1)[0]).is_file()]
    assert missing == []


def test_the_readme_names_the_two_commands_and_points_to_configuration_and_architecture() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for needed in (
        "make run",
        "make test",
        "docs/configuration.md",
        "docs/architecture.md",
        "docker compose",
        "--scale worker",
    ):
        assert needed in text
