"""The gateway's side of the client connection: uvicorn's httptools protocol with the limits it
lacks on the request head.

uvicorn times out idle keep-alive connections but not a request head that arrives slowly, and
it takes a head of any size and any number of headers. :func:`inbound_protocol` makes the
protocol class that adds, per connection:

- ``header_timeout``: the head (request line and headers) must be complete this many seconds
  after the connection opens or the request's first byte arrives; else 408 and close. A client
  that dribbles a header a byte at a time (slowloris) holds a connection for this long at most;
- ``max_header_bytes``: the request line and headers together, counted as they arrive (before
  the parser has a whole header to report), so an 8 MB header is refused after the limit, not
  buffered; else 431 and close;
- ``max_headers``: how many header lines; else 431 and close.

Refusals go out in the caller's dialect (by the path, when it has arrived), are counted by
reason through ``on_refusal`` and logged with the peer's address: nothing is written to the
request log, which a client could otherwise fill with refusals.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .errors import GatewayError, dialect_of_request, error_body

__all__ = ["REFUSAL_REASONS", "HeadLimits", "inbound_protocol"]

logger = logging.getLogger("stopwise.gateway")

Refusal = Callable[[str], None]
#: Why a connection was refused (the ``reason`` label of stopwise_connections_refused_total).
REFUSAL_REASONS = ("header_timeout", "headers_too_large", "too_many_headers")


@dataclass(frozen=True, slots=True)
class HeadLimits:
    header_timeout: float = 10.0
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100


class _Refused(Exception):
    """Raised inside a parser callback to stop the parser: httptools turns it into the
    ``HttpParserError`` uvicorn answers with :meth:`send_400_response`, which is ours."""


class _Protocol(HttpToolsProtocol):
    limits = HeadLimits()
    on_refusal: Refusal | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_head = True  # reading a request head (or waiting for the first one)
        self._head_bytes = 0
        self._header_count = 0
        self._refusal: GatewayError | None = None
        self._refusal_reason = ""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refusal is not None:
            return  # refused and closing: nothing more is read
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Still in the head after this chunk: all of it was head, and over the limit means a
        # header that is too large is arriving, whether or not the parser has reported it.
        if self._in_head and self._refusal is None and self._head_bytes > self.limits.max_header_bytes:
            self._refuse(_too_large(self.limits), "headers_too_large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # _head_bytes is not reset here: the chunk that began the message is already counted.
        self._in_head = True
        self._header_count = 0
        if self._head_timer is None:  # a keep-alive connection's next request
            self._start_head()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._refusal = GatewayError(
                431, "headers_too_large", f"more than {self.limits.max_headers} request headers"
            )
            self._refusal_reason = "too_many_headers"
            raise _Refused
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0

    def send_400_response(self, msg: str) -> None:
        if self._refusal is None:
            super().send_400_response(msg)
        else:
            self._refuse(self._refusal, self._refusal_reason)

    # -- ours --------------------------------------------------------------------------------

    def _start_head(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            seconds = self.limits.header_timeout
            err = GatewayError(408, "request_timeout", f"request headers not complete in {seconds:g} s")
            self._refuse(err, "header_timeout")

    def _refuse(self, err: GatewayError, reason: str) -> None:
        """Answer ``err`` and close: the rest of the request is never read."""
        self._refusal = err
        self._stop_head_timer()
        if self.on_refusal is not None:
            self.on_refusal(reason)
        peer = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
        logger.warning("stopwise: %s: %s; connection closed", peer, err.message)
        if self.transport.is_closing():
            return
        path = getattr(self, "url", b"").split(b"?", 1)[0].decode("latin-1")
        headers, body = error_body(dialect_of_request(path, {}), err)
        phrase = http.HTTPStatus(err.status).phrase
        lines = [f"HTTP/1.1 {err.status} {phrase}", "content-type: application/json"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines += [f"content-length: {len(body)}", "connection: close", "", ""]
        self.transport.write("\r\n".join(lines).encode("latin-1") + body)
        self.transport.close()


def _too_large(limits: HeadLimits) -> GatewayError:
    return GatewayError(
        431, "headers_too_large", f"request line and headers over {limits.max_header_bytes} bytes"
    )


def inbound_protocol(limits: HeadLimits, on_refusal: Refusal | None = None) -> type[asyncio.Protocol]:
    """The uvicorn ``http`` protocol class enforcing ``limits``."""
    members = {"limits": limits, "on_refusal": None if on_refusal is None else staticmethod(on_refusal)}
    return type("GatewayHttpProtocol", (_Protocol,), members)
