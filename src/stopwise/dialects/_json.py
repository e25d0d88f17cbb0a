"""JSON helpers shared by the dialects: fast loads, and tool-input JSON that may be cut."""

from __future__ import annotations

from typing import Any

import jiter
import orjson

__all__ = ["JSONDecodeError", "is_whole_json", "loads", "partial_json", "payload"]

JSONDecodeError = orjson.JSONDecodeError


def loads(data: str | bytes) -> Any:
    return orjson.loads(data)


def payload(data: str) -> dict[str, Any] | None:
    """An event's data as a JSON object, or ``None`` when it is not one (the caller counts it)."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def partial_json(buf: str) -> Any:
    """What the official SDK shows for a tool input still streaming (jiter in partial mode:
    an unfinished trailing string is dropped). ``{}`` for an empty buffer, like a fresh
    ``tool_use`` block; ``None`` when even a partial parse fails (the bytes stay in the raw
    buffer the caller keeps)."""
    if not buf.strip():
        return {}
    try:
        return jiter.from_json(buf.encode("utf-8"), partial_mode=True)
    except ValueError:
        return None


def is_whole_json(buf: str) -> bool:
    """True when ``buf`` is one complete JSON value: a tool call whose arguments are not is a
    cut call, whatever its finish reason claims. An empty buffer counts as ``{}``."""
    if not buf.strip():
        return True
    try:
        orjson.loads(buf)
    except orjson.JSONDecodeError:
        return False
    return True
