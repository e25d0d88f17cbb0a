"""``POST /v1/chat/completions``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from . import openai_render
from .caching import CacheUse
from .endpoint import Endpoint, Rendered, serve
from .engine import Knobs, SimRequest, SimState, window_of
from .generate import Reply
from .http_errors import SimError
from .ids import IdFactory
from .openai_request import parse_openai

__all__ = ["chat_completions_endpoint", "check_context"]


def check_context(req: SimRequest, knobs: Knobs, total: int) -> None:
    window = window_of(req, knobs)
    if total > window:
        raise SimError(
            400,
            f"This model's maximum context length is {window} tokens. However, your messages resulted "
            f"in {total} "
            "tokens. Please reduce the length of the messages.",
            param="messages",
            code="context_length_exceeded",
        )
    if not req.max_tokens:
        # No max_tokens: the model may write up to its ceiling or the rest of the window.
        req.max_tokens = min(req.model.max_output, window - total)
    elif total + req.max_tokens > window:
        raise SimError(
            400,
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{total + req.max_tokens} tokens ({total} in the messages, {req.max_tokens} in the completion). "
            "Please reduce the length of the messages or completion.",
            param="messages",
            code="context_length_exceeded",
        )


def _account(state: SimState, req: SimRequest) -> CacheUse:
    return state.cache.openai(req.model.name, req.segments, req.boundaries)


def _render(req: SimRequest, reply: Reply, use: CacheUse, ids: IdFactory, state: SimState) -> Rendered:
    cid = ids.make("chatcmpl-", 29)
    model = req.model.response_name
    created = state.config.created
    if req.stream:
        events = openai_render.stream_events(
            reply,
            cid=cid,
            model=model,
            created=created,
            use=use,
            relay=False,
            include_usage=req.include_usage,
        )
        return Rendered(events=events)
    return Rendered(
        body=openai_render.completion_body(reply, cid=cid, model=model, created=created, use=use, relay=False)
    )


ENDPOINT = Endpoint(
    error_dialect="openai",
    parse=parse_openai,
    check_context=check_context,
    account=_account,
    render=_render,
    error_event=openai_render.ERROR_EVENT,
    malformed_event=openai_render.MALFORMED_EVENT,
)


async def chat_completions_endpoint(request: Request, state: SimState) -> Response:
    return await serve(request, state, ENDPOINT)
