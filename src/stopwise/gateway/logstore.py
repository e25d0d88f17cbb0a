"""Where the request log lives, and reading it back, whichever the database.

A log location is a SQLite file (a path, or ``sqlite:///path``), the embedded default with
nothing to install, or a PostgreSQL database (``postgresql://…``, psycopg 3: the
``stopwise[postgres]`` extra) that gateway replicas share. Readers (``stopwise logs``,
``stats``, the dashboard) write their SQL once, with ``?`` placeholders; the PostgreSQL reader
turns them into psycopg's. Every reader is read-only, so it is safe beside running gateways.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, Protocol
from urllib.parse import unquote

__all__ = [
    "LogLocation",
    "LogNotFound",
    "LogReader",
    "LogUnavailable",
    "Where",
    "import_pool",
    "import_psycopg",
    "open_reader",
    "parse_log_url",
    "redact_url",
    "unavailable",
]


class LogNotFound(FileNotFoundError):
    """No request log where one was looked for."""


class LogUnavailable(ConnectionError):
    """The log's database cannot be reached, or its driver is not installed."""


@dataclass(frozen=True)
class LogLocation:
    kind: Literal["sqlite", "postgresql"]
    path: Path | None = None  # sqlite
    url: str | None = None  # postgresql, with whatever credentials it holds

    @classmethod
    def sqlite(cls, path: Path) -> LogLocation:
        return cls("sqlite", path=path)

    def __str__(self) -> str:
        # What messages and `stopwise serve`'s banner show: never the password.
        return str(self.path) if self.url is None else redact_url(self.url)

    def __repr__(self) -> str:
        return f"LogLocation({self.kind!r}, {self!s})"


_PG_SCHEMES = ("postgresql", "postgres")


def parse_log_url(text: str) -> LogLocation:
    """``postgresql://…`` / ``postgres://…``, ``sqlite:///abs/path`` or a plain path. Other
    schemes are refused (a typo must not become a SQLite file named ``mysql:``)."""
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in _PG_SCHEMES:
        return LogLocation("postgresql", url=text)
    if scheme == "sqlite":
        path = text.split("://", 1)[1]
        if not path or path == "/":
            raise ValueError(f"log url {text!r} names no file (sqlite:///path/to/log.db)")
        return LogLocation.sqlite(Path(path).expanduser())
    if scheme:
        raise ValueError(
            f"log url {redact_url(text)!r}: unknown scheme {scheme!r} (postgresql:// or sqlite://)"
        )
    return LogLocation.sqlite(Path(text).expanduser())


_PASSWORD_PARAM = re.compile(r"(?i)(password=)([^&\s]*)")


def redact_url(url: str) -> str:
    """The URL with its password, if any, replaced by ``***`` (in the netloc or as a
    ``password=`` parameter). The netloc is what comes before the first ``/``, as libpq reads
    it: a password may hold ``#`` or ``?`` unencoded, where :func:`urllib.parse.urlsplit`
    would end the netloc and leave the password whole."""
    scheme, sep, rest = url.partition("://")
    if sep:
        netloc, slash, tail = rest.partition("/")
        if "@" in netloc:
            creds, host = netloc.rsplit("@", 1)
            if ":" in creds:
                creds = creds.split(":", 1)[0] + ":***"
            url = f"{scheme}{sep}{creds}@{host}{slash}{tail}"
    return _PASSWORD_PARAM.sub(r"\1***", url)


def _passwords(url: str) -> list[str]:
    found = [m.group(2) for m in _PASSWORD_PARAM.finditer(url)]
    _, sep, rest = url.partition("://")
    netloc = rest.partition("/")[0] if sep else ""
    if "@" in netloc and ":" in netloc.rsplit("@", 1)[0]:
        found.append(netloc.rsplit("@", 1)[0].split(":", 1)[1])
    return sorted({s for s in found if s} | {unquote(s) for s in found if s}, key=len, reverse=True)


def unavailable(url: str, exc: BaseException) -> LogUnavailable:
    """The error for a log that cannot be reached at ``url``: the URL redacted, and the
    driver's text without the password (libpq quotes a URL's token it cannot parse whole)."""
    text = str(exc)
    for secret in _passwords(url):
        text = text.replace(secret, "***")
    return LogUnavailable(f"cannot reach the request log at {redact_url(url)}: {text}")


_NEEDS = "a PostgreSQL request log needs psycopg and psycopg-pool: pip install 'stopwise[postgres]'"


def import_psycopg() -> ModuleType:
    try:
        import psycopg
    except ImportError:
        raise LogUnavailable(_NEEDS) from None
    return psycopg


def import_pool() -> ModuleType:
    import_psycopg()
    try:
        import psycopg_pool
    except ImportError:
        raise LogUnavailable(_NEEDS) from None
    return psycopg_pool


class LogReader(Protocol):
    """One read-only connection to a request log."""

    kind: str

    def rows(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]: ...

    def dicts(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> LogReader: ...

    def __exit__(self, *exc: object) -> None: ...


class _SqliteReader:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise LogNotFound(f"no request log at {path} (is `stopwise serve` logging elsewhere?)")
        self.db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def rows(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        return self.db.execute(sql, args).fetchall()

    def dicts(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        cur = self.db.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> _SqliteReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _PostgresReader:
    kind = "postgresql"

    def __init__(self, url: str) -> None:
        psycopg = import_psycopg()
        self.url = url
        try:
            # Read-only at the session level: a reader's SQL can never write the log.
            self.db = psycopg.connect(
                url, autocommit=True, connect_timeout=5, options="-c default_transaction_read_only=on"
            )
        except psycopg.Error as exc:  # unreachable, or a URL libpq cannot parse
            raise unavailable(url, exc) from None
        try:
            found = self._execute("SELECT to_regclass('requests')", ()).fetchone()
        except BaseException:
            self.db.close()
            raise
        if found is None or found[0] is None:
            self.db.close()
            raise LogNotFound(
                f"no request log in {redact_url(url)} (has `stopwise serve --log-url` run against it?)"
            )

    @staticmethod
    def _sql(sql: str) -> str:
        # The shared SQL holds no literal '?' or '%': placeholders only.
        return sql.replace("%", "%%").replace("?", "%s")

    def _execute(self, sql: str, args: tuple[Any, ...] | list[Any]) -> Any:
        psycopg = import_psycopg()
        try:
            return self.db.execute(self._sql(sql), args)
        except psycopg.OperationalError as exc:  # the server restarted, the connection lost
            raise unavailable(self.url, exc) from None

    def rows(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        return self._execute(sql, args).fetchall()  # type: ignore[no-any-return]

    def dicts(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        cur = self._execute(sql, args)
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> _PostgresReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Borrowed:
    """A reader the caller opened and will close: used by several queries in turn (the
    dashboard's figures: one connection, not one per figure)."""

    def __init__(self, reader: LogReader) -> None:
        self.reader = reader
        self.kind = reader.kind

    def rows(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        return self.reader.rows(sql, args)

    def dicts(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[dict[str, Any]]:
        return self.reader.dicts(sql, args)

    def close(self) -> None:
        pass  # its owner closes it

    def __enter__(self) -> _Borrowed:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


Where = LogLocation | Path | LogReader


def open_reader(where: Where) -> LogReader:
    """A read-only connection to the log at ``where`` (a path means a SQLite file); given an
    open reader, that reader, left open for its owner to close."""
    if not isinstance(where, LogLocation | Path):
        return _Borrowed(where)
    loc = LogLocation.sqlite(where) if isinstance(where, Path) else where
    if loc.kind == "postgresql":
        assert loc.url is not None
        return _PostgresReader(loc.url)
    assert loc.path is not None
    return _SqliteReader(loc.path)
