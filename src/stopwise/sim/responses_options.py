"""The Responses API's request options (everything but the input): each validated with OpenAI's
own 400 texts and normalized the way the response object echoes it (``tools`` with ``strict``
filled in, ``reasoning`` with the effort the model uses, ``text`` with its verbosity).
"""

from __future__ import annotations

from typing import Any, TypeGuard

import orjson

from .http_errors import SimError
from .models import ModelInfo

__all__ = [
    "MIN_OUTPUT_TOKENS",
    "bad",
    "include",
    "invalid_type",
    "max_output_tokens",
    "metadata",
    "plain_fields",
    "reasoning",
    "sampling",
    "text_config",
    "thinking_budget",
    "tool_choice",
    "tools",
    "type_name",
]

#: The Responses API's floor for ``max_output_tokens``.
MIN_OUTPUT_TOKENS = 16

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


def bad(message: str, param: str | None = None, code: str | None = None) -> SimError:
    return SimError(400, message, param=param, code=code)


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def type_name(value: object) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "an array"}.get(
        type(value), "null" if value is None else "an object"
    )


def invalid_type(param: str, expected: str, value: object) -> SimError:
    return bad(
        f"Invalid type for '{param}': expected {expected}, but got {type_name(value)} instead.",
        param,
        "invalid_type",
    )


def unsupported(param: str) -> SimError:
    return bad(
        f"Unsupported parameter: '{param}' is not supported with this model.", param, "unsupported_parameter"
    )


def thinking_budget(effort: str | None) -> int:
    tokens = _EFFORT_TOKENS.get(effort or "medium")
    # The engine thinks min(budget, SimConfig.thinking_tokens): a large budget means the default.
    return tokens if tokens is not None else 1 << 30


def max_output_tokens(value: Any, model: ModelInfo) -> int | None:
    if value is None:
        return None
    if not is_int(value):
        raise invalid_type("max_output_tokens", "an integer", value)
    if value < MIN_OUTPUT_TOKENS:
        raise bad(
            "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{MIN_OUTPUT_TOKENS}, but got {value} instead.",
            "max_output_tokens",
            "integer_below_min_value",
        )
    if value > model.max_output:
        raise bad(
            f"max_output_tokens is too large: {value}. This model supports at most {model.max_output} output "
            f"tokens, whereas you provided {value}.",
            "max_output_tokens",
            "invalid_value",
        )
    return value


def tools(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type("tools", "an array of objects", value)
    out = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict):
            raise invalid_type(f"tools[{i}]", "an object", tool)
        if tool.get("type") != "function":
            # Built-in tools (web search, file search, ...) are not simulated here.
            raise bad(
                f"Invalid value: '{tool.get('type')}'. The simulator supports only 'function' tools.",
                f"tools[{i}].type",
                "invalid_value",
            )
        name = tool.get("name")
        if not isinstance(name, str):
            raise bad(
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


def tool_choice(value: Any) -> Any:
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        return {"type": "function", "name": value["name"]}
    raise bad(
        f"Invalid value: {orjson.dumps(value).decode()}. Supported values are: 'none', 'auto', "
        "'required', or an object naming a function.",
        "tool_choice",
        "invalid_value",
    )


def reasoning(value: Any, model: ModelInfo) -> tuple[str | None, str | None]:
    if value is None:
        return ("medium" if model.reasoning else None), None
    if not isinstance(value, dict):
        raise invalid_type("reasoning", "an object", value)
    effort = value.get("effort")
    summary = value.get("summary", value.get("generate_summary"))
    if not model.reasoning:
        if effort is not None:
            raise unsupported("reasoning.effort")
        if summary is not None:
            raise unsupported("reasoning.summary")
        return None, None
    if effort is not None and effort not in _EFFORTS:
        supported = ", ".join(f"'{e}'" for e in _EFFORTS[:-1]) + f", and '{_EFFORTS[-1]}'"
        raise bad(
            f"Invalid value: '{effort}'. Supported values are: {supported}.",
            "reasoning.effort",
            "invalid_value",
        )
    if effort == "minimal" and model.name != "gpt-5":
        raise bad(
            "Unsupported value: 'reasoning.effort' does not support 'minimal' with this model. Supported "
            "values are: 'low', 'medium', and 'high'.",
            "reasoning.effort",
            "unsupported_value",
        )
    if summary is not None and summary not in _SUMMARIES:
        raise bad(
            f"Invalid value: '{summary}'. Supported values are: 'auto', 'concise', and 'detailed'.",
            "reasoning.summary",
            "invalid_value",
        )
    # "auto" is reported as the summarizer the model picks: "detailed" for these models.
    return effort or "medium", ("detailed" if summary == "auto" else summary)


def include(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_type("include", "an array of strings", value)
    for i, entry in enumerate(value):
        if entry not in _INCLUDABLE:
            supported = ", ".join(f"'{v}'" for v in _INCLUDABLE)
            raise bad(
                f"Invalid value: '{entry}'. Supported values are: {supported}.",
                f"include[{i}]",
                "invalid_value",
            )
    return [str(v) for v in value]


def text_config(value: Any, items: list[dict[str, Any]], instructions: str | None) -> dict[str, Any]:
    if value is None:
        return {"format": {"type": "text"}, "verbosity": "medium"}
    if not isinstance(value, dict):
        raise invalid_type("text", "an object", value)
    fmt = value.get("format") or {"type": "text"}
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise bad(
            "Invalid value for 'text.format.type': expected one of 'text', 'json_object', 'json_schema'.",
            "text.format.type",
            "invalid_value",
        )
    if fmt["type"] == "json_schema":
        for key in ("name", "schema"):
            if key not in fmt:
                raise bad(
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
            raise bad(
                "Response input messages must contain the word 'json' in some form to use 'text.format' of "
                "type 'json_object'.",
                "input",
            )
        fmt = {"type": "json_object"}
    verbosity = value.get("verbosity") or "medium"
    if verbosity not in ("low", "medium", "high"):
        raise bad(
            f"Invalid value: '{verbosity}'. Supported values are: 'low', 'medium', and 'high'.",
            "text.verbosity",
            "invalid_value",
        )
    return {"format": fmt, "verbosity": verbosity}


def sampling(body: dict[str, Any], model: ModelInfo) -> tuple[float, float]:
    out = []
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            out.append(1.0)
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid_type(name, "a number", value)
        if model.reasoning:
            # OpenAI's reasoning models (o-series, gpt-5) reject sampling parameters with this 400.
            raise unsupported(name)
        out.append(float(value))
    return out[0], out[1]


def metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise invalid_type("metadata", "an object with string values", value)
    if len(value) > 16:
        raise bad(
            "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but "
            f"got an object with {len(value)} properties instead.",
            "metadata",
            "object_above_max_properties",
        )
    return dict(value)


#: Echoed fields with a fixed set of values: field -> (values, default).
_CHOICES: dict[str, tuple[tuple[str, ...], str]] = {
    "service_tier": (("auto", "default", "flex", "priority", "scale"), "auto"),
    "truncation": (("auto", "disabled"), "disabled"),
}
_STRINGS = ("prompt_cache_key", "safety_identifier", "user")


def plain_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The echoed fields that change nothing here, type-checked, with the API's defaults."""
    out: dict[str, Any] = {}
    for name, (values, default) in _CHOICES.items():
        value = body.get(name)
        if value is not None and value not in values:
            supported = ", ".join(f"'{v}'" for v in values)
            raise bad(f"Invalid value: '{value}'. Supported values are: {supported}.", name, "invalid_value")
        out[name] = value or default
    for name in _STRINGS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid_type(name, "a string", value)
        out[name] = value
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise invalid_type("parallel_tool_calls", "a boolean", parallel)
    out["parallel_tool_calls"] = parallel is not False
    for name, floor, ceiling in (("top_logprobs", 0, 20), ("max_tool_calls", 1, None)):
        value = body.get(name)
        if value is None:
            out[name] = 0 if name == "top_logprobs" else None
            continue
        if not is_int(value):
            raise invalid_type(name, "an integer", value)
        if value < floor or (ceiling is not None and value > ceiling):
            raise bad(
                f"Invalid '{name}': integer out of range. Expected a value between {floor} and "
                f"{ceiling if ceiling is not None else 'unbounded'}, but got {value} instead.",
                name,
                "integer_out_of_range",
            )
        out[name] = value
    return out
