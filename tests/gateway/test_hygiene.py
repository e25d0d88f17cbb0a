"""Key hygiene with server-held keys: only listed headers cross the gateway either way, a key
in a query string reaches no log line, metric labels stay bounded, and a configured value
cannot inject a header."""

from __future__ import annotations

import contextlib
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx2
import orjson
import pytest
from _gateway import GatewayFactory, serve_process
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stopwise.gateway import ConfigError, load_settings
from stopwise.gateway.metrics import MAX_ERROR_TYPES, MAX_LABEL_LENGTH, GatewayMetrics
from stopwise.gateway.record import Exchange
from stopwise.gateway.redact import redact_query
from stopwise.sim import serve_in_thread

# What an upstream says about the account behind the key, and what it says about the answer.
ACCOUNT_HEADERS = {
    "set-cookie": "__cf_bm=abc; path=/; HttpOnly",
    "anthropic-organization-id": "org-server",
    "openai-organization": "org-server",
    "openai-project": "proj_server",
    "x-account-id": "acct-server",
}
ANSWER_HEADERS = {
    "request-id": "req_1",
    "retry-after": "1",
    "anthropic-ratelimit-requests-remaining": "99",
    "x-ratelimit-remaining-tokens": "1000",
}
# What a client could send to act on the server's account.
CLIENT_ACCOUNT_HEADERS = {
    "openai-organization": "org-client",
    "openai-project": "proj_client",
    "cookie": "session=client",
    "x-unknown": "1",
}


async def echo(request: Request) -> Response:
    """The headers the upstream received, answered with account and answer headers."""
    seen = {k.decode(): v.decode() for k, v in request.scope["headers"]}
    return Response(
        orjson.dumps(seen), media_type="application/json", headers={**ACCOUNT_HEADERS, **ANSWER_HEADERS}
    )


@contextlib.contextmanager
def echo_upstream() -> Iterator[str]:
    app = Starlette(
        routes=[Route("/v1/messages/count_tokens", echo, methods=["POST"]), Route("/v1/models", echo)]
    )
    with serve_in_thread(app) as url:
        yield url


def call(url: str, path: str, headers: dict[str, str]) -> httpx2.Response:
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}
    return httpx2.post(f"{url}{path}", json=body, headers=headers)


CLIENT = {
    "x-api-key": "client-key",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "b1",
    **CLIENT_ACCOUNT_HEADERS,
}


def test_with_a_server_held_key_only_listed_headers_cross(gateway_factory: GatewayFactory) -> None:
    with echo_upstream() as up, gateway_factory(anthropic_base_url=up, anthropic_api_key="server-key") as gw:
        answer = call(gw.url, "/v1/messages/count_tokens", CLIENT)
    seen = answer.json()
    assert seen["x-api-key"] == "server-key"
    assert seen["anthropic-version"] == "2023-06-01" and seen["anthropic-beta"] == "b1"
    assert not set(CLIENT_ACCOUNT_HEADERS) & set(seen), seen
    for name in ACCOUNT_HEADERS:
        assert name not in answer.headers, name
    for name, value in ANSWER_HEADERS.items():
        assert answer.headers[name] == value


def test_forward_headers_adds_to_the_allowlist(gateway_factory: GatewayFactory) -> None:
    with (
        echo_upstream() as up,
        gateway_factory(anthropic_base_url=up, anthropic_api_key="k", forward_headers=("x-unknown",)) as gw,
    ):
        seen = call(gw.url, "/v1/messages/count_tokens", CLIENT).json()
    assert seen["x-unknown"] == "1" and "cookie" not in seen and "openai-organization" not in seen


def test_in_pass_through_the_clients_own_account_headers_cross(gateway_factory: GatewayFactory) -> None:
    with echo_upstream() as up, gateway_factory(anthropic_base_url=up) as gw:
        answer = call(gw.url, "/v1/messages/count_tokens", CLIENT)
    seen = answer.json()
    assert seen["x-api-key"] == "client-key" and seen["openai-organization"] == "org-client"
    assert answer.headers["anthropic-organization-id"] == "org-server"  # the client's own account


def test_a_key_in_the_query_string_reaches_no_log_line(sim_url: str, tmp_path: Path) -> None:
    canary = "sk-canary-" + secrets.token_hex(8)
    with serve_process(sim_url, tmp_path, "--log-level", "debug", STOPWISE_LOG_BODIES="1") as gw:
        httpx2.get(f"{gw.url}/v1/models?key={canary}&limit=2", headers={"anthropic-version": "2023-06-01"})
        httpx2.post(f"{gw.url}/v1/messages?api_key={canary}", content=b"{nope")
        httpx2.get(f"{gw.url}/v1/models/%00?{canary}")
        httpx2.get(f"{gw.url}/nowhere?key={canary}")
        gw.proc.send_signal(signal.SIGTERM)
        gw.proc.wait(timeout=10)
    output = gw.output.read_bytes()
    assert b"GET /v1/models?key=[redacted]&limit=[redacted]" in output  # the access log is on
    assert canary.encode() not in output
    for f in tmp_path.glob("serve.db*"):
        assert canary.encode() not in f.read_bytes(), f.name


canaries = st.text(alphabet="abcdef0123456789", min_size=6, max_size=12).map(lambda s: "SECRET" + s)
names = st.text(alphabet="abcdefghijklmnop_", min_size=0, max_size=8)


@given(st.lists(st.tuples(names, canaries, st.booleans()), max_size=6), st.text(alphabet="/abc", max_size=10))
def test_redact_query_leaves_no_value(items: list[tuple[str, str, bool]], path: str) -> None:
    query = "&".join(f"{n}={v}" if eq else v for n, v, eq in items)
    out = redact_query(f"/{path}?{query}")
    assert out.startswith(f"/{path}?") and "SECRET" not in out
    assert redact_query(f"/{path}") == f"/{path}"


def test_upstream_error_types_are_capped_in_number_and_length() -> None:
    metrics = GatewayMetrics()
    for i in range(500):
        ex = Exchange("POST", "/v1/messages", status=400, error_type=f"echoed-{i}-" + "x" * 1000)
        metrics.record(ex, upstream_error=True)
    series = [
        line for line in metrics.render().splitlines() if line.startswith("stopwise_upstream_errors_total{")
    ]
    assert len(series) == MAX_ERROR_TYPES + 1
    assert 'stopwise_upstream_errors_total{type="other"} 450' in series
    assert all(len(line) < MAX_LABEL_LENGTH + 60 for line in series)


@pytest.mark.parametrize("bad", ["sk-abc\r\nx-injected: 1", "sk-abc\nx", "sk-abc\rx", "sk-\x00abc"])
def test_a_value_written_as_a_header_cannot_hold_a_line_break(tmp_path: Path, bad: str) -> None:
    for name in ("STOPWISE_ANTHROPIC_API_KEY", "STOPWISE_OPENAI_API_KEY", "STOPWISE_CLIENT_KEYS"):
        with pytest.raises(ConfigError) as caught:
            load_settings({}, {name: bad}, config_path=_empty(tmp_path))
        assert name in str(caught.value) and bad.strip() not in str(caught.value)
    config = tmp_path / "routes.toml"
    config.write_text(
        f'[[routes]]\nmodel = "m*"\nbase_url = "http://127.0.0.1:1"\napi_key = {orjson.dumps(bad).decode()}\n'
    )
    with pytest.raises(ConfigError, match=r"routes\[0\]: api_key"):
        load_settings({}, {}, config_path=config)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1\r\nx-injected: 1", "http://exa mple.com", "http://a\x00b"]
)
def test_a_base_url_with_a_line_break_is_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="STOPWISE_ANTHROPIC_BASE_URL"):
        load_settings({}, {"STOPWISE_ANTHROPIC_BASE_URL": url}, config_path=_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.toml"
    path.write_text("")
    return path
