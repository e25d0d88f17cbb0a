"""Review 15: bugs found in the shared PostgreSQL log and the shared model facts, each
proven here first."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from stopwise.finisher import Fact, ModelMemory
from stopwise.gateway.facts import FactSync, PostgresFacts, SqliteFacts
from stopwise.gateway.log import RequestLog, connect
from stopwise.gateway.logstore import LogLocation, LogUnavailable, open_reader, redact_url
from stopwise.gateway.pglog import PostgresLog, migrate_url
from stopwise.gateway.record import Exchange


@pytest.mark.parametrize("char", ["#", "?"])
def test_redact_url_hides_a_password_holding_a_hash_or_a_question_mark(char: str) -> None:
    # libpq takes these unencoded (conninfo_to_dict reads password 'se#cret'); urlsplit ends
    # the netloc there, and the whole URL came back unredacted.
    url = f"postgresql://u:se{char}cret@127.0.0.1:5432/db"
    assert "cret" not in redact_url(url)
    assert "cret" not in str(LogLocation("postgresql", url=url))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:se%zzcret@127.0.0.1:1/db",  # libpq quotes the bad token: the password
        "postgresql://u:secret@127.0.0.1:1/db?bogus=1",
    ],
)
def test_a_url_libpq_cannot_parse_is_log_unavailable_without_its_password(url: str) -> None:
    # Before: psycopg.ProgrammingError escaped untyped (a traceback at start), its text
    # holding the password.
    with pytest.raises(LogUnavailable) as info:
        migrate_url(url)
    assert "cret" not in str(info.value)
    with pytest.raises(LogUnavailable) as info:
        open_reader(LogLocation("postgresql", url=url))
    assert "cret" not in str(info.value)


def test_a_fact_postgresql_cannot_hold_does_not_take_the_other_facts_with_it(pg_url: str) -> None:
    # A client-chosen model name with a NUL (JSON "\u0000") taught by a 400, learned in the
    # same refresh as a good fact: PostgreSQL refused the whole save, and the good fact was
    # never shared.
    async def go() -> tuple[FactSync, list[Fact]]:
        log = PostgresLog(pg_url)
        await log.start()
        sync = FactSync(ModelMemory(ttl=3600), PostgresFacts(log), replica="gw", refresh=3600)
        sync.memory.on_learn = sync.learned
        await sync.start()
        try:
            sync.memory.forbid_prefill("bad\x00model")
            sync.memory.learn_ceiling("team-claude", 4000)
            await sync.aclose()  # the last push: whatever is pending goes out
            loaded = await PostgresFacts(log).load()
        finally:
            await sync.aclose()
            await log.aclose()
        return sync, loaded

    sync, loaded = asyncio.run(go())
    assert [(f.model, f.fact, f.value) for f in loaded] == [("team-claude", "ceiling", 4000)]
    assert sync.memory.prefill("anthropic", "bad\x00model") is False  # still known here


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_older_fact_saved_late_does_not_overwrite_a_newer_one(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    # Replica A learned a ceiling, could not save it (database away); B learned a newer one and
    # saved it; A's late save overwrote it in the table, so a replica starting then read the
    # older fact, while every running replica (merge keeps the one that holds longer) kept
    # B's: the table and the memories disagreed.
    now = time.time()
    newer = Fact("team-claude", "ceiling", 8000, now + 2000)
    older = Fact("team-claude", "ceiling", 4000, now + 1000)

    async def go() -> list[Fact]:
        if backend == "sqlite":
            path = tmp_path / "log.db"
            connect(path).close()
            store: SqliteFacts | PostgresFacts = SqliteFacts(path)
        else:
            log = PostgresLog(request.getfixturevalue("pg_url"))
            await log.start()
            store = PostgresFacts(log)
        try:
            await store.save([newer], "gw-b")
            await store.save([older], "gw-a")
            return await store.load()
        finally:
            if backend != "sqlite":
                await log.aclose()

    loaded = asyncio.run(go())
    assert [(f.value, f.expires_at) for f in loaded] == [(8000, newer.expires_at)]
    memory = ModelMemory(ttl=3600)
    memory.merge([newer])
    memory.merge([older])
    assert memory.ceiling("team-claude") == 8000  # what merge keeps


def test_a_uint64_in_a_sqlite_batch_is_not_stored_as_a_float(tmp_path: Path) -> None:
    # orjson writes integers up to 2**64 - 1; SQLite's JSON reads one past 2**63 - 1 as a REAL:
    # in a batch the row was written with 1.8446744073709552e19 tokens, alone it is refused.
    good = Exchange("POST", "/v1/messages", status=200).row()
    odd = Exchange("POST", "/v1/messages", status=200).row()
    odd["output_tokens"] = 2**64 - 1
    log = RequestLog(tmp_path / "log.db")
    log.submit(good)
    log.submit(odd)
    log.open()  # both queued before the writer starts: one batch
    log.close()
    with sqlite3.connect(tmp_path / "log.db") as db:
        got = dict(db.execute("SELECT uid, output_tokens FROM requests").fetchall())
    assert got == {good["uid"]: None}
    assert log.dropped == {"write_error": 1}


def test_a_request_id_past_64_bits_is_no_such_request(tmp_path: Path) -> None:
    # /ui/api/requests/{id:int} takes any digits; SQLite's driver raised OverflowError (a 500).
    from stopwise.gateway.ui.data import request_row

    path = tmp_path / "log.db"
    connect(path).close()
    assert request_row(path, 2**64) is None


def test_a_busy_sqlite_file_fully_migrated_does_not_stop_a_gateway_starting(tmp_path: Path) -> None:
    # Another process holding the write lock (a second gateway's batch, a sqlite3 shell, a
    # backup) for more than 0.25 s: RequestLog.open() ran BEGIN IMMEDIATE for every migration,
    # applied or not, and raised sqlite3.OperationalError "database is locked" at start.
    path = tmp_path / "log.db"
    connect(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        log = RequestLog(path)
        log.open()
        log.submit(Exchange("POST", "/v1/messages", status=200).row())
    finally:
        other.execute("ROLLBACK")
        other.close()
    log.close()
    assert log.written == 1


def test_a_postgresql_reader_whose_server_went_away_is_log_unavailable(pg_url: str) -> None:
    # The server restarted (its sessions ended) between the dashboard's connect and its query:
    # psycopg.OperationalError escaped untyped (a 500, a traceback from `stopwise logs`) where
    # the dashboard answers LogUnavailable with a 503 and tries again.
    import psycopg

    migrate_url(pg_url)
    reader = open_reader(LogLocation("postgresql", url=pg_url))
    try:
        (pid,) = reader.rows("SELECT pg_backend_pid()")[0]
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(LogUnavailable) as info:
            reader.rows("SELECT COUNT(*) FROM requests")
        assert "cannot reach" in str(info.value)
    finally:
        reader.close()


def test_a_usage_past_32_bits_is_kept_on_postgresql_as_on_sqlite(pg_url: str, tmp_path: Path) -> None:
    # PostgreSQL's INTEGER is 4 bytes, SQLite's 8: a row with 2**40 output tokens (a hostile
    # upstream's usage) is kept by the SQLite log and dropped whole by the PostgreSQL one,
    # whose docstring promises the rest of the row as it came, as the SQLite log does.
    row = Exchange("POST", "/v1/messages", model="m", status=200).row()
    row["output_tokens"] = 2**40

    async def go() -> PostgresLog:
        log = PostgresLog(pg_url)
        await log.start()
        log.submit(row)
        await log.aclose()
        return log

    log = asyncio.run(go())
    assert not log.dropped
    import orjson

    from stopwise.gateway.query import stats

    figures = stats(LogLocation("postgresql", url=pg_url))
    orjson.dumps(figures)  # ints, not the Decimal PostgreSQL's SUM of a BIGINT is
    assert figures["tokens_by_model"][0]["output_tokens"] == 2**40
    sqlite_log = RequestLog(tmp_path / "log.db")
    sqlite_log.submit(dict(row))
    sqlite_log.open()
    sqlite_log.close()
    assert not sqlite_log.dropped


def test_a_negative_limit_reads_the_same_from_both_databases(pg_url: str, tmp_path: Path) -> None:
    # `stopwise logs -n -1`: SQLite's LIMIT -1 is no limit, PostgreSQL's an error that escaped
    # untyped (psycopg.errors.InvalidRowCountInLimitClause, a traceback).
    from stopwise.gateway.query import recent

    migrate_url(pg_url)
    path = tmp_path / "log.db"
    connect(path).close()
    assert recent(path, limit=-1) == recent(LogLocation("postgresql", url=pg_url), limit=-1)


def test_a_character_the_database_encoding_lacks_costs_its_row_not_the_writer(pg_url: str) -> None:
    # A PostgreSQL database in LATIN1 (an older install): psycopg encodes to the connection's
    # encoding and raises UnicodeEncodeError, no psycopg.Error: it escaped the writer task,
    # which died (aflush then waits forever); aclose raised it, the pool was never closed,
    # and the rows of the batch were lost with it.
    import psycopg

    name = "latin1_" + str(abs(hash(pg_url)) % 10**8)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    good = Exchange("POST", "/v1/messages", model="claude", status=200).row()
    odd = Exchange("POST", "/v1/messages", model="claude-\u20ac", status=200).row()
    later = Exchange("POST", "/v1/messages", model="claude", status=200).row()

    async def go() -> PostgresLog:
        log = PostgresLog(url)
        for row in (good, odd, later):
            log.submit(row)  # queued before the writer starts: one batch
        await log.start()
        await log.aclose()
        return log

    try:
        log = asyncio.run(go())
        with psycopg.connect(url) as db:
            uids = {r[0] for r in db.execute("SELECT uid FROM requests")}
        assert uids == {good["uid"], later["uid"]}
        assert log.dropped == {"write_error": 1}
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_fact_the_database_encoding_lacks_does_not_end_the_refresh_or_the_shutdown(
    pg_url: str,
) -> None:
    # The same LATIN1 database: saving a fact on "claude-\u20ac" raised UnicodeEncodeError,
    # no store error, which ended the refresh task; FactSync.aclose re-raised it, so the
    # gateway's shutdown stopped there and never closed the request log (its queue lost).
    import psycopg

    name = "latin1f_" + str(abs(hash(pg_url)) % 10**8)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        )
    url = pg_url.rsplit("/", 1)[0] + "/" + name

    async def go() -> FactSync:
        log = PostgresLog(url)
        await log.start()
        sync = FactSync(ModelMemory(ttl=3600), PostgresFacts(log), replica="gw", refresh=3600)
        sync.memory.on_learn = sync.learned
        await sync.start()
        try:
            sync.memory.learn_ceiling("claude-\u20ac", 4000)
            await sync.aclose()
        finally:
            await log.aclose()
        return sync

    try:
        sync = asyncio.run(go())
        assert sync.memory.ceiling("claude-\u20ac") == 4000  # still known here
        assert sync.pending == 0  # refused for good: not kept
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_row_submitted_after_the_log_closed_is_counted_lost(pg_url: str) -> None:
    """A request that outlives the shutdown submits its row to a closed writer: there is no
    writer to take it, so it is counted as lost (it used to sit on the queue, uncounted)."""
    import asyncio

    from stopwise.gateway.pglog import PostgresLog
    from stopwise.gateway.record import Exchange

    async def go() -> PostgresLog:
        log = PostgresLog(pg_url)
        await log.start()
        log.submit(Exchange("POST", "/v1/messages", status=200).row())
        await log.aclose()
        log.submit(Exchange("POST", "/v1/messages", status=200).row())
        return log

    log = asyncio.run(go())
    assert log.written == 1 and log.dropped == {"write_error": 1}
