"""A hostile upstream, end to end (issue 10): legitimate but unusual Anthropic and OpenAI responses
(shapes the simulator never makes) served as scripted bytes on 127.0.0.1 by
:mod:`stopwise.testing.server`, read through the official SDKs (sync and async, stream and not)
with ``stopwise.http_client()`` / ``async_http_client()`` as their HTTP client.

Each test checks what the caller sees (the SDK's objects, the raw bytes its client was handed) and
what was asked upstream (how many requests, their bodies). Where nothing needs finishing, the
reference is the same SDK reading the same scripted bytes with a plain ``httpx2`` client: the
finisher must be invisible (issue 10, invariant 1).

These define the target of the engine rewrite; many fail on the engine they were written against.
"""

from __future__ import annotations

import asyncio
import copy
import random
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import orjson
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

import stopwise
from stopwise.finisher import Policy, RetryPolicy
from stopwise.sse import SSEDecoder
from stopwise.testing import Reply, Upstream, chunk, sse
from stopwise.testing.server import UpstreamRequest, scripted_upstream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

#: Retries without real waiting (the default policy waits 0.5 s and more between them).
FAST = Policy(retry=RetryPolicy(initial_delay=0.001, max_delay=0.005))
FAST_GIVE_UP = Policy(retry=RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.005))

MODES = [
    pytest.param("sync", False, id="sync-body"),
    pytest.param("sync", True, id="sync-stream"),
    pytest.param("async", False, id="async-body"),
    pytest.param("async", True, id="async-stream"),
]
STREAM_MODES = [pytest.param("sync", True, id="sync-stream"), pytest.param("async", True, id="async-stream")]
BODY_MODES = [pytest.param("sync", False, id="sync-body"), pytest.param("async", False, id="async-body")]

PREFILL_MODEL = "claude-sonnet-4-5"  # accepts an assistant prefill
CONTINUE_MODEL = "claude-opus-4-6"  # rejects prefill: continuation is a continue turn
OPENAI_MODEL = "gpt-4o"

ASK = [{"role": "user", "content": "Tell me about it."}]
SSE_TYPE = "text/event-stream; charset=utf-8"
JSON_TYPE = "application/json"


# -- what the caller saw --------------------------------------------------------------------------
@dataclass
class Seen:
    """One SDK call: what the caller got, and what the upstream was asked."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""  # the bytes the SDK's HTTP client handed it
    result: dict[str, Any] | None = None  # the SDK's final message / completion, as a dict
    texts: list[str] = field(default_factory=list)  # text deltas in the order the SDK yielded them
    error: BaseException | None = None
    requests: list[UpstreamRequest] = field(default_factory=list)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

    @property
    def text(self) -> str:
        """The answer's text: the stream's text deltas, or the final object's text."""
        if self.texts:
            return "".join(self.texts)
        return result_text(self.result)

    def events(self) -> list[tuple[str | None, Any]]:
        """The SSE events the SDK was handed (the stopwise summary aside), data parsed as JSON."""
        return [e for e in sse_events(self.raw) if e[0] != "stopwise"]

    def ok(self) -> dict[str, Any]:
        if self.error is not None:
            raise AssertionError(f"the SDK raised {self.error!r}") from self.error
        assert self.result is not None
        return self.result


def result_text(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    if "choices" in result:
        return "".join((c.get("message") or {}).get("content") or "" for c in result["choices"])
    return "".join(b.get("text", "") for b in result.get("content", []) if b.get("type") == "text")


def sse_events(raw: bytes) -> list[tuple[str | None, Any]]:
    decoder = SSEDecoder()
    events = list(decoder.decode(raw))
    last = decoder.flush()
    if last is not None:
        events.append(last)
    out: list[tuple[str | None, Any]] = []
    for e in events:
        try:
            data: Any = orjson.loads(e.data)
        except orjson.JSONDecodeError:
            data = e.data
        out.append((e.event, data))
    return out


def caller_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers as the caller compares them: framing and stopwise's own aside."""
    skip = {"content-length", "transfer-encoding", "connection", "date", "server"}
    return {k: v for k, v in headers.items() if k not in skip and not k.startswith("x-stopwise")}


class _Tee(httpx2.SyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self.inner, self.sink = inner, sink

    def __iter__(self) -> Iterator[bytes]:
        for piece in self.inner:
            self.sink += piece
            yield piece

    def close(self) -> None:
        self.inner.close()


class _AsyncTee(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, sink: bytearray) -> None:
        self.inner, self.sink = inner, sink

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for piece in self.inner:
            self.sink += piece
            yield piece

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Sink:
    """A response hook that keeps the bytes the SDK reads (the stopwise summary event included)."""

    def __init__(self) -> None:
        self.responses: list[tuple[int, dict[str, str], bytearray]] = []

    def _keep(self, response: httpx2.Response) -> bytearray:
        buf = bytearray()
        self.responses.append(
            (response.status_code, {k.lower(): v for k, v in response.headers.items()}, buf)
        )
        return buf

    def hook(self, response: httpx2.Response) -> None:
        response.stream = _Tee(response.stream, self._keep(response))

    async def ahook(self, response: httpx2.Response) -> None:
        response.stream = _AsyncTee(response.stream, self._keep(response))

    def fill(self, seen: Seen) -> None:
        if self.responses:
            status, headers, buf = self.responses[-1]
            seen.status, seen.headers, seen.raw = status, headers, bytes(buf)


def _sync_http(sink: _Sink, policy: Policy | None, direct: bool) -> httpx2.Client:
    hooks = {"response": [sink.hook]}
    if direct:
        return httpx2.Client(event_hooks=hooks, timeout=20)
    return stopwise.http_client(policy=policy, event_hooks=hooks, timeout=20)


def _async_http(sink: _Sink, policy: Policy | None, direct: bool) -> httpx2.AsyncClient:
    hooks = {"response": [sink.ahook]}
    if direct:
        return httpx2.AsyncClient(event_hooks=hooks, timeout=20)
    return stopwise.async_http_client(policy=policy, event_hooks=hooks, timeout=20)


def ask_anthropic(
    script: Upstream,
    mode: str,
    stream: bool,
    *,
    policy: Policy | None = None,
    direct: bool = False,
    **params: Any,
) -> Seen:
    """One ``messages`` call through the anthropic SDK against ``script``. A stream is read with
    the SDK's own accumulator (``messages.stream``); the result is its final message."""
    params.setdefault("model", PREFILL_MODEL)
    params.setdefault("max_tokens", 1024)
    params.setdefault("messages", ASK)
    seen = Seen()
    sink = _Sink()
    with scripted_upstream(script) as up:
        if mode == "sync":
            client = anthropic.Anthropic(
                base_url=up.base_url,
                api_key="test",
                max_retries=0,
                http_client=_sync_http(sink, policy, direct),
            )
            try:
                if stream:
                    with client.messages.stream(**params) as events:
                        for event in events:
                            _anthropic_text(event, seen)
                        seen.result = events.get_final_message().to_dict(warnings=False)
                else:
                    raw = client.messages.with_raw_response.create(**params)
                    seen.result = raw.parse().to_dict(warnings=False)
            except Exception as exc:
                seen.error = exc
            finally:
                client.close()
        else:

            async def main() -> None:
                client = anthropic.AsyncAnthropic(
                    base_url=up.base_url,
                    api_key="test",
                    max_retries=0,
                    http_client=_async_http(sink, policy, direct),
                )
                try:
                    if stream:
                        async with client.messages.stream(**params) as events:
                            async for event in events:
                                _anthropic_text(event, seen)
                            seen.result = (await events.get_final_message()).to_dict(warnings=False)
                    else:
                        raw = await client.messages.with_raw_response.create(**params)
                        seen.result = (await raw.parse()).to_dict(warnings=False)
                except Exception as exc:
                    seen.error = exc
                finally:
                    await client.close()

            asyncio.run(main())
        seen.requests = list(up.requests)
    sink.fill(seen)
    return seen


def _anthropic_text(event: Any, seen: Seen) -> None:
    if event.type == "content_block_delta" and event.delta.type == "text_delta":
        seen.texts.append(event.delta.text)


def ask_openai(
    script: Upstream,
    mode: str,
    stream: bool,
    *,
    policy: Policy | None = None,
    direct: bool = False,
    **params: Any,
) -> Seen:
    """One ``chat.completions`` call through the openai SDK against ``script``. A stream is read
    with the SDK's own accumulator (``ChatCompletionStreamState``)."""
    params.setdefault("model", OPENAI_MODEL)
    params.setdefault("max_tokens", 1024)
    params.setdefault("messages", ASK)
    if stream:
        params.setdefault("stream_options", {"include_usage": True})
    seen = Seen()
    sink = _Sink()
    with scripted_upstream(script) as up:
        base = f"{up.base_url}/v1"
        if mode == "sync":
            client = openai.OpenAI(
                base_url=base, api_key="test", max_retries=0, http_client=_sync_http(sink, policy, direct)
            )
            try:
                if stream:
                    state = ChatCompletionStreamState()
                    with client.chat.completions.create(stream=True, **params) as chunks:
                        for piece in chunks:
                            _openai_feed(state, piece, seen)
                    seen.result = state.current_completion_snapshot.to_dict(warnings=False)
                else:
                    raw = client.chat.completions.with_raw_response.create(**params)
                    seen.result = raw.parse().to_dict(warnings=False)
            except Exception as exc:
                seen.error = exc
            finally:
                client.close()
        else:

            async def main() -> None:
                client = openai.AsyncOpenAI(
                    base_url=base,
                    api_key="test",
                    max_retries=0,
                    http_client=_async_http(sink, policy, direct),
                )
                try:
                    if stream:
                        state = ChatCompletionStreamState()
                        chunks = await client.chat.completions.create(stream=True, **params)
                        async with chunks:
                            async for piece in chunks:
                                _openai_feed(state, piece, seen)
                        seen.result = state.current_completion_snapshot.to_dict(warnings=False)
                    else:
                        raw = await client.chat.completions.with_raw_response.create(**params)
                        seen.result = raw.parse().to_dict(warnings=False)
                except Exception as exc:
                    seen.error = exc
                finally:
                    await client.close()

            asyncio.run(main())
        seen.requests = list(up.requests)
    sink.fill(seen)
    return seen


def _openai_feed(state: ChatCompletionStreamState, piece: Any, seen: Seen) -> None:
    state.handle_chunk(piece)
    for choice in piece.choices:
        if choice.delta.content:
            seen.texts.append(choice.delta.content)


def assert_transparent(through: Seen, direct: Seen, stream: bool) -> None:
    """Nothing needed finishing: the caller got exactly what the upstream sent (issue 10,
    invariant 1), and the upstream was asked once, exactly what the caller asked."""
    assert direct.error is None, f"the reference run failed: {direct.error!r}"
    assert through.error is None, f"the SDK raised {through.error!r}"
    assert len(through.requests) == 1, f"{len(through.requests)} requests upstream"
    assert through.bodies[0] == direct.bodies[0]
    assert through.result == direct.result
    assert through.status == direct.status
    assert caller_headers(through.headers) == caller_headers(direct.headers)
    if stream:
        assert through.events() == direct.events()
    else:
        assert through.raw == direct.raw, "the body is not byte-identical to the upstream's"


def both(
    ask: Callable[..., Seen], script: Callable[[], Upstream], mode: str, stream: bool, **params: Any
) -> None:
    """Run ``script`` through the finisher and straight, and check they are the same."""
    through = ask(script(), mode, stream, **params)
    direct = ask(script(), mode, stream, direct=True, **params)
    assert_transparent(through, direct, stream)


# -- rendering upstream answers as the APIs send them --------------------------------------------------
def pieces(text: str, n: int) -> list[str]:
    """``text`` in about ``n`` pieces cut at word starts (each piece keeps its leading space)."""
    words = re.findall(r"\s*\S+\s*", text) or ([text] if text else [])
    if len(words) <= n:
        return words
    size = -(-len(words) // n)
    return ["".join(words[i : i + size]) for i in range(0, len(words), size)]


def a_message(
    content: list[dict[str, Any]],
    stop: str | None = "end_turn",
    *,
    output_tokens: int = 20,
    id: str = "msg_01HostileE2e0000000000001",
    model: str = "claude-sonnet-4-5-20250929",
    usage: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": extra.pop("stop_sequence", None),
    }
    message.update(extra)
    message["usage"] = usage or {
        "input_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    }
    return message


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def tool_use(id: str, name: str, input: dict[str, Any], kind: str = "tool_use") -> dict[str, Any]:
    return {"type": kind, "id": id, "name": name, "input": input}


def a_events(message: dict[str, Any], *, n: int = 3, cut_json: str | None = None) -> list[bytes]:
    """The event stream the Messages API sends for ``message``. ``cut_json``: the last block is
    a tool call cut by max_tokens: these ``partial_json`` bytes and no ``content_block_stop``."""
    head = copy.deepcopy(message)
    head.update(content=[], stop_reason=None, stop_sequence=None)
    if "stop_details" in head:
        head["stop_details"] = None
    usage = message["usage"]
    head["usage"] = {**usage, "output_tokens": 1}
    out = [sse("message_start", {"type": "message_start", "message": head})]
    blocks = message["content"]
    for i, block in enumerate(blocks):
        cut = cut_json if i == len(blocks) - 1 else None
        out += a_block_events(i, block, n=n, cut_json=cut)
    delta: dict[str, Any] = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    if "stop_details" in message:
        delta["stop_details"] = message["stop_details"]
    tail_usage: dict[str, Any] = {"output_tokens": usage["output_tokens"]}
    if "server_tool_use" in usage:
        tail_usage["server_tool_use"] = usage["server_tool_use"]
    out.append(sse("message_delta", {"type": "message_delta", "delta": delta, "usage": tail_usage}))
    out.append(sse("message_stop", {"type": "message_stop"}))
    return out


def a_block_events(i: int, block: dict[str, Any], *, n: int = 3, cut_json: str | None = None) -> list[bytes]:
    kind = block["type"]

    def delta(d: dict[str, Any]) -> bytes:
        return sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})

    def start(b: dict[str, Any]) -> bytes:
        return sse("content_block_start", {"type": "content_block_start", "index": i, "content_block": b})

    out: list[bytes] = []
    if kind == "text":
        first = {k: v for k, v in block.items() if k not in ("text", "citations")}
        first["text"] = ""
        if "citations" in block:
            first["citations"] = None
        out.append(start(first))
        for citation in block.get("citations") or []:
            out.append(delta({"type": "citations_delta", "citation": citation}))
        out += [delta({"type": "text_delta", "text": p}) for p in pieces(block["text"], n)]
    elif kind == "thinking":
        out.append(start({**block, "thinking": "", "signature": ""}))
        out += [delta({"type": "thinking_delta", "thinking": p}) for p in pieces(block["thinking"], n)]
        out.append(delta({"type": "signature_delta", "signature": block["signature"]}))
    elif kind in ("tool_use", "server_tool_use"):
        out.append(start({**block, "input": {}}))
        raw = cut_json if cut_json is not None else orjson.dumps(block["input"]).decode()
        step = max(1, -(-len(raw) // n))
        out.append(delta({"type": "input_json_delta", "partial_json": ""}))
        out += [
            delta({"type": "input_json_delta", "partial_json": raw[j : j + step]})
            for j in range(0, len(raw), step)
        ]
        if cut_json is not None:
            return out
    else:
        out.append(start(block))  # redacted_thinking, tool results, blocks not known yet: whole
    out.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
    return out


def a_reply(message: dict[str, Any], stream: bool, **kw: Any) -> Reply:
    headers = {"request-id": "req_011Hostile", "anthropic-ratelimit-requests-remaining": "49"}
    if stream:
        return Reply(200, {"content-type": SSE_TYPE, **headers}, a_events(message, **kw))
    return Reply(200, {"content-type": JSON_TYPE, **headers}, (orjson.dumps(message),))


OPENAI_ENVELOPE = {
    "id": "chatcmpl-HostileE2e000000000000001",
    "created": 1767225600,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_f33640a400",
    "service_tier": "default",
}


def o_completion(
    content: str | None,
    finish: str | None = "stop",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    completion_tokens: int = 20,
    message_extra: dict[str, Any] | None = None,
    choice_extra: dict[str, Any] | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    message.update(message_extra or {})
    choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
    choice.update(choice_extra or {})
    head = {**OPENAI_ENVELOPE, **envelope}
    return {
        "id": head.pop("id"),
        "object": "chat.completion",
        **head,
        "choices": [choice],
        "usage": usage
        or {
            "prompt_tokens": 9,
            "completion_tokens": completion_tokens,
            "total_tokens": 9 + completion_tokens,
        },
    }


def call(id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}


def o_chunks(completion: dict[str, Any], *, n: int = 3, usage: bool = True, done: bool = True) -> list[bytes]:
    """The chunk stream Chat Completions sends for ``completion`` (``stream_options.include_usage``)."""
    env = {k: v for k, v in completion.items() if k not in ("object", "choices", "usage")}
    choice = completion["choices"][0]
    message = choice["message"]

    def one(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> bytes:
        c = {"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return chunk({**env, "object": "chat.completion.chunk", "choices": [c]})

    out = [one({"role": "assistant", "content": "", "refusal": None})]
    content = message.get("content") or ""
    lp = (choice.get("logprobs") or {}).get("content")
    if lp is not None:
        # One token per chunk, each with its own logprobs entry, as the API streams them.
        out += [one({"content": t["token"]}, logprobs={"content": [t], "refusal": None}) for t in lp]
    else:
        out += [one({"content": p}) for p in pieces(content, n)]
    if message.get("refusal"):
        out += [one({"refusal": p}) for p in pieces(message["refusal"], n)]
    for key in ("annotations",):
        if key in message:
            out.append(one({key: message[key]}))
    for j, tc in enumerate(message.get("tool_calls") or []):
        args = tc["function"]["arguments"]
        out.append(
            one(
                {
                    "tool_calls": [
                        {
                            "index": j,
                            "id": tc["id"],
                            "type": "function",
                            "function": {"name": tc["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        step = max(1, -(-len(args) // n))
        out += [
            one({"tool_calls": [{"index": j, "function": {"arguments": args[k : k + step]}}]})
            for k in range(0, len(args), step)
        ]
    out.append(one({}, choice["finish_reason"]))
    if usage:
        out.append(
            chunk({**env, "object": "chat.completion.chunk", "choices": [], "usage": completion["usage"]})
        )
    if done:
        out.append(chunk(b"[DONE]"))
    return out


def o_reply(completion: dict[str, Any], stream: bool, **kw: Any) -> Reply:
    headers = {"x-request-id": "req_hostile_openai", "openai-processing-ms": "212"}
    if stream:
        return Reply(200, {"content-type": SSE_TYPE, **headers}, o_chunks(completion, **kw))
    return Reply(200, {"content-type": JSON_TYPE, **headers}, (orjson.dumps(completion),))


# -- a faithful model: answers whatever continuation it is asked for ----------------------------------
def tokens_of(rest: str) -> list[str]:
    toks = re.findall(r"\s*\S+", rest)
    tail = rest[len("".join(toks)) :]
    if tail:
        toks = [*toks[:-1], toks[-1] + tail] if toks else [tail]
    return toks


def so_far(body: dict[str, Any], original: list[dict[str, Any]]) -> str:
    """The answer text a request hands the model to go on from: the assistant turn the
    finisher added (a prefill, or the one before a continue turn's user message)."""
    added = body["messages"][len(original) :]
    assert body["messages"][: len(original)] == original, "the caller's messages were changed"
    assistant = [m for m in added if m["role"] == "assistant"]
    if not assistant:
        return ""
    assert len(assistant) == 1, f"{len(assistant)} assistant turns added"
    content = assistant[0]["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content if b.get("type") == "text")


def position(full: str, prefix: str) -> int:
    """Where ``prefix`` (the answer so far, as a request states it) ends in ``full``."""
    assert full.startswith(prefix), f"the answer so far is not the answer's start: ...{prefix[-80:]!r}"
    return len(prefix)


class Faithful:
    """A model that writes ``full``: every request is answered from where its answer so far ends,
    with as many tokens (a word and the space before it) as its ``max_tokens`` allows.
    ``emitted`` is the output tokens of each reply, what the upstream billed."""

    def __init__(
        self,
        full: str,
        dialect: str,
        *,
        original: list[dict[str, Any]] = ASK,
        per_event: int = 25,
        usage: Callable[[int, int], dict[str, Any]] | None = None,
        block: Callable[[int, str], dict[str, Any]] | None = None,
    ) -> None:
        self.full, self.dialect, self.original = full, dialect, original
        self.per_event, self.usage, self.block = per_event, usage, block
        self.emitted: list[int] = []

    def __call__(self, body: dict[str, Any], n: int) -> Reply:
        start = position(self.full, so_far(body, self.original))
        toks = tokens_of(self.full[start:])
        budget = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16384)
        out, cut = toks[:budget], len(toks) > budget
        self.emitted.append(len(out))
        piece = "".join(out)
        stream = bool(body.get("stream"))
        usage = self.usage(n, len(out)) if self.usage else None
        events = max(1, len(out) // self.per_event)
        if self.dialect == "anthropic":
            msg = a_message(
                [self.block(n, piece) if self.block else text(piece)],
                "max_tokens" if cut else "end_turn",
                id=f"msg_01Faithful{n:015d}",
                output_tokens=len(out),
                usage=usage,
            )
            return a_reply(msg, stream, n=events)
        completion = o_completion(
            piece,
            "length" if cut else "stop",
            id=f"chatcmpl-Faithful{n:012d}",
            completion_tokens=len(out),
            usage=usage,
        )
        return o_reply(completion, stream, n=events)


VOCABULARY = (
    "the region sales grew while costs fell and margins held steady across every quarter "
    "of review with east west north south leading lagging units revenue totals forecast "
    "budget plan team market share growth rate year month report data table figure"
)


def prose(words: int, seed: int = 7) -> str:
    """A long markdown answer: paragraphs, a heading now and then, a table."""
    rng = random.Random(seed)
    vocab = VOCABULARY.split()
    out: list[str] = []
    count = 0
    section = 0
    while count < words:
        section += 1
        out.append(f"## Section {section}\n\n")
        for _ in range(3):
            sentence = [rng.choice(vocab) for _ in range(rng.randint(8, 20))]
            sentence[0] = sentence[0].capitalize()
            out.append(" ".join(sentence) + ". ")
            count += len(sentence)
        out[-1] = out[-1].rstrip() + "\n\n"
        if section % 4 == 0:
            out.append("| Region | Total |\n|---|---|\n| East | 41 |\n| West | 29 |\n\n")
            count += 12
    return "".join(out).rstrip() + "\n"


# == 1. citations ===================================================================================
def fixture_chunks(path: Path) -> list[bytes]:
    """A recorded stream, one event per read."""
    raw = path.read_bytes()
    return [part + b"\n\n" for part in raw.split(b"\n\n") if part.strip()]


CITATIONS_SSE = FIXTURES / "anthropic" / "citations.sse"


@pytest.mark.parametrize(("mode", "stream"), STREAM_MODES)
def test_citations_delta_before_the_first_text_delta(mode: str, stream: bool) -> None:
    """citations.sse: a ``citations_delta`` comes before the block's first ``text_delta``; the
    SDK's accumulator must not crash and must build what it builds from the upstream itself."""

    def script() -> Upstream:
        return [Reply(200, {"content-type": SSE_TYPE}, fixture_chunks(CITATIONS_SSE))]

    both(ask_anthropic, script, mode, stream)
    through = ask_anthropic(script(), mode, stream)
    [block] = through.ok()["content"]
    assert block["text"] == "the grass is green and the sky is blue"
    assert [c["cited_text"] for c in block["citations"]] == ["The grass is green.", "The sky is blue."]


@pytest.mark.parametrize("split", [1, 7, 64])
def test_citations_stream_split_anywhere(split: int) -> None:
    """The same recorded stream in reads of ``split`` bytes: events straddle reads."""
    raw = CITATIONS_SSE.read_bytes()

    def script() -> Upstream:
        return [
            Reply(200, {"content-type": SSE_TYPE}, [raw[i : i + split] for i in range(0, len(raw), split)])
        ]

    both(ask_anthropic, script, "sync", True)


CITED = a_message(
    [
        text("Per the documents, "),
        text(
            "the tower is 330 m tall",
            citations=[
                {
                    "type": "char_location",
                    "cited_text": "The tower is 330 metres tall.",
                    "document_index": 0,
                    "document_title": "Tower facts",
                    "start_char_index": 0,
                    "end_char_index": 29,
                    "file_id": None,
                },
                {
                    "type": "page_location",
                    "cited_text": "330 m",
                    "document_index": 1,
                    "document_title": "Guide.pdf",
                    "start_page_number": 3,
                    "end_page_number": 4,
                },
            ],
        ),
        text(" and was finished in "),
        text(
            "1889",
            citations=[
                {
                    "type": "search_result_location",
                    "cited_text": "completed in 1889",
                    "source": "https://example.org/tower",
                    "title": "Tower history",
                    "search_result_index": 0,
                    "start_block_index": 0,
                    "end_block_index": 0,
                }
            ],
        ),
        text("."),
    ],
    output_tokens=31,
)


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_citations_across_many_text_blocks(mode: str, stream: bool) -> None:
    """Cited and uncited text blocks alternate (char, page and search-result locations)."""
    both(ask_anthropic, lambda: [a_reply(CITED, stream)], mode, stream)


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_citations_in_a_continued_answer_are_kept(mode: str, stream: bool) -> None:
    """A cited answer cut at max_tokens and finished by prefill: the citations of every round
    reach the caller once, the text is whole."""

    def cite(n: int) -> dict[str, Any]:
        return {"type": "char_location", "cited_text": f"Fact {n}.", "document_index": 0,
                "document_title": "D", "start_char_index": 8 * n, "end_char_index": 8 * n + 7}  # fmt: skip

    full = "First, the claim about A holds, and the claim about B holds too, as the report shows."
    model = Faithful(full, "anthropic", block=lambda n, piece: text(piece, citations=[cite(n)]))
    seen = ask_anthropic(model, mode, stream, max_tokens=6, policy=FAST)
    result = seen.ok()
    assert seen.text == full
    rounds = len(seen.requests)
    assert rounds >= 2
    cited = [
        c["cited_text"] for b in result["content"] if b["type"] == "text" for c in b.get("citations") or []
    ]
    assert cited == [f"Fact {n}." for n in range(rounds)]
    assert result["stop_reason"] == "end_turn"


# == 2. parallel tool calls, the second cut =========================================================
WEATHER = tool_use("toolu_01WeatherAaaaaaaaaaaaaa", "get_weather", {"city": "Paris", "unit": "celsius"})
TIME = tool_use("toolu_01TimeBbbbbbbbbbbbbbbbbbb", "get_time", {"city": "Paris", "timezone": "Europe/Paris"})
TOOLS = [
    {"name": "get_weather", "description": "Weather.", "input_schema": {"type": "object"}},
    {"name": "get_time", "description": "Time.", "input_schema": {"type": "object"}},
]


def parallel_tools_script(stream: bool) -> Callable[[dict[str, Any], int], Reply]:
    """Round 1: text, get_weather whole, get_time cut by max_tokens. Then a faithful model: asked
    afresh it answers everything again (new ids, as a new generation has); asked to go on after
    what it already wrote, it writes the rest."""
    lead = text("I'll check both.")
    full = [lead, WEATHER, TIME]

    def script(body: dict[str, Any], n: int) -> Reply:
        if n == 0:
            cut = {**TIME, "input": {}}
            msg = a_message([lead, WEATHER, cut], "max_tokens", output_tokens=body["max_tokens"])
            return a_reply(msg, stream, cut_json='{"city": "Paris", "timez')
        added = body["messages"][len(ASK) :]
        done = [b for m in added if m["role"] == "assistant" for b in m["content"]] if added else []
        if not done:
            again = [
                lead,
                {**WEATHER, "id": "toolu_01WeatherRetry000000000"},
                {**TIME, "id": "toolu_01TimeRetry0000000000"},
            ]
            return a_reply(a_message(again, "tool_use", id="msg_01Retry", output_tokens=80), stream)
        names = [b.get("name") for b in done if b.get("type") == "tool_use"]
        # What it writes now is a new generation: calls get new ids.
        rest = [{**b, "id": b["id"][:-5] + "Again"} for b in full[1:] if b["name"] not in names]
        return a_reply(a_message(rest, "tool_use", id="msg_01Rest", output_tokens=40), stream)

    return script


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_parallel_tool_calls_second_cut_each_call_once(mode: str, stream: bool) -> None:
    seen = ask_anthropic(parallel_tools_script(stream), mode, stream, tools=TOOLS, max_tokens=60, policy=FAST)
    result = seen.ok()
    calls = [b for b in result["content"] if b["type"] == "tool_use"]
    assert [c["name"] for c in calls] == ["get_weather", "get_time"], "each call exactly once"
    assert [c["input"] for c in calls] == [WEATHER["input"], TIME["input"]]
    assert len({c["id"] for c in calls}) == 2
    assert result_text(result) == "I'll check both."
    assert result["stop_reason"] == "tool_use"
    assert len(seen.requests) == 2
    assert seen.bodies[1]["max_tokens"] > 60, "a cut call is asked again with a larger budget"
    # Tool calls are held until the round's stop reason is known, so no call of the cut round
    # reached the caller: both are the retry's, one generation.
    assert all(c["id"].endswith("Again") for c in calls)


def openai_parallel_script(stream: bool) -> Callable[[dict[str, Any], int], Reply]:
    weather = call("call_WeatherAaaaaaaaaaaaaaaa", "get_weather", '{"city": "Paris"}')
    when = call("call_TimeBbbbbbbbbbbbbbbbbbbb", "get_time", '{"city": "Paris", "timezone": "Europe/Paris"}')

    def script(body: dict[str, Any], n: int) -> Reply:
        if n == 0:
            cut = call(when["id"], "get_time", '{"city": "Paris", "timez')
            c = o_completion(None, "length", tool_calls=[weather, cut], completion_tokens=body["max_tokens"])
            return o_reply(c, stream)
        assert body["messages"] == ASK, "OpenAI has no prefill: a cut call is asked for afresh"
        again = [
            {**weather, "id": "call_WeatherRetry0000000000"},
            {**when, "id": "call_TimeRetry000000000000"},
        ]
        return o_reply(o_completion(None, "tool_calls", tool_calls=again, id="chatcmpl-Retry"), stream)

    return script


OPENAI_TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_openai_parallel_tool_calls_second_cut_each_call_once(mode: str, stream: bool) -> None:
    seen = ask_openai(
        openai_parallel_script(stream), mode, stream, tools=OPENAI_TOOLS, max_tokens=30, policy=FAST
    )
    result = seen.ok()
    [choice] = result["choices"]
    calls = choice["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "get_time"], "each call exactly once"
    assert [orjson.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "Paris"},
        {"city": "Paris", "timezone": "Europe/Paris"},
    ]
    assert len({c["id"] for c in calls}) == 2
    assert choice["finish_reason"] == "tool_calls"
    assert len(seen.requests) == 2
    assert seen.bodies[1]["max_tokens"] > 30


# == 3. a continue turn's faithful reply starts like a preamble =====================================
TOTALS = "Revenue grew in every quarter, and the east region led the totals.\n\n"
TABLE = "\n\n| Region | Total |\n|---|---|\n| East | 41 |\n| West | 29 |\n"
SEAMS = {
    "here-is": ("Here", "Here is the breakdown by region:" + TABLE),
    "here-is-cut-mid-word": ("Her", "Here is the breakdown by region:" + TABLE),
    "here-are": ("Here", "Here are the quarterly totals by region:" + TABLE),
    "heres": ("Here's", "Here's how the regions compare:" + TABLE),
    "below": ("Below", "Below is the full table:" + TABLE),
    "sure-enough": ("Sure", "Sure enough, the west region caught up in the fourth quarter.\n"),
    "certainly": ("Certainly", "Certainly, the margins were thinner than in the east.\n"),
    "continuing": (
        "Continuing",
        "Continuing the trend from last year, the north region doubled its sales.\n",
    ),
    "okay": ("Okay", "Okay ratings held in the west, where the survey ran twice.\n"),
    "cjk": ("以下", "以下是各地区的明细：\n\n| 地区 | 总计 |\n|---|---|\n| 东部 | 41 |\n"),
}


def seam_script(dialect: str, head: str, reply: str, stream: bool) -> Callable[[dict[str, Any], int], Reply]:
    def script(body: dict[str, Any], n: int) -> Reply:
        if n == 0:
            cap = body.get("max_tokens")
            if dialect == "anthropic":
                return a_reply(a_message([text(TOTALS + head)], "max_tokens", output_tokens=cap), stream)
            return o_reply(o_completion(TOTALS + head, "length", completion_tokens=cap), stream)
        if dialect == "anthropic":
            return a_reply(a_message([text(reply)], "end_turn", id="msg_01Second", output_tokens=40), stream)
        return o_reply(o_completion(reply, "stop", id="chatcmpl-Second", completion_tokens=40), stream)

    return script


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
@pytest.mark.parametrize(
    ("mode", "stream"), [pytest.param("sync", False, id="body"), pytest.param("sync", True, id="stream")]
)
@pytest.mark.parametrize("case", list(SEAMS))
def test_continue_turn_reply_that_starts_like_a_preamble_survives(
    case: str, mode: str, stream: bool, dialect: str
) -> None:
    """The answer so far ends ``…totals.\\n\\nHere`` (cut); the faithful continue-turn reply is
    ``Here is the breakdown by region:\\n\\n| Region…``: that sentence is content, not a preamble."""
    head, reply = SEAMS[case]
    script = seam_script(dialect, head, reply, stream)
    if dialect == "anthropic":
        seen = ask_anthropic(script, mode, stream, model=CONTINUE_MODEL, max_tokens=60, policy=FAST)
    else:
        seen = ask_openai(script, mode, stream, max_tokens=60, policy=FAST)
    seen.ok()
    assert seen.text == TOTALS + reply
    assert len(seen.requests) == 2
    second = seen.bodies[1]["messages"]
    assert second[: len(ASK)] == ASK
    assert second[-1]["role"] == "user", "no prefill for this model: a continue turn"
    so = so_far(seen.bodies[1], ASK)
    assert so and (TOTALS + head).startswith(so) and so == so.rstrip()


@pytest.mark.parametrize(
    ("mode", "stream"), [pytest.param("async", False, id="body"), pytest.param("async", True, id="stream")]
)
def test_continue_turn_seam_async(mode: str, stream: bool) -> None:
    head, reply = SEAMS["here-is"]
    seen = ask_anthropic(
        seam_script("anthropic", head, reply, stream),
        mode,
        stream,
        model=CONTINUE_MODEL,
        max_tokens=60,
        policy=FAST,
    )
    seen.ok()
    assert seen.text == TOTALS + reply


# == 4. terminal stop reasons at the cap ============================================================
CAP = 40
REFUSAL_DETAILS = {"type": "refusal", "category": "cyber", "explanation": "The request asks for malware."}


def terminal_at_cap() -> dict[str, Callable[[bool], Reply]]:
    return {
        "anthropic-refusal": lambda stream: a_reply(
            a_message(
                [text("I can't help with building that.")],
                "refusal",
                output_tokens=CAP,
                stop_details=REFUSAL_DETAILS,
            ),
            stream,
        ),
        "anthropic-refusal-empty-text": lambda stream: a_reply(
            a_message([text("")], "refusal", output_tokens=CAP, stop_details=REFUSAL_DETAILS), stream
        ),
        "anthropic-stop-sequence": lambda stream: a_reply(
            a_message(
                [text("Step 1. Mix.\nStep 2. Bake.\n")],
                "stop_sequence",
                output_tokens=CAP,
                stop_sequence="###",
            ),
            stream,
        ),
        "anthropic-tool-use": lambda stream: a_reply(
            a_message([text("Checking."), WEATHER], "tool_use", output_tokens=CAP), stream
        ),
        "anthropic-end-turn-no-prefill": lambda stream: a_reply(
            a_message(
                [text("That is the whole answer.")], "end_turn", output_tokens=CAP, model="claude-opus-4-6"
            ),
            stream,
        ),
        "openai-content-filter": lambda stream: o_reply(
            o_completion("The first part of the sto", "content_filter", completion_tokens=CAP), stream
        ),
        "openai-refusal": lambda stream: o_reply(
            o_completion(
                None,
                "stop",
                completion_tokens=CAP,
                message_extra={"refusal": "I'm sorry, I can't help with that."},
            ),
            stream,
        ),
        "openai-tool-calls": lambda stream: o_reply(
            o_completion(
                None,
                "tool_calls",
                tool_calls=[call("call_A", "get_weather", '{"city":"Paris"}')],
                completion_tokens=CAP,
            ),
            stream,
        ),
        "openai-stop": lambda stream: o_reply(
            o_completion("That is the whole answer.", "stop", completion_tokens=CAP), stream
        ),
    }


TERMINAL = terminal_at_cap()


@pytest.mark.parametrize(("mode", "stream"), MODES)
@pytest.mark.parametrize("case", list(TERMINAL))
def test_terminal_reason_at_the_cap_is_final(case: str, mode: str, stream: bool) -> None:
    """refusal, stop_sequence, content_filter, a whole tool call, and a normal stop that a
    continuation could only alter, all with output tokens == max_tokens: one request, the
    response unchanged (``stop_details`` and ``stop_sequence`` kept)."""
    make = TERMINAL[case]
    if case.startswith("anthropic"):
        model = CONTINUE_MODEL if "no-prefill" in case else PREFILL_MODEL
        both(ask_anthropic, lambda: [make(stream)], mode, stream, model=model, max_tokens=CAP, tools=TOOLS)
        if "refusal" in case:
            seen = ask_anthropic([make(stream)], mode, stream, model=model, max_tokens=CAP)
            assert seen.ok()["stop_details"] == REFUSAL_DETAILS
    else:
        both(ask_openai, lambda: [make(stream)], mode, stream, max_tokens=CAP, tools=OPENAI_TOOLS)


# == 5. complete in one round, every field kept =====================================================
OPENAI_RICH_BODY = (
    b'{\n  "id": "chatcmpl-BxR1chF1elds0000000000000",\n  "object": "chat.completion",\n'
    b'  "created": 1767225600,\n  "model": "gpt-4o-2024-08-06",\n  "choices": [\n    {\n'
    b'      "index": 0,\n      "message": {\n        "role": "assistant",\n'
    b'        "content": "Paris \\u00e9t\\u00e9.",\n        "refusal": null,\n'
    b'        "annotations": [\n          {"type": "url_citation", "url_citation": {"start_index": 0, '
    b'"end_index": 5, "title": "Paris", "url": "https://example.org/paris"}}\n        ]\n      },\n'
    b'      "logprobs": {"content": [{"token": "Paris", "logprob": -0.0001, '
    b'"bytes": [80, 97, 114, 105, 115], '
    b'"top_logprobs": [{"token": "Paris", "logprob": -0.0001, "bytes": [80, 97, 114, 105, 115]}]}, '
    b'{"token": " \\u00e9t\\u00e9.", "logprob": -1.5, "bytes": [32, 195, 169, 116, 195, 169, 46], '
    b'"top_logprobs": []}], "refusal": null},\n'
    b'      "finish_reason": "stop"\n    }\n  ],\n'
    b'  "usage": {\n    "prompt_tokens": 19,\n    "completion_tokens": 2,\n    "total_tokens": 21,\n'
    b'    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},\n'
    b'    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, '
    b'"accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}\n  },\n'
    b'  "service_tier": "default",\n  "system_fingerprint": "fp_f33640a400",\n'
    b'  "x_future_field": {"kept": true}\n}\n'
)
ANTHROPIC_RICH_BODY = (
    b'{"model":"claude-sonnet-4-5-20250929","id":"msg_01RichF1elds000000000000","type":"message",'
    b'"role":"assistant","content":[{"type":"server_tool_use","id":"srvtoolu_01Search","name":"web_search",'
    b'"input":{"query":"paris weather"}},{"type":"web_search_tool_result","tool_use_id":"srvtoolu_01Search",'
    b'"content":[{"type":"web_search_result","title":"Paris weather","url":"https://example.org/w",'
    b'"encrypted_content":"EqgfCioIARgBIiQ3YTAwMjY1Zi1kZjFlLTQ0","page_age":"April 30, 2025"}]},'
    b'{"type":"text","text":"It is sunny","citations":[{"type":"web_search_result_location",'
    b'"url":"https://example.org/w","title":"Paris weather","encrypted_index":"Eo8BCioIAhgBIiQyYjQ0",'
    b'"cited_text":"Sunny, 24 \\u00b0C"}]},{"type":"text","text":" in Paris today."}],'
    b'"stop_reason":"end_turn","stop_sequence":null,'
    b'"usage":{"input_tokens":2095,"cache_creation_input_tokens":2051,"cache_read_input_tokens":0,'
    b'"cache_creation":{"ephemeral_5m_input_tokens":2000,"ephemeral_1h_input_tokens":51},"output_tokens":503,'
    b'"service_tier":"standard","server_tool_use":{"web_search_requests":1,"web_fetch_requests":0}},'
    b'"container":null,"context_management":{"applied_edits":[]}}'
)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_one_round_body_is_byte_identical(mode: str, dialect: str) -> None:
    """OpenAI: logprobs, annotations, service_tier, system_fingerprint, *_tokens_details, an unknown
    field, unusual formatting. Anthropic: usage.cache_creation (5m/1h), usage.service_tier,
    usage.server_tool_use, server tool blocks, citations, container, context_management."""
    if dialect == "openai":
        headers = {"content-type": JSON_TYPE, "x-request-id": "req_rich", "openai-processing-ms": "90"}
        both(
            ask_openai,
            lambda: [Reply(200, headers, (OPENAI_RICH_BODY,))],
            mode,
            False,
            logprobs=True,
            top_logprobs=1,
        )
    else:
        headers = {"content-type": JSON_TYPE, "request-id": "req_rich", "anthropic-organization-id": "org"}
        both(ask_anthropic, lambda: [Reply(200, headers, (ANTHROPIC_RICH_BODY,))], mode, False)
    seen = (
        ask_openai([Reply(200, headers, (OPENAI_RICH_BODY,))], mode, False)
        if dialect == "openai"
        else ask_anthropic([Reply(200, headers, (ANTHROPIC_RICH_BODY,))], mode, False)
    )
    assert seen.raw == (OPENAI_RICH_BODY if dialect == "openai" else ANTHROPIC_RICH_BODY)
    assert seen.ok() == orjson.loads(seen.raw)


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_one_round_openai_rich_fields_kept(mode: str, stream: bool) -> None:
    completion = orjson.loads(OPENAI_RICH_BODY)
    completion.pop("x_future_field")
    both(ask_openai, lambda: [o_reply(completion, stream)], mode, stream, logprobs=True, top_logprobs=1)
    seen = ask_openai([o_reply(completion, stream)], mode, stream, logprobs=True, top_logprobs=1)
    result = seen.ok()
    assert result["system_fingerprint"] == "fp_f33640a400"
    assert result["service_tier"] == "default"
    assert result["choices"][0]["logprobs"]["content"][0]["token"] == "Paris"
    assert result["choices"][0]["message"]["annotations"][0]["type"] == "url_citation"
    if not stream:
        assert result["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
        assert result["usage"]["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_one_round_anthropic_rich_fields_kept(mode: str, stream: bool) -> None:
    message = orjson.loads(ANTHROPIC_RICH_BODY)
    both(ask_anthropic, lambda: [a_reply(message, stream)], mode, stream)
    seen = ask_anthropic([a_reply(message, stream)], mode, stream)
    usage = seen.ok()["usage"]
    assert usage["cache_creation"] == {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 51}
    assert usage["service_tier"] == "standard"
    assert usage["server_tool_use"] == {"web_search_requests": 1, "web_fetch_requests": 0}


# == 6. a constrained answer cut at length ==========================================================
PERSON = {
    "name": "Ada Lovelace",
    "born": 1815,
    "languages": ["English", "French"],
    "notes": "First programmer.",
}
PERSON_JSON = orjson.dumps(PERSON).decode()
SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "born": {"type": "integer"},
                "languages": {"type": "array", "items": {"type": "string"}},
                "notes": {"type": "string"},
            },
            "required": ["name", "born", "languages", "notes"],
            "additionalProperties": False,
        },
    },
}


SHORT_PERSON_JSON = '{"name":"Ada"}'


def constrained_script(stream: bool) -> Callable[[dict[str, Any], int], Reply]:
    """A constrained model: every reply is a whole object from its first character (decoding is
    constrained), cut at length when ``max_tokens`` (a token per 4 characters) is short. Asked
    afresh it writes the same object; after a continue turn it starts a new, shorter one."""

    def script(body: dict[str, Any], n: int) -> Reply:
        budget = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16384)
        answer = PERSON_JSON if body["messages"] == ASK else SHORT_PERSON_JSON
        cost = -(-len(answer) // 4)
        if budget < cost:
            return o_reply(o_completion(answer[: budget * 4], "length", completion_tokens=budget), stream)
        return o_reply(o_completion(answer, "stop", id=f"chatcmpl-Whole{n}", completion_tokens=cost), stream)

    return script


@pytest.mark.parametrize(
    "response_format", [SCHEMA_FORMAT, {"type": "json_object"}], ids=["json_schema", "json_object"]
)
@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_constrained_answer_cut_at_length_is_never_complete_invalid_json(
    mode: str, stream: bool, response_format: dict[str, Any]
) -> None:
    seen = ask_openai(
        constrained_script(stream), mode, stream, response_format=response_format, max_tokens=6, policy=FAST
    )
    result = seen.ok()
    [choice] = result["choices"]
    content = choice["message"]["content"]
    if choice["finish_reason"] != "length":
        assert orjson.loads(content) == PERSON, f"reported {choice['finish_reason']} with {content!r}"
    for body in seen.bodies[1:]:
        # Not continued by concatenation: asked again, whole, with a larger budget.
        assert body["messages"] == ASK
        assert body["max_tokens"] > 6
    if not stream:
        # Nothing went out yet: asking again with room is always possible under gpt-4o's ceiling.
        assert choice["finish_reason"] == "stop"
        assert content == PERSON_JSON


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_forced_tool_cut_at_max_tokens_is_asked_again_whole(mode: str, stream: bool) -> None:
    """Anthropic's forced tool (``tool_choice`` a named tool) cut at max_tokens: asked again with a
    larger budget, never continued into a second call."""
    record = tool_use("toolu_01Record0000000000000000", "record_person", PERSON)

    def script(body: dict[str, Any], n: int) -> Reply:
        if body["max_tokens"] < 60:
            cut = {**record, "input": {}}
            msg = a_message([cut], "max_tokens", output_tokens=body["max_tokens"])
            return a_reply(msg, stream, cut_json=PERSON_JSON[:30])
        return a_reply(a_message([record], "tool_use", id="msg_01Whole", output_tokens=50), stream)

    tools = [{"name": "record_person", "description": "Record.", "input_schema": {"type": "object"}}]
    seen = ask_anthropic(
        script,
        mode,
        stream,
        max_tokens=40,
        tools=tools,
        tool_choice={"type": "tool", "name": "record_person"},
        policy=FAST,
    )
    result = seen.ok()
    calls = [b for b in result["content"] if b["type"] == "tool_use"]
    assert [c["input"] for c in calls] == [PERSON]
    assert result["stop_reason"] == "tool_use"
    assert seen.bodies[-1]["max_tokens"] >= 60


# == 7. giving up on a stream =======================================================================
def give_up_script(first: Reply) -> Callable[[dict[str, Any], int], Reply]:
    def script(body: dict[str, Any], n: int) -> Reply:
        return first if n == 0 else Reply(fail="connect")

    return script


ANTHROPIC_PARTIAL = [
    sse("message_start", {"type": "message_start", "message": a_message([], None, output_tokens=1)}),
    sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": text("")}),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "The answer is"}},
    ),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " forty"}},
    ),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "-tw"}},
    ),
]
ANTHROPIC_GIVE_UPS = {
    "dropped-then-unreachable": give_up_script(
        Reply(200, {"content-type": SSE_TYPE}, ANTHROPIC_PARTIAL, "read")
    ),
    "error-event-not-passing": give_up_script(
        Reply(
            200,
            {"content-type": SSE_TYPE},
            [
                *ANTHROPIC_PARTIAL,
                sse(
                    "error",
                    {
                        "type": "error",
                        "error": {"type": "invalid_request_error", "message": "Output blocked by policy."},
                    },
                ),
            ],
        )
    ),
}


@pytest.mark.parametrize(("mode", "stream"), STREAM_MODES)
@pytest.mark.parametrize("case", list(ANTHROPIC_GIVE_UPS))
def test_give_up_on_a_stream_releases_every_delta_first(case: str, mode: str, stream: bool) -> None:
    """Everything received reaches the caller before the typed error, the partial last word
    ``-tw`` included."""
    seen = ask_anthropic(ANTHROPIC_GIVE_UPS[case], mode, stream, policy=FAST_GIVE_UP)
    assert isinstance(seen.error, anthropic.APIError), f"expected the SDK's error, got {seen.error!r}"
    assert seen.text == "The answer is forty-tw"
    if case == "error-event-not-passing":
        assert len(seen.requests) == 1, "an error that cannot pass is not retried"


OPENAI_PARTIAL = [
    chunk(
        {
            **OPENAI_ENVELOPE,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ),
    chunk(
        {
            **OPENAI_ENVELOPE,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": "Partial answer"}, "finish_reason": None}],
        }
    ),
    chunk(
        {
            **OPENAI_ENVELOPE,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": " befo"}, "finish_reason": None}],
        }
    ),
]
OPENAI_GIVE_UPS = {
    "dropped-then-unreachable": give_up_script(
        Reply(200, {"content-type": SSE_TYPE}, OPENAI_PARTIAL, "read")
    ),
    "error-chunk-not-passing": give_up_script(
        Reply(
            200,
            {"content-type": SSE_TYPE},
            [
                *OPENAI_PARTIAL,
                chunk(
                    {
                        "error": {
                            "message": "Invalid prompt: flagged.",
                            "type": "invalid_request_error",
                            "param": None,
                            "code": "invalid_prompt",
                        }
                    }
                ),
            ],
        )
    ),
}


@pytest.mark.parametrize(("mode", "stream"), STREAM_MODES)
@pytest.mark.parametrize("case", list(OPENAI_GIVE_UPS))
def test_openai_give_up_on_a_stream_releases_every_delta_first(case: str, mode: str, stream: bool) -> None:
    seen = ask_openai(OPENAI_GIVE_UPS[case], mode, stream, policy=FAST_GIVE_UP)
    assert isinstance(seen.error, openai.APIError), f"expected the SDK's error, got {seen.error!r}"
    assert seen.text == "Partial answer befo"
    if case == "error-chunk-not-passing":
        assert len(seen.requests) == 1, "an error that cannot pass is not retried"


# == 8. mid-stream error chunks: relays' and the upstream's =========================================
FOX = "The quick brown fox jumps over the lazy dog, and then it naps in the afternoon sun."
OPENAI_ERRORS = {
    "litellm-internal-server-error": {
        "error": {
            "message": "litellm.InternalServerError: AnthropicException - Overloaded. "
            "Handle with `litellm.InternalServerError`.",
            "type": "internal_server_error",
            "param": None,
            "code": "500",
        }
    },
    "litellm-service-unavailable": {
        "error": {
            "message": "litellm.ServiceUnavailableError: upstream unavailable",
            "type": "service_unavailable",
            "param": None,
            "code": "503",
        }
    },
    "litellm-rate-limit": {
        "error": {
            "message": "litellm.RateLimitError: rate limited",
            "type": "throttling_error",
            "param": None,
            "code": "429",
        }
    },
    "openai-server-error": {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    },
    "relay-overloaded-numeric-code": {
        "error": {"message": "Overloaded", "type": "overloaded_error", "code": 529}
    },
    "status-field-only": {"error": {"message": "upstream timed out", "status": 504}},
}


def midstream_error_script(dialect: str, error_event: bytes) -> Callable[[dict[str, Any], int], Reply]:
    """Round 1: the first words, then the error object in the stream. After: a faithful model."""
    later = Faithful(FOX, dialect)

    def script(body: dict[str, Any], n: int) -> Reply:
        if n > 0:
            return later(body, n)
        if dialect == "openai":
            head = o_chunks(o_completion(FOX[:19], None), usage=False, done=False)[:-1]  # no finish chunk
        else:
            head = a_events(a_message([text(FOX[:19])], None))[:-3]  # open block, no stop
        return Reply(200, {"content-type": SSE_TYPE}, [*head, error_event])

    return script


@pytest.mark.parametrize(("mode", "stream"), STREAM_MODES)
@pytest.mark.parametrize("case", list(OPENAI_ERRORS))
def test_openai_midstream_error_chunk_is_resumed(case: str, mode: str, stream: bool) -> None:
    """LiteLLM's ``{"error": {"type": "internal_server_error", "code": "500"}}`` and every other
    passing error object, classified by what it says, resumed like the upstream's own."""
    seen = ask_openai(midstream_error_script("openai", chunk(OPENAI_ERRORS[case])), mode, stream, policy=FAST)
    result = seen.ok()
    assert seen.text == FOX
    assert result["choices"][0]["finish_reason"] == "stop"
    assert len(seen.requests) == 2


ANTHROPIC_ERRORS = {
    "overloaded": {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    "api-error": {"type": "error", "error": {"type": "api_error", "message": "Internal server error"}},
    "relay-internal-server-error": {
        "type": "error",
        "error": {"type": "internal_server_error", "code": "500", "message": "litellm.InternalServerError"},
    },
    "timeout-error": {"type": "error", "error": {"type": "timeout_error", "message": "Request timed out"}},
}


@pytest.mark.parametrize(("mode", "stream"), STREAM_MODES)
@pytest.mark.parametrize("case", list(ANTHROPIC_ERRORS))
def test_anthropic_midstream_error_event_is_resumed(case: str, mode: str, stream: bool) -> None:
    seen = ask_anthropic(
        midstream_error_script("anthropic", sse("error", ANTHROPIC_ERRORS[case])), mode, stream, policy=FAST
    )
    result = seen.ok()
    assert seen.text == FOX
    assert result["stop_reason"] == "end_turn"
    assert len(seen.requests) == 2


# == 9. a relay restarts the stream =================================================================
def restart_events(first: list[bytes], whole: dict[str, Any]) -> list[bytes]:
    return [*first, *a_events(whole)]


HELLO = a_message([text("Hello world, how are you today?")], output_tokens=9)
RESTARTS = {
    "mid-text-same-id": restart_events(a_events(HELLO)[:3], HELLO),
    "mid-text-new-id": restart_events(a_events(HELLO)[:3], {**HELLO, "id": "msg_01RestartedB000000000000"}),
    "before-any-block": restart_events(a_events(HELLO)[:1], HELLO),
    "with-ping-between": restart_events([*a_events(HELLO)[:4], sse("ping", {"type": "ping"})], HELLO),
    # Cut inside the tool call, before message_delta: a message_delta with a stop reason ends the
    # message (brief/wire.md), so a restart after it is never read.
    "after-a-whole-block-and-a-cut-tool": restart_events(
        a_events(a_message([text("Let me look."), WEATHER], "tool_use"), cut_json='{"city": "Pa')[:-2],
        a_message([text("Let me look."), WEATHER], "tool_use"),
    ),
}


@pytest.mark.parametrize(("mode", "stream"), STREAM_MODES)
@pytest.mark.parametrize("case", list(RESTARTS))
def test_relay_restart_is_shown_once(case: str, mode: str, stream: bool) -> None:
    """A second ``message_start`` mid-stream and the whole message again: the caller sees one
    message, its text once."""
    seen = ask_anthropic(
        [Reply(200, {"content-type": SSE_TYPE}, RESTARTS[case])], mode, stream, tools=TOOLS, policy=FAST
    )
    result = seen.ok()
    starts = [e for e in seen.events() if e[0] == "message_start"]
    assert len(starts) == 1, f"{len(starts)} message_start events reached the caller"
    if case.startswith("after"):
        assert [b["type"] for b in result["content"]] == ["text", "tool_use"]
        assert result["content"][1]["input"] == WEATHER["input"]
        assert seen.text == "Let me look."
    else:
        assert seen.text == "Hello world, how are you today?"
        assert result["content"] == [{"type": "text", "text": "Hello world, how are you today?"}]
    assert len(seen.requests) == 1


# == 10. the finish arrived, then the connection dropped ============================================
def finished_then_dropped() -> dict[str, list[bytes]]:
    done = o_chunks(o_completion("Hi there, all done.", "stop"))
    tools = o_chunks(
        o_completion(None, "tool_calls", tool_calls=[call("call_A", "get_weather", '{"city":"Paris"}')])
    )
    with_usage = o_completion("Hi there, all done.", "stop")
    env = {k: v for k, v in with_usage.items() if k not in ("object", "choices", "usage")}
    finish_and_usage = chunk(
        {
            **env,
            "object": "chat.completion.chunk",
            "usage": with_usage["usage"],
            "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}],
        }
    )
    return {
        "before-usage": done[:-2],
        "before-done": done[:-1],
        "tool-calls-before-usage": tools[:-2],
        "finish-with-usage-before-done": [*done[:-3], finish_and_usage],
    }


DROPS = finished_then_dropped()


@pytest.mark.parametrize(("mode", "stream"), STREAM_MODES)
@pytest.mark.parametrize("case", list(DROPS))
def test_openai_finish_then_drop_is_complete(case: str, mode: str, stream: bool) -> None:
    seen = ask_openai(
        [Reply(200, {"content-type": SSE_TYPE}, DROPS[case], "read")],
        mode,
        stream,
        tools=OPENAI_TOOLS,
        policy=FAST,
    )
    result = seen.ok()
    assert len(seen.requests) == 1, "a stream whose finish chunk arrived is complete"
    [choice] = result["choices"]
    if case.startswith("tool"):
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["tool_calls"][0]["function"]["arguments"] == '{"city":"Paris"}'
    else:
        assert choice["finish_reason"] == "stop"
        assert seen.text == "Hi there, all done."
    assert seen.raw.rstrip().endswith(b"[DONE]") or b"data: [DONE]" in seen.raw


# == 11. a 200 carrying an error body ===============================================================
OVERLOADED_200 = Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
OPENAI_SERVER_ERROR_200 = Reply.json(
    {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}}
)


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_200_with_a_passing_error_body_is_retried(mode: str, stream: bool) -> None:
    answer = a_message([text("Recovered answer.")])
    seen = ask_anthropic([OVERLOADED_200, a_reply(answer, stream)], mode, stream, policy=FAST)
    result = seen.ok()
    assert result_text(result) == "Recovered answer."
    assert len(seen.requests) == 2
    assert seen.bodies[1] == seen.bodies[0]


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_openai_200_with_a_passing_error_body_is_retried(mode: str, stream: bool) -> None:
    answer = o_completion("Recovered answer.")
    seen = ask_openai([OPENAI_SERVER_ERROR_200, o_reply(answer, stream)], mode, stream, policy=FAST)
    result = seen.ok()
    assert result_text(result) == "Recovered answer."
    assert len(seen.requests) == 2


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_200_with_a_final_error_body_is_that_error(mode: str, stream: bool) -> None:
    message = "prompt is too long: 210000 tokens > 200000 maximum"
    body = Reply.json({"type": "error", "error": {"type": "invalid_request_error", "message": message}})
    seen = ask_anthropic([body], mode, stream, policy=FAST)
    assert isinstance(seen.error, anthropic.APIStatusError), f"expected the API's error, got {seen.error!r}"
    assert message in str(seen.error)
    assert len(seen.requests) == 1


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_openai_200_with_a_final_error_body_is_that_error(mode: str, stream: bool) -> None:
    message = "This model's maximum context length is 128000 tokens."
    body = Reply.json(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }
    )
    seen = ask_openai([body], mode, stream, policy=FAST)
    assert isinstance(seen.error, openai.APIStatusError), f"expected the API's error, got {seen.error!r}"
    assert message in str(seen.error)
    assert len(seen.requests) == 1


# == 12. a long answer from a small cap, default policy =============================================
LONG = prose(9000)


@pytest.mark.parametrize(("mode", "stream"), [*MODES[:2], MODES[3]])
@pytest.mark.parametrize(
    ("dialect", "model"),
    [("anthropic", PREFILL_MODEL), ("anthropic", CONTINUE_MODEL), ("openai", OPENAI_MODEL)],
    ids=["anthropic-prefill", "anthropic-continue", "openai"],
)
def test_long_answer_from_max_tokens_300_default_policy(
    dialect: str, model: str, mode: str, stream: bool
) -> None:
    """9,000 tokens asked with ``max_tokens=300`` and ``stopwise.http_client()`` as it comes: the
    default policy finishes it in a handful of rounds (continuation rounds may ask for more)."""
    script = Faithful(LONG, dialect, per_event=60)
    ask = ask_anthropic if dialect == "anthropic" else ask_openai
    seen = ask(script, mode, stream, model=model, max_tokens=300)
    result = seen.ok()
    assert seen.text == LONG
    assert seen.bodies[0]["max_tokens"] == 300
    assert len(seen.requests) <= 6, f"{len(seen.requests)} rounds for a 9k-token answer"
    if dialect == "anthropic":
        assert result["stop_reason"] == "end_turn"
        assert result["usage"]["output_tokens"] == sum(script.emitted)
    else:
        assert result["choices"][0]["finish_reason"] == "stop"
        if result.get("usage"):
            assert result["usage"]["completion_tokens"] == sum(script.emitted)


# == 13. thinking, tools, server tools, unknown blocks and fields ===================================
SIGNED = "EqQBCkYIBxgCKkBhc2lnbmF0dXJlLWZvci10ZXN0cy1vbmx5AAAA=="
INTERLEAVED = a_message(
    [
        {"type": "thinking", "thinking": "The user wants the weather; call the tool.", "signature": SIGNED},
        text("Let me check the weather."),
        WEATHER,
        {
            "type": "redacted_thinking",
            "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP",
        },
        {"type": "thinking", "thinking": "Also the time.", "signature": SIGNED + "2"},
        TIME,
    ],
    "tool_use",
    output_tokens=210,
)
SERVER_TOOLS = a_message(
    [
        text("Searching."),
        tool_use(
            "srvtoolu_01Search000000000000", "web_search", {"query": "paris weather"}, kind="server_tool_use"
        ),
        {
            "type": "web_search_tool_result",
            "tool_use_id": "srvtoolu_01Search000000000000",
            "content": [
                {
                    "type": "web_search_result",
                    "title": "W",
                    "url": "https://example.org/w",
                    "encrypted_content": "Eqgf",
                    "page_age": None,
                }
            ],
        },
        tool_use(
            "srvtoolu_01Exec00000000000000", "code_execution", {"code": "print(1)"}, kind="server_tool_use"
        ),
        {
            "type": "code_execution_tool_result",
            "tool_use_id": "srvtoolu_01Exec00000000000000",
            "content": {
                "type": "code_execution_result",
                "stdout": "1\n",
                "stderr": "",
                "return_code": 0,
                "content": [],
            },
        },
        text("Sunny, and the code printed 1."),
    ],
    usage={
        "input_tokens": 900,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 120,
        "server_tool_use": {"web_search_requests": 1},
    },
)
UNKNOWN = a_message(
    [
        {"type": "text", "text": "Known text with a private field.", "private_field": {"x": 1}},
        {"type": "fancy_new_block", "payload": {"a": [1, 2, 3]}, "id": "fb_01"},
        {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_01", "is_error": False, "content": [text("ok")]},
        text("After the unknown blocks."),
    ],
    future_envelope_field={"nested": True},
    container={"id": "container_01", "expires_at": "2026-01-01T00:00:00Z"},
)


@pytest.mark.parametrize(("mode", "stream"), MODES)
@pytest.mark.parametrize(
    "message",
    [INTERLEAVED, SERVER_TOOLS, UNKNOWN],
    ids=["interleaved-thinking-tools", "server-tools", "unknown"],
)
def test_one_round_blocks_kept(message: dict[str, Any], mode: str, stream: bool) -> None:
    both(ask_anthropic, lambda: [a_reply(message, stream)], mode, stream, tools=TOOLS)


@pytest.mark.parametrize(("mode", "stream"), STREAM_MODES)
def test_unknown_events_and_deltas_kept(mode: str, stream: bool) -> None:
    """An event type and a delta type the SDKs do not know yet, and ``ping``s: passed on, in order."""
    events = a_events(a_message([text("Hello there.")]))
    odd = [
        events[0],
        sse("ping", {"type": "ping"}),
        events[1],
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "fancy_delta", "x": 1}},
        ),
        *events[2:-2],
        sse("fancy_event", {"type": "fancy_event", "detail": "future"}),
        *events[-2:],
    ]

    def script() -> Upstream:
        return [Reply(200, {"content-type": SSE_TYPE}, odd)]

    both(ask_anthropic, script, mode, stream)


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_thinking_then_cut_text_is_continued_with_the_thinking_intact(mode: str, stream: bool) -> None:
    """Extended thinking, then text cut at max_tokens: the continuation replays the signed block
    unchanged, never ends an assistant turn on thinking, and the caller gets one thinking block
    and the whole text."""
    thinking = {"type": "thinking", "thinking": "Plan: list three fruits.", "signature": SIGNED}
    full = "Three fruits: apple, banana and cherry, all of them sweet."
    later = Faithful(full, "anthropic")

    def script(body: dict[str, Any], n: int) -> Reply:
        if n == 0:
            return a_reply(
                a_message([thinking, text(full[:22])], "max_tokens", output_tokens=body["max_tokens"]), stream
            )
        assistant = [m for m in body["messages"][len(ASK) :] if m["role"] == "assistant"]
        if assistant:
            blocks = assistant[0]["content"]
            assert blocks[0] == thinking, "the signed thinking block goes back unchanged"
            assert blocks[-1]["type"] != "thinking"
            if body["messages"][-1]["role"] == "assistant":
                assert "thinking" not in body or body["thinking"].get("type") == "disabled", (
                    "no prefill with thinking"
                )
        return later(body, n)

    seen = ask_anthropic(
        script,
        mode,
        stream,
        max_tokens=1500,
        thinking={"type": "enabled", "budget_tokens": 1024},
        policy=FAST,
    )
    result = seen.ok()
    assert [b["type"] for b in result["content"]] == ["thinking", "text"]
    assert result["content"][0]["signature"] == SIGNED
    assert result_text(result) == full
    assert result["stop_reason"] == "end_turn"


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_pause_turn_resumed_with_the_server_blocks_sent_back_unchanged(mode: str, stream: bool) -> None:
    search = tool_use(
        "srvtoolu_01Pause000000000000", "web_search", {"query": "tides"}, kind="server_tool_use"
    )
    result_block = {
        "type": "web_search_tool_result",
        "tool_use_id": search["id"],
        "content": [
            {
                "type": "web_search_result",
                "title": "Tides",
                "url": "https://example.org/t",
                "encrypted_content": "Eqtide",
                "page_age": "May 1, 2025",
            }
        ],
    }
    paused = a_message([text("Let me search."), search, result_block], "pause_turn", output_tokens=30)
    cite = {
        "type": "web_search_result_location",
        "url": "https://example.org/t",
        "title": "Tides",
        "encrypted_index": "Eo8",
        "cited_text": "High tide at 6.",
    }
    rest = a_message([text("High tide is at six.", citations=[cite])], id="msg_01Resumed", output_tokens=12)
    seen = ask_anthropic([a_reply(paused, stream), a_reply(rest, stream)], mode, stream, policy=FAST)
    result = seen.ok()
    assert [b["type"] for b in result["content"]] == [
        "text",
        "server_tool_use",
        "web_search_tool_result",
        "text",
    ]
    assert result["content"][2] == result_block
    assert result["content"][3]["citations"][0]["cited_text"] == "High tide at 6."
    assert result["stop_reason"] == "end_turn"
    assert len(seen.requests) == 2
    assert seen.bodies[1]["messages"][-1] == {"role": "assistant", "content": paused["content"]}


# == 14. a finished answer keeps the envelope and sums usage field by field =========================
def rich_usage(n: int, out: int) -> dict[str, Any]:
    return {
        "input_tokens": 100 + n,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 10 * n,
        "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 10},
        "output_tokens": out,
        "service_tier": "standard",
        "server_tool_use": {"web_search_requests": 1},
    }


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_finished_anthropic_answer_sums_usage_field_by_field(mode: str, stream: bool) -> None:
    full = "One two three four five six seven eight nine ten eleven twelve."
    model = Faithful(full, "anthropic", usage=rich_usage)
    seen = ask_anthropic(model, mode, stream, max_tokens=5, policy=FAST)
    result = seen.ok()
    assert seen.text == full
    rounds = len(seen.requests)
    assert rounds >= 2
    usage = result["usage"]
    assert usage["output_tokens"] == sum(model.emitted), "every round's output tokens are billed"
    assert result["id"] == "msg_01Faithful000000000000000"
    if not stream:
        assert usage["input_tokens"] == sum(100 + n for n in range(rounds))
        assert usage["cache_read_input_tokens"] == sum(10 * n for n in range(rounds))
        assert usage["cache_creation"] == {
            "ephemeral_5m_input_tokens": 20 * rounds,
            "ephemeral_1h_input_tokens": 10 * rounds,
        }
        assert usage["server_tool_use"] == {"web_search_requests": rounds}
        assert usage["service_tier"] == "standard"


def openai_rich_usage(n: int, out: int) -> dict[str, Any]:
    return {
        "prompt_tokens": 50 + n,
        "completion_tokens": out,
        "total_tokens": 50 + n + out,
        "prompt_tokens_details": {"cached_tokens": 8 * n, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 2,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


@pytest.mark.parametrize(("mode", "stream"), MODES)
def test_finished_openai_answer_keeps_envelope_and_sums_usage(mode: str, stream: bool) -> None:
    full = "One two three four five six seven eight nine ten eleven twelve."
    model = Faithful(full, "openai", usage=openai_rich_usage)
    seen = ask_openai(model, mode, stream, max_tokens=5, policy=FAST)
    result = seen.ok()
    assert seen.text == full
    rounds = len(seen.requests)
    assert rounds >= 2
    assert result["id"] == "chatcmpl-Faithful000000000000"
    assert result["system_fingerprint"] == "fp_f33640a400"
    assert result["service_tier"] == "default"
    usage = result["usage"]
    words = sum(model.emitted)
    assert usage["completion_tokens"] == words
    assert usage["prompt_tokens"] == sum(50 + n for n in range(rounds))
    assert usage["total_tokens"] == usage["prompt_tokens"] + words
    assert usage["prompt_tokens_details"] == {
        "cached_tokens": sum(8 * n for n in range(rounds)),
        "audio_tokens": 0,
    }
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 2 * rounds
