"""Every category, from logs written from the documented texts and shapes, in several wrappings."""

from __future__ import annotations

import pytest
from diagnose_cases import CASES, Case

from stopwise.diagnose import CATEGORIES, diagnose


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_category(case: Case) -> None:
    d = diagnose(case.log)
    assert d.category == case.category, (d.category, d.also, d.facts)
    assert 0.0 <= d.confidence <= 1.0
    if case.category != "unknown":
        assert d.confidence >= 0.5
        assert d.evidence, "a diagnosis must quote the lines it relies on"
    for line in d.evidence:
        assert line in case.log.split("\n") or line.endswith("chars]")


def test_every_category_has_cases() -> None:
    covered = {c.category for c in CASES}
    assert set(CATEGORIES) - covered == set()
