"""The dashboard's routes: one static page at ``/ui`` and its JSON API on the request log.

Routes::

    GET /ui                        the page (HTML and vanilla JS; it holds no data itself)
    GET /ui/api/requests           newest first; ?model= &outcome= &stop_reason= &since= &until=
                                   &replica= &limit=
    GET /ui/api/requests/{id}      one request: its rounds, notes, tokens, timings
    GET /ui/api/stats              stop reasons, rescues, tokens by model, errors, and over time

Every route passes :class:`.access.AdminGate` first (the page, which holds no data, is served
to anyone when an admin key is set, so that it can ask for the key). The log is read on a
worker thread (both databases' drivers block here), through read-only connections.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..config import Settings
from ..logstore import LogLocation
from ..query import OUTCOMES, LogNotFound, LogUnavailable, open_log, recent, stats
from .access import AdminGate
from .data import over_time, rebilled_by_model, request_row

__all__ = ["dashboard_routes"]

Handler = Callable[[Request], Awaitable[Response]]
_MAX_LIMIT = 1000
# The page's own script and styles only, and no framing (a framed dashboard could be clicked
# through by another site while its key sits in the tab).
_PAGE_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "x-frame-options": "DENY",
}
_FILTERS = ("model", "outcome", "stop_reason", "since", "until", "replica")


def _json(value: Any, status: int = 200) -> Response:
    # no-store: the log changes under the page, and a shared cache must not keep it.
    return Response(
        orjson.dumps(value), status, media_type="application/json", headers={"cache-control": "no-store"}
    )


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


class Dashboard:
    def __init__(self, settings: Settings, where: LogLocation | Path) -> None:
        self.gate = AdminGate(settings)
        self.where = where

    def guarded(self, handler: Handler, *, page: bool = False) -> Handler:
        async def run(request: Request) -> Response:
            refused = self.gate.page_refusal(request) if page else self.gate.refusal(request)
            if refused is not None:
                return _error(*refused)
            try:
                return await handler(request)
            except LogNotFound as exc:
                return _error(404, str(exc))
            except LogUnavailable as exc:  # the database away: the page says so and tries again
                return _error(503, str(exc))

        return run

    async def page(self, request: Request) -> Response:
        html = files(__package__).joinpath("index.html").read_text("utf-8")
        return HTMLResponse(html, headers=_PAGE_HEADERS)

    async def requests(self, request: Request) -> Response:
        q = request.query_params
        model, outcome, reason, since, until, replica = (q.get(name) or None for name in _FILTERS)
        if outcome is not None and outcome not in OUTCOMES:
            return _error(400, f"outcome must be one of {', '.join(OUTCOMES)}")
        try:
            limit = min(max(int(q.get("limit", "100")), 1), _MAX_LIMIT)
        except ValueError:
            return _error(400, "limit must be a whole number")
        rows = await run_in_threadpool(
            lambda: recent(
                self.where,
                limit=limit,
                model=model,
                outcome=outcome,
                stop_reason=reason,
                since=since,
                until=until,
                replica=replica,
            )
        )
        return _json({"requests": rows, "limit": limit})

    async def one(self, request: Request) -> Response:
        row = await run_in_threadpool(request_row, self.where, request.path_params["request_id"])
        return _error(404, "no such request in the log") if row is None else _json(row)

    async def figures(self, request: Request) -> Response:
        bucket = request.query_params.get("bucket")

        def read() -> dict[str, Any]:
            with open_log(self.where) as db:  # one connection for the three
                figures = stats(db)
                figures["over_time"] = over_time(db, bucket)
                figures["rebilled_input_by_model"] = rebilled_by_model(db)
            return figures

        return _json(await run_in_threadpool(read))


def dashboard_routes(settings: Settings, where: LogLocation | Path | None = None) -> list[Route]:
    """The dashboard's routes on the log at ``where`` (the gateway's own log by default)."""
    ui = Dashboard(settings, where or settings.log_location)
    g = ui.guarded
    return [
        Route("/ui", g(ui.page, page=True), methods=["GET"]),
        Route("/ui/", g(ui.page, page=True), methods=["GET"]),
        Route("/ui/api/requests", g(ui.requests), methods=["GET"]),
        Route("/ui/api/requests/{request_id:int}", g(ui.one), methods=["GET"]),
        Route("/ui/api/stats", g(ui.figures), methods=["GET"]),
    ]
