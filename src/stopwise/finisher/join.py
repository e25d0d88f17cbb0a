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

from . import seam as seams
from .text import Head

__all__ = ["Join"]


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

    def feed(self, text: str) -> str:
        """What of ``text`` (the reply, in order) joins the answer now."""
        return self._match(self.head.feed(text))

    def finish(self) -> str:
        """The reply's text is over: what the head still held."""
        return self._match(self.head.finish())

    def _match(self, text: str) -> str:
        if not text or self.matched >= len(self.shown) or self.diverged:
            return text
        i = 0
        while i < len(text) and self.matched < len(self.shown) and text[i] == self.shown[self.matched]:
            i += 1
            self.matched += 1
        if i < len(text) and self.matched < len(self.shown):
            self.diverged = True
        return text[i:]
