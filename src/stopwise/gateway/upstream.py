"""The gateway's upstream connection pool: HTTP/1.1 over asyncio protocols, parsed by httptools.

It is an ``httpx2.AsyncBaseTransport``, so the finisher's transport and the pass-through
routes drive it exactly as they would httpx2's own pool; it exists because that pool (httpcore
over h11 over anyio streams) was the largest single cost of a gateway request after the
inbound server: a request through it ran several hundred Python calls before the first byte.
Here a response is parsed by a C parser inside the protocol's ``data_received`` and handed
over in chunks, with the same semantics the gateway relies on:

- keep-alive connections per origin, reused only once the previous response was read to its
  end; a response closed early closes its connection (its unread tail is unknowable);
- at most ``max_connections`` requests in flight, the rest wait up to the ``pool`` timeout;
- the ``connect``/``read``/``write``/``pool`` timeouts of the request's ``timeout`` extension,
  plus ``idle``: the longest wait for the next piece of a body (else ``read``);
- failures raised as httpx2's own exception types (``ConnectError``, ``ReadTimeout``,
  ``RemoteProtocolError``...), which is what the finisher classifies and retries on;
- back-pressure: a body read ahead of its consumer by more than ``_HIGH_WATER`` bytes pauses
  the socket.

TLS goes through ``ssl.create_default_context()`` (the system's trust store). No HTTP/2, no
proxies from the environment, no redirects: a gateway forwards exactly what it was given.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httptools
import httpx2

__all__ = ["UpstreamPool"]

_HIGH_WATER = 256 * 1024  # bytes of body buffered ahead of the consumer before pausing reads
_Key = tuple[str, str, int]  # scheme, host, port


class _Connection(asyncio.Protocol):
    """One upstream socket and the response being read from it (one at a time)."""

    def __init__(self, key: _Key) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._headers_done = False
        self._interim = False
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False
        self.complete = False
        self._keep_alive = False
        self._drain: asyncio.Future[None] | None = None
        self._request: httpx2.Request | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, so no isinstance).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._request is None:
            # Bytes with no request outstanding: the connection is out of step; drop it.
            self._fail(httpx2.RemoteProtocolError("upstream sent data with no request outstanding"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx2.RemoteProtocolError("upstream switched protocols", request=self._request))
        except httptools.HttpParserError as exc:
            err = httpx2.RemoteProtocolError(f"malformed upstream response: {exc}", request=self._request)
            self._fail(err)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        if self._request is not None and not self.complete and self._error is None:
            if self._headers_done and not self._parser_expects_more():
                # A body delimited by the connection's end: the end is its last byte.
                self.complete = True
            else:
                what = "body" if self._headers_done else "response"
                err: httpx2.TransportError = httpx2.RemoteProtocolError(
                    f"upstream closed the connection before the whole {what} arrived", request=self._request
                )
                if exc is not None:
                    err = httpx2.ReadError(f"upstream connection broke: {exc}", request=self._request)
                self._error = err
        self._wake()

    def pause_writing(self) -> None:
        loop = asyncio.get_running_loop()
        self._drain = loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        self._drain = None

    # -- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        if 100 <= self._parser.get_status_code() < 200:
            # An interim response (100 Continue, 103 Early Hints): the final one follows on
            # the same connection (RFC 9110 §15.2); the parser goes on to it.
            self._interim = True
            self._headers = []
            return
        self._headers_done = True
        self._keep_alive = self._parser.should_keep_alive()
        if self._request is not None and self._request.method == "HEAD":
            # No body, whatever content-length says; the parser cannot know the method.
            self.complete = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        self.complete = True
        self._wake()

    # -- the request's side ----------------------------------------------------------------

    def _parser_expects_more(self) -> bool:
        headers = {k.lower(): v for k, v in self._headers}
        return b"content-length" in headers or b"chunked" in headers.get(b"transfer-encoding", b"").lower()

    def _fail(self, err: Exception) -> None:
        self._error = err
        if self.transport is not None:
            self.transport.close()
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def _wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None
        if timeout is not None:
            timer = loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def start(self, request: httpx2.Request, head: bytes, body: bytes) -> None:
        assert self.transport is not None
        self._request = request
        self._headers = []
        self._headers_done = False
        self._interim = False
        self.complete = False
        self._error = None
        self._parser = httptools.HttpResponseParser(self)
        self._discard()
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)

    async def drained(self, timeout: float | None) -> None:
        if self._drain is None or self._drain.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._drain), timeout)
        except TimeoutError:
            what = "upstream did not take the request in time"
            raise httpx2.WriteTimeout(what, request=self._request) from None

    async def head(self, timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]]]:
        while not self._headers_done:
            await self._more(timeout, "upstream sent no response in time")
        return self._parser.get_status_code(), self._headers

    async def chunk(self, timeout: float | None) -> bytes:
        """The next piece of the body, or b"" at its end."""
        while True:
            if self._chunks:
                if len(self._chunks) == 1:
                    data = self._chunks.popleft()
                else:
                    data = b"".join(self._chunks)
                    self._chunks.clear()
                self._buffered = 0
                if self._paused and self.transport is not None and not self.closed:
                    self._paused = False
                    self.transport.resume_reading()
                return data
            if self.complete:
                return b""
            await self._more(timeout, "upstream stopped sending in time")

    async def _more(self, timeout: float | None, late: str) -> None:
        """Wait for the parser to hand over more; raise what broke the connection, or a read
        timeout saying ``late``."""
        if self._error is not None:
            raise self._error
        try:
            await self._wait(timeout)
        except TimeoutError:
            raise httpx2.ReadTimeout(late, request=self._request) from None

    def reusable(self) -> bool:
        return self.complete and self._keep_alive and not self.closed and self._error is None

    def finish(self) -> None:
        self._request = None
        self._discard()

    def _discard(self) -> None:
        """Drop body bytes nobody read (a response closed after it fully arrived): they
        belong to the last response and must never reach the next one."""
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class _Body(httpx2.AsyncByteStream):
    """A response body read straight off its connection; the connection goes back to the pool
    at the body's end, or is closed if the body is abandoned before it."""

    def __init__(self, pool: UpstreamPool, conn: _Connection, read_timeout: float | None) -> None:
        self._pool = pool
        self._conn: _Connection | None = conn
        self._timeout = read_timeout

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self  # its own iterator: no generator frame between the socket and the reader

    async def __anext__(self) -> bytes:
        conn = self._conn
        if conn is None:
            raise StopAsyncIteration
        try:
            data = await conn.chunk(self._timeout)
        except BaseException:
            await self.aclose()
            raise
        if not data:
            self._release()
            raise StopAsyncIteration
        return data

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(conn)

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            if not conn.reusable():
                conn.close()
            self._pool._release(conn)


class UpstreamPool(httpx2.AsyncBaseTransport):
    def __init__(
        self,
        *,
        max_connections: int = 100,
        # Under uvicorn's default 5 s, so an idle connection is dropped here before the
        # server closes it under a request being sent.
        keepalive_expiry: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._slots = asyncio.Semaphore(max_connections)
        self._max = max_connections
        self._idle: dict[_Key, list[_Connection]] = {}
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._closed = False

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if self._closed:
            raise httpx2.ConnectError("the upstream pool is closed", request=request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        url = request.url
        scheme = url.scheme
        if scheme not in ("http", "https"):
            raise httpx2.UnsupportedProtocol(f"unsupported upstream scheme {scheme!r}", request=request)
        port = url.port or (443 if scheme == "https" else 80)
        key: _Key = (scheme, url.host, port)
        if self._slots.locked():
            try:
                await asyncio.wait_for(self._slots.acquire(), timeouts.get("pool"))
            except TimeoutError:
                raise httpx2.PoolTimeout("no upstream connection free in time", request=request) from None
        else:
            await self._slots.acquire()  # free: returns at once, without a task for wait_for
        conn: _Connection | None = None
        try:
            conn = self._idle_connection(key) or await self._connect(key, request, timeouts.get("connect"))
            body = await request.aread()
            conn.start(request, _head(request, key, len(body)), body)
            await conn.drained(timeouts.get("write"))
            status, headers = await conn.head(timeouts.get("read"))
        except BaseException:
            if conn is not None:
                conn.close()
            self._slots.release()
            raise
        return httpx2.Response(
            status,
            headers=headers,
            # "idle", ours: the longest silence inside a body, apart from the wait for its head.
            stream=_Body(self, conn, timeouts.get("idle", timeouts.get("read"))),
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _idle_connection(self, key: _Key) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            conn = idle.pop()  # the most recently used is the least likely to have timed out
            if not conn.closed and now - conn.idle_since < self._expiry:
                return conn
            conn.close()
        return None

    async def _connect(self, key: _Key, request: httpx2.Request, timeout: float | None) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        factory: Callable[[], _Connection] = lambda: _Connection(key)  # noqa: E731
        extra: dict[str, Any] = {}
        if scheme == "https":
            extra = {"ssl": self._ssl_context(), "server_hostname": host}
        try:
            _, conn = await asyncio.wait_for(loop.create_connection(factory, host, port, **extra), timeout)
        except TimeoutError:
            what = f"could not connect to {host}:{port} in time"
            raise httpx2.ConnectTimeout(what, request=request) from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx2.ConnectError(f"could not connect to {host}:{port}: {exc}", request=request) from None
        return conn

    def _release(self, conn: _Connection) -> None:
        self._slots.release()
        conn.finish()
        if self._closed or not conn.reusable():
            conn.close()
            return
        conn.idle_since = asyncio.get_running_loop().time()
        idle = self._idle.setdefault(conn.key, [])
        idle.append(conn)
        if len(idle) > self._max:
            idle.pop(0).close()

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def _head(request: httpx2.Request, key: _Key, length: int) -> bytes:
    """The request line and headers. Host and framing are ours; everything else is the
    caller's, as given."""
    scheme, _, port = key
    host = request.url.raw_host
    if b":" in host:
        host = b"[" + host + b"]"  # an IPv6 literal
    if port != (443 if scheme == "https" else 80):
        host += b":%d" % port
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\nhost: ", host]
    for name, value in request.headers.raw:
        lname = name.lower()
        if lname in _OURS:
            continue
        lines += (b"\r\n", name, b": ", value)
    if length or request.method not in ("GET", "HEAD"):
        lines += (b"\r\ncontent-length: ", str(length).encode("ascii"))
    lines.append(b"\r\n\r\n")
    return b"".join(lines)


# Framing and routing headers the pool writes itself.
_OURS = frozenset({b"host", b"content-length", b"transfer-encoding", b"connection", b"keep-alive"})
