"""How a continue-turn reply misbehaves, on request (header ``x-sim-behavior``).

A real model asked to "continue" is not neat: it repeats words, restarts the paragraph, adds a
preamble, reopens a code fence or loses the space at the seam (brief/continuation.md, "Why seams
break"). Each behaviour reproduces one of these deterministically so a finisher's seam repair
can be measured against the exact document. They apply to continue turns only: a prefill
continues exactly.
"""

from __future__ import annotations

__all__ = ["BEHAVIORS", "PREAMBLE", "continuation_text", "open_fence", "parse_behaviors"]

BEHAVIORS = ("repeat-tail", "preamble", "reopen-fence", "drop-space", "restart-paragraph")
PREAMBLE = "Continuing from where I left off:"
_REPEAT_WORDS = 3
_REPEAT_CJK_CHARS = 8


def parse_behaviors(header: str | None) -> frozenset[str]:
    """The known values in a comma-separated header; unknown ones are reported by the caller."""
    if not header:
        return frozenset()
    return frozenset(v.strip().lower() for v in header.split(",") if v.strip())


def continuation_text(doc: str, cursor: int, behaviors: frozenset[str]) -> str:
    """The reply to a continue request whose partial ends at ``cursor``.

    Clean, it is exactly ``doc[cursor:]``, seam whitespace included. Behaviours combine in this
    order: where the reply starts (``restart-paragraph`` wins over ``repeat-tail``), then
    ``drop-space``, then ``reopen-fence``, then ``preamble``.
    """
    start = cursor
    if "restart-paragraph" in behaviors:
        start = _paragraph_start(doc, cursor)
    elif "repeat-tail" in behaviors:
        start = _tail_start(doc, cursor)
    text = doc[start:]
    if "drop-space" in behaviors:
        text = text.lstrip()
    lang = open_fence(doc, cursor) if "reopen-fence" in behaviors else None
    if lang is not None:
        # The model starts a fresh line after its fence, so a newline that was due at the cut
        # is not written twice.
        text = f"```{lang}\n" + (text[1:] if text.startswith("\n") else text)
    if "preamble" in behaviors:
        text = f"{PREAMBLE}\n\n{text.lstrip()}"
    return text


def open_fence(doc: str, cursor: int) -> str | None:
    """The language tag of the code fence open at ``cursor`` (``""`` for a bare fence), or
    ``None`` when the cut is outside any fence."""
    lang: str | None = None
    for line in doc[:cursor].split("\n"):
        if line.startswith("```"):
            lang = line[3:].strip() if lang is None else None
    return lang


def _is_cjk(ch: str) -> bool:
    # CJK punctuation and kana, unified ideographs, Hangul, and full-width forms (，！？).
    return bool(ch) and (
        "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uff00" <= ch <= "\uffef"
    )


def _paragraph_start(doc: str, cursor: int) -> int:
    found = doc.rfind("\n\n", 0, cursor)
    return 0 if found < 0 else found + 2


def _tail_start(doc: str, cursor: int) -> int:
    head = doc[:cursor]
    window = head[-40:]
    last = head.rstrip()[-1:]
    if not any(c.isspace() for c in window) or _is_cjk(last):
        # CJK (or one long token run) has no words to repeat: a model repeats a few characters.
        # Counting whitespace-separated "words" there would repeat whole paragraphs.
        return max(0, cursor - _REPEAT_CJK_CHARS)
    pos = len(head.rstrip())
    for _ in range(_REPEAT_WORDS):
        while pos > 0 and head[pos - 1].isspace():
            pos -= 1
        while pos > 0 and not head[pos - 1].isspace():
            pos -= 1
    return pos
