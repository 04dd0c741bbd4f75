"""Benchmark of the money paths: economy mode's memory, and what the spend ledger costs.

Run with ``python -m bench spend``. Two figures:

1. **Economy JSONL peak memory.** :meth:`GeminiBatch.write_jsonl` writes one line per image to
   a temporary file, each request built from storage as the line is written (as the economy
   service does), so memory should not grow with the number of images. The peak Python
   allocation (``tracemalloc``) is measured at 100 and at 2,000 images of realistic size (a
   768 px product PNG and a 1200 px scene JPEG each, both read from a storage folder for every
   line), next to the ideal floor: one request's pictures and its line. The last lines read::

       economy jsonl: 2000 images, 2.3 GB file, peak 11.2 MB (100 images: 11.1 MB), flat ratio 1.01
       economy jsonl: floor (one line) 7.9 MB, peak / floor 1.42

2. **Ledger overhead per image.** Appending an image's calls (a refused attempt, the image and
   its fidelity judgement) to its row, on the embedded SQLite default, in microseconds and
   bytes of JSON per image; and reading them back with ``admin.spend()`` per 1,000 images.
"""

from __future__ import annotations

import gc
import io
import os
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

from PIL import Image, ImageDraw

IMAGES = 2000
SMALL = 100
LEDGER_IMAGES = 500


def _product_png(seed: int) -> bytes:
    image = Image.new("RGBA", (768, 768), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    shade = (60 + seed * 37 % 180, 40 + seed * 53 % 200, 90 + seed * 17 % 150, 255)
    draw.rounded_rectangle((100, 160, 660, 640), radius=48, fill=shade)
    noise = Image.effect_noise((768, 768), 40).convert("L")
    image.putalpha(Image.composite(image.getchannel("A"), noise, image.getchannel("A")))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _scene_jpeg(seed: int) -> bytes:
    image = Image.effect_noise((1200, 800), 30 + seed).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def _economy_peak() -> None:
    from visualizer_core.ai.base import GenerationRequest
    from visualizer_core.ai.gemini import GeminiAI
    from visualizer_core.ai.gemini_batch import GeminiBatch
    from visualizer_core.storage import LocalStorage

    with tempfile.TemporaryDirectory(prefix="bench-spend-") as folder:
        storage = LocalStorage(Path(folder) / "storage")
        for n in range(8):
            storage.put(f"products/{n}.png", _product_png(n), content_type="image/png")
            storage.put(f"scenes/{n % 3}.jpg", _scene_jpeg(n % 3), content_type="image/jpeg")
        ai = GeminiAI("bench-key", base_url="http://127.0.0.1:9")  # never called
        batch = GeminiBatch(ai)

        def requests(count: int) -> Iterator[tuple[str, GenerationRequest]]:
            for n in range(count):  # read from storage for each line, as the service does
                yield (
                    str(uuid.uuid4()),
                    GenerationRequest(
                        product_images=(storage.get(f"products/{n % 8}.png"),),
                        scene_image=storage.get(f"scenes/{n % 3}.jpg"),
                        prompt=f"Place product {n} by the window, soft daylight.",
                        aspect_ratio="4:3",
                        seed=n,
                    ),
                )

        def peak(count: int) -> tuple[float, int]:
            path = Path(folder) / f"requests-{count}.jsonl"
            gc.collect()
            tracemalloc.start()
            with path.open("wb") as out:
                batch.write_jsonl(requests(count), out)
            _, top = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            size = path.stat().st_size
            path.unlink()
            return top / 1e6, size

        small, _ = peak(SMALL)
        large, size = peak(IMAGES)
        gc.collect()
        tracemalloc.start()
        one = next(requests(1))
        line = batch.ai.image_call(one[1])
        text = [p.model_dump(mode="json", by_alias=True, exclude_none=True) for p in line[1]]
        floor_bytes = len(str(text)) + len(one[1].product_images[0]) + len(one[1].scene_image)
        tracemalloc.stop()
        ai.close()
    floor = floor_bytes / 1e6
    print(
        f"economy jsonl: {IMAGES} images, {size / 1e9:.2f} GB file, peak {large:.1f} MB"
        f" ({SMALL} images: {small:.1f} MB), flat ratio {large / small:.2f}"
    )
    print(f"economy jsonl: floor (one line) {floor:.1f} MB, peak / floor {large / floor:.2f}")


def _ledger_overhead() -> None:
    from visualizer_core import admin, backends
    from visualizer_core.ai.usage import Pricing, Tokens
    from visualizer_core.config import load_settings
    from visualizer_core.db import ledger, migrate
    from visualizer_core.db.models import GeneratedImage
    from visualizer_core.scope import ADMIN
    from visualizer_core.services import clients
    from visualizer_core.services._uow import unit_of_work

    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as home:
        built = backends.build(load_settings(visualizer_home=Path(home), visualizer_ai="local"))
        migrate.upgrade(built.engine)
        backends.activate(built)
        try:
            client = clients.create_client(ADMIN, name="Bench ledger")
            ids = _rows(client.id)
            pricing = Pricing()
            image_tokens = Tokens(
                input_text=420, input_image=516, output_text=10, output_image=1120
            )
            judge_tokens = Tokens(input_text=200, input_image=516, output_text=40)
            started = time.perf_counter()
            for iid in ids:
                calls = [
                    pricing.record(
                        "image", "gemini-nano-banana-2.1", image_tokens, error="ContentRefused"
                    ),
                    pricing.record("image", "gemini-nano-banana-2.1", image_tokens),
                    pricing.record("judgement", "gemini-3.8-flash", judge_tokens),
                ]
                with unit_of_work() as db:
                    ledger.add_image_calls(db, iid, calls)
            per_image = (time.perf_counter() - started) / len(ids)
            started = time.perf_counter()
            for iid in ids:  # the same transaction without the ledger: the floor
                with unit_of_work() as db:
                    db.get(GeneratedImage, iid)
            floor = (time.perf_counter() - started) / len(ids)
            with unit_of_work() as db:
                rows = [db.get(GeneratedImage, iid) for iid in ids[:50]]
                sizes = [len(str(row.usage)) for row in rows if row is not None]
            started = time.perf_counter()
            total = admin.spend()["cost_usd"].sum()
            read_ms = (time.perf_counter() - started) / len(ids) * 1e6  # per 1,000 images
        finally:
            built.close()
            backends.reset()
    print(
        f"ledger: {len(ids)} images, 3 calls each: +{(per_image - floor) * 1e6:.0f} us per image"
        f" over a bare transaction ({floor * 1e6:.0f} us), {sum(sizes) / len(sizes):.0f} bytes"
        f" of JSON per image; admin.spend() {read_ms:.1f} ms per 1,000 images (total ${total:.2f})"
    )


def _rows(client_id: uuid.UUID) -> list[uuid.UUID]:
    """``LEDGER_IMAGES`` generated_image rows of one flow (no pictures needed)."""
    from visualizer_core.db.models import Flow, GeneratedImage, Product, StudioSession
    from visualizer_core.services._uow import unit_of_work

    with unit_of_work() as db:
        product = Product(client_id=client_id, sku="BENCH-1", name="Bench sofa")
        session = StudioSession(client_id=client_id, name="Bench")
        db.add_all([product, session])
        db.flush()
        flow = Flow(client_id=client_id, studio_session_id=session.id, settings={}, webhook={})
        db.add(flow)
        db.flush()
        rows = [
            GeneratedImage(
                client_id=client_id,
                flow_id=flow.id,
                studio_session_id=session.id,
                product_id=product.id,
                status="completed",
                usage={},
                timings={},
            )
            for _ in range(LEDGER_IMAGES)
        ]
        db.add_all(rows)
        db.flush()
        return [r.id for r in rows]


def main() -> None:
    """Print both figures."""
    os.environ.setdefault("VISUALIZER_AI", "local")
    _economy_peak()
    _ledger_overhead()


if __name__ == "__main__":
    main()
