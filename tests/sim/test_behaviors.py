from __future__ import annotations

from stopwise.sim.behaviors import PREAMBLE, continuation_text, open_fence, parse_behaviors

DOC = "Intro line.\n\n```python\ndef f():\n    return 1\n```\n\nOne two three four five six."


def test_clean_continuation_is_the_exact_rest() -> None:
    cut = DOC.index(" four")
    assert continuation_text(DOC, cut, frozenset()) == " four five six."


def test_each_behavior() -> None:
    cut = DOC.index(" four")
    assert continuation_text(DOC, cut, frozenset({"repeat-tail"})) == "One two three four five six."
    assert continuation_text(DOC, cut, frozenset({"preamble"})) == f"{PREAMBLE}\n\nfour five six."
    assert continuation_text(DOC, cut, frozenset({"drop-space"})) == "four five six."
    assert continuation_text(DOC, cut, frozenset({"restart-paragraph"})) == "One two three four five six."
    assert continuation_text(DOC, cut, frozenset({"reopen-fence"})) == " four five six."  # no open fence here
    in_fence = DOC.index("\n    return")
    assert (
        continuation_text(DOC, in_fence, frozenset({"reopen-fence"}))
        == "```python\n    return 1\n```\n\nOne two three four five six."
    )


def test_open_fence() -> None:
    assert open_fence(DOC, DOC.index("def")) == "python"
    assert open_fence(DOC, DOC.index("One")) is None
    assert open_fence("```\nx", 5) == ""


def test_repeat_tail_in_cjk_repeats_characters() -> None:
    doc = "清晨的港口笼罩在薄雾之中渔船一艘接一艘地驶出海湾"
    assert continuation_text(doc, 20, frozenset({"repeat-tail"})) == doc[12:]


def test_parse_behaviors() -> None:
    assert parse_behaviors(" Preamble ,drop-space,") == frozenset({"preamble", "drop-space"})
    assert parse_behaviors(None) == frozenset()
