"""POST /v1/messages through the official anthropic SDK, sync and async, against a real server."""

from __future__ import annotations

import asyncio
import json

import anthropic
import httpx2
import pytest

from stopwise.sim import full_document, tokenize
from stopwise.sse import iter_events

MODEL = "claude-haiku-4-5"  # prefill allowed, and not deprecated in the SDK (no warning)


def ask(text: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": text}]


def test_end_turn_returns_the_whole_document(claude: anthropic.Anthropic) -> None:
    doc = full_document("prose")
    msg = claude.messages.create(model=MODEL, max_tokens=20000, messages=ask("write some prose"))
    assert msg.stop_reason == "end_turn"
    assert msg.content[0].type == "text" and msg.content[0].text == doc
    assert msg.usage.output_tokens == len(tokenize(doc))
    assert msg.model == "claude-haiku-4-5-20251001"
    assert msg.id.startswith("msg_01")


@pytest.mark.parametrize("kind", ["prose", "code", "json", "table", "cjk"])
def test_max_tokens_cuts_mid_token(claude: anthropic.Anthropic, kind: str) -> None:
    msg = claude.messages.create(model=MODEL, max_tokens=37, messages=ask(f"please, {kind}"))
    assert msg.stop_reason == "max_tokens"
    assert msg.usage.output_tokens == 37
    text = msg.content[0].text  # type: ignore[union-attr]
    assert full_document(kind).startswith(text)
    assert text == "".join(tokenize(full_document(kind))[:37])


def test_stream_matches_non_stream(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=MODEL, max_tokens=120, messages=ask("code")) as stream:
        deltas = [
            e.delta.text for e in stream if e.type == "content_block_delta" and e.delta.type == "text_delta"
        ]
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == 120
    assert "".join(deltas) == final.content[0].text == "".join(tokenize(full_document("code"))[:120])  # type: ignore[union-attr]
    assert len(deltas) > 30  # a few tokens per delta


def test_stream_event_grammar(sim_url: str) -> None:
    body = {"model": MODEL, "max_tokens": 20, "messages": ask("prose"), "stream": True}
    raw = httpx2.post(f"{sim_url}/v1/messages", json=body).content
    events = [(e.event, e.data) for e in iter_events([raw])]
    names = [e for e, _ in events]
    assert all(e is not None for e in names)  # every event has its event: line
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start = json.loads(events[0][1])["message"]
    assert start["stop_reason"] is None and start["content"] == []
    assert events[2][1] == '{"type": "ping"}'
    delta = json.loads(events[-2][1])
    assert delta["delta"]["stop_reason"] == "max_tokens" and delta["usage"]["output_tokens"] == 20
    assert raw.endswith(b"\n\n")


def test_async_stream_and_create(sim_url: str) -> None:
    async def main() -> None:
        async with anthropic.AsyncAnthropic(base_url=sim_url, api_key="x", max_retries=0) as client:
            msg = await client.messages.create(model=MODEL, max_tokens=50, messages=ask("table"))
            async with client.messages.stream(model=MODEL, max_tokens=50, messages=ask("table")) as stream:
                final = await stream.get_final_message()
        assert msg.content[0].text == final.content[0].text  # type: ignore[union-attr]
        assert msg.stop_reason == final.stop_reason == "max_tokens"

    asyncio.run(main())


def test_stop_sequence(claude: anthropic.Anthropic) -> None:
    doc = full_document("prose")
    seq = doc[200:212]
    msg = claude.messages.create(
        model=MODEL, max_tokens=1000, messages=ask("prose"), stop_sequences=["zzz", seq]
    )
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == seq
    assert msg.content[0].text == doc[: doc.index(seq)]  # type: ignore[union-attr]
    with claude.messages.stream(
        model=MODEL, max_tokens=1000, messages=ask("prose"), stop_sequences=[seq]
    ) as s:
        final = s.get_final_message()
    assert final.stop_reason == "stop_sequence" and final.stop_sequence == seq


def test_temperature_and_top_p_are_ignored(claude: anthropic.Anthropic) -> None:
    a = claude.messages.create(
        model=MODEL, max_tokens=30, messages=ask("json"), extra_body={"temperature": 1.0}
    )
    b = claude.messages.create(model=MODEL, max_tokens=30, messages=ask("json"), extra_body={"top_p": 0.1})
    assert a.content == b.content


def test_models_list_and_get(claude: anthropic.Anthropic) -> None:
    ids = [m.id for m in claude.models.list()]
    assert {"claude-sonnet-4-5", "claude-opus-4-6", "claude-haiku-4-5"} <= set(ids)
    assert "gpt-4o" not in ids
    assert claude.models.retrieve("claude-opus-4-6").display_name == "Claude Opus 4.6"
    with pytest.raises(anthropic.NotFoundError):
        claude.models.retrieve("claude-nope")


def test_count_tokens(claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model=MODEL, messages=ask("hello there"))
    msg = claude.messages.create(model=MODEL, max_tokens=5, messages=ask("hello there"))
    assert counted.input_tokens == msg.usage.input_tokens > 0


def test_input_tokens_count_system_and_tools(claude: anthropic.Anthropic) -> None:
    plain = claude.messages.create(model=MODEL, max_tokens=5, messages=ask("prose"))
    more = claude.messages.create(
        model=MODEL,
        max_tokens=5,
        system="You are a careful writer.",
        tools=[{"name": "save", "description": "Save", "input_schema": {"type": "object"}}],
        messages=ask("prose"),
    )
    assert more.usage.input_tokens > plain.usage.input_tokens
