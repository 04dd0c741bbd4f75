"""Scoring pairs of files in one process: what ``visualizer fidelity`` and
``admin.fidelity`` share.

Every file is read first, so that a missing or unreadable one is refused before anything is
scored, with its path in the message; a product may appear in many pairs and is prepared once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from visualizer_core.errors import InvalidImage, InvalidInput
from visualizer_core.fidelity.calibration import Calibration
from visualizer_core.fidelity.measure import Measurement, measure

__all__ = ["measure_files", "result_row"]


def _read(path: str | Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such {what} file") from None
    except OSError as error:
        raise InvalidInput(f"{path}: cannot read the {what} ({error.strerror})") from None
    try:
        with Image.open(Path(path)) as image:
            image.verify()
    except Exception as error:
        raise InvalidImage(str(path), f"is not a readable {what} ({error})") from None
    return data


def measure_files(
    pairs: Sequence[tuple[str | Path, str | Path]], *, calibration: Calibration | None = None
) -> list[Measurement]:
    """The measurement of each (product photo, picture) pair of files, in order.

    Raises :class:`~visualizer_core.errors.InvalidInput` naming the first file that is missing
    or not an image, before anything is measured.
    """
    read: dict[tuple[str, str], bytes] = {}
    for product, picture in pairs:
        for path, what in ((product, "product photo"), (picture, "image")):
            key = (str(path), what)
            if key not in read:
                read[key] = _read(path, what)
    results = []
    for product, picture in pairs:
        try:
            results.append(
                measure(
                    read[(str(product), "product photo")],
                    read[(str(picture), "image")],
                    calibration=calibration,
                )
            )
        except InvalidImage as error:
            name = product if "product" in error.filename else picture
            raise InvalidImage(str(name), error.reason) from None
    return results


def result_row(product: str | Path, image: str | Path, measured: Measurement) -> dict[str, Any]:
    """One pair's result as ``visualizer fidelity --json`` prints it."""
    return {
        "product": str(product),
        "image": str(image),
        "score": measured.score,
        "auto_approve": measured.auto_approve,
        "found": measured.found,
        "location_confidence": measured.location_confidence,
        "outline": [[x, y] for x, y in measured.outline],
        "signals": dict(measured.signals),
        "reasons": list(measured.reasons),
        "method": measured.method,
    }
