"""Validating a Responses API request (``POST /v1/responses``) with OpenAI's own 400 texts, and
reducing it to a :class:`ResponsesRequest` for the shared engine.

The input is a string or a list of items: messages (``role`` with a string or a list of
``input_text``/``output_text`` parts, with or without ``"type": "message"``), ``function_call``
and ``function_call_output`` items, and ``reasoning`` items handed back. With
``previous_response_id`` the stored response's input and output come first, as the real API
rebuilds the context (and bills it again as input). Like Chat Completions there is no prefill: a
final assistant message is a finished turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from . import responses_options as options
from .caching import MESSAGE_OVERHEAD, Segment
from .conversation import Turn
from .engine import SimRequest
from .models import lookup
from .responses_options import bad, invalid_type, type_name
from .responses_store import ResponseStore
from .tokenizer import count_tokens

__all__ = ["ResponsesRequest", "parse_responses"]

_ROLES = ("user", "assistant", "system", "developer")
_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "item_reference")


@dataclass
class ResponsesRequest(SimRequest):
    #: The request fields the response object echoes, in the API's order (see responses_render).
    envelope: dict[str, Any] = field(default_factory=dict)
    #: The whole context answered: the chained response's input and output, then this input.
    items: list[dict[str, Any]] = field(default_factory=list)
    #: Input tokens that came from ``previous_response_id`` (billed again, as the API does).
    chained_tokens: int = 0
    summary: str | None = None  # reasoning.summary
    encrypted: bool = False  # include: reasoning.encrypted_content
    store: bool = True
    previous_response_id: str | None = None


def parse_responses(body: Any, store: ResponseStore) -> ResponsesRequest:
    if not isinstance(body, dict):
        raise bad(f"Invalid type for request body: expected an object, but got {type_name(body)} instead.")
    if "model" not in body:
        raise bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    model = lookup(body["model"], "openai")
    if model is None:
        raise bad(f"The requested model '{body['model']}' does not exist.", "model", "model_not_found")
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise invalid_type("previous_response_id", "a string", previous)
    if "input" not in body and previous is None:
        raise bad("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    new_items = _input_items(body.get("input"))
    history: list[dict[str, Any]] = []
    if previous is not None:
        stored = store.get(previous)
        if stored is None:
            raise bad(
                f"Previous response with id '{previous}' not found.",
                "previous_response_id",
                "previous_response_not_found",
            )
        history = stored.context
    items = [*history, *new_items]
    turns = _turns(items, len(history))
    max_tokens = options.max_output_tokens(body.get("max_output_tokens"), model)
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        raise invalid_type("stream", "a boolean", stream)
    stored_flag = body.get("store", True)
    if not isinstance(stored_flag, bool | None):
        raise invalid_type("store", "a boolean", stored_flag)
    tools = options.tools(body.get("tools"))
    tool_choice = options.tool_choice(body.get("tool_choice", "auto"))
    names = tuple(t["name"] for t in tools)
    if tool_choice == "none":
        names = ()  # the model may not call a tool, so the ``tool`` document is never chosen
    effort, summary = options.reasoning(body.get("reasoning"), model)
    include = options.include(body.get("include"))
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise invalid_type("instructions", "a string", instructions)
    text = options.text_config(body.get("text"), items, instructions)
    temperature, top_p = options.sampling(body, model)
    segments, boundaries = _segments(tools, instructions, items)
    plain = options.plain_fields(body)
    envelope: dict[str, Any] = {
        "instructions": instructions,
        "max_output_tokens": max_tokens,
        "max_tool_calls": plain["max_tool_calls"],
        "parallel_tool_calls": plain["parallel_tool_calls"],
        "previous_response_id": previous,
        "prompt_cache_key": plain["prompt_cache_key"],
        "reasoning": {"effort": effort, "summary": summary},
        "safety_identifier": plain["safety_identifier"],
        "service_tier": plain["service_tier"],
        "store": stored_flag is not False,
        "temperature": temperature,
        "text": text,
        "tool_choice": tool_choice,
        "tools": tools,
        "top_logprobs": plain["top_logprobs"],
        "top_p": top_p,
        "truncation": plain["truncation"],
        "user": plain["user"],
        "metadata": options.metadata(body.get("metadata")),
    }
    return ResponsesRequest(
        dialect="responses",
        model=model,
        stream=bool(stream),
        max_tokens=max_tokens or 0,  # 0: unset, the ceiling or the window decides
        turns=turns,
        segments=segments,
        boundaries=boundaries,
        client_tool=names[0] if names else None,
        client_tools=names,
        tool_preface=False,  # like Chat Completions, the call comes alone
        thinking_budget=options.thinking_budget(effort) if model.reasoning else None,
        envelope=envelope,
        items=items,
        chained_tokens=sum(_item_tokens(item) for item in history),
        summary=summary,
        encrypted="reasoning.encrypted_content" in include,
        store=stored_flag is not False,
        previous_response_id=previous,
    )


def _input_items(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise invalid_type("input", "one of a string or array of input items", value)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise invalid_type(f"input[{i}]", "an object", item)
    return list(value)


def _item_type(item: dict[str, Any], i: int) -> str:
    kind = item.get("type", "message" if "role" in item else None)
    if kind is None:
        raise bad(
            f"Missing required parameter: 'input[{i}].type'.",
            f"input[{i}].type",
            "missing_required_parameter",
        )
    if kind not in _ITEM_TYPES:
        supported = ", ".join(f"'{t}'" for t in _ITEM_TYPES)
        raise bad(
            f"Invalid value: '{kind}'. Supported values are: {supported}.",
            f"input[{i}].type",
            "invalid_value",
        )
    return str(kind)


def _message_text(item: dict[str, Any], i: int) -> str:
    content = item.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        if content is None:
            raise bad(
                f"Missing required parameter: 'input[{i}].content'.",
                f"input[{i}].content",
                "missing_required_parameter",
            )
        raise invalid_type(f"input[{i}].content", "one of a string or array of input content parts", content)
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") in ("input_text", "output_text"):
            text = part.get("text")
            if isinstance(text, str):
                parts.append(text)
    return "".join(parts)


def _turns(items: list[dict[str, Any]], offset: int) -> list[Turn]:
    """``offset``: how many items came from the chain (error paths count this request's input)."""
    turns: list[Turn] = []
    calls: dict[str, bool] = {}  # call_id -> answered
    for n, item in enumerate(items):
        i = n - offset
        kind = _item_type(item, i)
        if kind == "message":
            role = item.get("role")
            if role not in _ROLES:
                raise bad(
                    f"Invalid value: '{role}'. Supported values are: 'assistant', 'system', 'developer', and "
                    "'user'.",
                    f"input[{i}].role",
                    "invalid_value",
                )
            text = _message_text(item, i)
            if role in ("user", "assistant"):
                turns.append(Turn(str(role), text))
        elif kind == "function_call":
            call_id = str(item.get("call_id"))
            calls[call_id] = False
            if turns and turns[-1].role == "assistant":
                # Calls after the assistant's text (or after each other) belong to the same turn.
                turns[-1].tool_use_ids.append(call_id)
            else:
                turns.append(Turn("assistant", "", tool_use_ids=[call_id]))
        elif kind == "function_call_output":
            call_id = str(item.get("call_id"))
            if call_id not in calls:
                raise bad(f"No tool call found for function call output with call_id {call_id}.", "input")
            calls[call_id] = True
            if not (turns and turns[-1].role == "user" and turns[-1].tool_results):
                turns.append(Turn("user", "", tool_results=True))
    missing = [c for c, answered in calls.items() if not answered]
    if missing:
        raise bad(f"No tool output found for function call {missing[0]}.", "input")
    return turns


def _item_tokens(item: dict[str, Any]) -> int:
    kind = item.get("type", "message")
    if kind == "message":
        content = item.get("content")
        if isinstance(content, str):
            return MESSAGE_OVERHEAD + count_tokens(content)
        parts = content if isinstance(content, list) else []
        tokens = MESSAGE_OVERHEAD
        for part in parts:
            text = part.get("text") if isinstance(part, dict) else None
            tokens += count_tokens(text if isinstance(text, str) else orjson.dumps(part).decode())
        return tokens
    if kind == "function_call":
        return (
            MESSAGE_OVERHEAD
            + count_tokens(str(item.get("name", "")))
            + count_tokens(str(item.get("arguments", "")))
        )
    if kind == "function_call_output":
        output = item.get("output")
        return MESSAGE_OVERHEAD + count_tokens(
            output if isinstance(output, str) else orjson.dumps(output).decode()
        )
    # Reasoning items handed back cost nothing: the API drops earlier turns' reasoning from the
    # context (its reasoning guide), so they are not billed again.
    return 0


def _segments(
    tools: list[dict[str, Any]], instructions: str | None, items: list[dict[str, Any]]
) -> tuple[list[Segment], list[int]]:
    """Tools, instructions, then one segment per item (the last ``len(items)``), for the prompt
    cache and the input count."""
    out: list[Segment] = []
    for tool in tools:
        material = orjson.dumps(tool, option=orjson.OPT_SORT_KEYS).decode()
        out.append(Segment(material, count_tokens(material)))
    if instructions is not None:
        out.append(Segment(f"instructions:{instructions}", MESSAGE_OVERHEAD + count_tokens(instructions)))
    boundaries: list[int] = []
    for item in items:
        material = orjson.dumps(item, option=orjson.OPT_SORT_KEYS).decode()
        out.append(Segment(material, _item_tokens(item)))
        boundaries.append(len(out) - 1)
    return out, boundaries
