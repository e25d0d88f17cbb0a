"""Forwarding: one incoming request becomes one upstream request through the finisher's
transport (or straight through the connection pool for pass-through routes), and the answer
goes back as it arrives.

- The upstream is the dialect's base URL, or a config route's for the request's model.
- The client's headers go upstream minus hop-by-hop ones (and keys, per :mod:`.auth`).
- A stream goes out with :class:`ProxyStream` (Starlette's ``StreamingResponse``, which listens
  for the client's disconnect): chunk by chunk, as the finisher emits them. A client that leaves
  cancels the iteration; closing the upstream response then closes the finisher's engine and the
  upstream connection, and the row is still written.
- A JSON answer (non-stream, errors) is complete when the finisher hands it over, so it goes
  out in one piece.

The transport is called directly rather than through an ``httpx2.AsyncClient``: a client's
cookie jar would carry one caller's upstream cookies into another's requests, and a gateway
must not follow redirects on the caller's behalf.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import anyio
import httpx2
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from ..dialects import error_from_response
from ..finisher import ModelMemory
from ..transport import AsyncFinisherTransport
from .auth import KeyPolicy
from .config import Settings
from .errors import GatewayError, error_response
from .record import Exchange

__all__ = ["Proxy", "ProxyStream"]

logger = logging.getLogger("stopwise.gateway")
T = TypeVar("T")

# RFC 9110 §7.6.1 hop-by-hop headers, plus what httpx2 recomputes for the new request.
_REQUEST_DROP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
# uvicorn writes its own framing, date and server headers.
_RESPONSE_DROP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "trailer",
        "upgrade",
        "date",
        "server",
    }
)

Done = Callable[[Exchange], None]
_QUEUE = 64  # chunks read ahead of a slow client at most


@functools.lru_cache(maxsize=256)  # a handful of base URLs, parsed once each
def _display(base_url: str) -> str:
    """The upstream as logged: no user info, no query (either could hold a credential)."""
    url = httpx2.URL(base_url)
    return str(url.copy_with(username=None, password=None, query=None))


async def until_disconnect_or(receive: Receive, work: Awaitable[T]) -> T | None:
    """``await work``, unless the client disconnects first: then cancel it and return None."""
    gone = False
    result: list[T] = []
    error: list[Exception] = []
    async with anyio.create_task_group() as tg:

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                continue
            gone = True
            tg.cancel_scope.cancel()

        tg.start_soon(watch)
        try:
            result.append(await work)
        except Exception as exc:
            # Re-raised below, outside the task group, so callers see the error itself and not
            # an ExceptionGroup around it.
            error.append(exc)
        tg.cancel_scope.cancel()
    if error:
        raise error[0]
    return result[0] if result else None


class ProxyStream(StreamingResponse):
    """Streams an upstream response to the client and closes it whatever happens: end of
    stream, client disconnect (the response task is cancelled) or error; then reports.

    The upstream is read by a task of its own into a small queue, and what has queued up by
    the time the client side is ready goes out as one write: the finisher emits an event at a
    time, often several per upstream read, and one socket write per event was the gateway's
    main cost. Nothing waits to be joined; the bounded queue keeps a slow client's
    backpressure on the upstream."""

    def __init__(self, ex: Exchange, upstream: httpx2.Response, headers: dict[str, str], done: Done) -> None:
        self._ex = ex
        self._upstream = upstream
        self._done = done
        self._complete = False
        self._failed = False
        self._chunks = self._relay()
        super().__init__(self._chunks, status_code=upstream.status_code, headers=headers)

    async def _produce(self, queue: asyncio.Queue[bytes | BaseException | None]) -> None:
        try:
            async for chunk in self._upstream.aiter_raw():
                await queue.put(chunk)
        except Exception as exc:
            # Handed to the consumer, which raises it in the response task: an error here
            # must end the response, not leave it waiting on the queue forever.
            await queue.put(exc)
            return
        await queue.put(None)

    async def _relay(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=_QUEUE)
        producer = asyncio.ensure_future(self._produce(queue))
        try:
            while True:
                items = [await queue.get()]
                while not queue.empty():
                    items.append(queue.get_nowait())
                parts = [i for i in items if isinstance(i, bytes)]
                if parts:
                    chunk = b"".join(parts)
                    self._ex.first_byte()
                    self._ex.keep_response(chunk)
                    yield chunk
                end = items[-1]
                if isinstance(end, BaseException):
                    # The finisher turns upstream failures into events, so this is a
                    # pass-through stream's broken connection (or a bug); raising makes the
                    # server abort the response, so the client sees a cut, not a clean end.
                    self._failed = True
                    self._ex.error_type = type(end).__name__
                    raise end
                if end is None:
                    self._complete = True
                    return
        finally:
            # Shielded: this runs while the response task is being cancelled for a
            # disconnect, and closing the upstream is what stops the finisher (its observer
            # then reports the cancel) and releases the connection.
            with anyio.CancelScope(shield=True):
                if not producer.done():
                    producer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await producer
                await self._upstream.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                # A generator abandoned at a ``yield`` (cancelled during ``send``) is closed
                # here; one that finished is unaffected.
                await self._chunks.aclose()  # type: ignore[attr-defined]
            ex = self._ex
            ex.client_gone = not self._complete and not self._failed
            ex.done()
            self._done(ex)


class Proxy:
    def __init__(
        self, settings: Settings, done: Done, *, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.done = done
        self.pool = transport or httpx2.AsyncHTTPTransport(
            limits=httpx2.Limits(
                max_connections=settings.max_connections, max_keepalive_connections=settings.max_connections
            )
        )
        self.memory = ModelMemory()  # what 400s taught about models, shared by all requests
        self.keys = KeyPolicy(settings)
        t = settings.upstream_timeout
        self.timeout = {"connect": settings.connect_timeout, "read": t, "write": t, "pool": t}

    async def aclose(self) -> None:
        await self.pool.aclose()

    def target(self, dialect: str, model: str | None) -> tuple[str, str | None]:
        """The base URL and server-held key for a request. A route's upstream gets only the
        route's own key: the default upstream's key is never sent to another host."""
        if model:
            for route in self.settings.routes:
                if route.matches(model):
                    return route.base_url, route.api_key
        return self.settings.base_url(dialect), self.settings.upstream_key(dialect)

    async def forward(self, request: Request, ex: Exchange, body: bytes, *, finisher: bool) -> Response:
        dialect = ex.dialect or "openai"
        base, server_key = self.target(dialect, ex.model)
        ex.upstream = _display(base)
        # The SDKs' base URLs: Anthropic's has no /v1 (paths carry it); OpenAI's ends in /v1.
        path = ex.route if dialect == "anthropic" else ex.route.removeprefix("/v1")
        query = request.scope.get("query_string", b"")
        url = base + path + ("?" + query.decode("latin-1") if query else "")
        headers = [(k, v) for k, v in request.scope["headers"] if k not in _REQUEST_DROP]
        headers = self.keys.upstream_headers(headers, dialect, server_key)
        upstream_request = httpx2.Request(
            request.method,
            url,
            headers=headers,
            content=body if request.method == "POST" else None,
            extensions={"timeout": self.timeout},
        )
        transport: httpx2.AsyncBaseTransport = self.pool
        if finisher:
            transport = AsyncFinisherTransport(
                self.pool, policy=self.settings.policy, memory=self.memory, observer=ex.observe
            )
        try:
            response = await until_disconnect_or(
                request.receive, transport.handle_async_request(upstream_request)
            )
        except httpx2.TimeoutException as exc:
            raise self._upstream_failure(ex, 504, "upstream_timeout", exc) from None
        except httpx2.TransportError as exc:
            raise self._upstream_failure(ex, 502, "upstream_error", exc) from None
        if response is None:
            ex.client_gone = True
            ex.status = 499  # nginx's "client closed request": no response was sent
            ex.done()
            self.done(ex)
            return Response(status_code=499)
        ex.status = response.status_code
        rid = response.headers.get("request-id") or response.headers.get("x-request-id")
        if rid and not ex.request_ids:
            ex.request_ids.append(rid)
        out_headers = {k: v for k, v in response.headers.items() if k.lower() not in _RESPONSE_DROP}
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return ProxyStream(ex, response, out_headers, self.done)
        return await self._whole(ex, response, out_headers, dialect)

    async def _whole(
        self, ex: Exchange, response: httpx2.Response, headers: dict[str, str], dialect: str
    ) -> Response:
        try:
            try:
                raw = response.content  # the finisher's answers come already read
            except httpx2.ResponseNotRead:
                raw = b"".join([chunk async for chunk in response.aiter_raw()])
        except httpx2.TransportError as exc:
            raise self._upstream_failure(ex, 502, "upstream_error", exc) from None
        finally:
            await response.aclose()
        ex.error_type = headers.get("x-stopwise-error")
        if response.status_code >= 400:
            err = error_from_response(response.status_code, raw, response.headers)
            ex.error_type = err.error_type or err.code or f"http_{response.status_code}"
            if err.dialect is None and "content-encoding" not in headers:
                # Not an API error body (a proxy's HTML page, plain text): the caller's SDK
                # gets its own dialect's shape, with the status and the text kept.
                keep = {k: v for k, v in headers.items() if k.lower() in ("retry-after", "retry-after-ms")}
                message = f"upstream answered HTTP {response.status_code}: {err.message}"
                wrapped = GatewayError(response.status_code, "upstream_error", message, headers=keep)
                out = error_response(dialect, wrapped)
                out.background = BackgroundTask(self._finished, ex)
                return out
        ex.first_byte()
        ex.keep_response(raw)
        return Response(
            raw,
            status_code=response.status_code,
            headers=headers,
            background=BackgroundTask(self._finished, ex),
        )

    def _finished(self, ex: Exchange) -> None:
        ex.done()
        self.done(ex)

    def _upstream_failure(self, ex: Exchange, status: int, code: str, exc: Exception) -> GatewayError:
        ex.error_type = type(exc).__name__
        headers: dict[str, Any] = {}
        retries = (ex.summary or {}).get("retries") or 0
        if retries:
            # The finisher already retried; the SDK retrying each of those again multiplies.
            headers["x-should-retry"] = "false"
            headers["x-stopwise-retries"] = str(retries)
        what = "did not answer in time" if status == 504 else "could not be reached or broke off"
        return GatewayError(
            status, code, f"the upstream {ex.upstream} {what} ({type(exc).__name__})", headers=headers
        )
