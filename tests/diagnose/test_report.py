from __future__ import annotations

import io
import json

from rich.console import Console

from stopwise.diagnose import diagnose, render
from stopwise.diagnose.report import clip


def _render(log: str, lang: str = "en") -> str:
    buf = io.StringIO()
    render(diagnose(log, lang), Console(file=buf, width=120, color_system=None))
    return buf.getvalue()


def test_sections_and_markup_safety() -> None:
    # Square brackets in a log must print as they are, not be read as rich markup.
    log = 'data: {"choices":[{"index":0,"delta":{"content":"[bold]x[/bold]"},"finish_reason":"length"}]}\n'
    out = _render(log)
    for section in ("What happened", "Cause", "Fix", "Prevention", "Evidence", "Facts"):
        assert section in out
    assert "[bold]x[/bold]" in out and "truncated_length" in out


def test_unknown_report_renders() -> None:
    out = _render("nothing useful", "zh-TW")
    assert "unknown" in out and "證據" in out


def test_json_object_has_the_required_keys() -> None:
    d = diagnose(
        "HTTP/1.1 529\n" + json.dumps({"type": "error", "error": {"type": "overloaded_error"}})
    ).to_dict()
    for key in (
        "category",
        "also",
        "facts",
        "summary",
        "cause",
        "fix",
        "prevention",
        "confidence",
        "evidence",
    ):
        assert key in d
    assert d["evidence"] == [d["evidence"][0]] and d["evidence_lines"] == [2]


def test_clip() -> None:
    assert clip("x" * 10) == "x" * 10
    assert clip("x" * 5000).endswith("…[+3000 chars]")
