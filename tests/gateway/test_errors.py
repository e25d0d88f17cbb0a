"""Bad input and bad upstreams: each answered in the caller's dialect, so the SDKs raise their
usual typed errors, and each logged."""

from __future__ import annotations

import socket

import anthropic
import httpx2
import openai
import orjson
import pytest
from _gateway import GatewayFactory, Running

from stopwise.dialects import error_from_response
from stopwise.finisher import Policy, RetryPolicy
from stopwise.gateway.drain import Drain
from stopwise.gateway.errors import GatewayError, dialect_of_request, error_response

ANTHROPIC_HEADERS = {"x-api-key": "x", "anthropic-version": "2023-06-01", "content-type": "application/json"}
OPENAI_HEADERS = {"authorization": "Bearer x", "content-type": "application/json"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_body_over_the_limit_is_413_in_each_dialect(gateway_factory: GatewayFactory) -> None:
    big = "x" * 4096
    with gateway_factory(max_body_bytes=2048) as gw:
        with pytest.raises(anthropic.APIStatusError) as a:
            gw.anthropic().messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": big}]
            )
        assert a.value.status_code == 413 and a.value.body["error"]["type"] == "request_too_large"  # type: ignore[call-overload,index]
        with pytest.raises(openai.APIStatusError) as o:
            gw.openai().chat.completions.create(
                model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": big}]
            )
        assert o.value.status_code == 413 and o.value.code == "request_too_large"
        # A chunked body (no content-length) is cut off by size as it arrives.
        chunks = iter([b'{"model": "gpt-4o", "messages": "', big.encode(), b'"}'])
        r = httpx2.post(f"{gw.url}/v1/chat/completions", content=chunks, headers=OPENAI_HEADERS)
        assert r.status_code == 413
        rows = gw.wait_rows(3)
    assert [(r["status"], r["error_type"]) for r in rows] == [(413, "request_too_large")] * 3


@pytest.mark.parametrize(
    ("path", "headers", "dialect"),
    [
        ("/v1/messages", ANTHROPIC_HEADERS, "anthropic"),
        ("/v1/chat/completions", OPENAI_HEADERS, "openai"),
        ("/v1/responses", OPENAI_HEADERS, "openai"),  # the Responses API answers in OpenAI's shape
    ],
)
@pytest.mark.parametrize("body", [b'{"model": "x", ', b"[1, 2]"])
def test_malformed_json_is_400_in_the_dialects_shape(
    gw: Running, path: str, headers: dict[str, str], dialect: str, body: bytes
) -> None:
    r = httpx2.post(gw.url + path, content=body, headers=headers)
    assert r.status_code == 400
    err = error_from_response(r.status_code, r.content, r.headers)
    assert err.dialect == dialect and err.error_type == "invalid_request_error"
    if dialect == "anthropic":
        assert r.json()["type"] == "error" and r.headers["request-id"] == r.json()["request_id"]
    else:
        assert r.json()["error"]["code"] == "invalid_json"
    (row,) = gw.wait_rows(1)
    assert (row["status"], row["error_type"], row["route"]) == (400, "invalid_json", path)


def test_unknown_route_is_404_and_wrong_method_405(gw: Running) -> None:
    r = httpx2.get(f"{gw.url}/v1/complete", headers={"anthropic-version": "2023-06-01"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found_error"
    r = httpx2.post(f"{gw.url}/v1/embeddings", json={})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx2.get(f"{gw.url}/v1/messages")
    assert r.status_code == 405 and r.json()["type"] == "error"


def test_unreachable_upstream_is_502(gateway_factory: GatewayFactory) -> None:
    port = closed_port()
    with gateway_factory(
        anthropic_base_url=f"http://127.0.0.1:{port}",
        openai_base_url=f"http://127.0.0.1:{port}/v1",
    ) as gw:
        with pytest.raises(anthropic.InternalServerError) as a:
            gw.anthropic().messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        assert a.value.status_code == 502 and a.value.body["error"]["type"] == "api_error"  # type: ignore[call-overload,index]
        # The finisher retried already: the SDK is told not to multiply that.
        assert a.value.response.headers["x-should-retry"] == "false"
        with pytest.raises(openai.InternalServerError) as o:
            gw.openai().models.list()
        assert o.value.status_code == 502 and o.value.code == "upstream_error"
        rows = gw.wait_rows(2)
    assert [(r["status"], r["error_type"]) for r in rows] == [(502, "ConnectError")] * 2
    assert rows[0]["retries"] == 4 and rows[1]["retries"] is None


def test_slow_upstream_is_504(gateway_factory: GatewayFactory) -> None:
    policy = Policy(retry=RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.01))
    with gateway_factory(upstream_timeout=0.2, policy=policy) as gw:
        with pytest.raises(anthropic.APIStatusError) as a:
            gw.anthropic().messages.create(
                model="claude-haiku-4-5",
                max_tokens=10,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-sim-fault": "stall:2"},
            )
        assert a.value.status_code == 504 and a.value.body["error"]["type"] == "timeout_error"  # type: ignore[call-overload,index]
        (row,) = gw.wait_rows(1)
    assert (row["status"], row["error_type"], row["retries"]) == (504, "ReadTimeout", 1)


def test_an_upstream_error_that_is_not_json_gets_the_dialects_shape() -> None:
    import asyncio

    from starlette.requests import Request

    from stopwise.gateway import Settings
    from stopwise.gateway.proxy import Proxy
    from stopwise.gateway.record import Exchange

    def cdn(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(502, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"})

    done: list[Exchange] = []
    proxy = Proxy(Settings(), done.append, Drain(), transport=httpx2.MockTransport(cdn))
    scope = {"type": "http", "method": "GET", "path": "/v1/models", "headers": [], "query_string": b""}

    async def receive() -> dict[str, object]:
        await asyncio.sleep(10)
        return {"type": "http.disconnect"}

    async def run() -> bytes:
        ex = Exchange("GET", "/v1/models", dialect="openai")
        response = await proxy.forward(Request(scope, receive), ex, b"", finisher=False)
        assert response.status_code == 502
        return bytes(response.body)

    body = orjson.loads(asyncio.run(run()))
    assert body["error"]["code"] == "upstream_error" and "Bad Gateway" in body["error"]["message"]


def test_error_shapes_parse_back_as_their_dialect() -> None:
    for dialect in ("anthropic", "openai"):
        response = error_response(dialect, GatewayError(413, "request_too_large", "too big"))
        err = error_from_response(413, bytes(response.body), dict(response.headers))
        assert err.dialect == dialect and err.message == "too big"
    assert dialect_of_request("/v1/models", {"anthropic-version": "2023-06-01"}) == "anthropic"
    assert dialect_of_request("/anything", {}) == "openai"
