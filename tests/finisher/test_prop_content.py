"""Issue 10, invariant 3: nothing lost, duplicated or invented.

Property tests over generated upstream behaviours (stopwise.testing.model: a scripted upstream
that continues one ground truth whatever it is asked), both dialects, stream and not, driven
through stopwise.testing.run (no sockets). The caller's answer is read as the official SDKs
read it (their own stream accumulators)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import Policy, RetryPolicy
from stopwise.finisher.dialect import NO_PROGRESS
from stopwise.finisher.join import UNCERTAIN
from stopwise.sse import SSEDecoder
from stopwise.testing import Run, run
from stopwise.testing.model import (
    PREAMBLES,
    Behaviour,
    Fault,
    Model,
    Step,
    Truth,
    answer_of,
    only_repeats_removed,
)
from stopwise.testing.strategies import json_values, texts

FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01)
POLICY = Policy(max_rounds=400, retry=FAST)
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)
USER = [{"role": "user", "content": "Write it all, please."}]

PREFILL_MODEL = "claude-sonnet-4-5"
CONTINUE = (("anthropic", "claude-opus-4-6"), ("openai", "gpt-4o"))

REGION = (
    "Revenue grew in every quarter, and the table below gives the totals.\n\n"
    "Here is the breakdown by region:\n\n"
    "| Region | Q1 | Q2 |\n|---|---|---|\n| North | 120 | 135 |\n| South | 98 | 110 |\n\n"
    "Sure enough, the north led. Certainly not, she thought.\n"
)


def body(model: str, max_tokens: int, stream: bool, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "stream": stream, "messages": list(USER), **extra}


def faults(stream: bool) -> st.SearchStrategy[Fault]:
    kinds = ["status", "break", "error"] + (["restart"] if stream else [])
    return st.builds(
        Fault,
        kind=st.sampled_from(kinds),
        after=st.integers(0, 8),
        status=st.sampled_from([529, 500, 503, 429]),
        retry_after=st.sampled_from([None, 0.0]),
    )


@st.composite
def steps(draw: st.DrawFn, stream: bool, misbehaviours: list[str] | None = None) -> tuple[Step, ...]:
    """Up to 10 requests' behaviour: a cut or not, a fault now and then (never more than two in
    a row, so the default retry count always suffices), a continue-turn misbehaviour."""
    out: list[Step] = []
    run_of_faults = 0
    for _ in range(draw(st.integers(0, 10))):
        fault = draw(st.none() | faults(stream)) if run_of_faults < 2 else None
        run_of_faults = run_of_faults + 1 if fault is not None else 0
        out.append(
            Step(
                cut=draw(st.none() | st.integers(1, 12)),
                fault=fault,
                misbehave=draw(st.sampled_from(misbehaviours or ["faithful"])),  # type: ignore[arg-type]
                words=draw(st.integers(4, 8)),
                preamble=draw(st.integers(0, len(PREAMBLES) - 1)),
            )
        )
    return tuple(out)


def check_clean(m: Model, result: Run, dialect: str) -> Any:
    """The answer the caller got; first, that every request agreed with the truth (no invented
    or lost text in what the finisher sent back upstream)."""
    for a in m.asked:
        assert a.mismatch is None, f"request {a.n} ({a.mode}): {a.mismatch}"
        assert a.rejected is None, f"request {a.n} ({a.mode}) rejected: {a.rejected}"
    answer = answer_of(result, dialect)  # type: ignore[arg-type]
    assert answer.sdk_error is None, answer.sdk_error
    assert answer.error is None, answer.error
    return answer


# -- prefill: byte for byte, whatever the cuts and faults -------------------------------------------
@SETTINGS
@given(st.data())
def test_prefill_final_text_is_the_truth(data: st.DataObject) -> None:
    stream = data.draw(st.booleans(), label="stream")
    text = data.draw(texts(min_size=1), label="text")
    cap = data.draw(st.integers(2, 40), label="max_tokens")
    behaviour = Behaviour(data.draw(steps(stream), label="steps"))
    m = Model(Truth.of(text), behaviour)
    result = run(body(PREFILL_MODEL, cap, stream), m, policy=POLICY)
    answer = check_clean(m, result, "anthropic")
    assert answer.text == text
    assert result.summary["state"] == "complete"


# -- continue turn: faithful and misbehaving replies ------------------------------------------------
MISBEHAVIOURS = ["faithful", "strip", "word", "repeat", "restart", "preamble", "fence"]


@SETTINGS
@given(st.data())
def test_continue_turn_final_text_is_the_truth(data: st.DataObject) -> None:
    dialect, model = data.draw(st.sampled_from(CONTINUE), label="dialect")
    stream = data.draw(st.booleans(), label="stream")
    text = data.draw(texts(min_size=1), label="text")
    cap = data.draw(st.integers(4, 40), label="max_tokens")
    behaviour = Behaviour(data.draw(steps(stream, MISBEHAVIOURS), label="steps"))
    continue_turn_case(dialect, model, stream, text, cap, behaviour)


def continue_turn_case(
    dialect: str, model: str, stream: bool, text: str, cap: int, behaviour: Behaviour
) -> None:
    m = Model(Truth.of(text), behaviour, dialect=dialect)  # type: ignore[arg-type]
    result = run(body(model, cap, stream), m, dialect=dialect, policy=POLICY)  # type: ignore[arg-type]
    answer = check_clean(m, result, dialect)
    rounds_account_for_the_report(result)
    uncertain = result.summary["notes"].count(UNCERTAIN)
    if gave_up_honestly(m, result):
        assert faithful_prefix(answer.text, text, kept=uncertain), (answer.text, text)
        return
    assert only_repeats_removed(answer.text, text, kept=uncertain), (answer.text, text)
    assert result.summary["state"] == "complete"


def rounds_account_for_the_report(result: Run) -> None:
    """What telemetry reads per round adds up to the report: each note given to the round that
    added it, in order (but for what an attempt after the last round noted), retries and tokens
    summed, times nested in the request's."""
    assert result.finisher is not None
    report = result.finisher.report()
    noted = [n for r in report.rounds for n in r.notes]
    assert noted == list(report.notes[: len(noted)])
    assert sum(r.retries for r in report.rounds) <= report.retries
    assert sum(r.output_tokens for r in report.rounds) == report.usage.output_tokens
    assert report.started is not None and report.ended is not None
    for r in report.rounds:
        assert r.started is not None and r.ended is not None
        assert report.started <= r.started <= r.ended <= report.ended


def gave_up_honestly(m: Model, result: Run) -> bool:
    """The finisher stopped for lack of progress, and rightly: the upstream cut its last answer
    short of the budget it was given (a scripted cut: with the budget at the model's ceiling it
    cannot grow), and the answer says truncated."""
    last = m.asked[-1]
    cut_short = last.stop == "max_tokens" and last.output_tokens < max_tokens_of(last.body)
    return result.summary["state"] == "truncated" and NO_PROGRESS in result.summary["notes"] and cut_short


def max_tokens_of(request: dict[str, Any]) -> int:
    value = request.get("max_completion_tokens", request.get("max_tokens"))
    return value if isinstance(value, int) else 0


def faithful_prefix(got: str, truth: str, *, kept: int = 0) -> bool:
    """``got`` is the start of ``truth`` less provable repeats (invariant 3 for an answer
    returned truncated)."""
    if not got:
        return True
    tail = got[-8:]
    ends = [k for k in range(len(tail), len(truth) + 1) if truth[:k].endswith(tail)]
    return any(only_repeats_removed(got, truth[:k], kept=kept) for k in ends)


# Counterexamples random runs of the property above found (CI runs it derandomized, so they are
# kept here), in both dialects and modes.
COUNTEREXAMPLES = [
    # Second rounds cut a few tokens into a reply that repeats the kept text's last words, before
    # it reached their end. A table of identical rows: the reply ``the | the`` (cut) starts with
    # the dropped word, as a faithful one would, but the repeat it was growing into is long and
    # not periodic. Joined as content it made the next round go on after ``|the |``.
    (
        "the\n\n| the | the | the | the |\n|---|---|---|---|\n\nthe the",
        16,
        (Step(), Step(cut=3, misbehave="repeat", words=5)),
    ),
    # Prose: ``quarter and the nort`` was joined after the shown ``the`` with its space lost
    # (``thequarter``).
    (
        "Revenue grew in every quarter and the north region led the totals by a wide margin this "
        "year because of demand.",
        16,
        (Step(), Step(cut=5, misbehave="repeat", words=6)),
    ),
    (
        "def x(x):\n    x = x + 0\n    return x\n\n\nthe the the",
        13,
        (Step(), Step(cut=3, misbehave="repeat", words=4)),
    ),
    # Faithful all through: the second round's reply writes the whole kept text again, which the
    # seam removed (8 characters, 2 words, followed by the dropped word); the check then judged
    # the removed copy at the first of the two equal spans, which nothing precedes. Now a whole
    # answer written again must be longer to be taken for a restart, and this one is kept.
    ("0 001000 0 001000 00", 4, ()),
    # Faithful too: the second round's reply writes the whole kept ``| answer`` again (the
    # table's next cell), which nothing before it could show was not the document's own: it was
    # removed, and the next round went on from a text the document never had.
    ("| answer | answer | the |\n|---|---|---|\n| the | the | the |", 4, ()),
    # A CJK run: the reply writes the kept text's last "word" ``䴺垙0`` again, then the dropped
    # ``䴺垙``: too short to prove a repeat (the run may repeat itself), so kept, which the
    # report did not call uncertain.
    ("0\n\n䴺垙0䴺垙0", 4, (Step(), Step(misbehave="word"))),
    # Cut right after a repeat of the kept text's end (``x = x + 1\n    return``), before the
    # dropped `` x`` could follow it (a repeat) or not (content): joined as content, it made
    # the next round go on after ``return x = x + 1``.
    (
        "0 0 0\r00000\r0 00000 0\n\ndef total(x):\n    total = x + 0\n    x = x + 1\n    return x\n",
        27,
        (Step(), Step(fault=Fault("status", status=529)), Step(cut=7, misbehave="repeat", words=6)),
    ),
    # Faithful: the header row's cell written again by the document (``| answer | answer``),
    # cut after the first: the reply's `` | answer`` read as a repeat of the kept text's last
    # cell, 8 characters and 2 words, and was deleted. Cells after a row's first repeat each
    # other too often to tell by length: only the table's column count decides (none here yet).
    (
        "| the | answer | answer | the |\n|---|---|---|---|\n\n| the | the | the | the |\n|---|---|---|---|",
        6,
        (),
    ),
    # A stream broke after an answer of whitespace alone: a continue turn had nothing to send
    # (the kept text is empty) and the finisher gave up; it is asked again from scratch now.
    ("\r", 4, (Step(fault=Fault("break", after=3)),)),
    # The kept text ended on the closing fence (``…return x\n```\``, the ``0`` after it dropped):
    # the test model counted that line as cut, thought itself inside the fence and reopened it,
    # which the seam rightly kept as content. The model now reads three backticks alone as the
    # close they are (a closing fence has no tag).
    (
        "the\n\n```python\ndef x(x):\n    x = x + 0\n    return x\n```\n\n0",
        17,
        (
            Step(fault=Fault("status", status=529)),
            Step(fault=Fault("break", after=3)),
            Step(misbehave="fence"),
        ),
    ),
    # Every round cut after one token, the budget grown to the model's ceiling: two rounds that
    # only wrote again the shown tail end it, honestly truncated (NO_PROGRESS).
    (
        "def x(x):\n    x = x + 0\n    x = x + 1\n    return x\n",
        16,
        (
            Step(),
            Step(fault=Fault("status", status=529)),
            Step(cut=1),
            Step(cut=1, fault=Fault("break", after=3)),
            Step(cut=1, fault=Fault("break", after=3)),
            Step(cut=1),
            Step(cut=1),
        ),
    ),
    # Self-similar code: the kept text ends ``x = total + 0\n    x = total`` and the reply
    # restarts six words back (``total + 0\n    x = total``), cut after ``total + 0``. That is
    # also the last word written again and `` + 0`` new, which the seam took: the answer got
    # ``x = total + 0 1``. A cut reply found whole in the kept text's last paragraph, which
    # gone on would be removed as a repeat, is asked again now.
    (
        "```python\ndef x(total):\n    x = total + 0\n    x = total + 1\n    return x\n```",
        4,
        (
            Step(),
            Step(cut=1),
            Step(cut=1),
            Step(cut=1),
            Step(cut=5),
            Step(cut=6),
            Step(cut=9, misbehave="fence"),
            Step(cut=5, misbehave="repeat", words=6),
        ),
    ),
    # Faithful: the document ends on a phrase of the closed preamble list (``以下是續寫內容``),
    # and the second round's whole reply was that phrase: removed as a preamble, the answer lost
    # its last words. A preamble introduces a next line; a whole reply of the phrase alone is kept.
    ("0⺀0\n\n以下是續寫內容", 4, ()),
    # The back-off gave back ``00`` of ``…\n\n、00`` (a CJK run), and the reply rewrote the word
    # from its start: ``、00\n\n0``. One CJK character was too short to count as a repeat, so the
    # answer got ``、00、00``. It is one when the dropped text follows it at once.
    ("0 00000 0\r00000\n\n、00\n\n0", 8, (Step(), Step(misbehave="word", words=4))),
    # Faithful: a table whose row ``| answer |`` comes twice (after the header of the same
    # text), cut at the end of the first. The reply ``\n| answer |\n| the |`` leads with the
    # seam's line break and writes the row again: 10 characters from a line's start, not
    # periodic one row back (the separator is between), so it was removed as a repeat and the
    # answer lost a row. A reply that starts a new line with the seam's own line break writes
    # a line of its own: one equal to the last is the document's as much as a model's.
    ("| answer |\n|---|\n| answer |\n| answer |\n| the |\n\nthe", 11, (Step(), Step(cut=7))),
    # The same table, streamed, the reply without its leading line break (``| answer |\n| the
    # |``): byte for byte a model restarting the last row. The row is a line the kept text
    # already has (the header), so the document's own copy is as likely: kept, noted uncertain.
    (
        "| answer |\n|---|\n| answer |\n| answer |\n| the |",
        11,
        (Step(), Step(fault=Fault("break", after=3), misbehave="strip")),
    ),
    # Self-similar code, a reply restarting five words back (``+ 1\n    total = total``) cut
    # after ``+ 1\n    tota``: it starts with the dropped ``+``, and the document may as well
    # write the line ``total = total + 1`` twice, so whole it would be kept with the report's
    # uncertainty note (the kept text's lines end alike: not provably a repeat). Cut, it was
    # joined as content with no note, and the next round went on after a line the answer
    # never had. Neither reading can be told from the other: a cut one is asked again now.
    (
        "def x(total):\n    total = total + 0\n    total = total + 1\n    total = total + 2\n"
        "    return total\n",
        24,
        (Step(), Step(fault=Fault("status", status=529)), Step(cut=3, misbehave="repeat", words=5)),
    ),
    (
        "def x(total):\n    x = total + 0\n    total = total + 1\n    result = total + 2\n"
        "    result = total + 3\n    return result\n",
        6,
        (Step(), Step(), Step(fault=Fault("status", status=529)), Step(cut=4, misbehave="repeat", words=5)),
    ),
    # The same code, the restart reaching the kept text's end (``= total + 1\n    total``) and
    # cut before the dropped `` =`` could follow: kept with the uncertainty note, as content,
    # and the next round went on after a line the answer never had. Asked again now.
    (
        "def x(total):\n    x = total + 0\n    total = total + 1\n    total = total + 2\n    return total\n",
        20,
        (Step(), Step(fault=Fault("status", status=529)), Step(cut=7, misbehave="repeat", words=5)),
    ),
    # The same restart cut right after the dropped `` =`` (``= total + 1\n    total =``): the
    # head repair keeps only as an uncertain seam, decided at once and joined. A head like that
    # is now held to the round's end: kept with the note if the reply ends, asked again if cut.
    (
        "def x(total):\n    x = total + 0\n    total = total + 1\n    total = total + 2\n    return total\n",
        20,
        (Step(), Step(fault=Fault("status", status=529)), Step(cut=8, misbehave="repeat", words=5)),
    ),
    # The test model's repeat of six words reached back over a blank line into the paragraph
    # before (``00010 0\r00000\n\n0 00010 0``) and was cut short of the kept text's end: that
    # reads exactly as the last two words written again and the document going on as after
    # their earlier copy, which the seam takes for the document repeating itself. A model
    # repeats the words of the paragraph it was writing; the test model now does too.
    ("0 00010 0\r00000\n\n0 00010 0\r00000", 11, (Step(), Step(cut=6, misbehave="repeat", words=6))),
    ("0 answer |\r|---0\n\n0 answer |\r|---|", 11, (Step(), Step(cut=6, misbehave="repeat", words=6))),
]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("dialect_model", CONTINUE)
@pytest.mark.parametrize("case", COUNTEREXAMPLES)
def test_continue_turn_counterexamples(
    case: tuple[str, int, tuple[Step, ...]], dialect_model: tuple[str, str], stream: bool
) -> None:
    text, cap, script = case
    continue_turn_case(*dialect_model, stream, text, cap, Behaviour(script))


@settings(max_examples=60, deadline=None, report_multiple_bugs=False)
@given(
    st.sampled_from(CONTINUE),
    st.booleans(),
    st.integers(0, 6),
    st.sampled_from(["faithful", "strip"]),
)
def test_a_real_sentence_that_looks_like_a_preamble_is_kept(
    dialect_model: tuple[str, str], stream: bool, shift: int, lead: str
) -> None:
    """The first round ends right around "…totals.\\n\\nHere"; the faithful reply begins "Here is
    the breakdown by region:" (or "Sure enough, …" further on), which is content."""
    dialect, model = dialect_model
    from stopwise.testing.model import tokens

    at = len(tokens(REGION[: REGION.index("Here is the breakdown")])) - 3 + shift
    m = Model(Truth.of(REGION), Behaviour(default=Step(misbehave=lead)), dialect=dialect)  # type: ignore[arg-type]
    result = run(body(model, at, stream), m, dialect=dialect, policy=POLICY)
    answer = check_clean(m, result, dialect)
    assert answer.text == REGION


# -- tool calls: each exactly once, never asked for again once shown ---------------------------------
@st.composite
def tool_truths(draw: st.DrawFn) -> Truth:
    n = draw(st.integers(1, 3))
    calls = [
        (draw(st.sampled_from(["lookup", "fetch", "compute"])), {"arg": draw(json_values()), "n": i})
        for i in range(n)
    ]
    text = draw(st.sampled_from(["", "Let me check that.", "I will call the tools now: first the lookup."]))
    return Truth.of(text, tools=calls)


def released_before(result: Run, m: Model, n: int, dialect: str) -> set[str]:
    """Ids of tool calls the caller's stream had whole before request ``n`` went out.

    Reads are counted conservatively: every chunk of each earlier stream reply but its last
    was certainly read before the next request, so emits made at a lower read count are
    certainly earlier."""
    bound = 0
    for a in m.asked[:n]:
        if a.reply is not None and a.reply.status == 200 and a.body.get("stream"):
            bound += max(0, len(a.reply.chunks) - 1)
    data = b"".join(d for reads, d in result.emits if reads < bound)
    decoder = SSEDecoder()
    events = decoder.decode(data)
    done: set[str] = set()
    if dialect == "anthropic":
        ids: dict[int, str] = {}
        for e in events:
            if e.event == "content_block_start":
                obj = orjson.loads(e.data)
                if obj["content_block"].get("type") == "tool_use":
                    ids[obj["index"]] = obj["content_block"]["id"]
            elif e.event == "content_block_stop":
                idx = orjson.loads(e.data)["index"]
                if idx in ids:
                    done.add(ids[idx])
        return done
    truth = {c["id"]: c["input"] for c in m.truth.tool_calls}
    args: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for e in events:
        if e.data.startswith("[DONE]"):
            continue
        obj = orjson.loads(e.data)
        for choice in obj.get("choices") or []:
            for tc in (choice.get("delta") or {}).get("tool_calls") or []:
                i = tc.get("index", 0)
                if tc.get("id"):
                    names[i] = tc["id"]
                args.setdefault(i, []).append((tc.get("function") or {}).get("arguments") or "")
    for i, parts in args.items():
        try:
            if i in names and orjson.loads("".join(parts)) == truth.get(names[i]):
                done.add(names[i])
        except orjson.JSONDecodeError:
            pass
    return done


@SETTINGS
@given(st.data())
def test_tool_calls_exactly_once_and_never_asked_again(data: st.DataObject) -> None:
    dialect, model = data.draw(st.sampled_from([("anthropic", PREFILL_MODEL), *CONTINUE]), label="dialect")
    stream = data.draw(st.booleans(), label="stream")
    truth = data.draw(tool_truths(), label="truth")
    cap = data.draw(st.integers(3, 40), label="max_tokens")
    m = Model(truth, dialect=dialect)
    result = run(body(model, cap, stream), m, dialect=dialect, policy=POLICY)
    answer = check_clean(m, result, dialect)
    want = [(c["id"], c["name"], c["input"]) for c in truth.tool_calls]
    assert answer.tool_calls == want, f"calls: {[c[0] for c in answer.tool_calls]}"
    assert answer.text == truth.text
    if stream:
        index = {c["id"]: i for i, c in enumerate(m.truth.blocks) if c["type"] == "tool_use"}
        for n in range(1, len(m.asked)):
            for cid in released_before(result, m, n, dialect):
                assert m.asked[n].start[0] > index[cid], (
                    f"request {n} ({m.asked[n].mode}) asks again for {cid}, already shown to the caller"
                )


def test_parallel_calls_second_cut_at_max_tokens() -> None:
    """The example from issue 10: two streamed parallel calls, the second cut at max_tokens."""
    truth = Truth.of("Checking both.", tools=[("lookup", {"q": "alpha"}), ("fetch", {"id": 12345678})])
    for dialect, model in [("anthropic", PREFILL_MODEL), *CONTINUE]:
        for stream in (True, False):
            m = Model(truth, dialect=dialect)  # type: ignore[arg-type]
            result = run(body(model, 12, stream), m, dialect=dialect, policy=POLICY)  # type: ignore[arg-type]
            answer = check_clean(m, result, dialect)
            assert [c[0] for c in answer.tool_calls] == ["toolu_00", "toolu_01"], (dialect, model, stream)


# -- restarted streams are never shown twice -----------------------------------------------------------
@settings(max_examples=40, deadline=None, report_multiple_bugs=False)
@given(
    st.sampled_from([("anthropic", PREFILL_MODEL), *CONTINUE]),
    texts(min_size=1),
    st.integers(1, 8),
    st.integers(3, 60),
)
def test_a_restarted_stream_is_shown_once(
    dialect_model: tuple[str, str], text: str, after: int, cap: int
) -> None:
    dialect, model = dialect_model
    m = Model(Truth.of(text), Behaviour((Step(fault=Fault("restart", after=after)),)), dialect=dialect)  # type: ignore[arg-type]
    result = run(body(model, cap, True), m, dialect=dialect, policy=POLICY)  # type: ignore[arg-type]
    answer = check_clean(m, result, dialect)
    # Nothing of the restart is shown twice. The continuation rounds after it have seams of
    # their own, where invariant 3 lets a copy of what the answer already ends in go (a text
    # that repeats its last line reads like a model repeating it): the same check as there.
    assert only_repeats_removed(answer.text, text), (answer.text, text)
    assert result.summary["state"] == "complete"


# -- giving up: everything received reaches the caller before the typed error ----------------------
@settings(max_examples=40, deadline=None, report_multiple_bugs=False)
@given(
    st.sampled_from([("anthropic", PREFILL_MODEL), *CONTINUE]),
    st.booleans(),
    texts(min_size=20),
    st.integers(3, 20),
    st.none() | st.integers(2, 12),
)
def test_giving_up_hands_over_everything_received(
    dialect_model: tuple[str, str], stream: bool, text: str, cap: int, break_after: int | None
) -> None:
    """The first round arrives (whole but cut at max_tokens, or broken off after some events);
    every later request gets 529 until the finisher gives up. The caller has all the text that
    arrived, then the error."""
    dialect, model = dialect_model
    first = Step(fault=Fault("break", after=break_after)) if break_after is not None else Step()
    dead = Step(fault=Fault("status", status=529, retry_after=0.0))
    m = Model(Truth.of(text), Behaviour((first,), default=dead), dialect=dialect)  # type: ignore[arg-type]
    result = run(body(model, cap, stream), m, dialect=dialect, policy=POLICY)  # type: ignore[arg-type]
    received = received_text(m, 0, stream, break_after)
    if not received:
        return
    answer = answer_of(result, dialect)  # type: ignore[arg-type]
    assert answer.sdk_error is None, answer.sdk_error
    assert answer.text == received, f"received {received!r}, the caller got {answer.text!r}"
    if len(result.requests) == 1 and answer.text == text:
        return  # the first round was the whole answer (it fit under the cap): nothing to give up
    if stream:
        assert answer.error is not None, "the stream ends without the typed error"
    else:
        assert result.summary["state"] != "complete"


def received_text(m: Model, n: int, stream: bool, break_after: int | None) -> str:
    """The text that reply ``n`` delivered before it broke (what the SDK makes of those bytes)."""
    reply = m.asked[n].reply
    assert reply is not None
    if not stream and break_after is not None:
        return ""  # half a JSON body: nothing usable arrived
    return answer_of(Run(status=200, body=b"".join(reply.chunks), stream=stream), m.dialect).text
