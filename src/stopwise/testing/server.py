"""Serve scripted upstream replies over real HTTP on 127.0.0.1, for end-to-end tests through the
official SDKs::

    from stopwise.testing import Reply
    from stopwise.testing.server import scripted_upstream

    with scripted_upstream([Reply.json({...}), Reply.stream([...], fail="read")]) as up:
        client = anthropic.Anthropic(base_url=up.base_url, api_key="test", max_retries=0,
                                     http_client=stopwise.http_client())
        ...
        up.requests[0].body     # what was asked, request by request

The script is the same :data:`~stopwise.testing.Upstream` that :func:`stopwise.testing.run`
takes: a list of :class:`~stopwise.testing.Reply` in request order, or a function of the request
body and its 0-based number. ``POST …/messages``, ``…/chat/completions`` and ``…/responses`` are answered from
it (any prefix before them, so ``/v1/…`` and a relay's ``/relay/v1/…`` alike); every request is
recorded with its headers and body.

How a reply goes out:

- the status line and the reply's headers as given; the body is sent with chunked transfer
  encoding, one HTTP chunk per item of ``chunks``, each written and flushed (the socket's send
  buffer emptied) before the next, so the client's reads see them apart. A reply whose headers
  name a ``content-length`` is sent with that framing instead, the chunks still written apart;
- ``fail="read"``: the chunks, then the connection is closed with the body unfinished (no final
  chunk, or fewer bytes than the content length said): the client's read fails there;
- ``fail="connect"``: the request is read and recorded, then the connection is closed with no
  response at all;
- otherwise the body ends cleanly and the connection is kept for the client's next request.

A request the script has no reply for (or a script function that raises) gets a 400 and is
reported when the block ends: an ``AssertionError`` if the block itself raised nothing, a note on
its exception otherwise. The server runs its own event loop in a daemon thread; the script
function runs in that thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

from . import Reply, Upstream

__all__ = ["ScriptedUpstream", "UpstreamRequest", "scripted_upstream"]

_ROUTES = ("/messages", "/chat/completions", "/responses")
_MAX_HEAD = 1 << 20


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """One request the scripted upstream received. ``headers`` keys are lower case; ``body`` is
    the JSON object sent (empty when the body was not one); ``raw`` the body's bytes."""

    method: str
    path: str
    headers: Mapping[str, str]
    raw: bytes
    body: dict[str, Any] = field(default_factory=dict)


class ScriptedUpstream:
    """A running scripted upstream: where it listens and what it was asked."""

    def __init__(self, script: Upstream, *, gap: float = 0.0) -> None:
        self.script = script
        #: Seconds to wait between two chunks of a reply (after each flush).
        self.gap = gap
        self.requests: list[UpstreamRequest] = []
        #: What went wrong on the server side: unscripted requests, a script that raised.
        self.problems: list[str] = []
        self.base_url = ""
        self._lock = threading.Lock()
        self._answered = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    # -- what tests read ------------------------------------------------------------------------
    @property
    def bodies(self) -> list[dict[str, Any]]:
        """Each scripted request's body, in order."""
        return [r.body for r in self.requests if _routed(r.method, r.path)]

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._main(ready))
            except BaseException as exc:  # pragma: no cover - start-up failures
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="scripted-upstream", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or failure:
            raise RuntimeError("the scripted upstream did not start") from (failure[0] if failure else None)

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended already
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> ScriptedUpstream:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if not self.problems:
            return
        report = "scripted upstream: " + "; ".join(self.problems)
        if exc is None:
            raise AssertionError(report)
        exc.add_note(report)

    async def _main(self, ready: threading.Event) -> None:
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._accept, "127.0.0.1", 0, limit=_MAX_HEAD)
        port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        except asyncio.CancelledError:
            # Shutting down: end quietly (the stream protocol logs a task that ends cancelled).
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    # -- one connection -------------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Flushing means the send buffer is empty, not merely below the usual 64 KiB mark.
        writer.transport.set_write_buffer_limits(high=0)
        while True:
            request = await _read_request(reader)
            if request is None:
                return
            with self._lock:
                self.requests.append(request)
            if not _routed(request.method, request.path):
                self._problem(f"unexpected {request.method} {request.path}")
                await _write_reply(writer, _problem_reply("not found", 404), 0.0)
                continue
            reply = self._reply_for(request)
            if reply.fail == "connect":
                return
            await _write_reply(writer, reply, self.gap)
            if reply.fail == "read":
                return

    def _reply_for(self, request: UpstreamRequest) -> Reply:
        with self._lock:
            number = self._answered
            self._answered += 1
        script = self.script
        try:
            if callable(script):
                return script(request.body, number)
            if number < len(script):
                return script[number]
            self._problem(f"request {number + 1} arrived, the script has {len(script)} replies")
        except Exception as exc:
            self._problem(f"the script raised on request {number + 1}: {exc!r}")
        return _problem_reply(f"scripted upstream: no reply for request {number + 1}", 400)

    def _problem(self, text: str) -> None:
        with self._lock:
            self.problems.append(text)


@contextlib.contextmanager
def scripted_upstream(script: Upstream, *, gap: float = 0.0) -> Iterator[ScriptedUpstream]:
    """Serve ``script`` on a free 127.0.0.1 port for the duration of the block."""
    upstream = ScriptedUpstream(script, gap=gap)
    with upstream:
        yield upstream


# -- HTTP/1.1, the little of it needed --------------------------------------------------------------
def _routed(method: str, path: str) -> bool:
    return method == "POST" and path.split("?", 1)[0].rstrip("/").endswith(_ROUTES)


async def _read_request(reader: asyncio.StreamReader) -> UpstreamRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None  # the client closed an idle connection
    lines = head[:-4].decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raw = await _read_chunked(reader)
    else:
        raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
    body: dict[str, Any] = {}
    if raw:
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            body = parsed
    return UpstreamRequest(method, target, headers, raw, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def _write_reply(writer: asyncio.StreamWriter, reply: Reply, gap: float) -> None:
    headers = {k.lower(): v for k, v in reply.headers.items()}
    chunked = "content-length" not in headers
    try:
        phrase = http.HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {reply.status} {phrase}"]
    lines += [f"{k}: {v}" for k, v in reply.headers.items() if k.lower() != "transfer-encoding"]
    if chunked:
        lines.append("transfer-encoding: chunked")
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    for i, piece in enumerate(reply.chunks):
        if gap and i:
            await asyncio.sleep(gap)
        if not piece:
            continue  # an empty HTTP chunk would end the body
        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        await writer.drain()
    if reply.fail == "read":
        return
    if chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()


def _problem_reply(message: str, status: int) -> Reply:
    return Reply.json(
        {"type": "error", "error": {"type": "invalid_request_error", "message": message}}, status=status
    )
