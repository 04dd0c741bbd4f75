"""How the Gemini stand-in draws a picture when told to draw like a model that drifts.

By default the stand-in pastes the product flat in the scene's lower centre (its own
``_compose``). A test that needs what a generative model does to a product sets
:attr:`GeminiStandIn.drawing <tests.standins.gemini_server.GeminiStandIn>` up instead::

    server.drawing.draw_next(drift="recolour")            # the next image: the product recoloured
    server.drawing.draw_next(occluder="left")             # a block over the product's left side
    server.drawing.model_like = True                      # every image: perspective and light
    server.drawing.drawn[-1].corners                      # where it put the product

Every drawn image pastes the request's first image (the product, its alpha kept) into the last
(the scene) with :func:`visualizer_core.fidelity.examples.render`: scaled, placed on the lower
part of the frame, in a slight perspective, relit (a warm light by default) over a contact
shadow, saved as a JPEG. A drift (:data:`DRIFTS`) changes the product first, as the labelled
set's drifts do; an occluder is a plain block drawn over a side of the product afterwards (a
chair in front of it). What was drawn is kept in :attr:`Drawing.drawn`.
"""

from __future__ import annotations

import collections
import io
import math
import random
import threading
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from visualizer_core.fidelity.examples import drift, render

__all__ = ["DRIFTS", "OCCLUDERS", "Drawing", "Drawn"]

DRIFTS = ("recolour", "resize", "washed_out", "part_missing")
OCCLUDERS = ("left", "right", "bottom")


@dataclass(frozen=True)
class Plan:
    """How to draw one image."""

    drift: str | None = None
    occluder: str | None = None
    light: tuple[float, float, float] = (1.08, 1.0, 0.9)
    perspective: float = 0.04


@dataclass(frozen=True)
class Drawn:
    """What one drawn image holds: where the product went, and what was done to it."""

    corners: list[tuple[float, float]]  # the product image's corners in the picture
    product_size: tuple[int, int]  # the product image's (width, height) as sent
    light: tuple[float, float, float]
    drift: str | None
    occluder_box: tuple[int, int, int, int] | None  # (left, top, right, bottom) in the picture
    size: tuple[int, int] = (0, 0)


@dataclass
class Drawing:
    """The stand-in's drawing mode: off (flat paste) unless a test asks."""

    model_like: bool = False  # every image drawn as a model would (perspective, light)
    seed: int = 0
    drawn: list[Drawn] = field(default_factory=list)
    _queue: collections.deque[Plan] = field(default_factory=collections.deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def draw_next(
        self,
        *,
        drift: str | None = None,
        occluder: str | None = None,
        light: tuple[float, float, float] = (1.08, 1.0, 0.9),
        perspective: float = 0.04,
        count: int = 1,
    ) -> None:
        """The next ``count`` image answers are drawn so, a ``drift`` and an ``occluder`` if
        given (see :data:`DRIFTS`, :data:`OCCLUDERS`)."""
        if drift is not None and drift not in DRIFTS:
            raise ValueError(f"unknown drift {drift!r}; one of {', '.join(DRIFTS)}")
        if occluder is not None and occluder not in OCCLUDERS:
            raise ValueError(f"unknown occluder {occluder!r}; one of {', '.join(OCCLUDERS)}")
        plan = Plan(drift=drift, occluder=occluder, light=light, perspective=perspective)
        with self._lock:
            self._queue.extend(plan for _ in range(count))

    def reset(self) -> None:
        """Back to the flat paste; forgets what was drawn."""
        with self._lock:
            self._queue.clear()
            self.drawn.clear()
            self.model_like = False

    def _next_plan(self) -> Plan | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return Plan() if self.model_like else None

    def draw(self, inputs: list[tuple[str, bytes]], width: int, height: int) -> Image.Image | None:
        """The picture for a request's images ((mime type, bytes): product first, scene last),
        or None when the stand-in should paste as it always did (or cannot read them: its own
        paste then answers the error)."""
        if len(inputs) < 2:
            return None
        plan = self._next_plan()
        if plan is None:
            return None
        images = []
        for _mime, data in (inputs[0], inputs[-1]):
            try:
                with Image.open(io.BytesIO(data)) as opened:
                    images.append(opened.convert("RGBA"))
            except OSError:
                return None
        product = images[0].convert("RGBA")
        scene = images[-1].convert("RGB")
        scale = max(width / scene.width, height / scene.height)
        scene = scene.resize((math.ceil(scene.width * scale), math.ceil(scene.height * scale)))
        left, top = (scene.width - width) // 2, (scene.height - height) // 2
        scene = scene.crop((left, top, left + width, top + height))
        with self._lock:
            rng = random.Random(self.seed + len(self.drawn))
        shown = product
        if plan.drift is not None:
            kind = "proportions" if plan.drift == "resize" else plan.drift
            shown = drift(kind, product, rng)
        jpeg, placement = render(
            shown,
            scene,
            rng,
            height_share=(0.35, 0.55),
            perspective=plan.perspective,
            jpeg_quality=(90, 95),
            light=plan.light,
        )
        with Image.open(io.BytesIO(jpeg)) as opened:
            picture = opened.convert("RGB")
        box = None
        if plan.occluder is not None:
            box = _occlude(picture, placement.corners, plan.occluder)
        # Corners of the product image as sent (a resize drift stretched it: the product's
        # own corners are where its stretched copy's corners went).
        self._record(
            Drawn(
                corners=placement.corners,
                product_size=product.size,
                light=placement.gain,
                drift=plan.drift,
                occluder_box=box,
                size=(width, height),
            )
        )
        return picture

    def _record(self, drawn: Drawn) -> None:
        with self._lock:
            self.drawn.append(drawn)


def _occlude(
    picture: Image.Image, corners: list[tuple[float, float]], side: str
) -> tuple[int, int, int, int]:
    """A plain block (a chair's back, say) over a third of the product on ``side``."""
    xs = [x for x, _ in corners]
    ys = [y for _, y in corners]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    third_w, third_h = (right - left) / 3, (bottom - top) / 3
    if side == "left":
        box = (left - 10, top + third_h * 0.5, left + third_w, bottom + 10)
    elif side == "right":
        box = (right - third_w, top + third_h * 0.5, right + 10, bottom + 10)
    else:
        box = (left - 10, bottom - third_h, right + 10, bottom + 10)
    rounded = (round(box[0]), round(box[1]), round(box[2]), round(box[3]))
    ImageDraw.Draw(picture).rectangle(rounded, fill=(92, 64, 48))
    return rounded
