"""Issue 10, invariant 5: structure-aware.

A constrained answer (OpenAI ``response_format`` json_schema / json_object; a forced tool:
Anthropic ``tool_choice`` ``tool`` / ``any``, OpenAI ``required`` / a named function) cut at its
cap is never continued by concatenation: the next request, if any, asks again from the caller's
own messages with a larger ``max_tokens`` (up to the model's ceiling), or the answer comes back
truncated; invalid JSON is never reported complete. And every request the finisher builds
follows the extended-thinking rules."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.catalog import model_ceiling
from stopwise.finisher import Policy, RetryPolicy
from stopwise.testing import run
from stopwise.testing.model import Behaviour, Fault, Model, Step, Truth, answer_of
from stopwise.testing.strategies import json_values, texts

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01)
POLICY = Policy(max_rounds=40, retry=FAST)
SETTINGS = settings(
    max_examples=40, deadline=None, report_multiple_bugs=False, suppress_health_check=[HealthCheck.too_slow]
)
USER = [{"role": "user", "content": "Answer in the required shape."}]
TOOL = {"name": "record", "description": "Record it", "input_schema": {"type": "object"}}
FUNCTION = {"type": "function", "function": {"name": "record", "parameters": {"type": "object"}}}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": True},
}

objects = st.dictionaries(
    st.sampled_from(["a", "b", "rows", "名前", "note"]), json_values(), min_size=1, max_size=4
)


@st.composite
def constrained(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], Truth]:
    """(dialect, model, the request's constraint fields, the truth it answers with)."""
    value = draw(objects)
    kind = draw(st.sampled_from(["json_schema", "json_object", "openai_tool", "anthropic_tool"]))
    if kind in ("json_schema", "json_object"):
        fmt = SCHEMA if kind == "json_schema" else {"type": "json_object"}
        return "openai", "gpt-4o", {"response_format": fmt}, Truth.of(orjson.dumps(value).decode())
    if kind == "openai_tool":
        choice: Any = draw(
            st.sampled_from(["required", {"type": "function", "function": {"name": "record"}}])
        )
        return (
            "openai",
            "gpt-4o",
            {"tools": [FUNCTION], "tool_choice": choice},
            Truth.of(tools=[("record", value)]),
        )
    model = draw(st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-6"]))
    choice = draw(st.sampled_from([{"type": "tool", "name": "record"}, {"type": "any"}]))
    return "anthropic", model, {"tools": [TOOL], "tool_choice": choice}, Truth.of(tools=[("record", value)])


@SETTINGS
@given(constrained(), st.booleans(), st.integers(1, 30), st.sampled_from([None, 2, 4]))
def test_a_constrained_answer_is_asked_again_never_concatenated(
    case: tuple[str, str, dict[str, Any], Truth], stream: bool, cap: int, cut: int | None
) -> None:
    dialect, model, fields, truth = case
    behaviour = Behaviour((Step(cut=cut),)) if cut is not None else None
    m = Model(truth, behaviour, dialect=dialect)  # type: ignore[arg-type]
    request = {"model": model, "max_tokens": cap, "stream": stream, "messages": list(USER), **fields}
    result = run(request, m, dialect=dialect, policy=POLICY)  # type: ignore[arg-type]
    ceiling = model_ceiling(model)
    previous = cap
    for a in m.asked[1:]:
        assert a.mode in ("fresh", "rejected"), (
            f"request {a.n} continues a constrained answer ({a.mode}): {a.body['messages'][len(USER) :]}"
        )
        mt = a.body.get("max_tokens", a.body.get("max_completion_tokens"))
        assert isinstance(mt, int) and mt > previous, (
            f"request {a.n} asks again with max_tokens {mt} <= {previous}"
        )
        assert ceiling is None or mt <= ceiling
        previous = mt
    answer = answer_of(result, dialect)  # type: ignore[arg-type]
    if result.summary["state"] == "complete":
        if "response_format" in fields:
            assert orjson.loads(answer.text) == orjson.loads(truth.text), "invalid JSON reported complete"
        else:
            want = [(c["id"], c["name"], c["input"]) for c in truth.tool_calls]
            assert answer.tool_calls == want


# -- extended thinking --------------------------------------------------------------------------------
THINKING = {"type": "enabled", "budget_tokens": 1024}


@st.composite
def thinking_truths(draw: st.DrawFn) -> Truth:
    thought = draw(texts(min_size=5))
    text = draw(texts(min_size=1))
    tools = draw(st.lists(st.tuples(st.sampled_from(["lookup", "fetch"]), objects), max_size=2))
    return Truth.of(text, thinking=thought, tools=tools)


def assistant_turns(request: dict[str, Any]) -> list[list[dict[str, Any]]]:
    out = []
    for msg in request.get("messages") or []:
        if msg.get("role") == "assistant":
            content = msg.get("content")
            out.append(
                [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
            )
    return out


@SETTINGS
@given(
    thinking_truths(),
    st.sampled_from(["claude-sonnet-4-5", "claude-opus-4-6"]),
    st.booleans(),
    st.integers(2, 60),
    st.lists(
        st.none() | st.builds(Fault, kind=st.sampled_from(["break", "error"]), after=st.integers(1, 8)),
        max_size=4,
    ),
)
def test_requests_follow_the_thinking_rules(
    truth: Truth, model: str, stream: bool, cap: int, faults: list[Fault | None]
) -> None:
    # max_tokens must exceed the thinking budget: the rounds are cut by the step's ``cut``.
    m = Model(truth, Behaviour(tuple(Step(cut=cap, fault=f) for f in faults), default=Step(cut=cap)))
    request = {
        "model": model,
        "max_tokens": max(cap, 1025),
        "thinking": THINKING,
        "stream": stream,
        "messages": list(USER),
    }
    result = run(request, m, policy=POLICY)
    signed = {b["thinking"]: b["signature"] for b in truth.blocks if b["type"] == "thinking"}
    for a in m.asked:
        b = a.body
        turns = assistant_turns(b)
        msgs = b.get("messages") or []
        for turn in turns:
            for block in turn:
                if block.get("type") == "thinking":
                    assert block.get("signature"), f"request {a.n} replays an unsigned thinking block"
                    assert signed.get(block.get("thinking")) == block["signature"], (
                        f"request {a.n} replays a thinking block not byte-identical to the one received"
                    )
            assert not turn or turn[-1].get("type") != "thinking", (
                f"request {a.n}: an assistant turn ends on thinking"
            )
        if b.get("thinking"):
            assert not (msgs and msgs[-1].get("role") == "assistant"), (
                f"request {a.n}: prefill with thinking on"
            )
        # One thinking configuration per assistant turn: every round of this one answer is asked
        # with the caller's thinking, and a turn built from it starts with its signed thinking.
        assert b.get("thinking") == THINKING, (
            f"request {a.n} ({a.mode}) changes thinking to {b.get('thinking')}"
        )
        if turns and turns[-1]:
            assert turns[-1][0].get("type") == "thinking", (
                f"request {a.n}: thinking is on, its last assistant turn starts with "
                f"{turns[-1][0].get('type')}"
            )
    answer = answer_of(result, "anthropic")
    if result.summary["state"] == "complete":
        for block in answer.content:
            if block.get("type") == "thinking":
                assert block.get("signature"), "an unsigned thinking block inside an answer reported complete"
