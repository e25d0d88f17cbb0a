"""Equivalence with the openai SDK's own Responses accumulator: the same bytes through its
``SSEDecoder`` and ``ResponseStreamState`` (as ``client.responses.stream()`` drives them) and
through ours give the same status, incomplete reason, output text, function calls and
arguments, reasoning summaries and usage.

Where stopwise differs on purpose, the difference has its own test here:

- a stream cut before its terminal event: the SDK has no final response at all
  (``get_final_response`` raises), we give the partial one, ``interrupted``;
- ``response.incomplete`` and ``response.failed``: the SDK only hands the event on, we read
  the reason and type the error.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from _responses_streams import GeneratedResponse, responses_streams
from _streams import fold, split_at
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai._models import construct_type
from openai._streaming import SSEDecoder as OpenAISDKDecoder
from openai._types import omit
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from stopwise.outcome import Outcome, State

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "responses"
STREAMS = sorted(p.name for p in FIXTURES.glob("*.sse"))


def sdk_fold(chunks: Iterable[bytes]) -> tuple[Any, Any]:
    """(the SDK's final response or None, the last event it handed on), as ResponseStream does."""
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=omit, text_format=omit)
    last = None
    for sse_ev in OpenAISDKDecoder().iter_bytes(iter(chunks)):
        # openai/_streaming.py Stream.__stream__: [DONE] ends it; the payload is the event.
        if sse_ev.data.startswith("[DONE]"):
            break
        event = construct_type(type_=ResponseStreamEvent, value=sse_ev.json())
        for out in state.handle_event(event):
            last = out
    return state._completed_response, last


def summary_of(response: Any) -> dict[str, Any]:
    """What both sides must agree on, read from the SDK's typed response."""
    calls = [
        {"call_id": o.call_id, "name": o.name, "arguments": o.arguments}
        for o in response.output
        if o.type == "function_call"
    ]
    summaries = ["".join(s.text for s in o.summary) for o in response.output if o.type == "reasoning"]
    usage = response.usage
    return {
        "status": response.status,
        "incomplete": response.incomplete_details.reason if response.incomplete_details else None,
        "text": response.output_text,
        "calls": calls,
        "summaries": summaries,
        "usage": None
        if usage is None
        else {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cached": usage.input_tokens_details.cached_tokens,
            "reasoning": usage.output_tokens_details.reasoning_tokens,
        },
        "items": [o.type for o in response.output],
    }


def ours(outcome: Outcome) -> dict[str, Any]:
    details = outcome.message.get("incomplete_details")
    usage = outcome.usage
    return {
        "status": outcome.message.get("status"),
        "incomplete": details.get("reason") if isinstance(details, dict) else None,
        "text": outcome.text,
        "calls": [
            {"call_id": b["id"], "name": b["name"], "arguments": b["arguments"]}
            for b in outcome.content
            if b["type"] == "tool_call"
        ],
        "summaries": [b["thinking"] for b in outcome.content if b["type"] == "thinking"],
        "usage": None
        if "output_tokens" not in usage.reported
        else {
            # Back to OpenAI's vocabulary: its input_tokens include the cached ones.
            "input": usage.input_tokens + usage.cache_read_input_tokens,
            "output": usage.output_tokens,
            "cached": usage.cache_read_input_tokens,
            "reasoning": usage.reasoning_tokens,
        },
        "items": [o["type"] for o in outcome.message["output"]],
    }


def chunks13(raw: bytes) -> list[bytes]:
    return [raw[i : i + 13] for i in range(0, len(raw), 13)]


@pytest.mark.parametrize("name", STREAMS)
def test_recordings_match_the_sdk(name: str) -> None:
    raw = (FIXTURES / name).read_bytes()
    final, _ = sdk_fold(chunks13(raw))
    assert final is not None
    outcome = fold(chunks13(raw), "responses")
    assert ours(outcome) == summary_of(final)
    assert outcome.state is State.COMPLETE


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gen=responses_streams(allow_cut=False), cuts=st.lists(st.integers(0, 1 << 16), max_size=20))
def test_generated_streams_match_the_sdk(gen: GeneratedResponse, cuts: list[int]) -> None:
    chunks = split_at(gen.raw, cuts)
    final, last = sdk_fold(chunks)
    outcome = fold(chunks, "responses")
    if gen.terminal == "completed":
        assert final is not None
        assert ours(outcome) == summary_of(final)
    else:
        # response.incomplete / response.failed: no final response in the SDK, only the event
        # with its response; that response is what we read.
        assert final is None
        assert last is not None and last.type in ("response.incomplete", "response.failed")
        assert ours(outcome) == summary_of(last.response)


def test_a_cut_recording_has_no_sdk_final_response_but_ours_is_partial_and_interrupted() -> None:
    raw = (FIXTURES / "text_after_tool_result.sse").read_bytes()
    cut = raw[: raw.index(b"event: response.output_text.done")]
    final, _ = sdk_fold([cut])
    assert final is None  # ResponseStream.get_final_response() raises here
    outcome = fold(cut, "responses")
    assert outcome.state is State.INTERRUPTED
    assert outcome.text and "The capital of France is Paris.".startswith(outcome.text)
