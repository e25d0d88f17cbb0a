"""Generated request-log rows, as a gateway writes them: what the log tests of both databases
draw from."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

__all__ = ["log_rows"]

# NUL included: both logs store it as U+FFFD (PostgreSQL's text refuses it; SQLite's
# json_extract would end the string there).
_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
_REASONS = st.sampled_from([None, "end_turn", "max_tokens", "length", "stop", "tool_use", "pause_turn"])


@st.composite
def log_rows(draw: st.DrawFn) -> dict[str, Any]:
    """A row as a gateway writes one, with every column drawn: what the two databases must
    answer alike. Times share a few prefixes, so that time filters and buckets bite."""
    import orjson

    def js(value: Any) -> str | None:
        return None if value is None else orjson.dumps(value).decode()

    reasons = draw(st.lists(_REASONS, max_size=4))
    finisher = draw(st.booleans())
    hour = draw(st.sampled_from(["2026-12-01T18", "2026-12-01T19", "2026-12-02T07"]))
    minute = draw(st.integers(0, 59))
    rounds = [
        {"mode": "continue", "input_tokens": draw(st.integers(0, 5000)), "output_tokens": 10} for _ in reasons
    ]
    return {
        "time": f"{hour}:{minute:02d}:00.000+00:00",
        "method": "POST",
        "route": draw(st.sampled_from(["/v1/messages", "/v1/chat/completions", "/v1/responses"])),
        "dialect": draw(st.sampled_from(["anthropic", "openai", "responses", None])),
        "model": draw(st.one_of(st.none(), st.sampled_from(["claude-haiku-4-5", "gpt-4o"]), _TEXT)),
        "upstream": None,
        "stream": draw(st.integers(0, 1)),
        "status": draw(st.sampled_from([200, 400, 429, 499, 500, 529, None])),
        "rounds": len(reasons) if finisher else None,
        "modes": js(["fresh"] * len(reasons)) if finisher else None,
        "stop_reasons": js(reasons) if finisher else None,
        "stop_reason": reasons[-1] if finisher and reasons else None,
        "stop_reason_normalized": draw(st.sampled_from([None, "end_turn", "max_tokens"])),
        "state": draw(st.sampled_from(["complete", "truncated", "interrupted", "failed", "paused"]))
        if finisher
        else None,
        "retries": draw(st.integers(0, 3)) if finisher else None,
        "rescued": draw(st.integers(0, 1)),
        "input_tokens": draw(st.one_of(st.none(), st.integers(0, 10**6))),
        "output_tokens": draw(st.one_of(st.none(), st.integers(0, 10**6))),
        "cache_creation_input_tokens": draw(st.one_of(st.none(), st.integers(0, 1000))),
        "cache_read_input_tokens": draw(st.one_of(st.none(), st.integers(0, 1000))),
        "usage_reported": js(draw(st.one_of(st.none(), st.just({"input_tokens": 3})))),
        "usage_estimated": None,
        "ttfb_ms": draw(st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False))),
        "latency_ms": draw(st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False))),
        "error_type": draw(st.one_of(st.none(), st.sampled_from(["overloaded_error", "gateway_shutdown"]))),
        "cancelled": draw(st.integers(0, 1)),
        "request_ids": js(draw(st.lists(_TEXT, max_size=2))),
        "request_body": draw(st.one_of(st.none(), _TEXT)),
        "response_body": None,
        "round_details": js(rounds) if finisher else None,
        "notes": js(draw(st.lists(_TEXT, max_size=2))) if finisher else None,
        "replica": draw(st.sampled_from(["gw-1", "gw-2"])),
        "uid": draw(st.uuids()).hex,
    }
