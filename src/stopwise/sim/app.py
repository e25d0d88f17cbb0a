"""The simulator as one Starlette app: :func:`create_app`.

Routes::

    POST /v1/messages                  Anthropic Messages (JSON or SSE)
    POST /v1/messages/count_tokens     Anthropic token counting
    POST /v1/chat/completions          OpenAI Chat Completions (JSON or SSE)
    POST /relay/v1/chat/completions    an OpenAI-format relay in front of Claude
    POST /v1/responses                 OpenAI Responses (JSON or SSE, stored responses)
    GET  /v1/responses/{id}            a stored response
    GET  /v1/models, /v1/models/{id}   the model table, in the caller's dialect

Each app has its own state (request counter, attempt counts, prompt cache, stored responses), so a fresh app
replays a request byte for byte.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .anthropic_api import count_tokens_endpoint, messages_endpoint
from .config import SimConfig
from .engine import SimState
from .faults import ConnectionDropped
from .models import MODELS, ModelInfo
from .openai_api import chat_completions_endpoint
from .relay import relay_endpoint
from .responses_api import get_response_endpoint, responses_endpoint

__all__ = ["create_app", "quiet_dropped_connections"]

Handler = Callable[[Request, SimState], Awaitable[Response]]


def create_app(config: SimConfig | None = None) -> Starlette:
    state = SimState(config or SimConfig())

    def bind(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await handler(request, state)

        return endpoint

    routes = [
        Route("/v1/messages", bind(messages_endpoint), methods=["POST"]),
        Route("/v1/messages/count_tokens", bind(count_tokens_endpoint), methods=["POST"]),
        Route("/v1/chat/completions", bind(chat_completions_endpoint), methods=["POST"]),
        Route("/relay/v1/chat/completions", bind(relay_endpoint), methods=["POST"]),
        Route("/v1/responses", bind(responses_endpoint), methods=["POST"]),
        Route("/v1/responses/{response_id}", bind(get_response_endpoint), methods=["GET"]),
        Route("/v1/models", list_models, methods=["GET"]),
        Route("/v1/models/{model_id:path}", get_model, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    app.state.sim = state
    return app


def _is_anthropic(request: Request) -> bool:
    # The Anthropic SDK always sends anthropic-version; the OpenAI SDK never does.
    return "anthropic-version" in request.headers or "x-api-key" in request.headers


def _model_json(info: ModelInfo, anthropic: bool) -> dict[str, object]:
    if anthropic:
        return {
            "type": "model",
            "id": info.name,
            "display_name": info.display_name,
            "created_at": "2025-09-29T00:00:00Z",
        }
    return {"id": info.name, "object": "model", "created": 1712361441, "owned_by": "system"}


def _unique(dialect: str) -> list[ModelInfo]:
    seen: dict[str, ModelInfo] = {}
    for info in MODELS.values():
        if info.dialect == dialect:
            seen.setdefault(info.name, info)
    return list(seen.values())


async def list_models(request: Request) -> Response:
    anthropic = _is_anthropic(request)
    data = [_model_json(m, anthropic) for m in _unique("anthropic" if anthropic else "openai")]
    if anthropic:
        body: dict[str, object] = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"],
            "last_id": data[-1]["id"],
        }
    else:
        body = {"object": "list", "data": data}
    return Response(orjson.dumps(body), media_type="application/json")


async def get_model(request: Request) -> Response:
    anthropic = _is_anthropic(request)
    name = request.path_params["model_id"]
    info = MODELS.get(name)
    if info is None or info.dialect != ("anthropic" if anthropic else "openai"):
        if anthropic:
            error = {"type": "error", "error": {"type": "not_found_error", "message": f"model: {name}"}}
        else:
            message = f"The model '{name}' does not exist"
            error = {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": "model",
                    "code": "model_not_found",
                }
            }
        return Response(orjson.dumps(error), status_code=404, media_type="application/json")
    return Response(orjson.dumps(_model_json(info, anthropic)), media_type="application/json")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = "Not Found" if status == 404 else "Method Not Allowed" if status == 405 else "Error"
    body = {
        "type": "error",
        "error": {
            "type": "not_found_error" if status == 404 else "invalid_request_error",
            "message": message,
        },
    }
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class _DropFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        while exc is not None:
            if isinstance(exc, ConnectionDropped):
                return False
            exc = exc.__cause__ or exc.__context__
        return True


def quiet_dropped_connections() -> None:
    """Keep uvicorn from logging a traceback for each connection dropped on purpose."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _DropFilter) for f in logger.filters):
        logger.addFilter(_DropFilter())
