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
