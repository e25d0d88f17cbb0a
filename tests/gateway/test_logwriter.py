"""What both log writers share: the characters no database stores are replaced, one for one,
and nothing else is touched."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stopwise.gateway.logwriter import storable

# Text with lone surrogates and NUL among the rest (st.characters() leaves surrogates out).
TEXT = st.text(
    st.one_of(st.characters(), st.sampled_from(["\ud800", "\udbff", "\udfff", "\x00"])), max_size=20
)
VALUES = st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), TEXT)


@given(st.dictionaries(st.sampled_from(["model", "route", "status", "notes", "uid"]), VALUES), st.booleans())
def test_storable_replaces_what_no_database_holds_one_for_one(row: dict[str, Any], nul: bool) -> None:
    """Invariant: each lone surrogate (and each NUL, when ``nul``) becomes U+FFFD; every other
    character and every non-text value stays; the result encodes as UTF-8; a row needing
    nothing is the row itself."""
    out = storable(row, nul=nul)
    assert out.keys() == row.keys()

    def bad(c: str) -> bool:
        return "\ud800" <= c <= "\udfff" or (nul and c == "\x00")

    for key, value in row.items():
        if not isinstance(value, str):
            assert out[key] is value
            continue
        assert out[key] == "".join("\ufffd" if bad(c) else c for c in value)
        out[key].encode("utf-8")
        assert not nul or "\x00" not in out[key]
    needs = any(isinstance(v, str) and any(bad(c) for c in v) for v in row.values())
    assert (out is row) == (not needs)
