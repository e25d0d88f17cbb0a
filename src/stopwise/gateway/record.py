"""What one request through the gateway amounted to: filled in as it goes (the finisher's
observer adds its report), then turned into one log row and one metrics update."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ..finisher import Report, RoundReport
from ..outcome import StopReason, normalize_stop_reason

__all__ = ["MAX_LOGGED_BODY", "Exchange"]

#: Bodies are logged (when enabled) up to this many bytes each; the rest is cut and marked.
MAX_LOGGED_BODY = 1024 * 1024


@dataclass(slots=True)
class Exchange:
    method: str
    route: str
    started: float = field(default_factory=time.perf_counter)
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    dialect: str | None = None
    model: str | None = None
    upstream: str | None = None
    stream: bool = False
    status: int | None = None
    error_type: str | None = None
    ttfb: float | None = None  # seconds from arrival to the first body byte handed to the client
    latency: float | None = None  # seconds from arrival to the last byte (or the disconnect)
    client_gone: bool = False  # the client disconnected before the response was complete
    request_ids: list[str] = field(default_factory=list)
    report: Report | None = None  # the finisher's, from the transport's observer
    request_body: bytes | None = None
    response_body: bytearray | None = None
    ended: bool = False  # ended by the gateway (deadline, shutdown timeout), not by the client
    task: asyncio.Task[object] | None = None  # the one serving it (for the shutdown to end it)
    recorded: bool = False  # its row and metrics are done: a second finish() is a no-op

    # -- filled in on the way ------------------------------------------------------------------
    def observe(self, report: Report) -> None:
        """The transport's observer: called once per finisher request, never raises."""
        self.report = report
        if self.error_type is None and report.error is not None:
            self.error_type = report.error  # what the finisher gave up on, mid-stream included

    def first_byte(self) -> None:
        if self.ttfb is None:
            self.ttfb = time.perf_counter() - self.started

    def done(self) -> None:
        if self.latency is None:
            self.latency = time.perf_counter() - self.started
        if self.ttfb is None and not self.client_gone:
            self.ttfb = self.latency

    def keep_response(self, chunk: bytes) -> None:
        if self.response_body is not None and len(self.response_body) < MAX_LOGGED_BODY:
            self.response_body += chunk[: MAX_LOGGED_BODY - len(self.response_body)]

    # -- read back -----------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        # The finisher reports a cancel whenever its engine was closed early; that is the
        # client's doing unless the gateway ended the request itself.
        return self.client_gone or bool(self.report and self.report.cancelled and not self.ended)

    @property
    def stop_reasons(self) -> list[str | None]:
        return self.report.stop_reasons if self.report else []

    @property
    def rescued(self) -> bool:
        """A truncated round was continued into a complete answer."""
        if not self.report or self.report.state != "complete":
            return False
        return any(normalize_stop_reason(r) is StopReason.MAX_TOKENS for r in self.stop_reasons[:-1])

    def row(self, max_string: int = 512, *, replica: str | None = None) -> dict[str, Any]:
        """The log row. Strings a client or an upstream chose (model, error type, stop
        reasons, request ids) are cut to ``max_string`` characters: an 8 MiB model name must
        not become 8 MiB per row. ``replica`` names the gateway that wrote it; ``uid`` is the
        row's own key (a batch written twice adds it once)."""
        s = self.report
        usage = s.usage.to_dict() if s else {}
        n = max_string
        reasons = [_cut(r, n) for r in self.stop_reasons]
        final = reasons[-1] if reasons else None
        return {
            "time": self.time,
            "method": self.method,
            "route": _cut(self.route, n),
            "dialect": self.dialect,
            "model": _cut(self.model, n),
            "upstream": _cut(self.upstream, n),
            "stream": int(self.stream),
            "status": self.status,
            "rounds": len(s.rounds) if s else None,
            "modes": _json(s.modes) if s else None,
            "stop_reasons": _json(reasons) if s else None,
            "stop_reason": final,
            "stop_reason_normalized": normalize_stop_reason(final).value if s else None,
            "state": s.state.value if s else None,
            "retries": s.retries if s else None,
            "rescued": int(self.rescued),
            "input_tokens": usage.get("input_tokens"),
            "output_tokens": usage.get("output_tokens"),
            "cache_creation_input_tokens": usage.get("cache_creation_input_tokens"),
            "cache_read_input_tokens": usage.get("cache_read_input_tokens"),
            "usage_reported": _json(usage.get("reported")),
            "usage_estimated": _json(usage.get("estimated")),
            "ttfb_ms": _ms(self.ttfb),
            "latency_ms": _ms(self.latency),
            "error_type": _cut(self.error_type, n),
            "cancelled": int(self.cancelled),
            "request_ids": _json([_cut(i, n) for i in (s.request_ids if s else ()) or self.request_ids]),
            "request_body": _text(self.request_body),
            "response_body": _text(self.response_body),
            "round_details": _json([_round(r, n) for r in s.rounds]) if s else None,
            "notes": _json([_cut(note, n) for note in s.notes]) if s else None,
            "replica": _cut(replica, n),
            "uid": uuid.uuid4().hex,
        }


def _round(r: RoundReport, max_string: int) -> dict[str, Any]:
    latency = None
    if r.started is not None and r.ended is not None:
        latency = round((r.ended - r.started) * 1000, 3)
    return {
        "mode": r.mode,
        "stop_reason": _cut(r.stop_reason, max_string),
        "state": r.state.value,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "max_tokens": r.max_tokens,
        "latency_ms": latency,  # from the first attempt going out to the round counted
        "notes": [_cut(n, max_string) for n in r.notes],
    }


def _cut(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[:limit] + "…"


def _json(value: object) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 3)


def _text(body: bytes | bytearray | None) -> str | None:
    if body is None:
        return None
    cut = len(body) >= MAX_LOGGED_BODY
    text = bytes(body[:MAX_LOGGED_BODY]).decode("utf-8", "replace")
    return text + "\n…[cut at 1 MiB]" if cut else text
