"""The diagnosis as one JSON-ready object, and as a rich terminal report.

Log text is rendered as plain :class:`rich.text.Text`, never as markup: a pasted log is full of
square brackets that rich would otherwise read as style tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .explain import texts_for

__all__ = ["Diagnosis", "render"]

_MAX_EVIDENCE_CHARS = 2000  # a 10 MB single-line log must not be echoed whole


def clip(line: str) -> str:
    if len(line) <= _MAX_EVIDENCE_CHARS:
        return line
    return f"{line[:_MAX_EVIDENCE_CHARS]} …[+{len(line) - _MAX_EVIDENCE_CHARS} chars]"


@dataclass(slots=True)
class Diagnosis:
    category: str
    also: list[str]
    confidence: float
    facts: dict[str, Any]
    summary: str
    cause: str
    fix: str
    prevention: str
    evidence: list[str]
    evidence_lines: list[int]
    lang: str = "en"
    llm: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "category": self.category,
            "also": list(self.also),
            "confidence": self.confidence,
            "facts": self.facts,
            "summary": self.summary,
            "cause": self.cause,
            "fix": self.fix,
            "prevention": self.prevention,
            "evidence": list(self.evidence),
            "evidence_lines": list(self.evidence_lines),
            "lang": self.lang,
        }
        if self.llm is not None:
            out["llm"] = self.llm
        return out


def render(d: Diagnosis, console: Console) -> None:
    labels: dict[str, str] = texts_for(d.lang).LABELS
    head = Text()
    head.append(f"{labels['category']}: ", style="bold")
    head.append(d.category, style="bold red" if d.category != "unknown" else "bold yellow")
    head.append(f"   {labels['confidence']}: {d.confidence:.2f}")
    if d.also:
        head.append(f"\n{labels['also']}: ", style="bold")
        head.append(", ".join(d.also))
    parts: list[Any] = [head]
    for key, body in (("what", d.summary), ("cause", d.cause), ("fix", d.fix), ("prevention", d.prevention)):
        parts.append(Text(f"\n{labels[key]}", style="bold cyan"))
        parts.append(Text(body))
    if d.facts:
        parts.append(Text(f"\n{labels['facts']}", style="bold cyan"))
        table = Table(show_header=False, box=None, padding=(0, 1))
        table.add_column(style="dim")
        table.add_column()
        for name, value in d.facts.items():
            shown = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            table.add_row(name, Text(shown))
        parts.append(table)
    parts.append(Text(f"\n{labels['evidence']}", style="bold cyan"))
    if d.evidence:
        for no, line in zip(d.evidence_lines, d.evidence, strict=False):
            row = Text(f"{no:>6} │ ", style="dim")
            row.append(line)
            parts.append(row)
    else:
        parts.append(Text(labels["none"], style="dim"))
    console.print(Panel(Group(*parts), title="stopwise diagnose", title_align="left"))
    if d.llm is not None:
        answer = Text(str(d.llm.get("text") or ""))
        note = Text(
            f"{d.llm.get('model')} · {d.llm.get('rounds')} round(s) · stop {d.llm.get('stop_reason')}",
            style="dim",
        )
        console.print(
            Panel(Group(answer, note), title=labels["llm"], title_align="left", border_style="magenta")
        )
