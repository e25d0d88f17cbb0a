"""Error responses in each dialect's exact shape (brief/wire.md, "HTTP errors").

Validation and faults raise :class:`SimError`; the endpoint renders it once, at the edge, with
the dialect's body, status and request-id header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

__all__ = ["ANTHROPIC_TYPES", "SimError", "anthropic_error_body", "error_response", "openai_error_body"]

#: Anthropic's ``error.type`` for each status (brief/wire.md).
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


class SimError(Exception):
    """An error response. ``type`` defaults to the Anthropic type for the status (OpenAI 400s
    also say ``invalid_request_error``); ``param`` and ``code`` are OpenAI's fields, ``details``
    Anthropic's."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or ANTHROPIC_TYPES.get(status, "api_error")
        self.param = param
        self.code = code
        self.details = dict(details) if details else None
        self.headers = dict(headers or {})


def anthropic_error_body(err: SimError, request_id: str) -> dict[str, Any]:
    error: dict[str, Any] = {"type": err.type, "message": err.message}
    if err.details:
        error["details"] = err.details
    return {"type": "error", "error": error, "request_id": request_id}


def openai_error_body(err: SimError) -> dict[str, Any]:
    return {"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}


def error_response(err: SimError, dialect: str, request_id: str) -> Response:
    headers = dict(err.headers)
    if dialect == "anthropic":
        body = anthropic_error_body(err, request_id)
        headers["request-id"] = request_id
    else:
        body = openai_error_body(err)
        headers["x-request-id"] = request_id
    return Response(
        orjson.dumps(body), status_code=err.status, headers=headers, media_type="application/json"
    )
