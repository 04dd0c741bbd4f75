"""The model registry (ai/data/models.toml): validated once, and the docs' table made from it."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError

from visualizer_core.ai import models
from visualizer_core.ai.usage import PRICES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "money.md"


def test_the_docs_table_is_the_registry_as_printed() -> None:
    text = DOCS.read_text(encoding="utf-8")
    found = re.search(r"<!-- model table: start -->\n(.*?)<!-- model table: end -->", text, re.S)
    assert found is not None, "docs/money.md holds the model table between its markers"
    assert found.group(1) == models.markdown_table(), (
        "run: python -m visualizer_core.ai.models --table, and paste it into docs/money.md"
    )


def test_every_priced_model_is_in_the_price_table_at_its_standard_price() -> None:
    for info in models.registry().model:
        row = info.price("standard")
        if row is None:
            assert info.id not in PRICES
            continue
        price = PRICES[info.id]
        assert (price.input, price.output, price.image_output) == (
            row.input,
            row.output,
            row.image_output,
        )
        batch = info.price("batch")
        assert batch is not None and batch.input == pytest.approx(row.input / 2)


def test_sizes_and_tokens_of_the_3x_flash_image_models() -> None:
    info = models.lookup("gemini-nano-banana-2.1")
    assert info is not None and info.kind == "image"
    assert [info.image_tokens(s) for s in ("1K", "2K", "4K")] == [1120, 1680, 2520]
    assert info.image_tokens(None) == 1120
    assert models.image_sizes("models/gemini-nano-banana-2.1") == ("1K", "2K", "4K")
    assert models.image_sizes("gemini-2.5-flash-image") == ("1K",)  # it takes 1K only
    assert models.image_sizes("gemini-3.8-flash") == ()  # a text model
    assert models.lookup("gemini-3-pro-image-001") is models.lookup("gemini-3-pro-image")


def test_retirement_is_warned_30_days_ahead_and_names_the_replacement() -> None:
    shutdown = dt.date(2026, 10, 29)
    model = "gemini-3.1-flash-image"
    assert models.retirement_warning(model, on=shutdown - dt.timedelta(days=31)) is None
    soon = models.retirement_warning(model, on=shutdown - dt.timedelta(days=30))
    assert soon is not None and "30 days" in soon and "gemini-nano-banana-2.1" in soon
    gone = models.retirement_warning(model, on=shutdown)
    assert gone is not None and "was shut down" in gone and "gemini-nano-banana-2.1" in gone
    assert models.retirement_warning("gemini-nano-banana-2.1") is None


def test_a_price_holds_from_its_day_until_a_later_row() -> None:
    early = models.ModelPrice(
        mode="standard", since=dt.date(2026, 1, 1), source="a", input=1, output=2
    )
    late = models.ModelPrice(
        mode="standard", since=dt.date(2026, 6, 1), source="b", input=3, output=4
    )
    info = models.ModelInfo(
        id="m", kind="text", max_input_images=1, input_image_tokens=258, prices=(late, early)
    )
    assert info.price(on=dt.date(2026, 3, 1)) == early
    assert info.price(on=dt.date(2026, 7, 1)) == late
    assert info.price(on=dt.date(2025, 1, 1)) == early  # the earliest known, before any
    assert info.price("batch") is None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"sizes": {"1K": 1120}, "default_size": "2K"}, "default_size"),
        ({"sizes": {"1K": 1120, "3K": 1}}, "unknown output size"),
        ({"shutdown": "2027-01-01"}, "names its replacement"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_the_registry_is_validated(change: dict[str, object], words: str) -> None:
    data = tomllib.loads(
        resources.files("visualizer_core.ai").joinpath("data/models.toml").read_text("utf-8")
    )
    data["model"][0].update(change)
    with pytest.raises(ValidationError, match=words):
        models.Registry.model_validate(data)
