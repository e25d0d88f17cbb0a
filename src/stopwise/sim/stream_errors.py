"""The mid-stream error a relay writes in its own shape (``x-sim-fault: stream-error:N:STYLE``).

A relay that loses its upstream after the 200 does not write the upstream's error: it writes
its own object, and the shape is all a client has to classify it by:

- ``litellm``: LiteLLM's proxy, a ``data:`` line with ``{"error": ProxyException.to_dict()}``
  (``json.dumps`` spacing, ``type: "internal_server_error"``, ``code`` the status as a string).
- ``new-api``: new-api's ``OpenAIError`` for a Claude error (types/error.go
  ``ToOpenAIError``): the Claude type as ``type`` and ``code``, ``param: ""``, and the relay's
  request id appended to the message.
- ``one-api``: one-api's own error, ``type: "one_api_error"`` with a relay error code.
- ``anthropic``: Claude's ``event: error`` passed through unchanged into an OpenAI-format stream.
- ``openai``: OpenAI's own ``server_error`` data line (the default on OpenAI-format endpoints).
"""

from __future__ import annotations

import json

import orjson

from ..sse import encode_event
from . import anthropic_render, openai_render

__all__ = ["stream_error_event"]


def _relay_request_id(request_id: str) -> str:
    # new-api and one-api ids: a timestamp and digits (e.g. 2025121315142561814611444).
    digits = "".join(str(ord(c) % 10) for c in request_id[-12:])
    return f"20260101000000{digits}"


def stream_error_event(style: str, *, model: str, request_id: str) -> bytes:
    if style == "anthropic":
        return anthropic_render.ERROR_EVENT
    if style == "litellm":
        upstream = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
        error = {
            "message": f"litellm.InternalServerError: AnthropicException - {upstream}. Received Model "
            f"Group={model}\nAvailable Model Group Fallbacks=None",
            "type": "internal_server_error",
            "param": None,
            "code": "500",
        }
        return encode_event(json.dumps({"error": error}))
    relay_id = _relay_request_id(request_id)
    if style == "new-api":
        error = {
            "message": f"Overloaded (request id: {relay_id})",
            "type": "overloaded_error",
            "param": "",
            "code": "overloaded_error",
        }
        return encode_event(orjson.dumps({"error": error}).decode())
    if style == "one-api":
        error = {
            "message": f"read stream failed: unexpected EOF (request id: {relay_id})",
            "type": "one_api_error",
            "param": "",
            "code": "read_response_body_failed",
        }
        return encode_event(orjson.dumps({"error": error}).decode())
    return openai_render.ERROR_EVENT
