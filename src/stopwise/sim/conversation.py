"""Reading a conversation: which document it asks for, and where the answer resumes.

Both dialects reduce their messages to :class:`Turn`s; :func:`analyze` then walks them in
order, keeping a *prompt* (the user message that chose the document) and a *cursor* (how much
of the document the assistant turns so far account for):

- a user message starts a new prompt, unless it follows assistant text that matched the
  document and the document is not finished yet: then it is a *continue request* and the
  words in it are ignored (a finisher's nudge may well say "code" or "json");
- a user message that carries tool results starts the short ``tool-followup`` answer;
- an assistant message moves the cursor to where its text ends in the document
  (:func:`locate`); a tool call ends the chain.

The last turn decides the mode: ``fresh``, ``continue`` (a continue request), ``prefill`` (a
final assistant message, where the dialect allows it), ``server-continue`` (a paused server-tool
turn sent back) or ``tool-followup``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .documents import Document, document

__all__ = ["Analysis", "Turn", "analyze", "document_for", "locate", "pick_kind"]

_KIND_WORD = re.compile(r"\b(prose|code|json|table|cjk|tool)s?\b", re.IGNORECASE)

#: How much of a partial's end is searched for when it is not an exact prefix (an uncleaned
#: continuation with a preamble or a repeated tail still ends somewhere in the document).
_TAIL_CHARS = 64


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    text: str = ""  # the text blocks, concatenated
    tool_use_ids: list[str] = field(default_factory=list)
    tool_results: bool = False
    server_tool_uses: int = 0


@dataclass(frozen=True)
class Analysis:
    kind: str
    document: Document
    mode: str  # fresh | continue | prefill | server-continue | tool-followup
    cursor: int  # where the answer resumes in ``document.text``
    prior_searches: int = 0


def pick_kind(text: str, client_tools: bool) -> str:
    """The first of the kind words (by position) in ``text``; ``prose`` when there is none.
    ``tool`` only counts when the request offers a client tool to call."""
    for match in _KIND_WORD.finditer(text):
        kind = match.group(1).lower()
        if kind != "tool" or client_tools:
            return kind
    return "prose"


def locate(doc: str, text: str, start: int) -> int | None:
    """Where ``text`` (an assistant turn) ends in ``doc`` when it continues from ``start``.

    In order: an exact continuation; the same after whitespace the client stripped on either
    side; the first place at or after the turn's plausible start where its last 64 characters
    occur; the longest common prefix. ``None`` when nothing matches.
    """
    if not text or doc.startswith(text, start):
        return start + len(text)
    stripped = text.strip()
    if not stripped:
        return start
    rest = doc[start:]
    skip = start + len(rest) - len(rest.lstrip())
    if doc.startswith(stripped, skip):
        return skip + len(stripped)
    for size in (_TAIL_CHARS, _TAIL_CHARS // 2):
        # A shorter tail still matches a short uncleaned reply; below 32 characters a match
        # could be a coincidence.
        tail = stripped[-size:]
        pos = doc.find(tail, max(0, start - len(stripped)))
        if pos >= 0:
            return pos + len(tail)
    common = _common_prefix(rest, text)
    return start + common if common else None


def analyze(turns: list[Turn], *, client_tools: bool, prefill: bool) -> Analysis:
    """``prefill``: whether a final assistant message is continued (Anthropic) or treated as a
    finished turn (OpenAI has no prefill; the model answers the last prompt again)."""
    kind = "prose"
    cursor = 0
    chain = False  # the assistant text since the prompt matched the document
    is_continue = False
    for i, turn in enumerate(turns):
        doc = document(kind).text
        if turn.role == "user":
            # A document with a tool call is not finished at the end of its text: the call is
            # still to come, so a nudge after the whole preface is a continue request too.
            unfinished = cursor < len(doc) or document(kind).tool_input is not None
            if chain and unfinished and not turn.tool_results:
                is_continue = True
                continue
            kind = (
                "tool-followup"
                if turn.tool_results and not turn.text.strip()
                else pick_kind(turn.text, client_tools)
            )
            cursor, chain, is_continue = 0, False, False
            continue
        last = i == len(turns) - 1
        if last and prefill:
            if turn.server_tool_uses and not turn.text.strip():
                return Analysis(kind, document(kind), "server-continue", 0, turn.server_tool_uses)
            if turn.server_tool_uses:
                # Text after the searches: a prefill of the answer that followed them, which the
                # model continues (the searches are done).
                found = locate(doc, turn.text, cursor)
                return Analysis(
                    kind, document(kind), "prefill", cursor if found is None else found, turn.server_tool_uses
                )
            if turn.text:
                found = locate(doc, turn.text, cursor)
                return Analysis(kind, document(kind), "prefill", cursor if found is None else found)
        if turn.tool_use_ids:
            chain = False
            continue
        found = locate(doc, turn.text, cursor)
        chain = found is not None and bool(turn.text.strip())
        cursor = found if found is not None else cursor
    if turns and turns[-1].role == "assistant":
        # No prefill in this dialect (or an empty final assistant message): answer the prompt.
        return Analysis(kind, document(kind), "fresh", 0)
    if kind == "tool-followup":
        return Analysis(kind, document(kind), "tool-followup", 0)
    return Analysis(
        kind, document(kind), "continue" if is_continue else "fresh", cursor if is_continue else 0
    )


def document_for(turns: list[Turn], *, client_tools: bool = False, prefill: bool = True) -> Document:
    """The full document a conversation produces (what a finisher should end up with)."""
    return analyze(turns, client_tools=client_tools, prefill=prefill).document


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
