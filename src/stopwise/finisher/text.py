"""The head of a continue-turn reply, held until its seam is decided."""

from __future__ import annotations

from . import seam as seams

__all__ = ["Head"]


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
        self.removed: list[str] = []  # what the repair took off the reply's head (seams.repairs)

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
        self.removed = seams.repairs(self.seam, self.raw, self.structure)
        return seams.repair(self.seam, self.raw, self.structure)
