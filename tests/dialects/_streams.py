"""Stream builders shared by the dialect tests: the team's fixture files, folding bytes into an
Outcome, and hypothesis strategies for realistic streams of both dialects.

The generated streams follow the grammar in brief/wire.md: Anthropic ``message_start`` →
blocks (start, deltas, stop) → ``message_delta`` → ``message_stop``; OpenAI chunks with
``finish_reason`` on the last content chunk, an ``include_usage`` chunk with empty choices, then
``[DONE]``. Text is any unicode (CJK, emoji, U+2028, CR and LF inside JSON strings), tool input is
any JSON object split at arbitrary points; :func:`with_line_ends` gives the CRLF and CR variants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from stopwise.dialects import AnthropicAccumulator, OpenAIAccumulator, ResponsesAccumulator
from stopwise.outcome import Outcome
from stopwise.sse import ServerSentEvent, iter_events

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(dialect: str, name: str) -> bytes:
    return (FIXTURES / dialect / f"{name}.sse").read_bytes()


def fixture_names(dialect: str) -> list[str]:
    return sorted(p.stem for p in (FIXTURES / dialect).glob("*.sse"))


def events_of(chunks: Iterable[bytes]) -> list[ServerSentEvent]:
    return list(iter_events(chunks))


def fold(chunks: bytes | Iterable[bytes], dialect: str, *, max_tokens: int | None = None) -> Outcome:
    """Bytes through our decoder (final unterminated event included) and accumulator."""
    if isinstance(chunks, bytes):
        chunks = [chunks]
    acc: AnthropicAccumulator | OpenAIAccumulator | ResponsesAccumulator
    if dialect == "anthropic":
        acc = AnthropicAccumulator(max_tokens=max_tokens)
    elif dialect == "responses":
        acc = ResponsesAccumulator(max_tokens=max_tokens)
    else:
        acc = OpenAIAccumulator(max_tokens=max_tokens)
    for ev in iter_events(chunks):
        acc.feed(ev)
    return acc.finish()


def split_at(raw: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({c % (len(raw) + 1) for c in cuts})
    return [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]


def dumps(obj: Any) -> str:
    # ensure_ascii=False like the APIs: CJK, emoji and U+2028 travel raw inside the data line.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def sse(events: Iterable[dict[str, Any]], *, event_lines: bool = True) -> bytes:
    out = []
    for ev in events:
        head = f"event: {ev['type']}\n" if event_lines else ""
        out.append(f"{head}data: {dumps(ev)}\n\n")
    return "".join(out).encode()


# --- Anthropic -----------------------------------------------------------------------------


def a_start(
    mid: str = "msg_01XFDUDYJgAACzvnptvVoYEL", input_tokens: int = 25, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": input_tokens,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
            **extra,
        },
    }


def a_block(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def a_delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def a_text(index: int, text: str) -> dict[str, Any]:
    return a_delta(index, {"type": "text_delta", "text": text})


def a_json(index: int, partial: str) -> dict[str, Any]:
    return a_delta(index, {"type": "input_json_delta", "partial_json": partial})


def a_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def a_message_delta(reason: str | None, output_tokens: int, **usage: Any) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": None},
        "usage": {"output_tokens": output_tokens, **usage},
    }


A_MESSAGE_STOP = {"type": "message_stop"}


def a_text_message(
    parts: list[str], reason: str | None = "end_turn", output_tokens: int = 10
) -> list[dict[str, Any]]:
    return [
        a_start(),
        a_block(0, {"type": "text", "text": ""}),
        *[a_text(0, p) for p in parts],
        a_stop(0),
        a_message_delta(reason, output_tokens),
        A_MESSAGE_STOP,
    ]


# --- OpenAI --------------------------------------------------------------------------------


def o_chunk(choices: list[dict[str, Any]], *, cid: str = "chatcmpl-CKqZ0a1b2c3d4e5f6g7h8i9j0", **extra: Any):
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": 1763712000,
        "model": extra.pop("model", "gpt-4o-2024-08-06"),
        "system_fingerprint": "fp_f33640a400",
        "choices": choices,
        **extra,
    }


def o_choice(delta: dict[str, Any], finish: Any = None, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}


def o_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def o_sse(chunks: Iterable[dict[str, Any]], *, done: bool = True) -> bytes:
    body = "".join(f"data: {dumps(c)}\n\n" for c in chunks)
    return (body + ("data: [DONE]\n\n" if done else "")).encode()


# --- hypothesis strategies -----------------------------------------------------------------

# Any unicode but surrogates, leaning on what breaks decoders: multi-byte characters, U+2028,
# CR/LF (escaped inside JSON strings), quotes and backslashes.
_TRICKY = st.sampled_from(["你好", "🌍", "é", "\u2028", "\r\n", "\n\n", '"', "\\", "data: x", " ", "ü🎉"])
TEXT = st.lists(st.text(max_size=12) | _TRICKY, max_size=4).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=10) | _TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
TOOL_INPUT = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)

ANTHROPIC_REASONS = [
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
]
OPENAI_REASONS = ["stop", "length", "tool_calls", "content_filter", "max_tokens", "end_turn", "pause_turn"]


@st.composite
def fragments(draw: st.DrawFn, whole: str, first_empty: bool = False) -> list[str]:
    """``whole`` cut at arbitrary points (inside escapes and multi-byte characters too)."""
    cuts = draw(st.lists(st.integers(0, max(len(whole), 0)), max_size=5))
    points = sorted(set(cuts))
    parts = [whole[a:b] for a, b in zip([0, *points], [*points, len(whole)], strict=True)]
    parts = [p for p in parts if p] or [whole]
    return ["", *parts] if first_empty else parts


@dataclass
class Generated:
    """A generated stream and what it was built from, for the tests to check against."""

    raw: bytes
    events: list[dict[str, Any]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    tool_inputs: list[Any] = field(default_factory=list)
    reason: str | None = None
    complete_events: bool = True


@st.composite
def anthropic_streams(draw: st.DrawFn, *, allow_cut: bool = True) -> Generated:
    events: list[dict[str, Any]] = [a_start(input_tokens=draw(st.integers(1, 50_000)))]
    texts: list[str] = []
    inputs: list[Any] = []
    kinds = draw(st.lists(st.sampled_from(["text", "tool_use", "thinking"]), min_size=1, max_size=4))
    for i, kind in enumerate(kinds):
        if kind == "text":
            text = draw(TEXT)
            texts.append(text)
            events.append(a_block(i, {"type": "text", "text": ""}))
            events += [a_text(i, p) for p in draw(fragments(text))]
        elif kind == "thinking":
            events.append(a_block(i, {"type": "thinking", "thinking": "", "signature": ""}))
            thought = draw(TEXT)
            events += [
                a_delta(i, {"type": "thinking_delta", "thinking": p}) for p in draw(fragments(thought))
            ]
            events.append(
                a_delta(i, {"type": "signature_delta", "signature": "EqQBCkYIBRgCIkB" + "A" * (i + 1)})
            )
        else:
            tool_input = draw(TOOL_INPUT)
            inputs.append(tool_input)
            events.append(
                a_block(i, {"type": "tool_use", "id": f"toolu_01{i:022d}", "name": "lookup", "input": {}})
            )
            # The first input_json_delta is often empty (brief/wire.md).
            events += [
                a_json(i, p) for p in draw(fragments(json.dumps(tool_input, ensure_ascii=False), True))
            ]
        if draw(st.integers(0, 9)):  # now and then a ping between blocks
            events.append({"type": "ping"})
        events.append(a_stop(i))
    reason = draw(st.sampled_from(ANTHROPIC_REASONS))
    events.append(a_message_delta(reason, draw(st.integers(1, 8192))))
    events.append(A_MESSAGE_STOP)
    complete = True
    if allow_cut and draw(st.booleans()):
        events = events[: draw(st.integers(1, len(events) - 1))]
        complete = False
    raw = sse(events)
    if allow_cut and not complete and draw(st.booleans()):
        raw = raw[: draw(st.integers(1, len(raw)))]  # cut inside an event, too
    return Generated(
        raw=raw, events=events, texts=texts, tool_inputs=inputs, reason=reason, complete_events=complete
    )


@st.composite
def openai_streams(draw: st.DrawFn, *, allow_cut: bool = True) -> Generated:
    n = draw(st.integers(1, 3))
    per_choice: list[list[dict[str, Any]]] = []
    texts: list[str] = []
    inputs: list[Any] = []
    reasons: list[Any] = []
    for index in range(n):
        chunks = [o_choice({"role": "assistant", "content": ""}, index=index)]
        text = draw(TEXT)
        texts.append(text)
        chunks += [o_choice({"content": p}, index=index) for p in draw(fragments(text))]
        for call in range(draw(st.integers(0, 2))):
            args = draw(TOOL_INPUT)
            inputs.append(args)
            first = {
                "index": call,
                "id": f"call_{index}{call}abcdefghijklmnopqrstu",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }
            chunks.append(o_choice({"tool_calls": [first]}, index=index))
            for part in draw(fragments(json.dumps(args, ensure_ascii=False))):
                chunks.append(
                    o_choice({"tool_calls": [{"index": call, "function": {"arguments": part}}]}, index=index)
                )
        reason = draw(st.sampled_from(OPENAI_REASONS))
        reasons.append(reason)
        chunks.append(o_choice({}, reason, index=index))
        per_choice.append(chunks)
    # n > 1: choices interleave, each keeping its own order.
    order = draw(st.permutations([i for i, cs in enumerate(per_choice) for _ in cs]))
    cursors = [0] * n
    chunks_out = []
    for i in order:
        chunks_out.append(o_chunk([per_choice[i][cursors[i]]]))
        cursors[i] += 1
    if draw(st.booleans()):
        chunks_out.append(
            o_chunk([], usage=o_usage(draw(st.integers(1, 10_000)), draw(st.integers(1, 8192))))
        )
    complete = True
    if allow_cut and draw(st.booleans()):
        chunks_out = chunks_out[: draw(st.integers(1, len(chunks_out)))]
        complete = False
    done = complete or draw(st.booleans())
    raw = o_sse(chunks_out, done=done)
    if draw(st.booleans()):
        # Some servers send no space after the colon, [DONE] included. Only line starts change:
        # a raw LF never occurs inside the JSON.
        raw = re.sub(rb"(^|\n)data: ", rb"\1data:", raw)
    if allow_cut and not complete and draw(st.booleans()):
        raw = raw[: draw(st.integers(1, len(raw)))]
    return Generated(
        raw=raw,
        events=chunks_out,
        texts=texts,
        tool_inputs=inputs,
        reason=reasons[0],
        complete_events=complete,
    )


def with_line_ends(raw: bytes, eol: bytes) -> bytes:
    """The same stream with other line ends. JSON escapes CR and LF inside strings, so every
    raw LF in a generated stream is a line end."""
    return raw.replace(b"\n", eol)
