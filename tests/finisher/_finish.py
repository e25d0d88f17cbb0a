"""What the finisher's tests share: a simulator on 127.0.0.1, SDK clients whose transport runs the
finisher, and two taps that see every byte on either side of it.

- :class:`Upstream` sits between the finisher and the network: it records each request the
  finisher really made and the bytes that came back, so rounds, retries and the usage of each
  round are counted independently of what the finisher says about itself.
- :class:`Downstream` sits between the SDK and the finisher: it keeps the bytes the SDK was
  handed, so the ``stopwise`` event that ends a stream (which SDKs skip) can be read.

``finish_*`` run one request through an SDK and fold what it returned into a :class:`Finished`,
checking on the way the one-response promise: one id, continuous block indices, one final
``message_delta`` / finish chunk.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import openai
import orjson

from stopwise.finisher import ModelMemory, Policy, RetryPolicy
from stopwise.sim import SimConfig, running
from stopwise.sse import SSEDecoder
from stopwise.transport import AsyncFinisherTransport, FinisherTransport

#: Many rounds allowed (tiny caps need hundreds), retries with no real waiting.
FAST_RETRY = RetryPolicy(initial_delay=0.001, max_delay=0.01)
POLICY = Policy(max_rounds=2000, grow_max_tokens=1.0, retry=FAST_RETRY)

PREFILL_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5")
TEXT_KINDS = ("prose", "code", "json", "table", "cjk")


def running_sim(config: SimConfig | None = None) -> contextlib.AbstractContextManager[str]:
    return running(config)


def ask(kind: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"Write {kind} please"}]


# -- taps -------------------------------------------------------------------------------------------
@dataclass
class Exchange:
    body: dict[str, Any] | None
    path: str
    status: int = 0
    raw: bytearray = field(default_factory=bytearray)
    failed: bool = False  # no response at all (connection refused…)


class _Tee(httpx2.SyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self._inner, self._sink = inner, sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sink += chunk
            yield chunk

    def close(self) -> None:
        self._inner.close()


class _AsyncTee(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self._inner, self._sink = inner, sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._sink += chunk
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


def _body(request: httpx2.Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(request.content)
    except (orjson.JSONDecodeError, httpx2.RequestNotRead):
        return None
    return body if isinstance(body, dict) else None


class Tap(httpx2.BaseTransport):
    """Records every exchange through ``inner``."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        ex = Exchange(_body(request), request.url.path)
        self.exchanges.append(ex)
        try:
            response = self.inner.handle_request(request)
        except httpx2.TransportError:
            ex.failed = True
            raise
        ex.status = response.status_code
        response.stream = _Tee(response.stream, ex.raw)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncTap(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        ex = Exchange(_body(request), request.url.path)
        self.exchanges.append(ex)
        try:
            response = await self.inner.handle_async_request(request)
        except httpx2.TransportError:
            ex.failed = True
            raise
        ex.status = response.status_code
        response.stream = _AsyncTee(response.stream, ex.raw)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Rig:
    """One SDK-facing httpx2 client with taps on both sides of the finisher."""

    upstream: Any  # Tap | AsyncTap
    downstream: Any
    client: Any  # httpx2.Client | httpx2.AsyncClient
    sleeps: list[float]
    memory: ModelMemory

    def __enter__(self) -> Rig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    async def __aenter__(self) -> Rig:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    def reset(self) -> None:
        self.upstream.exchanges.clear()
        self.downstream.exchanges.clear()
        self.sleeps.clear()

    @property
    def sent(self) -> list[Exchange]:
        return [
            e for e in self.upstream.exchanges if e.path.endswith(("/messages", "/completions", "/responses"))
        ]

    def summary(self) -> dict[str, Any] | None:
        """The ``stopwise`` event at the end of the last stream the SDK was handed."""
        if not self.downstream.exchanges:
            return None
        return stopwise_event(bytes(self.downstream.exchanges[-1].raw))


def rig(
    *,
    policy: Policy = POLICY,
    memory: ModelMemory | None = None,
    inner: httpx2.BaseTransport | None = None,
) -> Rig:
    sleeps: list[float] = []
    memory = memory or ModelMemory()
    up = Tap(inner or httpx2.HTTPTransport())
    finisher = FinisherTransport(up, policy=policy, memory=memory, sleep=sleeps.append)
    down = Tap(finisher)
    client = httpx2.Client(transport=down, timeout=httpx2.Timeout(60.0, connect=5.0))
    return Rig(up, down, client, sleeps, memory)


def async_rig(*, policy: Policy = POLICY, memory: ModelMemory | None = None) -> Rig:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    memory = memory or ModelMemory()
    up = AsyncTap(httpx2.AsyncHTTPTransport())
    finisher = AsyncFinisherTransport(up, policy=policy, memory=memory, sleep=sleep)
    down = AsyncTap(finisher)
    client = httpx2.AsyncClient(transport=down, timeout=httpx2.Timeout(60.0, connect=5.0))
    return Rig(up, down, client, sleeps, memory)


def anthropic_sdk(url: str, r: Rig) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="x", max_retries=0, http_client=r.client)


def async_anthropic_sdk(url: str, r: Rig) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0, http_client=r.client)


def openai_sdk(url: str, r: Rig, *, relay: bool = False) -> openai.OpenAI:
    base = f"{url}/relay/v1" if relay else f"{url}/v1"
    return openai.OpenAI(base_url=base, api_key="x", max_retries=0, http_client=r.client)


def async_openai_sdk(url: str, r: Rig, *, relay: bool = False) -> openai.AsyncOpenAI:
    base = f"{url}/relay/v1" if relay else f"{url}/v1"
    return openai.AsyncOpenAI(base_url=base, api_key="x", max_retries=0, http_client=r.client)


# -- reading what came back ---------------------------------------------------------------------
def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    events = [(e.event, e.data) for e in decoder.decode(raw)]
    last = decoder.flush()
    if last is not None:
        events.append((last.event, last.data))
    return events


def stopwise_event(raw: bytes) -> dict[str, Any] | None:
    for name, data in sse_events(raw):
        if name == "stopwise":
            obj = orjson.loads(data)
            assert isinstance(obj, dict)
            return obj
    return None


def round_output_tokens(ex: Exchange) -> int:
    """Output tokens one upstream response reports (0 for an error)."""
    if ex.status != 200 or not ex.raw:
        return 0
    raw = bytes(ex.raw)
    if raw.lstrip().startswith(b"{"):
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return 0  # a body cut by a dropped connection
        usage = body.get("usage") or {}
        return int(usage.get("output_tokens") or usage.get("completion_tokens") or 0)
    tokens = 0
    for _, data in sse_events(raw):
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        usage = obj.get("usage") if obj.get("type") == "message_delta" or "choices" in obj else None
        if isinstance(usage, dict):
            tokens = int(usage.get("output_tokens") or usage.get("completion_tokens") or 0)
    return tokens


def upstream_output_tokens(r: Rig) -> int:
    return sum(round_output_tokens(e) for e in r.sent)


@dataclass
class Finished:
    text: str
    stop: str | None
    output_tokens: int
    ids: set[str]
    headers: dict[str, str] = field(default_factory=dict)  # x-stopwise-* (non-stream)
    content: list[Any] = field(default_factory=list)  # Anthropic blocks, or OpenAI tool calls
    summary: dict[str, Any] | None = None  # the stopwise event (stream)

    @property
    def rounds(self) -> int:
        if self.summary is not None:
            return int(self.summary["rounds"])
        return int(self.headers["x-stopwise-rounds"])

    @property
    def modes(self) -> list[str]:
        if self.summary is not None:
            return list(self.summary["modes"])
        return self.headers["x-stopwise-modes"].split(",")


def _stopwise_headers(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-stopwise")}


def _anthropic_text(content: list[Any]) -> str:
    return "".join(b.text for b in content if b.type == "text")


class AnthropicStreamFold:
    """Folds SDK stream events and checks the one-stream grammar as it goes."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.starts = 0
        self.deltas: list[Any] = []
        self.stops = 0
        self.open: dict[int, Any] = {}
        self.closed: list[int] = []
        self.next_index = 0
        self.blocks: dict[int, dict[str, Any]] = {}
        self.text = ""
        self.errors: list[str] = []

    def feed(self, event: Any) -> None:
        kind = event.type
        if kind == "message_start":
            self.starts += 1
            self.ids.add(event.message.id)
        elif kind == "content_block_start":
            if event.index != self.next_index:
                self.errors.append(f"block index {event.index}, expected {self.next_index}")
            self.next_index = event.index + 1
            self.open[event.index] = event.content_block
            self.blocks[event.index] = {"type": event.content_block.type, "text": "", "json": ""}
        elif kind == "content_block_delta":
            if event.index not in self.open:
                self.errors.append(f"delta for block {event.index}, which is not open")
                return
            d = event.delta
            if d.type == "text_delta":
                self.blocks[event.index]["text"] += d.text
                self.text += d.text
            elif d.type == "input_json_delta":
                self.blocks[event.index]["json"] += d.partial_json
            elif d.type == "thinking_delta":
                self.blocks[event.index]["text"] += d.thinking
            elif d.type == "signature_delta":
                self.blocks[event.index]["signature"] = d.signature
        elif kind == "content_block_stop":
            if self.open.pop(event.index, None) is None:
                self.errors.append(f"stop for block {event.index}, which is not open")
            self.closed.append(event.index)
        elif kind == "message_delta":
            self.deltas.append(event)
        elif kind == "message_stop":
            self.stops += 1

    def check(self) -> None:
        assert not self.errors, self.errors
        assert self.starts == 1, f"{self.starts} message_start events"
        assert len(self.deltas) == 1, f"{len(self.deltas)} message_delta events"
        assert self.stops == 1, f"{self.stops} message_stop events"
        # The API itself may end a stream cut by max_tokens inside a tool block without that
        # block's content_block_stop (brief/wire.md), and a stream handed on unchanged keeps it so.
        cut = self.deltas and self.deltas[-1].delta.stop_reason == "max_tokens"
        never = sorted(self.open)
        assert not never or (cut and never == [max(self.blocks)]), f"blocks never stopped: {never}"


def finish_anthropic(
    client: anthropic.Anthropic,
    r: Rig,
    *,
    model: str,
    cap: int,
    messages: list[dict[str, Any]],
    stream: bool,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Finished:
    r.reset()
    if not stream:
        raw = client.messages.with_raw_response.create(
            model=model, max_tokens=cap, messages=messages, extra_headers=headers or {}, **kwargs
        )
        msg = raw.parse()
        return Finished(
            _anthropic_text(msg.content),
            msg.stop_reason,
            msg.usage.output_tokens,
            {msg.id},
            _stopwise_headers(raw.headers),
            list(msg.content),
        )
    fold = AnthropicStreamFold()
    events = client.messages.create(
        model=model, max_tokens=cap, messages=messages, extra_headers=headers or {}, stream=True, **kwargs
    )
    with events:
        for event in events:
            fold.feed(event)
    fold.check()
    delta = fold.deltas[0]
    return Finished(
        fold.text,
        delta.delta.stop_reason,
        delta.usage.output_tokens,
        fold.ids,
        content=[fold.blocks[i] for i in sorted(fold.blocks)],
        summary=r.summary(),
    )


async def afinish_anthropic(
    client: anthropic.AsyncAnthropic,
    r: Rig,
    *,
    model: str,
    cap: int,
    messages: list[dict[str, Any]],
    stream: bool,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Finished:
    r.reset()
    if not stream:
        raw = await client.messages.with_raw_response.create(
            model=model, max_tokens=cap, messages=messages, extra_headers=headers or {}, **kwargs
        )
        msg = await raw.parse()
        return Finished(
            _anthropic_text(msg.content),
            msg.stop_reason,
            msg.usage.output_tokens,
            {msg.id},
            _stopwise_headers(raw.headers),
            list(msg.content),
        )
    fold = AnthropicStreamFold()
    events = await client.messages.create(
        model=model, max_tokens=cap, messages=messages, extra_headers=headers or {}, stream=True, **kwargs
    )
    async with events:
        async for event in events:
            fold.feed(event)
    fold.check()
    delta = fold.deltas[0]
    return Finished(
        fold.text,
        delta.delta.stop_reason,
        delta.usage.output_tokens,
        fold.ids,
        content=[fold.blocks[i] for i in sorted(fold.blocks)],
        summary=r.summary(),
    )


class OpenAIStreamFold:
    def __init__(self) -> None:
        self.ids: set[str] = set()
        self.text = ""
        self.finishes: list[str] = []
        self.usage: list[Any] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.refusal = ""

    def feed(self, chunk: Any) -> None:
        self.ids.add(chunk.id)
        if chunk.usage is not None:
            self.usage.append(chunk.usage)
        for choice in chunk.choices:
            delta = choice.delta
            self.text += delta.content or ""
            self.refusal += getattr(delta, "refusal", None) or ""
            for call in delta.tool_calls or []:
                slot = self.calls.setdefault(call.index, {"name": "", "arguments": ""})
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            if choice.finish_reason is not None:
                self.finishes.append(choice.finish_reason)

    def check(self) -> None:
        assert len(self.ids) == 1, f"chunk ids {self.ids}"
        assert len(self.finishes) == 1, f"finish reasons {self.finishes}"
        assert len(self.usage) == 1, f"{len(self.usage)} usage chunks"


def finish_openai(
    client: openai.OpenAI,
    r: Rig,
    *,
    model: str,
    cap: int | None,
    messages: list[dict[str, Any]],
    stream: bool,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Finished:
    r.reset()
    if cap is not None:
        kwargs["max_tokens"] = cap
    if not stream:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=messages, extra_headers=headers or {}, **kwargs
        )
        completion = raw.parse()
        choice = completion.choices[0]
        return Finished(
            choice.message.content or "",
            choice.finish_reason,
            completion.usage.completion_tokens if completion.usage else -1,
            {completion.id},
            _stopwise_headers(raw.headers),
            list(choice.message.tool_calls or []),
        )
    fold = OpenAIStreamFold()
    chunks = client.chat.completions.create(
        model=model,
        messages=messages,
        extra_headers=headers or {},
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,
    )
    with chunks:
        for chunk in chunks:
            fold.feed(chunk)
    fold.check()
    return Finished(
        fold.text,
        fold.finishes[0],
        fold.usage[0].completion_tokens,
        fold.ids,
        content=[fold.calls[i] for i in sorted(fold.calls)],
        summary=r.summary(),
    )


async def afinish_openai(
    client: openai.AsyncOpenAI,
    r: Rig,
    *,
    model: str,
    cap: int | None,
    messages: list[dict[str, Any]],
    stream: bool,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Finished:
    r.reset()
    if cap is not None:
        kwargs["max_tokens"] = cap
    if not stream:
        raw = await client.chat.completions.with_raw_response.create(
            model=model, messages=messages, extra_headers=headers or {}, **kwargs
        )
        completion = await raw.parse()
        choice = completion.choices[0]
        return Finished(
            choice.message.content or "",
            choice.finish_reason,
            completion.usage.completion_tokens if completion.usage else -1,
            {completion.id},
            _stopwise_headers(raw.headers),
            list(choice.message.tool_calls or []),
        )
    fold = OpenAIStreamFold()
    chunks = await client.chat.completions.create(
        model=model,
        messages=messages,
        extra_headers=headers or {},
        stream=True,
        stream_options={"include_usage": True},
        **kwargs,
    )
    async with chunks:
        async for chunk in chunks:
            fold.feed(chunk)
    fold.check()
    return Finished(
        fold.text,
        fold.finishes[0],
        fold.usage[0].completion_tokens,
        fold.ids,
        content=[fold.calls[i] for i in sorted(fold.calls)],
        summary=r.summary(),
    )


def first_difference(got: str, want: str) -> str:
    """Where two texts part, for an assertion message."""
    i = 0
    n = min(len(got), len(want))
    while i < n and got[i] == want[i]:
        i += 1
    return (
        f"differ at {i} of {len(want)} (got {len(got)}): "
        f"got {got[i - 30 : i + 40]!r}, want {want[i - 30 : i + 40]!r}"
    )
