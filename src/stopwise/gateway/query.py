"""Reading the request log back: recent rows with filters, and aggregate stats. Opens the
database read-only, so it is safe next to a running gateway (WAL lets readers in)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

__all__ = ["OUTCOMES", "LogNotFound", "recent", "stats"]

# What became of a request, from the recorded state and the cancel flag, first match wins (the
# one place it is decided: `recent` reads it into each row's "outcome", `stats` counts by it):
#   abandoned         the client went away before the end (whatever the finisher's state:
#                     a stream left mid-round reads "failed" with 0 rounds, one left after
#                     a capped round "truncated"; neither was handed back that way)
#   ended_by_gateway  the deadline or the shutdown timeout ended it
#   cut               the upstream broke off and the stream could not be resumed
#   complete, truncated, paused, failed   the finisher's state of the answer handed back
#   answered, failed  a pass-through request, by its status
OUTCOMES = ("complete", "truncated", "paused", "cut", "failed", "abandoned", "ended_by_gateway", "answered")
_OUTCOME = """CASE
    WHEN cancelled THEN 'abandoned'
    WHEN error_type IN ('gateway_shutdown', 'request_deadline') THEN 'ended_by_gateway'
    WHEN state = 'interrupted' THEN 'cut'
    WHEN state IS NOT NULL THEN state
    WHEN status >= 400 THEN 'failed'
    ELSE 'answered'
END"""

_JSON_COLUMNS = ("modes", "stop_reasons", "usage_reported", "usage_estimated", "request_ids")


class LogNotFound(FileNotFoundError):
    pass


def _open(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise LogNotFound(f"no request log at {path} (is `stopwise serve` logging elsewhere?)")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def _decode(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    for name in _JSON_COLUMNS:
        if out.get(name) is not None:
            out[name] = orjson.loads(out[name])
    for name in ("stream", "rescued", "cancelled"):
        out[name] = bool(out.get(name))
    return out


def recent(
    path: Path,
    *,
    limit: int = 20,
    model: str | None = None,
    state: str | None = None,
    stop_reason: str | None = None,
    with_bodies: bool = False,
) -> list[dict[str, Any]]:
    """The newest rows first, each with its ``outcome`` (:data:`OUTCOMES`). ``stop_reason``
    matches the final reason raw or normalized (``max_tokens`` and ``length`` are both
    ``max_tokens`` normalized)."""
    where: list[str] = []
    args: list[Any] = []
    if model is not None:
        where.append("model = ?")
        args.append(model)
    if state is not None:
        where.append("state = ?")
        args.append(state)
    if stop_reason is not None:
        where.append("(stop_reason = ? OR stop_reason_normalized = ?)")
        args += [stop_reason, stop_reason]
    sql = f"SELECT *, {_OUTCOME} AS outcome FROM requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    db = _open(path)
    try:
        rows = [_decode(r) for r in db.execute(sql, args)]
    finally:
        db.close()
    if not with_bodies:
        for row in rows:
            row.pop("request_body", None)
            row.pop("response_body", None)
    return rows


def stats(path: Path) -> dict[str, Any]:
    """Stop reason distribution (final and per round), truncations rescued, rounds, tokens by
    model, error rates, and what became of each request (:data:`OUTCOMES`). Requests the
    client abandoned are counted as that, not as failures or truncated answers, and their
    rounds (cut short, often none finished) stay out of the rounds figures."""
    db = _open(path)
    try:
        total = db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
        outcomes = dict(db.execute(f"SELECT {_OUTCOME} AS o, COUNT(*) FROM requests GROUP BY o ORDER BY o"))
        finisher = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(rounds), 0), COALESCE(MAX(rounds), 0), COALESCE(SUM(rescued), 0),"
            " COALESCE(SUM(retries), 0) FROM requests WHERE rounds IS NOT NULL AND NOT cancelled"
        ).fetchone()
        finisher_total = db.execute("SELECT COUNT(*) FROM requests WHERE rounds IS NOT NULL").fetchone()[0]
        final = {
            (r[0] or "none"): r[1]
            for r in db.execute(
                "SELECT stop_reason, COUNT(*) FROM requests WHERE rounds IS NOT NULL"
                " GROUP BY stop_reason ORDER BY COUNT(*) DESC"
            )
        }
        per_round: Counter[str] = Counter()
        for (reasons,) in db.execute("SELECT stop_reasons FROM requests WHERE stop_reasons IS NOT NULL"):
            per_round.update(r or "none" for r in orjson.loads(reasons))
        states = dict(
            db.execute(
                "SELECT state, COUNT(*) FROM requests WHERE state IS NOT NULL AND NOT cancelled"
                " GROUP BY state"
            )
        )
        rounds_hist = {
            str(r[0]): r[1]
            for r in db.execute(
                "SELECT rounds, COUNT(*) FROM requests WHERE rounds IS NOT NULL AND NOT cancelled"
                " GROUP BY rounds ORDER BY rounds"
            )
        }
        tokens = [
            {
                "model": r["model"],
                "requests": r["requests"],
                "input_tokens": r["input_tokens"],
                "output_tokens": r["output_tokens"],
                "cache_read_input_tokens": r["cache_read"],
                "cache_creation_input_tokens": r["cache_creation"],
            }
            for r in db.execute(
                "SELECT model, COUNT(*) AS requests, COALESCE(SUM(input_tokens), 0) AS input_tokens,"
                " COALESCE(SUM(output_tokens), 0) AS output_tokens,"
                " COALESCE(SUM(cache_read_input_tokens), 0) AS cache_read,"
                " COALESCE(SUM(cache_creation_input_tokens), 0) AS cache_creation"
                " FROM requests WHERE model IS NOT NULL GROUP BY model ORDER BY output_tokens DESC"
            )
        ]
        errors = {
            str(r[0]): r[1]
            for r in db.execute(
                "SELECT error_type, COUNT(*) FROM requests WHERE error_type IS NOT NULL"
                " GROUP BY error_type ORDER BY COUNT(*) DESC"
            )
        }
        # Failed: an error the client was handed; not a request it left, one the gateway ended
        # or a stream cut past resuming (each counted as what it is).
        failed = db.execute(
            f"SELECT COUNT(*) FROM requests WHERE {_OUTCOME} NOT IN ('abandoned', 'ended_by_gateway', 'cut')"
            " AND (status >= 400 OR error_type IS NOT NULL)"
        ).fetchone()[0]
        cancelled = db.execute("SELECT COUNT(*) FROM requests WHERE cancelled").fetchone()[0]
        by_status = {
            str(r[0]): r[1] for r in db.execute("SELECT status, COUNT(*) FROM requests GROUP BY status")
        }
    finally:
        db.close()
    finished, rounds, max_rounds, rescued, retries = finisher
    return {
        "requests": total,
        "finisher_requests": finisher_total,
        "outcomes": outcomes,
        "stop_reasons": {"final": final, "per_round": dict(per_round.most_common())},
        "states": states,
        "truncations_rescued": rescued,
        "truncated_returned": outcomes.get("truncated", 0),
        "abandoned": outcomes.get("abandoned", 0),
        "cut": outcomes.get("cut", 0),
        "ended_by_gateway": outcomes.get("ended_by_gateway", 0),
        "rounds": {
            "total": rounds,
            "mean": round(rounds / finished, 2) if finished else 0.0,
            "max": max_rounds,
            "histogram": rounds_hist,
        },
        "retries": retries,
        "tokens_by_model": tokens,
        "errors": {
            # Errors are what failed and what was cut: both reached the client as an error.
            "rate": round((failed + outcomes.get("cut", 0)) / total, 4) if total else 0.0,
            "failed": failed,
            "cut": outcomes.get("cut", 0),
            "cancelled": cancelled,
            "by_type": errors,
            "by_status": by_status,
        },
    }
