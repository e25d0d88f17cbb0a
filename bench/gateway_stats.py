"""`stopwise stats` on a large request log: the time `stopwise.gateway.query.stats` takes.

Run by hand (not in CI):  .venv/bin/python bench/gateway_stats.py [--rows 200000] [--repeat 7]
To compare with another version, run it with PYTHONPATH at that version's src.

Writes a log of --rows generated rows (a realistic mix: most requests one round, some continued
over max_tokens rounds, a few failed, cut, abandoned or passed through; four models) to a
temporary file, then prints the median of --repeat calls and the distinct groups the one-scan
version folds (rows that share every column a figure counts by).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from stopwise.gateway.migrations import migrate
from stopwise.gateway.query import stats

MODELS = ["claude-haiku-4-5", "claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini"]


def row(rng: random.Random) -> tuple[Any, ...]:
    model = rng.choice(MODELS)
    openai = model.startswith("gpt")
    if rng.random() < 0.1:  # passed through (count_tokens, models)
        status = rng.choice([200] * 9 + [400])
        return (model, status, None, None, None, None, 0, None, 0, None if status == 200 else "invalid_json")
    cap, end = ("length", "stop") if openai else ("max_tokens", "end_turn")
    rounds = rng.choices([1, 2, 3, 4, 6], [70, 15, 8, 5, 2])[0]
    reasons = [cap] * (rounds - 1) + [end]
    state, status, error = "complete", 200, None
    fate = rng.random()
    if fate < 0.03:
        state, status, error, reasons = "failed", 529, "overloaded_error", []
    elif fate < 0.05:
        state, error = "interrupted", "RemoteProtocolError"
    elif fate < 0.07:
        state, reasons[-1] = "truncated", cap
    cancelled = int(rng.random() < 0.02)
    return (
        model,
        status,
        len(reasons),
        reasons[-1] if reasons else None,
        orjson.dumps(reasons).decode(),
        state,
        int(len(reasons) > 1 and state == "complete"),
        rng.choice([0] * 9 + [1, 2]),
        cancelled,
        error,
    )


def write(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    migrate(db)
    with db:
        db.executemany(
            "INSERT INTO requests (time, method, route, stream, model, status, rounds, stop_reason,"
            " stop_reasons, state, rescued, retries, cancelled, error_type, input_tokens, output_tokens)"
            " VALUES ('t', 'POST', '/v1/messages', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((*row(rng), rng.randint(10, 20000), rng.randint(1, 8000)) for _ in range(n)),
        )
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gateway.db"
        write(path, args.rows, args.seed)
        stats(path)  # warm the page cache
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            s = stats(path)
            times.append(time.perf_counter() - started)
        groups = (
            sqlite3.connect(path)
            .execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM requests GROUP BY cancelled, rounds, stop_reason,"
                " stop_reasons, state, model, error_type, status)"
            )
            .fetchone()[0]
        )
    print(
        f"{args.rows} rows ({groups} groups): stats {statistics.median(times) * 1000:.0f} ms"
        f" (median of {args.repeat}; min {min(times) * 1000:.0f}); {s['requests']} requests counted"
    )


if __name__ == "__main__":
    main()
