"""The outcome model: normalized stop reasons with the raw value kept, completeness states,
the max_tokens cap, and usage that says what was reported and what was estimated."""

from __future__ import annotations

import pytest

from stopwise.outcome import (
    Outcome,
    State,
    Stop,
    StopReason,
    Usage,
    apply_cap,
    estimate_tokens,
    normalize_stop_reason,
    state_for,
    worst,
)

ANTHROPIC_REASONS = [
    ("end_turn", StopReason.END, State.COMPLETE),
    ("stop_sequence", StopReason.STOP_SEQUENCE, State.COMPLETE),
    ("tool_use", StopReason.TOOL_USE, State.COMPLETE),
    ("refusal", StopReason.REFUSAL, State.COMPLETE),
    ("max_tokens", StopReason.MAX_TOKENS, State.TRUNCATED),
    ("model_context_window_exceeded", StopReason.CONTEXT_WINDOW, State.TRUNCATED),
    ("pause_turn", StopReason.PAUSE, State.PAUSED),
    ("compaction", StopReason.COMPACTION, State.PAUSED),
]

OPENAI_REASONS = [
    ("stop", StopReason.END, State.COMPLETE),
    ("length", StopReason.MAX_TOKENS, State.TRUNCATED),
    ("tool_calls", StopReason.TOOL_USE, State.COMPLETE),
    ("content_filter", StopReason.CONTENT_FILTER, State.COMPLETE),
    ("function_call", StopReason.TOOL_USE, State.COMPLETE),
]


@pytest.mark.parametrize(("raw", "reason", "state"), ANTHROPIC_REASONS + OPENAI_REASONS)
def test_every_documented_reason(raw: str, reason: StopReason, state: State) -> None:
    assert normalize_stop_reason(raw) is reason
    assert state_for(reason) is state
    stop = Stop.of(raw)
    assert stop.raw == raw  # the raw value always travels beside the normalized one
    assert stop.to_dict() == {"raw": raw, "normalized": reason.value}


@pytest.mark.parametrize(
    ("raw", "state"),
    [
        # Values relays pass through raw on the OpenAI wire (brief/wire.md): the same table reads them.
        ("max_tokens", State.TRUNCATED),
        ("tool_use", State.COMPLETE),
        ("pause_turn", State.PAUSED),
        ("end_turn", State.COMPLETE),
        ("model_context_window_exceeded", State.TRUNCATED),
    ],
)
def test_raw_claude_values_on_the_openai_wire(raw: str, state: State) -> None:
    assert state_for(normalize_stop_reason(raw)) is state


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, StopReason.MISSING),
        ("", StopReason.MISSING),
        ("eos", StopReason.UNKNOWN),
        ("STOP", StopReason.UNKNOWN),  # case matters: an unknown spelling is not a normal stop
        (" stop", StopReason.UNKNOWN),
        ("steered", StopReason.UNKNOWN),
        (0, StopReason.UNKNOWN),
        (1, StopReason.UNKNOWN),
        (True, StopReason.UNKNOWN),
        (["stop"], StopReason.UNKNOWN),
        ({"type": "end_turn"}, StopReason.UNKNOWN),
    ],
)
def test_unknown_empty_missing_and_non_string_reasons_are_never_complete(
    raw: object, reason: StopReason
) -> None:
    assert normalize_stop_reason(raw) is reason
    assert state_for(reason) is State.INTERRUPTED
    assert Stop.of(raw).normalized is reason


def test_stop_keeps_a_non_string_raw_value_as_text() -> None:
    assert Stop.of(None).raw is None
    assert Stop.of(7).raw == "7"


def test_every_reason_has_a_state() -> None:
    for reason in StopReason:
        assert isinstance(state_for(reason), State)


def test_worst_state_wins() -> None:
    assert worst([State.COMPLETE, State.PAUSED]) is State.PAUSED
    assert worst([State.COMPLETE, State.TRUNCATED, State.PAUSED]) is State.TRUNCATED
    assert worst([State.TRUNCATED, State.INTERRUPTED]) is State.INTERRUPTED
    assert worst([State.INTERRUPTED, State.FAILED, State.COMPLETE]) is State.FAILED
    assert worst([State.COMPLETE, State.COMPLETE]) is State.COMPLETE
    assert worst([]) is State.INTERRUPTED  # nothing at all is not a complete answer


# --- the max_tokens cap --------------------------------------------------------------------


def _outcome(raw_reason: str | None, output_tokens: int) -> Outcome:
    stop = Stop.of(raw_reason)
    usage = Usage()
    usage.set_reported("output_tokens", output_tokens)
    return Outcome(dialect="anthropic", state=state_for(stop.normalized), stop=stop, usage=usage, message={})


@pytest.mark.parametrize("raw", ["end_turn", "stop"])
def test_output_at_max_tokens_with_a_normal_stop_is_truncated(raw: str) -> None:
    at = _outcome(raw, 8192)
    apply_cap(at, 8192)
    assert at.state is State.TRUNCATED
    assert any("8192" in why for why in at.reasons)
    above = _outcome(raw, 9000)
    apply_cap(above, 8192)
    assert above.state is State.TRUNCATED
    assert at.stop.raw == raw  # the reason itself is not rewritten


@pytest.mark.parametrize("raw", ["tool_use", "tool_calls", "stop_sequence", "refusal", "content_filter"])
def test_a_terminal_reason_at_max_tokens_is_what_it_says(raw: str) -> None:
    # brief/wire.md: the cap never overrides a terminal reason.
    at = _outcome(raw, 8192)
    apply_cap(at, 8192)
    assert at.state is State.COMPLETE and not at.reasons


def test_output_below_max_tokens_stays_complete() -> None:
    o = _outcome("end_turn", 8191)
    apply_cap(o, 8192)
    assert o.state is State.COMPLETE
    assert o.reasons == []


@pytest.mark.parametrize("max_tokens", [None, 0, -1])
def test_no_cap_without_a_positive_max_tokens(max_tokens: int | None) -> None:
    o = _outcome("end_turn", 0)
    apply_cap(o, max_tokens)
    assert o.state is State.COMPLETE


def test_cap_never_improves_a_worse_state() -> None:
    o = _outcome(None, 100)
    apply_cap(o, 50)
    assert o.state is State.INTERRUPTED


# --- usage ---------------------------------------------------------------------------------


def test_usage_reported_only_for_integers() -> None:
    u = Usage()
    u.set_reported("input_tokens", 10)
    u.set_reported("output_tokens", None)  # null means "not sent": stays unknown
    u.set_reported("cache_read_input_tokens", True)  # a bool is not a count
    u.set_reported("cache_creation_input_tokens", "5")
    assert u.input_tokens == 10
    assert u.output_tokens == 0
    assert u.cache_read_input_tokens == 0
    assert u.cache_creation_input_tokens == 0
    assert u.reported == {"input_tokens"}
    assert u.estimated == set()


def test_estimate_never_overrides_a_reported_count_but_a_report_overrides_an_estimate() -> None:
    u = Usage()
    u.set_reported("output_tokens", 42)
    u.set_estimated("output_tokens", 7)
    assert (u.output_tokens, u.reported, u.estimated) == (42, {"output_tokens"}, set())
    v = Usage()
    v.set_estimated("output_tokens", 7)
    assert (v.output_tokens, v.estimated) == (7, {"output_tokens"})
    v.set_reported("output_tokens", 9)
    assert (v.output_tokens, v.reported, v.estimated) == (9, {"output_tokens"}, set())


def test_estimate_tokens_is_about_four_characters_a_token() -> None:
    assert estimate_tokens(0) == 0
    assert estimate_tokens(1) == 1
    assert estimate_tokens(4) == 1
    assert estimate_tokens(5) == 2
    assert estimate_tokens(400) == 100


def test_usage_addition_sums_counts_and_an_estimated_term_makes_an_estimate() -> None:
    a = Usage()
    a.set_reported("input_tokens", 100)
    a.set_reported("output_tokens", 50)
    a.set_reported("cache_read_input_tokens", 30)
    b = Usage()
    b.set_reported("input_tokens", 10)
    b.set_estimated("output_tokens", 5)
    b.set_reported("reasoning_tokens", 3)
    s = a + b
    assert (s.input_tokens, s.output_tokens, s.cache_read_input_tokens, s.reasoning_tokens) == (
        110,
        55,
        30,
        3,
    )
    assert s.estimated == {"output_tokens"}
    assert "output_tokens" not in s.reported
    assert {"input_tokens", "cache_read_input_tokens", "reasoning_tokens"} <= s.reported
    assert s.total_tokens == 110 + 55 + 30
    # The terms are left alone.
    assert a.output_tokens == 50
    assert a.reported == {"input_tokens", "output_tokens", "cache_read_input_tokens"}


def test_usage_to_dict_names_reported_and_estimated() -> None:
    u = Usage()
    u.set_reported("input_tokens", 12)
    u.set_estimated("output_tokens", 4)
    d = u.to_dict()
    assert d["input_tokens"] == 12
    assert d["output_tokens"] == 4
    assert d["reported"] == ["input_tokens"]
    assert d["estimated"] == ["output_tokens"]
    assert "reasoning_tokens" not in d
    u.set_reported("reasoning_tokens", 0)
    assert u.to_dict()["reasoning_tokens"] == 0


def test_outcome_to_dict_shape() -> None:
    o = _outcome("end_turn", 3)
    o.message = {"id": "msg_1", "model": "claude-x"}
    d = o.to_dict()
    assert d["state"] == "complete"
    assert d["stop_reason"] == {"raw": "end_turn", "normalized": "end"}
    assert (d["id"], d["model"]) == ("msg_1", "claude-x")
    assert "choices" not in d  # only OpenAI outcomes carry choices
    assert "error" not in d
    assert o.complete
