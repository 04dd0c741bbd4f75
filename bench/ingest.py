"""Benchmark of product-photo ingest against the bare Pillow work it cannot avoid.

Run with ``python -m bench.ingest``. It draws 500 product photos in memory (a 500x500 JPEG:
a shaded product shape on white, each different and all deterministic), then measures on every
core, through a process pool:

- the **floor**: decode the JPEG, encode one PNG and one JPEG of it (the least work that can
  produce a base PNG and a preview, with the same encoder settings ingest uses);
- **ingest**: :func:`visualizer_core.images.ingest.ingest_image` on the same bytes.

Each is timed ``ROUNDS`` times, alternating, and the best round counts. The last line reads::

    ingest: 500 images  floor 812.3 img/s  ingest 455.1 img/s  ratio 0.56

A second figure runs the whole catalog import (``products.import_products``) of the same
500 photos on a fresh embedded default: CSV parsing, ingest, the three derivatives written to
the storage folder and the rows to SQLite, against the same floor.
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from visualizer_core.images.ingest import ingest_image, to_jpeg, to_png

IMAGES = 500
SIDE = 500
ROUNDS = 3


@dataclass(frozen=True)
class BenchResult:
    """Throughput of the floor and of ingest, in images per second."""

    images: int
    workers: int
    floor_per_s: float
    ingest_per_s: float

    @property
    def ratio(self) -> float:
        """Ingest throughput as a fraction of the floor's."""
        return self.ingest_per_s / self.floor_per_s

    def line(self) -> str:
        """The result as one parseable line."""
        return (
            f"ingest: {self.images} images  floor {self.floor_per_s:.1f} img/s  "
            f"ingest {self.ingest_per_s:.1f} img/s  ratio {self.ratio:.2f}"
        )


def product_photo(seed: int, side: int = SIDE) -> bytes:
    """A JPEG of a product-like shape with a soft shadow on white; the same seed, same bytes."""
    rng = random.Random(seed)
    scale = 2  # draw large and scale down, for antialiased edges like a real photo
    big = side * scale
    image = Image.new("RGB", (big, big), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    colour = (rng.randrange(20, 200), rng.randrange(20, 200), rng.randrange(20, 200))
    left, top = rng.randrange(big // 10, big // 3), rng.randrange(big // 10, big // 3)
    right, bottom = (
        big - rng.randrange(big // 10, big // 3),
        big - rng.randrange(big // 8, big // 4),
    )
    shadow = Image.new("L", (big, big), 0)
    ImageDraw.Draw(shadow).ellipse(
        (left, bottom - big // 40, right, bottom + big // 40), fill=rng.randrange(60, 120)
    )
    image.paste((150, 150, 150), mask=shadow.filter(ImageFilter.GaussianBlur(big // 60)))
    kind = seed % 3
    if kind == 0:
        draw.ellipse((left, top, right, bottom), fill=colour)
    elif kind == 1:
        draw.rounded_rectangle((left, top, right, bottom), radius=big // 12, fill=colour)
    else:
        draw.polygon([((left + right) // 2, top), (right, bottom), (left, bottom)], fill=colour)
    highlight = tuple(min(255, c + 60) for c in colour)
    draw.ellipse(
        (
            left + (right - left) // 4,
            top + (bottom - top) // 5,
            (left + right) // 2,
            (top + bottom) // 2,
        ),
        fill=(highlight[0], highlight[1], highlight[2]),
    )
    image = image.resize((side, side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _floor_one(data: bytes) -> int:
    """Decode, then one PNG and one JPEG: the minimum work behind the derivatives."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return len(to_png(image)) + len(to_jpeg(image))


def _ingest_one(data: bytes) -> int:
    result = ingest_image(data, filename="bench.jpg")
    return len(result.base_png) + len(result.preview_jpeg) + len(result.thumbnail_jpeg)


def _warm(_: int) -> int:
    """Start a worker: imports done, one photo each way, so timings exclude start-up."""
    photo = product_photo(0)
    return _floor_one(photo) + _ingest_one(photo)


def _time(
    pool: ProcessPoolExecutor, work: Callable[[bytes], int], photos: Sequence[bytes], chunk: int
) -> float:
    started = time.perf_counter()
    total = sum(pool.map(work, photos, chunksize=chunk))
    elapsed = time.perf_counter() - started
    assert total > 0
    return elapsed


def run(images: int = IMAGES, *, rounds: int = ROUNDS, workers: int | None = None) -> BenchResult:
    """Measure the floor and ingest over ``images`` photos on ``workers`` processes."""
    workers = workers or os.cpu_count() or 1
    photos = [product_photo(seed) for seed in range(images)]
    floor_best = ingest_best = float("inf")
    chunk = max(1, images // (8 * workers))
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_warm, range(workers)))
        for _ in range(rounds):
            floor_best = min(floor_best, _time(pool, _floor_one, photos, chunk))
            ingest_best = min(ingest_best, _time(pool, _ingest_one, photos, chunk))
    return BenchResult(images, workers, images / floor_best, images / ingest_best)


def run_import(images: int = IMAGES) -> float:
    """Images per second of a whole catalog import into a fresh embedded default."""
    import csv
    import tempfile
    from pathlib import Path

    from visualizer_core import backends
    from visualizer_core.config import load_settings
    from visualizer_core.db import migrate
    from visualizer_core.scope import ADMIN
    from visualizer_core.services import clients, products

    with tempfile.TemporaryDirectory(prefix="vz-bench-") as folder:
        root = Path(folder)
        photos = root / "photos"
        photos.mkdir()
        with (root / "catalog.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["sku", "name", "category", "image"])
            for seed in range(images):
                (photos / f"p{seed}.jpg").write_bytes(product_photo(seed))
                writer.writerow([f"SKU-{seed}", f"Product {seed}", "sofa", f"p{seed}.jpg"])
        built = backends.build(load_settings(visualizer_home=root / "home"))
        migrate.upgrade(built.engine)
        with backends.using(built):
            client = clients.create_client(ADMIN, name="Bench")
            started = time.perf_counter()
            report = products.import_products(
                ADMIN, client_id=client.id, csv_path=root / "catalog.csv", images_dir=photos
            )
            elapsed = time.perf_counter() - started
        built.close()
    assert report.imported == images, report
    return images / elapsed


def main() -> None:
    """Print the floor, the ingest throughput and their ratio, then the whole import's."""
    workers = os.cpu_count() or 1
    print(
        f"ingest bench: {IMAGES} photos {SIDE}x{SIDE} JPEG, {workers} processes, best of {ROUNDS}"
    )
    result = run(IMAGES, rounds=ROUNDS, workers=workers)
    print(result.line())
    rate = run_import(IMAGES)
    print(
        f"catalog import (CSV to stored derivatives and rows, embedded default): "
        f"{rate:.1f} img/s  ratio to floor {rate / result.floor_per_s:.2f}"
    )


if __name__ == "__main__":
    main()
