"""Telling the dialects apart, and reading whole captures (SSE or JSON body, either dialect)."""

from __future__ import annotations

import json

import pytest
from _streams import FIXTURES as FIXTURES_DIR
from _streams import a_text_message, fixture, o_choice, o_chunk, o_sse, sse

from stopwise.dialects import (
    AnthropicAccumulator,
    OpenAIAccumulator,
    ResponsesAccumulator,
    accumulator_for,
    detect_dialect,
    parse_body,
    parse_capture,
)
from stopwise.errors import ProtocolError, UnknownDialectError
from stopwise.outcome import State


@pytest.mark.parametrize(
    ("obj", "dialect"),
    [
        ({"type": "message", "content": []}, "anthropic"),
        ({"type": "message_start", "message": {}}, "anthropic"),
        ({"type": "content_block_delta"}, "anthropic"),
        ({"type": "ping"}, "anthropic"),
        ({"type": "error", "error": {"type": "overloaded_error"}}, "anthropic"),
        ({"object": "chat.completion", "choices": []}, "openai"),
        ({"object": "chat.completion.chunk"}, "openai"),
        ({"id": "x", "choices": []}, "openai"),  # a relay that drops "object"
        ({"error": {"message": "m"}}, "openai"),
        ({"type": "response.created"}, "responses"),
        ({"type": "response.output_text.delta", "delta": "x"}, "responses"),
        ({"object": "response", "status": "completed", "output": []}, "responses"),
        # The Responses error event: numbered, fields at the top. Without the number, or with
        # its fields nested under "error", it stays Anthropic's.
        ({"type": "error", "code": "server_error", "message": "m", "sequence_number": 3}, "responses"),
        ({"type": "error", "message": "m"}, "anthropic"),
        ({"type": "error", "error": {"type": "api_error"}, "sequence_number": 3}, "anthropic"),
        ({"type": "responses.created"}, None),
        ({"error": "text"}, None),
        ({}, None),
        ([], None),
        ("message", None),
        (None, None),
    ],
)
def test_detect_dialect(obj: object, dialect: str | None) -> None:
    assert detect_dialect(obj) == dialect


def test_accumulator_for() -> None:
    assert isinstance(accumulator_for("anthropic"), AnthropicAccumulator)
    assert isinstance(accumulator_for("responses", max_tokens=3), ResponsesAccumulator)
    acc = accumulator_for("openai", max_tokens=7)
    assert isinstance(acc, OpenAIAccumulator)
    assert acc.max_tokens == 7


def test_parse_body_dispatch_and_explicit_dialect() -> None:
    anthropic = {"type": "message", "content": [{"type": "text", "text": "a"}], "stop_reason": "end_turn"}
    assert parse_body(anthropic).dialect == "anthropic"
    openai = {"choices": [{"index": 0, "message": {"content": "b"}, "finish_reason": "stop"}]}
    assert parse_body(openai).dialect == "openai"
    # A body with no telltale "type"/"object" can still be read when the caller says which.
    bare = {"content": [{"type": "text", "text": "c"}], "stop_reason": "end_turn"}
    assert parse_body(bare, dialect="anthropic").text == "c"
    with pytest.raises(UnknownDialectError):
        parse_body(bare)
    with pytest.raises(ProtocolError):
        parse_body([1, 2])


def test_capture_of_each_dialect_as_sse() -> None:
    a = parse_capture(fixture("anthropic", "tool_use"))
    assert (a.dialect, a.stop.raw, a.state) == ("anthropic", "tool_use", State.COMPLETE)
    o = parse_capture(fixture("openai", "tool_calls_parallel"))
    assert (o.dialect, o.stop.raw, o.state) == ("openai", "tool_calls", State.COMPLETE)


def test_capture_detects_from_data_lines_alone() -> None:
    a = parse_capture(sse(a_text_message(["no event lines"]), event_lines=False))
    assert (a.dialect, a.text) == ("anthropic", "no event lines")
    o = parse_capture(o_sse([o_chunk([o_choice({"content": "x"}, "stop")])], done=False))
    assert (o.dialect, o.text) == ("openai", "x")


def test_capture_detects_openai_from_done_alone() -> None:
    outcome = parse_capture(b": keep-alive\n\ndata: [DONE]\n\n")
    assert outcome.dialect == "openai"
    assert outcome.state is State.INTERRUPTED


def test_capture_skips_undecodable_data_when_detecting() -> None:
    raw = b"data: not json\n\n" + o_sse([o_chunk([o_choice({"content": "y"}, "stop")])])
    outcome = parse_capture(raw)
    assert outcome.dialect == "openai"
    assert outcome.anomalies == {"malformed_json": 1}
    assert outcome.state is State.INTERRUPTED  # a data line was lost on the way


def test_capture_of_json_bodies_with_bom_and_whitespace() -> None:
    body = {"type": "message", "content": [{"type": "text", "text": "hé"}], "stop_reason": "max_tokens"}
    raw = b"\xef\xbb\xbf \r\n" + json.dumps(body, ensure_ascii=False).encode()
    outcome = parse_capture(raw)
    assert (outcome.dialect, outcome.text, outcome.state) == ("anthropic", "hé", State.TRUNCATED)


def test_capture_max_tokens() -> None:
    body = {"type": "message", "content": [], "stop_reason": "end_turn", "usage": {"output_tokens": 100}}
    assert parse_capture(json.dumps(body).encode(), max_tokens=100).state is State.TRUNCATED


@pytest.mark.parametrize(
    "raw",
    [
        b'{"hello": "world"}',
        b'[{"type": "message"}]',
        b'data: {"hello": 1}\n\n',
        b"event: update\ndata: 42\n\n",
    ],
)
def test_capture_of_neither_dialect(raw: bytes) -> None:
    with pytest.raises(UnknownDialectError):
        parse_capture(raw)


@pytest.mark.parametrize("raw", [b"", b"\n\n", b"just some text\nwith lines\n", b": only a comment\n\n"])
def test_capture_with_nothing_to_read(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_capture(raw)


def test_capture_of_broken_json_falls_back_to_sse_and_fails_cleanly() -> None:
    with pytest.raises(ProtocolError):
        parse_capture(b'{"type": "message", "content": [')


def test_parse_capture_reads_responses_captures_with_or_without_event_lines() -> None:
    raw = (FIXTURES_DIR / "responses" / "text_after_tool_result.sse").read_bytes()
    named = parse_capture(raw)
    assert named.dialect == "responses" and named.state is State.COMPLETE
    # Data lines only (how openai-node's snapshots write them): the payload's type decides.
    data_only = b"\n".join(line for line in raw.split(b"\n") if not line.startswith(b"event:"))
    assert parse_capture(data_only).to_dict() == named.to_dict()


def test_parse_capture_tells_the_two_error_events_apart() -> None:
    responses_error = {
        "type": "error",
        "code": "server_error",
        "message": "boom",
        "param": None,
        "sequence_number": 0,
    }
    out = parse_capture(sse([responses_error]))
    assert out.dialect == "responses" and out.state is State.FAILED
    anthropic_error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert parse_capture(sse([anthropic_error])).dialect == "anthropic"
