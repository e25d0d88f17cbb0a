"""Logs for every diagnosis category, written from the documented error texts and stream shapes
(brief/wire.md), and the wrappings people paste them in: raw, SDK traceback, log-prefixed,
escaped (a Python repr, or a JSON string inside a structured log record)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RID = "req_011CSHoEeqs5C35K2UUqR7Fy"
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    529: "Overloaded",
}
SDK_CLASS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    402: "PermissionDeniedError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    413: "APIStatusError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "InternalServerError",
    529: "OverloadedError",
}
TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/worker.py", line 88, in run
    resp = client.messages.create(**params)
  File "/srv/venv/lib/python3.11/site-packages/{sdk}/_base_client.py", line 1047, in request
    raise self._make_status_error_from_response(err.response) from None
"""


@dataclass(frozen=True)
class Case:
    name: str
    category: str
    log: str


# ---- error bodies ------------------------------------------------------------------------------


def anthropic_error(etype: str, message: str, **extra: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"type": etype, "message": message, **extra}
    return {"type": "error", "error": err, "request_id": RID}


def openai_error(
    message: str, etype: str | None, code: str | None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": etype, "param": param, "code": code}}


def error_wrappings(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, str]:
    sdk = "anthropic" if body.get("type") == "error" else "openai"
    hdrs = {"content-type": "application/json", **(headers or {})}
    head = "\n".join(f"{k}: {v}" for k, v in hdrs.items())
    raw = f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\n{head}\n\n{json.dumps(body, indent=2)}\n"
    tb = (
        TRACEBACK.format(sdk=sdk)
        + f"{sdk}.{SDK_CLASS.get(status, 'APIStatusError')}: Error code: {status} - {body!r}\n"
    )
    if headers:
        tb = "".join(f"{k}: {v}\n" for k, v in headers.items()) + tb
    prefixed = (
        f"2025-09-10 12:00:01.123 ERROR [relay] upstream status={status} "
        f"body={json.dumps(body)} headers={json.dumps(hdrs)}\n"
    )
    escaped = (
        json.dumps(
            {
                "level": "error",
                "ts": "2025-09-10T12:00:01Z",
                "status": status,
                "msg": "upstream error",
                "body": json.dumps(body),
                "headers": hdrs,
            }
        )
        + "\n"
    )
    return {"raw": raw, "traceback": tb, "prefixed": prefixed, "escaped": escaped}


# ---- streams -----------------------------------------------------------------------------------


def sse(event: str | None, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {payload}\n\n"


def anthropic_stream(
    blocks: list[tuple[str, list[str]]],
    stop: str | None,
    *,
    output_tokens: int = 120,
    input_tokens: int = 2048,
    model: str = "claude-sonnet-4-20250514",
    terminal: bool = True,
    tail_events: str = "",
    stop_details: dict[str, Any] | None = None,
) -> str:
    """``blocks``: (kind, pieces) with kind text / tool_use / thinking / server_tool_use."""
    out = [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 1},
                },
            },
        )
    ]
    for i, (kind, pieces) in enumerate(blocks):
        if kind == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
        else:
            start = {
                "type": kind,
                "id": f"{'srvtoolu' if kind.startswith('server') else 'toolu'}_01A09q90qw90",
                "name": "web_search" if kind.startswith("server") else "run_sql",
                "input": {},
            }
        out.append(
            sse("content_block_start", {"type": "content_block_start", "index": i, "content_block": start})
        )
        for piece in pieces:
            if kind == "text":
                delta = {"type": "text_delta", "text": piece}
            elif kind == "thinking":
                delta = {"type": "thinking_delta", "thinking": piece}
            else:
                delta = {"type": "input_json_delta", "partial_json": piece}
            out.append(
                sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": delta})
            )
        if not (stop == "max_tokens" and i == len(blocks) - 1 and kind == "tool_use"):
            out.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
    if not terminal:
        return "".join(out) + tail_events
    out.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None, "stop_details": stop_details},
                "usage": {"output_tokens": output_tokens},
            },
        )
    )
    out.append(sse("message_stop", {"type": "message_stop"}))
    return "".join(out) + tail_events


def openai_stream(
    pieces: list[str],
    finish: str | None,
    *,
    usage: tuple[int, int] | None = (1200, 300),
    model: str = "gpt-4o-2024-08-06",
    ident: str = "chatcmpl-AVb9RqzYjVHK2Q",
    done: bool = True,
    tool_args: list[str] | None = None,
    reasoning: int = 0,
) -> str:
    base = {"id": ident, "object": "chat.completion.chunk", "created": 1757509223, "model": model}
    out = [
        sse(
            None,
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
                ],
            },
        )
    ]
    for p in pieces:
        out.append(
            sse(None, {**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
        )
    for j, frag in enumerate(tool_args or []):
        call: dict[str, Any] = {"index": 0, "function": {"arguments": frag}}
        if j == 0:
            call.update(id="call_9aF2", type="function", function={"name": "run_sql", "arguments": frag})
        out.append(
            sse(
                None,
                {**base, "choices": [{"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}]},
            )
        )
    if finish is not None:
        out.append(sse(None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    if usage is not None and done:
        u: dict[str, Any] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
        if reasoning:
            u["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        out.append(sse(None, {**base, "choices": [], "usage": u}))
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out)


def stream_wrappings(stream: str) -> dict[str, str]:
    lines = [ln for ln in stream.split("\n")]
    prefixed = "\n".join(
        f"2025-09-10 12:00:00.{i % 1000:03d} DEBUG sse: {ln}" if ln else ln for i, ln in enumerate(lines)
    )
    # The seed report's shape: each non-empty line as a Python repr, numbered.
    numbered = "\n".join(f"Line {1400 + i}: {ln!r}" for i, ln in enumerate(lines) if ln)
    one_line = "DEBUG received body: " + repr(stream.encode("utf-8")) + "\n"
    return {"raw": stream, "prefixed": prefixed, "repr_lines": numbered, "repr_bytes": one_line}


def expand(name: str, category: str, wrappings: dict[str, str], only: tuple[str, ...] = ()) -> list[Case]:
    return [Case(f"{name}/{w}", category, log) for w, log in wrappings.items() if not only or w in only]


Builder = Callable[[], list[Case]]
