"""``stopwise ui``: the dashboard alone on a log file, as a real process on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx2
from click.testing import CliRunner

from _helpers import free_port
from stopwise.cli import main
from stopwise.gateway.log import COLUMNS, connect
from stopwise.gateway.record import Exchange


def _log(path: Path) -> None:
    row = Exchange("POST", "/v1/messages", dialect="anthropic", model="claude-haiku-4-5", status=200).row()
    db = connect(path)
    with db:
        db.execute(
            f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
            [row[c] for c in COLUMNS],
        )
    db.close()


def test_help_names_the_admin_key() -> None:
    result = CliRunner().invoke(main, ["ui", "--help"])
    assert result.exit_code == 0 and "--port" in result.output and "STOPWISE_ADMIN_KEY" in result.output


def test_refuses_a_public_address_without_an_admin_key(tmp_path: Path) -> None:
    _log(tmp_path / "log.db")
    env = {k: v for k, v in os.environ.items() if k != "STOPWISE_ADMIN_KEY"}
    env["STOPWISE_CONFIG"] = str(tmp_path / "none.toml")
    (tmp_path / "none.toml").write_text("")
    result = CliRunner().invoke(main, ["ui", str(tmp_path / "log.db"), "--host", "0.0.0.0"], env=env)
    assert result.exit_code != 0 and "without an admin key" in result.output


def test_missing_log_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ui", str(tmp_path / "nope.db")])
    assert result.exit_code != 0 and "does not exist" in result.output


def test_serves_the_log(tmp_path: Path) -> None:
    _log(tmp_path / "log.db")
    (tmp_path / "none.toml").write_text("")
    port = free_port()
    cmd = [sys.executable, "-c", "from stopwise.cli import main; main()", "ui", str(tmp_path / "log.db")]
    env = {**os.environ, "STOPWISE_CONFIG": str(tmp_path / "none.toml")}
    proc = subprocess.Popen([*cmd, "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                resp = httpx2.get(f"{url}/ui/api/requests")
                break
            except httpx2.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.02)
        assert [r["model"] for r in resp.json()["requests"]] == ["claude-haiku-4-5"]
        assert httpx2.get(f"{url}/ui").status_code == 200
        assert httpx2.get(f"{url}/v1/messages").status_code == 404  # no traffic served
    finally:
        proc.kill()
        proc.wait()
