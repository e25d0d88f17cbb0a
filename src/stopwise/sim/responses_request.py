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
from typing import Any, TypeGuard

import orjson

from .caching import MESSAGE_OVERHEAD, Segment
from .conversation import Turn
from .engine import SimRequest
from .http_errors import SimError
from .models import ModelInfo, lookup
from .responses_store import ResponseStore
from .tokenizer import count_tokens

__all__ = ["MIN_OUTPUT_TOKENS", "ResponsesRequest", "parse_responses"]

#: The Responses API's floor for ``max_output_tokens``.
MIN_OUTPUT_TOKENS = 16

_ROLES = ("user", "assistant", "system", "developer")
_ITEM_TYPES = ("message", "function_call", "function_call_output", "reasoning", "item_reference")
_EFFORTS = ("minimal", "low", "medium", "high")
_SUMMARIES = ("auto", "concise", "detailed")
_INCLUDABLE = (
    "code_interpreter_call.outputs",
    "computer_call_output.output.image_url",
    "file_search_call.results",
    "message.input_image.image_url",
    "message.output_text.logprobs",
    "reasoning.encrypted_content",
    "web_search_call.action.sources",
    "web_search_call.results",
)
#: Thinking tokens by effort; ``None``: the simulator's default length (SimConfig.thinking_tokens).
_EFFORT_TOKENS: dict[str, int | None] = {"minimal": 16, "low": 64, "medium": None, "high": None}


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


def _bad(message: str, param: str | None = None, code: str | None = None) -> SimError:
    return SimError(400, message, param=param, code=code)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_name(value: object) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array"}.get(
        type(value), "null" if value is None else "an object"
    )


def _invalid_type(param: str, expected: str, value: object) -> SimError:
    return _bad(
        f"Invalid type for '{param}': expected {expected}, but got {_type_name(value)} instead.",
        param,
        "invalid_type",
    )


def _unsupported(param: str) -> SimError:
    return _bad(
        f"Unsupported parameter: '{param}' is not supported with this model.", param, "unsupported_parameter"
    )


def parse_responses(body: Any, store: ResponseStore) -> ResponsesRequest:
    if not isinstance(body, dict):
        raise _bad(f"Invalid type for request body: expected an object, but got {_type_name(body)} instead.")
    if "model" not in body:
        raise _bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    model = lookup(body["model"], "openai")
    if model is None:
        raise _bad(f"The requested model '{body['model']}' does not exist.", "model", "model_not_found")
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise _invalid_type("previous_response_id", "a string", previous)
    if "input" not in body and previous is None:
        raise _bad("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    new_items = _input_items(body.get("input"))
    history: list[dict[str, Any]] = []
    if previous is not None:
        stored = store.get(previous)
        if stored is None:
            raise _bad(
                f"Previous response with id '{previous}' not found.",
                "previous_response_id",
                "previous_response_not_found",
            )
        history = stored.context
    items = [*history, *new_items]
    turns = _turns(items, len(history))
    max_tokens = _max_output_tokens(body.get("max_output_tokens"), model)
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        raise _invalid_type("stream", "a boolean", stream)
    stored_flag = body.get("store", True)
    if not isinstance(stored_flag, bool | None):
        raise _invalid_type("store", "a boolean", stored_flag)
    tools = _tools(body.get("tools"))
    tool_choice = _tool_choice(body.get("tool_choice", "auto"))
    names = tuple(t["name"] for t in tools)
    if tool_choice == "none":
        names = ()  # the model may not call a tool, so the ``tool`` document is never chosen
    effort, summary = _reasoning(body.get("reasoning"), model)
    include = _include(body.get("include"))
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise _invalid_type("instructions", "a string", instructions)
    text = _text_config(body.get("text"), items, instructions)
    temperature, top_p = _sampling(body, model)
    segments, boundaries = _segments(tools, instructions, items)
    chained = sum(s.tokens for s in segments[len(segments) - len(items) :][: len(history)])
    envelope: dict[str, Any] = {
        "instructions": instructions,
        "max_output_tokens": max_tokens,
        "max_tool_calls": body.get("max_tool_calls"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "previous_response_id": previous,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "reasoning": {"effort": effort, "summary": summary},
        "safety_identifier": body.get("safety_identifier"),
        "service_tier": body.get("service_tier") or "auto",
        "store": stored_flag is not False,
        "temperature": temperature,
        "text": text,
        "tool_choice": tool_choice,
        "tools": tools,
        "top_logprobs": body.get("top_logprobs") or 0,
        "top_p": top_p,
        "truncation": body.get("truncation") or "disabled",
        "user": body.get("user"),
        "metadata": _metadata(body.get("metadata")),
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
        thinking_budget=_thinking_budget(effort) if model.reasoning else None,
        envelope=envelope,
        items=items,
        chained_tokens=chained,
        summary=summary,
        encrypted="reasoning.encrypted_content" in include,
        store=stored_flag is not False,
        previous_response_id=previous,
    )


def _thinking_budget(effort: str | None) -> int:
    tokens = _EFFORT_TOKENS.get(effort or "medium")
    # The engine thinks min(budget, SimConfig.thinking_tokens): a large budget means the default.
    return tokens if tokens is not None else 1 << 30


def _input_items(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise _invalid_type("input", "one of a string or array of input items", value)
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise _invalid_type(f"input[{i}]", "an object", item)
    return list(value)


def _item_type(item: dict[str, Any], i: int) -> str:
    kind = item.get("type", "message" if "role" in item else None)
    if kind is None:
        raise _bad(
            f"Missing required parameter: 'input[{i}].type'.",
            f"input[{i}].type",
            "missing_required_parameter",
        )
    if kind not in _ITEM_TYPES:
        supported = ", ".join(f"'{t}'" for t in _ITEM_TYPES)
        raise _bad(
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
            raise _bad(
                f"Missing required parameter: 'input[{i}].content'.",
                f"input[{i}].content",
                "missing_required_parameter",
            )
        raise _invalid_type(f"input[{i}].content", "one of a string or array of input content parts", content)
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
                raise _bad(
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
                raise _bad(f"No tool call found for function call output with call_id {call_id}.", "input")
            calls[call_id] = True
            if not (turns and turns[-1].role == "user" and turns[-1].tool_results):
                turns.append(Turn("user", "", tool_results=True))
    missing = [c for c, answered in calls.items() if not answered]
    if missing:
        raise _bad(f"No tool output found for function call {missing[0]}.", "input")
    return turns


def _max_output_tokens(value: Any, model: ModelInfo) -> int | None:
    if value is None:
        return None
    if not _is_int(value):
        raise _invalid_type("max_output_tokens", "an integer", value)
    if value < MIN_OUTPUT_TOKENS:
        raise _bad(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{MIN_OUTPUT_TOKENS}, but got {value} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )
    if value > model.max_output:
        raise _bad(
            f"max_output_tokens is too large: {value}. This model supports at most {model.max_output} output "
            f"tokens, whereas you provided {value}.",
            "max_output_tokens",
            "invalid_value",
        )
    return value


def _tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid_type("tools", "an array of objects", value)
    out = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise _invalid_type(f"tools[{i}]", "an object", tool)
        if tool.get("type") != "function":
            # Built-in tools (web search, file search, ...) are not simulated here.
            raise _bad(
                f"Invalid value: '{tool.get('type')}'. The simulator supports only 'function' tools.",
                f"tools[{i}].type",
                "invalid_value",
            )
        name = tool.get("name")
        if not isinstance(name, str):
            raise _bad(
                f"Missing required parameter: 'tools[{i}].name'.",
                f"tools[{i}].name",
                "missing_required_parameter",
            )
        # The API echoes function tools normalized, strict on unless turned off.
        out.append(
            {
                "type": "function",
                "description": tool.get("description"),
                "name": name,
                "parameters": tool.get("parameters"),
                "strict": tool.get("strict", True) is not False,
            }
        )
    return out


def _tool_choice(value: Any) -> Any:
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        return {"type": "function", "name": value["name"]}
    raise _bad(
        f"Invalid value: {orjson.dumps(value).decode()}. Supported values are: 'none', 'auto', "
        "'required', or an object naming a function.",
        "tool_choice",
        "invalid_value",
    )


def _reasoning(value: Any, model: ModelInfo) -> tuple[str | None, str | None]:
    if value is None:
        return ("medium" if model.reasoning else None), None
    if not isinstance(value, dict):
        raise _invalid_type("reasoning", "an object", value)
    effort = value.get("effort")
    summary = value.get("summary", value.get("generate_summary"))
    if not model.reasoning:
        if effort is not None:
            raise _unsupported("reasoning.effort")
        if summary is not None:
            raise _unsupported("reasoning.summary")
        return None, None
    if effort is not None and effort not in _EFFORTS:
        supported = ", ".join(f"'{e}'" for e in _EFFORTS[:-1]) + f", and '{_EFFORTS[-1]}'"
        raise _bad(
            f"Invalid value: '{effort}'. Supported values are: {supported}.",
            "reasoning.effort",
            "invalid_value",
        )
    if effort == "minimal" and model.name != "gpt-5":
        raise _bad(
            "Unsupported value: 'reasoning.effort' does not support 'minimal' with this model. Supported "
            "values are: 'low', 'medium', and 'high'.",
            "reasoning.effort",
            "unsupported_value",
        )
    if summary is not None and summary not in _SUMMARIES:
        raise _bad(
            f"Invalid value: '{summary}'. Supported values are: 'auto', 'concise', and 'detailed'.",
            "reasoning.summary",
            "invalid_value",
        )
    # "auto" is reported as the summarizer the model picks: "detailed" for these models.
    return effort or "medium", ("detailed" if summary == "auto" else summary)


def _include(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid_type("include", "an array of strings", value)
    for i, entry in enumerate(value):
        if entry not in _INCLUDABLE:
            supported = ", ".join(f"'{v}'" for v in _INCLUDABLE)
            raise _bad(
                f"Invalid value: '{entry}'. Supported values are: {supported}.",
                f"include[{i}]",
                "invalid_value",
            )
    return [str(v) for v in value]


def _text_config(value: Any, items: list[dict[str, Any]], instructions: str | None) -> dict[str, Any]:
    if value is None:
        return {"format": {"type": "text"}, "verbosity": "medium"}
    if not isinstance(value, dict):
        raise _invalid_type("text", "an object", value)
    fmt = value.get("format") or {"type": "text"}
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise _bad(
            "Invalid value for 'text.format.type': expected one of 'text', 'json_object', 'json_schema'.",
            "text.format.type",
            "invalid_value",
        )
    if fmt["type"] == "json_schema":
        for key in ("name", "schema"):
            if key not in fmt:
                raise _bad(
                    f"Missing required parameter: 'text.format.{key}'.",
                    f"text.format.{key}",
                    "missing_required_parameter",
                )
        fmt = {
            "type": "json_schema",
            "description": fmt.get("description"),
            "name": fmt["name"],
            "schema": fmt["schema"],
            "strict": fmt.get("strict", False) is True,
        }
    if fmt["type"] == "json_object":
        words = [instructions or ""] + [orjson.dumps(item).decode() for item in items]
        if not any("json" in w.lower() for w in words):
            raise _bad(
                "Response input messages must contain the word 'json' in some form to use 'text.format' of "
                "type 'json_object'.",
                "input",
            )
        fmt = {"type": "json_object"}
    return {"format": fmt, "verbosity": value.get("verbosity") or "medium"}


def _sampling(body: dict[str, Any], model: ModelInfo) -> tuple[float, float]:
    out = []
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            out.append(1.0)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _invalid_type(name, "a number", value)
        if model.reasoning:
            # Reasoning models take no sampling parameters (brief/wire.md, OpenAI 400s).
            raise _unsupported(name)
        out.append(float(value))
    return out[0], out[1]


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _invalid_type("metadata", "an object with string values", value)
    if len(value) > 16:
        raise _bad(
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but "
            f"got an object with {len(value)} properties instead.",
            "metadata",
            "object_above_max_properties",
        )
    return dict(value)


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
