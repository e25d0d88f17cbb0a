from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stopwise.sim import KINDS, count_tokens, full_document, tokenize


@given(st.text())
def test_tokens_join_back_to_the_text(text: str) -> None:
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert all(tokens)
    assert count_tokens(text) == len(tokens)


def test_about_four_characters_a_token_and_cuts_inside_words() -> None:
    tokens = tokenize("The lighthouse keeper restores everything")
    assert tokens == ["The", " ligh", "thou", "se", " keep", "er", " rest", "ores", " ever", "ythi", "ng"]
    for kind in KINDS:
        if kind != "cjk":
            doc = full_document(kind)
            assert 2.5 < len(doc) / count_tokens(doc) < 6  # indentation runs join their token


def test_cjk_is_one_or_two_characters_a_token() -> None:
    assert tokenize("清晨的港口，") == ["清晨", "的港", "口，"]
    doc = full_document("cjk")
    assert 1 <= len(doc) / count_tokens(doc) <= 2.1  # paragraph breaks add a little


def test_trailing_whitespace_is_its_own_token() -> None:
    assert tokenize("a b  \n") == ["a", " b", "  \n"]
    assert tokenize("") == []
