"""Every ``x-sim-fault`` through the official SDKs, plus the parser (docs/sim.md, "Faults")."""

from __future__ import annotations

import asyncio
import time
import uuid

import anthropic
import httpx2
import openai
import pytest

from stopwise.sim.faults import parse_faults
from stopwise.sim.http_errors import SimError

MODEL = "claude-haiku-4-5"
USER = [{"role": "user", "content": "prose"}]


def fault(spec: str, **extra: str) -> dict[str, str]:
    return {"x-sim-fault": spec, **extra}


def create(client: anthropic.Anthropic, spec: str, **kwargs: object) -> anthropic.types.Message:
    return client.messages.create(
        model=MODEL, max_tokens=20, messages=USER, extra_headers=fault(spec), **kwargs
    )  # type: ignore[arg-type]


def test_429_with_retry_after(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        create(claude, "429")
    assert info.value.response.headers["retry-after"] == "1"
    assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    with pytest.raises(anthropic.RateLimitError) as info:
        create(claude, "429,retry-after-ms:250")
    assert (
        info.value.response.headers["retry-after-ms"] == "250"
        and "retry-after" not in info.value.response.headers
    )


def test_spend_limit_429_has_no_retry_after(claude: anthropic.Anthropic, gpt: openai.OpenAI) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        create(claude, "spend-limit")
    assert "retry-after" not in info.value.response.headers
    assert info.value.body["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}  # type: ignore[index]
    with pytest.raises(openai.RateLimitError) as oinfo:
        gpt.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=fault("spend-limit"))  # type: ignore[arg-type]
    assert oinfo.value.code == "insufficient_quota" and "retry-after" not in oinfo.value.response.headers


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("500", anthropic.InternalServerError),
        ("503", anthropic.ServiceUnavailableError),
        ("529", anthropic.OverloadedError),
    ],
)
def test_server_errors(claude: anthropic.Anthropic, status: str, error: type[Exception]) -> None:
    with pytest.raises(error) as info:
        create(claude, status)
    assert info.value.status_code == int(status)  # type: ignore[attr-defined]
    assert info.value.response.headers["request-id"].startswith("req_")  # type: ignore[attr-defined]


def test_openai_server_errors(gpt: openai.OpenAI) -> None:
    for status in ("429", "500", "503"):
        with pytest.raises(openai.APIStatusError) as info:
            gpt.chat.completions.create(model="gpt-4o", messages=USER, extra_headers=fault(status))  # type: ignore[arg-type]
        assert info.value.status_code == int(status) and info.value.response.headers["x-request-id"]


def test_fail_first_then_success_with_sdk_retries(sim_url: str) -> None:
    key = uuid.uuid4().hex
    headers = fault("fail-first:2,retry-after-ms:1", **{"x-sim-attempt-key": key})
    with anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=2) as client:
        msg = client.messages.create(model=MODEL, max_tokens=5, messages=USER, extra_headers=headers)  # type: ignore[arg-type]
    assert msg.stop_reason == "max_tokens"
    # Without an explicit key the body hash is the key: an SDK retry repeats the body exactly.
    with openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=1) as client:
        body_keyed = [{"role": "user", "content": f"prose {key}"}]
        done = client.chat.completions.create(
            model="gpt-4o",
            max_tokens=5,
            messages=body_keyed,
            extra_headers=fault("fail-first:1:503,retry-after-ms:1"),  # type: ignore[arg-type]
        )
    assert done.choices[0].finish_reason == "length"


def test_should_retry_false_stops_sdk_retries(sim_url: str) -> None:
    key = uuid.uuid4().hex
    headers = fault("fail-first:1,should-retry:false,retry-after-ms:1", **{"x-sim-attempt-key": key})
    with anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=2) as client:
        with pytest.raises(anthropic.OverloadedError) as info:
            client.messages.create(model=MODEL, max_tokens=5, messages=USER, extra_headers=headers)  # type: ignore[arg-type]
        assert info.value.response.headers["x-should-retry"] == "false"
        # The second attempt with that key succeeds: the SDK really did not retry.
        assert client.messages.create(model=MODEL, max_tokens=5, messages=USER, extra_headers=headers).id  # type: ignore[arg-type]


def test_per_model_faults_from_config(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.OverloadedError):
        claude.messages.create(model="claude-opus-4-1", max_tokens=5, messages=USER)  # type: ignore[arg-type]


def test_mid_stream_overloaded_error(claude: anthropic.Anthropic, gpt: openai.OpenAI) -> None:
    seen = []
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        claude.messages.stream(
            model=MODEL, max_tokens=50, messages=USER, extra_headers=fault("stream-error:5")
        ) as s,
    ):  # type: ignore[arg-type]
        seen.extend(e.type for e in s)
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    assert info.value.status_code == 200
    with pytest.raises(openai.APIError):
        stream = gpt.chat.completions.create(
            model="gpt-4o", messages=USER, stream=True, extra_headers=fault("stream-error:3")
        )  # type: ignore[arg-type]
        list(stream)


def test_connection_dropped_after_n_bytes(sim_url: str, claude: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "max_tokens": 200, "messages": USER, "stream": True}
    with httpx2.stream("POST", f"{sim_url}/v1/messages", json=body, headers=fault("drop:700")) as response:
        received = b""
        with pytest.raises(httpx2.RemoteProtocolError):
            for chunk in response.iter_bytes():
                received += chunk
    assert len(received) == 700
    with (
        pytest.raises((anthropic.APIConnectionError, httpx2.HTTPError)),
        claude.messages.stream(
            model=MODEL, max_tokens=200, messages=USER, extra_headers=fault("drop:700")
        ) as s,
    ):  # type: ignore[arg-type]
        s.until_done()
    # A non-streaming body can be cut too: the content-length promises more than arrives.
    with pytest.raises((anthropic.APIConnectionError, httpx2.HTTPError)):
        create(claude, "drop:40")


def test_stall_then_read_timeout(sim_url: str) -> None:
    # The timeout is what ends it (no upper bound on time: a stall that ended after its 2 s
    # would let the stream finish, and no error would be raised).
    with (
        anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=0, timeout=0.3) as client,
        pytest.raises((anthropic.APITimeoutError, httpx2.ReadTimeout)),
        client.messages.stream(
            model=MODEL, max_tokens=20, messages=USER, extra_headers=fault("stall:2")
        ) as s,
    ):  # type: ignore[arg-type]
        s.until_done()


def test_slow_pacing(claude: anthropic.Anthropic) -> None:
    started = time.monotonic()
    with claude.messages.stream(
        model=MODEL, max_tokens=12, messages=USER, extra_headers=fault("slow:30")
    ) as s:  # type: ignore[arg-type]
        s.until_done()
    # 11 events on the wire (5 text deltas): 10 pauses of 30 ms between them.
    assert time.monotonic() - started >= 0.3


def test_malformed_sse_line(claude: anthropic.Anthropic, gpt: openai.OpenAI) -> None:
    with (
        pytest.raises(ValueError),
        claude.messages.stream(
            model=MODEL, max_tokens=20, messages=USER, extra_headers=fault("malformed:4")
        ) as s,
    ):  # type: ignore[arg-type]
        s.until_done()
    with pytest.raises(ValueError):
        list(
            gpt.chat.completions.create(
                model="gpt-4o", messages=USER, stream=True, extra_headers=fault("malformed:2")
            )
        )  # type: ignore[arg-type]


def test_stream_without_terminal_event(claude: anthropic.Anthropic, gpt: openai.OpenAI, sim_url: str) -> None:
    with claude.messages.stream(
        model=MODEL, max_tokens=20, messages=USER, extra_headers=fault("no-terminal")
    ) as s:  # type: ignore[arg-type]
        msg = s.get_final_message()
    assert msg.stop_reason is None and msg.content[0].text  # type: ignore[union-attr]
    chunks = list(
        gpt.chat.completions.create(
            model="gpt-4o", messages=USER, stream=True, extra_headers=fault("no-terminal")
        )
    )  # type: ignore[arg-type]
    assert all(c.choices[0].finish_reason is None for c in chunks)
    body = {"model": "gpt-4o", "messages": USER, "stream": True}
    raw = httpx2.post(f"{sim_url}/v1/chat/completions", json=body, headers=fault("no-done")).content
    assert b'"finish_reason":"stop"' in raw and b"[DONE]" not in raw


def test_async_clients_see_faults(sim_url: str) -> None:
    async def main() -> None:
        async with anthropic.AsyncAnthropic(base_url=sim_url, api_key="x", max_retries=0) as client:
            with pytest.raises(anthropic.OverloadedError):
                await client.messages.create(
                    model=MODEL, max_tokens=5, messages=USER, extra_headers=fault("529")
                )  # type: ignore[arg-type]
        async with openai.AsyncOpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0) as oclient:
            with pytest.raises(openai.APIError):
                stream = await oclient.chat.completions.create(
                    model="gpt-4o",
                    messages=USER,
                    stream=True,
                    extra_headers=fault("stream-error:2"),  # type: ignore[arg-type]
                )
                async for _ in stream:
                    pass

    asyncio.run(main())


def test_parse_faults() -> None:
    f = parse_faults("529", " drop:10 , stall:0.5,slow:5,no-terminal")
    assert (f.status, f.drop_after, f.stall, f.slow_ms, f.no_terminal) == (529, 10, 0.5, 5.0, True)
    with pytest.raises(SimError, match="unknown or malformed fault"):
        parse_faults("explode")
    with pytest.raises(SimError):
        parse_faults("drop:lots")


def test_openai_dropped_and_stalled_streams(sim_url: str, gpt: openai.OpenAI) -> None:
    with pytest.raises((openai.APIConnectionError, httpx2.HTTPError)):
        list(
            gpt.chat.completions.create(
                model="gpt-4o", messages=USER, stream=True, extra_headers=fault("drop:500")
            )
        )  # type: ignore[arg-type]
    client = openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0, timeout=0.3)
    with client, pytest.raises((openai.APITimeoutError, httpx2.ReadTimeout)):
        list(
            client.chat.completions.create(
                model="gpt-4o", messages=USER, stream=True, extra_headers=fault("stall:2")
            )
        )  # type: ignore[arg-type]
