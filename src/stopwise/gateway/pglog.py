"""The request log in PostgreSQL, shared by gateway replicas (``--log-url postgresql://…``).

The same rows, migrations and rules as the SQLite log (:mod:`.logwriter`), written by one
asyncio task per gateway through a psycopg connection pool, never by a request handler. A
server that restarts, fails over or refuses connections for a while loses nothing: the batch
is kept and tried again, each row carrying its own ``uid`` so that a batch written again after
a commit whose acknowledgement was lost adds no row twice.

PostgreSQL's text cannot hold NUL, and a client may put one in what the log keeps (a model
name, a path): such characters (and lone surrogates, which no UTF-8 holds) are stored as
U+FFFD, the rest of the row as it came, as the SQLite log does.

psycopg is imported only here and only when a PostgreSQL log is asked for: SQLite stays the
default with nothing to install.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from .log import COLUMNS
from .logstore import import_pool, import_psycopg, redact_url, unavailable
from .logwriter import BATCH, LogWriter, backoff, storable
from .migrations import Migration, Schema, run_pending

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresLog", "applied_postgres", "migrate_postgres", "migrate_url"]

_INSERT = (
    f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join(f'%({c})s' for c in COLUMNS)})"
    " ON CONFLICT (uid) DO NOTHING"
)
# Any fixed number: replicas starting together take this lock, so one migrates and the others
# then find the migrations recorded.
_MIGRATION_LOCK = 0x73746F70  # "stop"
_CONNECT_TIMEOUT = 5.0


def migrate_postgres(conn: psycopg.Connection[Any], migrations: list[Migration] | None = None) -> list[str]:
    """Run the migrations not yet recorded, all in one transaction under an advisory lock;
    return their names. PostgreSQL's DDL is transactional: a failing migration leaves nothing."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _stopwise_migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        done = {row[0] for row in conn.execute("SELECT name FROM _stopwise_migrations")}

        def record(name: str, at: str) -> None:
            conn.execute("INSERT INTO _stopwise_migrations (name, applied_at) VALUES (%s, %s)", (name, at))

        return run_pending(Schema(conn.execute, "postgresql"), done, migrations, record)


def applied_postgres(conn: psycopg.Connection[Any]) -> list[str]:
    exists = conn.execute("SELECT to_regclass('_stopwise_migrations')").fetchone()
    if not exists or exists[0] is None:
        return []
    return [row[0] for row in conn.execute("SELECT name FROM _stopwise_migrations ORDER BY name")]


def migrate_url(url: str) -> None:
    psycopg = import_psycopg()
    try:
        conn = psycopg.connect(url, connect_timeout=_CONNECT_TIMEOUT)
    except psycopg.Error as exc:  # unreachable, or a URL libpq cannot parse
        raise unavailable(url, exc) from None
    try:
        with conn:
            migrate_postgres(conn)
    except psycopg.OperationalError as exc:
        raise unavailable(url, exc) from None


def transient(exc: BaseException) -> bool:
    """Errors that pass: the server unreachable, restarting or shutting down, a lost
    connection, a pool with no connection to give, a full disk, a lock or a serialization
    conflict, a standby that is not yet primary, a statement past its timeout. Not: bad data, a
    missing table."""
    psycopg = import_psycopg()
    errors = psycopg.errors
    return isinstance(
        exc,
        psycopg.OperationalError  # connection failures, admin shutdown, disk full, pool timeout
        | errors.SerializationFailure
        | errors.DeadlockDetected
        | errors.LockNotAvailable
        | errors.ReadOnlySqlTransaction,
    )


class PostgresLog(LogWriter):
    def __init__(
        self,
        url: str,
        *,
        max_queue: int = 10_000,
        interval: float = 0.05,
        close_timeout: float = 10.0,
        pool_size: int = 4,
        statement_timeout: float = 5.0,
    ) -> None:
        super().__init__(redact_url(url), max_queue=max_queue, interval=interval, close_timeout=close_timeout)
        self.url = url
        self.pool_size = pool_size
        # A write that waits longer (on a lock another session holds, a stalled disk) fails
        # and is tried again like any failure that passes; without it, it would wait forever,
        # and so would closing.
        self.statement_timeout = statement_timeout
        self._pool: AsyncConnectionPool | None = None
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread_id: int | None = None
        self._closed = False

    def _waiting(self) -> int:
        return self._queue.qsize()

    @property
    def pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL request log is not started")
        return self._pool

    async def start(self) -> None:
        """Migrate now (so a wrong URL or an unreachable server fails at start), then open the
        pool and start the writer task."""
        pool_class = import_pool().AsyncConnectionPool
        await asyncio.to_thread(migrate_url, self.url)
        self._pool = pool_class(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            open=False,
            # A connection the server dropped (a restart) is found out when taken, not when a
            # batch fails on it.
            check=pool_class.check_connection,
            kwargs={"connect_timeout": _CONNECT_TIMEOUT},
            configure=self._configure,
            name="stopwise-log",
        )
        await self._pool.open()
        self._loop = asyncio.get_running_loop()
        self._thread_id = threading.get_ident()
        self._task = asyncio.create_task(self._run(), name="stopwise-log")

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        ms = max(1, int(self.statement_timeout * 1000))
        await conn.execute(f"SET statement_timeout = {ms}")  # an int of ours, not input
        await conn.commit()

    def submit(self, row: dict[str, Any]) -> None:
        if self._loop is not None and threading.get_ident() != self._thread_id:
            # asyncio.Queue belongs to its loop's thread.
            try:
                self._loop.call_soon_threadsafe(self._put, row)
            except RuntimeError:  # the loop has closed meanwhile
                self._drop("write_error", 1)
        else:
            self._put(row)

    def _put(self, row: dict[str, Any]) -> None:
        if self._closed:  # after aclose began (a request outliving the shutdown): lost, but counted
            self._drop("write_error", 1)
            return
        try:
            self._queue.put_nowait(row)
        except asyncio.QueueFull:
            self._drop("queue_full", 1)

    def flush(self, timeout: float | None = None) -> None:
        """:meth:`aflush` from another thread than the gateway's loop (tests, embedders)."""
        if self._loop is not None and self._task is not None:
            asyncio.run_coroutine_threadsafe(self.aflush(), self._loop).result(timeout)

    async def aflush(self) -> None:
        """Wait until every submitted row is written (tests, shutdown)."""
        if self._task is not None:
            await self._queue.join()

    async def aclose(self) -> None:
        """Write what is queued, then stop. A database still unwritable ``close_timeout``
        seconds from now loses the rows it holds back (counted, logged)."""
        if self._task is None:
            return
        self._begin_closing()
        # Waits for room on a full queue: the writer frees it, by writing or, once out of time,
        # by dropping.
        await self._queue.put(None)
        self._closed = True  # rows put after the close sentinel would have no writer
        await self._task
        self._task = None
        await self.pool.close()
        self._report_losses()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if batch[0] is not None:
                await asyncio.sleep(self.interval)  # let rows gather: one transaction per interval
            while len(batch) < BATCH and batch[-1] is not None:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            rows = [storable(r, nul=True) for r in batch if r is not None]
            if rows:
                self._holding = len(rows)
                await self._write(rows)
                self._holding = 0
            for _ in batch:
                self._queue.task_done()
            if batch[-1] is None:
                return

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        psycopg = import_psycopg()
        delays = backoff()
        while True:
            if self._hopeless():
                self._drop("write_error", len(rows))
                return
            try:
                async with self.pool.connection(timeout=_CONNECT_TIMEOUT) as conn, conn.cursor() as cur:
                    await cur.executemany(_INSERT, rows)
                self._written(len(rows))
                return
            # UnicodeEncodeError: a character the database's encoding lacks (a LATIN1
            # database), raised by psycopg as it encodes a row, before the server sees it.
            except (psycopg.Error, UnicodeEncodeError) as exc:
                step = self._failed(exc, len(rows), passes=transient(exc))
            if step == "split":
                for row in rows:
                    await self._write([row])
            if step != "retry":
                return
            await asyncio.sleep(next(delays))
