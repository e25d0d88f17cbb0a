"""``stopwise diagnose`` on OpenAI Responses logs: the real recordings of
tests/fixtures/responses, cut and ended in the ways no recording shows (incomplete, failed,
error events; hand-written from the API reference's event shapes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stopwise.diagnose import LANGS, diagnose, extract, gather

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "responses"
TEXT_TURN = (FIXTURES / "text_after_tool_result.sse").read_text()
HEAD = TEXT_TURN[: TEXT_TURN.index("event: response.completed")]  # everything but the terminal event
RESP_ID = "resp_67e554a28b608191a2a8f1b2bb9cf38206c52f0e511c76ed"


def terminal(kind: str, **response: Any) -> str:
    event = {"type": kind, "response": {"id": RESP_ID, "object": "response", "model": "gpt-4o", **response}}
    return f"event: {kind}\ndata: {json.dumps(event)}\n\n"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.sse")), ids=lambda p: p.name)
def test_a_healthy_recording_is_not_a_failure(path: Path) -> None:
    d = diagnose(path.read_text())
    assert d.category == "unknown"  # nothing the categories cover went wrong
    assert d.facts["dialect"] == "responses"
    assert d.facts["state"] == "complete"
    assert d.facts["stream_terminated"] is True
    assert 'stop reason "completed" (state complete)' in d.summary


def test_a_cut_recording_is_an_interrupted_stream() -> None:
    d = diagnose(TEXT_TURN[: TEXT_TURN.index("event: response.output_text.done")])
    assert d.category == "stream_interrupted"
    assert d.facts["state"] == "interrupted"
    assert d.facts["output_tokens_estimated"] is True
    assert "response.completed" in d.cause  # the Responses terminal events, not message_stop / [DONE]


def test_incomplete_max_output_tokens_stream_is_a_length_truncation() -> None:
    log = HEAD + terminal(
        "response.incomplete",
        status="incomplete",
        incomplete_details={"reason": "max_output_tokens"},
        output=[],
        usage={"input_tokens": 278, "output_tokens": 9},
    )
    d = diagnose(log)
    assert d.category == "truncated_length"
    assert (d.facts["stop_raw"], d.facts["stop_normalized"], d.facts["state"]) == (
        "max_output_tokens",
        "max_tokens",
        "truncated",
    )
    assert "max_output_tokens" in d.summary and "max_output_tokens" in d.fix
    assert 'incomplete_details.reason "max_output_tokens"' in d.summary


def test_incomplete_body_with_its_request_cap() -> None:
    request = {
        "model": "gpt-4.1",
        "input": [{"role": "user", "content": "Write a long essay"}],
        "max_output_tokens": 2048,
    }
    body = {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4.1",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {
                "type": "message",
                "content": [{"type": "output_text", "text": "The first part of the essay and"}],
            }
        ],
        "usage": {
            "input_tokens": 20,
            "output_tokens": 2048,
            "output_tokens_details": {"reasoning_tokens": 1500},
        },
    }
    log = f"request: {json.dumps(request)}\nresponse: {json.dumps(body)}\n"
    assert gather(extract(log)).stream is False
    d = diagnose(log)
    assert d.category == "truncated_length"
    assert "OpenAI Responses format" in d.summary
    assert (d.facts["cap"], d.facts["cap_source"]) == (2048, "request")
    assert d.facts["reasoning_tokens"] == 1500


def test_content_filter_incomplete() -> None:
    log = HEAD + terminal(
        "response.incomplete", status="incomplete", incomplete_details={"reason": "content_filter"}, output=[]
    )
    d = diagnose(log)
    assert d.category == "content_filter"
    assert d.facts["stop_raw"] == "content_filter"


def test_response_failed_mid_stream() -> None:
    log = HEAD + terminal(
        "response.failed",
        status="failed",
        error={"code": "server_error", "message": "The server had an error."},
        output=[],
    )
    d = diagnose(log)
    assert d.category == "api_internal_error"
    assert (d.facts["state"], d.facts["error_type"], d.facts["error_code"]) == (
        "failed",
        "api_error",
        "server_error",
    )
    assert d.facts["mid_stream_error"] is True


def test_error_event_mid_stream() -> None:
    error = {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "Rate limit reached",
        "param": None,
        "sequence_number": 9,
    }
    d = diagnose(HEAD + f"event: error\ndata: {json.dumps(error)}\n\n")
    assert d.category == "rate_limited"
    assert d.facts["dialect"] == "responses"
    assert d.facts["state"] == "failed"
    assert d.facts["error_code"] == "rate_limit_exceeded"


def test_two_responses_in_one_log_are_two_streams() -> None:
    first = (FIXTURES / "function_call.sse").read_text()
    f = gather(extract(first + TEXT_TURN))
    assert f.streams == 2
    assert f.earlier_stops == ["completed"]
    assert f.outcome is not None and f.outcome.text == "The capital of France is Paris."


@pytest.mark.parametrize("lang", sorted(LANGS))
def test_responses_texts_in_every_language(lang: str) -> None:
    log = HEAD + terminal(
        "response.incomplete",
        status="incomplete",
        incomplete_details={"reason": "max_output_tokens"},
        output=[],
    )
    d = diagnose(log, lang)
    assert "max_output_tokens" in d.summary and "max_output_tokens" in d.fix
