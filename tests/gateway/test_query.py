"""Reading the log back: each row's outcome, and ``stats`` in one scan giving the figures the
query-per-figure version gave, on generated logs."""

from __future__ import annotations

import sqlite3
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopwise.gateway.migrations import migrate
from stopwise.gateway.query import OUTCOME_SQL, OUTCOMES, recent, stats


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


# -- stats: one scan, the old figures ---------------------------------------------------------


def stats_before(path: Path) -> dict[str, Any]:
    """``stats`` as it was before the one scan (a query per figure, 8558d3c to f89ad66): the oracle."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    q = db.execute
    total = q("SELECT COUNT(*) FROM requests").fetchone()[0]
    outcomes = dict(q(f"SELECT {OUTCOME_SQL} AS o, COUNT(*) FROM requests GROUP BY o ORDER BY o"))
    finisher = q(
        "SELECT COUNT(*), COALESCE(SUM(rounds), 0), COALESCE(MAX(rounds), 0), COALESCE(SUM(rescued), 0),"
        " COALESCE(SUM(retries), 0) FROM requests WHERE rounds IS NOT NULL AND NOT cancelled"
    ).fetchone()
    finisher_total = q("SELECT COUNT(*) FROM requests WHERE rounds IS NOT NULL").fetchone()[0]
    final = {
        (r[0] or "none"): r[1]
        for r in q(
            "SELECT stop_reason, COUNT(*) FROM requests WHERE rounds IS NOT NULL"
            " GROUP BY stop_reason ORDER BY COUNT(*) DESC"
        )
    }
    per_round: Counter[str] = Counter()
    for (reasons,) in q("SELECT stop_reasons FROM requests WHERE stop_reasons IS NOT NULL"):
        per_round.update(r or "none" for r in orjson.loads(reasons))
    states = dict(
        q("SELECT state, COUNT(*) FROM requests WHERE state IS NOT NULL AND NOT cancelled GROUP BY state")
    )
    rounds_hist = {
        str(r[0]): r[1]
        for r in q(
            "SELECT rounds, COUNT(*) FROM requests WHERE rounds IS NOT NULL AND NOT cancelled"
            " GROUP BY rounds ORDER BY rounds"
        )
    }
    tokens = [
        dict(r)
        for r in q(
            "SELECT model, COUNT(*) AS requests, COALESCE(SUM(input_tokens), 0) AS input_tokens,"
            " COALESCE(SUM(output_tokens), 0) AS output_tokens,"
            " COALESCE(SUM(cache_read_input_tokens), 0) AS cache_read_input_tokens,"
            " COALESCE(SUM(cache_creation_input_tokens), 0) AS cache_creation_input_tokens"
            " FROM requests WHERE model IS NOT NULL GROUP BY model ORDER BY output_tokens DESC"
        )
    ]
    errors = {
        str(r[0]): r[1]
        for r in q(
            "SELECT error_type, COUNT(*) FROM requests WHERE error_type IS NOT NULL"
            " GROUP BY error_type ORDER BY COUNT(*) DESC"
        )
    }
    failed = q(
        f"SELECT COUNT(*) FROM requests WHERE {OUTCOME_SQL} NOT IN ('abandoned', 'ended_by_gateway', 'cut')"
        " AND (status >= 400 OR error_type IS NOT NULL)"
    ).fetchone()[0]
    cancelled = q("SELECT COUNT(*) FROM requests WHERE cancelled").fetchone()[0]
    by_status = {str(r[0]): r[1] for r in q("SELECT status, COUNT(*) FROM requests GROUP BY status")}
    db.close()
    finished, rounds, max_rounds, rescued, retries = finisher
    return {
        "requests": total,
        "finisher_requests": finisher_total,
        "outcomes": outcomes,
        "stop_reasons": {"final": final, "per_round": dict(per_round)},
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
            "rate": round((failed + outcomes.get("cut", 0)) / total, 4) if total else 0.0,
            "failed": failed,
            "cut": outcomes.get("cut", 0),
            "cancelled": cancelled,
            "by_type": errors,
            "by_status": by_status,
        },
    }


REASONS = st.sampled_from(["end_turn", "max_tokens", "stop", "length", "tool_use", None])
TOKENS = st.none() | st.integers(0, 50_000)


@st.composite
def log_rows(draw: st.DrawFn) -> dict[str, Any]:
    finisher = draw(st.booleans())
    reasons = draw(st.lists(REASONS, max_size=5)) if finisher else None
    return {
        "cancelled": draw(st.sampled_from([0, 1])),
        "error_type": draw(
            st.sampled_from(
                [None, None, "gateway_shutdown", "request_deadline", "overloaded_error", "invalid_json"]
            )
        ),
        "state": draw(st.sampled_from(["complete", "truncated", "paused", "failed", "interrupted"]))
        if finisher
        else None,
        "status": draw(st.sampled_from([None, 200, 200, 400, 499, 503, 504, 529])),
        "rounds": None if reasons is None else len(reasons),
        "stop_reason": reasons[-1] if reasons else None,
        "stop_reasons": None if reasons is None else orjson.dumps(reasons).decode(),
        "model": draw(st.sampled_from([None, "claude-haiku-4-5", "gpt-4o", "claude-opus-4-6"])),
        "rescued": draw(st.sampled_from([0, 1])),
        "retries": draw(st.none() | st.integers(0, 4)) if finisher else None,
        "input_tokens": draw(TOKENS),
        "output_tokens": draw(TOKENS),
        "cache_read_input_tokens": draw(TOKENS),
        "cache_creation_input_tokens": draw(TOKENS),
        "replica": draw(st.sampled_from([None, "gw-1", "gw-2"])),
    }


def descending(counts: dict[str, int]) -> bool:
    values = list(counts.values())
    return values == sorted(values, reverse=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(log_rows(), max_size=40))
def test_stats_gives_the_figures_the_query_per_figure_version_gave(rows: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "log.db"
        write_log(path, rows)
        now, before = stats(path), stats_before(path)
    # Ties in the orderings by count were in no defined order: the mappings compared as
    # mappings, the list of models as a set, and each checked to be ordered by count.
    models_now, models_before = now.pop("tokens_by_model"), before.pop("tokens_by_model")
    # Rows by the gateway that wrote them: a figure the per-figure version did not have.
    by_replica = Counter(r["replica"] for r in rows if r["replica"] is not None)
    replicas = now.pop("replicas")
    assert replicas == dict(by_replica) and descending(replicas)
    # Each model's errors, by the whole log's rule: they add up to the log's, model by model.
    per_model = now.pop("errors_by_model")
    assert {m["model"]: m["requests"] for m in per_model} == dict(
        Counter(r["model"] or "unknown" for r in rows)
    )
    assert sum(m["failed"] for m in per_model) == now["errors"]["failed"]
    assert sum(m["cut"] for m in per_model) == now["errors"]["cut"]
    for m in per_model:
        assert m["rate"] == round((m["failed"] + m["cut"]) / m["requests"], 4)
    assert [m["requests"] for m in per_model] == sorted((m["requests"] for m in per_model), reverse=True)
    assert now == before
    assert sorted(models_now, key=str) == sorted(models_before, key=str)
    out = [t["output_tokens"] for t in models_now]
    assert out == sorted(out, reverse=True)
    assert descending(now["stop_reasons"]["final"]) and descending(now["stop_reasons"]["per_round"])
    assert descending(now["errors"]["by_type"])
    assert set(now["outcomes"]) <= set(OUTCOMES)
