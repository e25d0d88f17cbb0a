"""The recorded SDK streams of ../shared/conformance, diagnosed: complete ones are not failures
(``unknown``), the cut and refused ones are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from stopwise.diagnose import diagnose

ROOT = Path(__file__).resolve().parents[3] / "shared" / "conformance"
pytestmark = [
    pytest.mark.conformance,
    pytest.mark.skipif(not ROOT.exists(), reason="no shared conformance corpus"),
]

EXPECTED = {
    "anthropic/basic_response.sse": "unknown",
    "anthropic/tool_use_response.sse": "unknown",
    "anthropic/incomplete_partial_json_response.sse": "truncated_tool_use",
    "anthropic/refusal_response.sse": "refusal",
    "anthropic/out_of_order_response.sse": "stream_interrupted",
    "openai/length_max_tokens_reached__4cc50a6135d2.sse": "truncated_length",
    "openai/refusal_stop__173417d55340.sse": "refusal",
    "openai/plain_text_stop__e2aad469b71d.sse": "unknown",
    "openai/tool_calls_parallel_two__f82268f2fefd.sse": "unknown",
}


@pytest.mark.parametrize(("name", "category"), sorted(EXPECTED.items()))
def test_recorded_stream(name: str, category: str) -> None:
    assert diagnose((ROOT / name).read_bytes()).category == category


def test_every_recorded_file_diagnoses() -> None:
    for path in sorted(ROOT.rglob("*")):
        if path.is_file() and path.suffix in (".sse", ".json"):
            assert diagnose(path.read_bytes()).category, path
