"""``stopwise diagnose``: explain a pasted LLM API failure log, offline.

Pipeline, each step a small module: :mod:`.extract` (pieces out of any noise) → :mod:`.facts`
(what the wire core reconstructs, and the numbers) → :mod:`.classify` (the categories of
brief/diagnosis.md) → :mod:`.explain` (summary, cause, fix, prevention in en, zh-CN, zh-TW) →
:mod:`.report` (JSON object and terminal report).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from .classify import CATEGORIES, Verdict, classify
from .explain import LANGS, Explanation, explain
from .extract import Extraction, extract
from .facts import Facts, gather
from .report import Diagnosis, clip, render

__all__ = [
    "CATEGORIES",
    "LANGS",
    "Diagnosis",
    "Explanation",
    "Extraction",
    "Facts",
    "Verdict",
    "classify",
    "diagnose",
    "explain",
    "extract",
    "gather",
    "render",
]


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """A long log parses into hundreds of thousands of small dicts, none of them cyclic;
    reference counting frees them all, while the cyclic collector would walk them again and
    again as they pile up (about a third of the time on a 10 MB log). The previous setting is
    restored whatever happens."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def diagnose(log: bytes | str, lang: str = "en") -> Diagnosis:
    """Diagnose one log (several files are simply concatenated by the caller)."""
    with _without_cyclic_gc():
        ex = extract(log)
        facts = gather(ex)
        verdict = classify(facts, ex)
        text = explain(facts, verdict, ex, lang)
    return Diagnosis(
        category=verdict.category,
        also=verdict.also,
        confidence=verdict.confidence,
        facts=facts.to_dict(),
        summary=text.summary,
        cause=text.cause,
        fix=text.fix,
        prevention=text.prevention,
        evidence=[clip(ex.text_of(n)) for n in verdict.evidence],
        evidence_lines=list(verdict.evidence),
        lang=lang,
    )
