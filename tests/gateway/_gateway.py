"""What the gateway tests share: a recorder on the simulator, servers on 127.0.0.1, and a
handle on a running gateway.

The simulator is wrapped in :class:`Recorder`, an ASGI middleware that notes for each request
the headers the gateway sent upstream and whether the gateway hung up before the body ended:
what the gateway did is checked from the other side of the wire, not from its own account.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
from starlette.applications import Starlette
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from _helpers import free_port, metric
from stopwise.finisher import Policy, RetryPolicy
from stopwise.gateway import Settings
from stopwise.gateway.app import Gateway
from stopwise.gateway.server import server as gateway_server
from stopwise.sim import serving

#: Many rounds for small caps; retries with (almost) no waiting.
POLICY = Policy(max_rounds=400, retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    finished: bool = False  # the whole body was sent
    disconnected: bool = False  # the gateway hung up before that


class Recorder:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[Seen] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rec = Seen(scope["path"], {k.decode(): v.decode() for k, v in scope["headers"]})
        self.seen.append(rec)

        async def recv() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not rec.finished:
                rec.disconnected = True
            return message

        async def snd(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                rec.finished = True
            await send(message)

        await self.app(scope, recv, snd)


def serve_gateway(app: Starlette) -> contextlib.AbstractContextManager[str]:
    """A gateway app on a free loopback port under the server ``stopwise serve`` runs (its
    protocol's head limits included), in a thread; yields its URL."""
    return serving(gateway_server(app, host="127.0.0.1", port=0, log_level="warning"))


def pg_rows(url: str) -> list[dict[str, Any]]:
    """A PostgreSQL request log's rows, oldest first."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(url, row_factory=dict_row) as db:
        return list(db.execute("SELECT * FROM requests ORDER BY id"))


def log_rows(path: Path) -> list[dict[str, Any]]:
    """A request log's rows, oldest first."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM requests ORDER BY id")]
    finally:
        db.close()


@dataclass
class Running:
    url: str
    gateway: Gateway
    settings: Settings
    clients: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for client in self.clients:
            client.close()

    @property
    def log_path(self) -> Path:
        return self.settings.log_path

    def rows(self) -> list[dict[str, Any]]:
        """The request log's rows, oldest first, once everything submitted is written."""
        self.gateway.log.flush()
        if self.settings.log_url:
            return pg_rows(self.settings.log_url)
        return log_rows(self.log_path)

    def metric(self, series: str) -> float:
        return metric(httpx2.get(f"{self.url}/metrics").text, series)

    def wait_rows(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows()
            if len(rows) >= n or time.monotonic() > deadline:
                return rows
            time.sleep(0.01)

    def anthropic(self, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("api_key", "x")
        client = anthropic.Anthropic(base_url=self.url, max_retries=0, **kwargs)
        self.clients.append(client)
        return client

    def openai(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("api_key", "x")
        client = openai.OpenAI(base_url=f"{self.url}/v1", max_retries=0, **kwargs)
        self.clients.append(client)
        return client


@dataclass
class Process:
    """``stopwise serve`` as a child process (what SIGTERM and SIGKILL are tried on)."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    output: Path  # its stdout and stderr

    def metric(self, series: str) -> float:
        return metric(httpx2.get(f"{self.url}/metrics").text, series)

    def rows(self) -> list[dict[str, Any]]:
        return log_rows(self.log_path)


@contextlib.contextmanager
def serve_process(sim_url: str, tmp_path: Path, *args: str, **env: str) -> Iterator[Process]:
    """``stopwise serve`` in front of the simulator, ready for requests; ``env`` adds
    ``STOPWISE_*`` settings. Killed at the end if it is still running."""
    port = free_port()
    log_path = tmp_path / "serve.db"
    (tmp_path / "none.toml").write_text("")
    full_env = {**os.environ, "STOPWISE_CONFIG": str(tmp_path / "none.toml"), **env}
    cmd = [
        sys.executable,
        "-c",
        "from stopwise.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--anthropic-base-url",
        sim_url,
        "--openai-base-url",
        f"{sim_url}/v1",
        "--log-path",
        str(log_path),
        *args,
    ]
    # To a file, not a pipe: nobody reads a pipe while the test runs, and a full one blocks.
    output = tmp_path / "serve.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(cmd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx2.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx2.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.02)
        yield Process(url, proc, log_path, output)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


GatewayFactory = Callable[..., contextlib.AbstractContextManager[Running]]
