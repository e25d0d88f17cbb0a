"""Forwarding: one incoming request becomes one upstream request through the finisher's
transport (or straight through the connection pool for pass-through routes), and the answer
goes back as it arrives.

- The upstream is the dialect's base URL, or a config route's for the request's model.
- The client's headers go upstream minus hop-by-hop ones (and keys, per :mod:`.auth`).
- A stream goes out with :class:`ProxyStream`, chunk by chunk as the finisher releases them,
  while :class:`DisconnectWatch` listens for the client's disconnect. A client that leaves
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
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

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
from .drain import Drain
from .errors import GatewayError, error_response, stream_error_event
from .headers import returned
from .record import Exchange
from .upstream import UpstreamPool

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

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
        # The gateway has the whole body before it goes upstream: nothing to wait for.
        b"expect",
    }
)
# uvicorn writes its own framing, date and server headers.
_RESPONSE_DROP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"transfer-encoding",
        b"content-length",
        b"trailer",
        b"upgrade",
        b"date",
        b"server",
    }
)
# Response headers the gateway reads.
_WANTED = frozenset(
    {b"content-type", b"content-encoding", b"request-id", b"x-request-id", b"x-stopwise-error"}
)

Done = Callable[[Exchange], None]


@functools.lru_cache(maxsize=1024)
def _url(url: str) -> httpx2.URL:
    """Parsed once: a handful of base URLs and routes (and rarely a query), and parsing one
    costs more than the rest of building the upstream request."""
    return httpx2.URL(url)


@functools.lru_cache(maxsize=256)  # a handful of base URLs, parsed once each
def _display(base_url: str) -> str:
    """The upstream as logged: no user info, no query (either could hold a credential)."""
    return str(_url(base_url).copy_with(username=None, password=None, query=None))


class DisconnectWatch:
    """Cancels the current task when the client disconnects.

    Plain asyncio rather than an anyio task group: this wraps every request, and a task
    group's scopes cost more than the rest of the gateway's own request handling. On a
    ``CancelledError``, :meth:`ours` tells a cancel of ours (the client left) from one from
    outside, which must propagate."""

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.gone = False
        self._counted = False  # our cancel has been taken off the task's count
        self._watcher = asyncio.ensure_future(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            continue
        self.gone = True
        self.task.cancel()

    def ours(self) -> bool:
        if not self.gone:
            return False
        self._counted = True
        return self.task.uncancel() == 0

    def stop(self) -> None:
        self._watcher.cancel()
        if self.gone and not self._counted:
            # The work swallowed our cancel and finished: its result is real (and may hold an
            # upstream response the caller must close); only our count is left to clear.
            self._counted = True
            self.task.uncancel()


async def until_disconnect_or(receive: Receive, work: Awaitable[T]) -> T | None:
    """``await work``, unless the client disconnects first: then cancel it and return None."""
    watch = DisconnectWatch(receive)
    try:
        return await work
    except asyncio.CancelledError:
        if watch.ours():
            return None
        raise
    finally:
        watch.stop()


class ProxyStream(StreamingResponse):
    """Streams an upstream response to the client and closes it whatever happens: end of
    stream, client disconnect or error; then reports.

    Starlette's own ``__call__`` is replaced: it runs every stream in an anyio task group
    whose setup and cancel cost more per request than the rest of the gateway's stream
    handling. Here the client's disconnect is watched by one plain task that cancels the
    response (as :func:`until_disconnect_or` does). Each chunk is what the finisher released
    from one upstream read, so there is one write per read, not one per event; a slow client
    holds the upstream back through ``send``'s flow control."""

    def __init__(
        self,
        ex: Exchange,
        upstream: httpx2.Response,
        headers: list[tuple[bytes, bytes]],
        done: Done,
        drain: Drain,
    ) -> None:
        self._ex = ex
        self._upstream = upstream
        self._done = done
        self._drain = drain
        self.status_code = upstream.status_code
        self.media_type = None
        self.background = None
        self.raw_headers = headers  # the upstream's, lowercased, hop-by-hop ones dropped

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ex = self._ex
        watch = DisconnectWatch(receive)
        complete = failed = False
        try:
            start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
            await send(start)
            async for chunk in self._upstream.stream:  # type: ignore[union-attr]
                ex.first_byte()
                ex.keep_response(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            complete = True
        except asyncio.CancelledError:
            if watch.ours():
                pass
            elif (ended := self._drain.ours()) is not None:
                # The deadline or the shutdown timeout passed: the client gets a typed error,
                # not a cut.
                ex.ended = True
                ex.error_type = ended.code
                event = stream_error_event(ex.dialect or "openai", ended)
                ex.keep_response(event)
                await send({"type": "http.response.body", "body": event, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                complete = True
            else:
                raise
        except Exception as exc:
            # The finisher turns upstream failures into events, so this is a pass-through
            # stream's broken connection (or a bug); raising makes the server abort the
            # response, so the client sees a cut, not a clean end.
            failed = True
            ex.error_type = type(exc).__name__
            raise
        finally:
            watch.stop()
            # Shielded: this may run while the task is being cancelled, and closing the
            # upstream is what stops the finisher (its observer then reports the cancel) and
            # releases the connection.
            with anyio.CancelScope(shield=True):
                await self._upstream.aclose()
            ex.client_gone = not complete and not failed
            ex.done()
            self._done(ex)


class Proxy:
    def __init__(
        self,
        settings: Settings,
        done: Done,
        drain: Drain,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        memory: ModelMemory | None = None,
    ) -> None:
        self.settings = settings
        self.done = done
        self.drain = drain
        self.pool = transport or UpstreamPool(max_connections=settings.max_connections)
        # What 400s taught about models, shared by all requests (and, through the gateway's
        # FactSync, with its replicas).
        self.memory = memory or ModelMemory(ttl=settings.facts_ttl)
        self.keys = KeyPolicy(settings)
        t = settings.upstream_timeout
        # "idle": between two pieces of a body once it has started (UpstreamPool reads it).
        idle = settings.upstream_idle_timeout
        self.timeout = {"connect": settings.connect_timeout, "read": t, "write": t, "pool": t, "idle": idle}
        # Where the finisher's OpenTelemetry spans go: None, the global provider when the
        # application (or ``opentelemetry-instrument``) set one; an embedder may set its own.
        self.tracer_provider: TracerProvider | None = None

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
        try:
            upstream_url = _url(url)
        except httpx2.InvalidURL:
            # Not the URL in the message: its query may hold a key.
            raise GatewayError(400, "invalid_path", "the request's path or query is not usable") from None
        headers = [(b"host", upstream_url.netloc)]
        headers += [(k, v) for k, v in request.scope["headers"] if k not in _REQUEST_DROP]
        headers = self.keys.upstream_headers(headers, dialect, server_key)
        if request.method == "POST":
            headers.append((b"content-length", b"%d" % len(body)))
        # ``stream=`` with the framing headers written here: ``content=`` would have httpx2
        # encode, read and re-frame the body, a tenth of the gateway's time per request.
        upstream_request = httpx2.Request(
            request.method,
            upstream_url,
            headers=headers,
            stream=httpx2.ByteStream(body if request.method == "POST" else b""),
            extensions={"timeout": self.timeout},
        )
        transport: httpx2.AsyncBaseTransport = self.pool
        if finisher:
            transport = AsyncFinisherTransport(
                self.pool,
                policy=self.settings.policy,
                memory=self.memory,
                observer=ex.observe,
                tracer_provider=self.tracer_provider,
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
        # One pass over the raw headers: what goes back to the client (byte pairs, as the ASGI
        # server takes them, with no decoding and re-encoding on the way) and what we need.
        out: list[tuple[bytes, bytes]] = []
        found: dict[bytes, bytes] = {}
        held = server_key is not None  # the server's account: only the allowed headers go back
        for key, value in response.headers.raw:
            key = key.lower()
            if key in _RESPONSE_DROP or (held and not returned(key)):
                continue
            out.append((key, value))
            if key in _WANTED:
                found.setdefault(key, value)
        rid = found.get(b"request-id") or found.get(b"x-request-id")
        if rid and not ex.request_ids:
            ex.request_ids.append(rid.decode("latin-1"))
        if found.get(b"content-type", b"").startswith(b"text/event-stream"):
            return ProxyStream(ex, response, out, self.done, self.drain)
        return await self._whole(ex, response, out, found, dialect)

    async def _whole(
        self,
        ex: Exchange,
        response: httpx2.Response,
        headers: list[tuple[bytes, bytes]],
        found: dict[bytes, bytes],
        dialect: str,
    ) -> Response:
        try:
            # The stream itself, not aiter_raw(): the body goes out as it came, and httpx2's
            # per-chunk bookkeeping is not needed for one JSON body.
            raw = b"".join([chunk async for chunk in response.stream])  # type: ignore[union-attr]
        except httpx2.TransportError as exc:
            raise self._upstream_failure(ex, 502, "upstream_error", exc) from None
        finally:
            await response.aclose()
        error = found.get(b"x-stopwise-error")
        ex.error_type = error.decode("latin-1") if error else None
        if response.status_code >= 400:
            err = error_from_response(response.status_code, raw, response.headers)
            ex.error_type = err.error_type or err.code or f"http_{response.status_code}"
            if err.dialect is None and b"content-encoding" not in found:
                # Not an API error body (a proxy's HTML page, plain text): the caller's SDK
                # gets its own dialect's shape, with the status and the text kept.
                keep = {
                    k.decode(): v.decode("latin-1")
                    for k, v in headers
                    if k in (b"retry-after", b"retry-after-ms")
                }
                message = f"upstream answered HTTP {response.status_code}: {err.message}"
                wrapped = GatewayError(response.status_code, "upstream_error", message, headers=keep)
                wrapped_response = error_response(dialect, wrapped)
                wrapped_response.background = BackgroundTask(self._finished, ex)
                return wrapped_response
        ex.first_byte()
        ex.keep_response(raw)
        answer = Response(
            raw, status_code=response.status_code, background=BackgroundTask(self._finished, ex)
        )
        if response.status_code >= 200 and response.status_code not in (204, 304):
            headers.append((b"content-length", b"%d" % len(raw)))
        answer.raw_headers = headers  # the upstream's, as they came (init_headers would re-encode)
        return answer

    async def _finished(self, ex: Exchange) -> None:
        # Async, so Starlette runs it on the loop: a sync background task goes through a
        # worker thread, a thread hop per request.
        ex.done()
        self.done(ex)

    def _upstream_failure(self, ex: Exchange, status: int, code: str, exc: Exception) -> GatewayError:
        ex.error_type = type(exc).__name__
        headers: dict[str, Any] = {}
        retries = ex.report.retries if ex.report else 0
        if retries:
            # The finisher already retried; the SDK retrying each of those again multiplies.
            headers["x-should-retry"] = "false"
            headers["x-stopwise-retries"] = str(retries)
        what = "did not answer in time" if status == 504 else "could not be reached or broke off"
        return GatewayError(
            status, code, f"the upstream {ex.upstream} {what} ({type(exc).__name__})", headers=headers
        )
