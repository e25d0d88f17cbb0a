"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import anthropic_render
from .anthropic_request import parse_anthropic
from .caching import REQUEST_OVERHEAD, CacheUse
from .endpoint import Endpoint, Rendered, serve
from .engine import Knobs, SimRequest, SimState, window_of
from .generate import Reply
from .http_errors import SimError, error_response
from .ids import IdFactory

__all__ = ["check_context", "count_tokens_endpoint", "messages_endpoint"]


def check_context(req: SimRequest, knobs: Knobs, total: int) -> None:
    window = window_of(req, knobs)
    if total > window:
        raise SimError(400, f"prompt is too long: {total} tokens > {window} maximum")
    if total + req.max_tokens > window and not knobs.window_beta:
        raise SimError(
            400,
            f"input length and `max_tokens` exceed context limit: {total} + {req.max_tokens} > {window}, "
            "decrease input length or `max_tokens` and try again",
        )


def _account(state: SimState, req: SimRequest) -> CacheUse:
    return state.cache.anthropic(req.model.name, req.segments, req.model.min_cache_tokens)


def _render(req: SimRequest, reply: Reply, use: CacheUse, ids: IdFactory, state: SimState) -> Rendered:
    msg_id = ids.make("msg_01")
    model = req.model.response_name
    if req.stream:
        return Rendered(events=anthropic_render.stream_events(reply, msg_id=msg_id, model=model, use=use))
    return Rendered(body=anthropic_render.message_body(reply, msg_id=msg_id, model=model, use=use))


ENDPOINT = Endpoint(
    error_dialect="anthropic",
    parse=parse_anthropic,
    check_context=check_context,
    account=_account,
    render=_render,
    error_event=anthropic_render.ERROR_EVENT,
    malformed_event=anthropic_render.MALFORMED_EVENT,
)


async def messages_endpoint(request: Request, state: SimState) -> Response:
    return await serve(request, state, ENDPOINT)


async def count_tokens_endpoint(request: Request, state: SimState) -> Response:
    body = await request.body()
    state.counter += 1
    request_id = IdFactory(request.url.path, body, state.counter).make("req_011C")
    try:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise SimError(400, "There was an error parsing the body of the request: invalid JSON") from None
        if isinstance(payload, dict):
            # count_tokens takes no max_tokens; give the validator one that always fits.
            payload = {**payload, "max_tokens": payload.get("max_tokens", 1)}
        req = parse_anthropic(payload)
    except SimError as err:
        return error_response(err, "anthropic", request_id)
    total = REQUEST_OVERHEAD + sum(s.tokens for s in req.segments)
    return Response(
        orjson.dumps({"input_tokens": total}),
        headers={"request-id": request_id},
        media_type="application/json",
    )
