"""``POST /relay/v1/chat/completions``: an OpenAI-format relay in front of Claude.

It behaves like the one-api / new-api builds in shared/examples/relay-truncation-report.txt:
Claude models only, Claude's raw ``stop_reason`` passed through as ``finish_reason``
(``max_tokens``, ``tool_use``, ``pause_turn``, ``end_turn``…), the ``msg_…`` id, the Claude
model name, ``max_tokens`` 8192 injected when the request has none, a usage chunk always sent,
and a final assistant message forwarded as a Claude prefill (with Claude's 400s).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import anthropic_api, openai_render
from .anthropic_request import PREFILL_REJECTED, TRAILING_WHITESPACE
from .caching import REQUEST_OVERHEAD, CacheUse
from .endpoint import Endpoint, Rendered, serve
from .engine import Knobs, SimRequest, SimState
from .generate import Reply
from .http_errors import SimError
from .ids import IdFactory
from .openai_request import parse_openai

__all__ = ["relay_endpoint"]


def _parse(payload: Any, *, default_max_tokens: int) -> SimRequest:
    req = parse_openai(payload, relay=True, relay_max_tokens=default_max_tokens)
    last = req.turns[-1]
    if last.role == "assistant" and last.text:
        if not req.model.prefill:
            raise SimError(400, PREFILL_REJECTED)
        if last.text != last.text.rstrip():
            raise SimError(400, TRAILING_WHITESPACE)
    return req


def _check_context(req: SimRequest, knobs: Knobs, total: int) -> None:
    anthropic_api.check_context(req, knobs, total)


def _account(state: SimState, req: SimRequest) -> CacheUse:
    return CacheUse(REQUEST_OVERHEAD + sum(s.tokens for s in req.segments))


def _render(req: SimRequest, reply: Reply, use: CacheUse, ids: IdFactory, state: SimState) -> Rendered:
    cid = ids.make("msg_01")
    model = req.model.response_name
    created = state.config.created
    if req.stream:
        events = openai_render.stream_events(
            reply, cid=cid, model=model, created=created, use=use, relay=True, include_usage=True
        )
        return Rendered(events=events)
    return Rendered(
        body=openai_render.completion_body(reply, cid=cid, model=model, created=created, use=use, relay=True)
    )


async def relay_endpoint(request: Request, state: SimState) -> Response:
    endpoint = Endpoint(
        error_dialect="openai",
        parse=partial(_parse, default_max_tokens=state.config.relay_default_max_tokens),
        check_context=_check_context,
        account=_account,
        render=_render,
        error_event=openai_render.ERROR_EVENT,
        malformed_event=openai_render.MALFORMED_EVENT,
    )
    return await serve(request, state, endpoint)
