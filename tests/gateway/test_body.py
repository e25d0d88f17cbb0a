"""The request body's depth check against the nesting counted by recursion, over generated
JSON."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopwise.gateway.body import depth_over, parse_body
from stopwise.gateway.errors import GatewayError

LIMIT = 128

# Strings full of what a byte-level reading of JSON could trip on: brackets, quotes and
# backslashes (escaped when written), next to any other character.
strings = st.text(st.sampled_from('[]{}"\\,:') | st.characters(codec="utf-8"), max_size=8)
# orjson reads an integer beyond 64 bits as a float (json.loads as an int): no API field holds one.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | strings
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=40,
)


def written(obj: Any, how: str) -> bytes:
    if how == "orjson":
        return orjson.dumps(obj)
    if how == "ascii":  # every non-ASCII character a \u escape
        return json.dumps(obj).encode()
    return json.dumps(obj, ensure_ascii=False, indent=2).encode()  # spaced, as people write it


hows = st.sampled_from(["orjson", "ascii", "spaced"])


def depth(obj: object) -> int:
    """The nesting, by recursion (the top level is 1)."""
    if isinstance(obj, dict):
        return 1 + max(map(depth, obj.values()), default=0)
    if isinstance(obj, list):
        return 1 + max(map(depth, obj), default=0)
    return 0


def nested(obj: Any, levels: list[bool]) -> Any:
    """``obj`` inside one array (True) or object (False) per entry of ``levels``."""
    for array in levels:
        obj = [obj] if array else {'k[\\"': obj}
    return obj


def refusal(body: bytes) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        parse_body(body, LIMIT)
    assert caught.value.status == 400
    return caught.value


@given(values, st.lists(st.booleans(), max_size=14), st.integers(1, 16), hows)
def test_the_depth_check_is_the_nesting_compared(
    value: Any, levels: list[bool], limit: int, how: str
) -> None:
    obj = nested(value, [*levels, False])  # a body is an object
    too_deep = depth(obj) > limit
    assert depth_over(obj, limit) == too_deep
    assert depth_over(value, limit) == (depth(value) > limit)  # any value, not only an object
    body = written(obj, how)
    if too_deep:
        with pytest.raises(GatewayError) as caught:
            parse_body(body, limit)
        assert (caught.value.status, caught.value.code) == (400, "json_too_deep")
    else:
        assert parse_body(body, limit) == json.loads(body)


@given(st.integers(LIMIT + 1, 2000), st.booleans())
def test_a_body_nested_past_the_limit_is_a_400(levels: int, arrays: bool) -> None:
    inner = (b"[", b"]") if arrays else (b'{"k":', b"}")
    body = b'{"k":' + inner[0] * (levels - 1) + b"null" + inner[1] * (levels - 1) + b"}"
    # Past 1023 levels orjson's parser refuses first: not JSON it reads.
    assert refusal(body).code == ("json_too_deep" if levels <= 1023 else "invalid_json")
