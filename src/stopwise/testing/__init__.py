"""Drive the finisher with scripted upstream rounds and no sockets.

A test says what the upstream answers to each request (:class:`Reply`: a status, headers, the
body as the reads return it, and how it fails), and :func:`run` plays the engine against it the
way the transports do, recording every request the engine made, every sleep, and every byte the
caller was handed with the number of upstream reads served when it came out::

    from stopwise.testing import Reply, run, sse

    result = run({"model": "m", "max_tokens": 5, "stream": True, "messages": [...]},
                 [Reply(chunks=[sse("message_start", {...}), ...]), Reply(...)])
    result.body        # what the caller got, the whole body or stream
    result.requests    # each request body the engine sent upstream

This is the test double the property tests run on (thousands of generated round sequences a
second); :mod:`stopwise.testing.server` serves the same replies over HTTP on 127.0.0.1 for tests
through the official SDKs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ..finisher import ModelMemory, Policy, finisher_for
from ..finisher.base import Finisher, _UpstreamUnreachable
from ..finisher.effects import Emit, Failure, Finish, Forward, Head, Read, Send, Sleep, Start

__all__ = ["Reply", "Run", "ScriptedFailure", "Upstream", "chunk", "run", "sse"]


class ScriptedFailure(ConnectionError):
    """The failure a scripted reply raises where it says it breaks."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One upstream response. ``fail``: ``"connect"`` means no response came at all (the chunks
    are ignored); ``"read"`` means the body breaks off after its chunks."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    chunks: Sequence[bytes] = ()
    fail: Literal["connect", "read"] | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, {"content-type": "application/json", **(headers or {})}, (orjson.dumps(obj),))

    @classmethod
    def stream(cls, chunks: Sequence[bytes], *, fail: Literal["read"] | None = None) -> Reply:
        return cls(200, {"content-type": "text/event-stream"}, tuple(chunks), fail)


#: What the upstream answers: a list of replies in request order, or a function of the request
#: body and its 0-based number.
Upstream = Sequence[Reply] | Callable[[dict[str, Any], int], Reply]


def sse(event: str | None, obj: Any) -> bytes:
    """One SSE event with a JSON data line (``event=None``: no ``event:`` line, as OpenAI)."""
    data = obj if isinstance(obj, bytes) else orjson.dumps(obj)
    head = b"" if event is None else b"event: " + event.encode() + b"\n"
    return head + b"data: " + data + b"\n\n"


def chunk(obj: Any) -> bytes:
    """One OpenAI-style chunk line (``b"[DONE]"`` for the terminator)."""
    return sse(None, obj)


@dataclass(slots=True)
class Run:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    stream: bool = False  # the caller got a stream (a Start came before the Finish)
    requests: list[dict[str, Any]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    #: Each Emit with how many upstream reads had been served when it came out.
    emits: list[tuple[int, bytes]] = field(default_factory=list)
    unreachable: bool = False  # the engine gave up with no response ever received
    finisher: Finisher | None = None

    @property
    def summary(self) -> dict[str, Any]:
        assert self.finisher is not None
        return self.finisher.summary()


def run(
    body: dict[str, Any],
    upstream: Upstream,
    *,
    dialect: Literal["anthropic", "openai", "responses"] = "anthropic",
    policy: Policy | None = None,
    memory: ModelMemory | None = None,
    source: bool = True,
) -> Run:
    """Play the engine for ``body`` against ``upstream`` to its end. ``source``: give the
    finisher the request's bytes, as the transports do (it then keeps those, not ``body``, and
    reads the request again for a later round); ``False``: the parsed body only, kept whole."""
    finisher = finisher_for(
        dialect,
        body,
        policy=policy or Policy(),
        memory=memory or ModelMemory(),
        source=orjson.dumps(body) if source else None,
    )
    result = Run(finisher=finisher)
    engine = finisher.run()
    reads = 0
    pending: list[bytes] = []
    failing = False
    value: Any = None
    while True:
        try:
            effect = engine.send(value)
        except _UpstreamUnreachable:
            result.unreachable = True
            return result
        value = None
        if isinstance(effect, Send):
            number = len(result.requests)
            # The caller's own: its bytes go; any other: the bytes the engine made of it.
            sent = body if effect.caller else orjson.loads(effect.data) if effect.data else effect.body
            result.requests.append(sent)
            reply = upstream(sent, number) if callable(upstream) else _nth(upstream, number)
            if reply.fail == "connect":
                value = Failure(ScriptedFailure("scripted: no response"))
                continue
            pending, failing = list(reply.chunks), reply.fail == "read"
            value = Head(reply.status, {k.lower(): v for k, v in reply.headers.items()})
        elif isinstance(effect, Read | Forward):
            if effect.emit:
                result.emits.append((reads, effect.emit))
                result.body += effect.emit
            while True:
                reads += 1
                if pending:
                    value = pending.pop(0)
                elif failing:
                    failing = False
                    value = Failure(ScriptedFailure("scripted: connection broke"))
                else:
                    value = b""
                if not (isinstance(effect, Forward) and isinstance(value, bytes) and value):
                    break
                if not effect.take(value):
                    break
                result.emits.append((reads, value))  # passed on as it came, before the next read
                result.body += value
        elif isinstance(effect, Sleep):
            result.sleeps.append(effect.seconds)
        elif isinstance(effect, Start):
            result.stream = True
            result.status, result.headers = effect.status, dict(effect.headers)
        elif isinstance(effect, Emit):
            result.emits.append((reads, effect.data))
            result.body += effect.data
        elif isinstance(effect, Finish):
            if not result.stream:
                result.status, result.headers, result.body = effect.status, dict(effect.headers), effect.body
            engine.close()
            return result


def _nth(replies: Sequence[Reply], number: int) -> Reply:
    if number >= len(replies):
        raise AssertionError(f"the engine sent request {number + 1}, the script has {len(replies)} replies")
    return replies[number]
