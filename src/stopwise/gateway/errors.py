"""Errors the gateway itself answers with, in the body shape of the caller's dialect, so the
official SDKs raise their usual typed errors (brief/wire.md, "HTTP errors"):

- Anthropic: ``{"type": "error", "error": {"type", "message"}, "request_id"}``
- OpenAI: ``{"error": {"message", "type", "param", "code"}}``

=====  ==========================  ===================================
status why                         Anthropic ``type`` / OpenAI ``code``
=====  ==========================  ===================================
400    malformed JSON              invalid_request_error / invalid_json
400    JSON nested too deep        invalid_request_error / json_too_deep
400    control character in path   invalid_request_error / invalid_path
401    missing or wrong client key authentication_error / invalid_api_key
404    unknown route               not_found_error / not_found
405    known path, wrong method    invalid_request_error / method_not_allowed
408    headers or body too slow    timeout_error / request_timeout
413    body over the limit         request_too_large / request_too_large
431    headers too large or many   request_too_large / headers_too_large
503    gateway shutting down       api_error / gateway_shutdown
504    request_timeout passed      timeout_error / request_deadline
502    upstream unreachable/broken api_error / upstream_error
504    upstream timed out          timeout_error / upstream_timeout
=====  ==========================  ===================================
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import orjson
from starlette.responses import Response

__all__ = ["GatewayError", "dialect_of_request", "error_body", "error_response", "stream_error_event"]

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    431: "request_too_large",
    500: "api_error",
    502: "api_error",
    504: "timeout_error",
}
_OPENAI_TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error"}


class GatewayError(Exception):
    """An answer the gateway gives itself. ``code`` is the short name logged as the row's
    error type and sent as OpenAI's ``code``."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def dialect_of_request(path: str, headers: Mapping[str, str]) -> str:
    """Whose error shape a caller expects: the route says it, else the Anthropic SDK's headers
    (it always sends ``anthropic-version``), else OpenAI's."""
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path.startswith("/v1/chat/"):
        return "openai"
    if path.startswith("/v1/responses"):
        return "responses"
    return "anthropic" if "anthropic-version" in headers else "openai"


def error_response(dialect: str, err: GatewayError) -> Response:
    headers, body = error_body(dialect, err)
    return Response(body, status_code=err.status, headers=headers, media_type="application/json")


def error_body(dialect: str, err: GatewayError) -> tuple[dict[str, str], bytes]:
    """The headers (beyond content type and length) and JSON body of ``err``."""
    headers = dict(err.headers)
    if dialect == "anthropic":
        request_id = "req_stopwise_" + secrets.token_hex(12)
        body: dict[str, object] = {
            "type": "error",
            "error": {"type": _ANTHROPIC_TYPES.get(err.status, "api_error"), "message": err.message},
            "request_id": request_id,
        }
        headers.setdefault("request-id", request_id)
    else:
        body = {
            "error": {
                "message": err.message,
                "type": _OPENAI_TYPES.get(
                    err.status, "server_error" if err.status >= 500 else "invalid_request_error"
                ),
                "param": None,
                "code": err.code,
            }
        }
    return headers, orjson.dumps(body)


def stream_error_event(dialect: str, err: GatewayError) -> bytes:
    """A stream's last event when the gateway itself has to end it: the error event each SDK
    raises its typed error on (Anthropic: ``event: error``; OpenAI: a ``data:`` object with an
    ``error`` member). A blank line first ends any event the client has half of."""
    if dialect == "anthropic":
        kind = _ANTHROPIC_TYPES.get(err.status, "api_error")
        data = orjson.dumps({"type": "error", "error": {"type": kind, "message": err.message}})
        return b"\n\nevent: error\ndata: " + data + b"\n\n"
    if dialect == "responses":
        # The live API nests the error's fields, which is what makes the openai SDK raise.
        inner = {"type": "server_error", "code": err.code, "message": err.message, "param": None}
        return b"\n\nevent: error\ndata: " + orjson.dumps({"type": "error", "error": inner}) + b"\n\n"
    error: dict[str, object] = {
        "message": err.message,
        "type": "server_error",
        "param": None,
        "code": err.code,
    }
    return b"\n\ndata: " + orjson.dumps({"error": error}) + b"\n\n"
