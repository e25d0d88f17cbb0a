"""Equivalence with the official SDKs: the same bytes through their decoders and accumulators
(anthropic ``accumulate_event``, beta and GA; openai ``ChatCompletionStreamState``) and through
ours give the same text, blocks, stop reason and usage.

Where stopwise differs on purpose, the difference has its own test, named for it:

- events with no ``event:`` line: the anthropic SDK skips them, we read the payload's ``type``;
- a final event lacking its blank line: both SDK decoders drop it, our ``iter_events`` reads it;
- a cut Anthropic stream: the SDK keeps message_start's ``output_tokens`` (1), we estimate;
- n > 1 choices whose first chunks arrive out of index order: the SDK indexes its list by
  ``choice.index`` and fails, we key them by it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx2
import pytest
from _streams import (
    A_MESSAGE_STOP,
    Generated,
    a_block,
    a_message_delta,
    a_start,
    a_stop,
    a_text,
    a_text_message,
    anthropic_streams,
    fixture,
    fixture_names,
    o_choice,
    o_chunk,
    o_sse,
    openai_streams,
    split_at,
    sse,
)
from anthropic._models import construct_type
from anthropic._streaming import SSEDecoder as AnthropicSDKDecoder
from anthropic.lib.streaming._beta_messages import accumulate_event as beta_accumulate
from anthropic.lib.streaming._messages import accumulate_event as ga_accumulate
from anthropic.types import RawMessageStreamEvent
from anthropic.types.beta import BetaRawMessageStreamEvent
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from openai._models import construct_type as openai_construct
from openai._streaming import SSEDecoder as OpenAISDKDecoder
from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from stopwise.dialects import AnthropicAccumulator, OpenAIAccumulator
from stopwise.outcome import Outcome
from stopwise.sse import SSEDecoder

BLOCK_KEYS = ("type", "text", "input", "name", "id", "thinking", "signature", "citations", "content")
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


# --- the SDK side, as their Stream classes drive it -----------------------------------------


def sdk_anthropic(chunks: Iterable[bytes], *, beta: bool = True) -> dict[str, Any] | None:
    snapshot = None
    bufs: dict[int, bytes] = {}
    for sse_ev in AnthropicSDKDecoder().iter_bytes(iter(chunks)):
        # anthropic/_streaming.py Stream.__stream__: ping and event-less blocks are skipped.
        if sse_ev.event in (None, "ping") or not sse_ev.data:
            continue
        if sse_ev.event == "error":
            raise RuntimeError(sse_ev.data)
        if beta:
            ev = construct_type(type_=BetaRawMessageStreamEvent, value=sse_ev.json())
            snapshot = beta_accumulate(
                event=ev, current_snapshot=snapshot, json_bufs=bufs, request_headers=httpx2.Headers()
            )
        else:
            ev = construct_type(type_=RawMessageStreamEvent, value=sse_ev.json())
            snapshot = ga_accumulate(event=ev, current_snapshot=snapshot, json_bufs=bufs)
    return None if snapshot is None else snapshot.to_dict()


def sdk_openai(chunks: Iterable[bytes]) -> dict[str, Any] | None:
    state = ChatCompletionStreamState()
    seen = False
    for sse_ev in OpenAISDKDecoder().iter_bytes(iter(chunks)):
        if sse_ev.data.startswith("[DONE]"):
            break
        state.handle_chunk(openai_construct(type_=ChatCompletionChunk, value=sse_ev.json()))
        seen = True
    return state.current_completion_snapshot.to_dict() if seen else None


# --- our side, decoded the way the SDK decodes (no flush) unless told otherwise ----------------


def ours(chunks: Iterable[bytes], dialect: str, *, flush: bool = False) -> Outcome:
    dec = SSEDecoder()
    acc = AnthropicAccumulator() if dialect == "anthropic" else OpenAIAccumulator()
    for chunk in chunks:
        for ev in dec.decode(chunk):
            acc.feed(ev)
    last = dec.flush()
    if flush and last is not None:
        acc.feed(last)
    return acc.finish()


def _view(block: dict[str, Any]) -> dict[str, Any]:
    # None and absent read the same (the SDK models carry optional fields as None).
    return {k: block[k] for k in BLOCK_KEYS if block.get(k) is not None}


def assert_anthropic_equivalent(outcome: Outcome, sdk: dict[str, Any] | None, *, usage: bool = True) -> None:
    assert sdk is not None
    assert [_view(b) for b in outcome.content] == [_view(b) for b in sdk["content"]]
    assert outcome.text == "".join(b["text"] for b in sdk["content"] if b["type"] == "text")
    assert outcome.message["stop_reason"] == sdk.get("stop_reason")
    if usage:
        for key in USAGE_KEYS:
            assert getattr(outcome.usage, key) == (sdk["usage"].get(key) or 0), key
            assert outcome.message["usage"].get(key) == sdk["usage"].get(key), key


def assert_openai_equivalent(outcome: Outcome, sdk: dict[str, Any] | None) -> None:
    assert sdk is not None
    ours_choices = outcome.message["choices"]
    assert len(ours_choices) == len(sdk["choices"])
    for mine, theirs in zip(ours_choices, sdk["choices"], strict=True):
        assert mine["index"] == theirs["index"]
        assert mine["finish_reason"] == theirs.get("finish_reason")
        assert mine["message"]["content"] == theirs["message"].get("content")
        assert mine["message"]["refusal"] == theirs["message"].get("refusal")
        calls = [
            (c["id"], c["function"]["name"], c["function"]["arguments"])
            for c in mine["message"].get("tool_calls") or []
        ]
        sdk_calls = [
            (c.get("id"), c["function"].get("name"), c["function"].get("arguments"))
            for c in theirs["message"].get("tool_calls") or []
        ]
        assert calls == sdk_calls
    first = sdk["choices"][0]["message"].get("content") or ""
    assert outcome.text == first
    sdk_usage = sdk.get("usage")
    if sdk_usage:
        assert outcome.usage.output_tokens == sdk_usage["completion_tokens"]
        cached = (sdk_usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        assert (
            outcome.usage.input_tokens + outcome.usage.cache_read_input_tokens == sdk_usage["prompt_tokens"]
        )
        assert outcome.usage.cache_read_input_tokens == cached
    else:
        assert outcome.usage.estimated == {"output_tokens"}


# --- the team's fixtures -------------------------------------------------------------------

# overloaded_midstream: the SDK raises on `event: error` (its own test below); compaction is a
# beta block type the GA accumulator does not know.
ANTHROPIC_CASES = [
    (name, beta)
    for name in fixture_names("anthropic")
    if name != "overloaded_midstream"
    for beta in (True, False)
    if beta or name != "compaction"
]


@pytest.mark.parametrize(("name", "beta"), ANTHROPIC_CASES)
def test_anthropic_fixtures_match_the_sdk(name: str, beta: bool) -> None:
    raw = fixture("anthropic", name)
    chunks = split_at(raw, range(0, len(raw), 13))
    outcome = ours(chunks, "anthropic")
    cut = not any(b'"message_delta"' in line for line in raw.splitlines())
    assert_anthropic_equivalent(outcome, sdk_anthropic(chunks, beta=beta), usage=not cut)


@pytest.mark.parametrize("name", fixture_names("openai"))
def test_openai_fixtures_match_the_sdk(name: str) -> None:
    raw = fixture("openai", name)
    chunks = split_at(raw, range(0, len(raw), 13))
    if name == "midstream_error":
        # The SDK raises on the error line (openai/_streaming.py); everything before it agrees.
        raw = raw[: raw.index(b'data: {"error"')]
        chunks = [raw]
    assert_openai_equivalent(ours(chunks, "openai"), sdk_openai(chunks))


def test_sdk_raises_on_the_error_event_where_we_keep_the_partial() -> None:
    raw = fixture("anthropic", "overloaded_midstream")
    with pytest.raises(RuntimeError, match="overloaded_error"):
        sdk_anthropic([raw])
    before_error = raw[: raw.index(b"event: error")]
    outcome = ours([raw], "anthropic")
    assert outcome.error is not None
    assert [_view(b) for b in outcome.content] == [_view(b) for b in sdk_anthropic([before_error])["content"]]


# --- generated streams ---------------------------------------------------------------------

GEN = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@GEN
@given(gen=anthropic_streams(), cuts=st.lists(st.integers(0, 1 << 20), max_size=20), beta=st.booleans())
def test_generated_anthropic_streams_match_the_sdk(gen: Generated, cuts: list[int], beta: bool) -> None:
    chunks = split_at(gen.raw, cuts)
    outcome = ours(chunks, "anthropic")
    sdk = sdk_anthropic(chunks, beta=beta)
    if sdk is None:  # cut before message_start ended: neither has a message
        assert outcome.content == []
        return
    delta_seen = any(e["type"] == "message_delta" for e in gen.events) and outcome.message.get("stop_reason")
    assert_anthropic_equivalent(outcome, sdk, usage=bool(delta_seen))


def _first_seen_in_order(gen: Generated) -> bool:
    order: list[int] = []
    for chunk in gen.events:
        for choice in chunk["choices"]:
            if choice["index"] not in order:
                order.append(choice["index"])
    return order == list(range(len(order)))


@GEN
@given(gen=openai_streams(), cuts=st.lists(st.integers(0, 1 << 20), max_size=20))
def test_generated_openai_streams_match_the_sdk(gen: Generated, cuts: list[int]) -> None:
    assume(_first_seen_in_order(gen))  # see test_choices_are_keyed_by_index_not_arrival
    chunks = split_at(gen.raw, cuts)
    outcome = ours(chunks, "openai")
    sdk = sdk_openai(chunks)
    if sdk is None:
        assert outcome.choices == []
        return
    assert_openai_equivalent(outcome, sdk)


# --- intentional differences, each named -----------------------------------------------------


def test_difference_events_without_an_event_line() -> None:
    raw = sse(a_text_message(["data lines only"]), event_lines=False)
    assert sdk_anthropic([raw]) is None  # the SDK skips every one of them
    outcome = ours([raw], "anthropic")
    assert outcome.text == "data lines only"
    assert outcome.complete


def test_difference_final_event_without_its_blank_line() -> None:
    events = [*a_text_message(["almost"])[:-2], a_message_delta("end_turn", 4)]
    raw = sse(events).rstrip(b"\n")
    sdk = sdk_anthropic([raw])
    assert sdk is not None
    assert sdk["stop_reason"] is None  # dropped with the unterminated message_delta
    assert ours([raw], "anthropic").message["stop_reason"] is None  # decoded like the SDK
    flushed = ours([raw], "anthropic", flush=True)  # iter_events / parse_capture read it
    assert flushed.message["stop_reason"] == "end_turn"
    assert flushed.complete


def test_difference_cut_stream_output_tokens_are_estimated() -> None:
    text = "twelve chars" * 10
    raw = sse([a_start(), a_block(0, {"type": "text", "text": ""}), a_text(0, text)])
    sdk = sdk_anthropic([raw])
    assert sdk is not None
    assert sdk["usage"]["output_tokens"] == 1  # message_start's placeholder
    outcome = ours([raw], "anthropic")
    assert outcome.usage.output_tokens == (len(text) + 3) // 4
    assert outcome.usage.estimated == {"output_tokens"}
    assert [_view(b) for b in outcome.content] == [_view(b) for b in sdk["content"]]


def test_difference_choices_are_keyed_by_index_not_arrival() -> None:
    raw = o_sse(
        [
            o_chunk([o_choice({"content": "one"}, index=1)]),
            o_chunk([o_choice({"content": "zero"}, index=0)]),
            o_chunk([o_choice({}, "stop", index=0)]),
            o_chunk([o_choice({}, "stop", index=1)]),
        ]
    )
    outcome = ours([raw], "openai")
    assert [c.text for c in outcome.choices] == ["zero", "one"]
    # The SDK indexes its choice list by choice.index, so a choice first seen out of order
    # is out of range there (openai/lib/streaming/chat/_completions.py).
    with pytest.raises(IndexError):
        sdk_openai([raw])


def test_same_as_sdk_max_tokens_inside_a_tool_block() -> None:
    raw = fixture("anthropic", "max_tokens_in_tool")
    sdk = sdk_anthropic([raw])
    outcome = ours([raw], "anthropic")
    assert_anthropic_equivalent(outcome, sdk)
    assert sdk is not None and sdk["stop_reason"] == "max_tokens"
    # The SDK stops there; we also say what the caller holds.
    assert outcome.state.value == "truncated"


def test_same_as_sdk_unknown_event_types_and_fields() -> None:
    events = [
        {**a_start(), "private_field": 1},
        a_block(0, {"type": "text", "text": ""}),
        {"type": "content_block_annotation", "index": 0},
        {**a_text(0, "Hi"), "private_field": {"a": 1}},
        a_stop(0),
        a_message_delta("end_turn", 2),
        A_MESSAGE_STOP,
    ]
    raw = sse(events)
    assert_anthropic_equivalent(ours([raw], "anthropic"), sdk_anthropic([raw]))
