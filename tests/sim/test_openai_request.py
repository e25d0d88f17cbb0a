"""Bad Chat Completions requests get OpenAI's error bodies, never a 500."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

USER = {"role": "user", "content": "prose"}


def post(sim_url: str, body: Any) -> httpx2.Response:
    return httpx2.post(f"{sim_url}/v1/chat/completions", json=body)


@pytest.mark.parametrize(
    ("body", "message", "param", "code"),
    [
        ({"messages": [USER]}, "you must provide a model parameter", None, None),
        (
            {"model": "gpt-4o"},
            "Missing required parameter: 'messages'.",
            "messages",
            "missing_required_parameter",
        ),
        (
            {"model": "gpt-4o", "messages": []},
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.",
            "messages",
            "empty_array",
        ),
        (
            {"model": "gpt-4o", "messages": [{"role": "bot", "content": "x"}]},
            "Invalid value: 'bot'. Supported values are: 'system', 'assistant', 'user', 'function', "
            "'tool', and "
            "'developer'.",
            "messages[0].role",
            "invalid_value",
        ),
        (
            {"model": "gpt-4o", "messages": [USER], "max_tokens": 20000},
            "max_tokens is too large: 20000. This model supports at most 16384 completion tokens, "
            "whereas you "
            "provided 20000.",
            "max_tokens",
            "invalid_value",
        ),
        (
            {"model": "gpt-4o", "messages": [USER], "max_tokens": 0},
            "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0 instead.",
            "max_tokens",
            "integer_below_min_value",
        ),
        (
            {
                "model": "gpt-4o",
                "messages": [USER, {"role": "tool", "tool_call_id": "call_1", "content": "x"}],
            },
            "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with "
            "'tool_calls'.",
            "messages.[1].role",
            None,
        ),
    ],
)
def test_invalid_request_errors(
    sim_url: str, body: Any, message: str, param: str | None, code: str | None
) -> None:
    response = post(sim_url, body)
    assert response.status_code == 400
    assert response.json() == {
        "error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}
    }
    assert response.headers["x-request-id"].startswith("req_")


def test_tool_calls_need_tool_messages(gpt: openai.OpenAI) -> None:
    messages = [
        USER,
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ],
        },
        {"role": "user", "content": "hm"},
    ]
    with pytest.raises(openai.BadRequestError, match="did not have response messages: call_9"):
        gpt.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]


def test_malformed_json_and_garbage(sim_url: str) -> None:
    response = httpx2.post(
        f"{sim_url}/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert (
        response.status_code == 400 and "could not parse the JSON body" in response.json()["error"]["message"]
    )
    for body in [
        None,
        "x",
        {"model": "gpt-4o", "messages": [None]},
        {"model": "gpt-4o", "messages": [{"role": "user"}]},
        {"model": "gpt-4o", "messages": [{"role": "user", "content": 3}]},
        {"model": "gpt-4o", "messages": [USER], "stop": 3},
        {"model": "gpt-4o", "messages": [USER], "max_tokens": "9"},
        {"model": "gpt-4o", "messages": "hi"},
    ]:
        assert post(sim_url, body).status_code == 400, body


def test_unknown_model_is_a_404(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        gpt.chat.completions.create(model="gpt-9", messages=[USER])  # type: ignore[list-item]
    assert info.value.code == "model_not_found"
    assert info.value.message.endswith("The model `gpt-9` does not exist or you do not have access to it.")


def test_context_length_exceeded(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        gpt.chat.completions.create(
            model="gpt-4o", messages=[USER], extra_headers={"x-sim-context-window": "4"}
        )  # type: ignore[list-item]
    assert info.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as info:
        gpt.chat.completions.create(
            model="gpt-4o",
            messages=[USER],
            max_tokens=100,
            extra_headers={"x-sim-context-window": "50"},  # type: ignore[list-item]
        )
    assert info.value.body["message"] == (  # type: ignore[index]
        "This model's maximum context length is 50 tokens. However, you requested 108 tokens (8 in "
        "the messages, "
        "100 in the completion). Please reduce the length of the messages or completion."
    )


def test_no_max_tokens_means_the_rest_of_the_window(gpt: openai.OpenAI) -> None:
    cut = gpt.chat.completions.create(
        model="gpt-4o", messages=[USER], extra_headers={"x-sim-context-window": "30"}
    )  # type: ignore[list-item]
    assert cut.choices[0].finish_reason == "length" and cut.usage is not None and cut.usage.total_tokens == 30


def test_models_list(gpt: openai.OpenAI) -> None:
    ids = {m.id for m in gpt.models.list()}
    assert {"gpt-4o", "gpt-4.1"} <= ids and "claude-opus-4-6" not in ids
    assert gpt.models.retrieve("gpt-4.1").id == "gpt-4.1"
