"""Properties of the Responses dialect over generated streams and bodies:

- rechunking a stream at any byte boundaries, with any line ends, gives the same outcome;
- a stream cut at any event boundary before its terminal event is never complete, and keeps
  every text, refusal, summary and argument delta that arrived;
- an uncut stream gives back exactly what it was built from, with the state its terminal says;
- the body parser and the stream fold agree on the same response;
- bad input (wrong types, missing fields) raises only stopwise's typed errors from a body, and
  never raises from a stream (it is counted, and rules out ``complete``).
"""

from __future__ import annotations

import json
from typing import Any

from _responses_streams import GeneratedResponse, responses_streams
from _streams import JSON_VALUES, events_of, fold, split_at, sse, with_line_ends
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.dialects import ResponsesAccumulator
from stopwise.dialects.responses import parse_response
from stopwise.errors import StopwiseError
from stopwise.outcome import State

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CUTS = st.lists(st.integers(0, 1 << 20), max_size=40)
EOLS = st.sampled_from([b"\n", b"\r\n", b"\r"])
STATE_OF_TERMINAL = {
    "completed": State.COMPLETE,
    "max_output_tokens": State.TRUNCATED,
    "content_filter": State.COMPLETE,
    "failed": State.FAILED,
}


def _of_type(outcome_content: list[dict[str, Any]], kind: str, key: str) -> list[str]:
    return [b[key] for b in outcome_content if b["type"] == kind]


@SETTINGS
@given(gen=responses_streams(), cuts=CUTS, eol=EOLS)
def test_rechunking_gives_the_same_outcome(gen: GeneratedResponse, cuts: list[int], eol: bytes) -> None:
    base_events = events_of([gen.raw])
    base = fold(gen.raw, "responses").to_dict()
    raw = with_line_ends(gen.raw, eol)
    for chunks in (split_at(raw, cuts), [raw[i : i + 1] for i in range(len(raw))]):
        assert events_of(chunks) == base_events
        assert fold(chunks, "responses").to_dict() == base


@settings(max_examples=100, deadline=None)
@given(gen=responses_streams(allow_cut=False))
def test_every_event_boundary_cut_is_not_complete_and_keeps_what_arrived(gen: GeneratedResponse) -> None:
    events = events_of([gen.raw])
    acc = ResponsesAccumulator()
    streamed: dict[str, list[str]] = {"text": [], "refusal": [], "thinking": [], "arguments": []}
    kinds = {
        "response.output_text.delta": "text",
        "response.refusal.delta": "refusal",
        "response.reasoning_summary_text.delta": "thinking",
        "response.function_call_arguments.delta": "arguments",
    }
    for ev in events[:-1]:  # every prefix that stops before the terminal event
        acc.feed(ev)
        obj = json.loads(ev.data)
        if obj["type"] in kinds:
            streamed[kinds[obj["type"]]].append(obj["delta"])
        outcome = acc.finish()
        assert outcome.state is not State.COMPLETE
        assert outcome.state is State.INTERRUPTED
        assert outcome.stop.raw is None
        # Every delta that arrived is in the outcome, in order (done events only confirm it).
        got = {
            "text": "".join(_of_type(outcome.content, "text", "text")),
            "refusal": "".join(_of_type(outcome.content, "refusal", "refusal")),
            "thinking": "".join(_of_type(outcome.content, "thinking", "thinking")),
            "arguments": "".join(_of_type(outcome.content, "tool_call", "arguments")),
        }
        for kind, pieces in streamed.items():
            assert got[kind] == "".join(pieces)


@settings(max_examples=100, deadline=None)
@given(gen=responses_streams(allow_cut=False), eol=EOLS)
def test_an_uncut_stream_is_read_back_exactly(gen: GeneratedResponse, eol: bytes) -> None:
    outcome = fold(with_line_ends(gen.raw, eol), "responses")
    assert _of_type(outcome.content, "text", "text") == gen.texts
    assert outcome.text == "".join(gen.texts)
    assert _of_type(outcome.content, "refusal", "refusal") == gen.refusals
    assert _of_type(outcome.content, "thinking", "thinking") == gen.summaries
    assert [b["input"] for b in outcome.content if b["type"] == "tool_call"] == gen.arguments
    assert outcome.state is STATE_OF_TERMINAL[gen.terminal]
    assert outcome.anomalies == {}
    assert outcome.usage.estimated == set()


@settings(max_examples=100, deadline=None)
@given(gen=responses_streams(allow_cut=False))
def test_body_parse_and_stream_fold_agree(gen: GeneratedResponse) -> None:
    streamed = fold(gen.raw, "responses")
    body = parse_response(gen.final)
    a, b = streamed.to_dict(), body.to_dict()
    # The error's HTTP status is the one difference: 200 inside a stream, unknown (0) for a body.
    a_err, b_err = a.pop("error", None), b.pop("error", None)
    assert a == b
    assert (a_err is None) == (b_err is None)
    if a_err is not None and b_err is not None:
        assert type(streamed.error) is type(body.error)
        assert {**a_err, "status": 0} == b_err
    assert streamed.message == body.message


# --- bad input ---------------------------------------------------------------------------------

_FIELDS = (
    "output",
    "status",
    "incomplete_details",
    "usage",
    "error",
    "content",
    "summary",
    "text",
    "arguments",
    "type",
)


@st.composite
def damaged_bodies(draw: st.DrawFn) -> object:
    """A generated body with one field somewhere replaced by a value of any JSON type."""
    gen = draw(responses_streams(allow_cut=False))
    body: Any = json.loads(json.dumps(gen.final))
    targets: list[dict[str, Any]] = [body, *body["output"]]
    for item in body["output"]:
        targets += [p for p in item.get("content") or () if isinstance(p, dict)]
    target = draw(st.sampled_from(targets))
    key = draw(st.sampled_from(_FIELDS))
    if draw(st.booleans()):
        target.pop(key, None)
    else:
        target[key] = draw(JSON_VALUES)
    return body


@settings(max_examples=200, deadline=None)
@given(body=damaged_bodies() | JSON_VALUES)
def test_bad_bodies_raise_only_typed_errors(body: object) -> None:
    try:
        outcome = parse_response(body)
    except StopwiseError:
        return
    assert outcome.dialect == "responses"


@st.composite
def damaged_streams(draw: st.DrawFn) -> tuple[GeneratedResponse, bytes]:
    gen = draw(responses_streams(allow_cut=False))
    events: list[Any] = json.loads(json.dumps(gen.events))
    index = draw(st.integers(0, len(events) - 2))  # never the terminal event itself
    event = events[index]
    key = draw(st.sampled_from(sorted(k for k in event if k != "sequence_number")))
    if key == "type" or draw(st.booleans()):
        event.pop(key)
    else:
        event[key] = draw(JSON_VALUES)
    # No `event:` lines: a payload whose `type` went missing has nothing else to go by.
    return gen, sse(events, event_lines=False)


@settings(max_examples=200, deadline=None)
@given(case=damaged_streams())
def test_a_damaged_event_before_the_terminal_one_never_raises_nor_changes_the_answer(
    case: tuple[GeneratedResponse, bytes],
) -> None:
    gen, raw = case
    outcome = fold(raw, "responses")
    # The terminal response carries the whole output, so it decides; the damage is counted.
    assert outcome.state is STATE_OF_TERMINAL[gen.terminal]
    assert _of_type(outcome.content, "text", "text") == gen.texts
    assert [b["input"] for b in outcome.content if b["type"] == "tool_call"] == gen.arguments
