"""The one catalog of error texts (stopwise.error_texts)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stopwise.diagnose import CATEGORIES
from stopwise.error_texts import CATALOG, find, matches, normalize


def test_each_text_is_listed_once_under_a_known_category() -> None:
    texts = [e.text for e in CATALOG]
    assert len(texts) == len(set(texts))
    assert {e.category for e in CATALOG} <= set(CATEGORIES)
    assert all(0 < e.weight < 1 and e.text == normalize(e.text) for e in CATALOG)


@given(st.sampled_from([e for e in CATALOG if e.pattern is None]), st.text(max_size=40), st.text(max_size=40))
def test_a_catalog_text_is_found_however_it_is_cased_wrapped_and_surrounded(entry, before, after) -> None:  # type: ignore[no-untyped-def]
    # A terminal wraps it at its spaces and indents the next line; a log puts anything around it.
    wrapped = entry.text.upper().replace(" ", "\n    ")
    assert entry in [e for e, _ in find(normalize(f"{before} {wrapped} {after}"))]
    if entry.weight >= 0.9:
        assert matches(f"{before} {wrapped} {after}", entry.category)
