"""Inspiration search: photos a person can turn into scenes of a session.

Two sources answer the same :class:`SearchPage` of :class:`InspirationPhoto`:

- :mod:`.unsplash`: the Unsplash API (``UNSPLASH_ACCESS_KEY``; ``UNSPLASH_API_URL`` points it at
  another address), with the photographer's attribution and Unsplash's download tracking.
- :mod:`.library`: the client's own scene library when there is no key: the scenes of its
  sessions, its completed generations, and the rooms the project draws itself.

:mod:`visualizer_core.services.inspiration` picks one by configuration and turns chosen photos
into scenes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "COLORS",
    "ORIENTATIONS",
    "InspirationPhoto",
    "SearchPage",
]

Source = Literal["unsplash", "session", "generation", "demo"]

ORIENTATIONS: Final = ("landscape", "portrait", "squarish")
"""The orientation filter's values (Unsplash's words)."""
COLORS: Final = (
    "black_and_white",
    "black",
    "white",
    "yellow",
    "orange",
    "red",
    "purple",
    "magenta",
    "green",
    "teal",
    "blue",
)
"""The colour filter's values (Unsplash's words)."""


@dataclass(frozen=True)
class InspirationPhoto:
    """One search result, from whichever source.

    ``ref`` says how to fetch it again: for Unsplash the photo's ``download_location``; for the
    library the session and scene, the generated image, or the demo room. ``attribution`` is
    stored with the scene made from it and shown wherever its image is.
    """

    id: str
    source: Source
    description: str
    width: int | None = None
    height: int | None = None
    color: str | None = None  # the photo's average colour, #rrggbb
    blur_hash: str | None = None  # a placeholder to show while the thumbnail loads
    thumb_url: str | None = None  # Unsplash's small picture (hotlinked, as its guidelines ask)
    attribution: dict[str, Any] | None = None
    ref: dict[str, Any] = field(default_factory=dict)

    @property
    def orientation(self) -> str | None:
        """``landscape``, ``portrait`` or ``squarish``, when the size is known."""
        if not self.width or not self.height:
            return None
        ratio = self.width / self.height
        if ratio > 1.1:
            return "landscape"
        if ratio < 1 / 1.1:
            return "portrait"
        return "squarish"


@dataclass(frozen=True)
class SearchPage:
    """One page of results. ``notice`` is a sentence to show above them, when there is one."""

    photos: list[InspirationPhoto]
    total: int
    total_pages: int
    page: int
    per_page: int
    source: Literal["unsplash", "library"]
    notice: str | None = None
    rate_limit: int | None = None  # Unsplash's requests an hour for this app, as it last said
    rate_limit_remaining: int | None = None  # of those, left in this hour, as it last said
    cached: bool = False  # answered from the cache, without asking Unsplash

    @property
    def quota_low(self) -> bool:
        """Whether the requests left this hour are few (a tenth of the limit, or 5)."""
        if self.rate_limit_remaining is None:
            return False
        floor = max(5, (self.rate_limit or 0) // 10)
        return self.rate_limit_remaining <= floor
