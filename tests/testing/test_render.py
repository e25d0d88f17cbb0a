"""The renderer sends what real APIs send: the official SDKs' own accumulators rebuild, from the
rendered stream, the very response that was rendered (modulo what the SDK itself normalises)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.testing.render import (
    anthropic_error_event,
    anthropic_reply,
    cut,
    litellm_error_chunk,
    openai_reply,
    reply_bytes,
    sdk_anthropic,
    sdk_openai,
    sse_events,
)
from stopwise.testing.strategies import (
    ANTHROPIC_STOPS,
    OPENAI_FINISHES,
    anthropic_body,
    anthropic_message,
    anthropic_render_options,
    openai_body,
    openai_completion,
    openai_render_options,
)

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def prune(value: Any) -> Any:
    """Drop None-valued keys (the SDKs fill optional fields with None) and the SDK's own
    bookkeeping (``index`` of accumulated tool calls, ``parsed*``)."""
    if isinstance(value, dict):
        return {
            k: prune(v)
            for k, v in value.items()
            if v is not None and k not in ("parsed", "parsed_arguments", "index")
        }
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


@st.composite
def anthropic_messages(draw: st.DrawFn) -> tuple[dict[str, Any], int, bool]:
    reason = draw(st.sampled_from(ANTHROPIC_STOPS))
    max_tokens = draw(st.sampled_from((16, 300, 2048)))
    thinking = draw(st.booleans()) and max_tokens > 1024
    message = draw(
        anthropic_message(
            stop_reason=reason,
            max_tokens=max_tokens,
            at_cap=draw(st.booleans()),
            thinking=thinking,
            server_tools=draw(st.booleans()),
        )
    )
    return message, max_tokens, thinking


@FAST
@given(anthropic_messages(), anthropic_render_options())
def test_anthropic_stream_accumulates_to_the_message(
    case: tuple[dict[str, Any], int, bool], opts: dict[str, Any]
) -> None:
    message, max_tokens, thinking = case
    body = anthropic_body(message, max_tokens=max_tokens, stream=True, thinking=thinking)
    reply = anthropic_reply(message, stream=True, **opts)
    streamed = sdk_anthropic(body, reply.status, reply.headers, reply_bytes(reply))
    plain = anthropic_reply(message, stream=False)
    parsed = sdk_anthropic({**body, "stream": False}, plain.status, plain.headers, reply_bytes(plain))
    assert prune(streamed) == prune(message)
    assert prune(parsed) == prune(message)


@FAST
@given(anthropic_messages(), st.integers(1, 4))
def test_anthropic_event_grammar(case: tuple[dict[str, Any], int, bool], pieces: int) -> None:
    message = case[0]
    events = sse_events(reply_bytes(anthropic_reply(message, stream=True, pieces=pieces, pings=True)))
    names = [n for n, _ in events if n != "ping"]
    assert all(n == data["type"] for n, data in events)
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None and "usage" in start
    opened: set[int] = set()
    for name, data in events:
        if name == "content_block_start":
            opened.add(data["index"])
        if name in ("content_block_delta", "content_block_stop"):
            assert data["index"] in opened, "a delta for a block that has not started"
    for i, block in enumerate(message["content"]):
        deltas = [d["delta"] for n, d in events if n == "content_block_delta" and d["index"] == i]
        if block.get("citations"):
            kinds = [d["type"] for d in deltas]
            assert kinds[: len(block["citations"])] == ["citations_delta"] * len(block["citations"])
        if block["type"] == "tool_use":
            assert deltas[0] == {"type": "input_json_delta", "partial_json": ""}
            assert orjson.loads("".join(d["partial_json"] for d in deltas) or "{}") == block["input"]
        if block["type"] == "thinking":
            assert deltas[-1] == {"type": "signature_delta", "signature": block["signature"]}
    final = events[-2][1]
    assert final["delta"]["stop_reason"] == message["stop_reason"]
    assert final["usage"]["output_tokens"] == message["usage"]["output_tokens"]


def test_citations_shape_matches_the_recorded_fixture() -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {
                "type": "text",
                "text": "the grass is green",
                "citations": [
                    {
                        "type": "char_location",
                        "cited_text": "The grass is green.",
                        "document_index": 0,
                        "document_title": "Facts",
                        "start_char_index": 0,
                        "end_char_index": 19,
                    }
                ],
            }
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 22},
    }
    events = sse_events(reply_bytes(anthropic_reply(message, stream=True)))
    assert [(n, d.get("delta", {}).get("type")) for n, d in events[1:4]] == [
        ("content_block_start", None),
        ("content_block_delta", "citations_delta"),
        ("content_block_delta", "text_delta"),
    ]
    assert events[1][1]["content_block"] == {"type": "text", "text": "", "citations": None}


@FAST
@given(anthropic_messages(), st.data())
def test_anthropic_faults(case: tuple[dict[str, Any], int, bool], data: st.DataObject) -> None:
    message = case[0]
    whole = anthropic_reply(message, stream=True)
    n = len(whole.chunks)
    k = data.draw(st.integers(1, n - 1))
    broken = anthropic_reply(message, stream=True, break_after=k)
    assert broken.fail == "read" and list(broken.chunks) == list(whole.chunks[:k])
    err = anthropic_reply(message, stream=True, break_after=k, error_event=anthropic_error_event())
    assert err.fail is None and sse_events(err.chunks[-1]) == [("error", anthropic_error_event())]
    restarted = anthropic_reply(message, stream=True, restart_after=k)
    names = [name for name, _ in sse_events(reply_bytes(restarted))]
    assert names.count("message_start") == 2 and names.index("message_start", 1) == k
    offsets = data.draw(st.lists(st.integers(0, 3 * len(reply_bytes(whole))), max_size=20))
    chunked = anthropic_reply(message, stream=True, chunking=offsets)
    assert reply_bytes(chunked) == reply_bytes(whole) and all(chunked.chunks)
    assert reply_bytes(anthropic_reply(message, stream=False, chunking=offsets)) == orjson.dumps(message)


def test_cut() -> None:
    assert cut(b"abcdef", [2, 2, 0, 9, 4]) == [b"ab", b"cd", b"ef"]
    assert cut(b"abc", None) == [b"abc"]


@st.composite
def openai_completions(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    reason = draw(st.sampled_from(OPENAI_FINISHES))
    max_tokens = draw(st.sampled_from((16, 300, 2048)))
    completion = draw(
        openai_completion(
            finish_reason=reason,
            max_tokens=max_tokens,
            at_cap=draw(st.booleans()),
            relay_claude=draw(st.booleans()),
        )
    )
    return completion, max_tokens


@FAST
@given(openai_completions(), openai_render_options())
def test_openai_stream_accumulates_to_the_completion(
    case: tuple[dict[str, Any], int], opts: dict[str, Any]
) -> None:
    completion, max_tokens = case
    body = openai_body(completion, max_tokens=max_tokens, stream=True)
    reply = openai_reply(completion, stream=True, **opts)
    streamed = sdk_openai(body, reply.status, reply.headers, reply_bytes(reply))
    plain = openai_reply(completion, stream=False)
    parsed = sdk_openai({**body, "stream": False}, plain.status, plain.headers, reply_bytes(plain))
    want = prune(completion)
    assert prune(parsed) == want
    assert prune(streamed) == want


@FAST
@given(openai_completions(), st.sampled_from((True, False, "nospace")), st.booleans())
def test_openai_chunk_grammar(case: tuple[dict[str, Any], int], done: Any, usage: bool) -> None:
    completion = case[0]
    reply = openai_reply(completion, stream=True, done=done, include_usage=usage, pieces=3)
    raw = reply_bytes(reply)
    assert b"event:" not in raw
    events = sse_events(raw)
    assert all(name is None for name, _ in events)
    datas = [d for _, d in events]
    if done:
        assert datas[-1] == "[DONE]"
        assert raw.endswith(b"data:[DONE]\n\n" if done == "nospace" else b"data: [DONE]\n\n")
        datas = datas[:-1]
    else:
        assert "[DONE]" not in datas
    if usage:
        assert datas[-1]["choices"] == [] and datas[-1]["usage"] == completion["usage"]
        assert all(d["usage"] is None for d in datas[:-1])
        datas = datas[:-1]
    else:
        assert all("usage" not in d for d in datas)
    assert datas[0]["choices"][0]["delta"]["role"] == "assistant"
    assert datas[-1]["choices"][0]["finish_reason"] == completion["choices"][0]["finish_reason"]
    assert all(d["choices"][0]["finish_reason"] is None for d in datas[:-1])
    assert all(d["object"] == "chat.completion.chunk" and d["id"] == completion["id"] for d in datas)
    for d in datas:
        for call in d["choices"][0]["delta"].get("tool_calls") or []:
            assert ("id" in call) == ("type" in call) == ("name" in call["function"])


def test_openai_relay_shapes() -> None:
    completion = {
        "id": "msg_1",
        "object": "chat.completion",
        "created": 1,
        "model": "claude-sonnet-4-5",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    reply = openai_reply(completion, stream=True, raw_finish="max_tokens", done=False)
    datas = [d for _, d in sse_events(reply_bytes(reply))]
    assert datas[-2]["choices"][0]["finish_reason"] == "max_tokens"
    plain = orjson.loads(reply_bytes(openai_reply(completion, stream=False, raw_finish="max_tokens")))
    assert plain["choices"][0]["finish_reason"] == "max_tokens"
    assert completion["choices"][0]["finish_reason"] == "length"  # not mutated
    err = openai_reply(completion, stream=True, break_after=2, error_chunk=litellm_error_chunk())
    datas = [d for _, d in sse_events(reply_bytes(err))]
    assert len(datas) == 3 and datas[-1]["error"]["code"] == "500" and err.fail is None
    broken = openai_reply(completion, stream=True, break_after=2)
    assert broken.fail == "read" and len(broken.chunks) == 2
