"""``stopwise serve`` under faults and hostile load (issue 12): each scenario starts the
simulator and a gateway as child processes on 127.0.0.1 and prints what was lost or how long
something lived. Run by hand::

    .venv/bin/python bench/gateway_reliability.py            # every scenario
    .venv/bin/python bench/gateway_reliability.py lock bodies

Scenarios (the figures in docs/gateway.md come from these):

- ``lock``: a second connection holds the log's write lock for 12 s while 600 requests go
  through; rows lost;
- ``fulldisk``: the gateway's file size limit (RLIMIT_FSIZE) lets the log grow by nothing for
  5 s, then is lifted; rows lost;
- ``sigterm``: 20 streams the upstream has stalled and 20 ordinary requests open, then SIGTERM
  with ``shutdown_timeout = 2``; rows lost, how the stalled streams ended, time to exit;
- ``sigkill``: SIGKILL under a load of 32 concurrent clients; answers the clients got in full
  against rows in the log (rows lost beyond what was in flight);
- ``slowloris``: 600 connections dribbling a request head a byte a second; how long they live,
  and whether an ordinary client is served meanwhile;
- ``headers``: an 8 MB header and 10,000 headers; what the client gets, and how fast;
- ``bodies``: 10 concurrent 30 MiB bodies, through the finisher and passed through; the
  gateway's peak RSS over its idle RSS, per MB of body;
- ``streams``: 500 concurrent streams; errors, and the gateway's RSS while they are open.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2

PY = sys.executable
HI = [{"role": "user", "content": "hi"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if httpx2.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not start")


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@dataclass
class Gateway:
    url: str
    proc: subprocess.Popen[bytes]
    db: Path

    def rows(self) -> int:
        con = sqlite3.connect(self.db, timeout=30)
        try:
            return int(con.execute("SELECT COUNT(*) FROM requests").fetchone()[0])
        finally:
            con.close()

    def metric(self, series: str) -> float:
        for line in httpx2.get(f"{self.url}/metrics").text.splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(series)


@contextlib.contextmanager
def sim() -> Iterator[str]:
    port = free_port()
    cmd = [PY, "-m", "stopwise", "sim", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, "/v1/models")
        yield url
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def gateway(upstream: str, tmp: Path, preexec: object = None, **settings: object) -> Iterator[Gateway]:
    port = free_port()
    db = tmp / f"gw-{port}.db"
    (tmp / "none.toml").write_text("")
    env = {**os.environ, "STOPWISE_CONFIG": str(tmp / "none.toml")}
    env.update({f"STOPWISE_{k.upper()}": str(v) for k, v in settings.items()})
    cmd = [PY, "-m", "stopwise", "serve", "--port", str(port), "--log-path", str(db), "--log-level", "error"]
    cmd += ["--anthropic-base-url", upstream, "--openai-base-url", f"{upstream}/v1"]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=preexec
    )  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        yield Gateway(url, proc, db)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


async def send_many(url: str, n: int, concurrency: int, spacing: float = 0.0) -> int:
    """``n`` count_tokens requests; how many were answered 200."""
    ok = 0
    sem = asyncio.Semaphore(concurrency)
    async with httpx2.AsyncClient(timeout=120, limits=httpx2.Limits(max_connections=concurrency)) as c:

        async def one() -> None:
            nonlocal ok
            async with sem:
                r = await c.post(
                    f"{url}/v1/messages/count_tokens", json={"model": "claude-haiku-4-5", "messages": HI}
                )
                ok += r.status_code == 200

        tasks = []
        for _ in range(n):
            tasks.append(asyncio.create_task(one()))
            if spacing:
                await asyncio.sleep(spacing)
        await asyncio.gather(*tasks)
    return ok


def wait_rows(gw: Gateway, n: int, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    rows = gw.rows()
    while rows < n and time.monotonic() < deadline:
        time.sleep(0.1)
        rows = gw.rows()
    return rows


# -- scenarios --------------------------------------------------------------------------------


def lock(up: str, tmp: Path) -> None:
    with gateway(up, tmp) as gw:
        asyncio.run(send_many(gw.url, 1, 1))
        wait_rows(gw, 1)
        other = sqlite3.connect(gw.db, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        ok = asyncio.run(send_many(gw.url, 600, 8, spacing=0.02))  # ~12 s
        held = time.monotonic() - started
        other.execute("ROLLBACK")
        other.close()
        rows = wait_rows(gw, 1 + ok) - 1
        dropped = gw.metric('stopwise_log_rows_dropped_total{reason="write_error"}')
        print(
            f"lock: held {held:.1f} s over {ok} answered requests; rows {rows}, lost {ok - rows}, "
            f"dropped metric {dropped:g}"
        )


def fulldisk(up: str, tmp: Path) -> None:
    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG)

    with gateway(up, tmp, preexec=small_files) as gw:
        asyncio.run(send_many(gw.url, 1, 1))
        wait_rows(gw, 1)
        size = sum(f.stat().st_size for f in tmp.glob(gw.db.name + "*"))
        resource.prlimit(gw.proc.pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
        ok = asyncio.run(send_many(gw.url, 250, 8, spacing=0.02))  # ~5 s with no room to grow
        resource.prlimit(gw.proc.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        rows = wait_rows(gw, 1 + ok) - 1
        retries = gw.metric("stopwise_log_write_retries_total")
        print(
            f"fulldisk: {ok} answered with the log unable to grow; rows {rows}, lost {ok - rows}, "
            f"write retries {retries:g}"
        )


async def _stalled_stream(url: str, out: list[bytes]) -> None:
    body = {"model": "claude-haiku-4-5", "max_tokens": 500, "stream": True, "messages": HI}
    async with (
        httpx2.AsyncClient(timeout=60) as c,
        c.stream("POST", f"{url}/v1/messages", json=body, headers={"x-sim-fault": "stall:600"}) as r,
    ):
        data = b""
        async for chunk in r.aiter_bytes():
            data += chunk
        out.append(data)


def sigterm(up: str, tmp: Path) -> None:
    with gateway(up, tmp, shutdown_timeout=2) as gw:

        async def run() -> tuple[list[bytes], int, float]:
            streams: list[bytes] = []
            tasks = [asyncio.create_task(_stalled_stream(gw.url, streams)) for _ in range(20)]
            await asyncio.sleep(1.0)
            ordinary = asyncio.create_task(send_many(gw.url, 20, 20))
            await asyncio.sleep(0.05)
            sent = time.monotonic()
            gw.proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*tasks, return_exceptions=True)
            ok = await ordinary
            await asyncio.to_thread(gw.proc.wait, 60)
            return streams, ok, time.monotonic() - sent

        streams, ok, took = asyncio.run(run())
        rows = gw.rows()
        typed = sum(b"event: error" in s and b"shut down" in s for s in streams)
        print(
            f"sigterm: exit {took:.2f} s after SIGTERM (shutdown_timeout 2); 20 stalled streams, "
            f"{typed} ended with the typed error event; {ok} ordinary answered; rows {rows} of {20 + ok}, "
            f"lost {20 + ok - rows}"
        )


def sigkill(up: str, tmp: Path) -> None:
    with gateway(up, tmp) as gw:

        async def run() -> int:
            ok = 0
            stop = time.monotonic() + 3.0
            async with httpx2.AsyncClient(timeout=30, limits=httpx2.Limits(max_connections=32)) as c:

                async def worker() -> None:
                    nonlocal ok
                    while time.monotonic() < stop:
                        try:
                            r = await c.post(
                                f"{gw.url}/v1/messages/count_tokens",
                                json={"model": "claude-haiku-4-5", "messages": HI},
                            )
                        except httpx2.TransportError:
                            return
                        ok += r.status_code == 200

                workers = [asyncio.create_task(worker()) for _ in range(32)]
                await asyncio.sleep(2.0)
                gw.proc.kill()
                await asyncio.gather(*workers)
            return ok

        ok = asyncio.run(run())
        gw.proc.wait()
        rows = gw.rows()
        print(
            f"sigkill: {ok} answered in full before SIGKILL, {rows} rows; lost {ok - rows} "
            f"(32 clients in flight; rows are written every 50 ms)"
        )


def slowloris(up: str, tmp: Path) -> None:
    with gateway(up, tmp) as gw:
        host, port = "127.0.0.1", int(gw.url.rsplit(":", 1)[1])

        async def one(lived: list[float]) -> None:
            started = time.monotonic()
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-slow: ")
            try:
                while not reader.at_eof():
                    writer.write(b"a")
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(reader.read(65536), 1.0)
            except OSError:
                pass
            lived.append(time.monotonic() - started)
            writer.close()

        async def run() -> tuple[list[float], float]:
            lived: list[float] = []
            tasks = [asyncio.create_task(one(lived)) for _ in range(600)]
            await asyncio.sleep(2.0)
            started = time.monotonic()
            async with httpx2.AsyncClient(timeout=30) as c:
                r = await c.get(f"{gw.url}/healthz")
                assert r.status_code == 200
            served = time.monotonic() - started
            await asyncio.gather(*tasks)
            return lived, served

        lived, served = asyncio.run(run())
        lived.sort()
        refused = gw.metric('stopwise_connections_refused_total{reason="header_timeout"}')
        print(
            f"slowloris: 600 connections lived {lived[0]:.1f}-{lived[-1]:.1f} s (header_timeout 10); "
            f"an ordinary client meanwhile served in {served * 1000:.0f} ms; refused {refused:g}"
        )


def headers(up: str, tmp: Path) -> None:
    with gateway(up, tmp) as gw:
        host, port = "127.0.0.1", int(gw.url.rsplit(":", 1)[1])
        for name, head in (
            ("8 MB header", b"x-big: " + b"a" * (8 * 1024 * 1024) + b"\r\n"),
            ("10,000 headers", b"".join(b"x-h-%d: v\r\n" % i for i in range(10_000))),
        ):
            started = time.monotonic()
            with socket.create_connection((host, port), timeout=30) as s:
                with contextlib.suppress(OSError):  # refused while still sending
                    s.sendall(b"GET /v1/models HTTP/1.1\r\nhost: x\r\n" + head + b"\r\n")
                answer = b""
                with contextlib.suppress(OSError):
                    while chunk := s.recv(65536):
                        answer += chunk
            status = answer.split(b" ", 2)[1].decode() if answer else "connection closed"
            print(f"headers: {name}: {status} in {(time.monotonic() - started) * 1000:.0f} ms")


async def _post_all(url: str, body: bytes, n: int, headers: dict[str, str]) -> list[tuple[int, int]]:
    async with httpx2.AsyncClient(timeout=600) as c:
        answers = await asyncio.gather(*(c.post(url, content=body, headers=headers) for _ in range(n)))
    return [(r.status_code, int(r.headers.get("x-stopwise-rounds", "0"))) for r in answers]


# (name, route, max_tokens, upstream headers): the simulator answers a 30 MiB prompt with a 400
# (prompt too long) unless told its window is larger.
_BODY_CASES: tuple[tuple[str, str, int, dict[str, str]], ...] = (
    ("one round", "/v1/messages", 8192, {"x-sim-context-window": "100000000"}),
    ("continued", "/v1/messages", 300, {"x-sim-context-window": "100000000"}),
    ("refused (400)", "/v1/messages", 10, {}),
    ("passed through", "/v1/messages/count_tokens", 10, {}),
)


def bodies(up: str, tmp: Path) -> None:
    mib = 30
    text = "a" * (mib * 1024 * 1024 - 200)
    for name, route, max_tokens, headers in _BODY_CASES:
        body = httpx2.Request(
            "POST",
            "http://x",
            json={
                "model": "claude-haiku-4-5",
                "max_tokens": max_tokens,
                "messages": [{"role": "user", "content": text}],
            },
        ).content
        with gateway(up, tmp, max_body_bytes=64 * 1024 * 1024, upstream_timeout=600) as gw:
            idle = status_kb(gw.proc.pid, "VmRSS")

            answers = asyncio.run(_post_all(f"{gw.url}{route}", body, 10, headers))
            peak = status_kb(gw.proc.pid, "VmHWM")
            per_mb = (peak - idle) / 1024 / (10 * len(body) / 2**20)
            codes = sorted({c for c, _ in answers})
            rounds = sorted({r for _, r in answers})
            print(
                f"bodies: {name} ({route}): 10 x {len(body) / 2**20:.0f} MiB, statuses {codes}, "
                f"rounds {rounds}; peak RSS {peak / 1024:.0f} MB over idle {idle / 1024:.0f} MB: "
                f"{per_mb:.2f} MB per MB of body"
            )


def streams(up: str, tmp: Path) -> None:
    with gateway(up, tmp, max_connections=1000) as gw:
        idle = status_kb(gw.proc.pid, "VmRSS")

        async def run() -> tuple[int, int, int]:
            body = {
                "model": "claude-haiku-4-5",
                "max_tokens": 600,
                "stream": True,
                "messages": [{"role": "user", "content": "prose"}],
            }
            whole = errors = 0
            rss = 0
            limits = httpx2.Limits(max_connections=600)
            async with httpx2.AsyncClient(timeout=120, limits=limits) as c:

                async def one() -> None:
                    nonlocal whole, errors
                    try:
                        async with c.stream(
                            "POST", f"{gw.url}/v1/messages", json=body, headers={"x-sim-fault": "slow:20"}
                        ) as r:
                            data = b"".join([chunk async for chunk in r.aiter_bytes()])
                        whole += r.status_code == 200 and b"message_stop" in data
                    except httpx2.HTTPError:
                        errors += 1

                tasks = [asyncio.create_task(one()) for _ in range(500)]
                await asyncio.sleep(3.0)
                rss = status_kb(gw.proc.pid, "VmRSS")
                await asyncio.gather(*tasks)
            return whole, errors, rss

        whole, errors, rss = asyncio.run(run())
        peak = status_kb(gw.proc.pid, "VmHWM")
        print(
            f"streams: 500 concurrent: {whole} whole, {errors} errors; RSS {rss / 1024:.0f} MB while open "
            f"(idle {idle / 1024:.0f} MB, peak {peak / 1024:.0f} MB)"
        )


SCENARIOS = {f.__name__: f for f in (lock, fulldisk, sigterm, sigkill, slowloris, headers, bodies, streams)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], default=[])
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
    with sim() as up, tempfile.TemporaryDirectory() as tmp:
        for name in args.scenarios or SCENARIOS:
            SCENARIOS[name](up, Path(tmp))


if __name__ == "__main__":
    main()
