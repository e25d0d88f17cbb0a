"""The request log in PostgreSQL, against a real server the suite starts (``postgres``
fixture): the same migrations from blank, the same rows and answers as the SQLite log, nothing
lost to a server that restarts, and nothing written twice."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _gateway import pg_rows
from _pg import PostgresServer
from _rows import log_rows
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.gateway.log import COLUMNS, RequestLog
from stopwise.gateway.logstore import LogLocation, LogNotFound, LogUnavailable, parse_log_url
from stopwise.gateway.migrations import MIGRATIONS
from stopwise.gateway.pglog import PostgresLog, applied_postgres, migrate_postgres
from stopwise.gateway.query import recent, stats
from stopwise.gateway.record import Exchange
from stopwise.gateway.ui.data import over_time, rebilled_by_model, request_row


def pg_columns(url: str) -> list[str]:
    with psycopg.connect(url) as db:
        cur = db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'requests' "
            "ORDER BY ordinal_position"
        )
        return [r[0] for r in cur]


def write_pg(url: str, rows: list[dict[str, Any]], **kwargs: Any) -> PostgresLog:
    async def go() -> PostgresLog:
        log = PostgresLog(url, **kwargs)
        await log.start()
        for row in rows:
            log.submit(row)
        await log.aclose()
        return log

    return asyncio.run(go())


async def retrying(log: PostgresLog, timeout: float = 10.0) -> None:
    """Until the writer has found the database unwritable and is trying again (or the
    timeout: the caller's assertion on ``retries`` then says so)."""
    for _ in range(int(timeout / 0.02)):
        if log.retries:
            return
        await asyncio.sleep(0.02)


def write_sqlite(path: Path, rows: list[dict[str, Any]]) -> None:
    log = RequestLog(path)
    log.open()
    for row in rows:
        log.submit(row)
    log.close()


# -- migrations --------------------------------------------------------------------------------


def test_a_blank_database_gets_every_migration_and_the_sqlite_columns(pg_url: str) -> None:
    with psycopg.connect(pg_url) as db:
        ran = migrate_postgres(db)
        assert ran == [m.__name__ for m in MIGRATIONS] == applied_postgres(db)
        assert migrate_postgres(db) == []  # a second run has nothing to do
        tables = {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        indexes = {r[0] for r in db.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'requests'")}
    assert {"requests", "model_facts", "_stopwise_migrations"} <= tables
    assert {"requests_time", "requests_model", "requests_state", "requests_uid"} <= indexes
    assert pg_columns(pg_url) == ["id", *COLUMNS]  # SQLite's columns, in the same order


def test_an_older_database_gets_only_the_new_migrations(pg_url: str) -> None:
    with psycopg.connect(pg_url) as db:
        migrate_postgres(db, MIGRATIONS[:4])
        db.execute(
            "INSERT INTO requests (time, method, route, stream) VALUES ('t', 'POST', '/v1/messages', 0)"
        )
        db.commit()
        assert "uid" not in pg_columns(pg_url)
        assert migrate_postgres(db) == [m.__name__ for m in MIGRATIONS[4:]]
        assert db.execute("SELECT route, uid FROM requests").fetchall() == [("/v1/messages", None)]


def test_a_failing_migration_leaves_nothing_behind(pg_url: str) -> None:
    def m999_broken(db: Any) -> None:
        db.execute("CREATE TABLE half (x INTEGER)")
        db.execute("THIS IS NOT SQL")

    with psycopg.connect(pg_url) as db:
        migrate_postgres(db)
        with pytest.raises(psycopg.errors.SyntaxError):
            migrate_postgres(db, [*MIGRATIONS, m999_broken])
        assert "m999_broken" not in applied_postgres(db)
        assert db.execute("SELECT to_regclass('half')").fetchone() == (None,)


def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    """Eight gateways opening one blank database at the same moment: the advisory lock lets one
    migrate, the others find it done (without it, all but one fail on CREATE TABLE)."""
    barrier = threading.Barrier(8)
    results: list[list[str] | BaseException] = []

    def start() -> None:
        with psycopg.connect(pg_url) as db:
            barrier.wait()
            try:
                results.append(migrate_postgres(db))
            except BaseException as exc:
                results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not [r for r in results if isinstance(r, BaseException)]
    assert sorted(len(r) for r in results if isinstance(r, list)) == [0] * 7 + [len(MIGRATIONS)]


# -- the same answers as SQLite ----------------------------------------------------------------


@pytest.fixture
def pg_blank(pg_url: str) -> str:
    with psycopg.connect(pg_url) as db:
        migrate_postgres(db)
    return pg_url


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(log_rows(), max_size=30, unique_by=lambda r: r["uid"]), data=st.data())
def test_every_reading_of_the_log_is_the_same_from_postgresql_as_from_sqlite(
    pg_blank: str, tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]], data: st.DataObject
) -> None:
    """Invariant: for any rows, `stopwise logs` (every filter), `stats` and every dashboard
    figure read the same from PostgreSQL as from SQLite."""
    with psycopg.connect(pg_blank) as db:
        db.execute("TRUNCATE requests RESTART IDENTITY")
    sqlite_path = tmp_path_factory.mktemp("same") / "log.db"
    write_sqlite(sqlite_path, rows)
    write_pg(pg_blank, rows)
    pg, lite = parse_log_url(pg_blank), LogLocation.sqlite(sqlite_path)

    filters = data.draw(
        st.fixed_dictionaries(
            {},
            optional={
                "model": st.sampled_from(["claude-haiku-4-5", "gpt-4o"]),
                "outcome": st.sampled_from(["complete", "abandoned", "cut", "failed", "answered"]),
                "stop_reason": st.sampled_from(["max_tokens", "end_turn", "length"]),
                "state": st.sampled_from(["complete", "truncated"]),
                "since": st.sampled_from(["2026-12-01T19", "2026-12-01T18:3", "2026-12-02"]),
                "until": st.sampled_from(["2026-12-01T19", "2026-12-02T07:30"]),
                "replica": st.sampled_from(["gw-1", "gw-2", "gw-3"]),
                "limit": st.integers(1, 40),
                "with_bodies": st.booleans(),
            },
        )
    )
    assert recent(pg, **filters) == recent(lite, **filters)
    assert stats(pg) == stats(lite)
    for bucket in ("minute", "hour", "day", None):
        assert over_time(pg, bucket) == over_time(lite, bucket)
    assert rebilled_by_model(pg) == rebilled_by_model(lite)
    for i in range(1, len(rows) + 1):
        assert request_row(pg, i) == request_row(lite, i)
    assert request_row(pg, len(rows) + 1) is None


def test_time_filters_compare_bytewise_in_a_database_with_a_linguistic_locale(
    postgres: PostgresServer,
) -> None:
    """A production database created with an ICU locale orders punctuation its own way (``.``
    before ``+``, bytewise the other way round), so ``since=…T19:00:00+00:00`` would leave out
    a row logged at ``…T19:00:00.000+00:00``, the same instant; the log's time column is
    bytewise, as in SQLite."""
    name = "icu_log"
    with psycopg.connect(postgres.url, autocommit=True) as admin:
        try:
            admin.execute(
                f"CREATE DATABASE {name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'"
            )
        except psycopg.errors.FeatureNotSupported:
            pytest.skip("this PostgreSQL was built without ICU")
    try:
        url = postgres.url.rsplit("/", 1)[0] + f"/{name}"
        times = [
            "2026-12-01T18:59:59.000+00:00",
            "2026-12-01T19:00:00.000+00:00",
            "2026-12-01T19:00:01.000+00:00",
        ]
        rows = []
        for t in times:
            row = Exchange("POST", "/v1/messages", status=200).row()
            row["time"] = t
            rows.append(row)
        write_pg(url, rows)
        since = "2026-12-01T19:00:00+00:00"
        got = [r["time"] for r in recent(parse_log_url(url), since=since, limit=10)]
        assert got == [times[2], times[1]]
    finally:
        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# -- the writer --------------------------------------------------------------------------------


def test_rows_are_written_once_whatever_is_submitted_twice(pg_blank: str) -> None:
    row = Exchange("POST", "/v1/messages", status=200).row(replica="gw-1")
    other = Exchange("POST", "/v1/messages", status=200).row(replica="gw-1")
    log = write_pg(pg_blank, [row, row, other, row])
    got = pg_rows(pg_blank)
    assert sorted(r["uid"] for r in got) == sorted([row["uid"], other["uid"]])
    assert log.dropped == {} and log.written == 4  # the repeats were accepted, and added nothing


def test_a_nul_in_a_client_chosen_string_costs_that_character_not_the_row(pg_blank: str) -> None:
    row = Exchange("POST", "/v1/\x00messages", model="claude\x00-haiku", status=400).row()
    others = [Exchange("POST", "/v1/messages", status=200).row() for _ in range(3)]
    log = write_pg(pg_blank, [*others[:2], row, others[2]])
    got = {r["uid"]: r for r in pg_rows(pg_blank)}
    assert len(got) == 4 and log.dropped == {}
    assert (
        got[row["uid"]]["model"] == "claude\ufffd-haiku" and got[row["uid"]]["route"] == "/v1/\ufffdmessages"
    )


def test_a_row_the_database_refuses_for_good_takes_only_itself(pg_blank: str) -> None:
    good = [Exchange("POST", "/v1/messages", status=200).row() for _ in range(5)]
    bad = Exchange("POST", "/v1/messages").row()
    bad["status"] = "not a number"  # a bug of ours, say: PostgreSQL refuses it, SQLite would not
    log = write_pg(pg_blank, [*good[:3], bad, *good[3:]])
    assert sorted(r["uid"] for r in pg_rows(pg_blank)) == sorted(r["uid"] for r in good)
    assert log.dropped == {"write_error": 1}


def test_a_server_restart_loses_no_rows(postgres: PostgresServer, pg_blank: str) -> None:
    """Rows submitted while the server is down wait on the queue and are written once it is
    back; the pool's broken connections are replaced, not used."""

    async def go() -> PostgresLog:
        log = PostgresLog(pg_blank, close_timeout=60)
        await log.start()
        before = [Exchange("POST", "/v1/messages", status=200).row() for _ in range(20)]
        for row in before:
            log.submit(row)
        await log.aflush()
        await asyncio.to_thread(postgres.stop)
        during = [Exchange("POST", "/v1/messages", status=200).row() for _ in range(30)]
        for row in during:
            log.submit(row)
        # The writer has found the server gone and is retrying (not dropping).
        await retrying(log)
        assert log.retries > 0 and log.queued == 30 and not log.dropped  # all 30 held, none lost
        await asyncio.to_thread(postgres.start)
        after = [Exchange("POST", "/v1/messages", status=200).row() for _ in range(10)]
        for row in after:
            log.submit(row)
        await log.aclose()
        log.expected = {r["uid"] for r in before + during + after}  # type: ignore[attr-defined]
        return log

    log = asyncio.run(go())
    assert {r["uid"] for r in pg_rows(pg_blank)} == log.expected  # type: ignore[attr-defined]
    assert log.dropped == {} and log.written == 60


def test_a_server_still_down_at_close_loses_its_rows_counted(postgres: PostgresServer, pg_blank: str) -> None:
    async def go() -> PostgresLog:
        log = PostgresLog(pg_blank, close_timeout=0.5)
        await log.start()
        await asyncio.to_thread(postgres.stop)
        for _ in range(7):
            log.submit(Exchange("POST", "/v1/messages", status=200).row())
        await log.aclose()
        return log

    log = asyncio.run(go())
    assert log.dropped == {"write_error": 7} and log.written == 0


def test_a_table_locked_by_another_session_stalls_nothing_and_closing_ends(pg_blank: str) -> None:
    """An insert waiting on a lock fails at the statement timeout and is tried again: once the
    lock goes the rows are written; if it never goes, closing still ends at its timeout and
    counts what it could not write (without the timeout, closing waited forever)."""

    async def go(release: bool) -> PostgresLog:
        log = PostgresLog(pg_blank, statement_timeout=0.2, close_timeout=1.0)
        await log.start()
        lock = await psycopg.AsyncConnection.connect(pg_blank)
        await lock.execute("LOCK TABLE requests IN EXCLUSIVE MODE")
        for _ in range(4):
            log.submit(Exchange("POST", "/v1/messages", status=200).row())
        await retrying(log)
        assert log.retries > 0 and log.queued == 4 and not log.dropped
        if release:
            await lock.rollback()
        await log.aclose()
        await lock.close()
        return log

    kept = asyncio.run(go(release=True))
    assert kept.written == 4 and not kept.dropped and len(pg_rows(pg_blank)) == 4
    stuck = asyncio.run(go(release=False))
    assert stuck.written == 0 and stuck.dropped == {"write_error": 4} and len(pg_rows(pg_blank)) == 4


def test_a_server_that_turns_read_only_for_a_while_loses_no_rows(
    postgres: PostgresServer, pg_blank: str
) -> None:
    """What a failover looks like from a writer still pointed at the old primary, or a standby
    not yet promoted: inserts refused as read-only (``25006``). Tried again, not dropped."""

    def read_only(on: bool) -> None:
        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute("SET default_transaction_read_only = off")
            admin.execute(f"ALTER SYSTEM SET default_transaction_read_only = {'on' if on else 'off'}")
            admin.execute("SELECT pg_reload_conf()")

    async def go() -> PostgresLog:
        log = PostgresLog(pg_blank)
        await log.start()
        await asyncio.to_thread(read_only, True)
        try:
            for _ in range(6):
                log.submit(Exchange("POST", "/v1/messages", status=200).row())
            await retrying(log)
            assert log.retries > 0 and log.queued == 6 and not log.dropped
        finally:
            await asyncio.to_thread(read_only, False)
        await log.aclose()
        return log

    log = asyncio.run(go())
    assert log.written == 6 and not log.dropped and len(pg_rows(pg_blank)) == 6


def test_a_full_queue_drops_past_its_bound_and_counts(pg_blank: str) -> None:
    async def go() -> PostgresLog:
        log = PostgresLog(pg_blank, max_queue=3)
        for _ in range(5):  # not started: nothing drains the queue
            log.submit(Exchange("POST", "/v1/messages").row())
        assert log.dropped == {"queue_full": 2} and log.queued == 3
        await log.start()
        await log.aclose()
        return log

    log = asyncio.run(go())
    assert len(pg_rows(pg_blank)) == 3 and log.written == 3 and log.dropped == {"queue_full": 2}


def test_a_wrong_url_fails_at_start_without_its_password(postgres: PostgresServer) -> None:
    port = postgres.url.rsplit(":", 1)[1].split("/")[0]
    url = f"postgresql://postgres:s3cret-pw@127.0.0.1:{port}/no_such_database"

    async def go() -> None:
        await PostgresLog(url).start()

    with pytest.raises(LogUnavailable) as err:
        asyncio.run(go())
    assert "s3cret-pw" not in str(err.value) and "***" in str(err.value)
    with pytest.raises(LogUnavailable) as err:
        recent(parse_log_url(url))
    assert "s3cret-pw" not in str(err.value)


def test_reading_a_database_without_a_log_says_so(pg_url: str) -> None:
    with pytest.raises(LogNotFound, match="no request log in"):
        stats(parse_log_url(pg_url))


def test_readers_cannot_write(pg_blank: str) -> None:
    from stopwise.gateway.logstore import open_reader

    with open_reader(parse_log_url(pg_blank)) as db, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        db.rows("DELETE FROM requests")


# -- a gateway on it ---------------------------------------------------------------------------


def test_a_gateway_logs_to_postgresql_and_its_dashboard_reads_it(
    gateway_factory: Any, postgres: PostgresServer, pg_url: str
) -> None:
    import httpx2

    with gateway_factory(log_url=pg_url, replica="gw-x") as gw:
        gw.anthropic().messages.create(
            model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": "prose"}]
        )
        gw.openai().chat.completions.create(
            model="gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
        rows = gw.rows()
        assert [r["replica"] for r in rows] == ["gw-x", "gw-x"] and rows[0]["rounds"] > 1
        listed = httpx2.get(f"{gw.url}/ui/api/requests").json()["requests"]
        assert [r["uid"] for r in listed] == [r["uid"] for r in reversed(rows)]
        one = httpx2.get(f"{gw.url}/ui/api/requests/{rows[0]['id']}").json()
        assert one["model"] == "claude-haiku-4-5" and len(one["round_details"]) == rows[0]["rounds"]
        figures = httpx2.get(f"{gw.url}/ui/api/stats").json()
        assert figures["requests"] == 2 and figures["truncations_rescued"] >= 1
        postgres.stop()
        try:
            down = httpx2.get(f"{gw.url}/ui/api/stats")
            assert down.status_code == 503 and "cannot reach the request log" in down.json()["error"]
            # The gateway goes on answering; the row waits for the database.
            gw.openai().chat.completions.create(
                model="gpt-4o", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            )
        finally:
            postgres.start()
        assert len(gw.rows()) == 3


# -- the writers' promise, for any order of events ---------------------------------------------

_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("rows"), st.integers(1, 40)),
        st.tuples(st.just("again"), st.integers(0, 10)),  # a row submitted once more
        st.tuples(st.just("lock"), st.floats(0.0, 0.15)),  # another session holds the table
        st.tuples(st.just("wait"), st.floats(0.0, 0.05)),
    ),
    max_size=8,
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS, backend=st.sampled_from(["postgresql", "sqlite"]))
def test_every_row_submitted_is_written_once_whatever_the_database_did(
    pg_blank: str, tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, Any]], backend: str
) -> None:
    """Invariant, both writers: with room on the queue and the database writable again before
    closing, the rows in the log are exactly the distinct rows submitted, each once, none
    dropped, whatever locks and repeats came between."""
    import sqlite3

    with psycopg.connect(pg_blank) as db:
        db.execute("TRUNCATE requests RESTART IDENTITY")
    path = tmp_path_factory.mktemp("writers") / "log.db"

    async def go() -> tuple[set[str], Any]:
        log: PostgresLog | RequestLog
        if backend == "postgresql":
            log = PostgresLog(pg_blank, statement_timeout=0.1, interval=0.01)
        else:
            log = RequestLog(path, interval=0.01)
        await log.start()
        sent: list[dict[str, Any]] = []
        for kind, arg in steps:
            if kind == "rows":
                for _ in range(arg):
                    sent.append(Exchange("POST", "/v1/messages", status=200).row())
                    log.submit(sent[-1])
            elif kind == "again" and sent:
                log.submit(sent[arg % len(sent)])
            elif kind == "lock":
                if backend == "postgresql":
                    lock = await psycopg.AsyncConnection.connect(pg_blank)
                    await lock.execute("LOCK TABLE requests IN EXCLUSIVE MODE")
                    await asyncio.sleep(arg)
                    await lock.close()
                else:
                    held = sqlite3.connect(path, isolation_level=None)
                    held.execute("BEGIN IMMEDIATE")
                    await asyncio.sleep(arg)
                    held.execute("ROLLBACK")
                    held.close()
            else:
                await asyncio.sleep(arg)
        await log.aclose()
        return {r["uid"] for r in sent}, log

    want, log = asyncio.run(go())
    if backend == "postgresql":
        got = [r["uid"] for r in pg_rows(pg_blank)]
    else:
        with sqlite3.connect(path) as db:
            got = [r[0] for r in db.execute("SELECT uid FROM requests")]
    assert sorted(got) == sorted(want)  # each once
    assert not log.dropped and log.queued == 0


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_lone_surrogate_or_a_nul_costs_that_character_and_a_huge_int_only_its_row(
    pg_blank: str, tmp_path: Path, backend: str
) -> None:
    """Neither database's UTF-8 holds a lone surrogate, nor its integers one past 64 bits (a
    hostile upstream's usage): the first is stored as U+FFFD, the second drops its row alone,
    counted; the writer goes on (an exception here used to be able to end its thread)."""
    good = [Exchange("POST", "/v1/messages", status=200).row() for _ in range(4)]
    odd = Exchange("POST", "/v1/\x00messages", model="claude\ud800x", status=200).row()
    huge = Exchange("POST", "/v1/messages", status=200).row()
    huge["output_tokens"] = 2**70
    later = Exchange("POST", "/v1/messages", status=200).row()
    rows = [*good[:2], odd, huge, *good[2:]]
    if backend == "postgresql":
        log: PostgresLog | RequestLog = write_pg(pg_blank, [*rows, later])
        got = {r["uid"]: (r["model"], r["route"]) for r in pg_rows(pg_blank)}
    else:
        import sqlite3

        log = RequestLog(tmp_path / "log.db")
        log.open()
        for row in rows:
            log.submit(row)
        log.flush()
        log.submit(later)  # the writer is still alive after that batch
        log.close()
        with sqlite3.connect(tmp_path / "log.db") as db:
            got = {uid: (m, r) for uid, m, r in db.execute("SELECT uid, model, route FROM requests")}
    assert set(got) == {r["uid"] for r in [*good, odd, later]}
    assert got[odd["uid"]] == ("claude\ufffdx", "/v1/\ufffdmessages")
    assert log.dropped == {"write_error": 1}
