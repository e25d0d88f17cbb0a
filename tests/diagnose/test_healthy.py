"""A log of an answer that went well names no failure: whatever fields a healthy response
carries (thinking, reasoning_tokens, web search ids, Azure's content filter results), and
whatever its answer says (an answer about SSE, HTTP statuses or stop reasons is content: text
inside a body's strings is never evidence about the transport)."""

from __future__ import annotations

import pprint
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
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
_HEAD = b"HTTP/1.1 200 OK\ncontent-type: application/json\n\n"


def _log(case: Case, azure: bool) -> bytes:
    if case.dialect == "anthropic":
        return b"".join(anthropic_reply(case.response, stream=False).chunks)
    doc: dict[str, Any] = dict(case.response)
    if azure:
        doc["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _AZURE_FILTER}]
        doc["choices"] = [{**c, "content_filter_results": _AZURE_FILTER} for c in doc["choices"]]
    return b"".join(openai_reply(doc, stream=False).chunks)


def _anthropic(text: str) -> dict[str, Any]:
    return {
        "id": "msg_00000000",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 20},
    }


def _openai(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-00000000",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
    }


def _responses(text: str) -> dict[str, Any]:
    return {
        "id": "resp_00000000",
        "object": "response",
        "status": "completed",
        "model": "gpt-4o",
        "output": [
            {
                "type": "message",
                "id": "msg_00000000",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30},
    }


_CUT_ANSWER = Case(
    dialect="openai",
    body={},
    response=_openai("the the the the the.\n\ndata: the the the the the the the the the the\n\nthe"),
    stream=False,
)


@PROPS
@given(
    st.one_of(
        anthropic_cases(stop_reasons=("end_turn",), at_cap=False),
        openai_cases(finishes=("stop",), at_cap=False),
    ),
    st.booleans(),
)
# Found by random runs: an answer with a `data:` line in it was read as a stream with a
# malformed line (and the empty stream as a thinking budget spent).
@example(_CUT_ANSWER, False)
@example(Case(dialect="anthropic", body={}, response=_anthropic("data: the"), stream=False), False)
def test_a_healthy_response_body_names_no_failure(case: Case, azure: bool) -> None:
    log = _log(case, azure)
    d = diagnose(_HEAD + log)
    assert d.category == "unknown", (d.category, d.also, orjson.loads(log))


# What an answer may say about APIs: every signal the diagnoser reads elsewhere in a log.
_ANSWERS = (
    "the.\n\ndata: the the\n\nthe",
    "data: the",
    "data:[DONE]",
    "retry: 1000",
    # A stream printed as one repr (with a line break of its own: an answer with no break but
    # escaped ones is read as escaped once more than the wire did, see facts._from_outcome).
    "b'event: ping\\ndata: {}\\n\\n'\n",
    'a\nevent: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n',
    '{"type":"message","role":"assistant","content":[],"stop_reason":"max_tokens","usage":{"output_tokens":4096}}',
    'An example: "stop_reason": "max_tokens", "output_tokens": 4096',
    "stop_reason: max_tokens",
    "finish_reason: length\noutput_tokens: 4096\nmax_tokens: 4096",
    "the server said HTTP 529, then HTTP/1.1 529 Overloaded",
    "status: 500",
    "anthropic.RateLimitError: Error code: 429 - rate limited",
    '{"error": {"type": "overloaded_error", "message": "Overloaded"}}',
    "prompt is too long: 210000 tokens > 200000 maximum",
    "<html><title>Attention Required! | Cloudflare</title></html>",
    "retry-after: 30\nx-ratelimit-remaining-requests: 0",
)
_BODIES = {"anthropic": _anthropic, "openai": _openai, "responses": _responses}


# How a body reaches a log: as the wire sends it, pretty-printed (curl, a logger's indent), after
# a logger's prefix, as the Python dict an SDK user printed, or pprint's (strings split, the
# first line holding a block).
_LAYOUTS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "compact": lambda b: _HEAD + orjson.dumps(b),
    "pretty": lambda b: _HEAD + orjson.dumps(b, option=orjson.OPT_INDENT_2),
    "prefixed": lambda b: b"2025-01-01 12:00:00 INFO response: " + orjson.dumps(b),
    "python": lambda b: f"response = {b!r}".encode(),
    "pprint": lambda b: f"response = {pprint.pformat(b, width=60)}".encode(),
}


@pytest.mark.parametrize("layout", sorted(_LAYOUTS))
@pytest.mark.parametrize("dialect", sorted(_BODIES))
@pytest.mark.parametrize("answer", _ANSWERS)
def test_what_a_healthy_answer_says_is_content(answer: str, dialect: str, layout: str) -> None:
    d = diagnose(_LAYOUTS[layout](_BODIES[dialect](answer)))
    assert d.category == "unknown", (d.category, d.also)
    assert d.also == []
    # Nor a fact: the numbers are the body's own.
    assert d.facts.get("status") in (None, 200)
    assert "requested_max_tokens" not in d.facts and "exception" not in d.facts
    assert d.facts["output_tokens"] == 20
    assert d.facts["text_chars"] == len(answer)


@given(st.sampled_from(_ANSWERS), st.text(max_size=40), st.sampled_from(sorted(_BODIES)), st.booleans())
@PROPS
# Found by random runs: a bracket in a pretty-printed answer closed the body early for the
# multi-line join, so the body was never read and its `data:` line was.
@example(_ANSWERS[0], "]", "anthropic", True)
@example(_ANSWERS[0], "}", "openai", True)
def test_a_healthy_answer_about_apis_names_no_failure(
    answer: str, noise: str, dialect: str, pretty: bool
) -> None:
    text = noise + answer + noise
    body = orjson.dumps(_BODIES[dialect](text), option=orjson.OPT_INDENT_2 if pretty else 0)
    d = diagnose(_HEAD + body)
    assert d.category == "unknown", (d.category, d.also, text)
