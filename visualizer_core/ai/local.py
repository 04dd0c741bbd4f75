"""The local AI backend: offline and deterministic analysers, and a compositor for generation.

It does honest work: products are categorised from their text and coloured from their photo,
scenes are measured from their pixels, and generation places the cut-out product into the
scene at a category-aware scale with a contact shadow and the scene's light.
"""

from __future__ import annotations

from typing import Any

from visualizer_core.ai import compositor, local_analysis
from visualizer_core.ai.base import (
    BatchAI,
    GenerationRequest,
    GenerationResult,
    ProductFacts,
    no_batch,
)
from visualizer_core.schemas import ProductAnalysis, SceneAnalysis

__all__ = ["LocalAI"]


class LocalAI:
    """The embedded default's AI backend."""

    name = "local"
    image_model = "local-compositor-v1"
    text_model = "local-analysis-v1"

    def analyze_product(self, facts: ProductFacts, images: list[bytes]) -> ProductAnalysis:
        return local_analysis.analyze_product(facts, images)

    def analyze_scene(self, image: bytes, *, room_type_hint: str | None = None) -> SceneAnalysis:
        return local_analysis.analyze_scene(image, room_type_hint=room_type_hint)

    def generate(self, request: GenerationRequest) -> GenerationResult:
        return compositor.compose(request)

    supports_batch = False

    def batch(self) -> BatchAI[Any]:
        return no_batch(self.name)
