"""The request log: what a row holds for each kind of request, bodies only when asked, and a
writer that keeps the request path free of disk I/O."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from _gateway import GatewayFactory, Running
from _rows import log_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import Report, RoundReport
from stopwise.gateway.log import COLUMNS, RequestLog, connect
from stopwise.gateway.metrics import GatewayMetrics
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


def test_a_full_queue_drops_only_past_its_bound_and_counts_by_reason(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "q.db", max_queue=2)
    for _ in range(5):
        # The writer is not started: nothing drains the queue. A row each: one row submitted
        # twice is written once (its uid).
        log.submit(Exchange("POST", "/v1/messages").row())
    assert log.dropped == {"queue_full": 3}
    text = GatewayMetrics().render(log)
    assert 'stopwise_log_rows_dropped_total{reason="queue_full"} 3' in text
    assert 'stopwise_log_rows_dropped_total{reason="write_error"} 0' in text
    assert "stopwise_log_rows_queued 2" in text
    log.open()
    log.flush()
    log.close()
    db = sqlite3.connect(tmp_path / "q.db")
    assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == 2


@contextlib.contextmanager
def write_locked(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the database's write lock, as a ``sqlite3`` shell with an
    open transaction (or a backup) does."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO requests (time, method, route, stream) VALUES ('t', 'GET', '/x', 0)")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_database_locked_for_longer_than_sqlites_busy_wait_loses_no_rows(
    gateway_factory: GatewayFactory,
) -> None:
    """The lock outlasts SQLite's own 5 s busy wait (the default the gateway used to rely on,
    after which a whole batch was dropped): rows wait on the queue, and the write is tried
    again until it goes through."""
    with gateway_factory() as gw:
        claude = gw.anthropic()
        ask = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "hi"}]}
        claude.messages.count_tokens(**ask)  # type: ignore[arg-type]
        gw.wait_rows(1)
        with write_locked(gw.log_path):
            started = time.monotonic()
            sent = 0
            while time.monotonic() - started < 5.5:
                claude.messages.count_tokens(**ask)  # type: ignore[arg-type]
                sent += 1
                time.sleep(0.05)
            assert gw.gateway.log.written == 1  # nothing got through the lock
        rows = gw.wait_rows(1 + sent)
        assert len(rows) == 1 + sent
        assert not gw.gateway.log.dropped and gw.gateway.log.retries > 0


def test_close_gives_up_on_a_database_that_stays_locked_and_counts_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "stuck.db"
    log = RequestLog(path, close_timeout=0.3)
    log.open()
    with write_locked(path):
        for _ in range(3):
            log.submit(Exchange("POST", "/v1/messages").row())
        log.close()  # returns with the lock still held: it gave up (waiting would never end)
        assert log.dropped == {"write_error": 3} and log.written == 0


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


_FULL_DISK_CHILD = r"""
import resource, signal, sqlite3, sys, time
from pathlib import Path
from stopwise.gateway.log import RequestLog
from stopwise.gateway.record import Exchange

path = Path(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), not kills
log = RequestLog(path, interval=0.01)
log.open()
log.submit(Exchange("POST", "/v1/messages").row())
log.flush()
size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))  # the disk is full
for _ in range(300):
    log.submit(Exchange("POST", "/v1/messages", model="m" * 200).row())
deadline = time.monotonic() + 10
while log.retries == 0 and time.monotonic() < deadline:
    time.sleep(0.01)
stuck = log.written
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))  # room again
log.flush()
log.close()
rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM requests").fetchone()[0]
print(rows, stuck, log.retries, dict(log.dropped))
"""


def test_a_full_disk_is_waited_out_and_loses_no_rows(tmp_path: Path) -> None:
    """A log that cannot grow (the disk is full: here the process's file-size limit, so the
    write fails with EFBIG, as on a full filesystem) keeps its rows queued and writes them when
    there is room again."""
    out = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_CHILD, str(tmp_path / "full.db")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split(maxsplit=3)
    rows, stuck, retries, dropped = int(out[0]), int(out[1]), int(out[2]), out[3].strip()
    assert stuck == 1, "nothing was written while the disk was full"
    assert retries > 0
    assert (rows, dropped) == (301, "{}")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(log_rows(), min_size=2, max_size=40, unique_by=lambda r: r["uid"]))
def test_a_batch_in_one_statement_stores_what_row_by_row_inserts_store(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]
) -> None:
    """Invariant: the one-statement batch (rows as a JSON array) stores every value exactly as
    binding each row would: text, integers, floats, NULL (a NUL as U+FFFD either way)."""
    from stopwise.gateway.log import _INSERT
    from stopwise.gateway.logwriter import storable

    where = tmp_path_factory.mktemp("batch")
    log = RequestLog(where / "batch.db")
    log.open()
    for row in rows:
        log.submit(row)
    log.close()
    one = connect(where / "one.db")
    with one:
        one.executemany(_INSERT, [storable(r, nul=True) for r in rows])
    batch = sqlite3.connect(where / "batch.db")
    query = "SELECT * FROM requests ORDER BY id"
    got, want = batch.execute(query).fetchall(), one.execute(query).fetchall()
    assert got == want and len(got) == len(rows)
    types = "SELECT " + ", ".join(f"typeof({c})" for c in COLUMNS) + " FROM requests ORDER BY id"
    assert batch.execute(types).fetchall() == one.execute(types).fetchall()
