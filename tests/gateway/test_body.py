"""What a request body is read as (``parse_body``), over generated bodies: the dict
``json.loads`` reads, or the 400 the gateway answers with, never another exception; and the
depth check against the nesting counted by recursion."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import example, given
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
objects = st.dictionaries(strings, values, max_size=6)


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


@given(objects, hows)
def test_a_body_reads_as_json_loads_reads_it(obj: dict[str, Any], how: str) -> None:
    body = written(obj, how)
    assert parse_body(body, LIMIT) == json.loads(body)


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
@example(1024, False)
@example(1025, True)
def test_a_body_nested_past_the_limit_is_a_400(levels: int, arrays: bool) -> None:
    inner = (b"[", b"]") if arrays else (b'{"k":', b"}")
    body = b'{"k":' + inner[0] * (levels - 1) + b"null" + inner[1] * (levels - 1) + b"}"
    # Past 1024 levels orjson's parser refuses first: not JSON it reads (orjson 3.13 reads
    # 1024 levels; `levels` counts the outer object too).
    assert refusal(body).code == ("json_too_deep" if levels <= 1024 else "invalid_json")


@st.composite
def bad_bodies(draw: st.DrawFn) -> bytes:
    """A body that is not a JSON object the gateway takes, each kind of way."""
    body = written(draw(objects.filter(bool)), draw(hows))
    kind = draw(st.sampled_from(["utf8", "control", "top", "cut", "trailing"]))
    if kind == "utf8":  # invalid UTF-8 in a string: a stray byte, a cut sequence, a surrogate
        bad = draw(st.sampled_from([b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf"]))
        return b'{"s":"a' + bad + b'",' + body[1:]
    if kind == "control":  # a control character in a string, not escaped
        return b'{"s":"a' + bytes([draw(st.integers(0, 0x1F))]) + b'",' + body[1:]
    if kind == "top":  # JSON, but not an object
        return written(draw(values.filter(lambda v: not isinstance(v, dict))), "orjson")
    if kind == "cut":
        return body[: draw(st.integers(0, len(body.rstrip()) - 1))]
    return body + draw(st.sampled_from([b"{}", b",", b"x", b"\x00", b"]"]))


@given(bad_bodies())
def test_a_bad_body_is_a_400(body: bytes) -> None:
    assert refusal(body).code == "invalid_json"


@given(st.binary(max_size=64) | bad_bodies().map(lambda b: b[: len(b) // 2] + b"\x00" + b[len(b) // 2 :]))
def test_any_bytes_read_as_json_loads_reads_them_or_are_a_400(body: bytes) -> None:
    """Never another exception type: anything else would be a 500 from the gateway."""
    try:
        obj = parse_body(body, LIMIT)
    except GatewayError as err:
        assert (err.status, err.code) == (400, "invalid_json")
    else:
        assert obj == json.loads(body.decode("utf-8"))
