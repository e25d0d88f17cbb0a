"""The simulator's streams have the same shape as streams recorded from the real APIs
(../shared/conformance, read in place when it exists)."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from stopwise.sim import create_app
from stopwise.sse import iter_events

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "conformance"
pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="no shared/conformance corpus here"),
]


def skeleton(raw: bytes) -> list[str]:
    """Event names (or chunk kinds), block types and stop reasons, with repeats collapsed."""
    out = []
    for event in iter_events([raw]):
        if event.data.strip() == "[DONE]":
            out.append("[DONE]")
            continue
        data = json.loads(event.data)
        name = event.event or ("usage" if data.get("choices") == [] else "chunk")
        if "content_block" in data:
            name += ":" + data["content_block"]["type"]
        if data.get("type") == "message_delta":
            name += ":" + data["delta"]["stop_reason"]
        if name == "chunk" and data["choices"][0]["finish_reason"]:
            name += ":" + data["choices"][0]["finish_reason"]
        out.append(name)
    return [k for k, _ in itertools.groupby(out)]


def sim(path: str, body: dict[str, Any]) -> bytes:
    async def main() -> bytes:
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(create_app()), base_url="http://sim"
        ) as c:
            return (await c.post(path, json=body)).content

    return asyncio.run(main())


def test_text_stream_like_basic_response() -> None:
    recorded = skeleton((CORPUS / "anthropic" / "basic_response.sse").read_bytes() + b"\n\n")
    ours = skeleton(
        sim(
            "/v1/messages",
            {
                "model": "claude-haiku-4-5",
                "max_tokens": 9000,
                "stream": True,
                "messages": [{"role": "user", "content": "prose"}],
            },
        )
    )
    assert ours == recorded


def test_tool_cut_like_incomplete_partial_json_response() -> None:
    recorded = skeleton(
        (CORPUS / "anthropic" / "incomplete_partial_json_response.sse").read_bytes() + b"\n\n"
    )
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 124,
        "stream": True,
        "tools": [{"name": "make_file", "input_schema": {"type": "object"}}],
        "messages": [{"role": "user", "content": "tool"}],
    }
    assert skeleton(sim("/v1/messages", body)) == recorded


def test_openai_streams_like_the_recordings() -> None:
    plain = skeleton((CORPUS / "openai" / "plain_text_stop__e2aad469b71d.sse").read_bytes())
    body = {
        "model": "gpt-4o",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "prose"}],
    }
    assert skeleton(sim("/v1/chat/completions", body)) == plain
    recorded_length = (CORPUS / "openai" / "length_max_tokens_reached__4cc50a6135d2.sse").read_bytes()
    ours = sim("/v1/chat/completions", {**body, "max_tokens": 1})
    assert skeleton(ours) == skeleton(recorded_length)
    first_recorded = json.loads(next(iter_events([recorded_length])).data)
    first_ours = json.loads(next(iter_events([ours])).data)
    assert first_ours["choices"][0]["delta"] == first_recorded["choices"][0]["delta"]
    assert set(first_recorded) <= set(first_ours)


def test_openai_tool_call_first_chunk_like_the_recording() -> None:
    recorded = (CORPUS / "openai" / "tool_calls_single_strict__c6aa7e397b71.sse").read_bytes()
    body = {
        "model": "gpt-4o",
        "stream": True,
        "tools": [
            {"type": "function", "function": {"name": "GetWeatherArgs", "parameters": {"type": "object"}}}
        ],
        "messages": [{"role": "user", "content": "tool"}],
    }
    ours = sim("/v1/chat/completions", body)
    delta_recorded = json.loads(next(iter_events([recorded])).data)["choices"][0]["delta"]
    delta_ours = json.loads(next(iter_events([ours])).data)["choices"][0]["delta"]
    assert list(delta_ours) == list(delta_recorded)
    assert delta_ours["tool_calls"][0].keys() == delta_recorded["tool_calls"][0].keys()
