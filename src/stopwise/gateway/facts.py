"""What the gateways learn about models, shared through the request log's database.

One replica's 400 (a model that rejects prefill, an output ceiling named in a
``max_tokens: X > Y`` text) is written to ``model_facts`` with its expiry; every replica reads
the table at start and every ``facts_refresh`` seconds, and with PostgreSQL also hears of each
new fact at once (LISTEN/NOTIFY). A fact that cannot be written (the database away) is kept and
written at the next refresh; the gateway's own memory has it meanwhile. Nothing here is on a
request's path: requests read :class:`~stopwise.finisher.ModelMemory`, in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from ..finisher import Fact, ModelMemory
from .log import transient as sqlite_transient
from .logstore import import_psycopg
from .pglog import transient

if TYPE_CHECKING:
    from .pglog import PostgresLog

__all__ = ["FactStore", "FactSync", "PostgresFacts", "SqliteFacts"]

logger = logging.getLogger("stopwise.gateway")

# Of two facts on one model the one that holds longer (learned last) stays, as in each
# gateway's memory: a fact written late (its replica was cut off from the database for a while)
# must not undo a newer one that the others already hold, or a replica starting later would
# read the older one and disagree with them.
_UPSERT = """INSERT INTO model_facts (model, fact, value, learned_at, expires_at, replica)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (model, fact) DO UPDATE SET value = excluded.value, learned_at = excluded.learned_at,
    expires_at = excluded.expires_at, replica = excluded.replica
WHERE excluded.expires_at >= model_facts.expires_at"""
_LOAD = "SELECT model, fact, value, expires_at FROM model_facts WHERE expires_at > ?"
_UPSERT_PG, _LOAD_PG = (sql.replace("?", "%s") for sql in (_UPSERT, _LOAD))  # psycopg's placeholders
CHANNEL = "stopwise_facts"
MAX_SHARED_MODEL = 512  # characters; as long as the log keeps a model name
# The table holds Unix seconds; a fact learned with no expiry is stored as far in the future.
_FOREVER = 2.0**62


def _row(fact: Fact, replica: str) -> tuple[Any, ...]:
    expires = _FOREVER if math.isinf(fact.expires_at) else fact.expires_at
    return (fact.model, fact.fact, fact.value, time.time(), expires, replica)


def _fact(row: tuple[Any, ...] | list[Any]) -> Fact | None:
    model, kind, value, expires = row
    if kind not in ("prefill", "ceiling") or not isinstance(model, str):
        return None  # a kind a newer stopwise wrote: not ours to read
    return Fact(model, kind, int(value), float(expires))


class FactStore(Protocol):
    async def save(self, facts: list[Fact], replica: str) -> None: ...

    async def load(self) -> list[Fact]: ...

    async def listen(self, memory: ModelMemory) -> None:
        """Merge facts into ``memory`` as other replicas write them, until cancelled (a store
        that cannot tell returns at once; the refresh then does all the work)."""

    def passes(self, exc: BaseException) -> bool:
        """Whether a failed save is worth trying again (the database away, locked)."""


class SqliteFacts:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _save(self, facts: list[Fact], replica: str) -> None:
        # The table is there: the log's own start ran the migrations (no migrate per save).
        db = sqlite3.connect(self.path, timeout=1.0)
        try:
            with db:
                db.executemany(_UPSERT, [_row(f, replica) for f in facts])
        finally:
            db.close()

    def _load(self) -> list[Fact]:
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = db.execute(_LOAD, (time.time(),)).fetchall()
        finally:
            db.close()
        return [f for f in map(_fact, rows) if f is not None]

    async def save(self, facts: list[Fact], replica: str) -> None:
        await asyncio.to_thread(self._save, facts, replica)

    async def load(self) -> list[Fact]:
        return await asyncio.to_thread(self._load)

    async def listen(self, memory: ModelMemory) -> None:
        return

    def passes(self, exc: BaseException) -> bool:
        return isinstance(exc, OSError) or (isinstance(exc, sqlite3.Error) and sqlite_transient(exc))


class PostgresFacts:
    """On the request log's own pool; NOTIFY in the transaction that writes the fact, so it
    is heard only once the fact is there to read."""

    def __init__(self, log: PostgresLog) -> None:
        self.log = log

    async def save(self, facts: list[Fact], replica: str) -> None:
        rows = [_row(f, replica) for f in facts]
        async with self.log.pool.connection(timeout=5.0) as conn, conn.cursor() as cur:
            await cur.executemany(_UPSERT_PG, rows)
            for model, kind, value, _, expires, _ in rows:
                payload = orjson.dumps([model, kind, value, expires]).decode()
                await cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))

    async def load(self) -> list[Fact]:
        async with self.log.pool.connection(timeout=5.0) as conn, conn.cursor() as cur:
            await cur.execute(_LOAD_PG, (time.time(),))
            rows = await cur.fetchall()
        return [f for f in map(_fact, rows) if f is not None]

    async def listen(self, memory: ModelMemory) -> None:
        psycopg = import_psycopg()
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.log.url, autocommit=True, connect_timeout=5)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    # What was written while this connection was away is read once it is back.
                    memory.merge(await self.load())
                    async for note in conn.notifies():
                        try:
                            fact = _fact(orjson.loads(note.payload))
                        except (orjson.JSONDecodeError, TypeError, ValueError):
                            fact = None  # not ours: someone else's NOTIFY on the channel
                        if fact is not None:
                            memory.merge([fact])
            except psycopg.OperationalError as exc:
                logger.debug("stopwise: model facts listener lost its connection (%s); reconnecting", exc)
            await asyncio.sleep(1.0)

    def passes(self, exc: BaseException) -> bool:
        return transient(exc)


class FactSync:
    """Keeps a gateway's :class:`ModelMemory` and the shared table in step: what this gateway
    learns is written (``memory.on_learn`` is :meth:`learned`), what others learned is read."""

    def __init__(self, memory: ModelMemory, store: FactStore, *, replica: str, refresh: float) -> None:
        self.memory = memory
        self.store = store
        self.replica = replica
        self.refresh = refresh
        self.saved = 0  # facts written to the store
        self._pending: list[Fact] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._pull()  # a new replica starts knowing what the others learned
        self._tasks = [
            asyncio.create_task(self._refresh_loop(), name="stopwise-facts"),
            asyncio.create_task(self.store.listen(self.memory), name="stopwise-facts-listen"),
        ]

    def learned(self, fact: Fact) -> None:
        """``memory.on_learn``: called on whatever thread the finisher ran; never raises."""
        loop = self._loop
        if loop is None or loop.is_closed() or len(fact.model) > MAX_SHARED_MODEL or "\x00" in fact.model:
            # A model name past any real one's length (a client chose it) stays a lesson of
            # this gateway alone: it would not fit a NOTIFY (8,000 bytes) nor deserve a row.
            # So does one with a NUL (JSON's "\u0000"): PostgreSQL's text refuses it, and
            # with it the whole save, the facts learned beside it too.
            return
        loop.call_soon_threadsafe(self._queue, fact)

    def _queue(self, fact: Fact) -> None:
        self._pending.append(fact)
        self._wake.set()

    async def _push(self) -> None:
        if not self._pending:
            return
        facts, self._pending = self._pending, []
        try:
            await self.store.save(facts, self.replica)
            self.saved += len(facts)
        except Exception as exc:  # the database's errors, of either driver
            if not _store_error(exc):
                raise
            if not self.store.passes(exc):  # tried again it would fail again: not kept forever
                logger.error("stopwise: could not share %d learned model facts: %s", len(facts), exc)
                return
            self._pending = facts + self._pending
            logger.warning("stopwise: could not share %d learned model facts yet: %s", len(facts), exc)

    async def _pull(self) -> None:
        try:
            self.memory.merge(await self.store.load())
        except Exception as exc:
            if not _store_error(exc):
                raise
            logger.warning("stopwise: could not read the shared model facts: %s", exc)

    async def _refresh_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.refresh)
            self._wake.clear()
            await self._push()
            await self._pull()

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._push(), 5.0)  # what was learned last still goes out


def _store_error(exc: BaseException) -> bool:
    # UnicodeEncodeError: a model name the database's encoding lacks (a LATIN1 PostgreSQL
    # database), raised by psycopg as it encodes the fact; no retry mends it.
    if isinstance(exc, sqlite3.Error | OSError | UnicodeEncodeError):
        return True
    try:
        psycopg = import_psycopg()
    except ConnectionError:
        return False
    return isinstance(exc, psycopg.Error)
