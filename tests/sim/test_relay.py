"""The relay endpoint looks like a new-api relay in front of Claude (shared/examples)."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from stopwise.sim import full_document, tokenize
from stopwise.sse import iter_events

MODEL = "claude-opus-4-0"  # the model in the relay report
TOOL = {"type": "function", "function": {"name": "write_file", "parameters": {"type": "object"}}}


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_default_max_tokens_of_8192_cuts_like_the_report(sim_url: str) -> None:
    assert len(tokenize(full_document("code"))) > 8192
    body = {"model": MODEL, "messages": ask("Write the SQL code."), "stream": True}
    raw = httpx2.post(f"{sim_url}/relay/v1/chat/completions", json=body).content
    chunks = [json.loads(e.data) for e in iter_events([raw]) if e.data != "[DONE]"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "max_tokens"
    assert chunks[-1]["usage"]["completion_tokens"] == 8192
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "".join(tokenize(full_document("code"))[:8192])


def test_ids_model_and_end_turn(relay: openai.OpenAI) -> None:
    msg = relay.chat.completions.create(model="claude-sonnet-4-5", messages=ask("table"))
    assert msg.choices[0].finish_reason == "end_turn"
    assert msg.choices[0].message.content == full_document("table")
    assert msg.id.startswith("msg_01") and msg.model == "claude-sonnet-4-5-20250929"


def test_stream_shape_matches_the_report(sim_url: str) -> None:
    body = {"model": MODEL, "messages": ask("code"), "stream": True, "max_tokens": 30}
    raw = httpx2.post(f"{sim_url}/relay/v1/chat/completions", json=body).content
    events = [e.data for e in iter_events([raw])]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(d) for d in events[:-1]]
    content = chunks[1]
    assert list(content) == ["id", "object", "created", "model", "system_fingerprint", "choices", "usage"]
    assert content["usage"] is None and content["system_fingerprint"] is None
    assert list(content["choices"][0]) == ["delta", "logprobs", "finish_reason", "index"]
    assert content["id"].startswith("msg_") and content["model"] == "claude-opus-4-20250514"
    assert chunks[-2]["choices"][0] == {
        "delta": {},
        "logprobs": None,
        "finish_reason": "max_tokens",
        "index": 0,
    }
    usage = chunks[-1]["usage"]
    assert chunks[-1]["choices"] == [] and usage["completion_tokens"] == 30
    assert set(usage) == {
        "prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details",
        "completion_tokens_details", "input_tokens", "output_tokens", "input_tokens_details",
    }  # fmt: skip
    assert usage["input_tokens_details"] is None and usage["output_tokens"] == 0


def test_sdk_reads_raw_finish_reasons(relay: openai.OpenAI) -> None:
    stream = relay.chat.completions.create(model=MODEL, messages=ask("prose"), max_tokens=12, stream=True)
    finishes = [c.choices[0].finish_reason for c in stream if c.choices and c.choices[0].finish_reason]
    assert finishes == ["max_tokens"]
    tool = relay.chat.completions.create(model=MODEL, messages=ask("tool"), tools=[TOOL])  # type: ignore[list-item]
    assert tool.choices[0].finish_reason == "tool_use"
    paused = relay.chat.completions.create(
        model=MODEL, messages=ask("prose"), extra_headers={"x-sim-stop": "pause-turn:20"}
    )
    assert paused.choices[0].finish_reason == "pause_turn" and paused.usage is not None
    assert paused.usage.completion_tokens == 20


def test_trailing_assistant_is_a_claude_prefill(relay: openai.OpenAI) -> None:
    doc = full_document("json")
    prefix = doc[:500].rstrip()
    msg = relay.chat.completions.create(
        model=MODEL, max_tokens=40, messages=[*ask("json"), {"role": "assistant", "content": prefix}]
    )
    assert doc.startswith(prefix + (msg.choices[0].message.content or ""))
    with pytest.raises(openai.BadRequestError, match="does not support assistant message prefill"):
        relay.chat.completions.create(
            model="claude-opus-4-6",
            max_tokens=40,
            messages=[*ask("json"), {"role": "assistant", "content": prefix}],
        )


def test_relay_rejects_non_claude_models(relay: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        relay.chat.completions.create(model="gpt-4o", messages=ask("x"))  # type: ignore[arg-type]
