"""Property: however a stream is cut into chunks, and whatever its line ends, the decoder yields
the same events and the accumulators the same final outcome (brief: "any re-chunking of a stream
(single bytes, random splits, CRLF everywhere) gives identical events and the identical final
message")."""

from __future__ import annotations

import json

from _streams import Generated, anthropic_streams, events_of, fold, openai_streams, split_at, with_line_ends
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.outcome import State

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CUTS = st.lists(st.integers(0, 1 << 20), max_size=40)
EOLS = st.sampled_from([b"\n", b"\r\n", b"\r"])


def _check_rechunking(gen: Generated, dialect: str, cuts: list[int], eol: bytes) -> None:
    base_events = events_of([gen.raw])
    base = fold(gen.raw, dialect).to_dict()
    raw = with_line_ends(gen.raw, eol)
    byte_by_byte = [raw[i : i + 1] for i in range(len(raw))]
    for chunks in (split_at(raw, cuts), byte_by_byte):
        assert events_of(chunks) == base_events
        assert fold(chunks, dialect).to_dict() == base


@SETTINGS
@given(gen=anthropic_streams(), cuts=CUTS, eol=EOLS)
def test_anthropic_rechunking(gen: Generated, cuts: list[int], eol: bytes) -> None:
    _check_rechunking(gen, "anthropic", cuts, eol)


@SETTINGS
@given(gen=openai_streams(), cuts=CUTS, eol=EOLS)
def test_openai_rechunking(gen: Generated, cuts: list[int], eol: bytes) -> None:
    _check_rechunking(gen, "openai", cuts, eol)


# The same generated streams, read for what they were built from: an uncut stream gives back
# every text and tool input exactly, and its verdict follows its stop reason.


@settings(max_examples=80, deadline=None)
@given(gen=anthropic_streams(allow_cut=False), eol=EOLS)
def test_anthropic_generated_stream_is_read_back_exactly(gen: Generated, eol: bytes) -> None:
    outcome = fold(with_line_ends(gen.raw, eol), "anthropic")
    assert [b["text"] for b in outcome.content if b["type"] == "text"] == gen.texts
    assert outcome.text == "".join(gen.texts)
    tools = [b for b in outcome.content if b["type"] == "tool_use"]
    assert [b["input"] for b in tools] == gen.tool_inputs
    assert [
        json.loads(outcome.tool_json[str(i)])
        for i, b in enumerate(outcome.content)
        if b["type"] == "tool_use"
    ] == gen.tool_inputs
    assert outcome.stop.raw == gen.reason
    expected = {
        "max_tokens": State.TRUNCATED,
        "model_context_window_exceeded": State.TRUNCATED,
        "pause_turn": State.PAUSED,
    }.get(gen.reason or "", State.COMPLETE)
    assert outcome.state is expected
    assert outcome.anomalies == {}


@settings(max_examples=80, deadline=None)
@given(gen=openai_streams(allow_cut=False), eol=EOLS)
def test_openai_generated_stream_is_read_back_exactly(gen: Generated, eol: bytes) -> None:
    outcome = fold(with_line_ends(gen.raw, eol), "openai")
    assert [c.text for c in outcome.choices] == gen.texts
    inputs = [b["input"] for c in outcome.choices for b in c.content if b["type"] == "tool_call"]
    assert inputs == gen.tool_inputs
    assert outcome.stop.raw == gen.reason
    assert outcome.anomalies == {}


@settings(max_examples=80, deadline=None)
@given(gen=anthropic_streams(), eol=EOLS)
def test_a_cut_anthropic_stream_is_never_complete(gen: Generated, eol: bytes) -> None:
    outcome = fold(with_line_ends(gen.raw, eol), "anthropic")
    if not gen.complete_events and not any(e["type"] == "message_delta" for e in gen.events):
        assert outcome.state is State.INTERRUPTED
        assert outcome.usage.estimated == {"output_tokens"}
    # Whatever arrived is kept: every text fragment that made it is a prefix of its text.
    for got, full in zip(
        [b["text"] for b in outcome.content if b["type"] == "text"], gen.texts, strict=False
    ):
        assert full.startswith(got)


@settings(max_examples=80, deadline=None)
@given(gen=openai_streams(), eol=EOLS)
def test_a_cut_openai_stream_keeps_its_text(gen: Generated, eol: bytes) -> None:
    outcome = fold(with_line_ends(gen.raw, eol), "openai")
    by_index = {c.message["index"]: c for c in outcome.choices}
    for index, choice in by_index.items():
        assert gen.texts[index].startswith(choice.text)
        if choice.stop.raw is None:
            assert choice.state is State.INTERRUPTED
            assert outcome.state is not State.COMPLETE
