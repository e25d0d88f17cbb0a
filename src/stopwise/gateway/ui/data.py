"""What the dashboard reads from the request log beyond :mod:`..query`: one request whole, and
the log's figures over time. Read-only connections, like :mod:`..query`: safe next to a running
gateway."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from ...outcome import StopReason, normalize_stop_reason
from ..query import OUTCOME_SQL, decode_row, open_log

__all__ = ["BUCKETS", "over_time", "rebilled_by_model", "request_row"]

# Bucket name -> how many leading characters of the ISO time name it ("2026-12-01T18:36").
BUCKETS = {"minute": 16, "hour": 13, "day": 10}


def request_row(path: Path, request_id: int) -> dict[str, Any] | None:
    """One row with its outcome, without bodies; None when there is no such row."""
    db = open_log(path)
    try:
        sql = f"SELECT *, {OUTCOME_SQL} AS outcome FROM requests WHERE id = ?"
        row = db.execute(sql, (request_id,)).fetchone()
    finally:
        db.close()
    if row is None:
        return None
    out = decode_row(row)
    out.pop("request_body", None)
    out.pop("response_body", None)
    return out


def _capped(reason: object) -> bool:
    return normalize_stop_reason(reason) is StopReason.MAX_TOKENS


def _bucket_for(first: str | None, last: str | None) -> str:
    """A bucket that gives a readable number of bars for the log's span."""
    if first is None or last is None:
        return "minute"
    span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    if span <= 3 * 3600:
        return "minute"
    return "hour" if span <= 4 * 86400 else "day"


def over_time(path: Path, bucket: str | None = None) -> dict[str, Any]:
    """Per time bucket: requests, those with a round cut at the cap (``truncated``), those
    rescued (a truncated round continued into a complete answer), those left truncated, and
    errors (an error status or type, the client's own departures aside)."""
    db = open_log(path)
    try:
        first, last = db.execute("SELECT MIN(time), MAX(time) FROM requests").fetchone()
        name = bucket if bucket in BUCKETS else _bucket_for(first, last)
        rows = db.execute(
            f"""SELECT substr(time, 1, ?) AS t, COUNT(*), SUM(rescued),
                SUM({OUTCOME_SQL} = 'truncated'),
                SUM(NOT cancelled AND (status >= 400 OR error_type IS NOT NULL)),
                json_group_array(stop_reasons)
            FROM requests GROUP BY t ORDER BY t""",
            (BUCKETS[name],),
        ).fetchall()
    finally:
        db.close()
    points = []
    for t, n, rescued, truncated, errors, reasons in rows:
        capped = 0
        for each in orjson.loads(reasons):
            # A request with a round that stopped at the cap, whatever came of it.
            if each is not None and any(_capped(r) for r in orjson.loads(each)):
                capped += 1
        points.append(
            {
                "time": t,
                "requests": n,
                "truncated": capped,
                "rescued": rescued or 0,
                "truncated_returned": truncated or 0,
                "errors": errors or 0,
            }
        )
    return {"bucket": name, "points": points}


def rebilled_by_model(path: Path) -> dict[str, int]:
    """Per model, the input tokens billed again by rounds after the first (every continuation,
    resumption or retry sends the conversation again). Rows logged before the log kept each
    round's tokens (no ``round_details``) count nothing."""
    db = open_log(path)
    try:
        rows = db.execute(
            "SELECT model, round_details FROM requests WHERE rounds > 1 AND round_details IS NOT NULL"
        ).fetchall()
    finally:
        db.close()
    out: dict[str, int] = {}
    for model, details in rows:
        later = orjson.loads(details)[1:]
        billed = sum(r.get("input_tokens") or 0 for r in later if isinstance(r, dict))
        key = model or "unknown"
        out[key] = out.get(key, 0) + billed
    return out
