"""Two ``stopwise serve`` processes behind a round-robin, sharing one PostgreSQL database: the
rows of both in one log that ``stopwise logs`` and ``stats`` read whole, one replica's 400
teaching the other (a prefill rejection one way, an output ceiling the other), and a database
restart that loses no row. Checked from the other side of each wire: the simulator counts the
400s it sent, the database holds the rows."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import psycopg
from _balancer import RoundRobin
from _gateway import Process, pg_rows, serve_process
from _pg import PostgresServer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from _helpers import metric
from stopwise.sim import SimConfig, full_document, serve_in_thread
from stopwise.sim import create_app as create_sim

#: A name the catalog does not know, answered by a model that rejects prefill: the gateway
#: learns that from the API's 400, as from a relay's model list.
ALIAS = "team-claude"
#: A name for a model whose output ceiling (32,000) the catalog cannot know from it: a
#: continuation asking 4x a 9,000 cap gets the API's `max_tokens: 36000 > 32000` 400.
CEILING_ALIAS = "team-opus"


class Statuses:
    """The simulator wrapped to note each response's status: what the gateways asked for is
    checked where it arrived."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def snd(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.seen.append(message["status"])
            await send(message)

        await self.app(scope, receive, snd)


@contextlib.contextmanager
def two_replicas(pg_url: str, tmp_path: Path, **env: str) -> Iterator[tuple[Statuses, Process, Process]]:
    sim = Statuses(
        create_sim(SimConfig(aliases={ALIAS: "claude-opus-4-6", CEILING_ALIAS: "claude-opus-4-1"}))
    )
    with contextlib.ExitStack() as stack:
        sim_url = stack.enter_context(serve_in_thread(sim))
        replicas = []
        for name in ("gw-a", "gw-b"):
            home = tmp_path / name
            home.mkdir()
            args = ("--log-url", pg_url, "--replica", name)
            replicas.append(stack.enter_context(serve_process(sim_url, home, *args, **env)))
        yield sim, replicas[0], replicas[1]


def wait_rows(url: str, n: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = pg_rows(url)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def cli(*args: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-c", "from stopwise.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "STOPWISE_CONFIG": os.devnull},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def ask(
    base_url: str, model: str = "claude-haiku-4-5", max_tokens: int = 400, kind: str = "prose"
) -> anthropic.types.Message:
    # A new connection per request, so the round-robin (per connection) alternates.
    with anthropic.Anthropic(
        base_url=base_url, api_key="x", max_retries=0, default_headers={"connection": "close"}
    ) as client:
        return client.messages.create(
            model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": kind}]
        )


def test_two_replicas_share_one_log_and_what_they_learn(pg_url: str, tmp_path: Path) -> None:
    # An hour between refreshes: the fact can only cross by NOTIFY.
    with two_replicas(pg_url, tmp_path, STOPWISE_FACTS_REFRESH="3600") as (sim, a, b):
        with RoundRobin([a.url, b.url]) as lb:
            for _ in range(4):
                message = ask(lb.url)  # continued across the cap by whichever replica
                assert message.stop_reason == "end_turn" and message.content[0].text == full_document("prose")  # type: ignore[union-attr]
            with openai.OpenAI(
                base_url=f"{lb.url}/v1", api_key="x", max_retries=0, default_headers={"connection": "close"}
            ) as oai:
                for _ in range(2):
                    stream = oai.chat.completions.create(
                        model="gpt-4o",
                        max_tokens=300,
                        stream=True,
                        messages=[{"role": "user", "content": "table"}],
                    )
                    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                    assert text == full_document("table")
        rows = wait_rows(pg_url, 6)
        assert len(rows) == 6 and len({r["uid"] for r in rows}) == 6
        by_replica = {name: [r for r in rows if r["replica"] == name] for name in ("gw-a", "gw-b")}
        assert [len(v) for v in by_replica.values()] == [3, 3]
        assert all(r["state"] == "complete" and r["rounds"] > 1 for r in rows)

        # A learns from the API's 400 that the model behind the alias rejects prefill.
        before = sim.seen.count(400)
        assert ask(a.url, ALIAS, 300).stop_reason == "end_turn"
        assert sim.seen.count(400) == before + 1
        deadline = time.monotonic() + 30
        while b.metric('stopwise_model_facts{fact="prefill"}') < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert b.metric('stopwise_model_facts{fact="prefill"}') == 1
        assert a.metric("stopwise_model_facts_shared_total") == 1
        # B never tries the prefill: no 400 this time, and the answer is as whole.
        assert ask(b.url, ALIAS, 300).content[0].text == full_document("prose")  # type: ignore[union-attr]
        assert sim.seen.count(400) == before + 1
        # B learns a ceiling from the API; A never asks past it.
        assert ask(b.url, CEILING_ALIAS, 9000, "code").stop_reason == "end_turn"
        assert sim.seen.count(400) == before + 2
        deadline = time.monotonic() + 30
        while a.metric('stopwise_model_facts{fact="ceiling"}') < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert a.metric('stopwise_model_facts{fact="ceiling"}') == 1
        code = ask(a.url, CEILING_ALIAS, 9000, "code")
        assert code.content[0].text == full_document("code") and sim.seen.count(400) == before + 2  # type: ignore[union-attr]
        with psycopg.connect(pg_url) as db:
            facts = db.execute(
                "SELECT model, fact, value, replica FROM model_facts ORDER BY model"
            ).fetchall()
        assert facts == [(ALIAS, "prefill", 0, "gw-a"), (CEILING_ALIAS, "ceiling", 32000, "gw-b")]

        rows = wait_rows(pg_url, 10)
        listed = cli("logs", "--log-url", pg_url, "--json", "-n", "100")
        assert sorted(r["uid"] for r in listed) == sorted(r["uid"] for r in rows)
        assert {r["replica"] for r in listed} == {"gw-a", "gw-b"}
        figures = cli("stats", "--log-url", pg_url, "--json")
        assert figures["requests"] == 10 and figures["outcomes"] == {"complete": 10}
        assert figures["replicas"] == {"gw-a": 5, "gw-b": 5}
        only_b = cli("logs", "--log-url", pg_url, "--json", "--replica", "gw-b")
        assert sorted(r["uid"] for r in only_b) == sorted(r["uid"] for r in rows if r["replica"] == "gw-b")
        assert figures["truncations_rescued"] == 10


def test_a_database_restart_behind_two_replicas_loses_no_row(
    postgres: PostgresServer, pg_url: str, tmp_path: Path
) -> None:
    """Requests go on being answered while PostgreSQL is down; their rows wait in each
    replica's queue and are all written once it is back."""
    with two_replicas(pg_url, tmp_path) as (_, a, b), RoundRobin([a.url, b.url]) as lb:
        for _ in range(4):
            ask(lb.url)
        assert len(wait_rows(pg_url, 4)) == 4
        postgres.stop()
        try:
            for _ in range(6):
                assert ask(lb.url).stop_reason == "end_turn"  # the answers do not wait on the log
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                a.metric("stopwise_log_write_retries_total") == 0
                or b.metric("stopwise_log_write_retries_total") == 0
            ):
                time.sleep(0.05)
            assert a.metric("stopwise_log_rows_queued") + b.metric("stopwise_log_rows_queued") == 6
        finally:
            postgres.start()
        rows = wait_rows(pg_url, 10)
        assert len(rows) == 10 and len({r["uid"] for r in rows}) == 10
        assert {r["replica"] for r in rows} == {"gw-a", "gw-b"}
        for p in (a, b):
            text = httpx2.get(f"{p.url}/metrics").text
            assert metric(text, 'stopwise_log_rows_dropped_total{reason="write_error"}') == 0
            assert metric(text, 'stopwise_log_rows_dropped_total{reason="queue_full"}') == 0


def test_a_replica_stopped_by_sigterm_writes_every_row_first(pg_url: str, tmp_path: Path) -> None:
    """Rows the writer could not write yet when SIGTERM comes (here another session holds a
    lock on the table) are written before the process exits, and the other replica goes on."""
    import signal

    with two_replicas(pg_url, tmp_path, STOPWISE_FACTS_REFRESH="3600") as (_, a, b):
        ask(a.url)
        assert len(wait_rows(pg_url, 1)) == 1
        with psycopg.connect(pg_url) as lock:
            lock.execute("LOCK TABLE requests IN EXCLUSIVE MODE")  # inserts wait, reads do not
            for _ in range(5):
                ask(a.url)
            a.proc.send_signal(signal.SIGTERM)
            time.sleep(1.0)  # long enough for a process that does not wait on its log to be gone
            assert a.proc.poll() is None, "the replica exited with rows unwritten"
            lock.rollback()  # the lock goes; the writer's insert goes through
        assert a.proc.wait(timeout=60) in (0, -signal.SIGTERM)
        # Read once the process is gone: nothing could write them after this.
        assert [r["replica"] for r in pg_rows(pg_url)] == ["gw-a"] * 6
        assert ask(b.url).stop_reason == "end_turn"
        assert [r["replica"] for r in wait_rows(pg_url, 7)].count("gw-b") == 1
