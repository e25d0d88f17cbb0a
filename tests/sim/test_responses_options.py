"""The Responses API's request options on their own (no sockets): defaults, normalization and
the 400s, checked on the :class:`SimError` each raises."""

from __future__ import annotations

from typing import Any

import pytest

from stopwise.sim.http_errors import SimError
from stopwise.sim.models import MODELS
from stopwise.sim.responses_options import (
    plain_fields,
    reasoning,
    sampling,
    text_config,
    thinking_budget,
    tool_choice,
    tools,
)


def error(call: Any, *args: Any) -> SimError:
    with pytest.raises(SimError) as err:
        call(*args)
    assert err.value.status == 400
    return err.value


def test_plain_fields_defaults_and_echo() -> None:
    assert plain_fields({}) == {
        "service_tier": "auto",
        "truncation": "disabled",
        "prompt_cache_key": None,
        "safety_identifier": None,
        "user": None,
        "parallel_tool_calls": True,
        "top_logprobs": 0,
        "max_tool_calls": None,
    }
    given = {"service_tier": "flex", "truncation": "auto", "user": "u", "parallel_tool_calls": False}
    assert plain_fields(given | {"top_logprobs": 20, "max_tool_calls": 3}) == {
        "service_tier": "flex",
        "truncation": "auto",
        "prompt_cache_key": None,
        "safety_identifier": None,
        "user": "u",
        "parallel_tool_calls": False,
        "top_logprobs": 20,
        "max_tool_calls": 3,
    }


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"truncation": "sometimes"}, "truncation", "invalid_value"),
        ({"service_tier": 1}, "service_tier", "invalid_value"),
        ({"user": 5}, "user", "invalid_type"),
        ({"parallel_tool_calls": "yes"}, "parallel_tool_calls", "invalid_type"),
        ({"top_logprobs": 21}, "top_logprobs", "integer_out_of_range"),
        ({"max_tool_calls": 0}, "max_tool_calls", "integer_out_of_range"),
        ({"max_tool_calls": 1.5}, "max_tool_calls", "invalid_type"),
    ],
)
def test_plain_fields_reject(body: dict[str, Any], param: str, code: str) -> None:
    err = error(plain_fields, body)
    assert (err.param, err.code) == (param, code)


def test_tools_are_echoed_normalized() -> None:
    assert tools([{"type": "function", "name": "f", "strict": False, "extra": 1}]) == [
        {"type": "function", "description": None, "name": "f", "parameters": None, "strict": False}
    ]
    assert error(tools, [{"type": "function"}]).param == "tools[0].name"
    assert tool_choice({"type": "function", "name": "f", "x": 1}) == {"type": "function", "name": "f"}


def test_reasoning_defaults_per_model() -> None:
    assert reasoning(None, MODELS["gpt-4o"]) == (None, None)
    assert reasoning(None, MODELS["o4-mini"]) == ("medium", None)
    assert reasoning({"summary": "auto"}, MODELS["gpt-5"]) == ("medium", "detailed")
    assert reasoning({"effort": "low", "summary": "concise"}, MODELS["o4-mini"]) == ("low", "concise")
    assert error(reasoning, {"summary": "all"}, MODELS["o4-mini"]).param == "reasoning.summary"
    assert thinking_budget("minimal") < thinking_budget("low") < thinking_budget("medium")


def test_sampling_and_text() -> None:
    assert sampling({}, MODELS["gpt-5"]) == (1.0, 1.0)
    assert sampling({"temperature": 0, "top_p": 0.5}, MODELS["gpt-4.1"]) == (0.0, 0.5)
    assert error(sampling, {"top_p": "high"}, MODELS["gpt-4.1"]).code == "invalid_type"
    assert text_config(None, [], None) == {"format": {"type": "text"}, "verbosity": "medium"}
    json_ok = text_config({"format": {"type": "json_object"}}, [], "Reply in JSON.")
    assert json_ok == {"format": {"type": "json_object"}, "verbosity": "medium"}
    assert error(text_config, {"format": {"type": "yaml"}}, [], None).param == "text.format.type"
    assert text_config({"verbosity": "low"}, [], None)["verbosity"] == "low"
    assert error(text_config, {"verbosity": "loud"}, [], None).param == "text.verbosity"
