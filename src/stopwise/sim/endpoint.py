"""The plumbing every POST endpoint shares: read and count the request, make its ids, apply
faults, and turn a rendered body or event list into a response (or a broken one, on request).
A dialect supplies an :class:`Endpoint` with its parser, context check and renderers."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from .caching import REQUEST_OVERHEAD, CacheUse
from .engine import Knobs, SimRequest, SimState, parse_knobs, run
from .faults import Faults, StreamEvent, error_for, faulty_stream, parse_faults
from .generate import Reply
from .http_errors import SimError, error_response
from .ids import IdFactory
from .stream_errors import stream_error_event

__all__ = ["Endpoint", "Rendered", "serve"]


@dataclass(frozen=True)
class Rendered:
    body: dict[str, Any] | None = None  # non-streaming
    events: list[StreamEvent] | None = None  # streaming
    headers: Mapping[str, str] = field(default_factory=dict)  # added to the 200
    # The event a ``stream-error`` fault writes for this response (given the faults and the
    # request id), or ``None`` for the endpoint's ``error_event`` / the fault's relay style. The
    # Responses API's error events carry a sequence number and the response, so they are made per
    # response.
    stream_error: Callable[[Faults, str], bytes | None] | None = None


@dataclass(frozen=True)
class Endpoint:
    error_dialect: str  # "anthropic" or "openai": the error body and request-id header to use
    parse: Callable[[Any], SimRequest]
    # Raises the dialect's 400 when the input does not fit, and may settle ``max_tokens``.
    check_context: Callable[[SimRequest, Knobs, int], None]
    account: Callable[[SimState, SimRequest], CacheUse]
    render: Callable[[SimRequest, Reply, CacheUse, IdFactory, SimState], Rendered]
    error_event: bytes
    malformed_event: bytes


def _attempt_key(request: Request, body: bytes) -> str:
    explicit = request.headers.get("x-sim-attempt-key")
    if explicit:
        return explicit
    return hashlib.sha256(request.url.path.encode() + b"\n" + body).hexdigest()


async def serve(request: Request, state: SimState, endpoint: Endpoint) -> Response:
    body = await request.body()
    state.counter += 1
    ids = IdFactory(request.url.path, body, state.counter)
    request_id = ids.make("req_011C")
    header_name = "request-id" if endpoint.error_dialect == "anthropic" else "x-request-id"
    try:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise _invalid_json(endpoint.error_dialect) from None
        if isinstance(payload, dict) and isinstance(payload.get("model"), str):
            payload["model"] = state.config.aliases.get(payload["model"], payload["model"])
        req = endpoint.parse(payload)
        knobs = parse_knobs(request.headers, state.config)
        if endpoint.error_dialect == "anthropic" and knobs.forced and knobs.forced[0] == "content_filter":
            raise SimError(
                400, "x-sim-stop: content-filter is an OpenAI finish reason; use refusal on Anthropic"
            )
        faults = parse_faults(
            state.config.model_faults.get(req.model.name), request.headers.get("x-sim-fault")
        )
        key = _attempt_key(request, body)
        state.attempts[key] = state.attempts.get(key, 0) + 1
        fault_error = error_for(faults, endpoint.error_dialect, req.model.name, state.attempts[key])
        if fault_error is not None:
            raise fault_error
        endpoint.check_context(req, knobs, _input_total(req))
        use = endpoint.account(state, req)
        reply = run(req, knobs, use.total, ids)
        rendered = endpoint.render(req, reply, use, ids, state)
        restart: list[StreamEvent] = []
        if faults.restart_after is not None and rendered.events is not None:
            # A relay that retried upstream on its own: the second attempt's whole stream, with
            # its own ids, after part of the first.
            restart = endpoint.render(req, run(req, knobs, use.total, ids), use, ids, state).events or []
    except SimError as err:
        return error_response(err, endpoint.error_dialect, request_id)
    headers = {header_name: request_id, **rendered.headers}
    if rendered.events is not None:
        error_event = endpoint.error_event
        own = rendered.stream_error(faults, request_id) if rendered.stream_error is not None else None
        if own is not None:
            error_event = own
        elif faults.stream_error_style is not None:
            error_event = stream_error_event(
                faults.stream_error_style, model=req.model.name, request_id=request_id
            )
        stream = faulty_stream(
            rendered.events,
            faults,
            error_event=error_event,
            malformed=endpoint.malformed_event,
            restart=restart,
        )
        headers["cache-control"] = "no-cache"
        return StreamingResponse(stream, headers=headers, media_type="text/event-stream; charset=utf-8")
    data = orjson.dumps(rendered.body)
    if faults.stall:
        await asyncio.sleep(faults.stall)
    if faults.drop_after is not None:
        headers["content-length"] = str(len(data))
        return StreamingResponse(_chunks(data, faults), headers=headers, media_type="application/json")
    return Response(data, headers=headers, media_type="application/json")


async def _chunks(data: bytes, faults: Faults) -> AsyncIterator[bytes]:
    async for chunk in faulty_stream([StreamEvent(data)], faults, error_event=b"", malformed=b""):
        yield chunk


def _input_total(req: SimRequest) -> int:
    return REQUEST_OVERHEAD + sum(s.tokens for s in req.segments)


def _invalid_json(dialect: str) -> SimError:
    if dialect == "anthropic":
        return SimError(400, "There was an error parsing the body of the request: invalid JSON")
    return SimError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
        "your HTTP "
        "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid "
        "JSON. If you "
        "have trouble figuring out how to fix this, please contact us through our help center at "
        "help.openai.com.)",
    )
