"""What a cut text was in the middle of: a code fence (and its language), SQL, JSON, a table,
or prose. The answer decides whether the partial text is usable as it is."""

from __future__ import annotations

import re

__all__ = ["cut_context", "tail_of"]

_FENCE = re.compile(r"^[ \t]{0,3}(```|~~~)[ \t]*([\w+#.-]{0,30})", re.M)
_SQL = re.compile(
    r"\b(?:SELECT|FROM|WHERE|JOIN|GROUP BY|ORDER BY|HAVING|INSERT INTO|UPDATE|DELETE FROM|CREATE TABLE|"
    r"UNION|VALUES)\b|\b(?:SUM|COUNT|AVG|MIN|MAX|COALESCE|CAST)\(\s*$"
)
_SENTENCE_END = (".", "!", "?", ";", "。", "！", "？", "…", ")", '"', "”", ":", "：")


def tail_of(text: str, limit: int = 60) -> str:
    """The last characters before the cut, on one line, for a report."""
    tail = text[-limit:]
    return tail.replace("\n", "\\n")


def cut_context(text: str) -> tuple[str, str | None]:
    """``(kind, detail)``: kind is one of code_fence, sql, json, table, prose, empty;
    detail is the fence language when known."""
    if not text.strip():
        return "empty", None
    fences = _FENCE.findall(text)
    if len(fences) % 2 == 1:
        lang = fences[-1][1].lower() or None
        if lang in ("sql", "postgresql", "mysql", "sqlite", "plsql", "tsql"):
            return "sql", lang
        return "code_fence", lang
    tail = text[-400:]
    last_lines = [ln for ln in tail.split("\n") if ln.strip()][-4:]
    stripped = tail.rstrip()
    if any(_SQL.search(ln) for ln in last_lines) and not stripped.endswith(";"):
        return "sql", None
    if last_lines and last_lines[-1].lstrip().startswith("|"):
        return "table", None
    if _open_json(text[-20000:]):
        return "json", None
    if stripped.endswith(_SENTENCE_END):
        return "prose_sentence_end", None
    return "prose", None


def _open_json(text: str) -> bool:
    """True when the text starts a JSON value that never closes (a rough bracket count)."""
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return False
    body = text[start:]
    opened = body.count("{") + body.count("[")
    closed = body.count("}") + body.count("]")
    return opened > closed and '"' in body
