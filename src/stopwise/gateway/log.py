"""The request log in SQLite: one row per request, written off the hot path (the rules every
writer keeps are in :mod:`.logwriter`; the PostgreSQL writer is :mod:`.pglog`).

One writer thread owns the connection and inserts what has queued up in one transaction.
SQLite runs in WAL mode so ``stopwise logs`` can read while the gateway writes. Rows never hold
API keys: headers are not logged at all, and bodies only when ``log_bodies`` is on. A database
busy for a while (a backup, a ``sqlite3`` shell holding a transaction) or a disk full for a
while loses nothing: the batch is tried again.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from .logwriter import BATCH, DROP_REASONS, LogWriter, backoff, storable
from .migrations import migrate

__all__ = ["COLUMNS", "DROP_REASONS", "RequestLog", "connect"]

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
    "replica",
    "uid",
)
# A row already there by its uid is one this writer wrote before (a row submitted twice).
_INSERT = (
    f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
    " ON CONFLICT (uid) DO NOTHING"
)
# The whole batch in one statement, its rows one JSON array: executemany gives the GIL back
# around each row's step and waits to take it again behind the event loop (a convoy): on a busy
# gateway it wrote under 1,000 rows a second, below what the gateway serves, and the queue
# overflowed (bench/replicas.py). One statement takes the GIL back once per batch. JSON keeps
# every value the log stores: text, integers, floats (shortest repr, exact), NULL.
_INSERT_BATCH = (
    f"INSERT INTO requests ({', '.join(COLUMNS)}) SELECT "
    + ", ".join(f"json_extract(value, '$.{c}')" for c in COLUMNS)
    + " FROM json_each(?) WHERE true ON CONFLICT (uid) DO NOTHING"  # WHERE: SQLite's upsert syntax
)

# SQLite result codes (the low byte of the extended code) that pass: another connection holds
# the lock, the disk is full, an I/O error (a full disk can surface as one).
_TRANSIENT = frozenset({5, 6, 10, 13})  # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL
# How long one attempt waits on a lock inside SQLite before our own backoff takes over; short,
# so that close() is never stuck inside one attempt for long.
_LOCK_WAIT = 0.25


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


class _Unstorable(ValueError):
    """A row SQLite cannot hold: an integer past 64 bits (a hostile upstream's usage, say)."""


def _insert(db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    if len(rows) == 1:
        try:
            # Alone, a row keeps what it can: a lone surrogate (which no UTF-8 holds) or a NUL
            # costs that character; an int past 64 bits the row.
            db.execute(_INSERT, storable(rows[0], nul=True))
        except OverflowError as exc:  # the sqlite3 module's word for an int it cannot bind
            raise _Unstorable(str(exc)) from None
        return
    try:
        # Strict: orjson writes integers up to 2**64 - 1, and SQLite's JSON reads one past
        # 2**63 - 1 as a REAL (the row written with 1.8e19 tokens, where alone it is refused).
        # Past 2**53 (no usage comes near) the rows go one by one, bound exactly.
        payload = orjson.dumps(rows, option=orjson.OPT_STRICT_INTEGER)
    except orjson.JSONEncodeError as exc:  # a lone surrogate, an int past 53 bits: row by row
        raise _Unstorable(str(exc)) from None
    if b"\\u0000" in payload:
        # SQLite's json_extract ends a string at a NUL: stored as U+FFFD instead, as alone and
        # as in PostgreSQL. (A false alarm, the six characters themselves, changes nothing.)
        payload = orjson.dumps([storable(r, nul=True) for r in rows], option=orjson.OPT_STRICT_INTEGER)
    db.execute(_INSERT_BATCH, (payload,))


def transient(exc: sqlite3.Error) -> bool:
    """SQLite errors that pass: a lock, a full disk, an I/O error."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in _TRANSIENT


class RequestLog(LogWriter):
    def __init__(
        self,
        path: Path,
        *,
        max_queue: int = 10_000,
        interval: float = 0.05,
        close_timeout: float = 10.0,
    ) -> None:
        super().__init__(str(path), max_queue=max_queue, interval=interval, close_timeout=close_timeout)
        self.path = path
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None

    def _waiting(self) -> int:
        return self._queue.qsize()

    def open(self) -> None:
        """Create or migrate the database now (so a bad path fails at start), then start the
        writer."""
        db = connect(self.path, lock_wait=_LOCK_WAIT)
        self._thread = threading.Thread(target=self._run, args=(db,), name="stopwise-log", daemon=True)
        self._thread.start()

    async def start(self) -> None:
        self.open()

    def submit(self, row: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            self._drop("queue_full", 1)

    def flush(self) -> None:
        """Wait until every submitted row is written (tests, shutdown)."""
        if self._thread is not None:
            self._queue.join()

    async def aflush(self) -> None:
        await asyncio.to_thread(self.flush)

    def close(self) -> None:
        """Write what is queued, then stop. A database still unwritable ``close_timeout``
        seconds from now loses the rows it holds back (counted, logged)."""
        if self._thread is None:
            return
        self._begin_closing()
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        self._report_losses()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def _run(self, db: sqlite3.Connection) -> None:
        try:
            while True:
                batch = [self._queue.get()]
                if batch[0] is not None:
                    # Let rows gather before writing: one transaction per interval instead of
                    # one per request, and puts in between wake no thread. Waking the writer
                    # on every row made it compete with the event loop for the GIL.
                    time.sleep(self.interval)
                while len(batch) < BATCH and batch[-1] is not None:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                rows = [r for r in batch if r is not None]
                if rows:
                    self._holding = len(rows)
                    self._write(db, rows)
                    self._holding = 0
                for _ in batch:
                    self._queue.task_done()
                if batch[-1] is None:  # the close sentinel
                    return
        finally:
            db.close()

    def _write(self, db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
        """Insert ``rows`` in one transaction, trying again while the failure is one that
        passes; the queue keeps filling meanwhile (and drops past its bound)."""
        delays = backoff()
        while True:
            if self._hopeless():
                self._drop("write_error", len(rows))
                return
            try:
                with db:
                    _insert(db, rows)
                self._written(len(rows))
                return
            except _Unstorable as exc:  # this row, or one of the batch, can never be stored
                step = self._failed(exc, len(rows), passes=False)
            except sqlite3.Error as exc:
                step = self._failed(exc, len(rows), passes=transient(exc))
            if step == "split":
                for row in rows:
                    self._write(db, [row])
            if step != "retry":
                return
            time.sleep(next(delays))
