"""``stopwise inspect FILE|-``: the report and ``--json`` on the conformance corpus, the team's
fixtures and the seed example, through click's CliRunner."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from stopwise.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SHARED = ROOT.parent / "shared"
CONFORMANCE = SHARED / "conformance"
SEED = SHARED / "examples" / "relay-truncation-report.txt"

needs_conformance = pytest.mark.skipif(
    not CONFORMANCE.is_dir(), reason="no ../shared/conformance (CI has it)"
)
needs_seed = pytest.mark.skipif(not SEED.is_file(), reason="no ../shared/examples seed report")


def conformance_files() -> list[Path]:
    if not CONFORMANCE.is_dir():
        return []
    return sorted([*CONFORMANCE.glob("anthropic/*.sse"), *CONFORMANCE.glob("openai/*.sse")])


def invoke(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(main, ["inspect", *args], input=input)


def inspect_json(*args: str, input: bytes | None = None) -> dict[str, Any]:
    result = invoke("--json", *args, input=input)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def _expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CONFORMANCE / "expected" / "sdk_accumulated.json").read_text())
    return data


@needs_conformance
@pytest.mark.parametrize("path", conformance_files(), ids=lambda p: p.name)
def test_json_on_every_conformance_file(path: Path) -> None:
    out = inspect_json(str(path))
    expected = _expected()[path.name]
    for key in ("dialect", "state", "stop_reason", "text", "content", "usage"):
        assert key in out, key
    assert set(out["stop_reason"]) == {"raw", "normalized"}
    if path.parent.name == "anthropic":
        assert out["dialect"] == "anthropic"
        assert out["stop_reason"]["raw"] == expected["stop_reason"]
        assert out["text"] == "".join(b["text"] for b in expected["content"] if b["type"] == "text")
        assert [b["type"] for b in out["content"]] == [b["type"] for b in expected["content"]]
        assert "choices" not in out
        state = {
            "incomplete_partial_json_response.sse": "truncated",
            "out_of_order_response.sse": "interrupted",
        }
        assert out["state"] == state.get(path.name, "complete")
    else:
        assert out["dialect"] == "openai"
        assert out["stop_reason"]["raw"] == expected["choices"][0]["finish_reason"]
        assert out["text"] == (expected["choices"][0]["content"] or "")
        assert len(out["choices"]) == len(expected["choices"])
        for got, want in zip(out["choices"], expected["choices"], strict=True):
            assert got["stop_reason"]["raw"] == want["finish_reason"]
            assert got["text"] == (want["content"] or "")
            for key in ("state", "content", "usage"):
                assert key in got
        assert out["usage"]["output_tokens"] == expected["usage"]["completion_tokens"]
        assert out["state"] == (
            "truncated" if expected["choices"][0]["finish_reason"] == "length" else "complete"
        )


@needs_conformance
@pytest.mark.parametrize("path", conformance_files(), ids=lambda p: p.name)
def test_report_on_every_conformance_file(path: Path) -> None:
    result = invoke(str(path))
    assert result.exit_code == 0, result.output
    out = inspect_json(str(path))
    assert re.search(rf"state\s+{out['state']}", result.output)
    assert re.search(rf"dialect\s+{out['dialect']}", result.output)
    raw = out["stop_reason"]["raw"]
    assert f"{raw!r} -> {out['stop_reason']['normalized']}" in result.output
    assert f"output {out['usage']['output_tokens']}" in result.output


def seed_capture() -> bytes:
    """The seed report's data lines: its `Line N: '...'` log prefixes stripped and the doubled
    backslashes of Python's repr un-doubled. The first section quotes them whole."""
    section = SEED.read_text(encoding="utf-8").split("🚨", 1)[1].split("🤖", 1)[0]
    lines = [m.group(1) for m in re.finditer(r"^Line \d+: '(.*)'$", section, re.MULTILINE)]
    assert len(lines) == 4
    return "".join(line.replace("\\\\", "\\") + "\n\n" for line in lines).encode()


@needs_seed
def test_seed_example() -> None:
    out = inspect_json("-", input=seed_capture())
    assert out["dialect"] == "openai"
    assert out["state"] == "truncated"
    assert out["stop_reason"] == {"raw": "max_tokens", "normalized": "max_tokens"}
    assert out["usage"]["output_tokens"] == 8192
    assert out["usage"]["input_tokens"] == 25185
    assert out["text"] == ",\\n SUM("
    assert out["model"] == "claude-opus-4-20250514"
    assert any("msg_014i21AGDwm3iv3dnkPFXeSd" in sign for sign in out["relay"])


@needs_seed
def test_seed_example_report_shows_the_relay() -> None:
    result = invoke("-", input=seed_capture())
    assert result.exit_code == 0, result.output
    assert "truncated" in result.output
    assert "'max_tokens' -> max_tokens" in result.output
    assert "input 25185, output 8192" in result.output
    assert "relay" in result.output


def test_stdin_is_the_default_and_dash() -> None:
    raw = (FIXTURES / "anthropic" / "thinking.sse").read_bytes()
    for args in (("--json", "-"), ("--json",)):
        result = CliRunner().invoke(main, ["inspect", *args], input=raw)
        assert result.exit_code == 0, result.output
        out = json.loads(result.output)
        assert (out["dialect"], out["state"], out["text"]) == ("anthropic", "complete", "2 + 2 = 4.")
        assert out["content"][0]["type"] == "thinking"


def test_report_shows_blocks_reasons_and_estimates() -> None:
    result = invoke(str(FIXTURES / "anthropic" / "cut_mid_tool_json.sse"))
    assert result.exit_code == 0, result.output
    assert "interrupted" in result.output
    assert "block 1: tool_use" in result.output
    assert "never stopped" in result.output
    assert "(estimated: output_tokens)" in result.output


def test_report_of_a_midstream_error() -> None:
    result = invoke(str(FIXTURES / "anthropic" / "overloaded_midstream.sse"))
    assert result.exit_code == 0, result.output
    assert "failed" in result.output
    assert "200 overloaded_error: Overloaded" in result.output


def test_report_of_n_choices() -> None:
    result = invoke(str(FIXTURES / "openai" / "n2_interleaved.sse"))
    assert result.exit_code == 0, result.output
    assert "choice 1: truncated" in result.output
    assert "Tails, again" in result.output


def test_max_tokens_option() -> None:
    path = str(FIXTURES / "openai" / "stop.sse")
    assert inspect_json(path)["state"] == "complete"
    assert inspect_json("--max-tokens", "9", path)["state"] == "truncated"


def test_json_body_capture() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    out = inspect_json("-", input=json.dumps(body).encode())
    assert (out["dialect"], out["state"], out["text"]) == ("openai", "truncated", "hi")
    assert out["choices"][0]["stop_reason"] == {"raw": "length", "normalized": "max_tokens"}


@pytest.mark.parametrize(
    "raw",
    [b'{"hello": "world"}', b"event: update\ndata: 42\n\n", b"plain text, not a capture\n", b""],
    ids=["json", "sse", "text", "empty"],
)
def test_neither_dialect_is_a_clean_error(raw: bytes) -> None:
    result = invoke("--json", "-", input=raw)
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a traceback


def test_oversized_event_is_a_clean_error() -> None:
    raw = b"data: " + b"x" * (16 * 1024 * 1024 + 10)  # past the decoder's 16 MiB bound
    result = invoke("-", input=raw)
    assert result.exit_code == 1
    assert "Error:" in result.output
    assert isinstance(result.exception, SystemExit)


def test_missing_file() -> None:
    result = invoke("/nonexistent/capture.sse")
    assert result.exit_code == 2
    assert "no such file" in result.output.lower()


# --- the Responses dialect, on the real recordings of tests/fixtures/responses ---------------

RESPONSES = sorted((FIXTURES / "responses").glob("*.sse"))


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.name)
def test_json_on_every_responses_recording(path: Path) -> None:
    out = inspect_json(str(path))
    assert out["dialect"] == "responses"
    assert out["state"] == "complete"
    assert out["stop_reason"]["raw"] == "completed"
    assert out["id"].startswith("resp_")
    assert out["usage"]["estimated"] == []


def test_report_of_a_responses_stream_with_reasoning_and_hosted_tools() -> None:
    result = invoke(str(FIXTURES / "responses" / "reasoning_code_interpreter.sse"))
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # the table wraps to the terminal's width
    assert re.search(r"dialect\s+responses", out)
    assert "'completed' -> end" in out
    assert "cache read 3200" in out and "reasoning 128" in out
    assert "block 0: thinking" in out and "block 1: code_interpreter_call" in out
    assert "123456^123" in out


def test_report_of_a_cut_responses_stream() -> None:
    raw = (FIXTURES / "responses" / "function_call.sse").read_bytes()
    cut = raw[: raw.index(b"event: response.function_call_arguments.done")]
    out = inspect_json(input=cut)
    assert out["state"] == "interrupted"
    assert out["stop_reason"] == {"raw": None, "normalized": "missing"}
    assert out["tool_json"] == {"0": '{"country":"France"}'}
    assert "stream ended before response.completed" in out["reasons"]
    assert out["usage"]["estimated"] == ["output_tokens"]


def test_responses_body_capture() -> None:
    out = inspect_json(str(FIXTURES / "responses" / "body_output_text.json"))
    assert out["dialect"] == "responses"
    assert out["state"] == "complete"
    assert out["text"].startswith("I can't provide real-time updates")
    incomplete = json.dumps(
        {
            "object": "response",
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "output": [{"type": "message", "content": [{"type": "output_text", "text": "Half"}]}],
            "usage": {"input_tokens": 5, "output_tokens": 64},
        }
    ).encode()
    out = inspect_json(input=incomplete)
    assert out["state"] == "truncated"
    assert out["stop_reason"] == {"raw": "max_output_tokens", "normalized": "max_tokens"}
