"""Query strings out of log lines: a client may put its key in one (``?key=…``, as some APIs
take it), and the server's access log would print it. Every value is redacted, not the ones
whose names look secret: a name list always misses one."""

from __future__ import annotations

import logging

__all__ = ["REDACTED", "AccessLogRedaction", "redact_query"]

REDACTED = "[redacted]"


def redact_query(target: str) -> str:
    """``/v1/models?limit=20&key=sk-…`` -> ``/v1/models?limit=[redacted]&key=[redacted]``. An
    item with no ``=`` is all value (it could be the key itself)."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    items = []
    for item in query.split("&"):
        name, eq, _ = item.partition("=")
        items.append(f"{name}={REDACTED}" if eq else REDACTED if item else "")
    return f"{path}?{'&'.join(items)}"


class AccessLogRedaction(logging.Filter):
    """On uvicorn's access logger, whose records carry ``(client, method, path with query,
    HTTP version, status)`` as their arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], redact_query(args[2]), *args[3:])
        return True
