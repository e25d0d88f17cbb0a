"""``--llm``: against a fake API on 127.0.0.1, never the network. The fake answers truncated
first, so the continuation loop is exercised; the key must never leak into output."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from stopwise.cli.diagnose import diagnose_cmd
from stopwise.diagnose.llm import LLMError, ask, config_from_env

KEY = "sk-test-SECRET-0123456789"
SEED = Path(__file__).resolve().parents[3] / "shared" / "examples" / "relay-truncation-report.txt"


class FakeAPI:
    """Replies from a script: each entry is (status, body)."""

    def __init__(self, script: list[tuple[int, dict[str, Any]]]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []


def _anthropic(text: str, stop: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }


def _openai(text: str, finish: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@pytest.fixture
def server() -> Iterator[tuple[str, FakeAPI]]:
    api = FakeAPI([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            api.requests.append(json.loads(self.rfile.read(length)))
            api.headers.append({k.lower(): v for k, v in self.headers.items()})
            status, body = (
                api.script.pop(0) if api.script else (500, {"error": {"message": "script ran out"}})
            )
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: object) -> None:  # keep test output quiet
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", api
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_anthropic_continues_a_truncated_explanation_by_prefill(server: tuple[str, FakeAPI]) -> None:
    url, api = server
    api.script = [
        (200, _anthropic("The relay capped the out", "max_tokens")),
        (200, _anthropic("put at 8192.", "end_turn")),
    ]
    cfg = config_from_env("claude-sonnet-4-5", {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url})
    out = ask(cfg, "system", "user")
    assert out["text"] == "The relay capped the output at 8192."
    assert out["rounds"] == 2 and out["complete"] and out["stop_reason"] == "end_turn"
    second = api.requests[1]["messages"]
    # Continued by prefill, through the finisher: exactly what arrived is sent back, and the
    # model goes on inside the cut word.
    assert second[-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The relay capped the out"}],
    }
    assert api.headers[0]["x-api-key"] == KEY and "anthropic-version" in api.headers[0]
    assert KEY not in repr(cfg)


def test_anthropic_falls_back_to_a_continue_turn_when_prefill_is_rejected(
    server: tuple[str, FakeAPI],
) -> None:
    url, api = server
    rejected = {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": (
                "This model does not support assistant message prefill. The conversation must end "
                "with a user message."
            ),
        },
    }
    api.script = [
        (200, _anthropic("First half of the", "max_tokens")),
        (400, rejected),
        (200, _anthropic("the answer.", "end_turn")),
    ]
    # A model the finisher's table does not know to reject prefill: it learns it from the 400.
    cfg = config_from_env("claude-opus-next", {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url})
    out = ask(cfg, "s", "u")
    assert out["complete"] and out["text"] == "First half of the answer."  # "the" was cut, so regenerated
    assert api.requests[1]["messages"][-1]["role"] == "assistant"  # the prefill that was rejected
    assert api.requests[2]["messages"][-1]["role"] == "user"  # then a continue turn


def test_openai_continue_turn_and_bounded_rounds(server: tuple[str, FakeAPI]) -> None:
    url, api = server
    api.script = [(200, _openai(f"part {i} and more", "length")) for i in range(10)]
    cfg = config_from_env("gpt-4o", {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": url})
    out = ask(cfg, "s", "u")
    assert out["rounds"] == cfg.max_rounds and not out["complete"]
    assert len(api.requests) == cfg.max_rounds
    assert api.headers[0]["authorization"] == f"Bearer {KEY}"
    assert api.requests[1]["messages"][-2]["role"] == "assistant"


def test_errors_never_show_the_key(server: tuple[str, FakeAPI]) -> None:
    url, api = server
    api.script = [
        (401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    ]
    cfg = config_from_env("claude-sonnet-4-5", {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url})
    with pytest.raises(LLMError) as info:
        ask(cfg, "s", "u")
    assert "401" in str(info.value) and KEY not in str(info.value)


def test_missing_key() -> None:
    with pytest.raises(LLMError, match="ANTHROPIC_API_KEY"):
        config_from_env("claude-sonnet-4-5", {})
    with pytest.raises(LLMError, match="OPENAI_API_KEY"):
        config_from_env("gpt-4o", {})


@pytest.mark.skipif(not SEED.exists(), reason="the shared seed report is not on this machine")
def test_cli_prints_the_model_explanation_beside_the_offline_one(server: tuple[str, FakeAPI]) -> None:
    url, api = server
    api.script = [(200, _anthropic("EXPERT VIEW: the relay default capped it.", "end_turn"))]
    env = {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": url}
    result = CliRunner().invoke(diagnose_cmd, ["--llm", "claude-sonnet-4-5", str(SEED)], env=env)
    assert result.exit_code == 0, result.output
    assert "Model-generated explanation" in result.output and "EXPERT VIEW" in result.output
    assert "truncated_max_tokens" in result.output and KEY not in result.output
    sent = api.requests[0]["messages"][0]["content"]
    assert '"truncated_max_tokens"' in sent and "SUM(" in sent  # facts and the log went along

    api.script = [(200, _anthropic("EXPERT VIEW", "end_turn"))]
    data = json.loads(
        CliRunner().invoke(diagnose_cmd, ["--json", "--llm", "claude-x", str(SEED)], env=env).output
    )
    assert data["llm"]["text"] == "EXPERT VIEW" and data["category"] == "truncated_max_tokens"


def test_cli_without_key_still_prints_the_offline_report(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("HTTP/1.1 529\n" + json.dumps({"type": "error", "error": {"type": "overloaded_error"}}))
    result = CliRunner().invoke(
        diagnose_cmd, ["--json", "--llm", "claude-x", str(log)], env={"ANTHROPIC_API_KEY": ""}
    )
    data = json.loads(result.output)
    assert data["category"] == "overloaded" and "ANTHROPIC_API_KEY" in data["llm"]["error"]
