"""Keys: the client's passes through untouched by default; a server-held key replaces it;
client keys are checked and never forwarded; a key never reaches the log database or the
process output; a non-loopback listener without client keys is refused."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx2
import openai
import pytest
from _gateway import GatewayFactory, Recorder, Running, serve_process

from stopwise.gateway import ConfigError, ModelRoute, Settings, check_bind, is_loopback
from stopwise.gateway.auth import KeyPolicy
from stopwise.gateway.drain import Drain

SECRET = "sk-ant-DISTINCTIVE-9f3c2e71-never-log-me"


def upstream_headers(recorder: Recorder, before: int) -> list[dict[str, str]]:
    return [s.headers for s in recorder.seen[before:]]


def test_pass_through_sends_the_clients_key_unchanged(gw: Running, recorder: Recorder) -> None:
    before = len(recorder.seen)
    gw.anthropic(api_key=SECRET).messages.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}]
    )
    gw.openai(api_key=SECRET).models.list()
    first, second = upstream_headers(recorder, before)
    # anthropic 2.12 sends its key as a Bearer token; older versions as x-api-key.
    assert SECRET in (first.get("x-api-key"), first.get("authorization", "").removeprefix("Bearer "))
    assert second["authorization"] == f"Bearer {SECRET}"


def test_server_held_keys_replace_the_clients(gateway_factory: GatewayFactory, recorder: Recorder) -> None:
    with gateway_factory(anthropic_api_key="server-anthropic", openai_api_key="server-openai") as gw:
        before = len(recorder.seen)
        gw.anthropic(api_key="client").messages.count_tokens(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}]
        )
        gw.openai(api_key="client").models.list()
    a, o = upstream_headers(recorder, before)
    assert a["x-api-key"] == "server-anthropic" and "authorization" not in a
    assert o["authorization"] == "Bearer server-openai" and "x-api-key" not in o


def test_client_keys_are_checked_and_never_forwarded(
    gateway_factory: GatewayFactory, recorder: Recorder
) -> None:
    with gateway_factory(client_keys=("sw-good",), anthropic_api_key="server-anthropic") as gw:
        with pytest.raises(anthropic.AuthenticationError):
            gw.anthropic(api_key="sw-bad").messages.create(
                model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        with pytest.raises(openai.AuthenticationError) as o:
            gw.openai(api_key="sw-bad").chat.completions.create(
                model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}]
            )
        assert o.value.code == "invalid_api_key"
        assert httpx2.get(f"{gw.url}/metrics").status_code == 401
        assert httpx2.get(f"{gw.url}/metrics", headers={"authorization": "Bearer sw-good"}).status_code == 200
        assert httpx2.get(f"{gw.url}/healthz").status_code == 200
        before = len(recorder.seen)
        gw.anthropic(api_key="sw-good").messages.count_tokens(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}]
        )
        # No server key for OpenAI: the stopwise key is removed and nothing takes its place.
        gw.openai(api_key="sw-good").models.list()
        rows = gw.wait_rows(4)
    a, o2 = upstream_headers(recorder, before)
    assert a["x-api-key"] == "server-anthropic"
    assert "sw-good" not in str(a) and "sw-good" not in str(o2) and "authorization" not in o2
    assert [r["status"] for r in rows] == [401, 401, 200, 200]


def test_a_routes_upstream_never_gets_the_default_key() -> None:
    settings = Settings(
        anthropic_api_key="default-key",
        routes=(
            ModelRoute("claude-local-*", "http://127.0.0.1:9/x"),
            ModelRoute("claude-k*", "http://h", "rk"),
        ),
    )
    from stopwise.gateway.proxy import Proxy

    proxy = Proxy(settings, lambda ex: None, Drain())
    assert proxy.target("anthropic", "claude-local-7") == ("http://127.0.0.1:9/x", None)
    assert proxy.target("anthropic", "claude-k1") == ("http://h", "rk")
    assert proxy.target("anthropic", "claude-haiku-4-5") == ("https://api.anthropic.com", "default-key")


def test_key_policy_headers() -> None:
    keys = KeyPolicy(Settings(client_keys=("a", "b")))
    assert keys.allows({"x-api-key": "b"}) and keys.allows({"authorization": "Bearer a"})
    assert not keys.allows({"authorization": "Basic a"}) and not keys.allows({})
    assert KeyPolicy(Settings()).allows({})
    headers = [(b"x-api-key", b"a"), (b"accept", b"*/*")]
    assert keys.upstream_headers(headers, "openai", None) == [(b"accept", b"*/*")]
    assert KeyPolicy(Settings()).upstream_headers(headers, "anthropic", None) is headers


def test_non_loopback_without_client_auth_is_refused() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.com")
    check_bind(Settings())
    with pytest.raises(ConfigError, match="--allow-unauthenticated"):
        check_bind(Settings(host="0.0.0.0"))
    check_bind(Settings(host="0.0.0.0", allow_unauthenticated=True))
    check_bind(Settings(host="0.0.0.0", client_keys=("k",)))


def test_settings_repr_hides_keys() -> None:
    settings = Settings(
        client_keys=(SECRET,), anthropic_api_key=SECRET, routes=(ModelRoute("m", "http://x", SECRET),)
    )
    assert SECRET not in repr(settings)


def test_a_key_never_reaches_the_log_or_the_process_output(sim_url: str, tmp_path: Path) -> None:
    """``stopwise serve`` as a process, with bodies logged and debug logging: a distinctive key
    sent in every way a client sends one appears in no byte of the database (and its WAL) and
    nowhere in stdout or stderr."""
    with serve_process(sim_url, tmp_path, "--log-level", "debug", STOPWISE_LOG_BODIES="1") as gw:
        url = gw.url
        with anthropic.Anthropic(base_url=url, api_key=SECRET, max_retries=0) as claude:
            claude.messages.create(
                model="claude-haiku-4-5", max_tokens=40, messages=[{"role": "user", "content": "hi"}]
            )
            with claude.messages.stream(
                model="claude-haiku-4-5", max_tokens=40, messages=[{"role": "user", "content": "hi"}]
            ) as events:
                events.until_done()
            with pytest.raises(anthropic.BadRequestError):
                claude.messages.create(model="claude-haiku-4-5", max_tokens=40, messages=[])
        with openai.OpenAI(base_url=f"{url}/v1", api_key=SECRET, max_retries=0) as gpt:
            gpt.chat.completions.create(
                model="gpt-4o", max_tokens=40, messages=[{"role": "user", "content": "hi"}]
            )
        httpx2.post(f"{url}/v1/messages", content=b"{nope", headers={"x-api-key": SECRET})
        httpx2.get(f"{url}/nowhere", headers={"authorization": f"Bearer {SECRET}"})
        gw.proc.terminate()  # a clean stop: the log is flushed
        gw.proc.wait(timeout=10)
    output = gw.output.read_bytes()
    assert b"Application startup complete" in output  # the output was captured
    assert SECRET.encode() not in output
    files = list(tmp_path.glob("serve.db*"))
    assert files
    for f in files:
        assert SECRET.encode() not in f.read_bytes(), f.name
    rows = gw.rows()
    assert len(rows) == 5  # the 404 is not an API route
    assert sum(r["request_body"] is not None for r in rows) >= 4
