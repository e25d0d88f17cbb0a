"""The key facts, each from the line it came from."""

from __future__ import annotations

import json

from written_logs import anthropic_error, anthropic_stream, error_wrappings, openai_stream, sse

from stopwise.diagnose import Facts, extract, gather


def facts_of(text: str) -> Facts:
    return gather(extract(text))


def test_anthropic_tail_without_message_start_is_reconstructed() -> None:
    full = anthropic_stream([("text", ["Hello ", "wor"])], "max_tokens", output_tokens=64)
    tail = full[full.index("event: content_block_delta") :]
    f = facts_of(tail)
    assert f.log_cut_at_start and f.stop_raw == "max_tokens" and f.output_tokens == 64
    assert f.outcome is not None and f.outcome.text == "Hello wor" and f.state == "truncated"


def test_requested_max_tokens_is_the_cap() -> None:
    req = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 300, "messages": []})
    f = facts_of(f"request: {req}\n" + anthropic_stream([("text", ["a b"])], "max_tokens", output_tokens=300))
    assert (f.cap, f.cap_source, f.requested_max_tokens) == (300, "request", 300)
    assert f.lines["requested_max_tokens"] == 1


def test_cap_equal_to_model_ceiling() -> None:
    f = facts_of(
        anthropic_stream(
            [("text", ["a"])], "max_tokens", output_tokens=8192, model="claude-3-5-haiku-20241022"
        )
    )
    assert (f.cap, f.cap_source, f.model_ceiling, f.cap_default_of) == (8192, "model_ceiling", 8192, [])


def test_relay_default_needs_a_relay() -> None:
    direct = facts_of(anthropic_stream([("text", ["a"])], "max_tokens", output_tokens=4096))
    assert direct.cap is None and direct.cap_source is None
    behind = facts_of(
        "2025-09-10 INFO one-api: relaying\n"
        + anthropic_stream([("text", ["a"])], "max_tokens", output_tokens=4096)
    )
    assert (behind.cap, behind.cap_source, behind.gateways) == (4096, "relay_default", ["one-api"])
    same_as_ceiling = facts_of(
        openai_stream(["x"], "max_tokens", usage=(5, 8192), model="claude-3-5-sonnet-20241022", ident="msg_1")
    )
    assert same_as_ceiling.cap_source == "model_ceiling" and same_as_ceiling.cap_default_of == ["new-api"]


def test_ceiling_from_the_400_text() -> None:
    log = error_wrappings(
        400,
        anthropic_error(
            "invalid_request_error",
            "max_tokens: 128001 > 128000, which is the maximum allowed number of output tokens for claude-x",
        ),
    )["raw"]
    f = facts_of(log)
    assert f.model_ceiling == 128000 and f.status == 400 and f.error_type == "invalid_request_error"


def test_error_status_headers_and_ids() -> None:
    log = error_wrappings(
        429,
        anthropic_error("rate_limit_error", "slow down"),
        {"retry-after": "12", "anthropic-ratelimit-requests-remaining": "0"},
    )
    for wrapping, text in log.items():
        f = facts_of(text)
        assert f.status == 429 and f.error_type == "rate_limit_error", wrapping
        assert f.request_id == "req_011CSHoEeqs5C35K2UUqR7Fy", wrapping
        assert f.retry_after == 12.0, wrapping
        assert f.rate_limit == {"anthropic-ratelimit-requests-remaining": "0"}, wrapping


def test_retry_after_ms_wins() -> None:
    f = facts_of("HTTP/1.1 429 Too Many Requests\nretry-after-ms: 1500\nretry-after: 2\n\n{}")
    assert f.retry_after == 1.5


def test_mid_stream_error_event() -> None:
    log = anthropic_stream(
        [("text", ["partial"])],
        None,
        terminal=False,
        tail_events=sse(
            "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        ),
    )
    f = facts_of(log)
    assert f.mid_stream_error and f.error_type == "overloaded_error" and f.status == 200
    assert f.outcome is not None and f.outcome.text == "partial"


def test_openai_relay_facts_and_usage() -> None:
    f = facts_of(
        openai_stream(["x"], "max_tokens", usage=(10, 4096), model="claude-3-7-sonnet", ident="msg_01X")
    )
    assert f.relay and f.stop_raw == "max_tokens" and f.stop_normalized == "max_tokens"
    assert (f.input_tokens, f.output_tokens, f.cap, f.cap_default_of) == (
        10,
        4096,
        4096,
        ["one-api", "LiteLLM"],
    )


def test_second_response_in_the_log_is_diagnosed() -> None:
    first = openai_stream(["done"], "stop", ident="chatcmpl-1")
    second = openai_stream(["cut"], "length", ident="chatcmpl-2")
    f = facts_of(first + second)
    assert f.streams == 2 and f.stop_raw == "length" and f.earlier_stops == ["stop"]


def test_html_error_page() -> None:
    f = facts_of(
        "HTTP/1.1 403 Forbidden\ncf-ray: 1-SJC\n\n<html><title>Attention Required! | Cloudflare</title>"
    )
    assert f.status == 403 and f.html_title == "Attention Required! | Cloudflare" and f.cdn_markers


def test_to_dict_drops_unknowns() -> None:
    d = facts_of("nothing here").to_dict()
    assert d == {}
