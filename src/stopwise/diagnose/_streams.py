"""Fold the SSE payloads found in a log into streams with the dialects' accumulators.

Logs differ from captures in two ways this module absorbs:

- the same event may be pasted twice (the seed report repeats ``Line 1467`` in two quotings):
  a labelled event is folded once, from its first readable copy;
- a log is often only the tail of a stream. The Anthropic accumulator rightly refuses deltas
  for blocks it never saw start, so for a tail we open the message and the blocks ourselves
  (from the delta's type) and record that the log was cut at the start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from ..dialects import (
    ANTHROPIC_STREAM_EVENTS,
    Accumulator,
    Dialect,
    OpenAIAccumulator,
    accumulator_for,
    detect_dialect,
)
from ..dialects.responses import TERMINAL_EVENTS
from ..outcome import Outcome
from .extract import DataLine, Extraction

__all__ = ["Stream", "fold_streams"]

_ANTHROPIC_TYPES = ANTHROPIC_STREAM_EVENTS
_BLOCK_FOR_DELTA: dict[str, dict[str, object]] = {
    "text_delta": {"type": "text", "text": ""},
    "input_json_delta": {"type": "tool_use", "id": "", "name": "", "input": {}},
    "thinking_delta": {"type": "thinking", "thinking": "", "signature": ""},
    "signature_delta": {"type": "thinking", "thinking": "", "signature": ""},
}


@dataclass(slots=True)
class Stream:
    dialect: Dialect
    acc: Accumulator
    lines: list[int] = field(default_factory=list)
    stop_line: int | None = None
    usage_line: int | None = None
    text_line: int | None = None
    error_line: int | None = None
    done_line: int | None = None  # [DONE], message_stop, or a Responses terminal event
    cut_at_start: bool = False
    ids: set[str] = field(default_factory=set)
    started: set[int] = field(default_factory=set)  # Anthropic block indices seen starting
    seen_start: bool = False
    outcome: Outcome | None = None

    @property
    def terminated(self) -> bool:
        return self.done_line is not None


def _dialect_of(d: DataLine) -> Dialect | None:
    obj = d.obj
    if obj is None:
        return None
    kind = obj.get("type")
    if (d.event or "").startswith("response.") or (
        # Events only: a whole `object: response` body is read as a body, not as a stream.
        obj.get("object") != "response" and detect_dialect(obj) == "responses"
    ):
        return "responses"
    if d.event in _ANTHROPIC_TYPES or kind in _ANTHROPIC_TYPES or (kind == "error" and "error" in obj):
        return "anthropic"
    if obj.get("object") == "chat.completion.chunk" or "choices" in obj or "error" in obj:
        return "openai"
    return None


def fold_streams(ex: Extraction, max_tokens: int | None) -> list[Stream]:
    streams: list[Stream] = []
    seen_labels: set[str] = set()  # _paste_key of labelled events already folded
    items: list[tuple[int, DataLine | None]] = [(d.line, d) for d in ex.data]
    items += [(n, None) for n in ex.done]
    items.sort(key=lambda t: t[0])
    cur: Stream | None = None
    for line, d in items:
        if d is None:
            if cur is not None and cur.dialect == "openai" and not cur.terminated:
                _feed_done(cur, line)
            continue
        if d.obj is None:
            continue
        if d.label is not None:
            key = _paste_key(d)
            if key in seen_labels:
                continue
            seen_labels.add(key)
        dialect = _dialect_of(d)
        if dialect is None:
            continue
        if cur is None or cur.dialect != dialect or _starts_new(cur, d.obj, dialect):
            cur = Stream(dialect, accumulator_for(dialect, max_tokens=max_tokens))
            streams.append(cur)
        if dialect == "anthropic":
            _feed_anthropic(cur, d, line)
        elif dialect == "responses":
            _feed_responses(cur, d.obj, d.event, line)
        else:
            _feed_openai(cur, d.obj, line)
    for s in streams:
        s.outcome = s.acc.finish()
    return streams


def _paste_key(d: DataLine) -> str:
    """The same event pasted twice (the seed repeats ``Line 1467`` with its backslashes doubled
    once and not the other time): the same label and the same payload once backslashes are
    ignored. The payload is part of the key because a logger's label can also be a constant
    source line number, shared by every event of a stream."""
    return f"{d.label}:{orjson.dumps(d.obj, option=orjson.OPT_SORT_KEYS).decode().replace(chr(92), '')}"


def _feed_done(cur: Stream, line: int) -> None:
    acc = cur.acc
    if isinstance(acc, OpenAIAccumulator):
        acc.feed_done()
    cur.done_line = line


def _starts_new(cur: Stream, obj: dict[str, Any], dialect: str) -> bool:
    if dialect == "anthropic":
        return obj.get("type") == "message_start" and (cur.seen_start or cur.lines != [])
    if dialect == "responses":
        # Each response opens with response.created; one after anything else is the next call.
        return obj.get("type") == "response.created" and cur.lines != []
    ident = obj.get("id")
    # A new chunk id after the previous stream ended is the next response (a retry, a second call).
    return cur.terminated or (
        isinstance(ident, str) and bool(cur.ids) and ident not in cur.ids and cur.stop_line is not None
    )


def _feed_anthropic(cur: Stream, d: DataLine, line: int) -> None:
    obj = d.obj
    assert obj is not None  # checked by the caller; kept for the type checker
    kind = obj.get("type") or d.event
    acc = cur.acc
    if kind == "message_start":
        cur.seen_start = True
        msg = obj.get("message")
        if isinstance(msg, dict) and isinstance(msg.get("id"), str):
            cur.ids.add(msg["id"])
    elif not cur.seen_start and kind in _ANTHROPIC_TYPES and kind != "ping":
        # The log starts mid-stream: open the message so the rest can be folded.
        cur.cut_at_start = True
        cur.seen_start = True
        acc.feed_json(
            {
                "type": "message_start",
                "message": {
                    "id": None,
                    "type": "message",
                    "role": "assistant",
                    "model": None,
                    "content": [],
                    "stop_reason": None,
                    "usage": {},
                },
            },
            "message_start",
        )
    index = obj.get("index")
    if kind == "content_block_start" and isinstance(index, int):
        cur.started.add(index)
    elif kind == "content_block_delta" and isinstance(index, int) and index not in cur.started:
        delta = obj.get("delta")
        dtype = delta.get("type") if isinstance(delta, dict) else None
        block = _BLOCK_FOR_DELTA.get(dtype if isinstance(dtype, str) else "", {"type": "text", "text": ""})
        acc.feed_json(
            {"type": "content_block_start", "index": index, "content_block": dict(block)},
            "content_block_start",
        )
        cur.started.add(index)
        cur.cut_at_start = True
    acc.feed_json(obj, d.event)
    cur.lines.append(line)
    if kind == "message_delta":
        delta = obj.get("delta")
        if isinstance(delta, dict) and delta.get("stop_reason") is not None:
            cur.stop_line = line
        if isinstance(obj.get("usage"), dict):
            cur.usage_line = line
    elif kind == "message_start":
        cur.usage_line = cur.usage_line or line
    elif kind == "content_block_delta":
        cur.text_line = line
    elif kind == "message_stop":
        cur.done_line = line
    elif kind == "error" or d.event == "error":
        cur.error_line = line


def _feed_openai(cur: Stream, obj: dict[str, Any], line: int) -> None:
    ident = obj.get("id")
    if isinstance(ident, str):
        cur.ids.add(ident)
    cur.acc.feed_json(obj)
    cur.lines.append(line)
    if "error" in obj and "choices" not in obj:
        cur.error_line = line
    if isinstance(obj.get("usage"), dict):
        cur.usage_line = line
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason") is not None:
            cur.stop_line = line
        delta = choice.get("delta")
        if isinstance(delta, dict) and (
            delta.get("content") or delta.get("tool_calls") or delta.get("refusal")
        ):
            cur.text_line = line


def _feed_responses(cur: Stream, obj: dict[str, Any], event: str | None, line: int) -> None:
    kind = obj.get("type") if isinstance(obj.get("type"), str) else event
    response = obj.get("response")
    if isinstance(response, dict) and isinstance(response.get("id"), str):
        cur.ids.add(response["id"])
    if kind == "response.created":
        cur.seen_start = True
    elif not cur.seen_start:
        # A log that starts mid-stream: the accumulator folds the deltas it can place and
        # counts the rest; say the head is missing.
        cur.cut_at_start = True
        cur.seen_start = True
    cur.acc.feed_json(obj, event)
    cur.lines.append(line)
    if kind in TERMINAL_EVENTS:
        cur.stop_line = cur.done_line = line
        if isinstance(response, dict) and isinstance(response.get("usage"), dict):
            cur.usage_line = line
    if kind in ("error", "response.failed"):
        cur.error_line = line
    elif isinstance(kind, str) and kind.endswith(".delta"):
        cur.text_line = line
