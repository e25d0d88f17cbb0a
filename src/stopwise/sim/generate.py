"""The deterministic model itself, dialect-free: a plan of blocks, cut by the request's limits.

:func:`plan` turns an :class:`~stopwise.sim.conversation.Analysis` into the blocks the model
would write with unlimited budget; :func:`generate` spends ``max_tokens`` on them in order
(thinking, server-tool iterations, text, tool call), honours stop sequences and forced stops,
and reports the stop reason in Anthropic's vocabulary. The dialect modules only render the
resulting :class:`Reply`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .behaviors import continuation_text
from .citations import CitedDocument, citation_for, reference, split_for_citations
from .conversation import Analysis
from .documents import tool_call_input
from .seeded import Seeded
from .tokenizer import tokenize, tokens_of

__all__ = [
    "Block",
    "Limits",
    "PlannedBlock",
    "Reply",
    "ServerTools",
    "generate",
    "plan",
    "redacted_data",
    "signature_for",
    "thinking_text",
]

#: Tokens per streamed delta, cycled: a deterministic stand-in for the uneven chunking of real
#: streams (a few tokens at a time, the first delta small).
_DELTA_SIZES = (1, 3, 2, 4, 2, 3)

_THOUGHTS = [
    "The user wants the {kind} document written out in full.",
    "I should keep the structure consistent from start to finish.",
    "Nothing needs to be looked up; the content is already settled.",
    "Long answers get cut, so every part must stand on its own.",
    "I will check that each section follows from the one before it.",
    "The formatting has to survive being joined back together.",
]


@dataclass(frozen=True)
class PlannedBlock:
    # thinking | redacted_thinking | text | tool_use | server_tool_use | web_search_tool_result
    type: str
    content: str = ""  # text, thinking (the hidden thinking of a redacted block), or input JSON
    id: str = ""
    name: str = ""
    results: tuple[dict[str, Any], ...] = ()
    # With citations on, every text block has a ``citations`` field: its citations, or ``()``
    # (rendered ``null``). ``None``: citations are off and the field is not sent.
    citations: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class ServerTools:
    """A server-tool loop: ``total`` searches wanted, at most ``per_request`` in one response."""

    total: int
    per_request: int


@dataclass
class Block:
    type: str
    pieces: list[str]  # what each streamed delta carries
    complete: bool
    tokens: int
    id: str = ""
    name: str = ""
    results: tuple[dict[str, Any], ...] = ()
    signature: str | None = None
    citations: tuple[dict[str, Any], ...] | None = None

    @property
    def content(self) -> str:
        return "".join(self.pieces)


@dataclass(frozen=True)
class Shapes:
    """The optional shapes of an answer (docs/sim.md): ``citations`` (the documents cited, or
    ``()`` for none), ``citation_location`` (``x-sim-citations`` without documents),
    ``tool_calls`` (calls in one turn), ``tool_names`` (the offered client tools, cycled),
    ``interleaved`` (thinking between text and a tool call), ``redacted`` (the first thinking
    block is a ``redacted_thinking`` block)."""

    citations: tuple[CitedDocument, ...] = ()
    citation_location: str | None = None
    tool_calls: int = 1
    tool_names: tuple[str, ...] = ()
    interleaved: bool = False
    redacted: bool = False


@dataclass(frozen=True)
class Limits:
    budget: int  # tokens the response may spend
    cap_reason: str = "max_tokens"  # the reason when ``budget`` runs out
    stop_sequences: tuple[str, ...] = ()
    forced_reason: str | None = None  # ``budget`` came from ``x-sim-stop``: always stop with this


@dataclass
class Reply:
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None = None
    output_tokens: int = 0
    thinking_tokens: int = 0
    searches: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def thinking_text(kind: str, tokens: int) -> str:
    """Deterministic reasoning of exactly ``tokens`` tokens (it may end inside a word)."""
    rng = Seeded(f"stopwise-sim:thinking:{kind}")
    parts: list[str] = []
    have = 0
    while have < tokens:
        sentence = rng.choice(_THOUGHTS).format(kind=kind)
        parts.append(sentence if not parts else " " + sentence)
        have += len(tokenize(parts[-1]))
    return "".join(tokenize("".join(parts))[:tokens])


def redacted_data(thinking: str) -> str:
    """The opaque ``data`` of a ``redacted_thinking`` block (what the API encrypts)."""
    digest = hashlib.sha256(b"stopwise-sim:redacted:" + thinking.encode()).digest()
    return base64.b64encode(digest * 6).decode()


def signature_for(thinking: str) -> str:
    """The signature of a complete thinking block; checked when the block is sent back."""
    digest = hashlib.sha256(b"stopwise-sim:signature:" + thinking.encode()).digest()
    return base64.b64encode(digest * 3).decode()


def plan(
    analysis: Analysis,
    *,
    behaviors: frozenset[str] = frozenset(),
    thinking_tokens: int | None = None,
    tool_name: str | None = None,
    tool_preface: bool = True,
    server_tools: ServerTools | None = None,
    new_id: Callable[[str], str] = lambda prefix: prefix + "0",
    tool_id_prefix: str = "toolu_01",
    shapes: Shapes = Shapes(),
) -> tuple[list[PlannedBlock], str]:
    """The blocks the model writes with unlimited budget, and the natural stop reason.
    ``new_id(prefix)`` makes block ids."""
    blocks: list[PlannedBlock] = []
    doc = analysis.document
    if thinking_tokens:
        thought = thinking_text(analysis.kind, thinking_tokens)
        blocks.append(PlannedBlock("redacted_thinking" if shapes.redacted else "thinking", thought))
    if server_tools is not None and analysis.mode in ("fresh", "server-continue"):
        done = analysis.prior_searches
        now = max(0, min(server_tools.total - done, server_tools.per_request))
        for i in range(done, done + now):
            sid = new_id("srvtoolu_01")
            query = json.dumps({"query": f"{analysis.kind} reference {i + 1}"})
            blocks.append(PlannedBlock("server_tool_use", query, sid, "web_search"))
            blocks.append(PlannedBlock("web_search_tool_result", "", sid, results=_search_results(i)))
        if done + now < server_tools.total:
            return blocks, "pause_turn"
    if analysis.mode == "continue":
        text = continuation_text(doc.text, analysis.cursor, behaviors)
    else:
        text = doc.text[analysis.cursor :]
    if doc.tool_input is not None and tool_name is not None:
        if tool_preface:
            blocks.extend(_text_blocks(text, analysis, shapes))
        if shapes.interleaved and thinking_tokens:
            # Interleaved thinking: the model thinks again between what it says and the call.
            between = thinking_text(f"{analysis.kind}:before-tool", max(1, thinking_tokens // 4))
            blocks.append(PlannedBlock("thinking", between))
        if shapes.tool_calls > 1:
            names = shapes.tool_names or (tool_name,)
            for k in range(shapes.tool_calls):
                tid = new_id(tool_id_prefix)
                blocks.append(PlannedBlock("tool_use", tool_call_input(k), tid, names[k % len(names)]))
        else:
            tid = new_id(tool_id_prefix)
            blocks.append(PlannedBlock("tool_use", doc.tool_input, tid, tool_name))
        return blocks, "tool_use"
    blocks.extend(_text_blocks(text, analysis, shapes))
    return blocks, "end_turn"


def _text_blocks(text: str, analysis: Analysis, shapes: Shapes) -> list[PlannedBlock]:
    documents = shapes.citations
    if not documents and shapes.citation_location is not None:
        documents = (reference(shapes.citation_location, analysis.kind, analysis.document.text),)
    if not documents:
        return [PlannedBlock("text", text)]
    out: list[PlannedBlock] = []
    cited = 0
    for part, has_citation in split_for_citations(text):
        citations: tuple[dict[str, Any], ...] = ()
        if has_citation:
            citations = (citation_for(documents, cited),)
            cited += 1
        out.append(PlannedBlock("text", part, citations=citations))
    return out or [PlannedBlock("text", text, citations=())]


def generate(blocks: list[PlannedBlock], natural_stop: str, limits: Limits) -> Reply:
    remaining = limits.budget
    out: list[Block] = []
    stop: str | None = None
    stop_sequence: str | None = None
    for spec in blocks:
        if spec.type == "web_search_tool_result":
            # Search results are input to the model, not output: they cost no output tokens.
            out.append(Block(spec.type, [], True, 0, spec.id, results=spec.results))
            continue
        if remaining <= 0:
            stop = limits.cap_reason
            break
        tokens: Sequence[str] = tokens_of(spec.content)
        matched = None
        if spec.type == "text" and limits.stop_sequences:
            tokens, matched = _cut_at_stop_sequence(spec.content, tokens, limits.stop_sequences)
        taken = tokens[:remaining]
        complete = len(taken) == len(tokens)
        if spec.type == "redacted_thinking" and not complete:
            # A redacted block is sent whole or not at all.
            stop = limits.cap_reason
            remaining = 0
            break
        remaining -= len(taken)
        block = Block(spec.type, _group(taken), complete, len(taken), spec.id, spec.name)
        block.citations = spec.citations
        if spec.type == "thinking" and complete:
            block.signature = signature_for(block.content)
        if spec.type == "redacted_thinking":
            block.signature = redacted_data(spec.content)
        out.append(block)
        if not complete:
            stop = limits.cap_reason
            break
        if matched is not None:
            stop, stop_sequence = "stop_sequence", matched
            break
    if stop is None:
        # The end-of-turn token needs budget too: an answer that fills max_tokens exactly was
        # still cut, as with a real model.
        stop = limits.cap_reason if remaining <= 0 and out else natural_stop
    if limits.forced_reason is not None and stop != "stop_sequence":
        stop = limits.forced_reason
    if not out or (stop == "refusal" and out[-1].type != "text"):
        # A refusal before any output still opens an (empty) text block, as the real API does.
        out.append(Block("text", [], True, 0))
    return Reply(
        out,
        stop,
        stop_sequence,
        output_tokens=sum(b.tokens for b in out),
        thinking_tokens=sum(b.tokens for b in out if b.type in ("thinking", "redacted_thinking")),
        searches=sum(1 for b in out if b.type == "server_tool_use"),
    )


def _cut_at_stop_sequence(
    text: str, tokens: Sequence[str], sequences: tuple[str, ...]
) -> tuple[Sequence[str], str | None]:
    best: tuple[int, str] | None = None
    for seq in sequences:
        pos = text.find(seq) if seq else -1
        if pos >= 0 and (best is None or pos < best[0]):
            best = (pos, seq)
    if best is None:
        return tokens, None
    pos, seq = best
    kept: list[str] = []
    used = 0
    for token in tokens:
        if used + len(token) >= pos:
            if pos > used:
                kept.append(token[: pos - used])
            break
        kept.append(token)
        used += len(token)
    return kept, seq


def _group(tokens: Sequence[str]) -> list[str]:
    pieces: list[str] = []
    i = 0
    n = 0
    while i < len(tokens):
        size = _DELTA_SIZES[n % len(_DELTA_SIZES)]
        pieces.append("".join(tokens[i : i + size]))
        i += size
        n += 1
    return pieces


def _search_results(i: int) -> tuple[dict[str, Any], ...]:
    return tuple(
        {
            "type": "web_search_result",
            "title": f"Harbour records, volume {i + 1}.{j + 1}",
            "url": f"https://example.com/records/{i + 1}/{j + 1}",
            "encrypted_content": base64.b64encode(f"stopwise-sim result {i}.{j}".encode()).decode(),
            "page_age": "1 week ago",
        }
        for j in range(2)
    )
