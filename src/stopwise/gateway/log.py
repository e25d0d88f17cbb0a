"""The request log: one SQLite row per request, written off the hot path.

Request handlers only put a row (a dict) on a bounded queue; one writer thread owns the
connection and inserts what has queued up in one transaction. SQLite runs in WAL mode so
``stopwise logs`` can read while the gateway writes. A full queue (the disk stalled) drops the
row and counts it rather than slowing requests down. Rows never hold API keys: headers are not
logged at all, and bodies only when ``log_bodies`` is on.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .migrations import migrate

__all__ = ["COLUMNS", "RequestLog", "connect"]

logger = logging.getLogger("stopwise.gateway")

COLUMNS = (
    "time",
    "method",
    "route",
    "dialect",
    "model",
    "upstream",
    "stream",
    "status",
    "rounds",
    "modes",
    "stop_reasons",
    "stop_reason",
    "stop_reason_normalized",
    "state",
    "retries",
    "rescued",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "usage_reported",
    "usage_estimated",
    "ttfb_ms",
    "latency_ms",
    "error_type",
    "cancelled",
    "request_ids",
    "request_body",
    "response_body",
)
_INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
_BATCH = 1024


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with the schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL is durable across crashes of the process, not of the OS:
    # right for a request log, and it keeps commits off fsync.
    db.execute("PRAGMA synchronous=NORMAL")
    migrate(db)
    return db


class RequestLog:
    def __init__(self, path: Path, *, max_queue: int = 10_000, interval: float = 0.05) -> None:
        self.path = path
        self.interval = interval  # seconds rows may wait to be written together
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Create or migrate the database now (so a bad path fails at start), then start the
        writer."""
        db = connect(self.path)
        self._thread = threading.Thread(target=self._run, args=(db,), name="stopwise-log", daemon=True)
        self._thread.start()

    def submit(self, row: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1

    def flush(self) -> None:
        """Wait until every submitted row is written (tests, shutdown)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None

    def _run(self, db: sqlite3.Connection) -> None:
        try:
            while True:
                batch = [self._queue.get()]
                if batch[0] is not None:
                    # Let rows gather before writing: one transaction per interval instead of
                    # one per request, and puts in between wake no thread. Waking the writer
                    # on every row made it compete with the event loop for the GIL.
                    time.sleep(self.interval)
                while len(batch) < _BATCH and batch[-1] is not None:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                rows = [r for r in batch if r is not None]
                if rows:
                    self._write(db, rows)
                for _ in batch:
                    self._queue.task_done()
                if batch[-1] is None:  # the close sentinel
                    return
        finally:
            db.close()

    def _write(self, db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
        try:
            with db:
                db.executemany(_INSERT, rows)
            self.written += len(rows)
        except sqlite3.Error:
            # Losing log rows must not take the gateway down; say so loudly and count them.
            self.dropped += len(rows)
            logger.exception("stopwise: could not write %d request log rows to %s", len(rows), self.path)
