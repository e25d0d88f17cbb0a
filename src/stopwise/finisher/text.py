"""The one text block a stream keeps open across rounds."""

from __future__ import annotations

from . import seam as seams

__all__ = ["TextWriter"]


class TextWriter:
    """The one text block a stream keeps open across rounds. ``text`` is all of it; ``sent``
    how much went downstream. Only ``seams.back_off``'s kept part is ever sent before the
    round's stop reason says the answer is over."""

    def __init__(self, index: int, text: str = "", sent: int = 0) -> None:
        self.index = index
        self.text = text
        self.sent = sent
        self.started = sent > 0
        self.skipped = False  # dropped unseen: whitespace with no block of its own

    def releasable(self) -> int:
        # back_off looks at the tail only, so a window keeps this linear in the answer's length.
        window_start = max(self.sent - 512, 0)
        kept = seams.back_off(self.text[window_start:]).kept
        return max(window_start + len(kept), self.sent)


class Head:
    """The head of a continue-turn reply, held back until its seam is decided (it may turn out to
    be a preamble, a reopened fence, or a repeat of what we have). Without a seam there is nothing
    to decide and text passes straight through."""

    def __init__(self, seam: seams.Seam | None = None, structure: seams.Structure | None = None) -> None:
        self.seam = seam
        self.structure = structure or seams.Structure()
        self.raw = ""
        self.decided = seam is None
        self.uncertain = False  # decided keeping what may be a repeat (seams.uncertain)

    def feed(self, text: str) -> str:
        """What of ``text`` may join the answer now ("" while the head is still undecided)."""
        if self.decided:
            return text
        self.raw += text
        assert self.seam is not None
        if seams.undecided(self.seam, self.raw, self.structure):
            return ""
        return self.finish()

    def finish(self) -> str:
        """The round is over (or another block follows): decide with what arrived."""
        if self.decided:
            return ""
        self.decided = True
        assert self.seam is not None
        self.uncertain = seams.uncertain(self.seam, self.raw, self.structure)
        return seams.repair(self.seam, self.raw, self.structure)
