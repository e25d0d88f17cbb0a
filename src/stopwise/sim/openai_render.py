"""A :class:`~stopwise.sim.generate.Reply` on the Chat Completions wire, shaped like the recorded
gpt-4o streams in shared/conformance/openai; or, with ``relay=True``, like a one-api/new-api
relay in front of Claude (shared/examples/relay-truncation-report.txt): Claude's raw stop
reason in ``finish_reason``, the ``msg_…`` id, the Claude model name, ``usage: null`` on every
chunk and the relay's usage object."""

from __future__ import annotations

from typing import Any

import orjson

from ..sse import encode_event
from .caching import CacheUse
from .faults import StreamEvent
from .generate import Reply

__all__ = [
    "ERROR_EVENT",
    "MALFORMED_EVENT",
    "REFUSAL_TEXT",
    "completion_body",
    "finish_reason",
    "stream_events",
]

REFUSAL_TEXT = "I'm sorry, but I can't help with that request."
ERROR_EVENT = encode_event(
    '{"error":{"message":"The server had an error while processing your request. Sorry about that!",'
    '"type":"server_error","param":null,"code":null}}'
)
MALFORMED_EVENT = (
    b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"cont\n\n'
)
_DONE = encode_event("[DONE]")
_OPENAI_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "refusal": "stop",  # an OpenAI refusal is text in ``refusal``, not a finish reason
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "content_filter": "content_filter",
}


def finish_reason(reply: Reply, relay: bool) -> str:
    if relay:
        return "content_filter" if reply.stop_reason == "content_filter" else reply.stop_reason
    return _OPENAI_FINISH.get(reply.stop_reason, "stop")


def _text(reply: Reply) -> str:
    return "".join(b.content for b in reply.blocks if b.type == "text")


def _usage(use: CacheUse, reply: Reply, relay: bool) -> dict[str, Any]:
    prompt = use.total
    base: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": reply.output_tokens,
        "total_tokens": prompt + reply.output_tokens,
    }
    if relay:
        base["prompt_tokens_details"] = {
            "cached_tokens": use.read,
            "text_tokens": 0,
            "audio_tokens": 0,
            "image_tokens": 0,
        }
        base["completion_tokens_details"] = {"text_tokens": 0, "audio_tokens": 0, "reasoning_tokens": 0}
        base |= {"input_tokens": 0, "output_tokens": 0, "input_tokens_details": None}
        return base
    base["prompt_tokens_details"] = {"cached_tokens": use.read, "audio_tokens": 0}
    base["completion_tokens_details"] = {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    return base


def _tool_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {"id": b.id, "type": "function", "function": {"name": b.name, "arguments": b.content}}
        for b in reply.blocks
        if b.type == "tool_use"
    ]


def completion_body(
    reply: Reply, *, cid: str, model: str, created: int, use: CacheUse, relay: bool
) -> dict[str, Any]:
    refused = reply.stop_reason == "refusal" and not relay
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if refused or (not _text(reply) and _tool_calls(reply)) else _text(reply),
    }
    if not relay:
        message["refusal"] = REFUSAL_TEXT if refused else None
        message["annotations"] = []
    if _tool_calls(reply):
        message["tool_calls"] = _tool_calls(reply)
    body: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(reply, relay)}
        ],
        "usage": _usage(use, reply, relay),
    }
    if relay:
        body["system_fingerprint"] = None
    else:
        body["service_tier"] = "default"
        body["system_fingerprint"] = "fp_sim0001"
    return body


def stream_events(
    reply: Reply, *, cid: str, model: str, created: int, use: CacheUse, relay: bool, include_usage: bool
) -> list[StreamEvent]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **flags: bool) -> StreamEvent:
        if relay:
            choice: dict[str, Any] = {"delta": delta, "logprobs": None, "finish_reason": finish, "index": 0}
            body: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
            }
            body |= {"system_fingerprint": None, "choices": [choice], "usage": None}
        else:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
            body |= {"service_tier": "default", "system_fingerprint": "fp_sim0001", "choices": [choice]}
        return StreamEvent(encode_event(orjson.dumps(body).decode()), **flags)

    events: list[StreamEvent] = []
    refused = reply.stop_reason == "refusal" and not relay
    text_blocks = [b for b in reply.blocks if b.type == "text"]
    tools = [b for b in reply.blocks if b.type == "tool_use"]
    if refused:
        events.append(chunk({"role": "assistant", "content": None, "refusal": ""}))
        events.extend(chunk({"refusal": p}) for p in _pieces(REFUSAL_TEXT))
    elif tools and not _text(reply):
        for n, block in enumerate(tools):
            head = {
                "index": n,
                "id": block.id,
                "type": "function",
                "function": {"name": block.name, "arguments": ""},
            }
            first: dict[str, Any] = {"tool_calls": [head]}
            if n == 0:
                first = {"role": "assistant", "content": None, **first, "refusal": None}
            events.append(chunk(first))
            events.extend(
                chunk({"tool_calls": [{"index": n, "function": {"arguments": p}}]}) for p in block.pieces
            )
    else:
        events.append(chunk({"role": "assistant", "content": ""} | ({} if relay else {"refusal": None})))
        events.extend(chunk({"content": p}) for b in text_blocks for p in b.pieces)
    events.append(chunk({}, finish_reason(reply, relay), terminal=True))
    if include_usage:
        if relay:
            usage_body: dict[str, Any] = {"id": cid, "object": "chat.completion.chunk", "created": created}
            usage_body |= {
                "model": model,
                "system_fingerprint": None,
                "choices": [],
                "usage": _usage(use, reply, True),
            }
        else:
            usage_body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
            usage_body |= {"service_tier": "default", "system_fingerprint": "fp_sim0001", "choices": []}
            usage_body["usage"] = _usage(use, reply, False)
        events.append(StreamEvent(encode_event(orjson.dumps(usage_body).decode()), terminal=True))
    events.append(StreamEvent(_DONE, terminal=True, done=True))
    return events


def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]
