"""The real-log corpus (corpus/diagnose/): every item well-formed and sourced, and diagnose's
accuracy over it held where bench/diagnose_corpus.py measured it (docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from stopwise.diagnose import CATEGORIES

# The bench is the one place that knows the corpus's layout; loaded by path (bench/ is not a
# package on the test path).
_SPEC = importlib.util.spec_from_file_location(
    "bench_diagnose_corpus", Path(__file__).resolve().parents[2] / "bench" / "diagnose_corpus.py"
)
assert _SPEC is not None and _SPEC.loader is not None
diagnose_corpus = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_diagnose_corpus"] = diagnose_corpus
_SPEC.loader.exec_module(diagnose_corpus)

ITEMS = diagnose_corpus.load()
# Measured 85.9% right and 11.0% unknown (327 logs), 83.7% of the 49 held out (collected after
# the catalog was written, never tuned on). The floors leave room for a log or two added that
# we do not read yet, not for a regression. (They were 0.86 / 0.11 until field names a healthy
# response carries too became hints, d7b1a04+: a healthy body no longer reads as a failure
# (test_healthy.py), which cost 8 development logs that show nothing but such a field.)
ACCURACY_FLOOR = 0.85
UNKNOWN_CEILING = 0.12
HELD_OUT_FLOOR = 0.8
_KEY = re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}|sk-(?:proj-)?[A-Za-z0-9]{32,}|AKIA[0-9A-Z]{16}")


def test_the_corpus_is_big_enough_and_spread() -> None:
    assert len(ITEMS) >= 150
    assert sum(i.path.parent.name == diagnose_corpus.HELD_OUT for i in ITEMS) >= 40
    assert len({i.category for i in ITEMS}) >= 30
    assert len({i.id for i in ITEMS}) == len(ITEMS), "ids are unique"
    texts = [i.path.read_bytes() for i in ITEMS]
    assert len(set(texts)) == len(texts), "no log is in the corpus twice"


@pytest.mark.parametrize("item", ITEMS, ids=lambda i: i.id)
def test_every_item_is_real_sourced_and_labelled(item: Any) -> None:
    assert item.path.is_file()
    assert item.source.startswith("https://"), item.source
    assert item.category in CATEGORIES
    assert set(item.also) <= set(CATEGORIES)
    assert item.why.strip()
    text = item.path.read_text(encoding="utf-8", errors="replace")
    assert text.strip()
    assert not _KEY.search(text), "a log must not carry a key"


def test_accuracy_over_the_corpus_holds() -> None:
    fig = diagnose_corpus.figures(diagnose_corpus.run(ITEMS))
    assert fig["accuracy"] >= ACCURACY_FLOOR, fig["confusions"]
    assert fig["unknown"] <= UNKNOWN_CEILING, fig["confusions"]
    assert fig["held_out"] >= HELD_OUT_FLOOR
