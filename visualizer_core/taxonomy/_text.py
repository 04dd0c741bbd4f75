"""Text as the taxonomy reads it: lowercase ASCII words, phrase breaks kept, plurals folded."""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = ["BOUNDARY", "normalize_text", "singular", "words"]

BOUNDARY = "."

_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_BREAKS = re.compile(r"[.,;:!?()\[\]{}/\\|<>\u2022\u00b7\u2013\u2014\n\r\t\"]+")
# A hyphen with space on both sides parts a name as a dash does ("Metal Blind - Sand - 25mm":
# the colour and the size after it are not the product); "T-Shirt" keeps its hyphen.
_SPACED_HYPHEN = re.compile(r"(?<=\s)-+(?=\s)")
_NON_WORD = re.compile(r"[^a-z0-9.]+")
_DOTTED = re.compile(r"(?<![a-z0-9])(?:[a-z]\.){2,}")

# Plurals that the suffix rules below get wrong.
_IRREGULAR = {
    "shelves": "shelf",
    "knives": "knife",
    "leaves": "leaf",
    "loaves": "loaf",
    "halves": "half",
    "wolves": "wolf",
    "calves": "calf",
    "scarves": "scarf",
    "mice": "mouse",
    "geese": "goose",
    "feet": "foot",
    "teeth": "tooth",
    "men": "man",
    "women": "woman",
    "people": "person",
    "series": "series",
    "species": "species",
    "cookies": "cookie",
    "movies": "movie",
    "pies": "pie",
    "ties": "tie",
    "lingerie": "lingerie",
}
_KEEP = ("ss", "us", "is", "ous", "ics")
_KEEP_WORDS = frozenset({"canvas", "gas", "atlas", "christmas", "alias", "texas", "yes", "news"})


def normalize_text(text: str) -> str:
    """Lowercase ASCII words separated by single spaces; punctuation that ends a phrase
    (``. , ; : / > ( )`` and the like) becomes a ``.`` token so phrases never match across it.
    """
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = _APOSTROPHES.sub("", text).replace("&", " and ").replace("+", " and ")
    text = _DOTTED.sub(lambda m: m.group(0).replace(".", ""), text)  # "t.v." is "tv"
    text = _BREAKS.sub(" . ", _SPACED_HYPHEN.sub(" . ", text))
    text = _NON_WORD.sub(" ", text)
    out: list[str] = []
    for token in text.split():
        if token != BOUNDARY or (out and out[-1] != BOUNDARY):
            out.append(token)
    while out and out[-1] == BOUNDARY:
        out.pop()
    return " ".join(out)


def words(text: str) -> list[str]:
    """The words of ``text``, phrase breaks dropped."""
    return [t for t in normalize_text(text).split() if t != BOUNDARY]


@functools.lru_cache(maxsize=65536)
def singular(word: str) -> str:
    """The singular of an English noun, by suffix rules good enough for category names."""
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or word.isdigit() or word.endswith(_KEEP) or word in _KEEP_WORDS:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word
