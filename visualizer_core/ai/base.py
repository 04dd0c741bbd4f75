"""The AI interface: analyse products and scenes, generate product-in-scene images.

Two implementations satisfy it: :mod:`visualizer_core.ai.local` (offline, deterministic) and
:mod:`visualizer_core.ai.gemini` (the google-genai SDK). Failures are raised as the
``ProviderError`` family of :mod:`visualizer_core.errors` so the generation task can tell a
transient failure (retry with backoff) from a permanent one (stop, keep the message).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from visualizer_core.errors import ConfigError, ProviderError
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis

__all__ = [
    "AIBackend",
    "BatchAI",
    "BatchState",
    "GenerationRequest",
    "GenerationResult",
    "ProductFacts",
    "no_batch",
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
    image_size: str | None = None  # "1K", "2K", "4K"; None: the backend's (or model's) default


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

    supports_batch: bool
    """Whether :meth:`batch` offers a batch mode (economy flows use it; others run as usual)."""

    def batch(self) -> BatchAI[Any]:
        """The batch mode: only when :attr:`supports_batch`, else ``ConfigError``."""
        ...


class BatchState(Protocol):
    """Where a batch job is."""

    @property
    def state(self) -> str: ...

    @property
    def error(self) -> str | None: ...

    @property
    def done(self) -> bool:
        """True once the job will not change any more."""
        ...


StateT = TypeVar("StateT", bound=BatchState)


class BatchAI(Protocol[StateT]):
    """A backend's batch mode: many images as one job, cheaper, answered later."""

    def submit(
        self, requests: Sequence[tuple[str, GenerationRequest]], *, display_name: str
    ) -> str:
        """Create one job of keyed requests (one model); returns the job's name."""
        ...

    def status(self, name: str) -> StateT:
        """Poll a job."""
        ...

    def results(self, status: StateT) -> Mapping[str, GenerationResult | ProviderError]:
        """A finished job's result of each key: an image, or the error a person can act on."""
        ...


def no_batch(name: str) -> BatchAI[Any]:
    """What ``batch()`` of a backend without a batch mode does: refuse, naming the backend."""
    raise ConfigError(f"the {name} AI backend has no batch mode")
