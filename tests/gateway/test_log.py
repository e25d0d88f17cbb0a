"""The request log: what a row holds for each kind of request, bodies only when asked, and a
writer that keeps the request path free of disk I/O."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import orjson
from _gateway import GatewayFactory, Running

from stopwise.finisher import Report, RoundReport
from stopwise.gateway.log import RequestLog
from stopwise.gateway.record import Exchange
from stopwise.outcome import State, Usage
from stopwise.sim import full_document


def test_rows_of_a_finished_answer_a_stream_and_a_pass_through(gw: Running) -> None:
    claude = gw.anthropic()
    claude.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": "json"}]
    )
    with claude.messages.stream(
        model="claude-haiku-4-5", max_tokens=5000, messages=[{"role": "user", "content": "prose"}]
    ) as events:
        assert events.get_final_text() == full_document("prose")
    claude.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}])
    body, stream, count = gw.wait_rows(3)

    assert body["route"] == "/v1/messages" and body["method"] == "POST" and body["dialect"] == "anthropic"
    assert body["model"] == "claude-haiku-4-5" and body["stream"] == 0 and body["status"] == 200
    reasons = orjson.loads(body["stop_reasons"])
    assert len(reasons) == body["rounds"] > 1 and reasons[-1] == "end_turn"
    assert set(reasons[:-1]) == {"max_tokens"}
    assert (body["stop_reason"], body["stop_reason_normalized"], body["state"]) == (
        "end_turn",
        "end",
        "complete",
    )
    assert body["rescued"] == 1 and body["retries"] == 0 and body["cancelled"] == 0
    assert body["output_tokens"] > 3000 and body["input_tokens"] > 0
    assert (
        "output_tokens" in orjson.loads(body["usage_reported"])
        and orjson.loads(body["usage_estimated"]) == []
    )
    assert len(orjson.loads(body["request_ids"])) == body["rounds"]
    assert 0 < body["ttfb_ms"] <= body["latency_ms"]
    assert body["upstream"].startswith("http://127.0.0.1:") and body["error_type"] is None
    assert body["request_body"] is None and body["response_body"] is None

    assert stream["stream"] == 1 and stream["rounds"] == 1 and stream["rescued"] == 0
    assert stream["stop_reason"] == "end_turn" and stream["state"] == "complete"
    assert stream["ttfb_ms"] < stream["latency_ms"]

    assert count["route"] == "/v1/messages/count_tokens" and count["rounds"] is None
    assert count["state"] is None and count["stop_reasons"] is None


def test_bodies_only_when_enabled(gateway_factory: GatewayFactory) -> None:
    with gateway_factory(log_bodies=True) as gw:
        gw.openai().chat.completions.create(
            model="gpt-4o", max_tokens=5000, messages=[{"role": "user", "content": "table"}]
        )
        with gw.anthropic().messages.stream(
            model="claude-haiku-4-5", max_tokens=5000, messages=[{"role": "user", "content": "cjk"}]
        ) as events:
            events.until_done()
        body, stream = gw.wait_rows(2)
    assert orjson.loads(body["request_body"])["messages"][0]["content"] == "table"
    assert orjson.loads(body["response_body"])["choices"][0]["message"]["content"] == full_document("table")
    assert "event: message_start" in stream["response_body"] and "event: stopwise" in stream["response_body"]


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "q.db", max_queue=2)
    row = Exchange("POST", "/v1/messages").row()
    for _ in range(5):
        log.submit(row)  # the writer is not started: nothing drains the queue
    assert log.dropped == 3
    log.open()
    log.flush()
    log.close()
    db = sqlite3.connect(tmp_path / "q.db")
    assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 2


def test_cancelled_and_rescued_are_read_from_the_report() -> None:
    ex = Exchange("POST", "/v1/chat/completions")
    usage = Usage(input_tokens=1, output_tokens=2, reported={"input_tokens"})
    rounds = tuple(
        RoundReport(mode, reason, State.TRUNCATED if reason == "length" else State.COMPLETE, 1)
        for mode, reason in (("initial", "length"), ("continue", "length"), ("continue", "stop"))
    )
    report = Report(
        "openai",
        "gpt-4o",
        True,
        rounds,
        State.COMPLETE,
        0,
        usage,
        request_ids=("a", "b", "c"),
        cancelled=True,
    )
    ex.observe(report)
    row = ex.row()
    assert row["rescued"] == 1 and row["cancelled"] == 1 and row["stop_reason_normalized"] == "end"
    assert row["rounds"] == 3 and orjson.loads(row["request_ids"]) == ["a", "b", "c"]
    assert row["input_tokens"] == 1 and row["output_tokens"] == 2
    refused = (RoundReport("initial", "refusal", State.COMPLETE, 1),)
    ex.report = dataclasses.replace(report, rounds=refused, cancelled=False)
    assert ex.row()["rescued"] == 0 and ex.row()["cancelled"] == 0
