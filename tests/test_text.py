"""The control-character rule of the text boundary: the fast search answers as the rule says."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from visualizer_core.text import ALLOWED_CONTROLS, control_character


@given(st.text(alphabet=st.characters(max_codepoint=0x2FF), max_size=40))
def test_the_search_finds_the_first_control_character_as_the_rule_says(text: str) -> None:
    # An equal set that is not ALLOWED_CONTROLS itself takes the character-by-character path.
    assert control_character(text) == control_character(text, allowed=frozenset("\t\n\r"))


def test_what_counts_as_a_control_character() -> None:
    assert control_character("a\tb\nc\r") is None
    assert control_character("name\x00") == "NUL"
    assert control_character("ok \x1b[31m") == "U+001B"
    assert control_character("del \x7f") == "U+007F"
    assert control_character("c1 \x85 then \x00") == "U+0085"  # the first one found
    assert control_character("\xa0 no-break space, é, 漢") is None
    assert control_character("tab\t", allowed=frozenset()) == "U+0009"
    assert frozenset("\t\n\r") == ALLOWED_CONTROLS
