"""The gateway as one Starlette app: :func:`create_app`.

Routes::

    POST /v1/messages                 Anthropic Messages, through the finisher
    POST /v1/messages/count_tokens    Anthropic token counting, passed through
    POST /v1/chat/completions         OpenAI Chat Completions, through the finisher
    POST /v1/responses                OpenAI Responses, through the finisher
    GET  /v1/models, /v1/models/{id}  passed through (Anthropic's upstream for the Anthropic SDK)
    GET  /healthz                     {"status": "ok"}
    GET  /metrics                     Prometheus text
    GET  /ui, /ui/api/...             the dashboard over the request log (:mod:`.ui`; admin access)

Each API request is checked (client key, body size, JSON) before anything goes upstream, then
forwarded (:mod:`.proxy`); when it is over, one row goes to the request log and the metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator

import httpx2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from ..finisher import ModelMemory
from .body import parse_body, read_body
from .config import Settings
from .drain import DEADLINE_CODE, SHUTDOWN_CODE, Drain
from .errors import GatewayError, dialect_of_request, error_response
from .facts import FactStore, FactSync, PostgresFacts, SqliteFacts
from .log import RequestLog, connect
from .logstore import LogUnavailable
from .metrics import GatewayMetrics
from .pglog import PostgresLog, migrate_url
from .proxy import Proxy
from .record import Exchange
from .ui import dashboard_routes

__all__ = ["Gateway", "create_app", "prepare_log"]

logger = logging.getLogger("stopwise.gateway")

# route -> (dialect, runs the finisher, has a JSON body)
_API_ROUTES: dict[str, tuple[str | None, bool, bool]] = {
    "/v1/messages": ("anthropic", True, True),
    "/v1/messages/count_tokens": ("anthropic", False, True),
    "/v1/chat/completions": ("openai", True, True),
    "/v1/responses": ("responses", True, True),
    "/v1/models": (None, False, False),
}


class Gateway:
    """What the app's handlers share: settings, the proxy, the log and the metrics."""

    def __init__(self, settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.metrics = GatewayMetrics()
        where = settings.log_location
        store: FactStore
        self.log: RequestLog | PostgresLog
        if where.url is not None:
            self.log = PostgresLog(
                where.url, max_queue=settings.log_queue_rows, pool_size=settings.log_pool_size
            )
            store = PostgresFacts(self.log)
        else:
            assert where.path is not None
            self.log = RequestLog(where.path, max_queue=settings.log_queue_rows)
            store = SqliteFacts(where.path)
        # What 400s taught about models: in memory for the requests, shared through the log's
        # database with the other replicas.
        self.memory = ModelMemory(ttl=settings.facts_ttl)
        self.facts = FactSync(self.memory, store, replica=settings.replica, refresh=settings.facts_refresh)
        self.memory.on_learn = self.facts.learned
        self.drain = Drain()
        self.proxy = Proxy(settings, self.finish, self.drain, transport=transport, memory=self.memory)

    def finish(self, ex: Exchange) -> None:
        """The one place a request ends: its row and its metrics (once, whoever gets here
        first: the handler, or the shutdown's sweep of what is left)."""
        if ex.recorded:
            return
        ex.recorded = True
        self.drain.leave(ex)
        self.metrics.in_flight.dec()
        upstream_error = ex.error_type is not None and ex.error_type not in _NOT_UPSTREAM
        self.metrics.record(ex, upstream_error=upstream_error)
        self.log.submit(ex.row(self.settings.log_max_string, replica=self.settings.replica))

    async def api(self, request: Request) -> Response:
        path = request.url.path
        route = "/v1/models" if path.startswith("/v1/models/") else path
        if route != path and any(part in (".", "..") for part in path.split("/")):
            # The id goes into the upstream URL: no climbing out of /models.
            raise HTTPException(404)
        dialect, finisher, has_body = _API_ROUTES[route]
        if dialect is None:
            dialect = "anthropic" if "anthropic-version" in request.headers else "openai"
        ex = Exchange(request.method, path, dialect=dialect)
        self.metrics.in_flight.inc()
        self.drain.enter(ex, self.settings.request_timeout)
        try:
            if _CONTROL.search(request.scope["path"]):
                # Decoded from %00 and the like; no upstream takes them, and httpx2 refuses
                # to build such a URL.
                raise GatewayError(400, "invalid_path", "the path holds a control character")
            if not self.proxy.keys.allows(request.headers):
                raise GatewayError(401, "invalid_api_key", "missing or unknown stopwise client key")
            body = await self._body(request, ex) if has_body else b""
            return await self.proxy.forward(request, ex, body, finisher=finisher)
        except ClientDisconnect:
            ex.client_gone = True
            ex.status = 499  # nginx's "client closed request"
            ex.done()
            self.finish(ex)
            return Response(status_code=499)
        except asyncio.CancelledError:
            ended = self.drain.ours()
            if ended is None:
                raise
            ex.ended = True
            return self._refuse(ex, dialect, ended)
        except GatewayError as err:
            return self._refuse(ex, dialect, err)
        except Exception as exc:
            # A bug of ours: the caller still gets an answer in its dialect, and the row says so.
            logger.exception("stopwise gateway: %s %s failed", request.method, path)
            ex.status = 500
            ex.error_type = type(exc).__name__
            ex.done()
            self.finish(ex)
            return error_response(dialect, GatewayError(500, "internal_error", "stopwise gateway error"))

    def _refuse(self, ex: Exchange, dialect: str, err: GatewayError) -> Response:
        ex.status = err.status
        ex.error_type = ex.error_type or err.code
        ex.done()
        self.finish(ex)
        return error_response(dialect, err)

    async def _body(self, request: Request, ex: Exchange) -> bytes:
        s = self.settings
        body = await read_body(request, s.max_body_bytes, s.body_timeout)
        obj = parse_body(body, s.max_json_depth)
        model = obj.get("model")
        ex.model = model if isinstance(model, str) else None
        ex.stream = obj.get("stream") is True
        if self.settings.log_bodies:
            ex.request_body = body
            ex.response_body = bytearray()
        return body

    async def healthz(self, request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def metrics_text(self, request: Request) -> Response:
        if not self.proxy.keys.allows(request.headers):
            dialect = dialect_of_request(request.url.path, request.headers)
            return error_response(
                dialect, GatewayError(401, "invalid_api_key", "missing or unknown client key")
            )
        text = self.metrics.render(self.log, self.facts)
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.log.start()
        try:
            await self.facts.start()
        except BaseException:
            await self.log.aclose()
            raise
        try:
            yield
        finally:
            for ex in self.drain.leftovers():
                # Still open as the app stops (the server cancelled them past its own
                # timeout): written as ended by the shutdown rather than lost.
                ex.ended = True
                ex.error_type = ex.error_type or SHUTDOWN_CODE
                ex.done()
                self.finish(ex)
            try:
                await self.proxy.aclose()
                await self.facts.aclose()
            finally:
                await self.log.aclose()  # whatever went wrong before, every row is written


# Error types that are not the upstream's: the client's doing, or the gateway's own.
_NOT_UPSTREAM = frozenset(
    {
        "invalid_api_key",
        "request_too_large",
        "invalid_json",
        "json_too_deep",
        "invalid_path",
        "request_timeout",
        "not_found",
        SHUTDOWN_CODE,
        DEADLINE_CODE,  # the gateway's own request_timeout ended it, not the upstream
    }
)
_CONTROL = re.compile("[\x00-\x1f\x7f]")


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    path = request.url.path
    dialect = dialect_of_request(path, request.headers)
    # The decoded path as the server parsed it: request.url drops tabs and line feeds (urlsplit).
    if _CONTROL.search(request.scope["path"]):  # no route matches a path with a line feed in it
        err = GatewayError(400, "invalid_path", "the path holds a control character")
    elif status == 405:
        err = GatewayError(405, "method_not_allowed", f"{request.method} is not allowed on {path}")
    else:
        err = GatewayError(status, "not_found", f"stopwise serves no route {request.method} {path}")
    return error_response(dialect, err)


def prepare_log(settings: Settings) -> None:
    """Create or migrate the request log now, before serving: a wrong URL, an unreachable
    server or an unwritable path is one clear error at start (raises :class:`LogUnavailable`),
    not a traceback out of the server's startup. The app does it again when it starts (a no-op
    by then)."""
    where = settings.log_location
    if where.url is not None:
        migrate_url(where.url)
        return
    assert where.path is not None
    try:
        connect(where.path).close()
    except (OSError, sqlite3.Error) as exc:
        raise LogUnavailable(f"cannot open the request log at {where.path}: {exc}") from None


def create_app(
    settings: Settings | None = None, *, transport: httpx2.AsyncBaseTransport | None = None
) -> Starlette:
    """The gateway app. ``transport`` replaces the upstream connection pool (tests, embedding)."""
    gw = Gateway(settings or Settings(), transport=transport)
    routes = [
        Route("/v1/messages", gw.api, methods=["POST"]),
        Route("/v1/messages/count_tokens", gw.api, methods=["POST"]),
        Route("/v1/chat/completions", gw.api, methods=["POST"]),
        Route("/v1/responses", gw.api, methods=["POST"]),
        Route("/v1/models", gw.api, methods=["GET"]),
        Route("/v1/models/{model_id:path}", gw.api, methods=["GET"]),
        Route("/healthz", gw.healthz, methods=["GET"]),
        Route("/metrics", gw.metrics_text, methods=["GET"]),
        *dashboard_routes(gw.settings),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _not_found}, lifespan=gw.lifespan)
    app.state.gateway = gw
    return app
