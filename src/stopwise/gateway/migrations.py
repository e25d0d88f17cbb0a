"""The request log's schema, as append-only named migrations (the simonw/llm way).

Each migration is a function registered in order; its name is recorded in
``_stopwise_migrations`` when it has run, so :func:`migrate` runs only the new ones. Never edit
or reorder a released migration: add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["MIGRATIONS", "applied", "migrate"]

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_requests(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE requests (
            id INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            method TEXT NOT NULL,
            route TEXT NOT NULL,
            dialect TEXT,
            model TEXT,
            upstream TEXT,
            stream INTEGER NOT NULL,
            status INTEGER,
            rounds INTEGER,
            modes TEXT,
            stop_reasons TEXT,
            stop_reason TEXT,
            stop_reason_normalized TEXT,
            state TEXT,
            retries INTEGER,
            rescued INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cache_creation_input_tokens INTEGER,
            cache_read_input_tokens INTEGER,
            usage_reported TEXT,
            usage_estimated TEXT,
            ttfb_ms REAL,
            latency_ms REAL,
            error_type TEXT,
            cancelled INTEGER NOT NULL DEFAULT 0,
            request_ids TEXT
        )
        """
    )


@migration
def m002_bodies(db: sqlite3.Connection) -> None:
    # Kept apart from the row's facts: filled only when log_bodies is on.
    db.execute("ALTER TABLE requests ADD COLUMN request_body TEXT")
    db.execute("ALTER TABLE requests ADD COLUMN response_body TEXT")


@migration
def m003_indexes(db: sqlite3.Connection) -> None:
    # `stopwise logs` reads the newest rows, filtered by model or state.
    db.execute("CREATE INDEX requests_time ON requests (time)")
    db.execute("CREATE INDEX requests_model ON requests (model)")
    db.execute("CREATE INDEX requests_state ON requests (state)")


@migration
def m004_round_details(db: sqlite3.Connection) -> None:
    # The dashboard's timeline: each round's mode, raw stop reason, state, output tokens and
    # cap (JSON list), and the finisher's notes (what the seam repair did, JSON list). Older
    # rows keep NULL: nothing is made up for them.
    db.execute("ALTER TABLE requests ADD COLUMN round_details TEXT")
    db.execute("ALTER TABLE requests ADD COLUMN notes TEXT")


def applied(db: sqlite3.Connection) -> list[str]:
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_stopwise_migrations'"
    ).fetchone()
    if not exists:
        return []
    return [row[0] for row in db.execute("SELECT name FROM _stopwise_migrations ORDER BY rowid")]


def migrate(db: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Run the migrations not yet recorded, each in its own transaction; return their names."""
    db.execute("CREATE TABLE IF NOT EXISTS _stopwise_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    db.commit()
    done = set(applied(db))
    ran: list[str] = []
    for fn in MIGRATIONS if migrations is None else migrations:
        if fn.__name__ in done:
            continue
        # An explicit transaction: sqlite3 opens none before DDL by itself, and a migration
        # that fails halfway must leave nothing behind.
        db.execute("BEGIN")
        try:
            fn(db)
            db.execute(
                "INSERT INTO _stopwise_migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, datetime.now(UTC).isoformat(timespec="seconds")),
            )
        except BaseException:
            db.rollback()
            raise
        db.commit()
        ran.append(fn.__name__)
    return ran
