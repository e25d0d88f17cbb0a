"""Limits on what a client can make the gateway hold: a slow or huge request head, a slow body,
deep JSON, control characters in the path, long strings in the log, a request that outlives its
deadline, an upstream that goes silent. Each refusal comes in the caller's dialect."""

from __future__ import annotations

import socket
import time
from typing import Any

import anthropic
import httpx2
import openai
import orjson
import pytest
from _gateway import GatewayFactory, Running

HI = [{"role": "user", "content": "hi"}]


def raw(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def response_of(sock: socket.socket) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of the one response the gateway writes before closing."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), orjson.loads(body)


# -- the request head -------------------------------------------------------------------------


def test_a_head_dribbled_a_byte_at_a_time_is_cut_at_the_header_timeout(
    gateway_factory: GatewayFactory,
) -> None:
    with gateway_factory(header_timeout=0.5) as gw, raw(gw.url) as sock:
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\n")
        started = time.monotonic()
        sock.settimeout(0.1)
        closed = False
        while not closed and time.monotonic() - started < 10:
            try:
                sock.sendall(b"x")
                closed = sock.recv(1, socket.MSG_PEEK) == b""  # pragma: no cover - FIN only
            except TimeoutError:
                continue
            except OSError:
                break
            break
        sock.settimeout(10)
        status, body = response_of(sock)
        assert status == 408 and body["error"]["type"] == "timeout_error"  # Anthropic's shape
        # Refused for the time it took, though bytes kept coming: not for its size or its count.
        assert gw.metric('stopwise_connections_refused_total{reason="header_timeout"}') == 1
        assert gw.rows() == []  # refusals are counted, not logged as requests


def test_an_idle_connection_is_closed_at_the_header_timeout(gateway_factory: GatewayFactory) -> None:
    with gateway_factory(header_timeout=0.3) as gw, raw(gw.url) as sock:
        status, body = response_of(sock)  # answered and closed, not left open (the socket waits 10 s)
        assert status == 408 and "error" in body
        assert gw.metric('stopwise_connections_refused_total{reason="header_timeout"}') == 1


def test_a_head_over_the_size_limit_is_refused_before_it_is_all_read(
    gateway_factory: GatewayFactory,
) -> None:
    with gateway_factory(max_header_bytes=4096) as gw, raw(gw.url) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-big: ")
        sent = 0
        with pytest.raises(OSError):  # the gateway closes the connection under the sender
            while sent < 8 * 1024 * 1024:
                sock.sendall(b"a" * 65536)
                sent += 65536
        assert sent < 8 * 1024 * 1024
    with gateway_factory(max_header_bytes=4096) as gw, raw(gw.url) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 5000)
        status, body = response_of(sock)
        assert status == 431 and body["error"]["code"] == "headers_too_large"  # OpenAI's shape
        assert gw.metric('stopwise_connections_refused_total{reason="headers_too_large"}') == 1


def test_too_many_headers_is_a_431_the_sdk_raises(gateway_factory: GatewayFactory) -> None:
    with gateway_factory(max_headers=50) as gw:
        many = {f"x-h-{i}": "v" for i in range(60)}
        with pytest.raises(anthropic.APIStatusError) as caught:
            gw.anthropic().messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=HI, extra_headers=many
            )
        assert caught.value.status_code == 431
        assert gw.metric('stopwise_connections_refused_total{reason="too_many_headers"}') == 1
        # Under the limit, the same request goes through.
        gw.anthropic().messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=HI, extra_headers=dict(list(many.items())[:20])
        )


# -- the body ---------------------------------------------------------------------------------


def test_a_body_that_does_not_arrive_in_time_is_a_408(gateway_factory: GatewayFactory) -> None:
    with gateway_factory(body_timeout=0.5) as gw, raw(gw.url) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 1000\r\n\r\n{"model":'
        )
        status, body = response_of(sock)  # the gateway answers and closes
        assert status == 408 and body["error"]["code"] == "request_timeout"
        (row,) = gw.wait_rows(1)
        assert row["status"] == 408 and row["error_type"] == "request_timeout"


@pytest.mark.parametrize("depth", [129, 253, 1023, 20_000])
def test_json_nested_past_the_limit_is_a_400_in_each_dialect(gw: Running, depth: int) -> None:
    deep = "[" * depth + "]" * depth
    body = '{"model":"claude-haiku-4-5","max_tokens":10,"messages":[],"metadata":' + deep + "}"
    anthropic_answer = httpx2.post(f"{gw.url}/v1/messages", content=body)
    assert anthropic_answer.status_code == 400
    assert anthropic_answer.json()["error"]["type"] == "invalid_request_error"
    openai_answer = httpx2.post(
        f"{gw.url}/v1/chat/completions", content=body.replace("claude-haiku-4-5", "gpt-4o")
    )
    error = openai_answer.json()["error"]
    assert openai_answer.status_code == 400 and error["type"] == "invalid_request_error"
    # Past 1023 levels orjson's parser refuses before the gateway counts: not JSON it takes.
    assert error["code"] == ("json_too_deep" if depth < 1024 else "invalid_json")


def test_json_at_the_limit_goes_through(gw: Running) -> None:
    nested: Any = "x"
    for _ in range(120):  # + the body object, metadata's object: under 128
        nested = {"k": nested}
    answer = gw.anthropic().messages.create(
        model="claude-haiku-4-5", max_tokens=10, messages=HI, extra_body={"x_nested": nested}
    )
    assert answer.content


@pytest.mark.parametrize("char", ["%00", "%01", "%09", "%0a", "%0d", "%7f", "%7F"])
def test_control_characters_in_a_model_id_are_a_400(gw: Running, char: str) -> None:
    answer = httpx2.get(f"{gw.url}/v1/models/claude{char}x", headers={"anthropic-version": "2023-06-01"})
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error"  # Anthropic's shape
    answer = httpx2.get(f"{gw.url}/v1/models/gpt{char}x")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_path"


def test_long_strings_are_cut_in_the_log(gateway_factory: GatewayFactory) -> None:
    with gateway_factory(log_max_string=100) as gw:
        with pytest.raises(openai.APIStatusError):
            gw.openai().chat.completions.create(model="m" * 1_000_000, max_tokens=10, messages=HI)  # type: ignore[arg-type]
        (row,) = gw.wait_rows(1)
    assert row["model"] == "m" * 100 + "…"
    assert all(len(v) <= 101 for v in row.values() if isinstance(v, str))


# -- time -------------------------------------------------------------------------------------

STALL = {"x-sim-fault": "stall:60"}  # the simulator sends one event (or nothing), then waits 60 s


def test_the_request_deadline_ends_a_stream_with_an_error_event(gateway_factory: GatewayFactory) -> None:
    with gateway_factory(request_timeout=1.0) as gw:
        events = []
        with pytest.raises(anthropic.APIStatusError, match="longer than 1 s"):
            for event in gw.anthropic().messages.create(
                model="claude-haiku-4-5", max_tokens=500, messages=HI, stream=True, extra_headers=STALL
            ):
                events.append(event.type)
        assert events == ["message_start"]  # then the deadline's error event, not the stall's end
        with pytest.raises(openai.APIStatusError) as caught:
            gw.openai().chat.completions.create(
                model="gpt-4o", max_tokens=10, messages=HI, extra_headers=STALL
            )
        assert caught.value.status_code == 504
        rows = gw.wait_rows(2)
    assert [r["error_type"] for r in rows] == ["request_deadline", "request_deadline"]
    assert [r["status"] for r in rows] == [200, 504] and rows[0]["cancelled"] == 0


def test_a_silent_upstream_stream_is_timed_out_between_bytes(gateway_factory: GatewayFactory) -> None:
    with gateway_factory(upstream_idle_timeout=0.3) as gw:
        with pytest.raises(openai.APIError):
            for _ in gw.openai().chat.completions.create(
                model="gpt-4o", max_tokens=500, messages=HI, stream=True, extra_headers=STALL
            ):
                pass
        (row,) = gw.wait_rows(1)
    # Each attempt was ended by the idle timeout (a ReadTimeout, retried), not by the stall's end.
    assert row["error_type"] == "ReadTimeout" and row["retries"] >= 1
