from __future__ import annotations

import pytest

from stopwise.diagnose.cut import cut_context, tail_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("empty", None)),
        ("   \n", ("empty", None)),
        ("Here:\n```python\ndef f():\n    return", ("code_fence", "python")),
        ("```\nplain fence", ("code_fence", None)),
        ("```sql\nSELECT a", ("sql", "sql")),
        (",\n SUM(", ("sql", None)),
        ("SELECT region, COUNT(*)\nFROM sales\nWHERE", ("sql", None)),
        ("SELECT 1;", ("prose_sentence_end", None)),
        ("| a | b |\n|---|---|\n| 1 |", ("table", None)),
        ('Result: {"items": [{"id": 1, "name": "x', ("json", None)),
        ("The history of Rome is", ("prose", None)),
        ("The end.", ("prose_sentence_end", None)),
        ("```python\nx = 1\n```\nAnd then", ("prose", None)),
        ("好的，我们来看", ("prose", None)),
        ("结束。", ("prose_sentence_end", None)),
    ],
)
def test_cut_context(text: str, expected: tuple[str, str | None]) -> None:
    assert cut_context(text) == expected


def test_tail_is_one_line() -> None:
    assert tail_of("abc\ndef") == "abc\\ndef"
    assert tail_of("0123456789", 4) == "6789"
    assert "\n" not in tail_of("x\n" * 100)
