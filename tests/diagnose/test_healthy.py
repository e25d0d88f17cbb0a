"""A log of an answer that went well names no failure: whatever fields a healthy response
carries (thinking, reasoning_tokens, web search ids, Azure's content filter results)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.diagnose import diagnose
from stopwise.testing.render import anthropic_reply, openai_reply
from stopwise.testing.strategies import Case, anthropic_cases, openai_cases

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_AZURE_FILTER = {
    "hate": {"filtered": False, "severity": "safe"},
    "jailbreak": {"filtered": False, "detected": False},
    "self_harm": {"filtered": False, "severity": "safe"},
}


def _log(case: Case, azure: bool) -> bytes:
    if case.dialect == "anthropic":
        return b"".join(anthropic_reply(case.response, stream=False).chunks)
    doc: dict[str, Any] = dict(case.response)
    if azure:
        doc["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _AZURE_FILTER}]
        doc["choices"] = [{**c, "content_filter_results": _AZURE_FILTER} for c in doc["choices"]]
    return b"".join(openai_reply(doc, stream=False).chunks)


@PROPS
@given(
    st.one_of(
        anthropic_cases(stop_reasons=("end_turn",), at_cap=False),
        openai_cases(finishes=("stop",), at_cap=False),
    ),
    st.booleans(),
)
def test_a_healthy_response_body_names_no_failure(case: Case, azure: bool) -> None:
    log = _log(case, azure)
    d = diagnose(b"HTTP/1.1 200 OK\ncontent-type: application/json\n\n" + log)
    assert d.category == "unknown", (d.category, d.also, orjson.loads(log))
