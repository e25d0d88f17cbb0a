"""Fault injection: header ``x-sim-fault`` (comma-separated), plus per-model faults in config.

Faults that happen before the 200 become a :class:`~stopwise.sim.http_errors.SimError`; faults
after it are applied to the byte stream by :func:`faulty_stream`. Everything is deterministic;
the only state is the per-app attempt counter behind ``fail-first`` (keyed by the header
``x-sim-attempt-key``, else by a hash of the path and body, which an SDK retry repeats exactly).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from .http_errors import SimError

__all__ = [
    "STREAM_ERROR_STYLES",
    "ConnectionDropped",
    "Faults",
    "StreamEvent",
    "error_for",
    "faulty_stream",
    "parse_faults",
]


#: The shapes ``stream-error:N:STYLE`` writes (stream_errors.py). ``failed`` is the Responses
#: API's ``response.failed`` (responses_render.py); other endpoints write OpenAI's line for it.
STREAM_ERROR_STYLES = ("openai", "anthropic", "litellm", "new-api", "one-api", "failed")


class ConnectionDropped(Exception):
    """Raised inside a response body on purpose: the ASGI server then closes the connection
    without finishing the chunked body, which is what a dropped upstream looks like."""


@dataclass
class Faults:
    status: int | None = None  # 429, 500, 503 or 529 right away
    spend_limit: bool = False
    fail_first: int = 0
    fail_status: int | None = None
    retry_after: str | None = None
    retry_after_ms: str | None = None
    should_retry: str | None = None
    stream_error_after: int | None = None
    stream_error_style: str | None = None  # a relay's shape (stream_errors.py); None: the dialect's
    restart_after: int | None = None
    drop_after: int | None = None
    stall: float = 0.0
    slow_ms: float = 0.0
    malformed_after: int | None = None
    no_terminal: bool = False
    no_done: bool = False


@dataclass(frozen=True)
class StreamEvent:
    """One encoded event. ``terminal``: carries the stop reason or follows it (dropped by
    ``no-terminal``); ``done``: the very last event (``message_stop`` / ``[DONE]``)."""

    data: bytes
    terminal: bool = False
    done: bool = False


def parse_faults(*specs: str | None) -> Faults:
    f = Faults()
    for spec in specs:
        for raw in (spec or "").split(","):
            item = raw.strip().lower()
            if item:
                _apply(f, item)
    return f


def _apply(f: Faults, item: str) -> None:
    name, _, arg = item.partition(":")
    try:
        if name in ("429", "500", "503", "529"):
            f.status = int(name)
        elif name == "overloaded":
            f.status = 529
        elif name == "spend-limit":
            f.spend_limit = True
        elif name == "fail-first":
            count, _, status = arg.partition(":")
            f.fail_first = int(count)
            f.fail_status = int(status) if status else None
        elif name == "retry-after":
            f.retry_after = str(int(arg or "1"))
        elif name == "retry-after-ms":
            f.retry_after_ms = str(int(arg or "100"))
        elif name == "should-retry" and arg in ("true", "false"):
            f.should_retry = arg
        elif name == "stream-error":
            count, _, style = arg.partition(":")
            if style and style not in STREAM_ERROR_STYLES:
                raise ValueError(item)
            f.stream_error_after = int(count or "3")
            f.stream_error_style = style or None
        elif name == "restart":
            f.restart_after = int(arg or "3")
        elif name == "drop":
            f.drop_after = int(arg or "200")
        elif name == "stall":
            f.stall = float(arg or "1")
        elif name == "slow":
            f.slow_ms = float(arg or "20")
        elif name == "malformed":
            f.malformed_after = int(arg or "3")
        elif name == "no-terminal":
            f.no_terminal = True
        elif name == "no-done":
            f.no_done = True
        else:
            raise ValueError(item)
    except ValueError:
        raise SimError(400, f"x-sim-fault: unknown or malformed fault {item!r}") from None


def error_for(f: Faults, dialect: str, model: str, attempt: int) -> SimError | None:
    """The error to answer with before any output, or ``None``. ``attempt`` counts requests
    with the same attempt key, from 1."""
    status: int | None = f.status
    if f.fail_first and attempt <= f.fail_first:
        status = f.fail_status or (529 if dialect == "anthropic" else 500)
    if f.spend_limit:
        err = _spend_limit(dialect)
    elif status is None:
        return None
    else:
        err = _status_error(status, dialect, model)
    if status == 429 and f.retry_after is None and f.retry_after_ms is None:
        err.headers["retry-after"] = "1"
    if f.retry_after is not None:
        err.headers["retry-after"] = f.retry_after
    if f.retry_after_ms is not None:
        err.headers["retry-after-ms"] = f.retry_after_ms
    if f.should_retry is not None:
        err.headers["x-should-retry"] = f.should_retry
    return err


def _spend_limit(dialect: str) -> SimError:
    # A quota 429 carries no retry-after: waiting does not help (brief/wire.md, HTTP errors).
    if dialect == "anthropic":
        return SimError(
            429,
            "You have reached your specified API usage limits. You will regain access on 2027-01-01 "
            "at 00:00 UTC.",
            details={"error_code": "enforced_spend_limit_reached"},
        )
    return SimError(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on "
        "this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type="insufficient_quota",
        code="insufficient_quota",
    )


def _status_error(status: int, dialect: str, model: str) -> SimError:
    if dialect == "anthropic":
        messages = {
            429: "This request would exceed the rate limit for your organization of 50 requests per minute. "
            "For details, refer to: https://docs.claude.com/en/api/rate-limits.",
            500: "Internal server error",
            503: "Service unavailable",
            529: "Overloaded",
        }
        return SimError(status, messages.get(status, "Internal server error"))
    if status == 429:
        return SimError(
            429,
            f"Rate limit reached for {model} in organization org-sim on requests per min (RPM): Limit 50, "
            "Used 50, Requested 1. Please try again in 1s. Visit "
            "https://platform.openai.com/account/rate-limits "
            "to learn more.",
            type="requests",
            code="rate_limit_exceeded",
        )
    if status == 503:
        return SimError(
            503, "The engine is currently overloaded, please try again later.", type="server_error"
        )
    return SimError(
        status,
        "The server had an error while processing your request. Sorry about that!",
        type="server_error",
    )


async def faulty_stream(
    events: Iterable[StreamEvent],
    f: Faults,
    *,
    error_event: bytes,
    malformed: bytes,
    restart: Iterable[StreamEvent] = (),
) -> AsyncIterator[bytes]:
    """The stream's bytes with the post-200 faults applied, in event order. ``restart``: the
    whole stream of the relay's second attempt, sent after ``restart_after`` events."""
    if f.restart_after is not None:
        events = [*list(events)[: f.restart_after], *restart]
    sent = 0
    count = 0
    for event in events:
        if (f.no_terminal and event.terminal) or (f.no_done and event.done):
            continue
        if f.stream_error_after is not None and count >= f.stream_error_after:
            yield error_event
            return
        if f.malformed_after is not None and count == f.malformed_after:
            async for chunk in _send(malformed, f, sent):
                yield chunk
            sent += len(malformed)
        if count and f.slow_ms:
            await asyncio.sleep(f.slow_ms / 1000)
        async for chunk in _send(event.data, f, sent):
            yield chunk
        sent += len(event.data)
        count += 1
        if count == 1 and f.stall:
            await asyncio.sleep(f.stall)


async def _send(data: bytes, f: Faults, sent: int) -> AsyncIterator[bytes]:
    if f.drop_after is not None and sent + len(data) > f.drop_after:
        head = data[: max(0, f.drop_after - sent)]
        if head:
            yield head
        raise ConnectionDropped(f"x-sim-fault drop after {f.drop_after} bytes")
    yield data
