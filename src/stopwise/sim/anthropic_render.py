"""A :class:`~stopwise.sim.generate.Reply` on the Messages wire: a JSON message, or SSE events
shaped like the recorded streams in shared/conformance/anthropic (``event:`` lines always, a
``ping`` right after the first ``content_block_start``, ``stop_reason`` only in
``message_delta``, and no ``content_block_stop`` for a tool call cut by ``max_tokens``)."""

from __future__ import annotations

from typing import Any

import jiter
import orjson

from ..sse import encode_event
from .caching import CacheUse
from .faults import StreamEvent
from .generate import Block, Reply

__all__ = ["ERROR_EVENT", "MALFORMED_EVENT", "REFUSAL_DETAILS", "message_body", "stream_events"]

REFUSAL_DETAILS = {
    "type": "refusal",
    "category": "cyber",
    "explanation": "This request was refused by the simulator (x-sim-stop: refusal).",
}
ERROR_EVENT = encode_event(
    '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', event="error"
)
# An event whose JSON breaks off: what a proxy that mangles a line produces.
MALFORMED_EVENT = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"te\n\n'
)
_PING = encode_event('{"type": "ping"}', event="ping")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def usage(use: CacheUse, reply: Reply, output_tokens: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": use.input_tokens,
        "cache_creation_input_tokens": use.creation,
        "cache_read_input_tokens": use.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": use.creation - use.creation_1h,
            "ephemeral_1h_input_tokens": use.creation_1h,
        },
        "output_tokens": reply.output_tokens if output_tokens is None else output_tokens,
        "service_tier": "standard",
    }
    if reply.searches:
        out["server_tool_use"] = {"web_search_requests": reply.searches, "web_fetch_requests": 0}
    return out


def _details(reply: Reply) -> dict[str, Any] | None:
    return dict(REFUSAL_DETAILS) if reply.stop_reason == "refusal" else None


def _tool_input(block: Block) -> Any:
    # A call cut by max_tokens has unparseable JSON; report what a partial parse recovers, the
    # way the SDK's own accumulator does (unfinished trailing strings dropped).
    raw = block.content.encode()
    if not block.complete:
        return jiter.from_json(raw, partial_mode="on") if raw.strip() else {}
    return orjson.loads(raw)


def _citations(block: Block) -> list[dict[str, Any]] | None:
    return list(block.citations) if block.citations else None


def _block_json(block: Block) -> dict[str, Any]:
    if block.type == "text":
        if block.citations is not None:
            return {"type": "text", "text": block.content, "citations": _citations(block)}
        return {"type": "text", "text": block.content}
    if block.type == "thinking":
        return {"type": "thinking", "thinking": block.content, "signature": block.signature or ""}
    if block.type == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.signature or ""}
    if block.type == "web_search_tool_result":
        return {"type": block.type, "tool_use_id": block.id, "content": list(block.results)}
    return {"type": block.type, "id": block.id, "name": block.name, "input": _tool_input(block)}


def message_body(reply: Reply, *, msg_id: str, model: str, use: CacheUse) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [_block_json(b) for b in reply.blocks],
        "stop_reason": reply.stop_reason,
        "stop_sequence": reply.stop_sequence,
        "stop_details": _details(reply),
        "usage": usage(use, reply),
    }


def _event(name: str, data: dict[str, Any], **flags: bool) -> StreamEvent:
    return StreamEvent(encode_event(_json(data), event=name), **flags)


def stream_events(reply: Reply, *, msg_id: str, model: str, use: CacheUse) -> list[StreamEvent]:
    start_message: dict[str, Any] = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "stop_details": None,
        "usage": usage(use, reply, output_tokens=1),
    }
    events = [_event("message_start", {"type": "message_start", "message": start_message})]
    for index, block in enumerate(reply.blocks):
        events.extend(_block_events(index, block))
        if index == 0:
            events.insert(2, StreamEvent(_PING))
    delta: dict[str, Any] = {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence}
    details = _details(reply)
    if details is not None:
        delta["stop_details"] = details
    final_usage = usage(use, reply)
    del final_usage["cache_creation"], final_usage["service_tier"]
    events.append(
        _event(
            "message_delta", {"type": "message_delta", "delta": delta, "usage": final_usage}, terminal=True
        )
    )
    events.append(_event("message_stop", {"type": "message_stop"}, terminal=True, done=True))
    return events


def _block_events(index: int, block: Block) -> list[StreamEvent]:
    def delta(body: dict[str, Any]) -> StreamEvent:
        return _event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": body})

    if block.type == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = []
        if block.citations is not None:
            # As the API streams it (tests/fixtures/anthropic/citations.sse): the block starts
            # with no citations, and each citation comes before the text it cites.
            start["citations"] = None
            deltas = [delta({"type": "citations_delta", "citation": c}) for c in block.citations]
        deltas += [delta({"type": "text_delta", "text": p}) for p in block.pieces]
    elif block.type == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [delta({"type": "thinking_delta", "thinking": p}) for p in block.pieces]
        if block.signature:
            deltas.append(delta({"type": "signature_delta", "signature": block.signature}))
    elif block.type in ("web_search_tool_result", "redacted_thinking"):
        start = _block_json(block)
        deltas = []
    else:
        start = {"type": block.type, "id": block.id, "name": block.name, "input": {}}
        # The first input_json_delta is empty in recorded streams.
        deltas = [delta({"type": "input_json_delta", "partial_json": p}) for p in ["", *block.pieces]]
    events = [
        _event("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
    ]
    events.extend(deltas)
    if block.complete or block.type not in ("tool_use", "server_tool_use"):
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events
