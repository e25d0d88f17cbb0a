"""``stopwise logs`` and ``stopwise stats`` on a request log written by the gateway's writer."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from stopwise.cli import main
from stopwise.finisher import Report, RoundReport
from stopwise.gateway.log import RequestLog
from stopwise.gateway.record import Exchange
from stopwise.outcome import State, Usage


def exchange(
    model: str, reasons: list[str], state: str, *, status: int = 200, error: str | None = None
) -> Exchange:
    ex = Exchange("POST", "/v1/messages", dialect="anthropic", model=model, status=status, error_type=error)
    rounds = tuple(
        RoundReport(mode, reason, State.COMPLETE, 100)
        for mode, reason in zip(["initial"] + ["prefill"] * (len(reasons) - 1), reasons, strict=False)
    )
    usage = Usage(input_tokens=10, output_tokens=100 * len(reasons))
    ex.observe(Report("anthropic", model, False, rounds, State(state), 1 if error else 0, usage, error=error))
    ex.ttfb, ex.latency = 0.01, 0.02
    return ex


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.db"
    log = RequestLog(path)
    log.open()
    for ex in (
        exchange("claude-haiku-4-5", ["max_tokens", "max_tokens", "end_turn"], "complete"),
        exchange("claude-haiku-4-5", ["end_turn"], "complete"),
        exchange("gpt-4o", ["length", "stop"], "complete"),
        exchange("gpt-4o", ["max_tokens"], "truncated"),
        exchange("claude-opus-4-6", [], "failed", status=529, error="overloaded_error"),
    ):
        log.submit(ex.row())
    log.submit(Exchange("POST", "/v1/messages", status=400, error_type="invalid_json").row())
    log.close()
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"STOPWISE_CONFIG": None, "STOPWISE_LOG_PATH": None})
    assert result.exit_code == 0, result.output
    return result.output


def test_logs_json_newest_first_with_filters(log_path: Path) -> None:
    rows = orjson.loads(run("logs", "--json", "--path", str(log_path)))
    assert len(rows) == 6 and rows[0]["error_type"] == "invalid_json"
    assert (
        rows[-1]["stop_reasons"] == ["max_tokens", "max_tokens", "end_turn"] and rows[-1]["rescued"] is True
    )
    assert "request_body" not in rows[0]
    gpt = orjson.loads(run("logs", "--json", "--path", str(log_path), "--model", "gpt-4o"))
    assert [r["stop_reason"] for r in gpt] == ["max_tokens", "stop"]
    truncated = orjson.loads(run("logs", "--json", "--path", str(log_path), "--state", "truncated"))
    assert [r["model"] for r in truncated] == ["gpt-4o"]
    # A stop reason matches raw or normalized: "end" is end_turn and stop.
    ends = orjson.loads(run("logs", "--json", "--path", str(log_path), "--stop-reason", "end"))
    assert len(ends) == 3
    assert len(orjson.loads(run("logs", "--json", "--path", str(log_path), "-n", "2"))) == 2


def test_logs_table(log_path: Path) -> None:
    out = run("logs", "--path", str(log_path))
    assert "claude-haiku-4-5" in out and "overloaded_error" in out and "max_tokens×2,end_turn" in out
    assert "replica" not in out  # one gateway's own log: no replica column


def test_stats(log_path: Path) -> None:
    s = orjson.loads(run("stats", "--json", "--path", str(log_path)))
    assert s["requests"] == 6 and s["finisher_requests"] == 5
    assert s["stop_reasons"]["final"] == {"end_turn": 2, "stop": 1, "max_tokens": 1, "none": 1}
    assert s["stop_reasons"]["per_round"]["max_tokens"] == 3
    assert s["truncations_rescued"] == 2 and s["truncated_returned"] == 1
    assert s["rounds"]["total"] == 7 and s["rounds"]["max"] == 3
    tokens = {t["model"]: t["output_tokens"] for t in s["tokens_by_model"]}
    assert tokens == {"claude-haiku-4-5": 400, "gpt-4o": 300, "claude-opus-4-6": 0}
    assert s["errors"]["failed"] == 2 and s["errors"]["rate"] == round(2 / 6, 4)
    assert s["errors"]["by_type"] == {"overloaded_error": 1, "invalid_json": 1}
    text = run("stats", "--path", str(log_path))
    assert "2 truncations rescued" in text and "overloaded_error 1" in text


def test_log_path_from_env_and_a_missing_log(log_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["logs", "--json"], env={"STOPWISE_LOG_PATH": str(log_path), "STOPWISE_CONFIG": None}
    )
    assert result.exit_code == 0 and len(orjson.loads(result.output)) == 6
    result = CliRunner().invoke(main, ["stats", "--path", str(tmp_path / "none.db")])
    assert result.exit_code == 1 and "no request log at" in result.output


def _row(
    state: str, rounds: int, *, cancelled: bool = False, status: int = 200, error: str | None = None
) -> Exchange:
    ex = exchange("claude-haiku-4-5", ["max_tokens"] * rounds, state, status=status, error=error)
    ex.client_gone = cancelled
    return ex


def test_stats_count_abandoned_cut_and_ended_requests_as_what_they_are(tmp_path: Path) -> None:
    """A stream the client left mid-round (the finisher reads it as failed, 0 rounds), one it
    left after a capped round (truncated), a stream the upstream cut past resuming, one the
    gateway's deadline ended: none is a failure handed back, none a truncated answer."""
    path = tmp_path / "gateway.db"
    log = RequestLog(path)
    log.open()
    for ex in (
        exchange("claude-haiku-4-5", ["max_tokens", "end_turn"], "complete"),
        _row("failed", 0, cancelled=True),
        _row("truncated", 1, cancelled=True),
        _row("interrupted", 5, error="RemoteProtocolError"),
        _row("interrupted", 1, error="request_deadline"),
        _row("truncated", 8),
        exchange("claude-opus-4-6", [], "failed", status=529, error="overloaded_error"),
    ):
        log.submit(ex.row())
    log.submit(Exchange("POST", "/v1/messages", status=499, client_gone=True).row())
    log.close()

    s = orjson.loads(run("stats", "--json", "--path", str(path)))
    assert s["outcomes"] == {
        "abandoned": 3,
        "complete": 1,
        "cut": 1,
        "ended_by_gateway": 1,
        "failed": 1,
        "truncated": 1,
    }
    assert s["truncated_returned"] == 1 and s["abandoned"] == 3 and s["cut"] == 1
    assert s["errors"]["failed"] == 1 and s["errors"]["cut"] == 1  # the abandoned are neither
    assert s["errors"]["rate"] == round(2 / 8, 4)
    assert s["states"]["failed"] == 1
    assert s["rounds"]["histogram"] == {"0": 1, "1": 1, "2": 1, "5": 1, "8": 1}  # no abandoned rounds
    text = run("stats", "--path", str(path))
    assert "1 returned truncated" in text and "abandoned by the client 3" in text and "cut 1" in text
    table = run("logs", "--path", str(path))
    assert table.count("abandoned") == 3 and "ended_by_gateway" in table


def test_a_shared_log_shows_which_replica_wrote_each_row(tmp_path: Path) -> None:
    path = tmp_path / "gateway.db"
    log = RequestLog(path)
    log.open()
    for name in ("gw-east", "gw-west", "gw-east"):
        log.submit(exchange("gpt-4o", ["stop"], "complete").row(replica=name))
    log.close()
    table = run("logs", "--path", str(path))
    assert "replica" in table and table.count("gw-east") == 2 and table.count("gw-west") == 1
    only = orjson.loads(run("logs", "--json", "--replica", "gw-west", "--path", str(path)))
    assert [r["replica"] for r in only] == ["gw-west"]
    text = run("stats", "--path", str(path))
    assert "replicas: gw-east 2, gw-west 1" in text and "error rate" in text
