"""The app as a whole: determinism (same request on a fresh app, same bytes), routing, and the
in-process transport."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.sim import SimConfig, create_app

REQUESTS: list[tuple[str, dict[str, Any]]] = [
    (
        "/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 300, "messages": [{"role": "user", "content": "code"}]},
    ),
    (
        "/v1/messages",
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 3000,
            "stream": True,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "messages": [{"role": "user", "content": "tool"}],
        },
    ),
    (
        "/v1/chat/completions",
        {"model": "gpt-4o", "max_tokens": 99, "messages": [{"role": "user", "content": "cjk"}]},
    ),
    (
        "/v1/chat/completions",
        {
            "model": "gpt-4o",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "json"}],
        },
    ),
    (
        "/relay/v1/chat/completions",
        {"model": "claude-opus-4-0", "stream": True, "messages": [{"role": "user", "content": "table"}]},
    ),
    ("/v1/responses", {"model": "gpt-4.1", "input": "code", "max_output_tokens": 300}),
    (
        "/v1/responses",
        {"model": "o4-mini", "input": "prose", "stream": True, "reasoning": {"summary": "auto"}},
    ),
]


async def send_all(app: Any, path: str, body: dict[str, Any], times: int = 1) -> list[tuple[int, bytes, str]]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://sim") as client:
        out = []
        for _ in range(times):
            r = await client.post(path, json=body)
            out.append((r.status_code, r.content, r.headers.get("request-id") or r.headers["x-request-id"]))
        return out


@pytest.mark.parametrize(("path", "body"), REQUESTS)
def test_same_request_on_fresh_apps_gives_the_same_bytes(path: str, body: dict[str, Any]) -> None:
    first = asyncio.run(send_all(create_app(), path, body))
    second = asyncio.run(send_all(create_app(), path, body))
    assert first == second and first[0][0] == 200


def test_ids_differ_within_one_app_but_content_does_not() -> None:
    path, body = REQUESTS[0]
    (_, a, rid_a), (_, b, rid_b) = asyncio.run(send_all(create_app(), path, body, times=2))
    assert rid_a != rid_b and a != b
    assert a.split(b'"content"')[1] == b.split(b'"content"')[1]


def test_errors_are_deterministic_too() -> None:
    body = {"model": "claude-haiku-4-5", "messages": []}
    assert asyncio.run(send_all(create_app(), "/v1/messages", body)) == asyncio.run(
        send_all(create_app(), "/v1/messages", body)
    )


def test_unknown_route_is_a_json_404() -> None:
    async def main() -> httpx2.Response:
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(create_app()), base_url="http://sim"
        ) as client:
            return await client.get("/v2/nothing")

    response = asyncio.run(main())
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"


def test_async_sdk_in_process() -> None:
    async def main() -> str:
        transport = httpx2.ASGITransport(create_app(SimConfig(created=1)))
        async with anthropic.AsyncAnthropic(
            base_url="http://sim", api_key="x", http_client=httpx2.AsyncClient(transport=transport)
        ) as client:
            msg = await client.messages.create(
                model="claude-haiku-4-5", max_tokens=4, messages=[{"role": "user", "content": "hi"}]
            )
            return msg.stop_reason or ""

    assert asyncio.run(main()) == "max_tokens"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 70000) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "thinking",
    "stop_sequences",
    "stop",
    "stream",
    "content",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(
        ["/v1/messages", "/v1/chat/completions", "/relay/v1/chat/completions", "/v1/messages/count_tokens"]
    ),
    base=st.sampled_from([REQUESTS[0][1], REQUESTS[2][1]]),
    changes=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=3),
    role=st.sampled_from(["user", "assistant", "tool", "system", 3]),
    content=JSON,
    extra=st.dictionaries(
        st.sampled_from(["tool_calls", "tool_call_id", "name", "cache_control", "type"]), JSON
    ),
    tools=st.none()
    | JSON
    | st.lists(
        st.dictionaries(st.sampled_from(["name", "type", "function", "input_schema", "cache_control"]), JSON)
    ),
)
def test_no_input_makes_a_500(
    path: str,
    base: dict[str, Any],
    changes: dict[str, Any],
    role: Any,
    content: Any,
    extra: dict[str, Any],
    tools: Any,
) -> None:
    body = {**base, **changes}
    if tools is not None:
        body["tools"] = tools
    if "messages" not in changes:
        body["messages"] = [
            {"role": "user", "content": "tool json"},
            {"role": role, "content": content, **extra},
        ]
    ((status, _, _),) = asyncio.run(send_all(create_app(), path, body))
    assert status < 500


def test_an_alias_is_answered_as_its_model_with_that_models_rules() -> None:
    """``team-claude`` is Opus 4.6 behind a relay's name: it rejects a prefill (which the name
    gives no hint of), and the response names the real model; unaliased names are untouched."""

    async def main() -> tuple[str, int, str, int]:
        app = create_app(SimConfig(aliases={"team-claude": "claude-opus-4-6", "fast": "gpt-4o-mini"}))
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app), base_url="http://sim") as c:
            user = {"role": "user", "content": "prose"}
            ok = await c.post(
                "/v1/messages", json={"model": "team-claude", "max_tokens": 5, "messages": [user]}
            )
            prefill = [user, {"role": "assistant", "content": "The"}]
            refused = await c.post(
                "/v1/messages", json={"model": "team-claude", "max_tokens": 5, "messages": prefill}
            )
            chat = await c.post("/v1/chat/completions", json={"model": "fast", "messages": [user]})
            unknown = await c.post(
                "/v1/messages", json={"model": "claude-opus-4-6x", "max_tokens": 5, "messages": [user]}
            )
            return ok.json()["model"], refused.status_code, chat.json()["model"], unknown.status_code

    model, refused, chat_model, unknown = asyncio.run(main())
    assert model == "claude-opus-4-6" and refused == 400
    assert chat_model == "gpt-4o-mini-2024-07-18" and unknown == 404
