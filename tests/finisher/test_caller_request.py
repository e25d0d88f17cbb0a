"""The caller's request is held once (``Dialect.request``): given the request's bytes, the
finisher keeps those and the request's small fields, reads the request again when it builds a
later round, and lets that go when the round begins. What it asks upstream is the same as when
it keeps the parsed request whole; a one-round request holds no second copy of its
conversation."""

from __future__ import annotations

import gc
import inspect
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx2
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import ModelMemory, Policy, RetryPolicy
from stopwise.finisher.anthropic import AnthropicDialect
from stopwise.finisher.dialect import Ledger, Plan
from stopwise.testing import run
from stopwise.testing.model import PREAMBLES, Behaviour, Fault, Model, Step, Truth
from stopwise.testing.render import anthropic_reply, caller_events, stream_text
from stopwise.testing.strategies import json_values, texts
from stopwise.transport import FinisherTransport

POLICY = Policy(max_rounds=60, retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))
MODELS = (("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-6"), ("openai", "gpt-4o"))


@st.composite
def steps(draw: st.DrawFn, stream: bool) -> tuple[Step, ...]:
    kinds = ["status", "break", "error"] + (["restart"] if stream else [])
    out = []
    for _ in range(draw(st.integers(0, 6))):
        fault = draw(st.none() | st.builds(Fault, kind=st.sampled_from(kinds), after=st.integers(0, 6)))
        out.append(
            Step(
                cut=draw(st.none() | st.integers(1, 12)),
                fault=fault,
                misbehave=draw(st.sampled_from(["faithful", "repeat", "preamble", "restart"])),
                words=draw(st.integers(4, 8)),
                preamble=draw(st.integers(0, len(PREAMBLES) - 1)),
            )
        )
    return tuple(out)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_plans_read_from_the_bytes_are_the_plans_of_the_kept_request(data: st.DataObject) -> None:
    dialect, model = data.draw(st.sampled_from(MODELS), label="model")
    stream = data.draw(st.booleans(), label="stream")
    text = data.draw(texts(min_size=1), label="text")
    messages: list[dict[str, Any]] = [{"role": "user", "content": data.draw(texts(), label="ask")}]
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": data.draw(st.integers(3, 40), label="max_tokens"),
        "stream": stream,
        "messages": messages,
    }
    if data.draw(st.booleans(), label="system"):
        system = data.draw(texts(), label="system text")
        if dialect == "anthropic":
            body["system"] = system
        else:
            messages.insert(0, {"role": "system", "content": system})
    behaviour = data.draw(steps(stream), label="steps")
    results = []
    for source in (True, False):
        m = Model(Truth.of(text), Behaviour(behaviour), dialect=dialect)  # type: ignore[arg-type]
        results.append(run(body, m, dialect=dialect, policy=POLICY, source=source))  # type: ignore[arg-type]
    from_bytes, kept = results
    assert from_bytes.requests == kept.requests
    assert from_bytes.body == kept.body
    assert from_bytes.summary == kept.summary


_AT_UPSTREAM: list[int] = []  # traced memory when the upstream gets the request


def _big_request(**fields: Any) -> bytes:
    """An 8 MB conversation, made before tracing starts: the caller's request object holds its
    bytes anyway, so a parsed copy kept next to them is 8 MB more of traced memory."""
    big = "All work and no play makes a long prompt. " * 200_000
    body = {"model": "claude-opus-4-6", "stream": True, **fields}
    return orjson.dumps({**body, "messages": [{"role": "user", "content": big}]})


def _stream(text: str, stop: str, n: int) -> httpx2.Response:
    message = {
        "id": f"msg_held{n:02d}",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-6",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 4},
    }
    reply = anthropic_reply(message, stream=True, pieces=3)
    return httpx2.Response(200, headers=reply.headers, stream=httpx2.ByteStream(b"".join(reply.chunks)))


def _client_and_request(
    raw: bytes, upstream: Callable[[httpx2.Request], httpx2.Response]
) -> tuple[httpx2.Client, httpx2.Request]:
    client = httpx2.Client(transport=FinisherTransport(httpx2.MockTransport(upstream)))
    request = client.build_request(
        "POST", "http://127.0.0.1:9/v1/messages", content=raw, headers={"content-type": "application/json"}
    )
    return client, request


def _answer(request: httpx2.Request) -> httpx2.Response:
    request.read()
    gc.collect()
    _AT_UPSTREAM.append(tracemalloc.get_traced_memory()[0])
    return _stream("A short answer.", "end_turn", 1)


def test_a_one_round_request_holds_its_conversation_once() -> None:
    raw = _big_request(max_tokens=1000, system="Be brief.")
    client, request = _client_and_request(raw, _answer)
    _AT_UPSTREAM.clear()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        response = client.send(request, stream=True)  # the answer open, the finisher running
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        text = response.read()
        response.close()
    finally:
        tracemalloc.stop()
        client.close()
    assert stream_text(caller_events(text)) == "A short answer."
    # (Before: 1.00x, the parsed request kept for a later round that never came. A peak is not
    # asserted: orjson reserves more than it touches, which tracemalloc counts and RSS does not;
    # bench/gateway_reliability.py bodies measures RSS.)
    assert held < 0.1 * len(raw), f"{held / len(raw):.2f}x the body held while the answer streams"
    # Nor while the upstream thinks, before the round has begun (the state the finisher starts
    # with is a placeholder round: it held the parsed request until a head came).
    waiting = _AT_UPSTREAM[0] - before
    assert waiting < 0.1 * len(raw), f"{waiting / len(raw):.2f}x the body held while the upstream answers"


def test_a_later_round_holds_its_request_as_bytes() -> None:
    # The first answer is cut at max_tokens, so a second request goes up: the conversation again
    # plus the answer so far. What is held while the upstream answers it is that request's
    # bytes, not the conversation as objects as well.
    raw = _big_request(max_tokens=4)
    at_upstream: list[int] = []
    # The round's own bytes are allowed: orjson reserves many times what it writes (untouched
    # pages, which RSS does not count and tracemalloc does), so they are left out by where they
    # were made, and their length is counted instead.
    lines, first = inspect.getsourcelines(Plan.freeze)
    dumps_line = first + next(i for i, line in enumerate(lines) if "orjson.dumps" in line)
    not_the_bytes = tracemalloc.Filter(False, inspect.getfile(Plan), lineno=dumps_line)

    def answer(request: httpx2.Request) -> httpx2.Response:
        request.read()
        gc.collect()
        others = tracemalloc.take_snapshot().filter_traces([not_the_bytes])
        at_upstream.append(sum(t.size for t in others.traces) + len(request.content))
        cut = len(at_upstream) == 1
        if cut:
            return _stream("The first part and ", "max_tokens", 1)
        return _stream("the rest of it.", "end_turn", 2)

    client, request = _client_and_request(raw, answer)
    tracemalloc.start()
    try:
        before = sum(t.size for t in tracemalloc.take_snapshot().traces)
        response = client.send(request, stream=True)
        text = response.read()
        response.close()
    finally:
        tracemalloc.stop()
        client.close()
    assert len(at_upstream) == 2
    assert stream_text(caller_events(text)).startswith("The first part and")
    # The second request's bytes (the body again, and a little more) and little else; before,
    # the parsed conversation stayed beside them: 2.00x.
    second = at_upstream[1] - before
    assert second < 1.2 * len(raw), f"{second / len(raw):.2f}x the body held while a later round runs"


_FIELDS = st.dictionaries(
    st.sampled_from(["model", "max_tokens", "stream", "tools", "metadata"]), json_values()
)


@settings(max_examples=100, deadline=None)
@given(_FIELDS, st.lists(json_values()), st.none() | json_values(), st.booleans())
def test_a_frozen_plan_keeps_its_small_fields_and_gives_back_its_whole_body(
    fields: dict[str, Any], messages: list[Any], system: Any, caller: bool
) -> None:
    body = {**fields, "messages": messages, **({} if system is None else {"system": system})}
    ledger = Ledger(Policy(), ModelMemory(), "claude-opus-4-6", False)
    dialect = AnthropicDialect(body, ledger, orjson.dumps(body))
    plan = dialect.caller_plan("initial", None) if caller else Plan("continue", dict(body))
    plan.freeze()
    assert plan.body == {k: v for k, v in body.items() if k not in ("messages", "system")}
    assert dialect.whole(plan) == body  # read again from the bytes: nothing lost
    plan.freeze()  # twice is once
    assert dialect.whole(plan) == body
