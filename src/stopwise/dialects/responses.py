"""OpenAI Responses API (``/v1/responses``): non-stream ``response`` bodies, and streams of
``response.*`` events folded into the final response the way the SDK's ``ResponseStreamState``
(openai 3.5x, ``lib/streaming/responses/_responses.py``) builds it: output items keyed by
``output_index`` from ``response.output_item.added``, text and argument deltas appended, an item
replaced whole by its ``response.output_item.done``, and the terminal event's own ``response``
taken as the final one (its output rebuilt from the items when it carries none).

Beyond the SDK (brief/wire.md, "Responses API"):

- complete only on ``response.completed``. ``response.incomplete`` is read by its
  ``incomplete_details.reason``: ``max_output_tokens`` is a truncation like ``max_tokens`` and
  ``length``, ``content_filter`` a filter stop like Chat's; any other reason is not a normal end;
- ``response.failed`` and ``error`` events become typed errors (classified by their code, once,
  here) carrying the partial outcome;
- a stream cut before its terminal event is ``interrupted`` and keeps every delta that arrived,
  reasoning summaries and refusals too (the SDK's snapshot keeps only text and arguments);
- function-call arguments that are not whole JSON make the outcome ``truncated`` even under
  ``completed``, and stay in ``Outcome.tool_json`` as the evidence;
- unknown event types are counted in ``Outcome.anomalies`` (the API adds them over time, so they
  are never fatal); unknown output items and content parts are kept as they came.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import APIError, ProtocolError
from ..outcome import Outcome, State, Stop, StopReason, Usage, apply_cap, estimate_tokens, state_for
from ..sse import ServerSentEvent
from ._errors import error_from_payload
from ._fold import EventFolder
from ._json import is_whole_json
from ._responses_output import (
    Item,
    Part,
    as_dict,
    as_int,
    as_str,
    blocks_of,
    output_of,
    text_field,
)

__all__ = ["TERMINAL_EVENTS", "ResponsesAccumulator", "parse_response"]

DIALECT = "responses"

#: The events that end a Responses stream; only the first is a complete answer.
TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})
_LIFECYCLE = frozenset({"response.created", "response.in_progress", "response.queued"})

# Output items the client must act on before the turn goes on: like Chat's `tool_calls`.
# Hosted tools (web_search_call, file_search_call, code_interpreter_call, mcp_call...) run on
# the server and end inside the same response.
_CLIENT_CALLS = frozenset(
    {
        "function_call",
        "custom_tool_call",
        "computer_call",
        "local_shell_call",
        "shell_call",
        "apply_patch_call",
        "mcp_approval_request",
    }
)

# Progress events of hosted tools and of custom-tool input (`response.web_search_call.searching`,
# `response.code_interpreter_call_code.delta`, `response.custom_tool_call_input.delta`,
# `response.mcp_list_tools.completed`...): the
# item they describe arrives whole in `response.output_item.done`, so they change nothing here.
_TOOL_PROGRESS = re.compile(r"response\.(?:[a-z_]+_call(?:_[a-z_]+)?|mcp_list_tools)\.[a-z_]+")

# Error codes of `response.error` and of `error` events (the API reference's list), read as the
# error types the rest of stopwise classifies by. A code not listed keeps no type: inside a 200
# it is then a server fault, as for the other dialects.
_TYPE_OF_CODE: dict[str, str] = {
    "server_error": "api_error",
    "rate_limit_exceeded": "rate_limit_error",
    "vector_store_timeout": "timeout_error",
    "insufficient_quota": "insufficient_quota",
    "invalid_prompt": "invalid_request_error",
    "invalid_image": "invalid_request_error",
    "invalid_image_format": "invalid_request_error",
    "invalid_base64_image": "invalid_request_error",
    "invalid_image_url": "invalid_request_error",
    "image_too_large": "invalid_request_error",
    "image_too_small": "invalid_request_error",
    "image_parse_error": "invalid_request_error",
    "image_content_policy_violation": "invalid_request_error",
    "invalid_image_mode": "invalid_request_error",
    "image_file_too_large": "invalid_request_error",
    "unsupported_image_media_type": "invalid_request_error",
    "empty_image_file": "invalid_request_error",
    "failed_to_download_image": "invalid_request_error",
    "image_file_not_found": "invalid_request_error",
}


def error_of(status: int, err: object, *, body: object = None) -> APIError:
    """The typed error for a Responses error object: ``response.error`` (``{code, message}``) or
    an ``error`` event (the same fields at its top level, or nested under ``error``)."""
    fields = err if isinstance(err, dict) else {}
    nested = fields.get("error")
    etype: object = None
    if isinstance(nested, dict):
        fields = nested
        etype = fields.get("type")
    elif fields.get("type") != "error":
        etype = fields.get("type")  # `response.error` may name its type; an event's is "error"
    code = fields.get("code")
    if not isinstance(etype, str) or not etype:
        etype = _TYPE_OF_CODE.get(code) if isinstance(code, str) else None
    message = fields.get("message")
    shaped = {
        "error": {
            "message": message
            if isinstance(message, str) and message
            else f"response error {code or ''}".strip(),
            "type": etype,
            "code": code,
            "param": fields.get("param"),
        }
    }
    out = error_from_payload(status, shaped)
    out.dialect = DIALECT
    out.body = body if body is not None else err
    return out


def _usage_from(raw: object) -> Usage:
    usage = Usage()
    if not isinstance(raw, dict):
        return usage
    usage.set_reported("input_tokens", raw.get("input_tokens"))
    usage.set_reported("output_tokens", raw.get("output_tokens"))
    details = raw.get("input_tokens_details")
    if isinstance(details, dict):
        cached = details.get("cached_tokens")
        # Like Chat's prompt_tokens, input_tokens includes the cached ones; stopwise keeps
        # Anthropic's vocabulary (input excludes cache reads) so sums mean the same everywhere.
        if (
            isinstance(cached, int)
            and not isinstance(cached, bool)
            and cached
            and "input_tokens" in usage.reported
        ):
            usage.input_tokens -= cached
            usage.set_reported("cache_read_input_tokens", cached)
    out_details = raw.get("output_tokens_details")
    if isinstance(out_details, dict):
        usage.set_reported("reasoning_tokens", out_details.get("reasoning_tokens"))
    return usage


def _stop_of(response: dict[str, Any], output: list[dict[str, Any]]) -> Stop:
    status = response.get("status")
    if status == "completed":
        calls = any(item.get("type") in _CLIENT_CALLS for item in output)
        return Stop("completed", StopReason.TOOL_USE if calls else StopReason.END)
    if status == "incomplete":
        details = response.get("incomplete_details")
        # `max_output_tokens` and `content_filter` are in the shared table (outcome._REASONS);
        # anything else (`max_messages`, `steered`, a new one) reads as unknown, never as an end.
        return Stop.of(details.get("reason") if isinstance(details, dict) else None)
    if status in ("in_progress", "queued") or status is None:
        # Not finished yet (a background response polled early): no reason at all.
        return Stop(status if isinstance(status, str) else None, StopReason.MISSING)
    # failed, cancelled, or a status this module does not know.
    return Stop.of(status)


def _assemble(
    response: dict[str, Any],
    usage: Usage,
    *,
    max_tokens: int | None,
    terminal: bool,
    cut: bool,
    reasons: list[str],
    anomalies: dict[str, int],
    error: APIError | None,
) -> Outcome:
    """The verdict shared by bodies and streams. ``terminal``: the response's status is its last
    word (a body, or a stream that reached a terminal event)."""
    output = output_of(response)
    blocks, text, tool_json = blocks_of(output)
    stop = _stop_of(response, output) if terminal else Stop.of(None)
    state = state_for(stop.normalized)
    status = response.get("status")
    if terminal and status in ("in_progress", "queued"):
        reasons.append(f"response status {status}: not finished yet")
    elif terminal and status == "cancelled":
        reasons.append("response cancelled")
    for key, buf in tool_json.items():
        if not is_whole_json(buf):
            reasons.append(f"arguments of function call at output {key} are not whole JSON")
            if state is State.COMPLETE:
                state = State.TRUNCATED
    if cut and state is State.COMPLETE:
        state = State.INTERRUPTED
    if error is not None:
        state = State.FAILED
    outcome = Outcome(
        dialect=DIALECT,
        state=state,
        stop=stop,
        usage=usage,
        message=response,
        text=text,
        content=blocks,
        error=error,
        reasons=reasons,
        anomalies=anomalies,
        tool_json=tool_json,
    )
    apply_cap(outcome, max_tokens)
    return outcome


def parse_response(body: object, *, max_tokens: int | None = None) -> Outcome:
    """A non-stream ``response`` body (already parsed JSON). ``status: failed`` gives a failed
    outcome carrying the typed error of ``response.error``; an HTTP error body
    (``{"error": {...}}``, no ``output``) gives one too."""
    if not isinstance(body, dict):
        raise ProtocolError(f"a Responses body must be a JSON object, not {type(body).__name__}")
    try:
        if "error" in body and "output" not in body and body.get("object") != "response":
            err = error_of(0, body, body=body)  # an error body read without its HTTP status
            return _assemble(
                {"object": "response", "status": "failed", "output": []},
                Usage(),
                max_tokens=None,
                terminal=True,
                cut=False,
                reasons=["error body"],
                anomalies={},
                error=err,
            )
        error = None
        if body.get("status") == "failed":
            # A body read without its HTTP status (a poll, a log): status 0, classified by type.
            error = error_of(0, body.get("error"), body=body)
        return _assemble(
            body,
            _usage_from(body.get("usage")),
            max_tokens=max_tokens,
            terminal=True,
            cut=False,
            reasons=[],
            anomalies={},
            error=error,
        )
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        # An output item, content part or summary of the wrong shape.
        raise ProtocolError(f"malformed Responses body: {exc}") from exc


class ResponsesAccumulator(EventFolder):
    """Folds a Responses stream, event by event. :meth:`finish` gives the outcome at any time
    (a cut stream gives its partial response)."""

    def __init__(self, *, max_tokens: int | None = None) -> None:
        self.max_tokens = max_tokens
        self.response: dict[str, Any] | None = None  # the latest lifecycle snapshot
        self._items: dict[int, Item] = {}
        self._final: dict[str, Any] | None = None
        self.terminal: str | None = None  # the terminal event's type, once it came
        self._lost = False
        self.anomalies: dict[str, int] = {}
        self.error: APIError | None = None
        self.events = 0

    @property
    def done(self) -> bool:
        """A terminal event or an error arrived: nothing after it changes the response."""
        return self.terminal is not None or self.error is not None

    def feed(self, sse: ServerSentEvent) -> dict[str, Any] | None:
        """Fold one event. Returns its payload, parsed once, for callers that need it too;
        ``None`` when there was nothing to fold."""
        data = sse.data
        if data.startswith("[DONE]"):
            # The API sends none, but SDK test servers and relays that speak Chat add one.
            return None
        if not data:
            self._note("empty_event")
            return None
        obj = self._parsed(data)
        if obj is None:
            return None
        self.feed_json(obj, sse.event)
        return obj

    def _dispatch(self, etype: str | None, obj: dict[str, Any]) -> None:
        if etype == "response.output_text.delta":
            part = self._part(obj, "output_text")
            part.pieces.append(as_str(obj["delta"]))
            logprobs = obj.get("logprobs")
            if isinstance(logprobs, list):
                part.logprobs.extend(logprobs)
        elif etype == "response.function_call_arguments.delta":
            item = self._item(obj)
            if item is not None:
                if item.args is None:
                    self._mismatch()
                else:
                    item.args.append(as_str(obj["delta"]))
        elif etype == "response.reasoning_summary_text.delta":
            self._pieces(obj, "summary", "summary_index").append(as_str(obj["delta"]))
        elif etype == "response.reasoning_text.delta":
            self._pieces(obj, "reasoning", "content_index").append(as_str(obj["delta"]))
        elif etype == "response.refusal.delta":
            self._part(obj, "refusal").pieces.append(as_str(obj["delta"]))
        elif etype == "response.output_item.added":
            self._on_added(obj)
        elif etype == "response.output_item.done":
            self._on_item_done(obj)
        elif etype in ("response.content_part.added", "response.content_part.done"):
            self._on_part(obj, done=etype.endswith(".done"))
        elif etype == "response.output_text.done":
            self._part(obj, "output_text").pieces[:] = [as_str(obj["text"])]
        elif etype == "response.refusal.done":
            self._part(obj, "refusal").pieces[:] = [as_str(obj["refusal"])]
        elif etype == "response.output_text.annotation.added":
            self._part(obj, "output_text").annotations.append(obj["annotation"])
        elif etype == "response.function_call_arguments.done":
            item = self._item(obj)
            if item is not None and item.args is not None:
                item.args[:] = [as_str(obj["arguments"])]
        elif etype in ("response.reasoning_summary_part.added", "response.reasoning_summary_part.done"):
            summary_part = as_dict(obj["part"])
            self._pieces(obj, "summary", "summary_index")[:] = [text_field(summary_part, "text")]
        elif etype == "response.reasoning_summary_text.done":
            self._pieces(obj, "summary", "summary_index")[:] = [as_str(obj["text"])]
        elif etype == "response.reasoning_text.done":
            self._pieces(obj, "reasoning", "content_index")[:] = [as_str(obj["text"])]
        elif etype in _LIFECYCLE:
            self._on_lifecycle(obj)
        elif etype in TERMINAL_EVENTS:
            final = dict(as_dict(obj["response"]))
            blocks_of(output_of(final))  # a terminal output of the wrong shape is malformed here
            self._on_lifecycle(obj)
            self._final = final
            self.terminal = etype
            if etype == "response.failed":
                self.error = error_of(200, final.get("error"), body=obj)
        elif etype == "error":
            # An error event after the 200: the SDK raises it as a plain APIError; we keep the
            # partial response beside a properly typed error.
            self.error = error_of(200, obj, body=obj)
        elif isinstance(etype, str) and _TOOL_PROGRESS.fullmatch(etype):
            pass
        else:
            self._note(f"unknown_event:{etype}")

    def _on_lifecycle(self, obj: dict[str, Any]) -> None:
        response = as_dict(obj["response"])
        ident = response.get("id")
        if self.response is not None and ident != self.response.get("id"):
            # The SDK refuses a stream whose response changes identity; we read on and say so.
            self._note("response_id_changed")
        self.response = {k: v for k, v in response.items() if k != "output"}

    def _mismatch(self) -> None:
        # A delta of the wrong kind for its item (arguments for a message...): its content is dropped.
        self._note("delta_type_mismatch")
        self._lost = True

    def _item(self, obj: dict[str, Any]) -> Item | None:
        index = as_int(obj["output_index"])
        item = self._items.get(index)
        if item is None:
            self._note("delta_for_unadded_item")
            self._lost = True
        return item

    def _part(self, obj: dict[str, Any], ptype: str) -> Part:
        """The content part a text or refusal event is about. One that was never added (no
        ``content_part.added``) is opened here: the SDK fails on it, but the delta itself is whole."""
        item = self._item(obj)
        if item is None:
            # Fold into a placeholder message so the text is kept; the loss is already counted.
            item = self._items[as_int(obj["output_index"])] = Item(
                {"id": obj.get("item_id"), "type": "message", "role": "assistant", "content": []}
            )
        if item.item.get("type") != "message":
            raise TypeError(f"{ptype} content for a {item.item.get('type')} item")
        index = as_int(obj["content_index"])
        part = item.parts.get(index)
        if part is None:
            self._note("delta_for_unadded_part")
            empty: dict[str, Any] = (
                {"type": ptype, "refusal": ""}
                if ptype == "refusal"
                else {"type": ptype, "text": "", "annotations": []}
            )
            part = item.parts[index] = Part(empty)
        if part.key is None:
            raise TypeError(f"{ptype} content for a {part.part.get('type')} part")
        return part

    def _pieces(self, obj: dict[str, Any], where: str, key: str) -> list[str]:
        item = self._item(obj)
        if item is None:
            item = self._items[as_int(obj["output_index"])] = Item(
                {"id": obj.get("item_id"), "type": "reasoning", "summary": []}
            )
        if item.item.get("type") != "reasoning":
            raise TypeError(f"reasoning content for a {item.item.get('type')} item")
        bucket: dict[int, list[str]] = item.summary if where == "summary" else item.reasoning
        return bucket.setdefault(as_int(obj[key]), [])

    def _on_added(self, obj: dict[str, Any]) -> None:
        index = as_int(obj["output_index"])
        raw = obj.get("item")
        if raw is None:
            # The SDK skips an added event without its item (some providers send one).
            self._note("empty_output_item")
            return
        if index in self._items:
            self._note("output_item_added_twice")
            self._lost = True
            return
        if index != len(self._items):
            self._note("output_index_gap")
        self._items[index] = Item(dict(as_dict(raw)))

    def _on_item_done(self, obj: dict[str, Any]) -> None:
        index = as_int(obj["output_index"])
        whole = Item(dict(as_dict(obj["item"])))
        whole.whole = True
        if index not in self._items:
            self._note("output_item_done_without_added")
        self._items[index] = whole

    def _on_part(self, obj: dict[str, Any], *, done: bool) -> None:
        item = self._item(obj)
        if item is None:
            return
        index = as_int(obj["content_index"])
        part = Part(dict(as_dict(obj["part"])))
        if item.item.get("type") != "message":
            self._mismatch()
            return
        if not done and index in item.parts:
            self._note("content_part_added_twice")
        item.parts[index] = part

    def snapshot(self) -> dict[str, Any]:
        """The response as it stands: the terminal event's when it came (its output rebuilt from
        the items when it has none), else the last lifecycle snapshot with the items so far."""
        if self._final is not None:
            response = dict(self._final)
            output = response.get("output")
            # A failed or incomplete response may carry no output (``response.failed`` often has
            # ``output: []``): what streamed is then what arrived, and it is kept.
            if output is None or (not output and self._items and response.get("status") != "completed"):
                response["output"] = [i.render() for _, i in sorted(self._items.items())]
            return response
        response = dict(self.response) if self.response is not None else {"object": "response"}
        response["output"] = [i.render() for _, i in sorted(self._items.items())]
        return response

    def finish(self) -> Outcome:
        response = self.snapshot()
        reasons: list[str] = []
        if self.response is None and self._final is None:
            reasons.append("no response.created")
        if self.terminal is None and self.error is None:
            reasons.append("stream ended before response.completed")
        # Input lost on the way matters only when the answer is rebuilt from the deltas: a
        # terminal response that carries its own output is the whole answer (the SDK's final
        # response is that output too).
        cut = self._lost and (self._final is None or self._final.get("output") is None)
        if cut:
            reasons.append("input was lost on the way (see anomalies)")
        usage = _usage_from(response.get("usage") if self._final is not None else None)
        if self._final is None or not usage.reported:
            # Usage comes only with the terminal event: a cut stream never gets it.
            usage.set_estimated(
                "output_tokens", estimate_tokens(sum(i.chars() for i in self._items.values()))
            )
        # Every item and the terminal output were checked as they were folded: this cannot fail.
        outcome = _assemble(
            response,
            usage,
            max_tokens=self.max_tokens,
            terminal=self._final is not None,
            cut=cut,
            reasons=reasons,
            anomalies=dict(self.anomalies),
            error=self.error,
        )
        if self.error is not None:
            self.error.partial = outcome
        return outcome
