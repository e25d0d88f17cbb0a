"""Invariant 7 (issue 10), errors are errors: a mid-stream error object is classified by what it
says and resumed when passing; a 200 carrying an error body is that error; an OpenAI stream whose
finish chunk arrived is complete even if the connection drops; when the finisher gives up on a
stream, everything received reaches the caller before the error."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import Policy, RetryPolicy
from stopwise.finisher.join import UNCERTAIN
from stopwise.testing import Reply, run
from stopwise.testing.model import only_repeats_removed
from stopwise.testing.render import (
    anthropic_reply,
    caller_events,
    error_events,
    openai_chunks,
    openai_reply,
    reply_bytes,
    sse_events,
    stream_text,
)
from stopwise.testing.strategies import Behaviour, texts

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01)
POLICY = Policy(retry=FAST)
PROPS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ANTHROPIC_PASSING = ("overloaded_error", "api_error", "rate_limit_error", "timeout_error")
ANTHROPIC_FINAL = ("invalid_request_error", "authentication_error", "permission_error", "not_found_error")

openai_passing = st.one_of(
    st.builds(
        lambda t, c: {"type": t, "code": c},
        st.sampled_from(
            ("server_error", "internal_server_error", "api_error", "overloaded_error", "service_unavailable")
        ),
        st.sampled_from((None, "500", 500, "502", 503, "529")),
    ),
    st.builds(
        lambda c: {"type": "rate_limit_error", "code": c},
        st.sampled_from((None, "429", 429, "rate_limit_exceeded")),
    ),
    st.builds(lambda c: {"type": "error", "code": c}, st.sampled_from(("500", 502, "503", "504"))),
)
openai_final = st.builds(
    lambda t, c: {"type": t, "code": c},
    st.sampled_from(("invalid_request_error", "authentication_error", "permission_error", "not_found_error")),
    st.sampled_from((None, "400", 400, "401", "invalid_api_key", "context_length_exceeded")),
)


def _message(text: str, model: str = "claude-sonnet-4-5") -> dict[str, Any]:
    return {
        "id": "msg_err01",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def _completion(text: str, model: str = "gpt-4o") -> dict[str, Any]:
    return {
        "id": "chatcmpl-err01",
        "object": "chat.completion",
        "created": 1_750_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def _scripted(b: Behaviour, first: Reply) -> Any:
    rest = b.upstream()

    def upstream(body: dict[str, Any], n: int) -> Reply:
        return first if n == 0 else rest(body, n)

    return upstream


def _body(dialect: str, model: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": "Go."}],
    }
    if stream:
        body["stream"] = True
        if dialect == "openai":
            body["stream_options"] = {"include_usage": True}
    return body


# --------------------------------------------------------------------------- mid-stream errors


@PROPS
@given(
    texts(min_size=2),
    st.integers(2, 5),
    st.sampled_from(ANTHROPIC_PASSING + ANTHROPIC_FINAL),
    st.integers(1, 3),
)
def test_anthropic_error_event_is_classified_by_its_type(text: str, at: int, kind: str, pieces: int) -> None:
    b = Behaviour("anthropic", "claude-sonnet-4-5", 4096, text)
    error = {"type": "error", "error": {"type": kind, "message": "something happened"}}
    first = anthropic_reply(_message(text), stream=True, pieces=pieces, break_after=at, error_event=error)
    arrived = stream_text(sse_events(reply_bytes(first)))
    result = run(_body("anthropic", b.model, True), _scripted(b, first), policy=POLICY)
    events = caller_events(result.body)
    if _finish_arrived(first):
        # The error came after the message's end: nothing was lost, the answer is complete.
        assert len(result.requests) == 1 and stream_text(events) == text and not error_events(events)
    elif kind in ANTHROPIC_PASSING:
        assert len(result.requests) >= 2, f"a passing {kind} was not resumed"
        assert stream_text(events) == text
        assert error_events(events) == []
    else:
        assert len(result.requests) == 1, f"{kind} is not passing, yet it was retried"
        assert stream_text(events) == arrived, "what arrived before the error must reach the caller"
        errors = error_events(events)
        assert errors and events[-1][1] == errors[-1], "the stream must end with the error"
        assert errors[-1]["error"]["type"] == kind


@PROPS
@given(texts(min_size=2), st.integers(2, 4), st.one_of(openai_passing, openai_final), st.booleans())
def test_openai_error_chunk_is_classified_by_what_it_says(
    text: str, at: int, err: dict[str, Any], relay: bool
) -> None:
    model = "claude-sonnet-4-5" if relay else "gpt-4o"
    b = Behaviour("openai", model, 4096, text)
    error = {"error": {"message": "something happened", "param": None, **err}}
    first = openai_reply(_completion(text, model), stream=True, pieces=3, break_after=at, error_chunk=error)
    arrived = stream_text(sse_events(reply_bytes(first)))
    result = run(_body("openai", model, True), _scripted(b, first), dialect="openai", policy=POLICY)
    events = caller_events(result.body)
    if _finish_arrived(first):
        # The error came after the finish chunk: the answer is complete (invariant 7).
        assert len(result.requests) == 1 and stream_text(events) == text and not error_events(events)
        return
    passing = err["type"] not in (
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
    )
    if passing:
        assert len(result.requests) >= 2, f"a passing error {err} was not resumed"
        # Resumed by a continue turn, whose seam may drop a copy of what the answer ends in
        # (invariant 3), or keep one it calls uncertain.
        kept = result.summary["notes"].count(UNCERTAIN)
        assert only_repeats_removed(stream_text(events), text, kept), (stream_text(events), text)
        assert error_events(events) == []
    else:
        assert len(result.requests) == 1, f"{err} is not passing, yet it was retried"
        assert stream_text(events) == arrived
        errors = error_events(events)
        assert errors and events[-1][1] == errors[-1], "the stream must end with the error"


def test_litellm_internal_server_error_chunk_is_resumed() -> None:
    text = "The totals by region are in the table below, one row each."
    b = Behaviour("openai", "claude-sonnet-4-5", 4096, text)
    error = {
        "error": {"type": "internal_server_error", "code": "500", "message": "litellm.InternalServerError"}
    }
    first = openai_reply(_completion(text, b.model), stream=True, pieces=4, break_after=3, error_chunk=error)
    result = run(_body("openai", b.model, True), _scripted(b, first), dialect="openai", policy=POLICY)
    assert len(result.requests) == 2
    assert stream_text(caller_events(result.body)) == text


# --------------------------------------------------------------------------- 200 with an error body


@PROPS
@given(
    st.sampled_from(("anthropic", "openai")),
    st.one_of(
        st.sampled_from(ANTHROPIC_PASSING + ANTHROPIC_FINAL).map(lambda t: {"type": t}),
        openai_final,
        openai_passing,
    ),
    texts(min_size=1),
)
def test_a_200_carrying_an_error_body_is_that_error(dialect: str, err: dict[str, Any], text: str) -> None:
    kind = err["type"]
    passing = kind not in ANTHROPIC_FINAL
    if dialect == "anthropic":
        doc: dict[str, Any] = {
            "type": "error",
            "error": {"type": kind, "message": "x"},
            "request_id": "req_1",
        }
        ok = anthropic_reply(_message(text), stream=False)
    else:
        doc = {"error": {"message": "x", "param": None, **err}}
        ok = openai_reply(_completion(text), stream=False)
    bad = Reply.json(doc, 200)
    model = "claude-sonnet-4-5" if dialect == "anthropic" else "gpt-4o"
    result = run(_body(dialect, model, False), [bad, ok], dialect=dialect, policy=POLICY)  # type: ignore[arg-type]
    if passing:
        assert len(result.requests) == 2, f"a passing error in a 200 ({kind}) was not retried"
        assert result.status == 200 and result.body == reply_bytes(ok)
    else:
        assert len(result.requests) == 1, f"{kind} is not passing, yet it was retried"
        assert result.status != 200, "an error body is an error, whatever the status line said"
        assert orjson.loads(result.body) == doc


# --------------------------------------------------------------------------- drops and giving up


@PROPS
@given(texts(min_size=1), st.booleans(), st.booleans(), st.integers(1, 3))
def test_openai_stream_complete_once_the_finish_chunk_arrived(
    text: str, usage: bool, relay: bool, pieces: int
) -> None:
    model = "claude-sonnet-4-5" if relay else "gpt-4o"
    completion = _completion(text, model)
    n = len(openai_chunks(completion, include_usage=usage, pieces=pieces))
    finish_at = n - 1 if usage else n  # the lines up to and including the finish chunk
    for at in [finish_at, n] if usage else [finish_at]:
        reply = openai_reply(completion, stream=True, include_usage=usage, pieces=pieces, break_after=at)
        body = _body("openai", model, True)
        if not usage:
            body.pop("stream_options")
        result = run(body, [reply], dialect="openai", policy=POLICY)
        assert len(result.requests) == 1, f"dropped after line {at} of {n}: the finish chunk had arrived"
        assert result.summary["state"] == "complete"
        events = caller_events(result.body)
        assert stream_text(events) == text and error_events(events) == []


@PROPS
@given(st.sampled_from(("anthropic", "openai")), texts(min_size=2), st.integers(3, 6), st.integers(1, 4))
def test_giving_up_on_a_stream_hands_over_everything_received_first(
    dialect: str, text: str, at: int, pieces: int
) -> None:
    if dialect == "anthropic":
        first = anthropic_reply(_message(text), stream=True, pieces=pieces, break_after=at)
    else:
        first = openai_reply(_completion(text), stream=True, pieces=pieces, break_after=at)
    arrived = stream_text(sse_events(reply_bytes(first)))
    policy = Policy(retry=RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.01))

    def upstream(body: dict[str, Any], n: int) -> Reply:
        return first if n == 0 else Reply(fail="connect")

    model = "claude-sonnet-4-5" if dialect == "anthropic" else "gpt-4o"
    result = run(_body(dialect, model, True), upstream, dialect=dialect, policy=policy)  # type: ignore[arg-type]
    events = caller_events(result.body)
    if first.fail is None:  # the break fell after the end: nothing to give up on
        return
    if _finish_arrived(first):
        # Invariant 7: a stream whose end arrived (finish chunk, message_delta with its stop
        # reason) is complete, whatever follows it.
        assert stream_text(events) == arrived and not error_events(events)
        return
    assert stream_text(events) == arrived, "text that arrived was not handed over before giving up"
    errors = error_events(events)
    assert errors and events[-1][1] == errors[-1], "a stream given up on ends with an error event"


def _finish_arrived(reply: Reply) -> bool:
    """The stream's own end (Anthropic message_delta with a stop reason, an OpenAI finish chunk)
    came before it broke off or erred."""
    for _, obj in sse_events(reply_bytes(reply)):
        if not isinstance(obj, dict):
            continue
        if obj.get("type") == "error" or "error" in obj:
            return False
        delta = obj.get("delta")
        if obj.get("type") == "message_delta" and isinstance(delta, dict) and delta.get("stop_reason"):
            return True
        if any(isinstance(c, dict) and c.get("finish_reason") is not None for c in obj.get("choices") or ()):
            return True
    return False
