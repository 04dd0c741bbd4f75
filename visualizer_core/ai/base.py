"""The AI interface: analyse products and scenes, generate product-in-scene images.

Two implementations satisfy it: :mod:`visualizer_core.ai.local` (offline, deterministic) and
:mod:`visualizer_core.ai.gemini` (the google-genai SDK). Failures are raised as the
``ProviderError`` family of :mod:`visualizer_core.errors` so the generation task can tell a
transient failure (retry with backoff) from a permanent one (stop, keep the message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from visualizer_core.schemas import ProductAnalysis, SceneAnalysis

__all__ = [
    "AIBackend",
    "GenerationRequest",
    "GenerationResult",
    "ProductFacts",
]


@dataclass(frozen=True)
class ProductFacts:
    """What the catalog says about a product, as text."""

    name: str
    category: str | None = None
    description: str | None = None
    colors: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    dimensions: str | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """One image to make: the product's cut-out(s) placed into the scene as the prompt says."""

    product_images: tuple[bytes, ...]  # base PNGs with transparency, most important first
    scene_image: bytes  # the inspiration scene (JPEG or PNG)
    prompt: str
    aspect_ratio: str = "1:1"  # "W:H", one of schemas.ASPECT_RATIOS
    seed: int = 0
    product_analysis: ProductAnalysis | None = None
    scene_analysis: SceneAnalysis | None = None
    model: str | None = None  # None: the backend's default image model


@dataclass(frozen=True)
class GenerationResult:
    """The image a backend made, with what it cost."""

    image: bytes
    mime_type: str  # "image/jpeg" or "image/png"
    model: str
    usage: dict[str, int] = field(default_factory=dict)  # input_tokens, output_tokens, ...
    meta: dict[str, Any] = field(default_factory=dict)  # backend-specific details worth keeping
    calls: list[Any] = field(default_factory=list)  # usage.CallRecord of each provider call


@runtime_checkable
class AIBackend(Protocol):
    """What every AI backend offers. Implementations must be safe to share between threads."""

    name: str
    image_model: str
    text_model: str

    def analyze_product(self, facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
        """Categorise a product and say which rooms it belongs in, from its text and photos."""
        ...

    def analyze_scene(self, image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
        """Describe a scene: room type, style, lighting, palette, camera angle, floor line."""
        ...

    def generate(self, request: GenerationRequest) -> GenerationResult:
        """Make one image of the product in the scene."""
        ...
