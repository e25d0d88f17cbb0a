"""Reading the request log back: recent rows with filters, and aggregate stats, from a SQLite
file or a PostgreSQL database (:mod:`.logstore`; the SQL here is written once for both). Opens
the database read-only, so it is safe next to running gateways (WAL lets SQLite readers in)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import orjson

from .logstore import LogNotFound, LogReader, LogUnavailable, Where, open_reader

__all__ = [
    "OUTCOMES",
    "OUTCOME_SQL",
    "LogNotFound",
    "LogUnavailable",
    "decode_row",
    "open_log",
    "recent",
    "stats",
]

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
OUTCOME_SQL = """CASE
    WHEN cancelled <> 0 THEN 'abandoned'
    WHEN error_type IN ('gateway_shutdown', 'request_deadline') THEN 'ended_by_gateway'
    WHEN state = 'interrupted' THEN 'cut'
    WHEN state IS NOT NULL THEN state
    WHEN status >= 400 THEN 'failed'
    ELSE 'answered'
END"""

_JSON_COLUMNS = (
    "modes",
    "stop_reasons",
    "usage_reported",
    "usage_estimated",
    "request_ids",
    "round_details",
    "notes",
)


def open_log(where: Where) -> LogReader:
    """A read-only connection to the log (:func:`.logstore.open_reader`)."""
    return open_reader(where)


def decode_row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in _JSON_COLUMNS:
        if out.get(name) is not None:
            out[name] = orjson.loads(out[name])
    for name in ("stream", "rescued", "cancelled"):
        out[name] = bool(out.get(name))
    return out


def recent(
    log: Where,
    *,
    limit: int = 20,
    model: str | None = None,
    state: str | None = None,
    stop_reason: str | None = None,
    outcome: str | None = None,
    since: str | None = None,
    until: str | None = None,
    replica: str | None = None,
    with_bodies: bool = False,
) -> list[dict[str, Any]]:
    """The newest rows first, each with its ``outcome`` (:data:`OUTCOMES`). ``stop_reason``
    matches the final reason raw or normalized (``max_tokens`` and ``length`` are both
    ``max_tokens`` normalized). ``since`` and ``until`` are ISO 8601 UTC times (a prefix such
    as ``2026-12-01T18`` will do), compared as the log writes them: ``since <= time < until``.
    ``replica``: only the rows one gateway of a shared log wrote."""
    # Each filter given: its condition, with one placeholder per use of the value.
    filters = (
        (outcome, f"{OUTCOME_SQL} = ?"),
        (since, "time >= ?"),
        (until, "time < ?"),
        (model, "model = ?"),
        (replica, "replica = ?"),
        (state, "state = ?"),
        (stop_reason, "(stop_reason = ? OR stop_reason_normalized = ?)"),
    )
    where = [cond for value, cond in filters if value is not None]
    args: list[Any] = [value for value, cond in filters if value is not None for _ in range(cond.count("?"))]
    sql = f"SELECT *, {OUTCOME_SQL} AS outcome FROM requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit >= 0:  # SQLite reads a negative LIMIT as none, PostgreSQL refuses it: none on both
        sql += " LIMIT ?"
        args.append(limit)
    with open_log(log) as db:
        rows = [decode_row(r) for r in db.dicts(sql, args)]
    if not with_bodies:
        for row in rows:
            row.pop("request_body", None)
            row.pop("response_body", None)
    return rows


# One scan: the rows grouped by every column a figure is counted by, and summed within each
# group; the figures are then folded from the groups (a few hundred on a real log, however
# many rows) instead of one query per figure, each its own scan of the table. The token sums
# are cast: PostgreSQL's SUM of a BIGINT is a NUMERIC (a Decimal, which JSON cannot hold).
_GROUPS = f"""SELECT {OUTCOME_SQL}, cancelled, rounds, stop_reason, stop_reasons, state, model, error_type,
    status, replica, COUNT(*), SUM(rescued), SUM(retries), CAST(SUM(input_tokens) AS BIGINT),
    CAST(SUM(output_tokens) AS BIGINT), CAST(SUM(cache_read_input_tokens) AS BIGINT),
    CAST(SUM(cache_creation_input_tokens) AS BIGINT)
FROM requests
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10"""


def _by_count(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def stats(where: Where) -> dict[str, Any]:
    """Stop reason distribution (final and per round), truncations rescued, rounds, tokens by
    model, error rates (of the whole log and of each model), rows by replica, and what became
    of each request (:data:`OUTCOMES`). Requests the
    client abandoned are counted as that, not as failures or truncated answers, and their
    rounds (cut short, often none finished) stay out of the rounds figures."""
    with open_log(where) as db:
        groups = db.rows(_GROUPS)
    total = finisher_total = finished = rounds = max_rounds = rescued = retries = 0
    failed = cancelled = 0
    outcomes: Counter[str] = Counter()
    final: Counter[str] = Counter()
    per_round: Counter[str] = Counter()
    states: Counter[str] = Counter()
    rounds_hist: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    by_status: Counter[int | None] = Counter()
    tokens: dict[str, list[int]] = {}
    replicas: Counter[str] = Counter()  # rows by the gateway that wrote them (a shared log)
    # Per model: [requests, failed, cut], for each model's error rate (the rule of the whole
    # log's, below). Rows without a model (a body that did not parse) count as "unknown".
    model_errors: dict[str, list[int]] = {}
    for g in groups:
        out, gone, n_rounds, reason, reasons, state, model, error, status, replica, n = g[:11]
        n_rescued, n_retries, *n_tokens = (v or 0 for v in g[11:])
        if replica is not None:
            replicas[replica] += n
        total += n
        outcomes[out] += n
        by_status[status] += n
        if gone:
            cancelled += n
        if error is not None:
            errors[error] += n
        if reasons is not None:
            for r in orjson.loads(reasons):
                per_round[r or "none"] += n
        if n_rounds is not None:
            finisher_total += n
            final[reason or "none"] += n
            if not gone:
                finished += n
                rounds += n_rounds * n
                max_rounds = max(max_rounds, n_rounds)
                rescued += n_rescued
                retries += n_retries
                rounds_hist[n_rounds] += n
        if state is not None and not gone:
            states[state] += n
        if model is not None:
            sums = tokens.setdefault(model, [0, 0, 0, 0, 0])
            for i, v in enumerate((n, *n_tokens)):
                sums[i] += v
        # Failed: an error the client was handed; not a request it left, one the gateway ended
        # or a stream cut past resuming (each counted as what it is).
        errs = model_errors.setdefault(model or "unknown", [0, 0, 0])
        errs[0] += n
        if out == "cut":
            errs[2] += n
        if out not in ("abandoned", "ended_by_gateway", "cut") and (
            (status is not None and status >= 400) or error is not None
        ):
            failed += n
            errs[1] += n
    return {
        "requests": total,
        "finisher_requests": finisher_total,
        "outcomes": dict(sorted(outcomes.items())),
        "stop_reasons": {"final": _by_count(final), "per_round": _by_count(per_round)},
        "states": dict(sorted(states.items())),
        "truncations_rescued": rescued,
        "truncated_returned": outcomes["truncated"],
        "abandoned": outcomes["abandoned"],
        "cut": outcomes["cut"],
        "ended_by_gateway": outcomes["ended_by_gateway"],
        "rounds": {
            "total": rounds,
            "mean": round(rounds / finished, 2) if finished else 0.0,
            "max": max_rounds,
            "histogram": {str(k): v for k, v in sorted(rounds_hist.items())},
        },
        "retries": retries,
        "replicas": _by_count(replicas),
        "tokens_by_model": [
            {
                "model": model,
                "requests": n,
                "input_tokens": inp,
                "output_tokens": outp,
                "cache_read_input_tokens": read,
                "cache_creation_input_tokens": created,
            }
            for model, (n, inp, outp, read, created) in sorted(
                tokens.items(), key=lambda kv: (-kv[1][2], kv[0])
            )
        ],
        "errors_by_model": [
            {"model": model, "requests": n, "failed": bad, "cut": cut, "rate": round((bad + cut) / n, 4)}
            for model, (n, bad, cut) in sorted(model_errors.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ],
        "errors": {
            # Errors are what failed and what was cut: both reached the client as an error.
            "rate": round((failed + outcomes["cut"]) / total, 4) if total else 0.0,
            "failed": failed,
            "cut": outcomes["cut"],
            "cancelled": cancelled,
            "by_type": _by_count(errors),
            "by_status": {
                str(k): v
                for k, v in sorted(by_status.items(), key=lambda kv: (kv[0] is not None, kv[0] or 0))
            },
        },
    }
