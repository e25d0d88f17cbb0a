"""Invariant 4 (issue 10), terminal reasons are final: refusal, content_filter, stop_sequence and
a whole tool_use / tool_calls are never continued, at the cap or not; a natural stop at exactly
the cap is continued only by prefill (which cannot alter a complete answer), else returned as
complete after one request."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import Policy, RetryPolicy
from stopwise.testing import Reply, run
from stopwise.testing.render import anthropic_reply, openai_reply, sdk_anthropic, transparency_problems
from stopwise.testing.strategies import NO_PREFILL_MODELS, PREFILL_MODELS, Case, anthropic_cases, openai_cases

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01)
POLICY = Policy(retry=FAST)
PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def render(case: Case) -> Reply:
    if case.dialect == "anthropic":
        return anthropic_reply(case.response, stream=case.stream, **case.render)
    return openai_reply(case.response, stream=case.stream, **case.render)


def _one_request_unchanged(case: Case, policy: Policy = POLICY) -> None:
    reply = render(case)
    result = run(case.body, lambda body, n: reply, dialect=case.dialect, policy=policy)
    assert len(result.requests) == 1, f"a terminal answer was continued: {len(result.requests)} requests"
    assert not (problems := transparency_problems(result, reply)), "\n".join(problems)


@PROPS
@given(anthropic_cases(stop_reasons=("refusal", "stop_sequence", "tool_use"), at_cap=None))
def test_anthropic_terminal_reasons_are_final(case: Case) -> None:
    _one_request_unchanged(case)


@PROPS
@given(openai_cases(finishes=("content_filter", "tool_calls", "refusal"), at_cap=None))
def test_openai_terminal_reasons_are_final(case: Case) -> None:
    _one_request_unchanged(case)


@PROPS
@given(openai_cases(finishes=("stop",), at_cap=True))
def test_openai_stop_at_the_cap_is_complete(case: Case) -> None:
    _one_request_unchanged(case)


@PROPS
@given(anthropic_cases(stop_reasons=("end_turn",), at_cap=True, models=NO_PREFILL_MODELS))
def test_end_turn_at_the_cap_without_prefill_is_complete(case: Case) -> None:
    _one_request_unchanged(case)


@PROPS
@given(anthropic_cases(stop_reasons=("end_turn",), at_cap=True, models=PREFILL_MODELS))
def test_end_turn_at_the_cap_with_prefill_never_is_complete(case: Case) -> None:
    _one_request_unchanged(case, Policy(prefill="never", retry=FAST))


@PROPS
@given(anthropic_cases(stop_reasons=("end_turn",), at_cap=True, models=PREFILL_MODELS), st.booleans())
def test_end_turn_at_the_cap_is_continued_only_by_prefill_and_stays_whole(case: Case, stream: bool) -> None:
    """On a prefill model (no thinking) it may be checked by prefill; the model, having finished,
    adds nothing, and the caller's answer is the upstream's, stop reason included."""
    thinking = "thinking" in case.body
    message = case.response
    empty = {
        **message,
        "id": "msg_after",
        "content": [],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 5, "output_tokens": 1},
    }
    body = {**case.body, "stream": True} if stream else {k: v for k, v in case.body.items() if k != "stream"}

    def upstream(req: dict[str, Any], n: int) -> Reply:
        if n == 0:
            return anthropic_reply(message, stream=stream)
        return anthropic_reply(empty, stream=stream)

    result = run(body, upstream, policy=POLICY)
    if thinking:
        assert len(result.requests) == 1, "no prefill with thinking: returned as complete"
    for req in result.requests[1:]:
        assert req["messages"][-1]["role"] == "assistant", "continued by something other than prefill"
    got = sdk_anthropic(body, result.status, result.headers, result.body)
    want = orjson.loads(anthropic_reply(message, stream=False).chunks[0])
    assert [b.get("text") for b in got["content"]] == [b.get("text") for b in want["content"]]
    assert got["stop_reason"] == "end_turn"
    if len(result.requests) == 1:
        assert not (problems := transparency_problems(result, anthropic_reply(message, stream=stream))), (
            "\n".join(problems)
        )


# Found while building the Responses finisher: the verdict on a normal stop at the cap was made
# when the next round was planned, so with no round left (max_rounds=1) the answer, unchanged,
# was reported truncated.
@PROPS
@given(
    st.one_of(
        openai_cases(finishes=("stop",), at_cap=True),
        anthropic_cases(stop_reasons=("end_turn",), at_cap=True, models=NO_PREFILL_MODELS),
        anthropic_cases(stop_reasons=("end_turn",), at_cap=True, models=PREFILL_MODELS),
    )
)
def test_a_stop_at_the_cap_with_no_round_left_is_reported_complete(case: Case) -> None:
    policy = Policy(max_rounds=1, retry=FAST)
    _one_request_unchanged(case, policy)
    result = run(case.body, lambda body, n: render(case), dialect=case.dialect, policy=policy)
    assert result.summary["state"] == "complete"
