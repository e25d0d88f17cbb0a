"""The seed report end to end through the CLI: the facts, the category, and an expert's
explanation, in JSON and in all three languages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from stopwise.cli.diagnose import diagnose_cmd

SEED = Path(__file__).resolve().parents[3] / "shared" / "examples" / "relay-truncation-report.txt"
pytestmark = pytest.mark.skipif(not SEED.exists(), reason="the shared seed report is not on this machine")


def run(*args: str, stdin: bytes | None = None) -> str:
    result = CliRunner().invoke(diagnose_cmd, list(args), input=stdin, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_seed_json_facts() -> None:
    d = json.loads(run("--json", str(SEED)))
    assert d["category"] == "truncated_max_tokens"
    assert {"gateway_default_max_tokens", "relay_stop_reason_mismapped"} <= set(d["also"])
    f = d["facts"]
    assert f["stop_raw"] == "max_tokens"
    assert f["output_tokens"] == 8192
    assert f["input_tokens"] == 25185
    assert f["model"] == "claude-opus-4-20250514"
    assert f["dialect"] == "openai"
    assert f["cap"] == 8192 and f["cap_source"] == "relay_default" and f["cap_default_of"] == ["new-api"]
    assert f["cut_in"] == "sql"
    assert f["text_tail"].endswith("SUM(")
    relay = " ".join(f["relay"])
    assert "msg_014i21AGDwm3iv3dnkPFXeSd" in relay and "claude-opus-4" in relay and '"max_tokens"' in relay
    assert 0.9 <= d["confidence"] <= 1.0
    seed_lines = SEED.read_text("utf-8").split("\n")
    assert d["evidence"] and all(line in seed_lines for line in d["evidence"])
    assert any('"finish_reason":"max_tokens"' in line for line in d["evidence"])
    assert any('"completion_tokens":8192' in line for line in d["evidence"])


def test_seed_explanation_is_the_experts() -> None:
    d = json.loads(run("--json", str(SEED)))
    assert "8192" in d["summary"] and "25185" in d["summary"] and "SQL" in d["summary"]
    assert "new-api" in d["cause"] and "8192" in d["cause"]
    assert '"max_tokens" is not an OpenAI finish reason' in d["cause"]
    assert '"length"' in d["cause"] and "unusable" in d["cause"]
    assert "explicit max_tokens" in d["fix"] and "stopwise continue" in d["fix"]
    assert "32000" in d["fix"]  # the model's own ceiling, not a vague "increase it"
    assert '"length" and "max_tokens"' in d["prevention"] and "missing finish reason" in d["prevention"]
    assert "output tokens" in d["prevention"]


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["What happened", "Cause", "Fix", "Prevention", "Evidence", "new-api"]),
        ("zh-CN", ["发生了什么", "原因", "解决办法", "预防措施", "证据", "中转服务", "截断", "SQL"]),
        ("zh-TW", ["發生了什麼", "原因", "解決方法", "預防措施", "證據", "中繼服務", "令牌", "截斷", "回應"]),
    ],
)
def test_seed_report_in_each_language(lang: str, words: list[str]) -> None:
    out = run("--lang", lang, str(SEED))
    for word in words:
        assert word in out, word
    # Facts and category names are never translated.
    assert "truncated_max_tokens" in out and "gateway_default_max_tokens" in out and "8192" in out


@pytest.mark.parametrize("lang", ["zh-CN", "zh-TW"])
def test_seed_json_chinese_keeps_facts(lang: str) -> None:
    en = json.loads(run("--json", str(SEED)))
    zh = json.loads(run("--json", "--lang", lang, str(SEED)))
    assert zh["facts"] == en["facts"] and zh["category"] == en["category"] and zh["also"] == en["also"]
    assert zh["summary"] != en["summary"] and "8192" in zh["summary"] and "25185" in zh["summary"]
    if lang == "zh-TW":
        assert "个" not in zh["summary"] and "令牌" in zh["summary"]
    else:
        assert "個" not in zh["summary"]


def test_seed_from_stdin_and_dash() -> None:
    data = SEED.read_bytes()
    assert json.loads(run("--json", stdin=data))["category"] == "truncated_max_tokens"
    assert json.loads(run("--json", "-", stdin=data))["category"] == "truncated_max_tokens"
