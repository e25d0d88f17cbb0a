"""The scripted upstream itself: bytes arrive as scripted, in the pieces scripted, and failures
happen where the script puts them."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import httpx2
import orjson
import pytest

from stopwise.testing import Reply, chunk, sse
from stopwise.testing.server import scripted_upstream

EVENTS = [
    sse("message_start", {"type": "message_start", "message": {"id": "msg_1"}}),
    sse("ping", {"type": "ping"}),
    sse("message_stop", {"type": "message_stop"}),
]


def post(client: httpx2.Client, url: str, body: dict[str, Any] | None = None) -> httpx2.Response:
    return client.post(url, content=orjson.dumps(body or {"model": "m"}), headers={"x-test": "yes"})


def pieces_of(client: httpx2.Client, url: str, body: dict[str, Any] | None = None) -> list[bytes]:
    with client.stream("POST", url, content=orjson.dumps(body or {})) as response:
        return list(response.iter_raw())


def test_json_reply_byte_identical_with_status_and_headers() -> None:
    payload = b'{"id":"msg_1",  "x": [1, 2.50, "\\u00e9"]}'
    reply = Reply(
        201, {"content-type": "application/json", "request-id": "req_9", "x-odd": "a b"}, (payload,)
    )
    with scripted_upstream([reply]) as up, httpx2.Client() as client:
        response = post(client, f"{up.base_url}/v1/messages", {"model": "m", "max_tokens": 3})
    assert response.status_code == 201
    assert response.content == payload
    assert response.headers["request-id"] == "req_9"
    assert response.headers["x-odd"] == "a b"
    assert response.headers["content-type"] == "application/json"
    [request] = up.requests
    assert request.method == "POST"
    assert request.path == "/v1/messages"
    assert request.body == {"model": "m", "max_tokens": 3}
    assert request.raw == orjson.dumps({"model": "m", "max_tokens": 3})
    assert request.headers["x-test"] == "yes"
    assert up.bodies == [{"model": "m", "max_tokens": 3}]


def test_each_chunk_is_its_own_read() -> None:
    with scripted_upstream([Reply.stream(EVENTS)]) as up, httpx2.Client() as client:
        got = pieces_of(client, f"{up.base_url}/v1/messages")
    assert got == EVENTS


def test_chunks_split_mid_event_stay_split() -> None:
    whole = b"".join(EVENTS)
    parts = [whole[:7], whole[7:8], whole[8:50], whole[50:]]
    with scripted_upstream([Reply.stream(parts)]) as up, httpx2.Client() as client:
        got = pieces_of(client, f"{up.base_url}/v1/messages")
    assert got == parts


def test_the_wire_is_chunked_one_http_chunk_per_piece() -> None:
    with scripted_upstream([Reply.stream([b"ab", b"cde"])]) as up:
        raw = raw_exchange(up.port, b'{"a":1}')
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"


def test_gap_spaces_the_chunks() -> None:
    with scripted_upstream([Reply.stream(EVENTS)], gap=0.05) as up, httpx2.Client() as client:
        seen: list[float] = []
        with client.stream("POST", f"{up.base_url}/v1/messages", content=b"{}") as response:
            for _ in response.iter_raw():
                seen.append(time.monotonic())
    assert len(seen) == 3
    assert seen[1] - seen[0] >= 0.04
    assert seen[2] - seen[1] >= 0.04


def test_fail_read_breaks_after_the_chunks() -> None:
    with scripted_upstream([Reply.stream(EVENTS[:2], fail="read")]) as up, httpx2.Client() as client:
        got: list[bytes] = []
        with (
            pytest.raises(httpx2.RemoteProtocolError),
            client.stream("POST", f"{up.base_url}/v1/messages", content=b"{}") as response,
        ):
            assert response.status_code == 200
            for piece in response.iter_raw():
                got.append(piece)
    assert got == EVENTS[:2]
    assert len(up.requests) == 1


def test_fail_read_on_the_wire_has_no_final_chunk() -> None:
    with scripted_upstream([Reply.stream([b"ab"], fail="read")]) as up:
        raw = raw_exchange(up.port, b"{}")
    assert raw.endswith(b"\r\n\r\n2\r\nab\r\n")


def test_fail_read_with_a_content_length_sends_less_than_it_says() -> None:
    reply = Reply(200, {"content-type": "application/json", "content-length": "40"}, (b'{"id":',), "read")
    with scripted_upstream([reply]) as up, httpx2.Client() as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            post(client, f"{up.base_url}/v1/messages")
        raw = raw_exchange_after(up.port)
    assert len(up.requests) == 1
    assert raw == b""  # nothing was scripted for the second connection's (absent) request


def test_content_length_framing_when_the_reply_names_one() -> None:
    body = b'{"ok":true}'
    reply = Reply(200, {"content-type": "application/json", "content-length": str(len(body))}, (body,))
    with scripted_upstream([reply]) as up:
        raw = raw_exchange(up.port, b"{}")
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert rest == body


def test_fail_connect_closes_with_no_response() -> None:
    with scripted_upstream([Reply(fail="connect"), Reply.json({"ok": 1})]) as up, httpx2.Client() as client:
        with pytest.raises(httpx2.RemoteProtocolError):
            post(client, f"{up.base_url}/v1/messages", {"n": 0})
        second = post(client, f"{up.base_url}/v1/messages", {"n": 1})
    assert second.json() == {"ok": 1}
    assert [r.body for r in up.requests] == [{"n": 0}, {"n": 1}]


def test_fail_connect_on_the_wire_is_silence() -> None:
    with scripted_upstream([Reply(fail="connect")]) as up:
        raw = raw_exchange(up.port, b"{}")
    assert raw == b""


def test_a_kept_connection_serves_the_next_request() -> None:
    replies = [Reply.json({"n": 0}), Reply.stream(EVENTS), Reply.json({"n": 2})]
    with scripted_upstream(replies) as up, httpx2.Client() as client:
        assert post(client, f"{up.base_url}/v1/messages").json() == {"n": 0}
        assert pieces_of(client, f"{up.base_url}/v1/messages") == EVENTS
        assert post(client, f"{up.base_url}/v1/chat/completions").json() == {"n": 2}
    assert [r.path for r in up.requests] == ["/v1/messages", "/v1/messages", "/v1/chat/completions"]


def test_a_callable_script_sees_each_body_and_its_number() -> None:
    seen: list[tuple[dict[str, Any], int]] = []

    def script(body: dict[str, Any], n: int) -> Reply:
        seen.append((body, n))
        return Reply.stream([chunk({"n": n, "echo": body["q"]}), chunk(b"[DONE]")])

    with scripted_upstream(script) as up, httpx2.Client() as client:
        first = pieces_of(client, f"{up.base_url}/v1/chat/completions", {"q": "a"})
        second = pieces_of(client, f"{up.base_url}/relay/v1/chat/completions", {"q": "b"})
    assert seen == [({"q": "a"}, 0), ({"q": "b"}, 1)]
    assert first == [b'data: {"n":0,"echo":"a"}\n\n', b"data: [DONE]\n\n"]
    assert second[0] == b'data: {"n":1,"echo":"b"}\n\n'


def test_status_without_a_standard_phrase() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with scripted_upstream([Reply.json(body, status=529)]) as up, httpx2.Client() as client:
        response = post(client, f"{up.base_url}/v1/messages")
    assert response.status_code == 529
    assert response.json() == body


def test_an_unscripted_request_fails_the_block() -> None:
    with (
        pytest.raises(AssertionError, match="request 2 arrived, the script has 1 replies"),
        scripted_upstream([Reply.json({})]) as up,
        httpx2.Client() as client,
    ):
        post(client, f"{up.base_url}/v1/messages")
        response = post(client, f"{up.base_url}/v1/messages")
        assert response.status_code == 400


def test_an_unexpected_path_fails_the_block() -> None:
    with (
        pytest.raises(AssertionError, match="unexpected GET /v1/models"),
        scripted_upstream([]) as up,
        httpx2.Client() as client,
    ):
        assert client.get(f"{up.base_url}/v1/models").status_code == 404


def test_a_script_that_raises_is_reported_on_the_tests_own_error() -> None:
    def script(body: dict[str, Any], n: int) -> Reply:
        raise KeyError("max_tokens")

    with (
        pytest.raises(ValueError) as caught,
        scripted_upstream(script) as up,
        httpx2.Client() as client,
    ):
        assert post(client, f"{up.base_url}/v1/messages").status_code == 400
        raise ValueError("the test's own failure")
    assert any("the script raised on request 1" in note for note in caught.value.__notes__)


def test_async_clients_see_the_same_pieces() -> None:
    async def main() -> list[bytes]:
        async with (
            httpx2.AsyncClient() as client,
            client.stream("POST", f"{url}/v1/messages", content=b"{}") as response,
        ):
            return [piece async for piece in response.aiter_raw()]

    with scripted_upstream([Reply.stream(EVENTS)]) as up:
        url = up.base_url
        assert asyncio.run(main()) == EVENTS


def test_concurrent_requests_are_each_answered() -> None:
    def script(body: dict[str, Any], n: int) -> Reply:
        return Reply.json({"echo": body["i"]})

    async def main() -> list[Any]:
        async with httpx2.AsyncClient() as client:
            responses = await asyncio.gather(
                *(client.post(f"{url}/v1/messages", content=orjson.dumps({"i": i})) for i in range(8))
            )
            return [r.json()["echo"] for r in responses]

    with scripted_upstream(script) as up:
        url = up.base_url
        assert asyncio.run(main()) == list(range(8))
    assert sorted(r.body["i"] for r in up.requests) == list(range(8))


# -- raw sockets ------------------------------------------------------------------------------------
def raw_exchange(port: int, body: bytes) -> bytes:
    """One request on a fresh socket; every byte that came back until the server closed or
    ended the body (a clean chunked end or the content length)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(body), body)
        )
        got = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                return got
            got += piece
            if _complete(got):
                return got


def raw_exchange_after(port: int) -> bytes:
    """Open a connection and close it at once: the server must not answer nothing with bytes."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(65536)


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return body.endswith(b"0\r\n\r\n")
