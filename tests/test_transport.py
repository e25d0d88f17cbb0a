"""The httpx2 transports (:mod:`stopwise.transport`): what they run the finisher on, what they
leave alone, both drivers, and a dead upstream surfacing as the SDK's own connection error."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import anthropic
import httpx2
import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopwise.finisher import Policy, RetryPolicy
from stopwise.sim import full_document, running
from stopwise.transport import AsyncFinisherTransport, FinisherTransport, async_http_client, http_client

FAST = Policy(max_rounds=200, retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))
ASK = [{"role": "user", "content": "Write prose please"}]


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with running() as url:
        yield url


class Spy(httpx2.BaseTransport):
    """Keeps each request as it reached the network."""

    def __init__(self) -> None:
        self.inner = httpx2.HTTPTransport()
        self.seen: list[httpx2.Request] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        self.seen.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_models_list_passes_through_untouched(sim_url: str) -> None:
    spy = Spy()
    with httpx2.Client(transport=FinisherTransport(spy, policy=FAST)) as http:
        client = anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=0, http_client=http)
        raw = client.models.with_raw_response.list()
        page = raw.parse()
        oai = openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0, http_client=http)
        models = oai.models.list()
    assert "claude-opus-4-6" in [m.id for m in page.data]
    assert "gpt-4o" in [m.id for m in models.data]
    assert [r.method for r in spy.seen] == ["GET", "GET"]
    assert not any(k.lower().startswith("x-stopwise") for k in raw.headers)


def test_count_tokens_passes_through_untouched(sim_url: str) -> None:
    plain = anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=0)
    want = plain.messages.count_tokens(model="claude-haiku-4-5", messages=ASK)  # type: ignore[arg-type]
    plain.close()
    spy = Spy()
    with httpx2.Client(transport=FinisherTransport(spy, policy=FAST)) as http:
        client = anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=0, http_client=http)
        raw = client.messages.with_raw_response.count_tokens(model="claude-haiku-4-5", messages=ASK)  # type: ignore[arg-type]
    assert raw.parse().input_tokens == want.input_tokens
    assert len(spy.seen) == 1 and spy.seen[0].url.path == "/v1/messages/count_tokens"
    # Passed through as it was: the body the SDK wrote, byte for byte.
    assert orjson.loads(spy.seen[0].content) == {"model": "claude-haiku-4-5", "messages": ASK}
    assert "x-stopwise" not in raw.headers


def test_unparseable_body_passes_through(sim_url: str) -> None:
    spy = Spy()
    with httpx2.Client(transport=FinisherTransport(spy, policy=FAST)) as http:
        response = http.post(
            f"{sim_url}/v1/messages",
            content=b"{not json",
            headers={"x-api-key": "x", "anthropic-version": "2023-06-01", "content-type": "application/json"},
        )
    assert response.status_code == 400
    assert "invalid JSON" in response.json()["error"]["message"]
    assert len(spy.seen) == 1 and spy.seen[0].content == b"{not json"


def test_sync_client_finishes(sim_url: str) -> None:
    with anthropic.Anthropic(
        base_url=sim_url, api_key="x", max_retries=0, http_client=http_client(policy=FAST)
    ) as client:
        raw = client.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=300, messages=ASK)  # type: ignore[arg-type]
        msg = raw.parse()
    assert msg.content[0].text == full_document("prose")  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn" and int(raw.headers["x-stopwise-rounds"]) > 1
    assert raw.headers["x-stopwise"] == "finisher"


def test_async_client_finishes(sim_url: str) -> None:
    async def go() -> tuple[str, str | None, str]:
        async with (
            anthropic.AsyncAnthropic(
                base_url=sim_url, api_key="x", max_retries=0, http_client=async_http_client(policy=FAST)
            ) as client,
            openai.AsyncOpenAI(
                base_url=f"{sim_url}/v1",
                api_key="x",
                max_retries=0,
                http_client=async_http_client(policy=FAST),
            ) as oai,
        ):
            msg = await client.messages.create(model="claude-haiku-4-5", max_tokens=300, messages=ASK)  # type: ignore[arg-type]
            stream = await oai.chat.completions.create(
                model="gpt-4o", max_tokens=300, messages=ASK, stream=True
            )  # type: ignore[arg-type]
            text = ""
            async for chunk in stream:
                text += "".join(c.delta.content or "" for c in chunk.choices)
            return msg.content[0].text, msg.stop_reason, text  # type: ignore[union-attr]

    text, stop, streamed = asyncio.run(go())
    assert text == full_document("prose") and stop == "end_turn"
    assert streamed == full_document("prose")


def test_http_client_accepts_client_options() -> None:
    with http_client(policy=FAST, timeout=httpx2.Timeout(3.0)) as http:
        assert http.timeout.read == 3.0
        assert isinstance(http._transport, FinisherTransport)
    client = async_http_client()
    assert isinstance(client._transport, AsyncFinisherTransport)
    asyncio.run(client.aclose())


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_connection_refused_is_the_sdks_connection_error(stream: bool) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with (
        anthropic.Anthropic(
            base_url=url, api_key="x", max_retries=0, http_client=http_client(policy=FAST)
        ) as client,
        pytest.raises(anthropic.APIConnectionError),
    ):
        client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ASK, stream=stream)  # type: ignore[call-overload]
    with (
        openai.OpenAI(
            base_url=f"{url}/v1", api_key="x", max_retries=0, http_client=http_client(policy=FAST)
        ) as oai,
        pytest.raises(openai.APIConnectionError),
    ):
        oai.chat.completions.create(model="gpt-4o", max_tokens=50, messages=ASK, stream=stream)  # type: ignore[call-overload]


def test_connection_refused_async() -> None:
    url = f"http://127.0.0.1:{closed_port()}"

    async def go() -> None:
        async with anthropic.AsyncAnthropic(
            base_url=url, api_key="x", max_retries=0, http_client=async_http_client(policy=FAST)
        ) as client:
            await client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=ASK)  # type: ignore[arg-type]

    with pytest.raises(anthropic.APIConnectionError):
        asyncio.run(go())


def test_connection_refused_is_retried_then_raised() -> None:
    # A refused connection is retried like a passing error (brief/wire.md: the SDKs retry
    # connection errors), with the policy's waits, then surfaces as the transport's error.
    sleeps: list[float] = []
    transport = FinisherTransport(policy=FAST, sleep=sleeps.append)
    url = f"http://127.0.0.1:{closed_port()}"
    with httpx2.Client(transport=transport) as http, pytest.raises(httpx2.ConnectError):
        http.post(f"{url}/v1/messages", json={"model": "claude-haiku-4-5", "max_tokens": 5, "messages": ASK})
    assert len(sleeps) == FAST.retry.max_retries


_BODIES = st.fixed_dictionaries(
    {
        "model": st.just("claude-sonnet-4-5"),
        "max_tokens": st.integers(2, 4096),  # above the answer's 1 token: nothing to finish
        "messages": st.just([{"role": "user", "content": "hi"}]),
    },
    optional={"metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3)},
)


@settings(max_examples=40, deadline=None)
@given(_BODIES, st.sampled_from([(", ", ": "), (",", ":"), (" ,  ", " :  ")]), st.booleans())
def test_a_first_round_goes_upstream_as_the_callers_bytes(
    body: dict, separators: tuple[str, str], ascii_only: bool
) -> None:
    """Nothing to change in the caller's request: its bytes go upstream as they came (however
    it spaced or escaped its JSON), not a re-serialization of what we parsed."""
    raw = json.dumps(body, separators=separators, ensure_ascii=ascii_only).encode()
    seen: list[bytes] = []
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }

    def upstream(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.read())
        return httpx2.Response(200, json=answer)

    with httpx2.Client(transport=FinisherTransport(httpx2.MockTransport(upstream))) as client:
        r = client.post(
            "http://127.0.0.1:9/v1/messages", content=raw, headers={"content-type": "application/json"}
        )
    assert r.status_code == 200
    assert seen == [raw]


def test_clients_given_one_memory_share_what_a_400_taught() -> None:
    """The first client's continuation gets the API's prefill 400 for a name the catalog does not
    know and learns it; a second client given the same memory never tries the prefill (the
    upstream counts the 400s it sent), and with a memory of its own it would."""
    from starlette.types import Message, Receive, Scope, Send

    from stopwise import ModelMemory
    from stopwise.sim import SimConfig, create_app, serve_in_thread

    sim = create_app(SimConfig(aliases={"team-claude": "claude-opus-4-6"}))
    statuses: list[int] = []

    async def counting(scope: Scope, receive: Receive, send: Send) -> None:
        async def snd(message: Message) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])
            await send(message)

        await sim(scope, receive, snd)

    def ask(url: str, memory: ModelMemory | None) -> str:
        with anthropic.Anthropic(
            base_url=url, api_key="x", max_retries=0, http_client=http_client(memory=memory)
        ) as client:
            m = client.messages.create(
                model="team-claude", max_tokens=300, messages=[{"role": "user", "content": "prose"}]
            )
            return m.content[0].text  # type: ignore[union-attr]

    shared = ModelMemory()
    with serve_in_thread(counting) as url:
        assert ask(url, shared) == full_document("prose") and statuses.count(400) == 1
        assert shared.prefill("anthropic", "team-claude") is False
        assert ask(url, shared) == full_document("prose") and statuses.count(400) == 1
        assert ask(url, None) == full_document("prose") and statuses.count(400) == 2
