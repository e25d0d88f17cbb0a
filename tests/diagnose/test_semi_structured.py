"""What people paste outside whole JSON: facts written as `key: value` / `key=value`, and JSON a
terminal wrapped over several indented lines. Properties over generated spellings."""

from __future__ import annotations

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stopwise.diagnose import diagnose, extract, gather

SEPARATORS = st.sampled_from([": ", "=", " = ", ":", " : ", '": "', "': '"])
REASONS = st.sampled_from(["max_tokens", "end_turn", "length", "stop", "tool_use", "refusal"])


@settings(max_examples=150, deadline=None)
@given(
    REASONS,
    SEPARATORS,
    st.integers(1, 200_000),
    st.sampled_from(["output_tokens", "Output tokens"]),
    st.sampled_from(["stop_reason", "finish_reason", "stopReason"]),
    st.sampled_from([" | ", ", ", "\n", "  "]),
)
def test_key_value_facts_are_read_in_any_spelling(
    reason: str, sep: str, tokens: int, out_key: str, stop_key: str, joint: str
) -> None:
    log = f"2026-11-30 12:00:01 INFO HTTP 200{joint}{stop_key}{sep}{reason}{joint}{out_key}{sep}{tokens}\n"
    f = gather(extract(log))
    assert f.stop_raw == reason
    assert f.output_tokens == tokens


def test_of_gives_the_cap() -> None:
    f = gather(
        extract("Model claude-3-5-sonnet-20240620 has hit a token limit!\nOutput tokens: 3220 of 4096\n")
    )
    assert (f.output_tokens, f.cap) == (3220, 4096)


_ERR = st.fixed_dictionaries(
    {
        "type": st.just("error"),
        "error": st.fixed_dictionaries(
            {
                "type": st.sampled_from(
                    ["overloaded_error", "api_error", "rate_limit_error", "invalid_request_error"]
                ),
                "message": st.text(
                    st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'),
                    min_size=3,
                    max_size=120,
                ),
            }
        ),
        "request_id": st.from_regex(r"req_011[A-Za-z0-9]{20}", fullmatch=True),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    _ERR,
    st.integers(30, 120),
    st.integers(0, 8),
    st.sampled_from(["API Error: 529 ", "Error: 400 ", "⎿ API Error: 500 ", ""]),
)
# Found by a random run: the wrap fell just after a "[" inside the message, so the line ended
# like pretty-printed JSON opening, and was joined as that (with line breaks) and never parsed.
@example(
    {
        "type": "error",
        "error": {"message": "[00", "type": "overloaded_error"},
        "request_id": "req_01100000000000000000000",
    },
    54,
    0,
    "⎿ API Error: 500 ",
)
def test_json_a_terminal_wrapped_is_read_whole(err: dict, width: int, indent: int, prefix: str) -> None:
    line = prefix + orjson.dumps(err).decode()
    wrapped = [line[i : i + width] for i in range(0, len(line), width)]
    log = "\n".join([wrapped[0], *(" " * indent + w for w in wrapped[1:])]) + "\n"
    f = gather(extract(log))
    assert f.error_type == err["error"]["type"]
    assert f.request_id == err["request_id"]
    # The message may have lost or gained a space where the wrap fell: never more than that.
    assert f.error_message is not None
    assert f.error_message.replace(" ", "") == err["error"]["message"].replace(" ", "")
    if err["error"]["type"] != "invalid_request_error":  # a 400 with any text fits no category
        assert diagnose(log).category != "unknown"


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 999_999), st.integers(1, 999_999), st.sampled_from(["\t", "   "]))
def test_a_client_usage_table_gives_its_first_row(inp: int, out: int, sep: str) -> None:
    # aider's usage log, as pasted: a header naming the columns, the newest request first.
    header = sep.join(["Time (CDT)", "Model", "Model latency", "Input Tokens", "Output Tokens", "Type"])
    row = sep.join(
        ["Aug 30, 2024, 9:15 AM", "claude-3-5-sonnet-20240620", "103.99", str(inp), str(out), "HTTP"]
    )
    older = sep.join(["Aug 30, 2024, 9:14 AM", "claude-3-5-sonnet-20240620", "98.93", "1", "2", "HTTP"])
    f = gather(extract("\n".join([header, row, older]) + "\n"))
    assert (f.input_tokens, f.output_tokens, f.model) == (inp, out, "claude-3-5-sonnet-20240620")
