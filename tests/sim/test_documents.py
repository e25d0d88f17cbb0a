from __future__ import annotations

import json

import pytest

from stopwise.sim import KINDS, count_tokens, document, full_document


@pytest.mark.parametrize("kind", KINDS)
def test_every_document_is_several_thousand_tokens(kind: str) -> None:
    assert count_tokens(full_document(kind)) > 2000


def test_documents_are_stable() -> None:
    # The finisher's tests and benchmarks depend on these exact texts: a change here is a
    # change of the simulator's contract, so it must be deliberate.
    assert full_document("prose").startswith("Our oldest map records the colours of the winter sky")
    assert [len(full_document(k)) for k in KINDS] == [13183, 34882, 19158, 15676, 6333, 8545]


def test_structures() -> None:
    assert json.loads(full_document("json"))["catalog"]["items"]
    assert json.loads(full_document("tool"))["sections"]
    code = full_document("code")
    fences = [line for line in code.split("\n") if line.startswith("```")]
    assert len(fences) % 2 == 0 and len(fences) >= 20 and fences[0] == "```python"
    rows = [line for line in full_document("table").split("\n") if line.startswith("|")]
    assert len({row.count("|") for row in rows}) == 1 and len(rows) > 100
    assert "\n\n" in full_document("cjk") and "。" in full_document("cjk")


def test_tool_document_has_a_preface_and_an_input() -> None:
    doc = document("tool")
    assert doc.text and doc.tool_input == full_document("tool")


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown document kind"):
        full_document("poem")


@pytest.mark.parametrize("kind", KINDS)
def test_no_immediate_repeats(kind: str) -> None:
    # A run of words followed by the same run would look like a model repeating itself at a
    # seam; the documents must never contain one, so seam repair can be measured exactly.
    doc = full_document(kind)
    unit = list(doc) if kind == "cjk" else doc.split()
    for n in range(2 if kind != "cjk" else 4, 12):
        assert not any(unit[i : i + n] == unit[i + n : i + 2 * n] for i in range(len(unit) - 2 * n))
