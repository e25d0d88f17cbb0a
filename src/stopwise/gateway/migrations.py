"""The request log's schema, as append-only named migrations (the simonw/llm way).

Each migration is a function registered in order; its name is recorded in
``_stopwise_migrations`` when it has run, so :func:`migrate` runs only the new ones. Never edit
or reorder a released migration: add a new one.

The same migrations build the SQLite log and the PostgreSQL one (:mod:`.pglog`): a migration
writes its DDL through a :class:`Schema`, which names the few types the two spell differently.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = ["MIGRATIONS", "Schema", "applied", "migrate", "run_pending"]


class Schema:
    """One backend's connection as a migration sees it: ``execute`` and the type names that
    differ. The SQLite spellings are the ones the first migrations were released with."""

    def __init__(self, execute: Callable[[str], Any], kind: Literal["sqlite", "postgresql"]) -> None:
        self.execute = execute
        self.kind = kind
        pg = kind == "postgresql"
        # PostgreSQL's REAL is 4 bytes (7 digits): too coarse for milliseconds over minutes.
        self.real = "DOUBLE PRECISION" if pg else "REAL"
        self.serial_key = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
        # Text compared as bytes, as SQLite does: ISO times filtered by a prefix (`since`) and
        # ordered must not follow a database's locale, which orders punctuation its own way.
        self.bytewise_text = 'TEXT COLLATE "C"' if pg else "TEXT"


Migration = Callable[[Schema], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_requests(db: Schema) -> None:
    db.execute(
        f"""
        CREATE TABLE requests (
            id {db.serial_key},
            time {db.bytewise_text} NOT NULL,
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
            ttfb_ms {db.real},
            latency_ms {db.real},
            error_type TEXT,
            cancelled INTEGER NOT NULL DEFAULT 0,
            request_ids TEXT
        )
        """
    )


@migration
def m002_bodies(db: Schema) -> None:
    # Kept apart from the row's facts: filled only when log_bodies is on.
    db.execute("ALTER TABLE requests ADD COLUMN request_body TEXT")
    db.execute("ALTER TABLE requests ADD COLUMN response_body TEXT")


@migration
def m003_indexes(db: Schema) -> None:
    # `stopwise logs` reads the newest rows, filtered by model or state.
    db.execute("CREATE INDEX requests_time ON requests (time)")
    db.execute("CREATE INDEX requests_model ON requests (model)")
    db.execute("CREATE INDEX requests_state ON requests (state)")


@migration
def m004_round_details(db: Schema) -> None:
    # The dashboard's timeline: each round's mode, raw stop reason, state, output tokens and
    # cap (JSON list), and the finisher's notes (what the seam repair did, JSON list). Older
    # rows keep NULL: nothing is made up for them.
    db.execute("ALTER TABLE requests ADD COLUMN round_details TEXT")
    db.execute("ALTER TABLE requests ADD COLUMN notes TEXT")


@migration
def m005_replicas(db: Schema) -> None:
    # Many gateways write one log (PostgreSQL): which replica wrote each row, and a key of the
    # row's own, so that a batch written again after its acknowledgement was lost (the
    # connection broke during the commit) adds no row twice.
    db.execute("ALTER TABLE requests ADD COLUMN replica TEXT")
    db.execute("ALTER TABLE requests ADD COLUMN uid TEXT")
    db.execute("CREATE UNIQUE INDEX requests_uid ON requests (uid)")


@migration
def m006_model_facts(db: Schema) -> None:
    # What the gateways learned about models from the API's own 400s (prefill rejected, an
    # output ceiling), shared so that one replica's 400 teaches all of them. ``fact`` is
    # "prefill" (value 0: rejected) or "ceiling" (value: the ceiling); times are Unix seconds.
    db.execute(
        f"""
        CREATE TABLE model_facts (
            model TEXT NOT NULL,
            fact TEXT NOT NULL,
            value BIGINT NOT NULL,
            learned_at {db.real} NOT NULL,
            expires_at {db.real} NOT NULL,
            replica TEXT,
            PRIMARY KEY (model, fact)
        )
        """
    )


@migration
def m007_token_bigints(db: Schema) -> None:
    # PostgreSQL's INTEGER is 4 bytes, SQLite's 8: a usage past 2**31 tokens (a hostile
    # upstream's) dropped the row from a PostgreSQL log where SQLite keeps it.
    if db.kind != "postgresql":
        return
    for column in _TOKEN_COLUMNS:
        db.execute(f"ALTER TABLE requests ALTER COLUMN {column} TYPE BIGINT")


_TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def applied(db: sqlite3.Connection) -> list[str]:
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_stopwise_migrations'"
    ).fetchone()
    if not exists:
        return []
    return [row[0] for row in db.execute("SELECT name FROM _stopwise_migrations ORDER BY name")]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_pending(
    schema: Schema, done: set[str], migrations: list[Migration] | None, record: Callable[[str, str], None]
) -> list[str]:
    """Run the migrations not in ``done`` in order, recording each; the caller owns the
    transactions. Shared by both backends."""
    ran: list[str] = []
    for fn in MIGRATIONS if migrations is None else migrations:
        if fn.__name__ in done:
            continue
        fn(schema)
        record(fn.__name__, _now())
        ran.append(fn.__name__)
    return ran


def migrate(db: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[str]:
    """Run the migrations not yet recorded, each in its own transaction; return their names."""
    db.execute("CREATE TABLE IF NOT EXISTS _stopwise_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    db.commit()
    schema = Schema(db.execute, "sqlite")

    def record(name: str, at: str) -> None:
        db.execute("INSERT INTO _stopwise_migrations (name, applied_at) VALUES (?, ?)", (name, at))

    ran: list[str] = []
    done = set(applied(db))
    for fn in MIGRATIONS if migrations is None else migrations:
        if fn.__name__ in done:
            # Not even the lock: a log migrated already opens while another process holds
            # the write lock (its own batch, a sqlite3 shell, a backup).
            continue
        # An explicit, immediate transaction: sqlite3 opens none before DDL by itself, a
        # migration that fails halfway must leave nothing behind, and two gateways starting on
        # one file at once must not both run it (the second sees it recorded once it has the
        # write lock).
        db.execute("BEGIN IMMEDIATE")
        try:
            ran += run_pending(schema, set(applied(db)), [fn], record)
        except BaseException:
            db.rollback()
            raise
        db.commit()
    return ran
