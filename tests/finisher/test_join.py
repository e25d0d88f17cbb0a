"""Joining a round's text onto what the caller was shown (stopwise.finisher.join)."""

from __future__ import annotations

from stopwise.finisher.join import Join


def joined(text: str, *pieces: str) -> str:
    """``text`` (all shown), then what a continue turn's reply, fed in ``pieces``, adds to it."""
    _, join, _ = Join.continue_turn(text)
    return text + "".join(join.feed(p) for p in pieces) + join.finish()


def test_the_rewritten_tail_is_dropped() -> None:
    assert joined("The tide came in", " in and out") == "The tide came in and out"
    assert joined("The tide came in", "in and out") == "The tide came in and out"


def test_a_reply_that_goes_on_differently_keeps_its_space() -> None:
    """Found by random runs of invariant 3: the seam's space was matched against the shown
    `` in``, the reply then went on with other text, and the space was gone (``inat dusk``)."""
    assert joined("The tide came in", "at dusk.") == "The tide came in at dusk."
    assert joined("The tide came in", " ", "at dusk.") == "The tide came in at dusk."
    assert joined("one\n\ntwo", "three") == "one\n\ntwo\n\nthree"


def test_a_prefill_never_writes_the_shown_whitespace_twice() -> None:
    _, join = Join.prefill("The tide came in\n\n")
    assert join.feed("\n") + join.feed("At dusk") == "At dusk"
