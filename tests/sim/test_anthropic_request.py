"""Bad Messages requests get the real API's 400s (and 404), never a 500."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest

MODEL = "claude-haiku-4-5"
USER = {"role": "user", "content": "prose"}


def post(sim_url: str, body: Any, raw: bytes | None = None) -> httpx2.Response:
    if raw is not None:
        return httpx2.post(
            f"{sim_url}/v1/messages", content=raw, headers={"content-type": "application/json"}
        )
    return httpx2.post(f"{sim_url}/v1/messages", json=body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL, "messages": [USER]}, "max_tokens: Field required"),
        ({"max_tokens": 5, "messages": [USER]}, "model: Field required"),
        ({"model": MODEL, "max_tokens": 5}, "messages: Field required"),
        (
            {"model": MODEL, "max_tokens": "5", "messages": [USER]},
            "max_tokens: Input should be a valid integer",
        ),
        (
            {"model": MODEL, "max_tokens": 0, "messages": [USER]},
            "max_tokens: Input should be greater than or equal to 1",
        ),
        ({"model": MODEL, "max_tokens": 5, "messages": []}, "messages: at least one message is required"),
        ({"model": MODEL, "max_tokens": 5, "messages": "hi"}, "messages: Input should be a valid list"),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
            "messages.0.role: Input should be 'user' or 'assistant'",
        ),
        (
            {
                "model": MODEL,
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text", "text": ""}]}],
            },
            "messages: text content blocks must be non-empty",
        ),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": ""}]},
            "messages.0: all messages must have non-empty content except for the optional final "
            "assistant message",
        ),
        (
            {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user"}]},
            "messages.0.content: Field required",
        ),
        (
            {"model": MODEL, "max_tokens": 64001, "messages": [USER]},
            "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for "
            "claude-haiku-4-5-20251001",
        ),
        ([1, 2], "Input should be a valid dictionary"),
    ],
)
def test_invalid_request_errors(sim_url: str, body: Any, message: str) -> None:
    response = post(sim_url, body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["type"] == "error" and payload["error"] == {
        "type": "invalid_request_error",
        "message": message,
    }
    assert payload["request_id"] == response.headers["request-id"] and payload["request_id"].startswith(
        "req_"
    )


def test_malformed_json_is_a_400(sim_url: str) -> None:
    response = post(sim_url, None, raw=b'{"model": "claude-haiku-4-5", "max_')
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_garbage_never_crashes(sim_url: str) -> None:
    bodies: list[Any] = [
        {"model": MODEL, "max_tokens": 5, "messages": [None]},
        {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [None]}]},
        {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": 5}]},
        {"model": MODEL, "max_tokens": 5, "messages": [USER], "tools": [{}]},
        {"model": MODEL, "max_tokens": 5, "messages": [USER], "tools": "x"},
        {"model": MODEL, "max_tokens": 5, "messages": [USER], "thinking": {"type": "enabled"}},
        {"model": MODEL, "max_tokens": 5, "messages": [USER], "stop_sequences": [1]},
        {"model": MODEL, "max_tokens": 5, "messages": [USER], "system": 7},
        {"model": MODEL, "max_tokens": 5, "messages": [USER], "stream": "yes"},
        {"model": [], "max_tokens": 5, "messages": [USER]},
        "just a string",
        None,
    ]
    for body in bodies:
        assert post(sim_url, body).status_code in (400, 404), body


def test_unknown_model_is_a_404(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as info:
        claude.messages.create(model="claude-nonexistent-9", max_tokens=5, messages=[USER])  # type: ignore[list-item]
    assert info.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model: claude-nonexistent-9"},
        "request_id": info.value.request_id,
    }
    with pytest.raises(anthropic.NotFoundError):
        claude.messages.create(model="gpt-4o", max_tokens=5, messages=[USER])  # type: ignore[list-item]


def test_tool_use_without_tool_result(claude: anthropic.Anthropic) -> None:
    messages = [
        USER,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_01abc", "name": "f", "input": {}}],
        },
        {"role": "user", "content": "never mind"},
    ]
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(model=MODEL, max_tokens=5, messages=messages)  # type: ignore[arg-type]
    assert info.value.body["error"]["message"] == (  # type: ignore[index]
        "messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: toolu_01abc. "
        "Each `tool_use` block must have a corresponding `tool_result` block in the next message."
    )


def test_context_window_errors(claude: anthropic.Anthropic) -> None:
    with pytest.raises(
        anthropic.BadRequestError, match=r"^Error code: 400 .*prompt is too long: \d+ tokens > 5 maximum"
    ):
        claude.messages.create(
            model=MODEL, max_tokens=5, messages=[USER], extra_headers={"x-sim-context-window": "5"}
        )  # type: ignore[list-item]
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(
            model=MODEL, max_tokens=100, messages=[USER], extra_headers={"x-sim-context-window": "50"}
        )  # type: ignore[list-item]
    assert info.value.body["error"]["message"] == (  # type: ignore[index]
        "input length and `max_tokens` exceed context limit: 8 + 100 > 50, decrease input length or "
        "`max_tokens` "
        "and try again"
    )


def test_real_window_size_prompt_is_too_long(sim_url: str) -> None:
    big = "word " * 200_001
    response = post(
        sim_url, {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": big}]}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "prompt is too long: 200008 tokens > 200000 maximum"
