"""Issue 10, invariant 6: bounded, and sized for real answers by default.

``max_rounds`` and ``max_output_tokens`` bind every kind of round (first, pause, resume, tool
retry, retries after faults); no request carries more than the API's 4 ``cache_control``
breakpoints; and the default ``Policy()`` finishes a 10k-token answer asked with
``max_tokens=300`` in a handful of requests."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import ModelMemory, Policy, RetryPolicy
from stopwise.testing import run
from stopwise.testing.model import Asked, Behaviour, Fault, Model, Step, Truth, answer_of, tokens
from stopwise.testing.strategies import texts

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01)
SETTINGS = settings(
    max_examples=40, deadline=None, report_multiple_bugs=False, suppress_health_check=[HealthCheck.too_slow]
)
USER = [{"role": "user", "content": "Write it all, please."}]
MODELS = (("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-6"), ("openai", "gpt-4o"))


@st.composite
def shapes(draw: st.DrawFn, dialect: str) -> tuple[Truth, frozenset[int]]:
    """A truth of every round kind's making: text, maybe server searches that pause, maybe tool
    calls at the end (cut calls are retried with a bigger budget)."""
    parts = draw(st.lists(texts(min_size=1), min_size=1, max_size=3))
    searches = [(i, f"query {i}") for i in range(len(parts) - 1)] if dialect == "anthropic" else []
    searches = draw(st.sampled_from([[], searches]))
    tools = draw(st.lists(st.tuples(st.just("lookup"), st.fixed_dictionaries({"q": texts()})), max_size=2))
    truth = Truth.of(parts, tools=tools, server=searches)
    results = [i for i, b in enumerate(truth.blocks) if b["type"] == "web_search_tool_result"]
    return truth, frozenset(draw(st.sets(st.sampled_from(results))) if results else ())


def faulted(stream: bool) -> st.SearchStrategy[Step]:
    kinds = ["status", "break", "error"]
    fault = st.builds(Fault, kind=st.sampled_from(kinds), after=st.integers(0, 8), retry_after=st.just(0.0))
    return st.builds(Step, cut=st.none() | st.integers(1, 10), fault=st.none() | fault)


def succeeded(a: Asked) -> bool:
    """A round the upstream answered whole (what counts against max_rounds)."""
    ok = a.reply is not None and a.reply.status == 200 and a.reply.fail is None
    return ok and (a.fault is None or a.fault.kind == "restart")


def max_tokens_of(body: dict[str, Any]) -> int | None:
    v = body.get("max_tokens", body.get("max_completion_tokens"))
    return v if isinstance(v, int) else None


@SETTINGS
@given(st.data())
def test_max_rounds_and_max_output_tokens_bind_every_round(data: st.DataObject) -> None:
    dialect, model = data.draw(st.sampled_from(MODELS), label="model")
    stream = data.draw(st.booleans(), label="stream")
    truth, pauses = data.draw(shapes(dialect), label="truth")
    steps = tuple(data.draw(st.lists(faulted(stream), max_size=8), label="steps"))
    max_rounds = data.draw(st.integers(1, 6), label="max_rounds")
    budget = data.draw(st.none() | st.integers(5, 80), label="max_output_tokens")
    cap = data.draw(st.integers(2, 100), label="max_tokens")
    policy = Policy(max_rounds=max_rounds, max_output_tokens=budget, retry=FAST)
    m = Model(truth, Behaviour(steps, pause_after=pauses), dialect=dialect)  # type: ignore[arg-type]
    request = {"model": model, "max_tokens": cap, "stream": stream, "messages": list(USER)}
    run(request, m, dialect=dialect, policy=policy)  # type: ignore[arg-type]
    rounds = [a for a in m.asked if succeeded(a)]
    assert len(rounds) <= max_rounds, (
        f"{len(rounds)} rounds ({[a.mode for a in rounds]}) > max_rounds {max_rounds}"
    )
    if budget is not None:
        spent = 0
        for a in m.asked:
            mt = max_tokens_of(a.body)
            assert mt is not None and mt <= budget - spent, (
                f"request {a.n} ({a.mode}) asks for max_tokens {mt}; "
                f"max_output_tokens leaves {budget - spent}"
            )
            if succeeded(a):
                spent += a.output_tokens
        assert spent <= budget


def breakpoints(body: dict[str, Any]) -> int:
    def count(obj: Any) -> int:
        if isinstance(obj, dict):
            return ("cache_control" in obj) + sum(count(v) for v in obj.values())
        if isinstance(obj, list):
            return sum(count(v) for v in obj)
        return 0

    return count(body.get("system")) + count(body.get("tools")) + count(body.get("messages"))


@st.composite
def cached_requests(draw: st.DrawFn, model: str) -> dict[str, Any]:
    """A caller who already uses 3 or 4 breakpoints, spread over system, tools and messages."""
    mark = {"type": "ephemeral"}
    n = draw(st.sampled_from([3, 4]))
    where = draw(st.lists(st.sampled_from(["system", "tools", "messages"]), min_size=n, max_size=n))
    system = [
        {"type": "text", "text": f"System part {i}.", "cache_control": mark}
        for i in range(where.count("system"))
    ]
    tools = [
        {"name": f"t{i}", "input_schema": {"type": "object"}, "cache_control": mark}
        for i in range(where.count("tools"))
    ]
    history: list[dict[str, Any]] = []
    for i in range(where.count("messages")):
        history += [
            {
                "role": "user",
                "content": [{"type": "text", "text": f"Earlier question {i}.", "cache_control": mark}],
            },
            {"role": "assistant", "content": f"Earlier answer {i}."},
        ]
    body: dict[str, Any] = {"model": model, "messages": [*history, *USER]}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = tools
    return body


@SETTINGS
@given(st.data())
def test_at_most_four_cache_breakpoints_in_every_request(data: st.DataObject) -> None:
    model = data.draw(st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-6"]), label="model")
    stream = data.draw(st.booleans(), label="stream")
    request = data.draw(cached_requests(model), label="request")
    request.update(max_tokens=data.draw(st.integers(3, 30), label="max_tokens"), stream=stream)
    text = data.draw(texts(min_size=30), label="text")
    m = Model(Truth.of(text))
    run(request, m, policy=Policy(cache_prefix=True, max_rounds=50, retry=FAST))
    for a in m.asked:
        assert breakpoints(a.body) <= 4, f"request {a.n} ({a.mode}) carries {breakpoints(a.body)} breakpoints"


# -- the default policy ------------------------------------------------------------------------------
def long_answer(tokens_wanted: int = 10_400) -> str:
    paragraphs = []
    i = 0
    while sum(len(tokens(p)) for p in paragraphs) < tokens_wanted:
        paragraphs.append(
            f"Section {i}: the revenue of region {i % 7} grew by {i * 3 % 17} percent "
            f"in quarter {i % 4 + 1}, "
            f"and the team noted that costs stayed flat while headcount rose slightly.\n\n"
            f"| Region | Q{i % 4 + 1} |\n|---|---|\n| r{i % 7} | {i * 37 % 1000} |\n\n"
        )
        i += 1
    return "".join(paragraphs)


LONG = long_answer()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("dialect", "model"), MODELS)
def test_the_default_policy_finishes_a_long_answer_from_a_small_cap(
    dialect: str, model: str, stream: bool
) -> None:
    assert len(tokens(LONG)) >= 10_000
    m = Model(Truth.of(LONG), dialect=dialect)  # type: ignore[arg-type]
    request = {"model": model, "max_tokens": 300, "stream": stream, "messages": list(USER)}
    result = run(request, m, dialect=dialect, policy=Policy())  # type: ignore[arg-type]
    assert len(m.asked) <= 6, (
        f"{len(m.asked)} requests, max_tokens {[max_tokens_of(a.body) for a in m.asked]}"
    )
    assert result.summary["state"] == "complete"
    assert answer_of(result, dialect).text == LONG  # type: ignore[arg-type]


@SETTINGS
@given(st.data())
def test_continuation_rounds_grow_max_tokens_within_the_policy_and_the_ceiling(data: st.DataObject) -> None:
    # Invariant 6: a continuation may ask for more than the caller's cap, by the policy's factor
    # per round at most, and never past the model's output ceiling; with a factor of 1 it never
    # asks for more than the caller did.
    dialect, model = data.draw(st.sampled_from(MODELS), label="model")
    stream = data.draw(st.booleans(), label="stream")
    text = data.draw(texts(min_size=30), label="text")
    steps = tuple(data.draw(st.lists(faulted(stream), max_size=8), label="steps"))
    grow = data.draw(st.sampled_from([1.0, 1.5, 2.0, 4.0]), label="grow_max_tokens")
    cap = data.draw(st.integers(2, 60), label="max_tokens")
    m = Model(Truth.of(text), Behaviour(steps), dialect=dialect)  # type: ignore[arg-type]
    request = {"model": model, "max_tokens": cap, "stream": stream, "messages": list(USER)}
    policy = Policy(grow_max_tokens=grow, max_rounds=60, retry=FAST)
    run(request, m, dialect=dialect, policy=policy)  # type: ignore[arg-type]
    ceiling = ModelMemory().ceiling(model)
    assert ceiling is not None
    asked = [max_tokens_of(a.body) for a in m.asked]
    assert asked[0] == cap  # the caller's own request goes as it came
    previous = cap
    for n, mt in enumerate(asked):
        assert mt is not None, f"request {n} has no max_tokens"
        assert mt <= max(cap, ceiling), f"request {n} asks for {mt}, over the ceiling {ceiling}"
        assert mt <= max(cap, int(previous * grow)), (
            f"request {n} asks for {mt}: more than {grow} x the last round's {previous}"
        )
        previous = mt
    if grow == 1.0:
        assert all(mt == cap for mt in asked), asked
