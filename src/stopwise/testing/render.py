"""Render a whole API response as the upstream would send it, in either dialect, as a :class:`Reply`.

:func:`anthropic_reply` takes a Messages API response dict and :func:`openai_reply` a Chat
Completions response dict; with ``stream=False`` the reply is the JSON body, with ``stream=True``
it is the event stream the API (or a relay) sends for that same response, so the official SDKs'
own accumulators rebuild the dict they were given. Faults are options: a body that breaks off, an
error event or chunk mid-stream, a relay that restarts the stream, events straddling reads::

    from stopwise.testing.render import anthropic_reply

    anthropic_reply(message, stream=True, pieces=3, break_after=5)

The event streams follow brief/wire.md: Anthropic ``message_start`` (empty content, usage so far)
→ per block ``content_block_start`` / ``content_block_delta``… / ``content_block_stop`` →
``message_delta`` (stop fields, cumulative usage) → ``message_stop``; OpenAI a role chunk, content
pieces, tool call fragments, the finish chunk, a usage chunk with ``choices: []``, ``[DONE]``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import orjson

from . import Reply

__all__ = [
    "anthropic_error_event",
    "anthropic_events",
    "anthropic_reply",
    "caller_events",
    "cut",
    "deep_sum",
    "differences",
    "error_events",
    "litellm_error_chunk",
    "openai_chunks",
    "openai_reply",
    "reply_bytes",
    "sdk_anthropic",
    "sdk_openai",
    "sdk_responses",
    "split_text",
    "sse_events",
    "stream_text",
    "transparency_problems",
]

Pieces = int | Sequence[int]

#: Fields of a streamed block that its deltas build; everything else rides in content_block_start.
_DELTA_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text", "citations"),
    "thinking": ("thinking", "signature"),
    "tool_use": ("input",),
    "server_tool_use": ("input",),
    "mcp_tool_use": ("input",),
}

#: Usage fields the API sends in ``message_delta`` (cumulative); the rest come in ``message_start``.
_DELTA_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "server_tool_use")


def split_text(text: str, pieces: int) -> list[str]:
    """``text`` in ``pieces`` non-empty parts of near-equal length (fewer if it is shorter)."""
    if not text:
        return []
    n = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), n)
    out, at = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(text[at : at + step])
        at += step
    return out


def cut(data: bytes, chunking: Sequence[int] | None) -> list[bytes]:
    """``data`` cut at the byte offsets in ``chunking`` (out-of-range and repeated ones ignored)."""
    if chunking is None:
        return [data] if data else []
    points = sorted({p for p in chunking if 0 < p < len(data)})
    out, at = [], 0
    for p in points:
        out.append(data[at:p])
        at = p
    if at < len(data):
        out.append(data[at:])
    return out


def _pieces_for(pieces: Pieces, i: int) -> int:
    if isinstance(pieces, int):
        return pieces
    return pieces[i] if i < len(pieces) else 1


def _dumps(obj: Any, spaced: bool = False) -> bytes:
    if spaced:
        # As a relay in Python re-serializes: json's default separators, non-ASCII escaped.
        return json.dumps(obj).encode()
    return orjson.dumps(obj)


def _sse(event: str | None, data: bytes) -> bytes:
    head = b"" if event is None else b"event: " + event.encode() + b"\n"
    return head + b"data: " + data + b"\n\n"


# --------------------------------------------------------------------------- Anthropic


def _block_events(
    index: int, block: Mapping[str, Any], pieces: int, empty_first_json: bool
) -> list[dict[str, Any]]:
    kind = block.get("type")
    built = _DELTA_FIELDS.get(kind if isinstance(kind, str) else "", ())
    start: dict[str, Any] = {}
    for key, value in block.items():
        if key not in built:
            start[key] = copy.deepcopy(value)
        elif kind == "text" and key == "text":
            start["text"] = ""
        elif kind == "text" and key == "citations":
            start["citations"] = None
        elif kind == "thinking":
            start[key] = ""
        elif key == "input":
            start["input"] = {}
    events: list[dict[str, Any]] = [{"type": "content_block_start", "index": index, "content_block": start}]

    def delta(d: dict[str, Any]) -> None:
        events.append({"type": "content_block_delta", "index": index, "delta": d})

    if kind == "text":
        for citation in block.get("citations") or []:
            delta({"type": "citations_delta", "citation": copy.deepcopy(citation)})
        for part in split_text(str(block.get("text", "")), pieces):
            delta({"type": "text_delta", "text": part})
    elif kind == "thinking":
        for part in split_text(str(block.get("thinking", "")), pieces):
            delta({"type": "thinking_delta", "thinking": part})
        if "signature" in block and block["signature"] is not None:
            delta({"type": "signature_delta", "signature": block["signature"]})
    elif "input" in built:
        raw = orjson.dumps(block.get("input", {})).decode()
        parts = [] if raw == "{}" else split_text(raw, pieces)
        if empty_first_json:
            parts.insert(0, "")
        for part in parts:
            delta({"type": "input_json_delta", "partial_json": part})
    events.append({"type": "content_block_stop", "index": index})
    return events


def anthropic_events(
    message: Mapping[str, Any],
    *,
    pieces: Pieces = 1,
    empty_first_json: bool = True,
    start_output_tokens: int = 1,
) -> list[dict[str, Any]]:
    """The stream events (``data`` objects, each with its ``type``) of a whole Messages response."""
    envelope: dict[str, Any] = {}
    for key, value in message.items():
        if key == "content":
            envelope["content"] = []
        elif key in ("stop_reason", "stop_sequence", "stop_details"):
            envelope[key] = None
        elif key == "usage":
            continue
        else:
            envelope[key] = copy.deepcopy(value)
    usage: Mapping[str, Any] = message.get("usage") or {}
    if "usage" in message:
        start_usage = {k: copy.deepcopy(v) for k, v in usage.items() if k != "server_tool_use"}
        if "output_tokens" in usage:
            start_usage["output_tokens"] = min(start_output_tokens, int(usage["output_tokens"] or 0))
        envelope["usage"] = start_usage
    events: list[dict[str, Any]] = [{"type": "message_start", "message": envelope}]
    for i, block in enumerate(message.get("content") or []):
        events += _block_events(i, block, _pieces_for(pieces, i), empty_first_json)
    delta: dict[str, Any] = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
    }
    if "stop_details" in message:
        delta["stop_details"] = copy.deepcopy(message["stop_details"])
    end_usage = {k: copy.deepcopy(usage[k]) for k in _DELTA_USAGE if k in usage}
    end_usage["output_tokens"] = usage.get("output_tokens", 0)
    events.append({"type": "message_delta", "delta": delta, "usage": end_usage})
    events.append({"type": "message_stop"})
    return events


def anthropic_reply(
    message: Mapping[str, Any],
    *,
    stream: bool,
    pieces: Pieces = 1,
    pings: bool = False,
    break_after: int | None = None,
    error_event: Mapping[str, Any] | None = None,
    restart_after: int | None = None,
    chunking: Sequence[int] | None = None,
    headers: Mapping[str, str] | None = None,
    empty_first_json: bool = True,
    content_length: bool = True,
    final_blank_line: bool = True,
    spaced: bool = False,
) -> Reply:
    """``message`` as the Messages API sends it.

    ``stream=False``: the JSON body (with ``content-length`` unless ``content_length=False``).
    ``stream=True``: the event stream. ``pieces``: how many deltas each block's text, thinking or
    tool JSON is split into (one count for all, or one per block index). ``pings``: a ``ping``
    after ``message_start`` and after every ``content_block_stop``. ``restart_after=N``: after N
    events the relay restarts and sends the whole message again from a new ``message_start``.
    ``break_after=N``: the body breaks off (``fail="read"``) after N events (counted after the
    restart, before pings). ``error_event``: the ``event: error`` data object sent after
    ``break_after`` events (after all of them when ``break_after`` is None); the stream then ends
    cleanly. ``chunking``: byte offsets at which the whole body is cut into reads (default: one
    read per event, or the whole JSON body in one read). ``spaced``: the stream's JSON written
    with Python's ``json`` defaults (``", "``, ``": "``, ``\\uXXXX``), as relays re-serialize it.
    """
    head = {"request-id": "req_render01", **(headers or {})}
    if not stream:
        body = _dumps(message)
        h = {"content-type": "application/json", **head}
        if content_length:
            h["content-length"] = str(len(body))
        return Reply(200, h, tuple(cut(body, chunking)))
    events = anthropic_events(message, pieces=pieces, empty_first_json=empty_first_json)
    if restart_after is not None:
        events = events[:restart_after] + events
    broken = False
    if error_event is not None:
        events = events[: len(events) if break_after is None else break_after]
        events.append(dict(error_event))
    elif break_after is not None:
        broken = break_after < len(events)
        events = events[:break_after]
    wire: list[bytes] = []
    for event in events:
        wire.append(_sse(str(event["type"]), _dumps(event, spaced)))
        if pings and event["type"] in ("message_start", "content_block_stop"):
            wire.append(_sse("ping", b'{"type": "ping"}'))
    if not final_blank_line and wire and not broken:
        wire[-1] = wire[-1][:-1]
    reads = wire if chunking is None else cut(b"".join(wire), chunking)
    h = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", **head}
    return Reply(200, h, tuple(reads), "read" if broken else None)


def anthropic_error_event(kind: str = "overloaded_error", message: str = "Overloaded") -> dict[str, Any]:
    """The data object of an Anthropic ``event: error``."""
    return {"type": "error", "error": {"type": kind, "message": message}}


# --------------------------------------------------------------------------- OpenAI

_ENVELOPE_SKIP = ("choices", "usage", "object")
_MESSAGE_STREAMED = ("role", "content", "refusal", "tool_calls", "reasoning_content", "annotations")


def openai_chunks(
    completion: Mapping[str, Any],
    *,
    include_usage: bool = True,
    pieces: Pieces = 1,
    raw_finish: str | None = None,
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` objects of a whole (one-choice) Chat Completions response,
    the usage chunk last when ``include_usage``."""
    base: dict[str, Any] = {}
    for key, value in completion.items():
        if key == "object":
            base["object"] = "chat.completion.chunk"
        elif key not in _ENVELOPE_SKIP:
            base[key] = copy.deepcopy(value)
    base.setdefault("object", "chat.completion.chunk")
    if include_usage:
        base["usage"] = None
    choices = completion.get("choices") or [{}]
    choice: Mapping[str, Any] = choices[0]
    message: Mapping[str, Any] = choice.get("message") or {}
    logprobs: Mapping[str, Any] | None = choice.get("logprobs")
    chunks: list[dict[str, Any]] = []
    part = 0

    def emit(delta: dict[str, Any], *, finish: str | None = None, lp: Any = None) -> None:
        ch: dict[str, Any] = {
            "index": choice.get("index", 0),
            "delta": delta,
            "logprobs": lp,
            "finish_reason": finish,
        }
        chunks.append({**copy.deepcopy(base), "choices": [ch]})

    content = message.get("content")
    first: dict[str, Any] = {
        "role": message.get("role", "assistant"),
        "content": "" if isinstance(content, str) else None,
    }
    if "refusal" in message or isinstance(content, str):
        first["refusal"] = None
    reasoning = message.get("reasoning_content")
    if isinstance(reasoning, str):
        first["reasoning_content"] = ""
        first["content"] = None if not isinstance(content, str) else first["content"]
    emit(first)
    if isinstance(reasoning, str):
        for text in split_text(reasoning, _pieces_for(pieces, part)):
            emit({"reasoning_content": text})
        part += 1
    if isinstance(content, str):
        texts = split_text(content, _pieces_for(pieces, part))
        part += 1
        entries = list((logprobs or {}).get("content") or [])
        n = len(texts)
        for i, text in enumerate(texts):
            lp = None
            if logprobs is not None:
                lo, hi = (len(entries) * i) // n, (len(entries) * (i + 1)) // n
                lp = {"content": entries[lo:hi], "refusal": None}
                if i == 0 and logprobs.get("refusal") is not None:
                    lp["refusal"] = copy.deepcopy(logprobs["refusal"])
            d: dict[str, Any] = {"content": text}
            if i == 0 and isinstance(reasoning, str):
                d["reasoning_content"] = None
            emit(d, lp=lp)
        if not texts and logprobs is not None:
            emit({}, lp=copy.deepcopy(dict(logprobs)))
    elif logprobs is not None:
        emit({}, lp=copy.deepcopy(dict(logprobs)))
    refusal = message.get("refusal")
    if isinstance(refusal, str):
        texts = split_text(refusal, _pieces_for(pieces, part)) or [""]
        part += 1
        for text in texts:
            emit({"refusal": text})
    for i, call in enumerate(message.get("tool_calls") or []):
        fn = call.get("function") or {}
        head: dict[str, Any] = {k: copy.deepcopy(v) for k, v in call.items() if k != "function"}
        head["index"] = i
        head["function"] = {k: copy.deepcopy(v) for k, v in fn.items() if k != "arguments"}
        head["function"]["arguments"] = ""
        emit({"tool_calls": [head]})
        for text in split_text(str(fn.get("arguments", "")), _pieces_for(pieces, part)):
            emit({"tool_calls": [{"index": i, "function": {"arguments": text}}]})
        part += 1
    if message.get("annotations") is not None:
        emit({"annotations": copy.deepcopy(message["annotations"])})
    for key, value in message.items():
        if key not in _MESSAGE_STREAMED:
            emit({key: copy.deepcopy(value)})
    finish = raw_finish if raw_finish is not None else choice.get("finish_reason")
    emit({}, finish=finish)
    if include_usage and "usage" in completion:
        chunks.append({**copy.deepcopy(base), "choices": [], "usage": copy.deepcopy(completion["usage"])})
    return chunks


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _obfuscation(i: int) -> str:
    """A padding value like OpenAI's, the same for the same chunk on every render."""
    n = (i * 2654435761) % 4294967296
    out = []
    for _ in range(1 + n % 15):
        n, digit = divmod(n * 31 + 7, 62)
        out.append(_ALNUM[digit])
    return "".join(out)


def openai_reply(
    completion: Mapping[str, Any],
    *,
    stream: bool,
    include_usage: bool = True,
    pieces: Pieces = 1,
    break_after: int | None = None,
    error_chunk: Mapping[str, Any] | None = None,
    done: bool | Literal["nospace"] = True,
    chunking: Sequence[int] | None = None,
    raw_finish: str | None = None,
    headers: Mapping[str, str] | None = None,
    content_length: bool = True,
    spaced: bool = False,
    obfuscation: bool = False,
) -> Reply:
    """``completion`` as Chat Completions (or a relay) sends it.

    ``stream=False``: the JSON body (``raw_finish`` replaces ``finish_reason``). ``stream=True``:
    ``data:`` chunks with no ``event:`` lines. ``pieces``: how many parts each streamed text is cut
    into (one count for all, or one per part in order: reasoning_content, content, refusal, each
    tool call's arguments). ``include_usage``: the usage chunk with ``choices: []`` (and
    ``"usage": null`` on the others). ``raw_finish``: a relay's raw ``finish_reason``.
    ``break_after=N``: the body breaks off after N data lines (``[DONE]`` counted).
    ``error_chunk``: a data line with this object (``{"error": {...}}``) after ``break_after``
    lines (after all chunks when None), then the stream ends with no ``[DONE]``. ``done``:
    ``True`` ``data: [DONE]``, ``"nospace"`` ``data:[DONE]``, ``False`` none. ``chunking``: byte
    offsets at which the whole body is cut into reads. ``spaced``: chunks written with Python's
    ``json`` defaults, as relays re-serialize them. ``obfuscation``: every chunk with choices
    ends with OpenAI's ``obfuscation`` field, random letters and digits of varying length
    (stream padding against length side channels; on by default in the real API).
    """
    head = {"x-request-id": "req_render01", **(headers or {})}
    if not stream:
        doc: Any = completion
        if raw_finish is not None:
            doc = copy.deepcopy(dict(completion))
            doc["choices"][0]["finish_reason"] = raw_finish
        body = _dumps(doc)
        h = {"content-type": "application/json", **head}
        if content_length:
            h["content-length"] = str(len(body))
        return Reply(200, h, tuple(cut(body, chunking)))
    chunks = openai_chunks(completion, include_usage=include_usage, pieces=pieces, raw_finish=raw_finish)
    if obfuscation:
        for i, c in enumerate(chunks):
            if c.get("choices"):
                c["obfuscation"] = _obfuscation(i)
    lines = [_sse(None, _dumps(c, spaced)) for c in chunks]
    broken = False
    if error_chunk is not None:
        lines = lines[: len(lines) if break_after is None else break_after]
        lines.append(_sse(None, _dumps(error_chunk)))
    else:
        if done == "nospace":
            lines.append(b"data:[DONE]\n\n")
        elif done:
            lines.append(b"data: [DONE]\n\n")
        if break_after is not None:
            broken = break_after < len(lines)
            lines = lines[:break_after]
    reads = lines if chunking is None else cut(b"".join(lines), chunking)
    h = {"content-type": "text/event-stream; charset=utf-8", **head}
    return Reply(200, h, tuple(reads), "read" if broken else None)


def litellm_error_chunk(message: str = "litellm.InternalServerError: upstream error") -> dict[str, Any]:
    """LiteLLM's mid-stream error data line."""
    return {"error": {"type": "internal_server_error", "code": "500", "message": message, "param": None}}


# --------------------------------------------------------------------------- reading it back


def reply_bytes(reply: Reply) -> bytes:
    """The whole body a reply sends."""
    return b"".join(reply.chunks)


def sse_events(data: bytes) -> list[tuple[str | None, Any]]:
    """The events of an SSE body as ``(event name, data)``: data parsed as JSON when it is, else
    the raw text (``[DONE]``). Lines split on bytes (CRLF, CR, LF); comments skipped; an event not
    closed by a blank line at the end is dropped, as a conforming decoder does."""
    out: list[tuple[str | None, Any]] = []
    name: str | None = None
    lines: list[bytes] = []
    for line in data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")[:-1]:
        if not line:
            if lines:
                raw = b"\n".join(lines)
                try:
                    value: Any = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    value = raw.decode("utf-8", "replace")
                out.append((name, value))
            name, lines = None, []
            continue
        if line.startswith(b":"):
            continue
        key, _, value_bytes = line.partition(b":")
        if value_bytes.startswith(b" "):
            value_bytes = value_bytes[1:]
        if key == b"event":
            name = value_bytes.decode()
        elif key == b"data":
            lines.append(value_bytes)
    return out


def _mock_client(status: int, headers: Mapping[str, str], body: bytes) -> Any:
    import httpx2

    def handler(request: httpx2.Request) -> httpx2.Response:
        h = {k: v for k, v in headers.items() if k.lower() not in ("content-length", "transfer-encoding")}
        return httpx2.Response(status, headers=h, content=body)

    return httpx2.Client(transport=httpx2.MockTransport(handler))


def _openai_client(status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """The official openai SDK answered by ``_mock_client`` (no retries, no network)."""
    import openai

    return openai.OpenAI(
        api_key="test",
        base_url="http://127.0.0.1:9/v1",
        max_retries=0,
        http_client=_mock_client(status, headers, body),
    )


def sdk_anthropic(
    request: Mapping[str, Any], status: int, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """What the official anthropic SDK makes of this response to ``request``: the message its
    ``MessageStream`` accumulates (stream) or the one ``messages.create`` parses, as a dict.
    Raises what the SDK raises."""
    import anthropic

    client = anthropic.Anthropic(
        api_key="test",
        base_url="http://127.0.0.1:9",
        max_retries=0,
        http_client=_mock_client(status, headers, body),
    )
    kwargs = {k: v for k, v in request.items() if k != "stream"}
    with client:
        if request.get("stream"):
            with client.messages.stream(**kwargs) as s:
                for _ in s:
                    pass
                msg: Any = s.get_final_message()
        else:
            msg = client.messages.create(**kwargs)
        result: dict[str, Any] = msg.to_dict(warnings=False)
    return result


def sdk_openai(
    request: Mapping[str, Any], status: int, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """What the official openai SDK makes of this response to ``request``: the completion its
    ``ChatCompletionStreamState`` accumulates from the chunks (stream) or the one
    ``chat.completions.create`` parses, as a dict. Raises what the SDK raises."""
    import openai
    from openai.lib.streaming.chat import ChatCompletionStreamState

    client = _openai_client(status, headers, body)
    with client:
        made: Any = client.chat.completions.create(**request)
        if request.get("stream"):
            state: Any = ChatCompletionStreamState()
            for c in made:
                state.handle_chunk(c)
            try:
                made = state.get_final_completion()
            except (openai.LengthFinishReasonError, openai.ContentFilterFinishReasonError):
                made = state.current_completion_snapshot  # the SDK refuses to parse these, by design
        result: dict[str, Any] = made.to_dict(warnings=False)
    return result


def sdk_responses(
    request: Mapping[str, Any], status: int, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """What the official openai SDK makes of this Responses answer to ``request``: the response
    its ``ResponseStreamState`` accumulates from the events (the completed response, or the
    terminal event's for an incomplete one), or the one ``responses.create`` parses, as a dict.
    Raises what the SDK raises (a stream without a terminal event: ``RuntimeError``)."""
    import openai
    from openai.lib.streaming.responses._responses import ResponseStreamState

    client = _openai_client(status, headers, body)
    with client:
        made: Any = client.responses.create(**request)
        if request.get("stream"):
            state: Any = ResponseStreamState(input_tools=request.get("tools") or [], text_format=openai.omit)
            terminal: Any = None
            for event in made:
                if event.type == "stopwise":
                    continue  # the finisher's documented summary, which the SDK hands on as it is
                state.handle_event(event)
                if event.type in ("response.completed", "response.incomplete", "response.failed"):
                    terminal = event.response
            if terminal is None:
                raise RuntimeError("the stream ended without a terminal event")
            made = state._completed_response or terminal
        result: dict[str, Any] = made.to_dict(warnings=False)
    return result


def caller_events(data: bytes) -> list[tuple[str | None, Any]]:
    """:func:`sse_events` without the finisher's documented final ``stopwise`` summary event."""
    return [(n, d) for n, d in sse_events(data) if n != "stopwise"]


def stream_text(events: Sequence[tuple[str | None, Any]]) -> str:
    """The answer text a stream shows: Anthropic ``text_delta`` texts, OpenAI ``delta.content``
    and ``delta.refusal``, in order."""
    out: list[str] = []
    for _, data in events:
        if not isinstance(data, dict):
            continue
        if data.get("type") == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                out.append(str(delta.get("text", "")))
        for choice in data.get("choices") or []:
            delta = choice.get("delta") or {}
            for key in ("content", "refusal"):
                if isinstance(delta.get(key), str):
                    out.append(delta[key])
    return "".join(out)


def error_events(events: Sequence[tuple[str | None, Any]]) -> list[Any]:
    """The error objects in a stream: Anthropic ``event: error`` data, OpenAI data with ``error``."""
    return [
        d for n, d in events if n == "error" or (isinstance(d, dict) and "error" in d and "choices" not in d)
    ]


def deep_sum(a: Any, b: Any) -> Any:
    """Usage summed field by field, nested objects included; non-numbers keep the later value
    when set, else the earlier one."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {
            k: deep_sum(a.get(k), b.get(k)) if k in a and k in b else (a[k] if k in a else b[k])
            for k in {**a, **b}
        }
    if isinstance(a, bool) or isinstance(b, bool):
        return b if b is not None else a
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a + b
    return b if b is not None else a


def transparency_problems(result: Any, reply: Reply) -> list[str]:
    """How what the caller got (a :class:`~stopwise.testing.Run`) differs from the one upstream
    ``reply`` it should have been handed unchanged: status, headers (``x-stopwise*`` aside;
    ``content-length`` must match the body), and the body byte for byte, or for a stream the
    same events in the same order (the final ``stopwise`` event aside)."""
    problems: list[str] = []
    sent = reply_bytes(reply)
    if result.status != reply.status:
        problems.append(f"status {result.status} != {reply.status}")
    want = {k.lower(): v for k, v in reply.headers.items()}
    got = {k.lower(): v for k, v in result.headers.items() if not k.lower().startswith("x-stopwise")}
    if got != want:
        problems.append(f"headers differ: got {got}, upstream sent {want}")
    if "content-length" in got and got["content-length"] != str(len(result.body)):
        problems.append(f"content-length {got['content-length']} but the body has {len(result.body)} bytes")
    if result.stream:
        up, down = sse_events(sent), caller_events(result.body)
        if up != down:
            for i, (u, d) in enumerate(zip(up, down, strict=False)):
                if u != d:
                    problems.append(f"event {i} differs: upstream {u!r}, caller {d!r}")
                    break
            else:
                problems.append(f"{len(up)} upstream events, {len(down)} to the caller")
    elif result.body != sent:
        problems.append(f"body differs: upstream {sent[:300]!r}, caller {result.body[:300]!r}")
    return problems


def differences(got: Any, want: Any, path: str = "$") -> list[str]:
    """Where two JSON values differ, as ``path: got != want`` lines (missing keys shown so)."""
    if isinstance(got, dict) and isinstance(want, dict):
        out: list[str] = []
        for k in list(want) + [k for k in got if k not in want]:
            if k not in got:
                out.append(f"{path}.{k}: missing (want {want[k]!r})")
            elif k not in want:
                out.append(f"{path}.{k}: unexpected {got[k]!r}")
            else:
                out += differences(got[k], want[k], f"{path}.{k}")
        return out
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [
            line
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for line in differences(g, w, f"{path}[{i}]")
        ]
    return [] if got == want and type(got) is type(want) else [f"{path}: {got!r} != {want!r}"]
