"""A real PostgreSQL server the test suite starts itself: a throwaway cluster in a temporary
directory, on 127.0.0.1 only, with durability switched off (the tests restart it cleanly, they
never need it to survive a crash of the machine).

PostgreSQL refuses to run as root, and the suite runs as root here and in CI: then the server
binaries run as the ``postgres`` system user (Debian's ``postgresql`` package creates it) and
the temporary directory is handed to that user.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

from _helpers import free_port

_BINARIES = ("initdb", "pg_ctl", "postgres")
_SYSTEM_USER = "postgres"
#: A database name ``create_database`` accepts: plain, so the URL needs no quoting.
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _version_key(bindir: str) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> (15,): newest version last when sorted."""
    version = Path(bindir).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit()) or (0,)


def find_bindir() -> Path | None:
    """The directory with ``initdb``, ``pg_ctl`` and ``postgres``: from PATH, else the newest
    ``/usr/lib/postgresql/*/bin`` (Debian keeps them off PATH). A PATH entry is resolved, so a
    symlink in ``/usr/local/bin`` finds the siblings (``pg_ctl`` runs ``postgres`` from its own
    directory)."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        candidates.append(Path(bindir))
    for bindir in candidates:
        if all(os.access(bindir / name, os.X_OK) for name in _BINARIES):
            return bindir
    return None


def postgres_unavailable() -> str | None:
    """Why no PostgreSQL server can be started here, or None when one can."""
    if find_bindir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
            "/usr/lib/postgresql/*/bin: install Debian's postgresql package; `make test` does when it can"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(_SYSTEM_USER)
        except KeyError:
            return (
                f"running as root and there is no {_SYSTEM_USER!r} system user to run PostgreSQL as "
                "(it refuses to run as root; Debian's postgresql package creates the user)"
            )
    return None


def _traversable_by_others(path: Path) -> str | None:
    """The first parent of ``path`` another user cannot enter, or None. The server, run as
    ``postgres``, must reach its data directory through every parent."""
    for parent in path.resolve().parents:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return str(parent)
    return None


class PostgresServer:
    """``with PostgresServer() as pg:`` a started server; ``pg.url`` to connect as the
    ``postgres`` superuser (trust authentication: no password)."""

    def __init__(self, *, settings: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        reason = postgres_unavailable()
        if reason:
            raise RuntimeError(reason)
        bindir = find_bindir()
        assert bindir is not None
        self.bindir = bindir
        self.timeout = timeout
        self.running = False
        self._started_once = False  # a port clash is retried on the first start only
        self.port = free_port()
        self._as_user: dict[str, Any] = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam(_SYSTEM_USER)
            self._as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        self.root = Path(tempfile.mkdtemp(prefix="stopwise-pg-"))
        # Removed at interpreter exit even when a test run is interrupted before close().
        atexit.register(self.close)
        if self._as_user:
            blocked = _traversable_by_others(self.root)
            if blocked:
                self.close()
                raise RuntimeError(
                    f"{blocked} is not enterable by the {_SYSTEM_USER} user, so the server cannot reach "
                    f"its data directory under it: set TMPDIR to a directory it can reach (e.g. /tmp)"
                )
            os.chown(self.root, self._as_user["user"], self._as_user["group"])
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._initdb(settings or {})

    # -- the cluster --------------------------------------------------------------------------

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        # cwd inside our own directory: the postgres user may not be allowed into the caller's.
        # stdin from /dev/null and output captured: pg_ctl hands the server log to -l, not to us.
        return subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=self.timeout + 30,
            check=False,
            **self._as_user,
        )

    def _initdb(self, settings: dict[str, str]) -> None:
        # --no-locale: the host's locale need not exist for the postgres user; UTF8 like production.
        done = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        if done.returncode != 0:
            self.close()
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        conf = {
            "listen_addresses": "'127.0.0.1'",
            # No Unix socket: nothing outside 127.0.0.1, and no clash with a system cluster's.
            "unix_socket_directories": "''",
            # Speed, not durability against a power cut: a test cluster is thrown away. Not
            # synchronous_commit=off: that acknowledges a commit before its WAL is written, so a
            # stop in "immediate" mode (a crash, for the tests) would lose committed rows.
            "fsync": "off",
            "full_page_writes": "off",
            **settings,
        }
        # Appended (not rewritten) so the file keeps its owner; the last setting wins.
        with (self.data / "postgresql.conf").open("a") as f:
            f.write("\n# stopwise test harness\n")
            for key, value in conf.items():
                f.write(f"{key} = {value}\n")
        self._write_port()

    def _write_port(self) -> None:
        # In postgresql.auto.conf (read last), so restart() and a new port on retry both hold.
        (self.data / "postgresql.auto.conf").write_text(f"port = {self.port}\n")
        if self._as_user:
            os.chown(self.data / "postgresql.auto.conf", self._as_user["user"], self._as_user["group"])

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no server log)"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start the server and wait until it accepts connections on 127.0.0.1."""
        if self.running:
            return
        done = self._pg_ctl_start()
        if done.returncode != 0 and "could not bind" in self.log_tail() and not self._started_once:
            # The free port was taken between free_port() and the bind: once more on another.
            self.port = free_port()
            self._write_port()
            done = self._pg_ctl_start()
        if done.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed ({done.returncode}): {done.stdout}{done.stderr}\n"
                f"server log ({self.log}):\n{self.log_tail()}"
            )
        self.running = True
        self._started_once = True
        self._wait_ready()

    def _pg_ctl_start(self) -> subprocess.CompletedProcess[str]:
        timeout = str(int(self.timeout))
        return self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", timeout)

    def _wait_ready(self) -> None:
        # pg_ctl -w waits for the server's own "ready" mark; a connection proves the TCP side.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL on 127.0.0.1:{self.port} accepts no connection after "
                        f"{self.timeout:.0f} s ({e}); server log:\n{self.log_tail()}"
                    ) from e
                time.sleep(0.05)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (roll back sessions), ``smart`` (wait for them) or
        ``immediate`` (no shutdown checkpoint: what a crash leaves, recovered on start)."""
        if not self.running:
            return
        timeout = str(int(self.timeout))
        done = self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"pg_ctl stop failed ({done.returncode}): {done.stdout}{done.stderr}\n"
                f"server log:\n{self.log_tail()}"
            )
        self.running = False

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again: the same port, the same data."""
        self.stop(mode)
        self.start()

    def close(self) -> None:
        """Stop the server (if running) and remove its directory. Idempotent."""
        atexit.unregister(self.close)
        try:
            if self.running:
                try:
                    self.stop("immediate")
                except (RuntimeError, subprocess.TimeoutExpired):
                    self._kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill(self) -> None:
        """Last resort when pg_ctl cannot stop it: SIGKILL the postmaster by its pid file."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, 9)
        self.running = False

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- databases ----------------------------------------------------------------------------

    def create_database(self, name: str) -> str:
        """A new empty database ``name``; returns its URL (one per test keeps tests apart)."""
        if not _DB_NAME.fullmatch(name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending the sessions still connected to it (PostgreSQL 13+)."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
