"""The gateway's upstream pool against real sockets: a raw asyncio server on 127.0.0.1 whose
every connection is scripted by the test, so framing, keep-alive, failures and timeouts are
seen byte for byte from both ends.

pytest runs no asyncio plugin here, so each test drives its own loop with ``asyncio.run``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import httpx2
import pytest

from stopwise.gateway.upstream import UpstreamPool
from stopwise.transport import AsyncFinisherTransport

# Generous enough never to fire on a loaded machine, short enough that a hang fails quickly
# instead of running into pytest-timeout.
SLOW = 5.0
SHORT = 0.1

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class Peer:
    """One accepted connection, as a test's handler drives it."""

    def __init__(
        self, server: Server, index: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.index = index  # 1 for the first connection accepted
        self.reader = reader
        self.writer = writer

    async def request(self) -> bytes | None:
        """The next request's head and body (framed by its content-length), recorded on the
        server; None once the client has closed the connection."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            self.server.client_closed(self.index).set()
            return None
        except ConnectionError:
            self.server.client_closed(self.index).set()
            return None
        _, headers, _ = parse(head)
        length = int(dict(headers).get(b"content-length", b"0"))
        raw = head + await self.reader.readexactly(length)
        self.server.requests.append((self.index, raw))
        self.server.received.set()
        return raw

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        # The client may already have given up on this connection; that is its business.
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def until_client_closes(self) -> None:
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass
        self.server.client_closed(self.index).set()


Handler = Callable[[Peer], Awaitable[None]]


class Server:
    """``asyncio.start_server`` on 127.0.0.1 port 0. Counts connections, records each request
    with the connection it came on, and closes every connection when its handler returns. A
    handler's own exception fails the test at the server's exit, so a mis-scripted exchange is
    not mistaken for the pool's fault."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[tuple[int, bytes]] = []
        self.received = asyncio.Event()  # set once a request has been received
        self.errors: list[BaseException] = []
        self._closed: dict[int, asyncio.Event] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    def url(self, target: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{target}"

    def client_closed(self, index: int) -> asyncio.Event:
        """Set once the client has closed connection ``index`` (seen as EOF or a reset)."""
        return self._closed.setdefault(index, asyncio.Event())

    async def wait_client_closed(self, index: int) -> None:
        await asyncio.wait_for(self.client_closed(index).wait(), SLOW)

    @property
    def served_on(self) -> list[int]:
        return [index for index, _ in self.requests]

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        if self.errors and exc_info[0] is None:
            raise self.errors[0]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.handler(Peer(self, self.connections, reader, writer))
        except asyncio.CancelledError:
            # The server's exit cancels handlers still running. Not re-raised: Python 3.11's
            # start_server logs a cancelled handler task as an error.
            pass
        except Exception as exc:
            self.errors.append(exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def replies(*responses: bytes) -> Handler:
    """Answers each request, on whichever connection it arrives, with the next of ``responses``
    and keeps the connection open until the client closes it."""
    queue = list(responses)

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(queue.pop(0))

    return handler


def once(*pieces: bytes) -> Handler:
    """Reads one request, writes ``pieces`` one write each, then closes the connection."""

    async def handler(peer: Peer) -> None:
        await peer.request()
        for piece in pieces:
            await peer.send(piece)

    return handler


def parse(raw: bytes) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    """Request line, headers (names lower-cased) and body of a raw request."""
    head, _, body = raw.partition(b"\r\n\r\n")
    line, *lines = head.split(b"\r\n")
    headers = [(name.strip().lower(), value.strip()) for name, _, value in (h.partition(b":") for h in lines)]
    return line, headers, body


def values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [v for n, v in headers if n == name]


def req(
    method: str,
    url: str,
    *,
    headers: Any = None,
    content: bytes | None = None,
    **timeouts: float | None,
) -> httpx2.Request:
    """A request with the ``timeout`` extension an httpx2 client would give it."""
    timeout: dict[str, float | None] = {"connect": SLOW, "read": SLOW, "write": SLOW, "pool": SLOW}
    timeout.update(timeouts)
    return httpx2.Request(method, url, headers=headers, content=content, extensions={"timeout": timeout})


async def read(response: httpx2.Response) -> bytes:
    return b"".join([chunk async for chunk in response.aiter_raw()])


async def fetch(pool: UpstreamPool, request: httpx2.Request) -> tuple[httpx2.Response, bytes]:
    response = await pool.handle_async_request(request)
    return response, await read(response)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- framing ------------------------------------------------------------------------------------


def test_content_length_response_and_the_request_as_sent() -> None:
    response_bytes = (
        b"HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\nset-cookie: a=1\r\n"
        b"set-cookie: b=2\r\ncontent-length: 11\r\n\r\nhello world"
    )

    async def main() -> None:
        async with Server(replies(response_bytes)) as server:
            pool = UpstreamPool()
            # The caller's framing and routing headers are wrong on purpose: the pool writes its own.
            headers = [
                ("X-Custom", "yes"),
                ("x-multi", "1"),
                ("x-multi", "2"),
                ("Host", "elsewhere.example"),
                ("Content-Length", "999"),
                ("Connection", "upgrade"),
                ("Transfer-Encoding", "chunked"),
            ]
            request = req(
                "POST",
                server.url("/v1/things?a=1&b=two%20words"),
                headers=headers,
                content=b"payload\x00\xff",
            )
            response, body = await fetch(pool, request)
            await pool.aclose()
        assert response.status_code == 201
        assert response.headers["content-type"] == "text/plain"
        assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
        assert response.extensions["http_version"] == b"HTTP/1.1"
        assert body == b"hello world"

        [(_, raw)] = server.requests
        line, sent, sent_body = parse(raw)
        assert line == b"POST /v1/things?a=1&b=two%20words HTTP/1.1"
        assert values(sent, b"host") == [f"127.0.0.1:{server.port}".encode()]
        assert values(sent, b"x-custom") == [b"yes"]
        assert values(sent, b"x-multi") == [b"1", b"2"]
        assert values(sent, b"content-length") == [b"9"]
        assert values(sent, b"connection") == []
        assert values(sent, b"transfer-encoding") == []
        assert sent_body == b"payload\x00\xff"

    asyncio.run(main())


def test_chunked_response_with_extensions_and_trailers() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-a: 1\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n"
    )

    async def main() -> None:
        async with Server(replies(chunked, OK)) as server:
            pool = UpstreamPool()
            response, body = await fetch(pool, req("GET", server.url("/stream")))
            # The framing was consumed exactly: the next response on the same connection parses.
            second, second_body = await fetch(pool, req("GET", server.url("/next")))
            await pool.aclose()
        assert response.status_code == 200 and response.headers["x-a"] == "1"
        assert response.headers["transfer-encoding"] == "chunked"
        assert body == b"hello world"
        assert second.status_code == 200 and second_body == b"ok"
        assert server.served_on == [1, 1]

    asyncio.run(main())


def test_get_sends_no_content_length_and_an_empty_post_sends_zero() -> None:
    async def main() -> None:
        async with Server(replies(OK, OK)) as server:
            pool = UpstreamPool()
            for request in (req("GET", server.url("/g")), req("POST", server.url("/p"), content=b"")):
                await fetch(pool, request)
            await pool.aclose()
        (_, get), (_, post) = server.requests
        assert values(parse(get)[1], b"content-length") == []
        assert parse(get)[0] == b"GET /g HTTP/1.1"
        assert values(parse(post)[1], b"content-length") == [b"0"]

    asyncio.run(main())


def test_large_request_body_arrives_exact() -> None:
    # Above the size the pool writes apart from the head.
    payload = bytes(range(256)) * 4096 + b"tail"

    async def main() -> None:
        async with Server(replies(OK)) as server:
            pool = UpstreamPool()
            _, body = await fetch(pool, req("POST", server.url("/big"), content=payload))
            await pool.aclose()
        assert body == b"ok"
        [(_, raw)] = server.requests
        _, headers, sent = parse(raw)
        assert values(headers, b"content-length") == [str(len(payload)).encode()]
        assert sent == payload

    asyncio.run(main())


def test_no_content_responses_have_empty_bodies_and_keep_the_connection() -> None:
    async def main() -> None:
        async with Server(
            replies(b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\n\r\n", OK)
        ) as server:
            pool = UpstreamPool()
            results = [await fetch(pool, req("GET", server.url(f"/{i}"))) for i in range(3)]
            await pool.aclose()
        assert [(r.status_code, body) for r, body in results] == [(204, b""), (304, b""), (200, b"ok")]
        assert server.served_on == [1, 1, 1]

    asyncio.run(main())


def test_head_response_has_no_body_whatever_its_content_length() -> None:
    # A response to HEAD carries the headers a GET would get, content-length included, and never
    # a body (RFC 9110 §9.3.2); Starlette answers HEAD on every GET route, so HEAD reaches here.
    async def main() -> None:
        async with Server(replies(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n", OK)) as server:
            pool = UpstreamPool()
            response = await pool.handle_async_request(req("HEAD", server.url("/v1/models"), read=1.0))
            try:
                body = await read(response)
            finally:
                await response.aclose()
            _, after = await fetch(pool, req("GET", server.url("/after")))
            await pool.aclose()
        assert response.headers["content-length"] == "100"
        assert body == b""
        assert after == b"ok"

    asyncio.run(main())


def test_interim_1xx_responses_are_skipped() -> None:
    # A client must accept 1xx responses before the final one even unasked (RFC 9110 §15.2).
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        # An upstream that takes a moment over the final response, so the interim one reaches
        # the client on its own rather than in the same read.
        await asyncio.sleep(0.05)
        await peer.send(b"HTTP/1.1 200 OK\r\nx-final: yes\r\ncontent-length: 4\r\n\r\ndone")
        await peer.until_client_closes()

    async def main() -> None:
        async with Server(handler) as server:
            pool = UpstreamPool()
            response, body = await fetch(pool, req("POST", server.url("/"), content=b"x"))
            await pool.aclose()
        assert response.status_code == 200
        assert response.headers.get("x-final") == "yes"
        assert body == b"done"

    asyncio.run(main())


def test_body_delimited_by_the_connections_close() -> None:
    async def main() -> None:
        async with Server(once(b"HTTP/1.1 200 OK\r\nx-a: 1\r\n\r\nfirst ", b"second ", b"third")) as server:
            pool = UpstreamPool()
            response, body = await fetch(pool, req("GET", server.url("/")))
            # Such a connection cannot carry another response: the next request opens a new one.
            server.handler = replies(OK)
            _, again = await fetch(pool, req("GET", server.url("/")))
            await pool.aclose()
        assert response.status_code == 200 and response.headers["x-a"] == "1"
        assert body == b"first second third"
        assert again == b"ok" and server.served_on == [1, 2]

    asyncio.run(main())


# -- keep-alive ---------------------------------------------------------------------------------


def test_sequential_requests_share_one_connection() -> None:
    async def main() -> None:
        async with Server(
            replies(*(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n%d" % i for i in range(3)))
        ) as server:
            pool = UpstreamPool()
            bodies = [(await fetch(pool, req("GET", server.url(f"/{i}"))))[1] for i in range(3)]
            await pool.aclose()
            # The pool's close closes its idle connection.
            await server.wait_client_closed(1)
        assert bodies == [b"0", b"1", b"2"]
        assert server.connections == 1 and server.served_on == [1, 1, 1]
        assert [parse(raw)[0] for _, raw in server.requests] == [
            f"GET /{i} HTTP/1.1".encode() for i in range(3)
        ]

    asyncio.run(main())


def test_response_closed_before_its_end_closes_its_connection() -> None:
    async def main() -> None:
        # The first body is announced as 10 bytes and only 5 come: its end is still out there.
        async with Server(replies(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello", OK)) as server:
            pool = UpstreamPool()
            response = await pool.handle_async_request(req("GET", server.url("/")))
            await response.aclose()
            await server.wait_client_closed(1)
            _, body = await fetch(pool, req("GET", server.url("/")))
            await pool.aclose()
        assert body == b"ok"
        assert server.served_on == [1, 2]

    asyncio.run(main())


def test_unread_body_of_a_closed_response_never_reaches_the_next_response() -> None:
    # The whole first body arrives with its head, so the connection is at a clean boundary when
    # the caller closes the response unread. Whether the pool reuses it or not, the next
    # response must be the next response's bytes only.
    async def main() -> None:
        first = b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nfirst-secret"
        second = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond"
        async with Server(replies(first, second)) as server:
            pool = UpstreamPool()
            response = await pool.handle_async_request(req("GET", server.url("/a")))
            await response.aclose()
            next_response, body = await fetch(pool, req("GET", server.url("/b")))
            await pool.aclose()
        assert next_response.status_code == 200
        assert body == b"second"

    asyncio.run(main())


def test_connection_close_response_is_not_reused() -> None:
    async def main() -> None:
        # The server keeps the socket open: only the header says not to reuse it.
        async with Server(
            replies(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nby", OK)
        ) as server:
            pool = UpstreamPool()
            _, first = await fetch(pool, req("GET", server.url("/")))
            await server.wait_client_closed(1)
            _, second = await fetch(pool, req("GET", server.url("/")))
            await pool.aclose()
        assert (first, second) == (b"by", b"ok")
        assert server.served_on == [1, 2]

    asyncio.run(main())


def test_http_1_0_response_is_not_reused() -> None:
    async def main() -> None:
        async with Server(replies(b"HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nold", OK)) as server:
            pool = UpstreamPool()
            _, first = await fetch(pool, req("GET", server.url("/")))
            _, second = await fetch(pool, req("GET", server.url("/")))
            await pool.aclose()
        assert (first, second) == (b"old", b"ok")
        assert server.served_on == [1, 2]

    asyncio.run(main())


def test_idle_connection_past_keepalive_expiry_is_replaced() -> None:
    async def main() -> None:
        async with Server(replies(OK, OK)) as server:
            pool = UpstreamPool(keepalive_expiry=0.0)
            await fetch(pool, req("GET", server.url("/")))
            _, body = await fetch(pool, req("GET", server.url("/")))
            # The expired connection is closed, not just left behind.
            await server.wait_client_closed(1)
            await pool.aclose()
        assert body == b"ok" and server.served_on == [1, 2]

    asyncio.run(main())


def test_idle_connection_closed_by_the_server_is_not_reused() -> None:
    closed = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        if peer.index == 1:
            await peer.send(OK)
            # An upstream's keep-alive timeout: it closes the idle socket, wholly, before the
            # next request is even made.
            peer.writer.close()
            await peer.writer.wait_closed()
            closed.set()
            return
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfresh")
        await peer.until_client_closes()

    async def main() -> None:
        async with Server(handler) as server:
            pool = UpstreamPool()
            _, first = await fetch(pool, req("GET", server.url("/")))
            await asyncio.wait_for(closed.wait(), SLOW)
            _, second = await fetch(pool, req("GET", server.url("/")))
            await pool.aclose()
        assert (first, second) == (b"ok", b"fresh")
        assert server.served_on == [1, 2]

    asyncio.run(main())


def test_bytes_past_a_responses_end_spoil_only_its_connection() -> None:
    async def main() -> None:
        # Four stray bytes follow a complete response in the same write.
        async with Server(
            replies(OK + b"JUNK", b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nclean")
        ) as server:
            pool = UpstreamPool()
            _, first = await fetch(pool, req("GET", server.url("/")))
            _, second = await fetch(pool, req("GET", server.url("/")))
            await pool.aclose()
        assert (first, second) == (b"ok", b"clean")
        assert server.served_on == [1, 2]

    asyncio.run(main())


def test_concurrent_requests_get_their_own_responses() -> None:
    async def handler(peer: Peer) -> None:
        while (raw := await peer.request()) is not None:
            path = parse(raw)[0].split(b" ")[1]
            await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(path), path))

    async def main() -> None:
        async with Server(handler) as server:
            pool = UpstreamPool(max_connections=3)
            paths = [f"/r{i}" for i in range(12)]
            results = await asyncio.gather(*(fetch(pool, req("GET", server.url(p))) for p in paths))
            await pool.aclose()
        assert [body.decode() for _, body in results] == paths
        # Never more connections than the pool allows in flight.
        assert 1 <= server.connections <= 3

    asyncio.run(main())


# -- failures -----------------------------------------------------------------------------------


def test_server_closing_mid_body_yields_what_came_then_fails() -> None:
    async def main() -> None:
        async with Server(once(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello")) as server:
            pool = UpstreamPool(max_connections=1)
            response = await pool.handle_async_request(req("GET", server.url("/")))
            got: list[bytes] = []
            with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
                async for chunk in response.aiter_raw():
                    got.append(chunk)
            # After the failure the slot is free again.
            server.handler = replies(OK)
            _, after = await fetch(pool, req("GET", server.url("/"), pool=SHORT))
            await response.aclose()
            await pool.aclose()
        assert b"".join(got) == b"hello"
        assert after == b"ok"

    asyncio.run(main())


def test_server_closing_mid_chunked_body_fails() -> None:
    async def main() -> None:
        async with Server(
            once(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
        ) as server:
            pool = UpstreamPool()
            response = await pool.handle_async_request(req("GET", server.url("/")))
            got: list[bytes] = []
            with pytest.raises((httpx2.RemoteProtocolError, httpx2.ReadError)):
                async for chunk in response.aiter_raw():
                    got.append(chunk)
            await response.aclose()
            await pool.aclose()
        assert b"".join(got) == b"hello"

    asyncio.run(main())


def test_server_closing_before_any_response() -> None:
    async def main() -> None:
        async with Server(once()) as server:
            pool = UpstreamPool()
            with pytest.raises(httpx2.RemoteProtocolError):
                await pool.handle_async_request(req("GET", server.url("/")))
            await pool.aclose()
        assert server.served_on == [1]

    asyncio.run(main())


def test_malformed_status_line() -> None:
    async def main() -> None:
        async with Server(replies(b"garbage\r\n\r\n", OK)) as server:
            pool = UpstreamPool(max_connections=1)
            with pytest.raises(httpx2.RemoteProtocolError):
                await pool.handle_async_request(req("GET", server.url("/")))
            # The broken connection is dropped, and the slot is free again.
            await server.wait_client_closed(1)
            _, body = await fetch(pool, req("GET", server.url("/"), pool=SHORT))
            await pool.aclose()
        assert body == b"ok" and server.served_on == [1, 2]

    asyncio.run(main())


def test_connection_refused() -> None:
    async def main() -> None:
        pool = UpstreamPool(max_connections=1)
        url = f"http://127.0.0.1:{closed_port()}/"
        with pytest.raises(httpx2.ConnectError):
            await pool.handle_async_request(req("GET", url))
        # A failed connect holds no slot.
        with pytest.raises(httpx2.ConnectError):
            await pool.handle_async_request(req("GET", url, pool=SHORT))
        await pool.aclose()

    asyncio.run(main())


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
def test_connect_timeout() -> None:
    async def main() -> None:
        # A listener that never accepts, with its accept queue filled: Linux drops further SYNs,
        # so a connect neither succeeds nor fails until the client gives up.
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(0)
            address = listener.getsockname()
            fillers = [socket.socket() for _ in range(3)]
            try:
                for filler in fillers:
                    filler.setblocking(False)
                    filler.connect_ex(address)
                pool = UpstreamPool()
                with pytest.raises(httpx2.ConnectTimeout):
                    await pool.handle_async_request(
                        req("GET", f"http://127.0.0.1:{address[1]}/", connect=SHORT)
                    )
                await pool.aclose()
            finally:
                for filler in fillers:
                    filler.close()

    asyncio.run(main())


def test_read_timeout_waiting_for_the_head() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.until_client_closes()

    async def main() -> None:
        async with Server(handler) as server:
            pool = UpstreamPool(max_connections=1)
            with pytest.raises(httpx2.ReadTimeout):
                await pool.handle_async_request(req("GET", server.url("/"), read=SHORT))
            # The timed-out connection is closed and its slot is free.
            await server.wait_client_closed(1)
            server.handler = replies(OK)
            _, body = await fetch(pool, req("GET", server.url("/"), pool=SHORT))
            await pool.aclose()
        assert body == b"ok"

    asyncio.run(main())


def test_read_timeout_between_body_chunks() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel")
        await peer.until_client_closes()

    async def main() -> None:
        async with Server(handler) as server:
            pool = UpstreamPool(max_connections=1)
            response = await pool.handle_async_request(req("GET", server.url("/"), read=SHORT))
            got: list[bytes] = []
            # Straight off the stream, as the gateway's ProxyStream reads it: aiter_raw would
            # close the response on the error and hide whether the stream cleans up by itself.
            with pytest.raises(httpx2.ReadTimeout):
                async for chunk in response.stream:  # type: ignore[union-attr]
                    got.append(chunk)
            # The timeout itself closed the connection and gave the slot back, before the
            # caller closed the response.
            await server.wait_client_closed(1)
            server.handler = replies(OK)
            _, body = await fetch(pool, req("GET", server.url("/"), pool=SHORT))
            await response.aclose()
            await pool.aclose()
        assert b"".join(got) == b"hel"
        assert body == b"ok"

    asyncio.run(main())


def test_write_timeout_when_the_server_takes_nothing() -> None:
    # Far more than the socket buffers on both ends hold, to a server that never reads.
    payload = b"x" * (64 * 1024 * 1024)

    async def handler(peer: Peer) -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        async with Server(handler) as server:
            pool = UpstreamPool(max_connections=1)
            with pytest.raises(httpx2.WriteTimeout):
                await pool.handle_async_request(req("POST", server.url("/"), content=payload, write=SHORT))
            # The slot is free again even though the connection never got its bytes out.
            server.handler = replies(OK)
            _, body = await fetch(pool, req("GET", server.url("/"), pool=SHORT))
            await pool.aclose()
        assert body == b"ok"

    asyncio.run(main())


# -- the pool's limit ---------------------------------------------------------------------------


def test_pool_timeout_while_the_only_slot_is_held_then_released() -> None:
    async def main() -> None:
        async with Server(replies(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nheld", OK)) as server:
            pool = UpstreamPool(max_connections=1)
            held = await pool.handle_async_request(req("GET", server.url("/held")))
            with pytest.raises(httpx2.PoolTimeout):
                await pool.handle_async_request(req("GET", server.url("/waits"), pool=SHORT))
            # The timed-out request never reached the server.
            assert server.served_on == [1]
            assert await read(held) == b"held"
            _, body = await fetch(pool, req("GET", server.url("/after"), pool=SHORT))
            await pool.aclose()
        assert body == b"ok"

    asyncio.run(main())


def test_closing_an_unread_response_frees_the_slot() -> None:
    async def main() -> None:
        async with Server(replies(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial", OK)) as server:
            pool = UpstreamPool(max_connections=1)
            held = await pool.handle_async_request(req("GET", server.url("/")))
            await held.aclose()
            _, body = await fetch(pool, req("GET", server.url("/"), pool=SHORT))
            await pool.aclose()
        assert body == b"ok"

    asyncio.run(main())


def test_cancelled_request_frees_its_slot_and_closes_its_connection() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        if peer.index == 1:
            await peer.until_client_closes()  # never answers
            return
        await peer.send(OK)
        await peer.until_client_closes()

    async def main() -> None:
        async with Server(handler) as server:
            pool = UpstreamPool(max_connections=1)
            task = asyncio.create_task(pool.handle_async_request(req("GET", server.url("/stuck"))))
            # Cancel once the request is on the wire and the pool is waiting for the head.
            await asyncio.wait_for(server.received.wait(), SLOW)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await server.wait_client_closed(1)
            _, body = await fetch(pool, req("GET", server.url("/next"), pool=SHORT))
            await pool.aclose()
        assert body == b"ok" and server.served_on == [1, 2]

    asyncio.run(main())


def test_cancelled_wait_for_a_slot_takes_no_slot() -> None:
    async def main() -> None:
        async with Server(replies(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nheld", OK)) as server:
            pool = UpstreamPool(max_connections=1)
            held = await pool.handle_async_request(req("GET", server.url("/held")))
            waiting = asyncio.create_task(
                pool.handle_async_request(req("GET", server.url("/waits"), pool=None))
            )
            await asyncio.sleep(0)  # let it start waiting on the slot
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            assert await read(held) == b"held"
            _, body = await fetch(pool, req("GET", server.url("/after"), pool=SHORT))
            await pool.aclose()
        assert body == b"ok" and server.served_on == [1, 1]

    asyncio.run(main())


# -- back-pressure ------------------------------------------------------------------------------


def test_large_body_read_slowly_arrives_whole_and_in_order() -> None:
    # Every 4 bytes number their own position, so a lost, doubled or swapped piece shows.
    payload = b"".join(i.to_bytes(4, "big") for i in range(512 * 1024))  # 2 MiB

    async def main() -> None:
        async with Server(
            replies(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(payload), payload), OK)
        ) as server:
            pool = UpstreamPool()
            response = await pool.handle_async_request(req("GET", server.url("/")))
            got: list[bytes] = []
            async for chunk in response.aiter_raw():
                got.append(chunk)
                await asyncio.sleep(0)  # a consumer slower than the socket
            # The connection went back whole after a paused and resumed read.
            _, after = await fetch(pool, req("GET", server.url("/")))
            await pool.aclose()
        assert b"".join(got) == payload
        assert after == b"ok" and server.served_on == [1, 1]

    asyncio.run(main())


def test_unconsumed_body_holds_the_server_back() -> None:
    # Larger than the kernel's socket buffers can absorb between the two ends, so if the pool
    # read everything ahead of its consumer, the server's send would complete.
    size = 64 * 1024 * 1024
    drained = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % size + b"z" * size)
        drained.set()
        await peer.until_client_closes()

    async def main() -> None:
        async with Server(handler) as server:
            pool = UpstreamPool()
            response = await pool.handle_async_request(req("GET", server.url("/")))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(drained.wait(), 0.2)
            total = 0
            async for chunk in response.aiter_raw():
                total += len(chunk)
            await asyncio.wait_for(drained.wait(), SLOW)
            await pool.aclose()
        assert total == size

    asyncio.run(main())


# -- the pool itself ----------------------------------------------------------------------------


def test_unsupported_scheme() -> None:
    async def main() -> None:
        pool = UpstreamPool(max_connections=1)
        with pytest.raises(httpx2.UnsupportedProtocol):
            await pool.handle_async_request(req("GET", "ftp://127.0.0.1/file"))
        # Refusing it took no slot.
        with pytest.raises(httpx2.UnsupportedProtocol):
            await pool.handle_async_request(req("GET", "ftp://127.0.0.1/file", pool=SHORT))
        await pool.aclose()

    asyncio.run(main())


def test_closed_pool_refuses_requests() -> None:
    async def main() -> None:
        async with Server(replies(OK)) as server:
            pool = UpstreamPool()
            await fetch(pool, req("GET", server.url("/")))
            await pool.aclose()
            await server.wait_client_closed(1)
            with pytest.raises(httpx2.ConnectError):
                await pool.handle_async_request(req("GET", server.url("/")))
        assert server.connections == 1

    asyncio.run(main())


def test_response_in_flight_when_the_pool_closes_still_completes() -> None:
    async def main() -> None:
        async with Server(replies(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nlate")) as server:
            pool = UpstreamPool()
            response = await pool.handle_async_request(req("GET", server.url("/")))
            await pool.aclose()
            assert await read(response) == b"late"
            # Given back to a closed pool, the connection is closed rather than kept.
            await server.wait_client_closed(1)

    asyncio.run(main())


def test_composes_with_the_finisher_transport_and_a_client() -> None:
    models = b'{"data":[{"id":"m"}]}'

    async def main() -> None:
        async with Server(
            replies(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                % (len(models), models),
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
            )
        ) as server:
            transport = AsyncFinisherTransport(UpstreamPool())
            async with httpx2.AsyncClient(
                transport=transport, base_url=server.url(""), timeout=SLOW
            ) as client:
                listed = await client.get("/v1/models", params={"limit": "1"}, headers={"x-api-key": "k"})
                async with client.stream("GET", "/v1/files") as streamed:
                    pieces = [chunk async for chunk in streamed.aiter_bytes()]
        assert listed.status_code == 200 and listed.json() == {"data": [{"id": "m"}]}
        assert b"".join(pieces) == b"abcdef"
        (_, first), (_, second) = server.requests
        line, headers, _ = parse(first)
        assert line == b"GET /v1/models?limit=1 HTTP/1.1"
        assert values(headers, b"x-api-key") == [b"k"]
        assert parse(second)[0] == b"GET /v1/files HTTP/1.1"
        # The pool kept the first connection for the second request.
        assert server.served_on == [1, 1]

    asyncio.run(main())
