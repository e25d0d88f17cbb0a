"""Continuation semantics through the SDKs: prefill continues byte for byte, a continue turn
resumes where the partial ends, and ``x-sim-behavior`` misbehaves on demand (docs/sim.md)."""

from __future__ import annotations

import re

import anthropic
import openai
import pytest

from stopwise.sim import KINDS, PREAMBLE, document_for_messages, full_document

PREFILL_MODEL = "claude-haiku-4-5"
NO_PREFILL_MODEL = "claude-opus-4-6"
TEXT_KINDS = [k for k in KINDS if k != "tool"]


def back_off(text: str) -> str:
    """What a careful finisher sends: the partial up to its last whitespace, no trailing space."""
    cut = max(text.rfind(" "), text.rfind("\n"))
    return text[:cut].rstrip() if cut > 0 else text.rstrip()


@pytest.mark.parametrize("kind", TEXT_KINDS)
@pytest.mark.parametrize("cap", [97, 1000])
def test_prefill_rounds_rebuild_the_document_exactly(
    claude: anthropic.Anthropic, kind: str, cap: int
) -> None:
    ask = {"role": "user", "content": f"Write the {kind} document."}
    have = ""
    for _ in range(200):
        prefix = back_off(have) if have else ""
        messages = [ask, {"role": "assistant", "content": prefix}] if prefix else [ask]
        msg = claude.messages.create(model=PREFILL_MODEL, max_tokens=cap, messages=messages)  # type: ignore[arg-type]
        have = prefix + msg.content[0].text  # type: ignore[union-attr]
        if msg.stop_reason == "end_turn":
            break
        assert msg.stop_reason == "max_tokens"
    assert have == full_document(kind) == document_for_messages([ask])


def test_prefill_stream_continues_exactly(claude: anthropic.Anthropic) -> None:
    doc = full_document("code")
    prefix = doc[:1234].rstrip()
    with claude.messages.stream(
        model=PREFILL_MODEL,
        max_tokens=50,
        messages=[{"role": "user", "content": "code"}, {"role": "assistant", "content": prefix}],
    ) as stream:
        text = stream.get_final_text()
    assert doc.startswith(prefix + text) and len(text) > 50


def test_prefill_mid_word_continues_mid_word(claude: anthropic.Anthropic) -> None:
    doc = full_document("prose")
    msg = claude.messages.create(
        model=PREFILL_MODEL,
        max_tokens=3,
        messages=[{"role": "user", "content": "prose"}, {"role": "assistant", "content": doc[:9]}],
    )
    assert doc[:9] + msg.content[0].text == doc[: 9 + len(msg.content[0].text)]  # type: ignore[union-attr]


def test_prefill_is_rejected_by_claude_4_6(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        claude.messages.create(
            model=NO_PREFILL_MODEL,
            max_tokens=10,
            messages=[{"role": "user", "content": "prose"}, {"role": "assistant", "content": "The"}],
        )
    assert info.value.status_code == 400
    assert info.value.body["error"]["message"] == (  # type: ignore[index]
        "This model does not support assistant message prefill. The conversation must end with a "
        "user message."
    )


def test_prefill_with_trailing_whitespace_is_rejected(claude: anthropic.Anthropic) -> None:
    with pytest.raises(
        anthropic.BadRequestError, match="final assistant content cannot end with trailing whitespace"
    ):
        claude.messages.create(
            model=PREFILL_MODEL,
            max_tokens=10,
            messages=[
                {"role": "user", "content": "prose"},
                {"role": "assistant", "content": "A travelling "},
            ],
        )


def continue_turn(partial: str, kind: str = "code") -> list[dict[str, str]]:
    return [
        {"role": "user", "content": f"Write the {kind} document."},
        {"role": "assistant", "content": partial},
        {
            "role": "user",
            "content": "Continue exactly where you stopped (you are inside a ```python code fence).",
        },
    ]


@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_continue_turn_resumes_exactly(claude: anthropic.Anthropic, kind: str) -> None:
    doc = full_document(kind)
    partial = back_off(doc[:2000])
    msg = claude.messages.create(
        model=NO_PREFILL_MODEL, max_tokens=20000, messages=continue_turn(partial, kind)
    )
    assert msg.stop_reason == "end_turn"
    assert partial + msg.content[0].text == doc  # type: ignore[union-attr]


def test_continue_turn_with_stripped_partial_keeps_seam_whitespace(claude: anthropic.Anthropic) -> None:
    doc = full_document("prose")
    end = doc.index("\n\n", 500)
    msg = claude.messages.create(
        model=NO_PREFILL_MODEL, max_tokens=5, messages=continue_turn(doc[:end].strip(), "prose")
    )
    assert msg.content[0].text.startswith("\n\n")  # type: ignore[union-attr]


def test_continue_rounds_as_separate_turns(claude: anthropic.Anthropic) -> None:
    doc = full_document("json")
    messages: list[dict[str, str]] = [{"role": "user", "content": "json please"}]
    have = ""
    for _ in range(100):
        msg = claude.messages.create(model=NO_PREFILL_MODEL, max_tokens=500, messages=messages)  # type: ignore[arg-type]
        piece = msg.content[0].text  # type: ignore[union-attr]
        have += piece
        if msg.stop_reason == "end_turn":
            break
        messages += [{"role": "assistant", "content": piece.strip()}, {"role": "user", "content": "continue"}]
    assert have == doc


def expected_cut(kind: str = "code") -> tuple[str, str, int]:
    doc = full_document(kind)
    fence = doc.index("```python\n") + len("```python\n")
    # A word boundary inside the open fence: a space right after a word.
    cursor = next(i for i in range(fence + 40, len(doc)) if doc[i] == " " and not doc[i - 1].isspace())
    return doc, doc[:cursor], cursor


@pytest.mark.parametrize(
    ("behavior", "expect"),
    [
        ("repeat-tail", lambda doc, c: doc[re.search(r"(\S+\s+){2}\S+$", doc[:c]).start() :]),  # type: ignore[union-attr]
        ("preamble", lambda doc, c: f"{PREAMBLE}\n\n{doc[c:].lstrip()}"),
        ("reopen-fence", lambda doc, c: "```python\n" + doc[c:]),
        ("drop-space", lambda doc, c: doc[c:].lstrip()),
        ("restart-paragraph", lambda doc, c: doc[doc.rfind("\n\n", 0, c) + 2 :]),
    ],
)
def test_behaviors(claude: anthropic.Anthropic, behavior: str, expect: object) -> None:
    doc, partial, cursor = expected_cut()
    msg = claude.messages.create(
        model=NO_PREFILL_MODEL,
        max_tokens=20000,
        messages=continue_turn(partial),
        extra_headers={"x-sim-behavior": behavior},
    )
    assert msg.content[0].text == expect(doc, cursor)  # type: ignore[operator, union-attr]


def test_behaviors_combine_and_never_touch_prefill(claude: anthropic.Anthropic) -> None:
    doc, partial, cursor = expected_cut()
    headers = {"x-sim-behavior": "preamble, reopen-fence"}
    msg = claude.messages.create(
        model=NO_PREFILL_MODEL, max_tokens=20000, messages=continue_turn(partial), extra_headers=headers
    )
    assert msg.content[0].text == f"{PREAMBLE}\n\n```python\n{doc[cursor:]}"  # type: ignore[union-attr]
    prefill = claude.messages.create(
        model=PREFILL_MODEL,
        max_tokens=20000,
        messages=[{"role": "user", "content": "code"}, {"role": "assistant", "content": partial}],
        extra_headers=headers,
    )
    assert partial + prefill.content[0].text == doc  # type: ignore[union-attr]


def test_unknown_behavior_is_a_400(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="x-sim-behavior"):
        claude.messages.create(
            model=PREFILL_MODEL,
            max_tokens=5,
            messages=continue_turn("x"),
            extra_headers={"x-sim-behavior": "sulk"},
        )


def test_a_new_question_after_a_finished_answer_starts_a_new_document(claude: anthropic.Anthropic) -> None:
    messages = [
        {"role": "user", "content": "prose"},
        {"role": "assistant", "content": full_document("prose")},
        {"role": "user", "content": "now a table"},
    ]
    msg = claude.messages.create(model=NO_PREFILL_MODEL, max_tokens=10, messages=messages)  # type: ignore[arg-type]
    assert full_document("table").startswith(msg.content[0].text)  # type: ignore[union-attr]


def test_openai_trailing_assistant_is_not_prefill(gpt: openai.OpenAI) -> None:
    doc = full_document("prose")
    msg = gpt.chat.completions.create(
        model="gpt-4o",
        max_tokens=10,
        messages=[{"role": "user", "content": "prose"}, {"role": "assistant", "content": doc[:300]}],
    )
    assert doc.startswith(msg.choices[0].message.content or "-")


def test_openai_continue_turn_and_behavior(gpt: openai.OpenAI) -> None:
    doc, partial, cursor = expected_cut()
    clean = gpt.chat.completions.create(model="gpt-4.1", messages=continue_turn(partial))  # type: ignore[arg-type]
    assert partial + (clean.choices[0].message.content or "") == doc
    stream = gpt.chat.completions.create(
        model="gpt-4.1",
        messages=continue_turn(partial),  # type: ignore[arg-type]
        stream=True,
        max_tokens=300,
        extra_headers={"x-sim-behavior": "drop-space"},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == doc[cursor:].lstrip()[: len(text)] and len(text) > 600
