"""Citations: what a text answer cites, in the Messages API's three location types.

A request turns citations on with document blocks that say ``citations: {"enabled": true}``
(``text`` sources cite ``char_location``s, PDF sources ``page_location``s, ``content`` sources
``content_block_location``s), or with the sim knob ``x-sim-citations: char|page|content``, which
cites a reference built from the answer's own document. The answer is then split into text
blocks the way the API splits it: each paragraph is a block with one citation, and the blank
lines between paragraphs are blocks of their own without one (``citations: null``). Joined, the
blocks are the same text as without citations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

__all__ = ["LOCATIONS", "CitedDocument", "citation_for", "documents_in", "reference", "split_for_citations"]

#: ``x-sim-citations`` values and the location type each cites.
LOCATIONS = {"char": "char_location", "page": "page_location", "content": "content_block_location"}

_SENTENCE = re.compile(r"[^\s.!?。！？][^.!?。！？\n]*[.!?。！？]?")
_PARAGRAPH_BREAK = re.compile(r"(\n\n+)")
_PDF_PAGES = 5


@dataclass(frozen=True)
class CitedDocument:
    """One citable document: its position among the request's documents, its title, the
    location type it is cited with, and its citable units (sentences with their character
    offsets, pages or content blocks)."""

    index: int
    title: str | None
    location: str
    units: tuple[str, ...]
    offsets: tuple[int, ...] = ()


def split_for_citations(text: str) -> list[tuple[str, bool]]:
    """The answer's text blocks with citations on: ``(text, cited)``, paragraphs cited and the
    paragraph breaks between them not. ``"".join`` of the texts is ``text``."""
    out: list[tuple[str, bool]] = []
    for i, part in enumerate(_PARAGRAPH_BREAK.split(text)):
        if part:
            out.append((part, i % 2 == 0 and bool(part.strip())))
    return out


def citation_for(documents: Sequence[CitedDocument], n: int) -> dict[str, Any]:
    """The citation of the answer's ``n``-th cited block: the documents in turn, each one's
    units in order."""
    doc = documents[n % len(documents)]
    unit = (n // len(documents)) % len(doc.units)
    out: dict[str, Any] = {
        "type": doc.location,
        "cited_text": doc.units[unit],
        "document_index": doc.index,
        "document_title": doc.title,
    }
    if doc.location == "char_location":
        start = doc.offsets[unit]
        out |= {"start_char_index": start, "end_char_index": start + len(doc.units[unit])}
    elif doc.location == "page_location":
        out |= {"start_page_number": unit + 1, "end_page_number": unit + 2}
    else:
        out |= {"start_block_index": unit, "end_block_index": unit + 1}
    return out


@cache
def _char_document(index: int, title: str | None, text: str) -> CitedDocument:
    matches = list(_SENTENCE.finditer(text))
    if not matches:
        return CitedDocument(index, title, "char_location", (text,), (0,))
    units = tuple(m.group(0) for m in matches)
    return CitedDocument(index, title, "char_location", units, tuple(m.start() for m in matches))


def _pages(text: str) -> tuple[str, ...]:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return tuple(paragraphs[:_PDF_PAGES]) or ("",)


def reference(location: str, kind: str, text: str) -> CitedDocument:
    """The document ``x-sim-citations`` cites when the request has none: the answer's own
    document, titled after its kind."""
    title = f"The {kind} reference"
    if location == "char_location":
        return _char_document(0, title, text)
    units = _pages(text)
    return CitedDocument(0, title, location, units)


def documents_in(messages: Sequence[Any]) -> tuple[CitedDocument, ...]:
    """The request's document blocks that enable citations, numbered as the API numbers them
    (every document block counts, cited or not)."""
    out: list[CitedDocument] = []
    index = 0
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list):
            continue
        for block in content:
            if not isinstance(block, dict) or block.get("type") != "document":
                continue
            doc = _document(index, block)
            index += 1
            if doc is not None:
                out.append(doc)
    return tuple(out)


def _document(index: int, block: dict[str, Any]) -> CitedDocument | None:
    citations = block.get("citations")
    if not (isinstance(citations, dict) and citations.get("enabled") is True):
        return None
    title = block.get("title") if isinstance(block.get("title"), str) else None
    raw = block.get("source")
    source: dict[str, Any] = raw if isinstance(raw, dict) else {}
    kind = source.get("type")
    if kind == "text" and isinstance(source.get("data"), str):
        return _char_document(index, title, source["data"])
    if kind == "content" and isinstance(source.get("content"), list):
        texts = tuple(
            str(b.get("text", ""))
            for b in source["content"]
            if isinstance(b, dict) and b.get("type") == "text"
        )
        return CitedDocument(index, title, "content_block_location", texts or ("",))
    # A PDF (base64, url or file): the simulator cannot read it; its pages hold the prose
    # document's first paragraphs.
    from .documents import document

    return CitedDocument(index, title, "page_location", _pages(document("prose").text))
