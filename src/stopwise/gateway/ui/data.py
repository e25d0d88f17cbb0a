"""What the dashboard reads from the request log beyond :mod:`..query`: one request whole, and
the log's figures over time. Read-only connections, like :mod:`..query`: safe next to a running
gateway."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from ...outcome import StopReason, normalize_stop_reason
from ..logstore import Where
from ..query import OUTCOME_SQL, decode_row, open_log

__all__ = ["BUCKETS", "over_time", "rebilled_by_model", "request_row"]

# Bucket name -> how many leading characters of the ISO time name it ("2026-12-01T18:36").
BUCKETS = {"minute": 16, "hour": 13, "day": 10}


def request_row(where: Where, request_id: int) -> dict[str, Any] | None:
    """One row with its outcome, without bodies; None when there is no such row."""
    if not 0 <= request_id < 2**63:  # no id is (SQLite's driver cannot even bind one past 64 bits)
        return None
    with open_log(where) as db:
        sql = f"SELECT *, {OUTCOME_SQL} AS outcome FROM requests WHERE id = ?"
        found = db.dicts(sql, (request_id,))
    if not found:
        return None
    out = decode_row(found[0])
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


def over_time(where: Where, bucket: str | None = None) -> dict[str, Any]:
    """Per time bucket: requests, those with a round cut at the cap (``truncated``), those
    rescued (a truncated round continued into a complete answer), those left truncated, and
    errors (an error status or type, the client's own departures aside)."""
    with open_log(where) as db:
        first, last = db.rows("SELECT MIN(time), MAX(time) FROM requests")[0]
        name = bucket if bucket in BUCKETS else _bucket_for(first, last)
        # Grouped by bucket and by the rounds' stop reasons (a few distinct lists), so that
        # the rounds cut at the cap are counted here without a JSON function of either
        # database; the bucket's width is one of ours, an int, written into the SQL.
        groups = db.rows(
            f"""SELECT substr(time, 1, {int(BUCKETS[name])}), stop_reasons, COUNT(*), SUM(rescued),
                SUM(CASE WHEN {OUTCOME_SQL} = 'truncated' THEN 1 ELSE 0 END),
                SUM(CASE WHEN cancelled = 0 AND (status >= 400 OR error_type IS NOT NULL)
                    THEN 1 ELSE 0 END)
            FROM requests GROUP BY 1, 2 ORDER BY 1"""
        )
    points: list[dict[str, Any]] = []
    for t, reasons, n, rescued, truncated, errors in groups:
        if not points or points[-1]["time"] != t:
            points.append(
                {"time": t, "requests": 0, "truncated": 0, "rescued": 0, "truncated_returned": 0, "errors": 0}
            )
        point = points[-1]
        point["requests"] += n
        # A request with a round that stopped at the cap, whatever came of it.
        if reasons is not None and any(_capped(r) for r in orjson.loads(reasons)):
            point["truncated"] += n
        point["rescued"] += rescued or 0
        point["truncated_returned"] += truncated or 0
        point["errors"] += errors or 0
    return {"bucket": name, "points": points}


def rebilled_by_model(where: Where) -> dict[str, int]:
    """Per model, the input tokens billed again by rounds after the first (every continuation,
    resumption or retry sends the conversation again). Rows logged before the log kept each
    round's tokens (no ``round_details``) count nothing."""
    with open_log(where) as db:
        rows = db.rows(
            "SELECT model, round_details FROM requests WHERE rounds > 1 AND round_details IS NOT NULL"
        )
    out: dict[str, int] = {}
    for model, details in rows:
        later = orjson.loads(details)[1:]
        billed = sum(r.get("input_tokens") or 0 for r in later if isinstance(r, dict))
        key = model or "unknown"
        out[key] = out.get(key, 0) + billed
    return out
