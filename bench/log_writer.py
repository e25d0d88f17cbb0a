"""The SQLite request log's writer beside a busy event loop: rows per second.

Run by hand (not in CI):  .venv/bin/python bench/log_writer.py [--rows 20000] [--repeat 3]

A gateway's writer thread shares the GIL with the event loop serving requests. This runs the
real writer (`RequestLog`, one statement per batch) and, as the baseline, the same batches
written with ``executemany`` (what the writer did before: it gives the GIL back around every
row's step and then waits behind the busy thread to take it again), each with the main thread
idle and with a second thread running pure-Python work the whole time (standing in for the
event loop). Prints the median rows/s of --repeat runs per cell.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stopwise.gateway.log import _INSERT, RequestLog, connect
from stopwise.gateway.record import Exchange


def busy(stop: threading.Event) -> None:
    x = 0
    while not stop.is_set():
        for i in range(1000):
            x += i


def writer(rows: list[dict[str, Any]], path: Path) -> None:
    log = RequestLog(path, max_queue=len(rows) + 1)  # all submitted at once: room for them
    log.open()
    for row in rows:
        log.submit(row)
    log.close()


def executemany(rows: list[dict[str, Any]], path: Path) -> None:
    db = connect(path)
    for i in range(0, len(rows), 1024):  # the writer's batch size
        with db:
            db.executemany(_INSERT, rows[i : i + 1024])
    db.close()


def run(
    method: Callable[[list[dict[str, Any]], Path], None], rows: list[dict[str, Any]], loaded: bool
) -> float:
    path = Path(tempfile.mkdtemp()) / "log.db"
    stop = threading.Event()
    load = threading.Thread(target=busy, args=(stop,))
    if loaded:
        load.start()
    started = time.perf_counter()
    method(rows, path)
    elapsed = time.perf_counter() - started
    stop.set()
    if loaded:
        load.join()
    db = connect(path)
    assert db.execute("SELECT COUNT(*) FROM requests").fetchone()[0] == len(rows)  # every row there
    db.close()
    return len(rows) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = [
        Exchange("POST", "/v1/messages", dialect="anthropic", model="claude-haiku-4-5", status=200).row(
            replica="gw-1"
        )
        for _ in range(args.rows)
    ]
    print("| writer | main thread | rows/s (median) |")
    print("| --- | --- | ---: |")
    for name, method in (
        ("RequestLog (one statement a batch)", writer),
        ("executemany (before)", executemany),
    ):
        for loaded in (False, True):
            rates = [run(method, rows, loaded) for _ in range(args.repeat)]
            print(f"| {name} | {'busy' if loaded else 'idle'} | {statistics.median(rates):,.0f} |")


if __name__ == "__main__":
    main()
