"""The oracle upstream (stopwise.testing.model) must itself be right: asked with any prefix of
its truth, it goes on with exactly the rest; its cuts follow max_tokens; it rejects what the API
rejects; its misbehaviours are what they say."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from stopwise.testing import Run, run
from stopwise.testing.model import (
    MIN_REPEAT_CHARS,
    PREAMBLES,
    Behaviour,
    Fault,
    Model,
    Step,
    Truth,
    answer_of,
    tokens,
)

PROSE = (
    "The quarterly report covers three regions and their totals.\n\n"
    "Here is the breakdown by region:\n\n| Region | Total |\n|---|---|\n| EU | 3 |\n| US | 5 |\n\n"
    "```python\ndef total(rows):\n    return sum(r.value for r in rows)\n```\n\n"
    "接着上文的数据，我们可以看到增长。Finally, the outlook is good."
)
USER = [{"role": "user", "content": "report please"}]

texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(list(" \n\n  .,|`")),
    max_size=80,
)


def body(model: str = "claude-sonnet-4-5", max_tokens: int = 100_000 // 10, **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": max_tokens, "messages": list(USER), **extra}


def asked_with(m: Model, b: dict[str, Any], n: int = 0) -> Any:
    return m.answer(b, n)


def text_of(asked: Any) -> str:
    return "".join(x["text"] for x in asked.content if x["type"] == "text")


def prefill_body(prefix: str, **kw: Any) -> dict[str, Any]:
    b = body(**kw)
    b["messages"] = [*USER, {"role": "assistant", "content": [{"type": "text", "text": prefix}]}]
    return b


def continue_body(prefix: str, dialect: str = "anthropic", **kw: Any) -> dict[str, Any]:
    b = body(**kw)
    content: Any = prefix if dialect == "openai" else [{"type": "text", "text": prefix}]
    b["messages"] = [*USER, {"role": "assistant", "content": content}, {"role": "user", "content": "go on"}]
    return b


@given(texts, st.integers(0, 1_000_000))
def test_tokens_are_lossless(text: str, _: int) -> None:
    assert "".join(tokens(text)) == text


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_prefill_of_any_prefix_continues_with_exactly_the_rest(data: st.DataObject) -> None:
    text = data.draw(texts.filter(lambda t: t.strip()), label="text") + " end."
    ends = [k for k in range(1, len(text)) if not text[k - 1].isspace()]
    k = data.draw(st.sampled_from(ends), label="k")
    m = Model(Truth.of(text))
    m.answer(body(), 0)  # the caller's own request first: it defines the caller's messages
    asked = m.answer(prefill_body(text[:k]), 1)
    assert asked.mode == "prefill" and asked.mismatch is None and asked.rejected is None
    assert asked.start == (0, k)
    assert text_of(asked) == text[k:]
    assert asked.stop == "end_turn"


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_cuts_follow_max_tokens_and_the_step(data: st.DataObject) -> None:
    text = data.draw(texts.filter(lambda t: t.strip()), label="text")
    total = len(tokens(text))
    cap = data.draw(st.integers(1, total + 3), label="max_tokens")
    cut = data.draw(st.none() | st.integers(1, total + 3), label="cut")
    m = Model(Truth.of(text), Behaviour((Step(cut=cut),)))
    asked = m.answer(body(max_tokens=cap), 0)
    limit = min(cap, cut if cut is not None else cap)
    assert asked.output_tokens == min(limit, total)
    assert text_of(asked) == "".join(tokens(text)[:limit])
    assert asked.stop == ("max_tokens" if total > limit else "end_turn")


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_continue_turn_misbehaviours(data: st.DataObject) -> None:
    ends = [k for k in range(1, len(PROSE)) if not PROSE[k - 1].isspace()]
    k = data.draw(st.sampled_from(ends), label="k")
    kind = data.draw(st.sampled_from(["faithful", "strip", "word", "repeat", "restart", "preamble", "fence"]))
    p = data.draw(st.integers(0, len(PREAMBLES) - 1))
    dialect = data.draw(st.sampled_from(["anthropic", "openai"]))
    m = Model(Truth.of(PROSE), Behaviour(default=Step(misbehave=kind, preamble=p, words=5)), dialect=dialect)
    m.answer(body(model="claude-opus-4-6"), 0)
    asked = m.answer(continue_body(PROSE[:k], dialect, model="claude-opus-4-6"), 1)
    assert asked.mode == "continue" and asked.mismatch is None
    reply, rest = text_of(asked), PROSE[k:]
    if kind == "faithful":
        assert reply == rest
    elif kind == "strip":
        assert reply == rest.lstrip()
    elif kind == "preamble":
        assert reply == PREAMBLES[p] + rest.lstrip()
    elif kind in ("repeat", "restart", "word"):
        assert reply.endswith(rest)
        repeated = reply[: len(reply) - len(rest)]
        assert PROSE[:k].endswith(repeated)
        if repeated and kind != "word":
            assert len(repeated) >= MIN_REPEAT_CHARS
    else:
        whole_lines = PROSE[:k].rsplit("\n", 1)[0] if "\n" in PROSE[:k] else ""
        inside = whole_lines.count("```") % 2 == 1
        assert reply == ("```python\n" + rest.lstrip() if inside else rest)


def test_repeat_and_restart_really_repeat() -> None:
    k = PROSE.index("their totals") + len("their totals")
    m = Model(Truth.of(PROSE), Behaviour(default=Step(misbehave="repeat", words=4)))
    m.answer(body(), 0)
    assert text_of(m.answer(continue_body(PROSE[:k]), 1)).startswith("regions and their totals.\n")
    m = Model(Truth.of(PROSE), Behaviour(default=Step(misbehave="restart")))
    m.answer(body(), 0)
    assert text_of(m.answer(continue_body(PROSE[:k]), 1)).startswith("The quarterly report covers")


def test_rejects_what_the_api_rejects() -> None:
    m = Model(Truth.of(PROSE))
    m.answer(body(), 0)
    no_prefill = m.answer(prefill_body("The quarterly", model="claude-opus-4-6"), 1)
    assert (
        no_prefill.rejected is not None
        and "does not support assistant message prefill" in no_prefill.rejected
    )
    assert no_prefill.reply is not None and no_prefill.reply.status == 400
    ws = m.answer(prefill_body("The quarterly "), 2)
    assert ws.rejected is not None and "trailing whitespace" in ws.rejected
    big = m.answer(body(max_tokens=64001), 3)
    assert big.rejected == (
        "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens "
        "for claude-sonnet-4-5"
    )
    thinking = m.answer(prefill_body("The", thinking={"type": "enabled", "budget_tokens": 1024}), 4)
    assert thinking.rejected is not None
    empty = m.answer(continue_body("", model="claude-opus-4-6"), 5)
    assert empty.rejected is not None and "non-empty" in empty.rejected
    unsigned = body()
    unsigned["messages"] = [
        *USER,
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": ""}]},
        {"role": "user", "content": "go on"},
    ]
    assert m.answer(unsigned, 6).rejected is not None


def test_a_departing_prefill_is_recorded() -> None:
    m = Model(Truth.of(PROSE))
    m.answer(body(), 0)
    asked = m.answer(prefill_body("The quarterly report covers four"), 1)
    assert asked.mismatch is not None and "departs" in asked.mismatch
    # The caller's messages changed is a mismatch too.
    other = prefill_body("The")
    other["messages"][0] = {"role": "user", "content": "something else"}
    assert m.answer(other, 2).mismatch is not None


def test_cache_control_and_segments_are_ignored_when_locating() -> None:
    m = Model(Truth.of(PROSE))
    m.answer(body(), 0)
    b = body()
    b["messages"] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "report please", "cache_control": {"type": "ephemeral"}}],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "The quarterly"},
                {"type": "text", "text": " report", "cache_control": {"type": "ephemeral"}},
            ],
        },
    ]
    asked = m.answer(b, 1)
    assert asked.mismatch is None and asked.start == (0, len("The quarterly report"))


TOOLS = Truth.of(
    "Let me look.", tools=[("lookup", {"q": "alpha beta gamma"}), ("fetch", {"id": 12, "deep": True})]
)


def test_tool_calls_cut_and_regenerated() -> None:
    need = len(tokens("Let me look.")) + len(tokens('{"q":"alpha beta gamma"}')) + 2
    m = Model(TOOLS)
    cut = m.answer(body(max_tokens=need), 0)
    assert cut.stop == "max_tokens"
    assert [b["type"] for b in cut.content] == ["text", "tool_use", "tool_use"]
    assert cut.content[1]["input"] == {"q": "alpha beta gamma"} and cut.content[2]["id"] == "toolu_01"
    assert "partial_json" in cut.content[2]
    # Non-stream, the cut call's input is {}; streamed, its partial JSON and no content_block_stop.
    msg = orjson.loads(cut.reply.chunks[0]) if cut.reply is not None else None
    assert msg is not None and msg["content"][2]["input"] == {}
    b = body(max_tokens=need, stream=True)
    streamed = Model(TOOLS).answer(b, 0)
    assert streamed.reply is not None
    events = [orjson.loads(c.split(b"data: ", 1)[1]) for c in streamed.reply.chunks]
    assert {"type": "content_block_stop", "index": 2} not in events
    assert any(e.get("delta", {}).get("partial_json") for e in events if e.get("index") == 2)
    # A fresh request with room for all of it: every call, once.
    again = m.answer(body(max_tokens=1000), 1)
    assert again.stop == "tool_use" and [b.get("id") for b in again.content[1:]] == ["toolu_00", "toolu_01"]
    # A prefill holding the first call goes on with the second.
    b = body()
    b["messages"] = [*USER, {"role": "assistant", "content": [dict(TOOLS.blocks[0]), dict(TOOLS.blocks[1])]}]
    after = m.answer(b, 2)
    assert after.mismatch is None and [x.get("id") for x in after.content] == ["toolu_01"]


def test_thinking_only_when_enabled_and_unsigned_when_cut() -> None:
    t = Truth.of("The answer is 42.", thinking="Let me think about this carefully.")
    on = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    m = Model(t)
    assert [b["type"] for b in m.answer(body(), 0).content] == ["text"]
    full = m.answer(body(**on), 1)
    assert [b["type"] for b in full.content] == ["thinking", "text"]
    assert full.content[0]["signature"] == t.blocks[0]["signature"]
    cut = m.answer(body(max_tokens=3, **on), 2)
    assert cut.content[0]["type"] == "thinking" and cut.content[0]["signature"] == ""


def test_pause_turn_and_its_resumption() -> None:
    t = Truth.of(["First part.", " Second part."], server=[(0, "weather")])
    m = Model(t, Behaviour(pause_after=frozenset({2})), model="claude-opus-4-6")
    first = m.answer(body(model="claude-opus-4-6"), 0)
    assert first.stop == "pause_turn"
    assert [b["type"] for b in first.content] == ["text", "server_tool_use", "web_search_tool_result"]
    b = body(model="claude-opus-4-6")
    b["messages"] = [*USER, {"role": "assistant", "content": first.content}]
    resumed = m.answer(b, 1)
    assert resumed.mode == "pause" and resumed.rejected is None and text_of(resumed) == " Second part."


def test_faults() -> None:
    m = Model(Truth.of(PROSE), Behaviour((Step(fault=Fault("status", status=529, retry_after=0.0)),)))
    r = m(body(), 0)
    assert r.status == 529 and r.headers["retry-after"] == "0.0"
    m = Model(Truth.of(PROSE), Behaviour((Step(fault=Fault("break", after=3)),)))
    r = m(body(stream=True), 0)
    assert r.fail == "read" and len(r.chunks) == 3
    r = Model(Truth.of(PROSE), Behaviour((Step(fault=Fault("break")),)))(body(), 0)
    assert r.fail == "read"
    r = Model(Truth.of(PROSE), Behaviour((Step(fault=Fault("error", after=2)),)))(body(stream=True), 0)
    assert b"event: error" in r.chunks[-1] and len(r.chunks) == 3
    r = Model(Truth.of(PROSE), Behaviour((Step(fault=Fault("restart", after=3)),)))(body(stream=True), 0)
    assert sum(b"message_start" in c for c in r.chunks) == 2


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(["anthropic", "openai"]),
    st.integers(1, 60),
    st.booleans(),
)
def test_stream_and_body_read_the_same(dialect: str, cap: int, with_tools: bool) -> None:
    """What the SDK accumulators rebuild from the model's stream is its body."""
    truth = TOOLS if with_tools else Truth.of(PROSE)
    model = "gpt-4o" if dialect == "openai" else "claude-sonnet-4-5"
    answers = []
    for stream in (False, True):
        m = Model(truth, dialect=dialect)  # type: ignore[arg-type]
        reply = m(body(model=model, max_tokens=cap, stream=stream), 0)
        answers.append(
            answer_of(Run(status=reply.status, body=b"".join(reply.chunks), stream=stream), dialect)
        )  # type: ignore[arg-type]
    plain, streamed = answers
    assert streamed.sdk_error is None and streamed.text == plain.text and streamed.stop == plain.stop
    whole = [
        c
        for c in plain.tool_calls
        if not (plain.stop in ("max_tokens", "length") and c == plain.tool_calls[-1])
    ]
    assert [c for c in streamed.tool_calls if c in whole] == whole


def test_drives_the_finisher() -> None:
    m = Model(Truth.of(PROSE))
    result = run(body(max_tokens=5000), m)
    assert answer_of(result, "anthropic").text == PROSE and len(m.asked) == 1
