"""A request body, read and checked before anything goes upstream.

- :func:`read_body`: counted against ``max_body_bytes`` as it arrives (a ``content-length`` over
  the limit is refused before a byte is read), within ``body_timeout``, gathered in one growing
  buffer: the body is in memory once, not once in pieces and again joined;
- :func:`parse_body`: JSON, an object, nested at most ``max_json_depth`` deep. The depth is
  checked here because the finisher re-serializes bodies and orjson refuses to write more than
  254 levels: unchecked, a deep body was a 500 from deep inside, not the client's 400.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from .errors import GatewayError

__all__ = ["depth_over", "parse_body", "read_body"]


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The body, or a 413 once it is over ``limit``, or a 408 if it is not all there within
    ``timeout`` seconds. An oversized body is still read (and dropped, up to a bound) so the
    413 reaches a client that is still sending, instead of it meeting a reset connection."""
    declared = request.headers.get("content-length", "")
    over = declared.isdigit() and int(declared) > limit
    buffer = io.BytesIO()
    size = 0
    more = True
    try:
        async with asyncio.timeout(timeout):
            while more and size <= 16 * limit:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk: bytes = message.get("body", b"")
                more = bool(message.get("more_body", False))
                size += len(chunk)
                over = over or size > limit
                if chunk and not over:
                    buffer.write(chunk)
    except TimeoutError:
        raise GatewayError(
            408,
            "request_timeout",
            f"the request body did not arrive within {timeout:g} s",
            headers={"connection": "close"},
        ) from None
    if over:
        raise GatewayError(413, "request_too_large", f"request body is over the limit of {limit} bytes")
    # getvalue() hands over the buffer itself when nothing else holds a view of it: no copy.
    return buffer.getvalue()


def parse_body(body: bytes, max_depth: int) -> dict[str, Any]:
    try:
        obj: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise GatewayError(
            400, "invalid_json", f"There was an error parsing the body of the request: {exc}"
        ) from None
    if not isinstance(obj, dict):
        raise GatewayError(400, "invalid_json", "the request body must be a JSON object")
    # Fewer brackets than the limit cannot nest past it: most bodies skip the walk.
    if body.count(b"{") + body.count(b"[") > max_depth and depth_over(obj, max_depth):
        raise GatewayError(400, "json_too_deep", f"the request body nests deeper than {max_depth} levels")
    return obj


def depth_over(obj: object, limit: int) -> bool:
    """Whether ``obj`` nests more than ``limit`` arrays and objects deep (the top level is 1).
    A loop with its own stack: recursion would meet Python's limit before the JSON's."""
    if not isinstance(obj, dict | list):
        return False
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False
