"""docs/diagnose.md shows the command's current --help and lists every category."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from stopwise.cli import main
from stopwise.diagnose import CATEGORIES

DOC = Path(__file__).resolve().parents[2] / "docs" / "diagnose.md"


def test_help_in_docs_is_current() -> None:
    result = CliRunner().invoke(main, ["diagnose", "--help"], prog_name="stopwise", terminal_width=80)
    assert result.exit_code == 0
    assert result.output.strip() in DOC.read_text("utf-8")


def test_every_category_documented() -> None:
    text = DOC.read_text("utf-8")
    for category in CATEGORIES:
        assert f"| `{category}` |" in text, category
