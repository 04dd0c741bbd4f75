"""Reading pictures back as a person checking a store's rules would: with ExifTool.

ExifTool (Debian's ``libimage-exiftool-perl``, installed by ``.ci/run``) is the reference
reader of EXIF, IPTC and XMP; the tests use it rather than the library that wrote the file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["CAMERA_AND_GPS", "read_tags"]

# Tags that say where, with what and by whom a photo was taken: none may reach a delivery.
CAMERA_AND_GPS = (
    "Make",
    "Model",
    "LensModel",
    "SerialNumber",
    "BodySerialNumber",
    "DateTimeOriginal",
    "Artist",
    "OwnerName",
    "CameraOwnerName",
    "Software",
    "ImageDescription",
    "Comment",
    "By-line",
)


def read_tags(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Every tag ExifTool finds in each file, by file name (``-G1``: group:tag keys)."""
    exiftool = shutil.which("exiftool")
    assert exiftool, "exiftool is missing: apt-get install libimage-exiftool-perl"
    found = subprocess.run(
        [exiftool, "-json", "-G1", "-a", "-n", *map(str, paths)],
        check=True,
        capture_output=True,
        text=True,
    )
    return {Path(entry["SourceFile"]).name: entry for entry in json.loads(found.stdout)}


def tag(entry: dict[str, Any], name: str) -> list[Any]:
    """The values of ``name`` in any group of one file's tags."""
    return [value for key, value in entry.items() if key.split(":")[-1] == name]


def gps_tags(entry: dict[str, Any]) -> list[str]:
    """The file's GPS tags, by key."""
    return [key for key in entry if key.startswith("GPS") or ":GPS" in key]
