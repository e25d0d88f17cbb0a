"""The request log's schema from a blank database, and from each older version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from stopwise.gateway.log import COLUMNS, connect
from stopwise.gateway.migrations import MIGRATIONS, applied, migrate


def columns(db: sqlite3.Connection) -> list[str]:
    return [row[1] for row in db.execute("PRAGMA table_info(requests)")]


def test_a_blank_database_gets_every_migration_in_order() -> None:
    db = sqlite3.connect(":memory:")
    ran = migrate(db)
    assert ran == [m.__name__ for m in MIGRATIONS] == applied(db)
    assert ran[:4] == ["m001_requests", "m002_bodies", "m003_indexes", "m004_round_details"]
    assert set(COLUMNS) <= set(columns(db))
    indexes = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"requests_time", "requests_model", "requests_state"} <= indexes
    assert migrate(db) == []  # a second run has nothing to do


def test_an_older_database_gets_only_the_new_migrations() -> None:
    db = sqlite3.connect(":memory:")
    migrate(db, MIGRATIONS[:1])
    db.execute("INSERT INTO requests (time, method, route, stream) VALUES ('t', 'POST', '/v1/messages', 0)")
    db.commit()
    assert "request_body" not in columns(db)
    assert migrate(db) == [m.__name__ for m in MIGRATIONS[1:]]
    assert "request_body" in columns(db)
    assert db.execute("SELECT route FROM requests").fetchall() == [("/v1/messages",)]


def test_names_are_unique_and_numbered() -> None:
    names = [m.__name__ for m in MIGRATIONS]
    assert len(set(names)) == len(names)
    assert names == sorted(names) and all(n.startswith("m") and n[1:4].isdigit() for n in names)


def test_a_failing_migration_leaves_nothing_behind() -> None:
    db = sqlite3.connect(":memory:")

    def m999_broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        conn.execute("THIS IS NOT SQL")

    with pytest.raises(sqlite3.OperationalError):
        migrate(db, [m999_broken])
    assert applied(db) == []
    assert db.execute("SELECT name FROM sqlite_master WHERE name = 'half'").fetchone() is None


def test_connect_uses_wal(tmp_path: Path) -> None:
    db = connect(tmp_path / "sub" / "log.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert applied(db) == [m.__name__ for m in MIGRATIONS]
