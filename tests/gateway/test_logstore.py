"""Where the log lives: URLs parsed strictly, passwords never shown, and a clear error for a
database that cannot be reached or read, from every command that takes ``--log-url``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from _helpers import free_port
from stopwise.cli import main
from stopwise.gateway import ConfigError, Settings, load_settings
from stopwise.gateway.logstore import LogLocation, parse_log_url, redact_url

# Prefixed, so that a secret cannot be a word the printed text holds anyway ("rounds", found so).
_SECRET = st.text(
    st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="@/:?#[]%&="), min_size=1
).map(lambda s: "Pw9-" + s)


@given(_SECRET, st.sampled_from(["postgresql", "postgres"]), st.booleans())
def test_a_password_never_shows_in_what_is_printed(secret: str, scheme: str, as_param: bool) -> None:
    url = (
        f"{scheme}://stopwise@db.internal:5432/log?sslmode=require&password={secret}"
        if as_param
        else f"{scheme}://stopwise:{secret}@db.internal:5432/log?sslmode=require"
    )
    loc = parse_log_url(url)
    assert loc.kind == "postgresql" and loc.url == url  # the real URL is kept for connecting
    for shown in (str(loc), repr(loc), redact_url(url), repr(Settings(log_url=url))):
        assert secret not in shown
    assert "db.internal:5432/log" in str(loc) and "***" in str(loc)


def test_urls_and_paths() -> None:
    assert parse_log_url("/var/lib/x.db") == LogLocation.sqlite(Path("/var/lib/x.db"))
    assert parse_log_url("sqlite:///var/lib/x.db") == LogLocation.sqlite(Path("/var/lib/x.db"))
    assert parse_log_url("relative/x.db").path == Path("relative/x.db")
    assert parse_log_url("POSTGRESQL://h/db").kind == "postgresql"
    for bad in ("mysql://u:pw@h/db", "sqlite://", "sqlite:///"):
        with pytest.raises(ValueError):
            parse_log_url(bad)
    with pytest.raises(ValueError) as err:
        parse_log_url("mysql://u:hunter22@h/db")
    assert "hunter22" not in str(err.value)


def test_settings_take_a_url_from_flag_env_or_file(tmp_path: Path) -> None:
    env = {"STOPWISE_LOG_URL": "postgresql://u:pw@h/db", "STOPWISE_CONFIG": os.devnull}
    s = load_settings({}, env)
    assert s.log_location.kind == "postgresql" and s.log_location.url == "postgresql://u:pw@h/db"
    assert load_settings({"log_url": "sqlite:///tmp/a.db"}, env).log_location.path == Path("/tmp/a.db")
    assert load_settings({}, {"STOPWISE_CONFIG": os.devnull}).log_location.kind == "sqlite"
    with pytest.raises(ConfigError, match="STOPWISE_LOG_URL") as err:
        load_settings({}, {"STOPWISE_LOG_URL": "mysql://u:secretpw@h/db", "STOPWISE_CONFIG": os.devnull})
    assert "secretpw" not in str(err.value)


@pytest.mark.parametrize("command", [["logs"], ["stats"]])
def test_an_unreachable_database_is_a_clear_error_without_its_password(command: list[str]) -> None:
    url = f"postgresql://stopwise:hunter22@127.0.0.1:{free_port()}/log"  # nothing listens there
    result = CliRunner().invoke(main, [*command, "--log-url", url], env={"STOPWISE_CONFIG": os.devnull})
    assert result.exit_code == 1, result.output
    assert "cannot reach the request log at postgresql://stopwise:***@127.0.0.1" in result.output
    assert "hunter22" not in result.output and "Traceback" not in result.output


def test_a_path_given_wins_over_a_url_from_the_environment(tmp_path: Path) -> None:
    env = {"STOPWISE_LOG_URL": "postgresql://u@127.0.0.1:1/db", "STOPWISE_CONFIG": os.devnull}
    result = CliRunner().invoke(main, ["stats", "--path", str(tmp_path / "none.db")], env=env)
    assert result.exit_code == 1 and f"no request log at {tmp_path / 'none.db'}" in result.output


def test_ui_needs_one_log(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_bytes(b"")
    for args in ([], [str(tmp_path / "x.db"), "--log-url", "postgresql://h/db"]):
        result = CliRunner().invoke(main, ["ui", *args])
        assert result.exit_code == 2 and "LOG_FILE or --log-url" in result.output
    result = CliRunner().invoke(main, ["ui", "--log-url", "mysql://h/db"])
    assert result.exit_code == 2 and "unknown scheme" in result.output


def test_serve_refuses_a_bad_url_at_once() -> None:
    result = CliRunner().invoke(
        main, ["serve", "--log-url", "redis://h/0"], env={"STOPWISE_CONFIG": os.devnull}
    )
    assert result.exit_code == 1 and "--log-url" in result.output and "unknown scheme" in result.output


def test_sqlite_needs_nothing_installed_and_postgresql_says_what_to_install(tmp_path: Path) -> None:
    """With psycopg and psycopg-pool absent (as on a plain ``pip install stopwise``), the
    gateway runs on SQLite, and a PostgreSQL URL is one clear line, not an ImportError."""
    import subprocess
    import sys

    script = f"""
import asyncio, sys
sys.modules["psycopg"] = None  # what an absent package looks like to import
sys.modules["psycopg_pool"] = None
from pathlib import Path
from stopwise.gateway import Settings, create_app
from stopwise.gateway.logstore import LogUnavailable
from stopwise.gateway.pglog import PostgresLog

async def main():
    app = create_app(Settings(log_path=Path({str(tmp_path / "log.db")!r})))
    async with app.router.lifespan_context(app):
        pass
    try:
        await PostgresLog("postgresql://u:pw@127.0.0.1:1/db").start()
    except LogUnavailable as exc:
        print("refused:", exc)

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused: a PostgreSQL request log needs psycopg and psycopg-pool" in done.stdout
    assert "pip install 'stopwise[postgres]'" in done.stdout
    assert (tmp_path / "log.db").is_file()


def test_serve_with_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    url = f"postgresql://stopwise:hunter22@127.0.0.1:{free_port()}/log"
    done = subprocess.run(
        [sys.executable, "-c", "from stopwise.cli import main; main()", "serve", "--log-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STOPWISE_CONFIG": os.devnull},
    )
    assert done.returncode == 1
    assert "Error: cannot reach the request log at postgresql://stopwise:***@127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr and "hunter22" not in done.stderr + done.stdout
    # An unwritable SQLite path says so the same way.
    (tmp_path / "file").write_text("")
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from stopwise.cli import main; main()",
            "serve",
            "--log-path",
            str(tmp_path / "file" / "log.db"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STOPWISE_CONFIG": os.devnull},
    )
    assert done.returncode == 1 and "cannot open the request log at" in done.stderr
    assert "Traceback" not in done.stderr
