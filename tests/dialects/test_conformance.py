"""Conformance over ../shared/conformance (the SDK repositories' recorded streams, not copied
here): every file gives the same stop reason, text, tool input and usage as
``expected/sdk_accumulated.json`` (what the installed SDKs build), plus the right completeness
state, which the SDKs do not give at all."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stopwise.dialects import AnthropicAccumulator, OpenAIAccumulator, parse_body, parse_capture
from stopwise.outcome import Outcome, State
from stopwise.sse import SSEDecoder

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"
if not CONFORMANCE.is_dir():
    pytest.skip(f"no conformance corpus at {CONFORMANCE} (CI has it)", allow_module_level=True)

pytestmark = pytest.mark.conformance

EXPECTED: dict[str, dict[str, Any]] = json.loads(
    (CONFORMANCE / "expected" / "sdk_accumulated.json").read_text()
)
ANTHROPIC = sorted(p.name for p in (CONFORMANCE / "anthropic").glob("*.sse"))
OPENAI = sorted(p.name for p in (CONFORMANCE / "openai").glob("*.sse"))

# The SDKs accept all of these; only stopwise says what the caller really holds.
STATES = {
    "incomplete_partial_json_response.sse": State.TRUNCATED,  # max_tokens inside a tool_use block
    "out_of_order_response.sse": State.INTERRUPTED,  # block 1 with no block 0, no message_delta
}


def chunks13(raw: bytes) -> list[bytes]:
    # The expected file was built from 13-byte reads.
    return [raw[i : i + 13] for i in range(0, len(raw), 13)]


def like_the_sdk(raw: bytes, dialect: str) -> Outcome:
    """Decoded the way the SDK decodes: a final event lacking its blank line is dropped (most
    of these files end that way, see the corpus README), then folded."""
    dec = SSEDecoder()
    acc = AnthropicAccumulator() if dialect == "anthropic" else OpenAIAccumulator()
    for chunk in chunks13(raw):
        for ev in dec.decode(chunk):
            acc.feed(ev)
    return acc.finish()


def test_corpus_is_all_here() -> None:
    assert len(ANTHROPIC) >= 13
    assert len(OPENAI) >= 8
    assert set(ANTHROPIC) | set(OPENAI) <= set(EXPECTED)


def _blocks(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keys = ("type", "text", "input", "name", "id", "thinking", "signature", "content")
    return [{k: b[k] for k in keys if k in b} for b in content]


@pytest.mark.parametrize("name", ANTHROPIC)
def test_anthropic_stream(name: str) -> None:
    expected = EXPECTED[name]
    raw = (CONFORMANCE / "anthropic" / name).read_bytes()
    outcome = like_the_sdk(raw, "anthropic")
    assert outcome.message["stop_reason"] == expected["stop_reason"]
    assert outcome.stop.raw == expected["stop_reason"]
    assert outcome.message.get("stop_details") == expected["stop_details"]
    assert _blocks(outcome.content) == _blocks(expected["content"])
    assert outcome.text == "".join(b["text"] for b in expected["content"] if b["type"] == "text")
    tool_inputs = [b["input"] for b in expected["content"] if "input" in b]
    assert [b["input"] for b in outcome.content if "input" in b] == tool_inputs
    assert outcome.tool_json == {k: v for k, v in expected["raw_partial_json_buffers"].items() if v}
    for key, value in expected["usage"].items():
        assert outcome.message["usage"][key] == value, key
    if expected["stop_reason"] is not None:  # a cut stream's output count is ours to estimate
        assert outcome.usage.input_tokens == expected["usage"]["input_tokens"]
        assert outcome.usage.output_tokens == expected["usage"]["output_tokens"]
    assert outcome.state is STATES.get(name, State.COMPLETE)


@pytest.mark.parametrize("name", ANTHROPIC)
def test_anthropic_capture_reads_the_final_event_too(name: str) -> None:
    # parse_capture also reads an unterminated final message_stop: same message, same verdict.
    raw = (CONFORMANCE / "anthropic" / name).read_bytes()
    outcome = parse_capture(raw)
    assert outcome.dialect == "anthropic"
    sdk_way = like_the_sdk(raw, "anthropic")
    assert outcome.content == sdk_way.content
    assert outcome.stop == sdk_way.stop
    assert outcome.state is sdk_way.state
    assert outcome.anomalies == sdk_way.anomalies


@pytest.mark.parametrize("name", OPENAI)
def test_openai_stream(name: str) -> None:
    expected = EXPECTED[name]
    raw = (CONFORMANCE / "openai" / name).read_bytes()
    outcome = like_the_sdk(raw, "openai")
    got = [
        {
            "index": c["index"],
            "finish_reason": c["finish_reason"],
            "content": c["message"]["content"],
            "refusal": c["message"]["refusal"],
            "tool_calls": [
                {"id": t["id"], "name": t["function"]["name"], "arguments": t["function"]["arguments"]}
                for t in c["message"].get("tool_calls") or []
            ],
        }
        for c in outcome.message["choices"]
    ]
    assert got == expected["choices"]
    assert outcome.text == (expected["choices"][0]["content"] or "")
    inputs = [json.loads(t["arguments"]) for t in expected["choices"][0]["tool_calls"]]
    assert [b["input"] for b in outcome.content if b["type"] == "tool_call"] == inputs
    assert outcome.message["usage"] == expected["usage"]
    assert outcome.usage.output_tokens == expected["usage"]["completion_tokens"]
    assert outcome.usage.input_tokens == expected["usage"]["prompt_tokens"]
    assert outcome.usage.estimated == set()
    finish = expected["choices"][0]["finish_reason"]
    assert outcome.state is (State.TRUNCATED if finish == "length" else State.COMPLETE)
    assert parse_capture(raw).to_dict() == outcome.to_dict()


def test_recorded_non_stream_bodies() -> None:
    records = json.loads((CONFORMANCE / "anthropic" / "ts_nock_ToolRunner_nonstreaming.json").read_text())
    assert records
    for record in records:
        response = record["response"]
        outcome = parse_body(response, max_tokens=record["body"].get("max_tokens"))
        assert outcome.dialect == "anthropic"
        assert outcome.stop.raw == response["stop_reason"]
        assert outcome.state is State.COMPLETE
        assert outcome.text == "".join(b["text"] for b in response["content"] if b["type"] == "text")
        assert [b.get("input") for b in outcome.content if b["type"] == "tool_use"] == [
            b["input"] for b in response["content"] if b["type"] == "tool_use"
        ]
        assert outcome.usage.output_tokens == response["usage"]["output_tokens"]
        assert outcome.id == response["id"]
        # The same bytes as a capture give the same outcome.
        assert parse_capture(json.dumps(response).encode()).to_dict() == outcome.to_dict()
