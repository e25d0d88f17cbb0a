"""Model facts shared through the log's database: what one gateway learns, the others use; a
fact written while the database is away is written once it is back; expired facts are not
read. SQLite (one file, several processes on one host) and PostgreSQL (replicas)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
import pytest
from _pg import PostgresServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import Fact, ModelMemory
from stopwise.gateway.facts import FactStore, FactSync, PostgresFacts, SqliteFacts
from stopwise.gateway.log import connect
from stopwise.gateway.pglog import PostgresLog


async def until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def replicas(store_a: FactStore, store_b: FactStore, refresh: float) -> tuple[FactSync, FactSync]:
    a = FactSync(ModelMemory(ttl=3600), store_a, replica="gw-a", refresh=refresh)
    b = FactSync(ModelMemory(ttl=3600), store_b, replica="gw-b", refresh=refresh)
    a.memory.on_learn = a.learned
    b.memory.on_learn = b.learned
    return a, b


async def share_both_ways(a: FactSync, b: FactSync) -> None:
    await a.start()
    await b.start()
    try:
        assert b.memory.prefill("anthropic", "team-claude") is True  # the catalog's word
        a.memory.forbid_prefill("team-claude")
        assert await until(lambda: b.memory.prefill("anthropic", "team-claude") is False)
        b.memory.learn_ceiling("team-claude", 12_345)
        assert await until(lambda: a.memory.ceiling("team-claude") == 12_345)
        # Heard, not told back: each wrote its own lesson only.
        assert await until(lambda: a.saved == 1 and b.saved == 1)
    finally:
        await a.aclose()
        await b.aclose()


def test_two_gateways_on_one_sqlite_file_share_by_refresh(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    connect(path).close()
    a, b = replicas(SqliteFacts(path), SqliteFacts(path), refresh=0.05)
    asyncio.run(share_both_ways(a, b))


def with_pg_log(url: str, body: Callable[[PostgresLog, PostgresLog], Awaitable[None]]) -> None:
    async def go() -> None:
        la, lb = PostgresLog(url), PostgresLog(url)
        await la.start()
        await lb.start()
        try:
            await body(la, lb)
        finally:
            await la.aclose()
            await lb.aclose()

    asyncio.run(go())


def test_replicas_on_postgresql_hear_each_fact_at_once(pg_url: str) -> None:
    """With an hour between refreshes, only LISTEN/NOTIFY can carry the fact across."""

    async def body(la: PostgresLog, lb: PostgresLog) -> None:
        a, b = replicas(PostgresFacts(la), PostgresFacts(lb), refresh=3600)
        await share_both_ways(a, b)

    with_pg_log(pg_url, body)
    with psycopg.connect(pg_url) as db:
        rows = db.execute("SELECT model, fact, value, replica FROM model_facts ORDER BY fact").fetchall()
    assert rows == [("team-claude", "ceiling", 12_345, "gw-b"), ("team-claude", "prefill", 0, "gw-a")]


def test_a_new_replica_starts_knowing_and_expired_facts_are_not_read(pg_url: str) -> None:
    async def body(la: PostgresLog, lb: PostgresLog) -> None:
        store = PostgresFacts(la)
        now = time.time()
        await store.save(
            [Fact("team-claude", "prefill", 0, now + 60), Fact("old-claude", "ceiling", 100, now - 1)], "gw-a"
        )
        late = FactSync(ModelMemory(ttl=3600), PostgresFacts(lb), replica="gw-c", refresh=3600)
        await late.start()
        try:
            assert late.memory.prefill("anthropic", "team-claude") is False
            assert late.memory.ceiling("old-claude") is None
            assert [f.model for f in late.memory.facts()] == ["team-claude"]
        finally:
            await late.aclose()

    with_pg_log(pg_url, body)


def test_a_fact_learned_while_the_database_is_down_is_shared_once_it_is_back(
    postgres: PostgresServer, pg_url: str
) -> None:
    async def body(la: PostgresLog, lb: PostgresLog) -> None:
        a, b = replicas(PostgresFacts(la), PostgresFacts(lb), refresh=0.1)
        await a.start()
        await b.start()
        try:
            await asyncio.to_thread(postgres.stop)
            a.memory.forbid_prefill("team-claude")
            assert a.memory.prefill("anthropic", "team-claude") is False  # known here at once
            assert await until(lambda: a.pending == 1)
            await asyncio.sleep(0.3)  # a few refreshes fail meanwhile, and keep it
            assert a.pending == 1 and a.saved == 0
            await asyncio.to_thread(postgres.start)
            assert await until(lambda: a.saved == 1 and a.pending == 0, timeout=30)
            assert await until(lambda: b.memory.prefill("anthropic", "team-claude") is False, timeout=30)
        finally:
            await a.aclose()
            await b.aclose()

    with_pg_log(pg_url, body)


def test_someone_elses_notify_on_the_channel_is_ignored(pg_url: str) -> None:
    async def body(la: PostgresLog, lb: PostgresLog) -> None:
        a, b = replicas(PostgresFacts(la), PostgresFacts(lb), refresh=3600)
        await b.start()
        try:
            with psycopg.connect(pg_url, autocommit=True) as db:
                for payload in ("not json", '{"a": 1}', '["m", "prefill"]', '["m", "color", 1, 9e99]'):
                    db.execute("SELECT pg_notify('stopwise_facts', %s)", (payload,))
            await a.start()
            a.memory.forbid_prefill("team-claude")  # a real one after them still gets through
            assert await until(lambda: b.memory.prefill("anthropic", "team-claude") is False)
            assert [f.model for f in b.memory.facts()] == ["team-claude"]
        finally:
            await a.aclose()
            await b.aclose()

    with_pg_log(pg_url, body)


def test_a_model_name_no_model_has_stays_local_and_a_save_that_cannot_pass_is_not_kept(
    pg_url: str, tmp_path: Path
) -> None:
    """A client-chosen 10,000-character model name taught by a 400 is this gateway's lesson
    alone (it fits no NOTIFY); a save the database refuses for good (here: the table gone) is
    logged and dropped, not retried at every refresh forever."""

    async def body(la: PostgresLog, lb: PostgresLog) -> None:
        a, b = replicas(PostgresFacts(la), PostgresFacts(lb), refresh=0.05)
        await a.start()
        await b.start()
        try:
            a.memory.forbid_prefill("m" * 10_000)
            a.memory.forbid_prefill("team-claude")
            assert await until(lambda: b.memory.prefill("anthropic", "team-claude") is False)
            assert a.memory.prefill("anthropic", "m" * 10_000) is False  # known here
            assert b.memory.prefill("anthropic", "m" * 10_000) is True  # not shared
            assert a.saved == 1
        finally:
            await a.aclose()
            await b.aclose()

    with_pg_log(pg_url, body)

    path = tmp_path / "log.db"
    connect(path).close()

    async def gone() -> FactSync:
        sync = FactSync(ModelMemory(ttl=60), SqliteFacts(path), replica="gw", refresh=0.05)
        sync.memory.on_learn = sync.learned
        await sync.start()
        import sqlite3

        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE model_facts")
        sync.memory.learn_ceiling("team-claude", 100)
        await asyncio.sleep(0.3)  # refreshes go by (one each 0.05 s): the fact is not kept queued
        assert sync.pending == 0 and sync.saved == 0
        await sync.aclose()
        return sync

    sync = asyncio.run(gone())
    assert sync.memory.ceiling("team-claude") == 100  # still known here


_LESSONS = st.lists(
    st.tuples(
        st.integers(0, 2),  # which replica learns
        st.sampled_from(["prefill", "ceiling"]),
        st.sampled_from(["team-claude", "team-opus"]),
        st.integers(1000, 9000),  # a ceiling's value
        st.booleans(),  # learned while the others' database writes are locked out
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lessons=_LESSONS)
def test_replicas_come_to_agree_on_the_last_lesson_whatever_order_their_writes_land(
    tmp_path_factory: pytest.TempPathFactory, lessons: list[tuple[int, str, str, int, bool]]
) -> None:
    """Invariant (eventual agreement): once the database is writable again, every replica,
    and a replica started afterwards, holds for each model the fact learned last, even when an
    older fact reached the table after a newer one (its writer was locked out meanwhile)."""
    import sqlite3

    path = tmp_path_factory.mktemp("facts") / "log.db"
    connect(path).close()

    async def go() -> None:
        syncs = [
            FactSync(ModelMemory(ttl=3600), SqliteFacts(path), replica=f"gw-{i}", refresh=0.02)
            for i in range(3)
        ]
        for sync in syncs:
            sync.memory.on_learn = sync.learned
            await sync.start()
        last: dict[tuple[str, str], int] = {}
        lock: sqlite3.Connection | None = None
        try:
            for who, kind, model, value, locked in lessons:
                if locked and lock is None:
                    lock = sqlite3.connect(path, isolation_level=None, timeout=0)
                    lock.execute("BEGIN IMMEDIATE")  # saves fail (and are kept) until released
                elif not locked and lock is not None:
                    lock.execute("ROLLBACK")
                    lock.close()
                    lock = None
                memory = syncs[who].memory
                if kind == "prefill":
                    memory.forbid_prefill(model)
                    last[(model, kind)] = 0
                else:
                    memory.learn_ceiling(model, value)
                    last[(model, kind)] = value
                await asyncio.sleep(0.005)  # lessons learned at distinct times
        finally:
            if lock is not None:
                lock.execute("ROLLBACK")
                lock.close()

        def agreed(memory: ModelMemory) -> bool:
            held = {(f.model, f.fact): f.value for f in memory.facts()}
            return held == last

        assert await until(
            lambda: all(s.pending == 0 for s in syncs) and all(agreed(s.memory) for s in syncs)
        )
        late = FactSync(ModelMemory(ttl=3600), SqliteFacts(path), replica="gw-late", refresh=3600)
        await late.start()
        assert agreed(late.memory)
        for sync in [*syncs, late]:
            await sync.aclose()

    asyncio.run(go())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_fact_that_lands_late_does_not_undo_a_newer_one(pg_url: str, tmp_path: Path, backend: str) -> None:
    """The table keeps, of two facts on one model, the one that holds longer, whatever order
    their writes land in: else a replica starting later would read the older one."""

    async def check(store: FactStore) -> None:
        now = time.time()
        await store.save([Fact("team-opus", "ceiling", 200, now + 20)], "gw-b")  # learned last
        await store.save([Fact("team-opus", "ceiling", 100, now + 10)], "gw-a")  # lands late
        assert [(f.value, f.expires_at) for f in await store.load()] == [(200, now + 20)]
        await store.save([Fact("team-opus", "ceiling", 300, now + 30)], "gw-c")  # newer still
        assert [f.value for f in await store.load()] == [300]

    if backend == "sqlite":
        path = tmp_path / "log.db"
        connect(path).close()
        asyncio.run(check(SqliteFacts(path)))
    else:

        async def body(la: PostgresLog, lb: PostgresLog) -> None:
            await check(PostgresFacts(la))

        with_pg_log(pg_url, body)
