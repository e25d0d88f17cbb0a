"""Reading the log back: each row's outcome."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from stopwise.gateway.migrations import migrate
from stopwise.gateway.query import recent, stats


def write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    db = sqlite3.connect(path)
    migrate(db)
    with db:
        for row in rows:
            names = ", ".join(("time", "method", "route", "stream", *row))
            marks = ", ".join("?" * (4 + len(row)))
            db.execute(
                f"INSERT INTO requests ({names}) VALUES ({marks})",
                ("t", "POST", "/v1/messages", 0, *row.values()),
            )
    db.close()


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # First match wins: the cancel flag over the gateway's own ending over a cut stream.
        ({"cancelled": 1, "error_type": "gateway_shutdown", "state": "interrupted"}, "abandoned"),
        ({"cancelled": 1, "state": "failed", "rounds": 0}, "abandoned"),
        ({"error_type": "request_deadline", "state": "interrupted"}, "ended_by_gateway"),
        ({"error_type": "gateway_shutdown", "status": 503}, "ended_by_gateway"),
        ({"state": "interrupted", "error_type": "RemoteProtocolError"}, "cut"),
        ({"state": "truncated", "status": 200}, "truncated"),
        ({"state": "paused"}, "paused"),
        ({"state": "failed", "status": 529, "error_type": "overloaded_error"}, "failed"),
        ({"state": "complete", "status": 200}, "complete"),
        ({"status": 400, "error_type": "invalid_json"}, "failed"),  # a pass-through request
        ({"status": 200}, "answered"),
        ({}, "answered"),  # no status recorded
    ],
)
def test_each_row_reads_back_with_its_outcome(tmp_path: Path, row: dict[str, Any], expected: str) -> None:
    write_log(tmp_path / "log.db", [row])
    (read,) = recent(tmp_path / "log.db")
    assert read["outcome"] == expected
    assert stats(tmp_path / "log.db")["outcomes"] == {expected: 1}
