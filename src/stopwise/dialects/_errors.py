"""HTTP error responses of either dialect (and of whatever sits in front: relays, CDNs) as
typed :class:`~stopwise.errors.APIError`\\ s, classified once, here, by status/type/code."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import APIError, api_error_class

__all__ = ["error_from_payload", "error_from_response", "parse_retry_after", "request_id_of"]


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, as the official SDKs read it: ``retry-after-ms``, else ``retry-after``
    as seconds, else as an HTTP date. ``None`` when absent or unreadable."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        parsed = email.utils.parsedate_tz(raw)
        if parsed is None:
            return None
        value = email.utils.mktime_tz(parsed) - (time.time() if now is None else now)
        return max(value, 0.0)
    return value if value >= 0 else None


def request_id_of(headers: Mapping[str, str]) -> str | None:
    return headers.get("request-id") or headers.get("x-request-id") or None


def _lower(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (headers or {}).items()}


def _should_retry(headers: Mapping[str, str]) -> bool | None:
    value = headers.get("x-should-retry")
    if value == "true":
        return True
    if value == "false":
        return False
    return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else (None if value is None else str(value))


def error_from_payload(
    status: int,
    payload: object,
    headers: Mapping[str, str] | None = None,
    *,
    text: str | None = None,
) -> APIError:
    """Build the typed error from an already-parsed body (``payload``) or, for a body that is
    not JSON (an HTML page from a CDN, a plain-text proxy error), from its ``text``."""
    hdrs = _lower(headers)
    error_type: str | None = None
    code: str | None = None
    message: str | None = None
    dialect: str | None = None
    request_id = request_id_of(hdrs)
    if isinstance(payload, dict):
        err = payload.get("error")
        if isinstance(err, dict):
            message = _str(err.get("message"))
            error_type = _str(err.get("type"))
            code = _str(err.get("code"))
            details = err.get("details")
            if code is None and isinstance(details, dict):
                # Anthropic's spend-limit 429 names itself only here.
                code = _str(details.get("error_code"))
            dialect = "anthropic" if payload.get("type") == "error" else "openai"
            if dialect == "anthropic":
                request_id = request_id or _str(payload.get("request_id"))
        elif isinstance(err, str):
            message = err
        elif isinstance(payload.get("message"), str):
            message = payload["message"]
    if message is None:
        snippet = (text or "").strip()
        message = snippet[:500] if snippet else f"HTTP {status} with no error body"
    cls = api_error_class(status, error_type)
    return cls(
        message,
        status=status,
        error_type=error_type,
        code=code,
        dialect=dialect,
        request_id=request_id,
        retry_after=parse_retry_after(hdrs),
        should_retry=_should_retry(hdrs),
        body=payload if payload is not None else text,
        headers=hdrs,
    )


def error_from_response(
    status: int, body: bytes | str | Mapping[str, Any] | None, headers: Mapping[str, str] | None = None
) -> APIError:
    """The typed error for an HTTP error response of either dialect; never raises itself."""
    if body is None or isinstance(body, Mapping):
        return error_from_payload(status, dict(body) if body is not None else None, headers)
    raw = body.encode("utf-8", "replace") if isinstance(body, str) else body
    text = raw.decode("utf-8", "replace")
    try:
        payload: object = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    return error_from_payload(status, payload, headers, text=text)
