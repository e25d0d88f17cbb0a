"""The request log: one SQLite row per request, written off the hot path.

Request handlers only put a row (a dict) on a bounded queue; one writer thread owns the
connection and inserts what has queued up in one transaction. SQLite runs in WAL mode so
``stopwise logs`` can read while the gateway writes. Rows never hold API keys: headers are not
logged at all, and bodies only when ``log_bodies`` is on.

Nothing is lost to a database that is busy for a while (a backup, a ``sqlite3`` shell holding a
transaction) or a disk that is full for a while: a batch that cannot be written is kept and
tried again, with backoff, while new rows wait on the queue. Rows are dropped in two cases only,
each counted by reason (:attr:`RequestLog.dropped`) and logged:

- ``queue_full``: more than ``max_queue`` rows are waiting (the database has been unwritable for
  that long); the request is never slowed down to wait for the disk;
- ``write_error``: an error that retrying cannot mend (a corrupt or read-only database), or the
  database still unwritable when :meth:`RequestLog.close` runs out of its ``timeout``.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from .migrations import migrate

__all__ = ["COLUMNS", "DROP_REASONS", "RequestLog", "connect"]

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
    "round_details",
    "notes",
)
_INSERT = f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
_BATCH = 1024
DROP_REASONS = ("queue_full", "write_error")

# SQLite result codes (the low byte of the extended code) that pass: another connection holds
# the lock, the disk is full, an I/O error (a full disk can surface as one).
_TRANSIENT = frozenset({5, 6, 10, 13})  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL
# How long one attempt waits on a lock inside SQLite before our own backoff takes over; short,
# so that close() is never stuck inside one attempt for long.
_LOCK_WAIT = 0.25
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0


def connect(path: Path, *, lock_wait: float = 5.0) -> sqlite3.Connection:
    """A connection in WAL mode with the schema up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=lock_wait)
    db.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL is durable across crashes of the process, not of the OS:
    # right for a request log, and it keeps commits off fsync.
    db.execute("PRAGMA synchronous=NORMAL")
    migrate(db)
    return db


def _transient(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _TRANSIENT


class RequestLog:
    def __init__(
        self,
        path: Path,
        *,
        max_queue: int = 10_000,
        interval: float = 0.05,
        close_timeout: float = 10.0,
    ) -> None:
        self.path = path
        self.interval = interval  # seconds rows may wait to be written together
        self.max_queue = max_queue
        self.close_timeout = close_timeout  # how long close() keeps retrying a batch it cannot write
        self.dropped: Counter[str] = Counter()
        self.written = 0
        self.retries = 0  # failed write attempts that were tried again
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._closing_by: float | None = None  # monotonic deadline once close() was called

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    def open(self) -> None:
        """Create or migrate the database now (so a bad path fails at start), then start the
        writer."""
        db = connect(self.path, lock_wait=_LOCK_WAIT)
        self._thread = threading.Thread(target=self._run, args=(db,), name="stopwise-log", daemon=True)
        self._thread.start()

    def submit(self, row: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self._drop("queue_full", 1)

    def flush(self) -> None:
        """Wait until every submitted row is written (tests, shutdown)."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        """Write what is queued, then stop. A database still unwritable ``close_timeout``
        seconds from now loses the rows it holds back (counted, logged)."""
        if self._thread is None:
            return
        self._closing_by = time.monotonic() + self.close_timeout
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        if self.dropped:
            lost = ", ".join(f"{n} ({reason})" for reason, n in sorted(self.dropped.items()))
            logger.error("stopwise: request log %s: rows dropped since start: %s", self.path, lost)

    def _drop(self, reason: str, n: int) -> None:
        first = not self.dropped[reason]
        self.dropped[reason] += n
        # Loud the first time, then quiet: a stalled disk must not also flood the error log.
        log = logger.error if first else logger.debug
        log("stopwise: request log %s dropped %d rows (%d so far)", reason, n, self.dropped[reason])

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
        """Insert ``rows`` in one transaction, trying again while the failure is one that
        passes; the queue keeps filling meanwhile (and drops past its bound)."""
        delay = _BACKOFF_FIRST
        while True:
            try:
                with db:
                    db.executemany(_INSERT, rows)
                self.written += len(rows)
                return
            except sqlite3.Error as exc:
                closing = self._closing_by is not None and time.monotonic() >= self._closing_by
                if not _transient(exc) or closing:
                    # Losing log rows must not take the gateway down; say so loudly, count them.
                    logger.error("stopwise: could not write to the request log %s: %s", self.path, exc)
                    self._drop("write_error", len(rows))
                    return
                if delay == _BACKOFF_FIRST:  # once per episode, not once per attempt
                    logger.warning("stopwise: request log %s unwritable (%s); retrying", self.path, exc)
                self.retries += 1
            time.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)
