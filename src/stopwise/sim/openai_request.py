"""Validating a Chat Completions request body with OpenAI's own 400 texts, and reducing it to a
:class:`~stopwise.sim.engine.SimRequest`. The relay endpoint reuses it with Claude models.

OpenAI has no prefill: a final assistant message is a finished turn (brief/wire.md, "Other
prefill support"). Behind the relay it becomes a Claude prefill, as new-api forwards it.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import orjson

from .caching import MESSAGE_OVERHEAD, Segment
from .conversation import Turn
from .engine import SimRequest
from .http_errors import SimError
from .models import lookup
from .tokenizer import count_tokens

__all__ = ["parse_openai"]

_ROLES = ("system", "developer", "user", "assistant", "tool", "function")


def _bad(message: str, param: str | None = None, code: str | None = None) -> SimError:
    return SimError(400, message, param=param, code=code)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: object) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array"}.get(
        type(value), "null" if value is None else "an object"
    )


def parse_openai(body: Any, *, relay: bool = False, relay_max_tokens: int = 8192) -> SimRequest:
    if not isinstance(body, dict):
        raise _bad(f"Invalid type for request body: expected an object, but got {_type_name(body)} instead.")
    if "model" not in body:
        raise _bad("you must provide a model parameter")
    if "messages" not in body:
        raise _bad("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _bad(
            "Invalid type for 'messages': expected an array of objects, but got "
            f"{_type_name(messages)} instead.",
            "messages",
            "invalid_type",
        )
    if not messages:
        raise _bad(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            "messages",
            "empty_array",
        )
    turns = _turns(messages)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    param = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    if max_tokens is not None:
        if not _is_int(max_tokens):
            raise _bad(
                f"Invalid type for '{param}': expected an integer, but got {_type_name(max_tokens)} instead.",
                param,
                "invalid_type",
            )
        if max_tokens < 1:
            raise _bad(
                f"Invalid '{param}': integer below minimum value. Expected a value >= 1, but got "
                f"{max_tokens} instead.",
                param,
                "integer_below_min_value",
            )
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        raise _bad(
            "Invalid type for 'stop': expected a string or an array of strings.", "stop", "invalid_type"
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        raise _bad(
            f"Invalid type for 'stream': expected a boolean, but got {_type_name(stream)} instead.",
            "stream",
            "invalid_type",
        )
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    tools = body.get("tools")
    if tools is not None and not (isinstance(tools, list) and all(isinstance(t, dict) for t in tools)):
        raise _bad(
            f"Invalid type for 'tools': expected an array of objects, but got {_type_name(tools)} instead.",
            "tools",
            "invalid_type",
        )
    client_tools = _tool_names(tools)

    model = lookup(body["model"], "anthropic" if relay else "openai")
    if model is None:
        raise SimError(
            404,
            f"The model `{body['model']}` does not exist or you do not have access to it.",
            type="invalid_request_error",
            code="model_not_found",
        )
    if relay and max_tokens is None:
        # new-api injects 8192 when the client sends none (brief/wire.md, relays).
        max_tokens = relay_max_tokens
    if max_tokens is not None and max_tokens > model.max_output:
        if relay:
            raise _bad(
                f"max_tokens: {max_tokens} > {model.max_output}, which is the maximum allowed number "
                "of output "
                f"tokens for {model.response_name}"
            )
        raise _bad(
            f"max_tokens is too large: {max_tokens}. This model supports at most {model.max_output} "
            "completion "
            f"tokens, whereas you provided {max_tokens}.",
            param,
            "invalid_value",
        )
    segments, boundaries = _segments(body)
    return SimRequest(
        dialect="relay" if relay else "openai",
        model=model,
        stream=bool(stream),
        max_tokens=max_tokens if max_tokens is not None else 0,  # 0: unset, the window decides
        turns=turns,
        segments=segments,
        boundaries=boundaries,
        stop_sequences=tuple(stops),
        client_tool=client_tools[0] if client_tools else None,
        client_tools=client_tools,
        prefill=relay and model.prefill,
        include_usage=include_usage or relay,
        tool_preface=False,
    )


def _turns(messages: list[Any]) -> list[Turn]:
    turns: list[Turn] = []
    pending: list[str] = []  # tool_call ids still waiting for their tool message
    pending_at = 0
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _bad(
                f"Invalid type for 'messages[{i}]': expected an object, but got {_type_name(m)} instead.",
                f"messages[{i}]",
                "invalid_type",
            )
        role = m.get("role")
        if role is None:
            raise _bad(
                f"Missing required parameter: 'messages[{i}].role'.",
                f"messages[{i}].role",
                "missing_required_parameter",
            )
        if role not in _ROLES:
            raise _bad(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', "
                "and 'developer'.",
                f"messages[{i}].role",
                "invalid_value",
            )
        if role != "tool" and pending:
            raise _missing_tool_results(pending, pending_at)
        text = _text(m.get("content"), i, role)
        if role == "tool":
            call_id = m.get("tool_call_id")
            if call_id not in pending:
                raise _bad(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                    "message with "
                    "'tool_calls'.",
                    f"messages.[{i}].role",
                )
            pending.remove(call_id)
            turns.append(Turn("user", "", tool_results=True))
        elif role == "assistant":
            calls = m.get("tool_calls") or []
            if not isinstance(calls, list):
                raise _bad(
                    f"Invalid type for 'messages[{i}].tool_calls': expected an array of objects, but got "
                    f"{_type_name(calls)} instead.",
                    f"messages[{i}].tool_calls",
                    "invalid_type",
                )
            ids = [str(c.get("id")) for c in calls if isinstance(c, dict)]
            pending, pending_at = list(ids), i
            turns.append(Turn("assistant", text, tool_use_ids=ids))
        elif role == "user":
            turns.append(Turn("user", text))
    if pending:
        raise _missing_tool_results(pending, pending_at)
    return turns


def _missing_tool_results(pending: list[str], at: int) -> SimError:
    return _bad(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
        f"'tool_call_id'. The following tool_call_ids did not have response messages: {', '.join(pending)}",
        f"messages.[{at}].role",
    )


def _text(content: Any, i: int, role: str) -> str:
    if content is None:
        if role in ("user", "system", "developer", "tool"):
            raise _bad(
                f"Missing required parameter: 'messages[{i}].content'.",
                f"messages[{i}].content",
                "missing_required_parameter",
            )
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(
            f"Invalid type for 'messages[{i}].content': expected one of a string or array of objects, "
            "but got "
            f"{_type_name(content)} instead.",
            f"messages[{i}].content",
            "invalid_type",
        )
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return "".join(parts)


def _tool_names(tools: Any) -> tuple[str, ...]:
    if not isinstance(tools, list):
        return ()
    names = []
    for tool in tools:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            names.append(str(function["name"]))
    return tuple(names)


def _segments(body: dict[str, Any]) -> tuple[list[Segment], list[int]]:
    out: list[Segment] = []
    for tool in body.get("tools") or []:
        material = orjson.dumps(tool, option=orjson.OPT_SORT_KEYS).decode()
        out.append(Segment(material, count_tokens(material)))
    boundaries: list[int] = []
    for m in body["messages"]:
        material = orjson.dumps(m, option=orjson.OPT_SORT_KEYS).decode()
        content = m.get("content")
        text = content if isinstance(content, str) else material
        out.append(Segment(material, MESSAGE_OVERHEAD + count_tokens(text)))
        boundaries.append(len(out) - 1)
    return out, boundaries
