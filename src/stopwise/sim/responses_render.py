"""A :class:`~stopwise.sim.generate.Reply` as a Responses API response object and as its event
stream, shaped like recorded ``POST /v1/responses`` streams (o3 and gpt-4.1, 2025): every event
is ``event: <type>`` plus ``data: {"type", "sequence_number", ...}``; the stream opens with
``response.created`` and ``response.in_progress``, each output item is bracketed by
``response.output_item.added``/``.done`` (a message also by ``content_part.added``/``.done``, a
reasoning summary by ``reasoning_summary_part.added``/``.done``), and it ends with
``response.completed`` or ``response.incomplete`` carrying the whole response.

Both the body and the stream are built from one list of output items, so they always agree.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from ..sse import encode_event
from .caching import CacheUse
from .faults import StreamEvent
from .generate import Block, Reply, redacted_data
from .ids import IdFactory
from .openai_render import REFUSAL_TEXT
from .responses_request import ResponsesRequest

__all__ = [
    "FAILED_MESSAGE",
    "MALFORMED_EVENT",
    "RenderedResponse",
    "error_event",
    "failed_event",
    "render",
    "status_of",
]

_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
FAILED_MESSAGE = (
    "An error occurred while processing your request. You can retry your request, or contact us through "
    "our help center at help.openai.com if the error persists. Please include the request ID {request_id} "
    "in your message."
)
MALFORMED_EVENT = (
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_broken","output_in\n\n'
)
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: A streamed delta plus its ``obfuscation`` padding is 16 characters in the recordings (the API
#: pads short deltas so their length does not leak through the encrypted stream's sizes).
_PADDED_LENGTH = 16


def status_of(reply: Reply) -> tuple[str, str | None]:
    """The response's ``status`` and ``incomplete_details.reason`` for the engine's stop reason."""
    if reply.stop_reason in ("max_tokens", "model_context_window_exceeded"):
        return "incomplete", "max_output_tokens"
    if reply.stop_reason == "content_filter":
        return "incomplete", "content_filter"
    return "completed", None


def _hex(ids: IdFactory) -> str:
    """48 hex digits, the length of real response and item ids."""
    return hashlib.sha256(ids.make("").encode()).hexdigest()[:48]


@dataclass
class _Item:
    """One output item with what its stream events carry."""

    body: dict[str, Any]  # the finished item
    pieces: list[str]  # text / summary / argument deltas
    complete: bool


@dataclass(frozen=True)
class RenderedResponse:
    response_id: str
    body: dict[str, Any]  # the final response object
    events: list[StreamEvent]
    # The parts a fault needs to write ``response.failed`` for this response.
    created: dict[str, Any]


def _items(req: ResponsesRequest, reply: Reply, ids: IdFactory, tail: str, incomplete: bool) -> list[_Item]:
    out: list[_Item] = []
    refused = reply.stop_reason == "refusal"
    blocks = [b for b in reply.blocks if b.type in ("thinking", "redacted_thinking", "text", "tool_use")]
    for block in blocks:
        if block.type in ("thinking", "redacted_thinking"):
            out.append(_reasoning(req, block, f"rs_{_hex(ids)[:32]}{tail}"))
        elif block.type == "text":
            if out and out[-1].body["type"] == "message":
                continue  # one message holds all the text
            out.append(_message(reply, refused, f"msg_{_hex(ids)[:32]}{tail}"))
        else:
            out.append(_function_call(block, f"fc_{_hex(ids)[:32]}{tail}"))
    if incomplete and out and out[-1].body["type"] != "reasoning":
        # The item the budget ran out in is cut, whatever the token count left of it.
        out[-1].body["status"] = "incomplete"
        out[-1].complete = False
    return out


def _reasoning(req: ResponsesRequest, block: Block, item_id: str) -> _Item:
    # A reasoning item cut by the budget has no summary: the summarizer runs on finished thought.
    summary = block.content if block.complete and req.summary else None
    body: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": []}
    if summary is not None:
        body["summary"] = [{"type": "summary_text", "text": summary}]
    if req.encrypted:
        body["encrypted_content"] = "gAAAAA" + redacted_data(block.content)
    return _Item(body, block.pieces if summary is not None else [], block.complete)


def _message(reply: Reply, refused: bool, item_id: str) -> _Item:
    if refused:
        part: dict[str, Any] = {"type": "refusal", "refusal": REFUSAL_TEXT}
        words = REFUSAL_TEXT.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    else:
        texts = [b for b in reply.blocks if b.type == "text"]
        pieces = [p for b in texts for p in b.pieces]
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": "".join(pieces)}
    body = {"id": item_id, "type": "message", "status": "completed", "content": [part], "role": "assistant"}
    return _Item(body, pieces, True)


def _function_call(block: Block, item_id: str) -> _Item:
    body = {
        "id": item_id,
        "type": "function_call",
        "status": "completed" if block.complete else "incomplete",
        "arguments": block.content,
        "call_id": block.id,
        "name": block.name,
    }
    return _Item(body, list(block.pieces), block.complete)


def _usage(use: CacheUse, reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": use.total,
        # cache_write_tokens: required by the SDK's types (openai 3.x), always 0 here: OpenAI's
        # automatic caching does not bill writes.
        "input_tokens_details": {"cached_tokens": use.read, "cache_write_tokens": 0},
        "output_tokens": reply.output_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.thinking_tokens},
        "total_tokens": use.total + reply.output_tokens,
    }


def _response(
    req: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    env = req.envelope
    tier = env["service_tier"]
    if status != "in_progress" and tier == "auto":
        tier = "default"  # the tier that served it, once known
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": False,
        "error": error,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": env["instructions"],
        "max_output_tokens": env["max_output_tokens"],
        "max_tool_calls": env["max_tool_calls"],
        "model": req.model.response_name,
        "output": output,
    }
    for key in ("parallel_tool_calls", "previous_response_id", "prompt_cache_key", "reasoning"):
        body[key] = env[key]
    body |= {"safety_identifier": env["safety_identifier"], "service_tier": tier}
    for key in (
        "store",
        "temperature",
        "text",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "truncation",
    ):
        body[key] = env[key]
    body |= {"usage": usage, "user": env["user"], "metadata": env["metadata"]}
    return body


class _Stream:
    def __init__(self, response_id: str) -> None:
        self.events: list[StreamEvent] = []
        self._id = response_id

    @property
    def seq(self) -> int:
        return len(self.events)

    def add(self, kind: str, fields: dict[str, Any], *, terminal: bool = False) -> None:
        data = {"type": kind, "sequence_number": self.seq, **fields}
        encoded = encode_event(orjson.dumps(data).decode(), event=kind)
        self.events.append(StreamEvent(encoded, terminal=terminal, done=terminal))

    def obfuscation(self, delta: str) -> str:
        digest = hashlib.sha256(f"{self._id}:{self.seq}".encode()).digest()
        n = max(1, _PADDED_LENGTH - len(delta))
        return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:n])


def _stream_item(s: _Stream, index: int, item: _Item) -> None:
    body = item.body
    kind = body["type"]
    where = {"item_id": body["id"], "output_index": index}
    if kind == "reasoning":
        s.add("response.output_item.added", {"output_index": index, "item": {**body, "summary": []}})
        if body["summary"]:
            text = body["summary"][0]["text"]
            head = {**where, "summary_index": 0}
            s.add(
                "response.reasoning_summary_part.added",
                {**head, "part": {"type": "summary_text", "text": ""}},
            )
            for piece in item.pieces:
                s.add(
                    "response.reasoning_summary_text.delta",
                    {**head, "delta": piece, "obfuscation": s.obfuscation(piece)},
                )
            s.add("response.reasoning_summary_text.done", {**head, "text": text})
            s.add(
                "response.reasoning_summary_part.done",
                {**head, "part": {"type": "summary_text", "text": text}},
            )
    elif kind == "message":
        added = {**body, "status": "in_progress", "content": []}
        s.add("response.output_item.added", {"output_index": index, "item": added})
        part = body["content"][0]
        at = {**where, "content_index": 0}
        if part["type"] == "refusal":
            s.add("response.content_part.added", {**at, "part": {"type": "refusal", "refusal": ""}})
            for piece in item.pieces:
                s.add("response.refusal.delta", {**at, "delta": piece})
            s.add("response.refusal.done", {**at, "refusal": part["refusal"]})
        else:
            s.add("response.content_part.added", {**at, "part": {**part, "text": ""}})
            for piece in item.pieces:
                s.add(
                    "response.output_text.delta",
                    {**at, "delta": piece, "logprobs": [], "obfuscation": s.obfuscation(piece)},
                )
            s.add("response.output_text.done", {**at, "text": part["text"], "logprobs": []})
        s.add("response.content_part.done", {**at, "part": part})
    else:
        added = {**body, "status": "in_progress", "arguments": ""}
        s.add("response.output_item.added", {"output_index": index, "item": added})
        for piece in item.pieces:
            s.add(
                "response.function_call_arguments.delta",
                {**where, "delta": piece, "obfuscation": s.obfuscation(piece)},
            )
        s.add("response.function_call_arguments.done", {**where, "arguments": body["arguments"]})
    s.add("response.output_item.done", {"output_index": index, "item": body})


def render(
    req: ResponsesRequest, reply: Reply, use: CacheUse, ids: IdFactory, created_at: int
) -> RenderedResponse:
    digits = _hex(ids)
    response_id = f"resp_{digits}"
    tail = digits[32:]  # item ids share the response id's last 16 digits, as real ones do
    status, reason = status_of(reply)
    items = _items(req, reply, ids, tail, status == "incomplete")
    output = [item.body for item in items]
    final = _response(
        req,
        response_id=response_id,
        created_at=created_at,
        status=status,
        output=output,
        usage=_usage(use, reply),
        reason=reason,
    )
    start = _response(
        req, response_id=response_id, created_at=created_at, status="in_progress", output=[], usage=None
    )
    s = _Stream(response_id)
    s.add("response.created", {"response": start})
    s.add("response.in_progress", {"response": start})
    for index, item in enumerate(items):
        _stream_item(s, index, item)
    s.add(f"response.{status}", {"response": final}, terminal=True)
    return RenderedResponse(response_id, final, s.events, start)


def error_event(sequence_number: int) -> bytes:
    """The ``error`` event the API writes when it fails mid-stream. Its fields are nested under
    ``error`` on the wire (openai/openai-dotnet#881), which is what makes the openai SDK raise
    ``APIError`` on it."""
    data = {
        "type": "error",
        "sequence_number": sequence_number,
        "error": {"type": "server_error", "code": "server_error", "message": _SERVER_ERROR, "param": None},
    }
    return encode_event(orjson.dumps(data).decode(), event="error")


def failed_event(rendered: RenderedResponse, sequence_number: int, request_id: str) -> bytes:
    """``response.failed`` for the response being streamed: ``status: "failed"`` and the error."""
    error = {"code": "server_error", "message": FAILED_MESSAGE.format(request_id=request_id)}
    response = {**rendered.created, "status": "failed", "error": error}
    if response.get("service_tier") == "auto":
        response["service_tier"] = "default"
    data = {"type": "response.failed", "sequence_number": sequence_number, "response": response}
    return encode_event(orjson.dumps(data).decode(), event="response.failed")
