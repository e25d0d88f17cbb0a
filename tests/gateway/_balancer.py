"""A tiny TCP round-robin load balancer on 127.0.0.1, for tests of gateway replicas behind one
address (what a shared PostgreSQL log store is for).

It balances *connections*, not requests: each accepted client connection goes to the next
backend in turn and keeps it until either side closes. A client that keeps connections alive
therefore talks to one backend only; for per-request alternation open a connection per
request: an ``httpx2.Client(limits=httpx2.Limits(max_keepalive_connections=0))``, a
``Connection: close`` header, or a new client per request (``httpx2.get``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable
from types import TracebackType
from urllib.parse import urlsplit

_CHUNK = 65536


def _address(backend: str) -> tuple[str, int]:
    """``host:port`` or a URL (``http://127.0.0.1:8000/v1``: its host and port) -> (host, port)."""
    if "://" not in backend:
        backend = f"tcp://{backend}"
    parts = urlsplit(backend)
    if parts.hostname is None:
        raise ValueError(f"backend {backend!r}: no host")
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    if port is None:
        raise ValueError(f"backend {backend!r}: no port")
    return parts.hostname, port


class RoundRobin:
    """``with RoundRobin([url_a, url_b]) as lb:`` clients of ``lb.url`` reach a, b, a, b, …
    one connection each; ``lb.connections[i]`` counts those given to backend ``i``."""

    def __init__(self, backends: Iterable[str]) -> None:
        self.backends = [_address(b) for b in backends]
        if not self.backends:
            raise ValueError("RoundRobin needs at least one backend")
        self.connections = [0] * len(self.backends)
        self._next = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="round-robin", daemon=True)
        self._thread.start()
        self._closed = False
        try:
            self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        except BaseException:
            self._stop_loop()
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # so close() can end connections still open
        index = self._next
        self._next = (self._next + 1) % len(self.backends)
        backend_w: asyncio.StreamWriter | None = None
        try:
            try:
                backend_r, backend_w = await asyncio.open_connection(*self.backends[index])
            except OSError:
                return  # the backend is down: the client sees its connection closed
            self.connections[index] += 1
            # Both directions until both have ended: a half-close (EOF one way) is passed on and
            # the other way keeps flowing, as a direct connection would.
            await asyncio.gather(_pipe(client_r, backend_w), _pipe(backend_r, client_w))
        except asyncio.CancelledError:
            pass  # close(): the connection ends below
        finally:
            for writer in (client_w, backend_w):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError, asyncio.CancelledError):
                        await writer.wait_closed()
            self._tasks.discard(task)

    def close(self) -> None:
        """Stop listening, close every open connection, end the thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._stop_loop()

    async def _shutdown(self) -> None:
        self._server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> RoundRobin:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy ``reader`` to ``writer`` until EOF, then pass the EOF on (a half-close). A reset
    on either side ends this direction only; the other ends with its own EOF or reset."""
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        # One side reset: nothing more can flow either way, so close the other side as well.
        writer.close()
