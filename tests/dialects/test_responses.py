"""The OpenAI Responses dialect: bodies and streams, real recordings (tests/fixtures/responses)
and hand-written events for the paths no public recording covers (incomplete, failed, error
events, refusals, cut streams, bad input)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from _responses_streams import (
    RESP_ID,
    call_events,
    numbered,
    r_call,
    r_created,
    r_event,
    r_message,
    r_reasoning,
    r_response,
    r_usage,
    reasoning_events,
    refusal_events,
    text_events,
)
from _streams import fold, sse

from stopwise.dialects import ResponsesAccumulator, parse_body, parse_capture
from stopwise.dialects.responses import parse_response
from stopwise.errors import (
    APIError,
    BadRequestError,
    InternalServerError,
    ProtocolError,
    RateLimitError,
)
from stopwise.outcome import State, StopReason
from stopwise.sse import iter_events

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "responses"
STREAMS = sorted(p.name for p in FIXTURES.glob("*.sse"))


def recording(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def stream(*events: dict[str, Any], terminal: dict[str, Any] | None = None) -> bytes:
    evs = [r_created(), *events]
    if terminal is not None:
        evs.append(terminal)
    return sse(numbered(evs))


def completed(output: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return r_event("response.completed", response=r_response("completed", output, **extra))


# --- real recordings -------------------------------------------------------------------------


def test_the_recordings_are_all_here() -> None:
    assert len(STREAMS) >= 5
    assert (FIXTURES / "body_output_text.json").is_file()


@pytest.mark.parametrize("name", STREAMS)
def test_every_recording_is_a_complete_responses_stream(name: str) -> None:
    outcome = parse_capture(recording(name))
    assert outcome.dialect == "responses"
    assert outcome.state is State.COMPLETE, outcome.reasons
    assert outcome.stop.raw == "completed"
    assert outcome.anomalies == {}
    assert outcome.reasons == []
    assert outcome.id is not None and outcome.id.startswith("resp_")
    assert {"input_tokens", "output_tokens"} <= outcome.usage.reported


def test_recorded_function_call() -> None:
    outcome = fold(recording("function_call.sse"), "responses")
    assert outcome.stop.normalized is StopReason.TOOL_USE
    [call] = outcome.content
    assert call["type"] == "tool_call"
    assert call["name"] == "get_capital"
    assert call["id"] == "call_kL0PCQV7M2WMoVX8V8OtYSAL"
    assert call["input"] == {"country": "France"}
    assert outcome.tool_json == {"0": '{"country":"France"}'}
    assert outcome.text == ""


def test_recorded_text_turn() -> None:
    outcome = fold(recording("text_after_tool_result.sse"), "responses")
    assert outcome.stop.normalized is StopReason.END
    assert outcome.text == "The capital of France is Paris."
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens) == (278, 9)


def test_recorded_reasoning_summary_code_interpreter_and_cached_tokens() -> None:
    outcome = fold(recording("reasoning_code_interpreter.sse"), "responses")
    kinds = [b["type"] for b in outcome.content]
    assert kinds[0] == "thinking" and kinds[-1] == "text"
    assert kinds.count("code_interpreter_call") == 3  # hosted items kept whole, as they came
    thinking = outcome.content[0]
    assert thinking["thinking"].startswith("**")  # the summary's bold title, as the model writes it
    assert thinking["encrypted_content"]
    # The summary is the deltas joined: the recording's 92 pieces give the done event's text.
    raw = recording("reasoning_code_interpreter.sse")
    done = [
        json.loads(e.data) for e in iter_events([raw]) if e.event == "response.reasoning_summary_text.done"
    ]
    assert thinking["thinking"] == done[0]["text"]
    usage = outcome.usage
    assert usage.cache_read_input_tokens == 3200
    assert usage.input_tokens == 3727 - 3200  # Anthropic's vocabulary: input excludes cache reads
    assert usage.reasoning_tokens == 128


def test_recorded_annotations_are_kept_on_their_text() -> None:
    outcome = fold(recording("web_search_annotations.sse"), "responses")
    [text] = [b for b in outcome.content if b["type"] == "text"]
    assert text["annotations"]
    assert {a["type"] for a in text["annotations"]} == {"url_citation"}
    assert [b["type"] for b in outcome.content].count("web_search_call") == 2


def test_recorded_body() -> None:
    body = json.loads(recording("body_output_text.json"))
    outcome = parse_body(body)
    assert outcome.dialect == "responses"
    assert outcome.state is State.COMPLETE
    assert outcome.text.startswith("I can't provide real-time updates")
    assert (outcome.usage.input_tokens, outcome.usage.output_tokens) == (14, 50)
    assert parse_capture(recording("body_output_text.json")).to_dict() == outcome.to_dict()


def test_every_cut_of_a_recording_keeps_what_arrived() -> None:
    raw = recording("reasoning_text_and_function_call.sse")
    events = list(iter_events([raw]))
    for n in range(1, len(events)):
        acc = ResponsesAccumulator()
        for ev in events[:n]:
            acc.feed(ev)
        outcome = acc.finish()
        assert outcome.state is State.INTERRUPTED
        assert outcome.stop.raw is None
        assert "stream ended before response.completed" in outcome.reasons
        assert outcome.usage.estimated == {"output_tokens"}
        full = fold(raw, "responses")
        assert full.text.startswith(outcome.text)
        for key, buf in outcome.tool_json.items():
            assert full.tool_json[key].startswith(buf)


# --- terminal events (hand-written: no public recording has them) ----------------------------


def test_incomplete_max_output_tokens_is_a_truncation() -> None:
    final = r_response(
        "incomplete",
        [r_message("msg_1", "The first half", status="incomplete")],
        incomplete_details={"reason": "max_output_tokens"},
        usage=r_usage(20, 16),
    )
    raw = stream(
        *text_events(0, "msg_1", ["The first", " half"])[:-1],
        terminal=r_event("response.incomplete", response=final),
    )
    outcome = fold(raw, "responses")
    assert outcome.state is State.TRUNCATED
    assert (outcome.stop.raw, outcome.stop.normalized) == ("max_output_tokens", StopReason.MAX_TOKENS)
    assert outcome.text == "The first half"
    assert parse_body(final).state is State.TRUNCATED


def test_incomplete_content_filter_reads_like_chat_content_filter() -> None:
    final = r_response(
        "incomplete", [], incomplete_details={"reason": "content_filter"}, usage=r_usage(20, 3)
    )
    outcome = fold(stream(terminal=r_event("response.incomplete", response=final)), "responses")
    assert (outcome.stop.raw, outcome.stop.normalized) == ("content_filter", StopReason.CONTENT_FILTER)
    assert outcome.state is State.COMPLETE  # a terminal filter stop, like Chat's content_filter


@pytest.mark.parametrize("reason", ["max_messages", "steered", "something_new", None])
def test_any_other_incomplete_reason_is_never_a_normal_end(reason: str | None) -> None:
    details = {"reason": reason} if reason else None
    outcome = parse_body(r_response("incomplete", [r_message("m", "x")], incomplete_details=details))
    assert outcome.state is State.INTERRUPTED
    assert outcome.stop.normalized in (StopReason.UNKNOWN, StopReason.MISSING)


def test_response_failed_is_a_typed_error_carrying_the_partial_answer() -> None:
    final = r_response("failed", [], error={"code": "server_error", "message": "The server had an error."})
    raw = stream(
        *text_events(0, "msg_1", ["Partial"])[:3], terminal=r_event("response.failed", response=final)
    )
    acc = ResponsesAccumulator()
    for ev in iter_events([raw]):
        acc.feed(ev)
    assert acc.done
    outcome = acc.finish()
    assert outcome.state is State.FAILED
    err = outcome.error
    assert isinstance(err, InternalServerError)
    assert (err.status, err.code, err.error_type, err.dialect) == (
        200,
        "server_error",
        "api_error",
        "responses",
    )
    assert err.mid_stream
    assert err.partial is outcome
    # The terminal response's output is empty, but text streamed before it: a failed answer
    # keeps what arrived (the finisher resumes from it), as a cut stream does.
    assert outcome.text == "Partial"
    assert outcome.to_dict()["error"]["message"] == "The server had an error."


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("rate_limit_exceeded", RateLimitError),
        ("server_error", InternalServerError),
        ("invalid_prompt", BadRequestError),
        ("brand_new_code", InternalServerError),
    ],
)
def test_error_event_is_classified_by_its_code(code: str, cls: type[APIError]) -> None:
    raw = stream(
        *text_events(0, "msg_1", ["Hello", " wor"])[:4],
        terminal=r_event("error", code=code, message="boom", param=None),
    )
    outcome = fold(raw, "responses")
    assert outcome.state is State.FAILED
    assert type(outcome.error) is cls
    assert outcome.error is not None and outcome.error.code == code
    assert outcome.text == "Hello wor"  # what arrived before the error is kept


def test_error_event_with_nested_error_object() -> None:
    raw = stream(
        terminal=r_event("error", error={"type": "invalid_request_error", "code": None, "message": "bad"})
    )
    outcome = fold(raw, "responses")
    assert isinstance(outcome.error, BadRequestError)
    assert outcome.error.message == "bad"


def test_a_cut_stream_is_interrupted_and_keeps_text_reasoning_refusal_and_arguments() -> None:
    evs = [
        *reasoning_events(0, "rs_1", ["Think", "ing"])[:4],  # summary deltas, no done
        *text_events(1, "msg_1", ["Hel", "lo"])[:4],
        *refusal_events(2, "msg_2", ["I can", "not"])[:4],
        *call_events(3, "fc_0a4bc5e23769d65c00696d5e6b", ['{"country": "Fr', "an"])[:3],
    ]
    outcome = fold(stream(*evs), "responses")
    assert outcome.state is State.INTERRUPTED
    by_type = {b["type"]: b for b in outcome.content}
    assert by_type["thinking"]["thinking"] == "Thinking"
    assert by_type["text"]["text"] == "Hello"
    assert by_type["refusal"]["refusal"] == "I cannot"
    call = by_type["tool_call"]
    assert call["arguments"] == '{"country": "Fran'
    assert call["input"] == {}  # jiter drops the unfinished trailing string, as the SDKs show it
    assert outcome.tool_json == {"3": '{"country": "Fran'}
    assert "arguments of function call at output 3 are not whole JSON" in outcome.reasons
    assert outcome.message["status"] == "in_progress"
    assert outcome.usage.estimated == {"output_tokens"}


def test_completed_with_arguments_that_are_not_whole_json_is_truncated() -> None:
    bad = '{"country": "Fr'
    raw = stream(
        *call_events(0, "fc_1", [bad]), terminal=completed([r_call("fc_1", bad)], usage=r_usage(5, 5))
    )
    outcome = fold(raw, "responses")
    assert outcome.stop.normalized is StopReason.TOOL_USE
    assert outcome.state is State.TRUNCATED


def test_a_terminal_response_without_output_is_rebuilt_from_the_items() -> None:
    # The SDK recovers finalized items when the terminal event's response has no output.
    evs = text_events(0, "msg_1", ["A", "B"])
    final = r_event(
        "response.completed", response={**r_response("completed"), "output": None, "usage": r_usage(1, 2)}
    )
    outcome = fold(stream(*evs, terminal=final), "responses")
    assert outcome.text == "AB"
    assert outcome.state is State.COMPLETE


def test_refusal_stream() -> None:
    raw = stream(
        *refusal_events(0, "msg_1", ["I'm sorry, ", "I can't help."]),
        terminal=completed([r_message("msg_1", refusal="I'm sorry, I can't help.")]),
    )
    outcome = fold(raw, "responses")
    assert outcome.content == [{"type": "refusal", "refusal": "I'm sorry, I can't help."}]
    assert outcome.stop.normalized is StopReason.END  # a refusal is content, not a reason (as on Chat)


def test_usage_arrives_only_with_the_terminal_event() -> None:
    raw = stream(
        *text_events(0, "m", ["x" * 40]),
        terminal=completed([r_message("m", "x" * 40)], usage=r_usage(10, 7, cached=4, reasoning=2)),
    )
    usage = fold(raw, "responses").usage
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.output_tokens,
        usage.reasoning_tokens,
    ) == (6, 4, 7, 2)
    assert usage.estimated == set()
    no_usage = fold(
        stream(*text_events(0, "m", ["x" * 40]), terminal=completed([r_message("m", "x" * 40)])), "responses"
    )
    assert no_usage.usage.estimated == {"output_tokens"}
    assert no_usage.usage.output_tokens == 10


def test_the_request_cap_is_applied() -> None:
    raw = stream(
        *text_events(0, "m", ["abc"]), terminal=completed([r_message("m", "abc")], usage=r_usage(10, 64))
    )
    assert fold(raw, "responses", max_tokens=64).state is State.TRUNCATED
    assert fold(raw, "responses", max_tokens=65).state is State.COMPLETE


# --- what the fold tolerates, counts, and refuses --------------------------------------------


def test_unknown_events_are_counted_not_fatal_and_tool_progress_is_silent() -> None:
    evs = [
        r_event("response.web_search_call.searching", output_index=0, item_id="ws_1"),
        r_event(
            "response.code_interpreter_call_code.delta", output_index=0, item_id="ci_1", delta="print(1)"
        ),
        r_event("response.brand_new.thing", foo=1),
        *text_events(0, "m", ["ok"]),
    ]
    outcome = fold(stream(*evs, terminal=completed([r_message("m", "ok")])), "responses")
    assert outcome.state is State.COMPLETE
    assert outcome.anomalies == {"unknown_event:response.brand_new.thing": 1}


def test_done_sentinel_is_ignored() -> None:
    raw = (
        stream(*text_events(0, "m", ["ok"]), terminal=completed([r_message("m", "ok")])) + b"data: [DONE]\n\n"
    )
    outcome = fold(raw, "responses")
    assert outcome.state is State.COMPLETE
    assert outcome.anomalies == {}


@pytest.mark.parametrize(
    ("bad", "anomaly"),
    [
        (b"event: response.output_text.delta\ndata: {not json\n\n", "malformed_json"),
        (
            sse(
                [r_event("response.output_text.delta", item_id="m", output_index=0, content_index=0, delta=5)]
            ),
            "malformed_response.output_text.delta",
        ),
        (
            sse([r_event("response.output_item.added", output_index="0", item={})]),
            "malformed_response.output_item.added",
        ),
        (
            sse([r_event("response.function_call_arguments.delta", item_id="x", output_index=7, delta="{")]),
            "delta_for_unadded_item",
        ),
    ],
)
def test_bad_input_is_counted_and_rules_out_complete(bad: bytes, anomaly: str) -> None:
    head = sse(numbered([r_created(), *text_events(0, "m", ["ok"])]))
    # A terminal response without its output: the answer is rebuilt from the deltas, so a
    # lost event may have carried part of it.
    rebuilt = sse([r_event("response.completed", response={**r_response("completed"), "output": None})])
    outcome = fold(head + bad + rebuilt, "responses")
    assert outcome.anomalies.get(anomaly) == 1
    assert outcome.state is State.INTERRUPTED
    assert "input was lost on the way (see anomalies)" in outcome.reasons
    # A terminal response with its output is the whole answer: the loss is counted, not fatal.
    whole = fold(head + bad + sse([completed([r_message("m", "ok")])]), "responses")
    assert whole.anomalies.get(anomaly) == 1
    assert whole.state is State.COMPLETE
    assert whole.text == "ok"


def test_a_delta_for_a_part_never_added_is_kept() -> None:
    evs = [
        r_event("response.output_item.added", output_index=0, item={**r_message("m"), "content": []}),
        r_event("response.output_text.delta", item_id="m", output_index=0, content_index=0, delta="kept"),
    ]
    outcome = fold(stream(*evs), "responses")
    assert outcome.text == "kept"
    assert outcome.anomalies == {"delta_for_unadded_part": 1}


def test_a_terminal_event_of_the_wrong_shape_is_not_an_end() -> None:
    bad = r_event(
        "response.completed",
        response={**r_response("completed"), "output": [{"type": "message", "content": 3}]},
    )
    outcome = fold(stream(*text_events(0, "m", ["ok"]), terminal=bad), "responses")
    assert outcome.state is State.INTERRUPTED
    assert outcome.anomalies == {"malformed_response.completed": 1}
    assert outcome.text == "ok"


# --- bodies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "state", "normalized"),
    [
        ("completed", State.COMPLETE, StopReason.END),
        ("in_progress", State.INTERRUPTED, StopReason.MISSING),
        ("queued", State.INTERRUPTED, StopReason.MISSING),
        ("cancelled", State.INTERRUPTED, StopReason.UNKNOWN),
        ("a_status_from_the_future", State.INTERRUPTED, StopReason.UNKNOWN),
    ],
)
def test_body_status(status: str, state: State, normalized: StopReason) -> None:
    outcome = parse_response(r_response(status, [r_message("m", "hi")]))
    assert (outcome.state, outcome.stop.normalized, outcome.stop.raw) == (state, normalized, status)


def test_body_failed() -> None:
    body = r_response("failed", [], error={"code": "rate_limit_exceeded", "message": "slow down"})
    outcome = parse_response(body)
    assert outcome.state is State.FAILED
    assert isinstance(outcome.error, RateLimitError)
    assert outcome.error.status == 0  # a body read without its HTTP status


def test_body_items_in_order_with_unknown_items_kept() -> None:
    web = {
        "id": "ws_1",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": "q"},
    }
    body = r_response(
        "completed",
        [
            r_reasoning("rs_1", ["Plan", " it"]),
            web,
            r_message("m", "Answer"),
            r_call("fc_123456789012345678901234567", '{"a": 1}'),
        ],
        usage=r_usage(3, 4),
    )
    outcome = parse_body(body)
    assert [b["type"] for b in outcome.content] == ["thinking", "web_search_call", "text", "tool_call"]
    assert outcome.content[0]["thinking"] == "Plan it"
    assert outcome.content[1]["item"] == web
    assert outcome.content[3]["input"] == {"a": 1}
    assert outcome.stop.normalized is StopReason.TOOL_USE
    assert outcome.message is body


def test_http_error_body_is_a_failed_outcome() -> None:
    outcome = parse_body(
        {
            "object": "response",
            "status": "failed",
            "error": {"code": "server_error", "message": "x"},
            "output": [],
        }
    )
    assert outcome.state is State.FAILED
    err_body = parse_response(
        {"error": {"message": "Invalid", "type": "invalid_request_error", "param": None, "code": None}}
    )
    assert err_body.state is State.FAILED
    assert isinstance(err_body.error, BadRequestError)


@pytest.mark.parametrize(
    "body",
    [
        [],
        "response",
        {"object": "response", "status": "completed", "output": {"type": "message"}},
        {"object": "response", "status": "completed", "output": [3]},
        {
            "object": "response",
            "status": "completed",
            "output": [{"type": "message", "content": [{"type": "output_text", "text": 5}]}],
        },
        {"object": "response", "status": "completed", "output": [{"type": "reasoning", "summary": ["x"]}]},
        {"object": "response", "status": "completed", "output": [{"type": "function_call", "arguments": {}}]},
    ],
)
def test_malformed_bodies_raise_protocol_error(body: object) -> None:
    with pytest.raises(ProtocolError):
        parse_response(body)


def test_ids_and_model() -> None:
    outcome = parse_body(r_response("completed", []))
    assert (outcome.id, outcome.model) == (RESP_ID, "gpt-5.2-2025-12-11")
