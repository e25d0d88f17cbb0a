"""Extraction out of noise, and fuzzing: whatever the input, no exception and a valid report."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from written_logs import openai_stream

from stopwise.diagnose import CATEGORIES, diagnose, extract

CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "choices": [{"index": 0, "delta": {"content": 'say "hi"\n'}, "finish_reason": None}],
}


def test_data_line_raw_prefixed_and_quoted() -> None:
    line = "data: " + json.dumps(CHUNK)
    for text in (line, f"2025-01-01 12:00:00 DEBUG {line}", f"Line 7: {line!r}", f"Line 7: '{line}'"):
        ex = extract(text)
        assert [d.obj for d in ex.data] == [CHUNK], text


def test_repr_with_doubled_backslashes_reads_one_level_down() -> None:
    line = "data: " + json.dumps(CHUNK)
    ex = extract(f"Line 9: {line!r}")  # repr doubles every backslash of the JSON escapes
    assert ex.data[0].obj == CHUNK and ex.data[0].label == "9"


def test_whole_stream_as_one_bytes_repr() -> None:
    stream = f"event: x\ndata: {json.dumps(CHUNK)}\n\ndata: [DONE]\n\n".encode()
    ex = extract(f"DEBUG body={stream!r}")
    assert [d.obj for d in ex.data] == [CHUNK] and ex.done == [1]


def test_sse_inside_a_json_log_record() -> None:
    record = json.dumps({"level": "debug", "body": f"data: {json.dumps(CHUNK)}\n\ndata: [DONE]\n\n"})
    ex = extract(record)
    assert [d.obj for d in ex.data] == [CHUNK] and ex.done == [1]


def test_python_literal_from_sdk_traceback() -> None:
    body = {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "It's busy"},
        "request_id": None,
    }
    ex = extract(f"anthropic.RateLimitError: Error code: 429 - {body!r}")
    assert ex.objects[0].obj == body
    assert ex.signals.statuses == [(1, 429)]
    assert ex.signals.exceptions[0][1] == "anthropic.RateLimitError"


def test_json_escaped_inside_a_string() -> None:
    inner = {"error": {"message": "bad", "type": "invalid_request_error", "code": None}}
    ex = extract(json.dumps({"msg": "upstream said: " + json.dumps(inner)}))
    assert inner in [o.obj for o in ex.objects]
    ex = extract("relay error " + json.dumps(json.dumps(inner))[1:-1])  # a bare escaped body in text
    assert inner in [o.obj for o in ex.objects]


def test_pretty_printed_json_over_lines() -> None:
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ex = extract("HTTP/1.1 529\n\nbody:\n" + json.dumps(body, indent=2) + "\nend")
    assert body in [o.obj for o in ex.objects]


def test_headers_statuses_and_html() -> None:
    text = (
        "< HTTP/2 429\n< retry-after: 30\n< anthropic-ratelimit-tokens-remaining: 0\n< request-id: req_1\n"
        "<html><title>Just a moment...</title></html>"
    )
    sig = extract(text).signals
    assert sig.statuses == [(1, 429)]
    assert sig.headers["retry-after"] == (2, "30") and sig.headers["request-id"] == (4, "req_1")
    assert sig.html == [5] and sig.html_title == "Just a moment..." and sig.cdn


def test_done_without_space_and_elided_lines() -> None:
    ex = extract('data:[DONE]\ndata: {"id":"x","object":"chat.completion...\ndata: not json')
    assert ex.done == [1] and ex.done_nospace == [1]
    assert ex.truncated_data == [2] and ex.bad_data == [3]


def test_line_ends_and_bom() -> None:
    ex = extract(b"\xef\xbb\xbfdata: " + json.dumps(CHUNK).encode() + b"\r\n\r\ndata: [DONE]\r")
    assert [d.obj for d in ex.data] == [CHUNK] and ex.done == [3]


def _valid(data: bytes | str) -> None:
    d = diagnose(data)
    assert d.category in CATEGORIES
    assert 0.0 <= d.confidence <= 1.0
    assert isinstance(d.summary, str) and d.summary
    json.dumps(d.to_dict())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data: bytes) -> None:
    _valid(data)


_PIECES = st.sampled_from(
    [
        "data: ",
        "data:",
        "event: error\n",
        "{",
        "}",
        "[",
        "]",
        '"',
        "'",
        "\\",
        "\\n",
        "\\\\",
        "\n",
        "\n\n",
        "\r",
        '{"type":"error","error":{"type":"overloaded_error"',
        '"choices":[{"delta":{"content":"x"}',
        '"finish_reason":"length"',
        "[DONE]",
        "Line 3: '",
        "HTTP/1.1 429",
        "retry-after: x",
        "Error code: 5",
        "<html>",
        "b'",
        "\x00",
        "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "é",
        "漢",
        '{"message_start"',
        "content_block_delta",
        "\u2028",
        "Traceback",
        "openai.LengthFinishReasonError: ",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_PIECES, max_size=60))
def test_fuzz_log_shaped_noise(pieces: list[str]) -> None:
    _valid("".join(pieces))


@settings(max_examples=30, deadline=None)
@given(st.text(max_size=300), st.integers(min_value=0, max_value=400))
def test_fuzz_truncated_json(prefix: str, cut: int) -> None:
    line = "data: " + json.dumps(CHUNK) + "\n" + json.dumps({"error": {"message": prefix, "type": "x"}})
    _valid(line[:cut])
    _valid(prefix + line[cut:])


def test_invalid_utf8_and_huge_line() -> None:
    _valid(b"\xff\xfe\xc3(" * 1000 + b"\ndata: \xff{\n")
    _valid("x" * 3_000_000)
    _valid("{" * 200_000)
    _valid("data: " + "[" * 100_000)
    _valid('{"a":' * 50_000 + "1" + "}" * 50_000)
    _valid("Error code: 400 - " + "{'a': " * 5000 + "1" + "}" * 5000)
    _valid("HTTPError" * 200_000)
    _valid("\\" * 1_000_000 + "data: " + "\\n" * 100_000)


def test_huge_line_evidence_is_clipped() -> None:
    line = "data: " + json.dumps({**CHUNK, "pad": "x" * 100_000})
    d = diagnose(line + "\n")
    assert all(len(e) < 3000 for e in d.evidence)


def test_constant_logger_line_labels_do_not_merge_events() -> None:
    stream = openai_stream(["one ", "two ", "three"], "length", usage=(5, 3))
    log = "\n".join(f"worker.py line 88: {ln}" for ln in stream.split("\n") if ln)
    d = diagnose(log)
    assert d.category == "truncated_length" and d.facts["text_tail"] == "one two three"


def test_words_ending_in_data_are_not_sse_fields() -> None:
    body = {"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}}
    ex = extract(f"request metadata: none; prevent: x; response 401 body={json.dumps(body)}")
    assert ex.data == [] and ex.bad_data == [] and [o.obj for o in ex.objects] == [body]


def test_blank_strings_empties_values_and_keeps_keys_numbers_and_lines() -> None:
    from stopwise.diagnose._scan import blank_strings

    assert blank_strings('{"text": "HTTP 529", "n": 4096, "k": {"a\\"b": "c\\"d"}}') == (
        '{"text": "", "n": 4096, "k": {"a\\"b": ""}}'
    )
    assert blank_strings("{'text': 'it\\'s', 'x': \"it's\"}") == "{'text': '', 'x': \"\"}"
    assert blank_strings('{"t": "a\nb"}').count("\n") == 1  # a wrapped string keeps its break
    assert blank_strings('{"t": "unterminated') == '{"t": ""'


def test_a_pretty_printed_body_with_brackets_in_its_strings_is_read_whole() -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "] } ) data: the"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }
    ex = extract("HTTP/1.1 200 OK\n\n" + json.dumps(body, indent=2) + "\nafter: 1")
    assert [f.obj for f in ex.objects] == [body]
    assert ex.data == [] and ex.bad_data == []
    # The scan reads the body's keys, not its answer; the log after it as it is.
    assert "data:" not in ex.scan_text and '"text": ""' in ex.scan_text
    assert ex.scan_lines[-1] == "after: 1"
