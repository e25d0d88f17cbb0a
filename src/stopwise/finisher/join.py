"""Where a continuation's text meets the answer's: one rule for streams and bodies.

Text reaches the caller as it arrives, so what the answer holds when a round is cut was shown
already and can never be taken back. The seam is reconciled at the head of the next round:

- Prefill: the answer is re-sent exactly as shown, less the trailing whitespace the API refuses;
  the model goes on from there, and whatever of that whitespace it writes again is matched
  against what was shown and dropped.
- Continue turn: the answer is re-sent backed off to its last whole word (a model asked to go on
  after a partial word rewrites the word), the reply's head is repaired (:mod:`.seam`: preamble,
  reopened fence, repeats), and the regenerated tail (whitespace, the last word) is matched
  against what was shown and dropped.

Matching stops at the first character that differs: from there on the reply is new text, so
nothing is lost and nothing shown twice; the divergence is noted for the report.
"""

from __future__ import annotations

import re

from . import seam as seams
from .text import Head

__all__ = ["REPAIRED", "UNCERTAIN", "UNDECIDED", "Join"]

#: The report's note when a reply began with what the answer ends in and it was kept.
UNCERTAIN = "seam uncertain: the continuation began with text the answer ends in; kept, as it may be content"
#: The report's note when the seam took something off a continuation's head, then what.
REPAIRED = "seam repaired: the continuation began with "
#: The report's note when a cut round's reply never got past its undecided head.
UNDECIDED = "a cut continuation ended in a head that could be a preamble or content: not shown, asked again"


#: The longest answer :meth:`Join.again` asks for again rather than continuing (a token or
#: two, cut: asking again re-bills the prompt, not this).
_ONE_WORD = 48
#: The whitespace and the start of a word that end what the reply matched of the shown tail.
_OWN_WORD = re.compile(r"\s+\S*\Z")


class Join:
    def __init__(self, shown: str, *, head: Head | None = None) -> None:
        self.shown = shown  # the tail already shown that the reply may write again
        self.head = head or Head()
        self.matched = 0
        self.diverged = False

    @classmethod
    def prefill(cls, text: str) -> tuple[str, Join]:
        """The prefill to send for ``text`` and how its continuation joins."""
        kept = text.rstrip()
        return kept, cls(text[len(kept) :])

    @classmethod
    def continue_turn(cls, text: str) -> tuple[str, Join, seams.Structure]:
        """The assistant turn to send for ``text``, how the reply joins, and the structure the
        model sees the cut in (that of what is sent: the dropped tail may open a fence the
        model has not seen)."""
        seam = seams.back_off(text)
        structure = seams.structure_at(seam.kept)
        return seam.kept, cls(seam.dropped, head=Head(seam, structure)), structure

    @classmethod
    def again(cls, text: str) -> Join | None:
        """The answer so far is one short word (no whitespace to back off to, or only before it), or
        whitespace alone: a
        continue turn would have to send it whole and could not tell a rewrite of it, or a
        missing space, from new text. The question is asked again instead, and what the new
        answer writes of ``text`` is matched and dropped. None when a continue turn is right."""
        words = text.split()
        # Whitespace alone is asked again too: a continue turn would have nothing to send.
        if len(words) > 1 or (words and len(words[0]) > _ONE_WORD):
            return None
        return cls(text)

    def feed(self, text: str) -> str:
        """What of ``text`` (the reply, in order) joins the answer now."""
        return self._match(self.head.feed(text))

    def finish(self) -> str:
        """The reply's text is over: what the head still held."""
        return self._match(self.head.finish())

    def notes(self) -> list[str]:
        """What the report says of this seam, once the reply's head is decided."""
        out = []
        if self.diverged:
            out.append("the continuation did not rewrite the shown tail: joined after it")
        if self.head.uncertain:
            out.append(UNCERTAIN)
        if self.head.removed:
            out.append(REPAIRED + ", ".join(self.head.removed))
        return out

    def abandon(self) -> bool:
        """The round was cut (or broke off) while all its reply was still a head that could be a
        preamble as well as the start of the answer (``Cont``): say whether so. Nothing of it was
        shown, so it is neither kept nor guessed: the next round asks again. Any other undecided
        head is decided by what arrived (:meth:`finish`)."""
        head = self.head
        if head.decided or head.seam is None or not seams.unsettled(head.seam, head.raw, head.structure):
            return False
        head.decided = True
        return True

    def _match(self, text: str) -> str:
        if not text or self.matched >= len(self.shown) or self.diverged:
            return text
        i = 0
        while i < len(text) and self.matched < len(self.shown) and text[i] == self.shown[self.matched]:
            i += 1
            self.matched += 1
        if i < len(text) and self.matched < len(self.shown):
            self.diverged = True
            if self.shown[self.matched :].strip():
                # The reply wrote the seam's whitespace (maybe the start of the shown word too),
                # then other text: it went on with a word of its own, not the shown one (`` by``
                # after `` the``, `` three`` after `` two``). That word joins after the shown one
                # with the whitespace the reply put before it, so what of them was matched goes
                # out after all: ``the by``, never ``theby`` or ``twohree``.
                own = _OWN_WORD.search(self.shown, 0, self.matched)
                return (own.group() if own else "") + text[i:]
        return text[i:]
