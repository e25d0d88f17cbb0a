"""Anthropic Messages: streams folded into the final message with an honest verdict, non-stream
bodies, mid-stream errors and bad input. Fixtures are the team's files in tests/fixtures/anthropic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from _streams import (
    A_MESSAGE_STOP,
    a_block,
    a_delta,
    a_json,
    a_message_delta,
    a_start,
    a_stop,
    a_text,
    a_text_message,
    fixture,
    fixture_names,
    fold,
    sse,
)

from stopwise.dialects import AnthropicAccumulator, parse_body
from stopwise.dialects.anthropic import parse_message
from stopwise.errors import APIError, OverloadedError, ProtocolError
from stopwise.outcome import Outcome, State, StopReason
from stopwise.sse import ServerSentEvent


def run(events: list[dict[str, Any]], **kw: Any) -> Outcome:
    return fold(sse(events), "anthropic", **kw)


# --- the team's fixtures: one per stop reason and per fault ---------------------------------

FIXTURES: dict[str, tuple[State, str | None, StopReason, str]] = {
    "end_turn_text": (State.COMPLETE, "end_turn", StopReason.END, "Hello! 你好，世界 🌍 Ça va?"),
    "stop_sequence": (
        State.COMPLETE,
        "stop_sequence",
        StopReason.STOP_SEQUENCE,
        "1. apples\n2. pears\n3. plums",
    ),
    "max_tokens_text": (
        State.TRUNCATED,
        "max_tokens",
        StopReason.MAX_TOKENS,
        "The history of the Roman Empire spans more than",
    ),
    "refusal": (State.COMPLETE, "refusal", StopReason.REFUSAL, "I can't help with that."),
    "context_window_exceeded": (
        State.TRUNCATED,
        "model_context_window_exceeded",
        StopReason.CONTEXT_WINDOW,
        "…and so the proof continues with lemma 41",
    ),
    "compaction": (State.PAUSED, "compaction", StopReason.COMPACTION, ""),
    "tool_use": (State.COMPLETE, "tool_use", StopReason.TOOL_USE, "I'll check the weather in Paris."),
    "thinking": (State.COMPLETE, "end_turn", StopReason.END, "2 + 2 = 4."),
    "citations": (State.COMPLETE, "end_turn", StopReason.END, "the grass is green and the sky is blue"),
    "server_tool_pause_turn": (State.PAUSED, "pause_turn", StopReason.PAUSE, "Let me search for that."),
    "no_message_stop": (State.COMPLETE, "end_turn", StopReason.END, "Done."),
    "cut_mid_text": (State.INTERRUPTED, None, StopReason.MISSING, "Once upon a time, there was a"),
    "cut_mid_tool_json": (State.INTERRUPTED, None, StopReason.MISSING, "Writing the file."),
    "max_tokens_in_tool": (State.TRUNCATED, "max_tokens", StopReason.MAX_TOKENS, "Saving it now."),
    "overloaded_midstream": (State.FAILED, None, StopReason.MISSING, "Here is the first part"),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(FIXTURES) == fixture_names("anthropic")


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_verdict(name: str) -> None:
    state, raw, normalized, text = FIXTURES[name]
    outcome = fold(fixture("anthropic", name), "anthropic")
    assert outcome.state is state
    assert outcome.stop.raw == raw
    assert outcome.stop.normalized is normalized
    assert outcome.text == text
    assert outcome.dialect == "anthropic"
    assert outcome.id is not None and outcome.id.startswith("msg_01")
    assert outcome.model == "claude-sonnet-4-5-20250929"
    assert outcome.anomalies == {}  # well-formed wire, even where it is cut
    assert outcome.complete is (state is State.COMPLETE)


# --- text and usage ------------------------------------------------------------------------


def test_text_blocks_and_usage() -> None:
    outcome = fold(fixture("anthropic", "end_turn_text"), "anthropic")
    assert outcome.content == [{"type": "text", "text": "Hello! 你好，世界 🌍 Ça va?"}]
    assert outcome.message["content"] == outcome.content
    assert outcome.message["stop_reason"] == "end_turn"
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens) == (25, 12)
    assert outcome.usage.estimated == set()
    assert {"input_tokens", "output_tokens"} <= outcome.usage.reported


def test_stop_sequence_is_kept() -> None:
    outcome = fold(fixture("anthropic", "stop_sequence"), "anthropic")
    assert outcome.message["stop_sequence"] == "\n4."


def test_refusal_keeps_stop_details() -> None:
    outcome = fold(fixture("anthropic", "refusal"), "anthropic")
    assert outcome.message["stop_details"] == {
        "type": "refusal",
        "category": "cyber",
        "explanation": "This request was refused due to policy.",
    }


def test_usage_in_message_delta_is_cumulative() -> None:
    outcome = run(
        [
            a_start(input_tokens=25),
            a_block(0, {"type": "text", "text": ""}),
            a_text(0, "hi"),
            a_stop(0),
            # Two deltas: output replaces (20, not 30); null input/cache leave the start's values.
            a_message_delta(None, 10, input_tokens=None, cache_read_input_tokens=None),
            a_message_delta("end_turn", 20, input_tokens=None, cache_creation_input_tokens=7),
            A_MESSAGE_STOP,
        ]
    )
    u = outcome.usage
    assert (u.input_tokens, u.output_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens) == (
        25,
        20,
        7,
        0,
    )
    assert outcome.message["usage"]["output_tokens"] == 20
    assert outcome.message["usage"]["input_tokens"] == 25
    assert outcome.state is State.COMPLETE


def test_input_tokens_in_message_delta_replace_when_present() -> None:
    outcome = run(
        [*a_text_message(["x"])[:-2], a_message_delta("end_turn", 5, input_tokens=3000), A_MESSAGE_STOP]
    )
    assert outcome.usage.input_tokens == 3000


def test_max_tokens_cap_from_the_request() -> None:
    events = a_text_message(["all of it"], "end_turn", output_tokens=4096)
    assert run(events).state is State.COMPLETE
    capped = run(events, max_tokens=4096)
    assert capped.state is State.TRUNCATED
    assert capped.stop.raw == "end_turn"
    assert run(events, max_tokens=4097).state is State.COMPLETE


def test_no_event_lines_are_accepted() -> None:
    # Logs often keep only data lines; the payload's "type" is enough (the SDK would skip them).
    outcome = fold(sse(a_text_message(["plain"]), event_lines=False), "anthropic")
    assert (outcome.text, outcome.state) == ("plain", State.COMPLETE)


def test_final_event_without_blank_line_is_read() -> None:
    raw = sse(a_text_message(["ok"])[:-1]).rstrip(b"\n")  # ends inside message_delta's block
    outcome = fold(raw, "anthropic")
    assert outcome.state is State.COMPLETE
    assert outcome.usage.output_tokens == 10


# --- tool use ------------------------------------------------------------------------------


def test_tool_use_input_and_raw_buffer() -> None:
    outcome = fold(fixture("anthropic", "tool_use"), "anthropic")
    tool = outcome.content[1]
    assert tool["type"] == "tool_use"
    assert tool["id"] == "toolu_01NRLabsLyVHZPKxbKvkfSMn"
    assert tool["name"] == "get_weather"
    assert tool["input"] == {"location": "Paris, France", "unit": "celsius"}
    assert outcome.tool_json == {"1": '{"location": "Paris, France", "unit": "celsius"}'}
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens) == (377, 65)


def test_tool_input_is_parsed_partially_while_streaming_like_the_sdk() -> None:
    acc = AnthropicAccumulator()
    for ev in [a_start(), a_block(0, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})]:
        acc.feed_json(ev)
    seen = []
    for part in ["", '{"location": "Pa', 'ris, France", "unit": "c', 'elsius", "days": [1, 2', "]}"]:
        acc.feed_json(a_json(0, part))
        seen.append(acc.snapshot()["content"][0]["input"])
    # jiter's partial mode drops an unfinished trailing string, keeps unfinished numbers/lists.
    assert seen == [
        {},
        {},
        {"location": "Paris, France"},
        {"location": "Paris, France", "unit": "celsius", "days": [1, 2]},
        {"location": "Paris, France", "unit": "celsius", "days": [1, 2]},
    ]


def test_cut_mid_tool_json_keeps_the_raw_buffer_and_the_partial_input() -> None:
    outcome = fold(fixture("anthropic", "cut_mid_tool_json"), "anthropic")
    assert outcome.tool_json["1"] == '{"path": "notes.txt", "content": "line one\\nline tw'
    assert outcome.content[1]["input"] == {"path": "notes.txt"}
    assert outcome.state is State.INTERRUPTED
    assert any("1" in why and "never stopped" in why for why in outcome.reasons)


def test_max_tokens_inside_a_tool_block_is_truncated_not_complete() -> None:
    outcome = fold(fixture("anthropic", "max_tokens_in_tool"), "anthropic")
    assert outcome.state is State.TRUNCATED
    assert outcome.tool_json["1"] == '{"path": "guide.md", "lines": ["# Guide", "## Intro'
    assert outcome.content[1]["input"] == {"path": "guide.md", "lines": ["# Guide"]}
    assert outcome.usage.output_tokens == 128
    assert "output_tokens" in outcome.usage.reported


def test_tool_use_reason_with_a_cut_tool_input_is_not_complete() -> None:
    # A relay that says tool_use over input JSON that never closed.
    events = [
        a_start(),
        a_block(0, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}),
        a_json(0, '{"a": "b'),
        a_stop(0),
        a_message_delta("tool_use", 9),
        A_MESSAGE_STOP,
    ]
    outcome = run(events)
    assert outcome.state is State.TRUNCATED
    assert any("not whole JSON" in why for why in outcome.reasons)


# --- thinking, citations, server tools, compaction -----------------------------------------


def test_thinking_and_signature() -> None:
    outcome = fold(fixture("anthropic", "thinking"), "anthropic")
    thinking = outcome.content[0]
    assert thinking == {
        "type": "thinking",
        "thinking": "The user asks 2+2. That is 4.",
        "signature": "EqQBCkYIARgCIkBexampleSignature==",
    }
    assert outcome.text == "2 + 2 = 4."  # thinking is not text


def test_signature_delta_replaces_rather_than_appends() -> None:
    events = [
        a_start(),
        a_block(0, {"type": "thinking", "thinking": "", "signature": ""}),
        a_delta(0, {"type": "thinking_delta", "thinking": "hmm"}),
        a_delta(0, {"type": "signature_delta", "signature": "first"}),
        a_delta(0, {"type": "signature_delta", "signature": "second"}),
        a_stop(0),
        a_message_delta("end_turn", 3),
    ]
    assert run(events).content[0]["signature"] == "second"


def test_citations_append() -> None:
    outcome = fold(fixture("anthropic", "citations"), "anthropic")
    cites = outcome.content[0]["citations"]
    assert [c["cited_text"] for c in cites] == ["The grass is green.", "The sky is blue."]
    assert outcome.content[0]["text"] == "the grass is green and the sky is blue"


def test_server_tool_blocks_and_results() -> None:
    outcome = fold(fixture("anthropic", "server_tool_pause_turn"), "anthropic")
    assert [b["type"] for b in outcome.content] == ["text", "server_tool_use", "web_search_tool_result"]
    assert outcome.content[1]["input"] == {"query": "solar eclipse 2026 path"}
    assert outcome.content[2]["tool_use_id"] == "srvtoolu_01WYG3ziw53XMcoyKL4XcZmE"
    assert outcome.content[2]["content"][0]["url"] == "https://example.com/eclipse"
    assert outcome.message["usage"]["server_tool_use"] == {"web_search_requests": 1}
    assert outcome.state is State.PAUSED


def test_compaction_block() -> None:
    outcome = fold(fixture("anthropic", "compaction"), "anthropic")
    assert outcome.content[0]["type"] == "compaction"
    assert outcome.content[0]["content"] == "Summary of the earlier conversation."


# --- cut streams ---------------------------------------------------------------------------


def test_cut_mid_text_keeps_everything_and_estimates_usage() -> None:
    outcome = fold(fixture("anthropic", "cut_mid_text"), "anthropic")
    assert outcome.content == [{"type": "text", "text": "Once upon a time, there was a"}]
    assert outcome.usage.input_tokens == 25
    assert "input_tokens" in outcome.usage.reported
    # message_start says output_tokens 1; the real count never came, so it is estimated.
    assert outcome.usage.estimated == {"output_tokens"}
    assert "output_tokens" not in outcome.usage.reported
    assert outcome.usage.output_tokens == (len("Once upon a time, there was a") + 3) // 4
    assert any("before a stop reason" in why for why in outcome.reasons)


def test_cut_before_message_delta_with_every_block_closed() -> None:
    outcome = run(a_text_message(["whole sentence."])[:-2])
    assert outcome.state is State.INTERRUPTED
    assert outcome.text == "whole sentence."


def test_cut_inside_an_event_line() -> None:
    raw = (
        sse(a_text_message(["kept"])[:3])
        + b'event: content_block_delta\ndata: {"type":"content_block_delta","ind'
    )
    outcome = fold(raw, "anthropic")
    assert outcome.text == "kept"
    assert outcome.state is State.INTERRUPTED
    assert outcome.anomalies == {"malformed_json": 1}


def test_message_delta_with_reason_but_no_message_stop_is_complete() -> None:
    outcome = run(a_text_message(["fine"])[:-1])
    assert outcome.state is State.COMPLETE


def test_message_delta_with_a_reason_is_the_end_of_the_stream() -> None:
    # Recorded streams often lose message_stop, so a caller waiting for `done` must not hang.
    acc = AnthropicAccumulator()
    events = a_text_message(["fine"])
    for ev in events[:-2]:
        acc.feed_json(ev)
    acc.feed_json(a_message_delta(None, 5))  # usage only, no reason yet
    assert not acc.done
    acc.feed_json(events[-2])
    assert acc.done


def test_empty_stream() -> None:
    outcome = fold(b"", "anthropic")
    assert outcome.state is State.INTERRUPTED
    assert outcome.content == []
    assert "no message_start" in outcome.reasons


def test_finish_can_be_called_mid_stream() -> None:
    acc = AnthropicAccumulator()
    events = a_text_message(["one ", "two"])
    for ev in events[:3]:
        acc.feed_json(ev)
    assert acc.finish().state is State.INTERRUPTED
    assert not acc.done
    for ev in events[3:]:
        acc.feed_json(ev)
    assert acc.done
    done = acc.finish()
    assert (done.state, done.text) == (State.COMPLETE, "one two")


# --- errors inside the 200 ----------------------------------------------------------------


def test_overloaded_error_mid_stream_carries_the_partial_message() -> None:
    outcome = fold(fixture("anthropic", "overloaded_midstream"), "anthropic")
    err = outcome.error
    assert isinstance(err, OverloadedError)
    assert err.status == 200
    assert err.mid_stream
    assert err.error_type == "overloaded_error"
    assert err.message == "Overloaded"
    assert err.request_id == "req_011CVOvld0zX2cV4bN6mQ8w"
    assert err.partial is outcome
    assert err.partial.state is State.FAILED
    assert err.partial.text == "Here is the first part"
    assert outcome.to_dict()["error"]["type"] == "overloaded_error"


@pytest.mark.parametrize(
    ("error_type", "cls_name"),
    [
        ("api_error", "InternalServerError"),
        ("rate_limit_error", "RateLimitError"),
        ("mystery", "InternalServerError"),
    ],
)
def test_other_error_events_are_typed_too(error_type: str, cls_name: str) -> None:
    events = [
        *a_text_message(["so far"])[:3],
        {"type": "error", "error": {"type": error_type, "message": "m"}},
    ]
    outcome = run(events)
    assert type(outcome.error).__name__ == cls_name
    assert isinstance(outcome.error, APIError)
    assert outcome.state is State.FAILED
    assert outcome.text == "so far"


# --- bad input: skipped, counted, never an exception, never complete if content may be lost --


def _feed_raw(blocks: list[tuple[str | None, str]]) -> Outcome:
    acc = AnthropicAccumulator()
    for name, data in blocks:
        acc.feed(ServerSentEvent(event=name, data=data))
    return acc.finish()


def _wire(events: list[dict[str, Any]]) -> list[tuple[str | None, str]]:
    return [(e["type"], json.dumps(e)) for e in events]


GOOD = a_text_message(["Hello"])


@pytest.mark.parametrize(
    ("name", "blocks", "anomaly", "complete_allowed"),
    [
        (
            "malformed JSON in a data line",
            [
                *_wire(GOOD[:2]),
                ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"ty'),
                *_wire(GOOD[2:]),
            ],
            "malformed_json",
            False,
        ),
        (
            "data that is JSON but not an object",
            [*_wire(GOOD[:2]), ("content_block_delta", "[1,2]"), *_wire(GOOD[2:])],
            "malformed_json",
            False,
        ),
        (
            "unknown event type",
            [
                *_wire(GOOD[:3]),
                ("content_block_annotation", '{"type":"content_block_annotation"}'),
                *_wire(GOOD[3:]),
            ],
            "unknown_event:content_block_annotation",
            True,
        ),
        (
            # Counted but not fatal, like the SDK: new delta types appear over time, and reading
            # every stream that carries one as cut would make the finisher resume healthy answers.
            "unknown delta type",
            [*_wire(GOOD[:3]), *_wire([a_delta(0, {"type": "hologram_delta", "x": 1})]), *_wire(GOOD[3:])],
            "unknown_delta:hologram_delta",
            True,
        ),
        (
            "delta for a never-started index",
            [*_wire(GOOD[:3]), *_wire([a_text(5, "lost")]), *_wire(GOOD[3:])],
            "delta_for_unstarted_block",
            False,
        ),
        (
            "stop for a never-started index",
            [*_wire(GOOD[:4]), *_wire([a_stop(9)]), *_wire(GOOD[4:])],
            "stop_for_unstarted_block",
            True,
        ),
        (
            "duplicate block start",
            [*_wire(GOOD[:3]), *_wire([a_block(0, {"type": "text", "text": ""})]), *_wire(GOOD[3:])],
            "content_block_restarted",
            False,
        ),
        (
            "block index gap",
            [
                *_wire(GOOD[:1]),
                *_wire([a_block(1, {"type": "text", "text": ""}), a_text(1, "x"), a_stop(1)]),
                *_wire(GOOD[-2:]),
            ],
            "content_block_index_gap",
            False,
        ),
        ("duplicate message_start", [*_wire(GOOD[:1]), *_wire(GOOD)], "duplicate_message_start", True),
        (
            "text_delta on a tool block",
            [
                *_wire(
                    [
                        a_start(),
                        a_block(0, {"type": "tool_use", "id": "t", "name": "f", "input": {}}),
                        a_text(0, "stray"),
                        a_json(0, "{}"),
                        a_stop(0),
                        a_message_delta("tool_use", 3),
                    ]
                )
            ],
            "delta_type_mismatch",
            False,
        ),
        (
            "known event with fields of the wrong shape",
            [
                *_wire(GOOD[:2]),
                *_wire([{"type": "content_block_delta", "index": 0, "delta": "oops"}]),
                *_wire(GOOD[2:]),
            ],
            "malformed_content_block_delta",
            False,
        ),
        (
            "non-string text in a delta",
            [*_wire(GOOD[:2]), *_wire([a_text(0, 5)]), *_wire(GOOD[2:])],  # type: ignore[arg-type]
            "malformed_content_block_delta",
            False,
        ),
        ("event before message_start", [*_wire(GOOD[1:])], "content_block_start_before_message_start", False),
    ],
)
def test_bad_input(
    name: str, blocks: list[tuple[str | None, str]], anomaly: str, complete_allowed: bool
) -> None:
    outcome = _feed_raw(blocks)  # must not raise
    assert outcome.anomalies.get(anomaly) == 1, outcome.anomalies
    if not complete_allowed:
        assert outcome.state is not State.COMPLETE, name
    else:
        assert outcome.state is State.COMPLETE, name
    json.dumps(outcome.to_dict())  # and it still serializes


def test_unknown_fields_are_ignored_silently() -> None:
    events = [
        {**a_start(), "private_field": {"x": 1}},
        {**a_block(0, {"type": "text", "text": "", "new_thing": True}), "private_field": 1},
        {**a_text(0, "Hello!"), "private_field": [1]},
        {**a_stop(0), "private_field": None},
        {**a_message_delta("end_turn", 3), "private_field": "x"},
        {**A_MESSAGE_STOP, "private_field": {}},
    ]
    outcome = run(events)
    assert (outcome.state, outcome.text, outcome.anomalies) == (State.COMPLETE, "Hello!", {})


def test_empty_data_events_and_pings() -> None:
    outcome = _feed_raw([("ping", ""), *_wire(GOOD[:-1]), ("message_stop", "")])
    assert outcome.state is State.COMPLETE
    assert outcome.anomalies == {}


# --- non-stream bodies ---------------------------------------------------------------------


def body(reason: str | None, content: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "msg_01Body0a1b2c3d4e5f6g7h8i",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content if content is not None else [{"type": "text", "text": "Answer."}],
        "stop_reason": reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 4,
            "output_tokens": 3,
        },
        **extra,
    }


@pytest.mark.parametrize(
    ("reason", "state"),
    [
        ("end_turn", State.COMPLETE),
        ("max_tokens", State.TRUNCATED),
        ("stop_sequence", State.COMPLETE),
        ("tool_use", State.COMPLETE),
        ("pause_turn", State.PAUSED),
        ("refusal", State.COMPLETE),
        ("model_context_window_exceeded", State.TRUNCATED),
        ("compaction", State.PAUSED),
        ("brand_new_reason", State.INTERRUPTED),
        (None, State.INTERRUPTED),
    ],
)
def test_body_for_each_stop_reason(reason: str | None, state: State) -> None:
    outcome = parse_body(body(reason))
    assert outcome.state is state
    assert outcome.stop.raw == reason
    assert outcome.text == "Answer."
    assert (
        outcome.usage.input_tokens,
        outcome.usage.output_tokens,
        outcome.usage.cache_read_input_tokens,
    ) == (12, 3, 4)
    assert outcome.usage.estimated == set()


def test_body_with_tool_use_and_cap() -> None:
    content = [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {"q": "x"}},
    ]
    outcome = parse_message(body("tool_use", content), max_tokens=3)
    assert outcome.content[1]["input"] == {"q": "x"}
    # 3 output tokens of a max_tokens of 3, but a whole tool call is what it says (brief/wire.md).
    assert outcome.state is State.COMPLETE


def test_error_body() -> None:
    outcome = parse_body(
        {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": "req_011CVbody",
        }
    )
    assert outcome.state is State.FAILED
    assert isinstance(outcome.error, OverloadedError)
    assert outcome.error.request_id == "req_011CVbody"


def test_body_without_a_content_list() -> None:
    outcome = parse_body(body("end_turn") | {"content": "text?"})
    assert outcome.anomalies == {"content_not_a_list": 1}
    assert outcome.content == []
    assert outcome.state is State.INTERRUPTED  # whatever it said, we cannot read it


@pytest.mark.parametrize("bad", [[], "x", 3, None])
def test_body_that_is_not_an_object(bad: object) -> None:
    with pytest.raises(ProtocolError):
        parse_message(bad)


def test_body_with_blocks_that_are_not_objects() -> None:
    outcome = parse_body(body("end_turn", ["a string block", None, {"type": "text", "text": "ok"}]))
    assert outcome.anomalies == {"malformed_block": 2}
    assert outcome.content == [{"type": "text", "text": "ok"}]
    assert outcome.text == "ok"
    assert outcome.state is State.INTERRUPTED


def test_body_with_a_text_block_of_the_wrong_type_does_not_raise() -> None:
    outcome = parse_body(body("end_turn", [{"type": "text", "text": 5}, {"type": "text", "text": "ok"}]))
    assert outcome.text == "ok"
