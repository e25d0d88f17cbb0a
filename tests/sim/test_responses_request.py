"""Responses API request validation: OpenAI's error envelope and texts through the SDK, and no
body (however wrong) makes a 500."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.sim import create_app

MODEL = "gpt-4.1"


def bad(gpt: openai.OpenAI, **kwargs: Any) -> dict[str, Any]:
    """The error object of a request that must be a 400."""
    with pytest.raises(openai.BadRequestError) as err:
        gpt.responses.create(**kwargs)
    assert err.value.status_code == 400
    body = err.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    assert body["type"] == "invalid_request_error"
    return body


def test_max_output_tokens_floor_and_ceiling(gpt: openai.OpenAI) -> None:
    assert bad(gpt, model=MODEL, input="x", max_output_tokens=15) == {
        "message": "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but "
        "got 15 instead.",
        "type": "invalid_request_error",
        "param": "max_output_tokens",
        "code": "integer_below_min_value",
    }
    assert gpt.responses.create(model=MODEL, input="x", max_output_tokens=16).status == "incomplete"
    too_big = bad(gpt, model="gpt-4o", input="x", max_output_tokens=16385)
    assert too_big["message"].startswith(
        "max_output_tokens is too large: 16385. This model supports at most 16384"
    )
    wrong = bad(gpt, model=MODEL, input="x", max_output_tokens="9")
    assert wrong["code"] == "invalid_type" and "expected an integer, but got a string" in wrong["message"]


def test_model_and_input(gpt: openai.OpenAI) -> None:
    unknown = bad(gpt, model="gpt-nope", input="x")
    assert unknown["message"] == "The requested model 'gpt-nope' does not exist."
    assert unknown["code"] == "model_not_found" and unknown["param"] == "model"
    assert bad(gpt, model="claude-haiku-4-5", input="x")["code"] == "model_not_found"
    assert bad(gpt, model=MODEL)["message"] == "Missing required parameter: 'input'."
    assert bad(gpt, model=MODEL, input={"a": 1})["param"] == "input"
    role = bad(gpt, model=MODEL, input=[{"role": "bot", "content": "x"}])
    assert role["param"] == "input[0].role" and role["message"].startswith("Invalid value: 'bot'.")
    kind = bad(gpt, model=MODEL, input=["x"])
    assert kind["param"] == "input[0]" and kind["code"] == "invalid_type"


def test_tool_items_must_pair(gpt: openai.OpenAI) -> None:
    orphan = [
        {"role": "user", "content": "x"},
        {"type": "function_call_output", "call_id": "call_1", "output": "ok"},
    ]
    assert bad(gpt, model=MODEL, input=orphan)["message"] == (
        "No tool call found for function call output with call_id call_1."
    )
    unanswered = [
        {"role": "user", "content": "tool"},
        {"type": "function_call", "call_id": "call_2", "name": "f", "arguments": "{}"},
        {"role": "user", "content": "go on"},
    ]
    assert (
        bad(gpt, model=MODEL, input=unanswered)["message"] == "No tool output found for function call call_2."
    )


def test_previous_response_must_exist(gpt: openai.OpenAI) -> None:
    assert bad(gpt, model=MODEL, input="x", previous_response_id="resp_missing") == {
        "message": "Previous response with id 'resp_missing' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }


def test_reasoning_and_sampling_per_model(gpt: openai.OpenAI) -> None:
    assert bad(gpt, model="gpt-4o", input="x", reasoning={"effort": "low"}) == {
        "message": "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
        "type": "invalid_request_error",
        "param": "reasoning.effort",
        "code": "unsupported_parameter",
    }
    assert bad(gpt, model="o4-mini", input="x", temperature=0.2)["param"] == "temperature"
    assert (
        bad(gpt, model="o4-mini", input="x", reasoning={"effort": "minimal"})["code"] == "unsupported_value"
    )
    assert bad(gpt, model="gpt-5", input="x", reasoning={"effort": "extreme"})["param"] == "reasoning.effort"
    low = gpt.responses.create(model="gpt-5", input="x", reasoning={"effort": "minimal"})
    assert low.usage is not None and low.usage.output_tokens_details.reasoning_tokens == 16
    assert (
        gpt.responses.create(model=MODEL, input="x", temperature=0.2, max_output_tokens=16).temperature == 0.2
    )


def test_text_format_and_tools(gpt: openai.OpenAI) -> None:
    no_word = bad(gpt, model=MODEL, input="x", text={"format": {"type": "json_object"}})
    assert "must contain the word 'json'" in no_word["message"]
    schema = {"type": "json_schema", "name": "doc", "schema": {"type": "object"}, "strict": True}
    r = gpt.responses.create(model=MODEL, input="json", text={"format": schema}, max_output_tokens=16)  # type: ignore[typeddict-item]
    assert r.text is not None and r.text.format.type == "json_schema"
    assert bad(gpt, model=MODEL, input="x", text={"format": {"type": "json_schema", "name": "d"}})[
        "param"
    ] == ("text.format.schema")
    assert bad(gpt, model=MODEL, input="x", tools=[{"type": "web_search"}])["param"] == "tools[0].type"
    assert bad(gpt, model=MODEL, input="x", tool_choice="sometimes")["param"] == "tool_choice"
    tools: Any = [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    echoed = gpt.responses.create(model=MODEL, input="x", tools=tools, max_output_tokens=16).tools[0]
    assert echoed.type == "function" and echoed.strict is True and echoed.description is None


def test_include_and_metadata(gpt: openai.OpenAI) -> None:
    assert bad(gpt, model=MODEL, input="x", include=["everything"])["param"] == "include[0]"
    many = {str(i): "v" for i in range(17)}
    assert bad(gpt, model=MODEL, input="x", metadata=many)["code"] == "object_above_max_properties"


def test_context_window(gpt: openai.OpenAI) -> None:
    over = bad(gpt, model=MODEL, input="x" * 200, extra_headers={"x-sim-context-window": "20"})
    assert over["code"] == "context_length_exceeded" and over["param"] == "input"
    # max_output_tokens is a ceiling: the answer stops where the window ends.
    r = gpt.responses.create(
        model=MODEL, input="prose", max_output_tokens=500, extra_headers={"x-sim-context-window": "40"}
    )
    assert r.usage is not None and r.usage.input_tokens + r.usage.output_tokens == 40
    assert r.incomplete_details is not None and r.incomplete_details.reason == "max_output_tokens"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 200_000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "model",
    "input",
    "instructions",
    "max_output_tokens",
    "stream",
    "store",
    "tools",
    "tool_choice",
    "text",
    "reasoning",
    "include",
    "metadata",
    "previous_response_id",
    "temperature",
]
ITEM_KEYS = ["type", "role", "content", "call_id", "name", "arguments", "output", "summary", "id"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    model=st.sampled_from(["gpt-4.1", "o4-mini", "gpt-5"]),
    changes=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=3),
    items=st.lists(st.dictionaries(st.sampled_from(ITEM_KEYS), JSON), max_size=3),
)
def test_no_body_makes_a_500(model: str, changes: dict[str, Any], items: list[dict[str, Any]]) -> None:
    body = {"model": model, "input": [{"role": "user", "content": "tool json"}, *items], **changes}

    async def send() -> int:
        transport = httpx2.ASGITransport(create_app())
        async with httpx2.AsyncClient(transport=transport, base_url="http://sim") as client:
            return (await client.post("/v1/responses", json=body)).status_code

    assert asyncio.run(send()) < 500
