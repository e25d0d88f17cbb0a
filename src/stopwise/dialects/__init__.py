"""The wire dialects: one module each, behind one small interface.

Three dialects: Anthropic Messages, OpenAI Chat Completions, and the OpenAI Responses API.

- :func:`detect_dialect` tells a payload's API from its shape;
- :func:`parse_body` reads a non-stream response body;
- :func:`accumulator_for` gives the stream folder of a dialect;
- :func:`parse_capture` reads raw bytes (an SSE capture or a JSON body, any dialect);
- :func:`error_from_response` turns an HTTP error response into a typed error.
"""

from __future__ import annotations

from typing import Any, Literal

from ..errors import ProtocolError, UnknownDialectError
from ..outcome import Outcome
from ..sse import iter_events
from ._errors import error_from_payload, error_from_response, parse_retry_after
from ._json import JSONDecodeError, loads, payload
from .anthropic import AnthropicAccumulator, parse_message
from .openai import OpenAIAccumulator, parse_completion
from .responses import ResponsesAccumulator, parse_response

__all__ = [
    "ANTHROPIC_STREAM_EVENTS",
    "Accumulator",
    "AnthropicAccumulator",
    "Dialect",
    "OpenAIAccumulator",
    "ResponsesAccumulator",
    "accumulator_for",
    "detect_dialect",
    "error_from_payload",
    "error_from_response",
    "parse_body",
    "parse_capture",
    "parse_retry_after",
]

Dialect = Literal["anthropic", "openai", "responses"]

#: The stream folder of any dialect.
Accumulator = AnthropicAccumulator | OpenAIAccumulator | ResponsesAccumulator

#: The event types of an Anthropic Messages stream.
ANTHROPIC_STREAM_EVENTS = frozenset(
    {
        "message_start",
        "message_delta",
        "message_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "ping",
    }
)
# Plus a non-stream body's own type.
_ANTHROPIC_TYPES = ANTHROPIC_STREAM_EVENTS | {"message"}


def detect_dialect(obj: object) -> Dialect | None:
    """Which API a JSON payload (body, stream event or error) belongs to, from its shape."""
    if not isinstance(obj, dict):
        return None
    kind = obj.get("type")
    if isinstance(kind, str) and kind.startswith("response."):
        return "responses"
    if kind == "error" and "sequence_number" in obj and not isinstance(obj.get("error"), dict):
        # The Responses `error` event (code and message at the top, numbered like every event of
        # that stream); Anthropic's error event nests its fields under `error` and has no number.
        return "responses"
    if isinstance(kind, str) and (kind in _ANTHROPIC_TYPES or kind == "error"):
        return "anthropic"
    obj_kind = obj.get("object")
    if obj_kind == "response":
        return "responses"
    if obj_kind in ("chat.completion", "chat.completion.chunk"):
        return "openai"
    if "choices" in obj:
        return "openai"
    if isinstance(obj.get("error"), dict):
        return "openai"
    return None


def accumulator_for(dialect: Dialect, *, max_tokens: int | None = None) -> Accumulator:
    if dialect == "anthropic":
        return AnthropicAccumulator(max_tokens=max_tokens)
    if dialect == "responses":
        return ResponsesAccumulator(max_tokens=max_tokens)
    return OpenAIAccumulator(max_tokens=max_tokens)


def parse_body(obj: Any, *, max_tokens: int | None = None, dialect: Dialect | None = None) -> Outcome:
    dialect = dialect or detect_dialect(obj)
    if dialect == "anthropic":
        return parse_message(obj, max_tokens=max_tokens)
    if dialect == "openai":
        return parse_completion(obj, max_tokens=max_tokens)
    if dialect == "responses":
        return parse_response(obj, max_tokens=max_tokens)
    raise UnknownDialectError("not an Anthropic Messages, OpenAI Chat Completions or Responses body")


def parse_capture(raw: bytes, *, max_tokens: int | None = None) -> Outcome:
    """A whole capture: an SSE stream of either dialect, or a JSON response body. The final
    event of a capture that lacks its blank line is read too (it is all we will ever get)."""
    stripped = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        try:
            obj = loads(stripped)
        except JSONDecodeError:
            obj = None
        if obj is not None:
            return parse_body(obj, max_tokens=max_tokens)
    events = list(iter_events([raw]))
    if not events:
        raise ProtocolError("no JSON body and no server-sent events in the input")
    dialect: Dialect | None = None
    for ev in events:
        if ev.event is not None and ev.event.startswith("response."):
            dialect = "responses"
            break
        if ev.event in _ANTHROPIC_TYPES or ev.event == "error":
            # Both Anthropic and Responses name their error event `error`; its payload tells.
            responses = ev.event == "error" and detect_dialect(payload(ev.data)) == "responses"
            dialect = "responses" if responses else "anthropic"
            break
        if ev.data.startswith("[DONE]"):
            dialect = "openai"
            break
        try:
            dialect = detect_dialect(loads(ev.data))
        except JSONDecodeError:
            continue
        if dialect is not None:
            break
    if dialect is None:
        raise UnknownDialectError(
            "the events are neither Anthropic Messages, OpenAI chat.completion.chunk nor Responses events"
        )
    acc = accumulator_for(dialect, max_tokens=max_tokens)
    for ev in events:
        acc.feed(ev)
    return acc.finish()
