"""``POST /v1/responses`` and ``GET /v1/responses/{id}``: the OpenAI Responses API.

The request goes through the shared endpoint plumbing (faults, ids, the engine); what is its
own is the stored-response state: a response made with ``store`` (the default) is kept in the
app's :class:`~stopwise.sim.responses_store.ResponseStore`, so ``previous_response_id`` can chain
to it and ``GET`` can return it.
"""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from . import responses_render
from .caching import CacheUse
from .endpoint import Endpoint, Rendered, serve
from .engine import Knobs, SimRequest, SimState, window_of
from .faults import Faults
from .generate import Reply
from .http_errors import SimError, error_response
from .ids import IdFactory
from .openai_render import ERROR_EVENT
from .responses_request import ResponsesRequest, parse_responses
from .responses_store import StoredResponse

__all__ = ["CHAINED_HEADER", "get_response_endpoint", "responses_endpoint"]

#: Response header: how many of ``usage.input_tokens`` came from ``previous_response_id`` (the
#: chained response's input and output, billed again). A finisher can compare the two ways of
#: continuing with it.
CHAINED_HEADER = "x-sim-chained-input-tokens"

#: ``x-sim-stop`` reasons that do not exist on this API.
_NOT_HERE = {"pause_turn": "pause-turn", "model_context_window_exceeded": "context-window"}


def _check_context(req: SimRequest, knobs: Knobs, total: int) -> None:
    if knobs.forced is not None and knobs.forced[0] in _NOT_HERE:
        raise SimError(
            400,
            f"x-sim-stop: {_NOT_HERE[knobs.forced[0]]} is not a Responses API stop; use refusal or "
            "content-filter",
        )
    window = window_of(req, knobs)
    if total > window:
        raise SimError(
            400,
            "Your input exceeds the context window of this model. Please adjust your input and try again.",
            param="input",
            code="context_length_exceeded",
        )
    # max_output_tokens is a ceiling, not a reservation: the answer stops where the window ends.
    room = window - total
    req.max_tokens = min(req.max_tokens or req.model.max_output, room)


def _account(state: SimState, req: SimRequest) -> CacheUse:
    return state.cache.openai(req.model.name, req.segments, req.boundaries)


def _render(req: SimRequest, reply: Reply, use: CacheUse, ids: IdFactory, state: SimState) -> Rendered:
    if not isinstance(req, ResponsesRequest):  # parse_responses made it; the check narrows the type
        raise TypeError(f"expected a ResponsesRequest, got {type(req).__name__}")
    out = responses_render.render(req, reply, use, ids, state.config.created)
    if req.store:
        state.responses.put(out.response_id, StoredResponse(tuple(req.items), out.body))

    def stream_error(faults: Faults, request_id: str) -> bytes | None:
        after = faults.stream_error_after or 0
        if faults.stream_error_style == "failed":
            return responses_render.failed_event(out, after, request_id)
        if faults.stream_error_style is None:
            return responses_render.error_event(after)
        return None  # a relay's own shape

    headers = {CHAINED_HEADER: str(req.chained_tokens)}
    if req.stream:
        return Rendered(events=out.events, headers=headers, stream_error=stream_error)
    return Rendered(body=out.body, headers=headers)


def _endpoint(state: SimState) -> Endpoint:
    return Endpoint(
        error_dialect="openai",
        # The parser needs this app's stored responses for previous_response_id.
        parse=lambda body: parse_responses(body, state.responses),
        check_context=_check_context,
        account=_account,
        render=_render,
        error_event=ERROR_EVENT,
        malformed_event=responses_render.MALFORMED_EVENT,
    )


async def responses_endpoint(request: Request, state: SimState) -> Response:
    return await serve(request, state, _endpoint(state))


async def get_response_endpoint(request: Request, state: SimState) -> Response:
    response_id = request.path_params["response_id"]
    stored = state.responses.get(response_id)
    state.counter += 1
    request_id = IdFactory(request.url.path, b"", state.counter).make("req_011C")
    if stored is None:
        err = SimError(404, f"Response with id '{response_id}' not found.", type="invalid_request_error")
        return error_response(err, "openai", request_id)
    return Response(
        orjson.dumps(stored.body),
        headers={"x-request-id": request_id},
        media_type="application/json",
    )
