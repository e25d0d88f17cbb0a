"""Throughput of one and two ``stopwise serve`` replicas sharing a PostgreSQL request log,
behind a load balancer, against one replica with the default SQLite log. Run by hand,
loopback only::

    .venv/bin/python bench/replicas.py              # --repeat 3 by default
    .venv/bin/python bench/replicas.py --quick      # 3 s per cell, one run
    .venv/bin/python bench/replicas.py --balancer python   # the Python round-robin, not nginx

Starts one ``stopwise sim``, one throwaway PostgreSQL server (``tests/gateway/_pg.py``, with
``fsync`` on as in production), two ``stopwise serve`` replicas with the same ``--log-url``
and distinct ``--replica`` names, one more ``stopwise serve`` with the default SQLite log, and
nginx (``nginx -c CONF -p DIR``, a child process, one worker) with two listeners: one in front
of replica ``r1`` only, one round-robin over ``r1`` and ``r2``, both keeping connections alive
to the upstreams. Without nginx, the Python ``RoundRobin`` of ``tests/gateway/_balancer.py``
(connections, not requests, are balanced; wrk keeps its connections, so they split evenly).

Targets, each for Anthropic ``POST /v1/messages`` non-stream and stream at concurrency 20 and
100 with wrk (the request and the wrk runs of ``bench/gateway.py``), every cell ``--repeat``
times, interleaved, medians in the table:

- ``sqlite-1``: one replica, SQLite log, no balancer (the baseline);
- ``pg-1-direct``: replica ``r1`` (PostgreSQL log), no balancer: the log's own cost;
- ``pg-1-lb``: replica ``r1`` behind the balancer;
- ``pg-2-lb``: replicas ``r1`` and ``r2`` behind the balancer.

After every run the script waits for each replica's log queue to empty and checks, per replica,
that the rows the run added to the database (``SELECT replica, count(*) FROM requests``) equal
the requests the replica counted meanwhile (``stopwise_requests_total`` on its ``/metrics``:
wrk's warm-up and the requests cut at the end of a run included) and that it dropped none
(``stopwise_log_rows_dropped_total``); and that the rows added are at least the requests wrk
completed. A run that fails the check is marked ``ROWS MISMATCH``, the table counts the rows
lost, and the script exits with status 1 after printing everything.

"Gateway CPU" is the replicas' user + system time, summed, per row written (warm-up included);
"machine busy" is the share of both cores busy meanwhile (``/proc/stat``), "others" the part of
it not spent by this script's processes (the sim, the replicas, nginx, PostgreSQL, wrk): other
work on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import psycopg

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests"), str(ROOT / "tests" / "gateway")]

from _balancer import RoundRobin  # noqa: E402
from _pg import PostgresServer, postgres_unavailable  # noqa: E402

from gateway import (  # noqa: E402  (bench/gateway.py: the request, wrk and process helpers)
    QUICK_SECONDS,
    SECONDS,
    Result,
    cpu_seconds,
    free_port,
    load_wrk,
    median_of,
    start,
    stop,
    wait_ready,
)

CONCURRENCY = (20, 100)
HEADERS = {"x-api-key": "x", "anthropic-version": "2023-06-01"}
STOPWISE = [sys.executable, "-c", "from stopwise.cli import main; main()"]
TARGETS = ("sqlite-1", "pg-1-direct", "pg-1-lb", "pg-2-lb")


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cell:
    """One run of one target: wrk's result and what the log check found."""

    result: Result
    busy: float  # share of the machine's CPU time busy during the run
    others: float  # share of it spent by processes this script did not start
    checks: dict[str, Check] = field(default_factory=dict)
    rows_ok: bool = True


def metrics(url: str) -> dict[str, float]:
    """The series of a replica's /metrics this script reads: requests handled (all routes and
    statuses), rows queued, rows dropped, requests in flight."""
    text = httpx2.get(f"{url}/metrics", timeout=10).text
    out = {"requests": 0.0, "queued": 0.0, "dropped": 0.0, "in_flight": 0.0}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        series, value = line.rsplit(" ", 1)
        name = series.split("{", 1)[0]
        key = {
            "stopwise_requests_total": "requests",
            "stopwise_log_rows_queued": "queued",
            "stopwise_log_rows_dropped_total": "dropped",
            "stopwise_requests_in_flight": "in_flight",
        }.get(name)
        if key:
            out[key] += float(value)
        if name == "stopwise_log_rows_dropped_total":  # and by reason: queue_full, write_error
            reason = series.split('reason="', 1)[1].split('"', 1)[0]
            out[f"dropped {reason}"] = float(value)
    return out


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def own_ticks(roots: list[int]) -> int:
    """Clock ticks spent so far by ``roots``, their live descendants and the children they
    reaped (wrk, PostgreSQL's short sessions): this script's share of the machine."""
    parents: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) is not None:
            stats[int(entry.name)] = fields
            parents[int(entry.name)] = int(fields[1])
    mine = set(roots)
    grew = True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in mine} - mine
        grew = bool(more)
        mine |= more
    # utime, stime, cutime, cstime
    return sum(sum(int(x) for x in stats[pid][11:15]) for pid in mine if pid in stats)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all cores so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def pg_rows(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {r: n for r, n in conn.execute("SELECT replica, count(*) FROM requests GROUP BY replica")}


def sqlite_rows(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {r: n for r, n in conn.execute("SELECT replica, count(*) FROM requests GROUP BY replica")}


def settle(
    replicas: list[Replica], rows: Callable[[], dict[str, int]], timeout: float = 60.0
) -> tuple[dict[str, int], dict[str, dict[str, float]]]:
    """Wait until every replica has nothing in flight or queued and its rows in the database
    plus the rows it dropped equal the requests it counted (or the rows stop changing); return
    the rows per replica and each replica's metrics."""
    deadline = time.monotonic() + timeout
    last: dict[str, int] | None = None
    still = 0
    while True:
        seen = {r.name: metrics(r.url) for r in replicas}
        counted = rows()
        idle = all(m["in_flight"] == 0 and m["queued"] == 0 for m in seen.values())
        done = all(
            counted.get(r.name, 0) + seen[r.name]["dropped"] == seen[r.name]["requests"] for r in replicas
        )
        # Idle with the rows unchanged for 2 s: nothing more is coming.
        still = still + 1 if idle and counted == last else 0
        last = counted
        if (idle and done) or still >= 10 or time.monotonic() > deadline:
            return counted, seen
        time.sleep(0.2)


@dataclass
class Check:
    """One run's rows against one replica's own count of the requests it handled."""

    rows: int  # rows added to the database during the run
    requests: int  # requests the replica counted during the run (stopwise_requests_total)
    dropped: int  # rows it dropped during the run (stopwise_log_rows_dropped_total)
    reasons: str = ""  # the drops by reason, when there were any

    @property
    def ok(self) -> bool:
        return self.rows == self.requests and self.dropped == 0

    def __str__(self) -> str:
        sign = "=" if self.rows == self.requests else "!="
        why = f" ({self.reasons})" if self.reasons else ""
        return f"+{self.rows} rows {sign} +{self.requests} requests, {self.dropped} dropped{why}"


def nginx_conf(workdir: Path, listeners: dict[int, list[Replica]]) -> Path:
    """A config with one ``upstream`` (round-robin, keepalive) and one ``server`` per listener."""
    blocks = []
    for port, backends in listeners.items():
        servers = "".join(f"        server 127.0.0.1:{b.port};\n" for b in backends)
        blocks.append(
            f"    upstream up{port} {{\n{servers}        keepalive 128;\n    }}\n"
            f"    server {{\n"
            f"        listen 127.0.0.1:{port};\n"
            f"        location / {{\n"
            f"            proxy_pass http://up{port};\n"
            f"            proxy_http_version 1.1;\n"
            f'            proxy_set_header Connection "";\n'
            f"            proxy_set_header Host $host;\n"
            f"            proxy_buffering off;\n"
            f"            proxy_request_buffering off;\n"
            f"            proxy_read_timeout 3600s;\n"
            f"        }}\n"
            f"    }}\n"
        )
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\n"
        f"pid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/nginx-error.log warn;\n"
        "events { worker_connections 4096; }\n"
        "http {\n"
        f"    access_log {workdir}/nginx-access.log combined buffer=256k flush=5s;\n"
        f"    client_body_temp_path {workdir}/client_body;\n"
        f"    proxy_temp_path {workdir}/proxy;\n"
        f"    fastcgi_temp_path {workdir}/fastcgi;\n"
        f"    uwsgi_temp_path {workdir}/uwsgi;\n"
        f"    scgi_temp_path {workdir}/scgi;\n"
        "    keepalive_requests 100000;\n" + "".join(blocks) + "}\n"
    )
    return conf


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """Until something accepts connections on 127.0.0.1:port (nginx has no /healthz of its own:
    its listener is up once a connection is accepted)."""
    import socket

    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the balancer exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s") from None
            time.sleep(0.05)


def table(
    results: list[Result],
    busy: dict[tuple[str, str, int], tuple[float, float]],
    lost: dict[tuple[str, str, int], int],
) -> str:
    """The medians; ``requests`` are wrk's completed requests summed over the runs, ``rows
    lost`` the requests the replicas served without a row in the log, over all the runs."""
    lines = [
        "| target | mode | concurrency | requests | req/s | p50 ms | p99 ms | errors"
        " | rows lost | gateway CPU ms/req | machine busy | others |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        key = (r.target, r.mode, r.concurrency)
        cpu = "" if r.cpu_ms is None else f"{r.cpu_ms:.2f}"
        lines.append(
            f"| {r.target} | {r.mode} | {r.concurrency} | {r.requests} | {r.rps:.0f} | {r.p50_ms:.2f} "
            f"| {r.p99_ms:.2f} | {r.errors} | {lost[key]} | {cpu} | {busy[key][0]:.0%} | {busy[key][1]:.0%} |"
        )
    return "\n".join(lines)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so that the finally below stops every process started


def main() -> None:
    # SIGTERM, and SIGINT too: a shell ignores SIGINT for a job it starts in the background.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 s per cell and one run (unless --repeat)")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs of every cell [default: 3; 1 with --quick]"
    )
    parser.add_argument("--balancer", choices=("auto", "nginx", "python"), default="auto")
    args = parser.parse_args()
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    seconds = QUICK_SECONDS if args.quick else SECONDS
    if not shutil.which("wrk"):
        parser.error("wrk is not on PATH (apt-get install wrk)")
    reason = postgres_unavailable()
    if reason:
        parser.error(reason)
    balancer = args.balancer
    if balancer == "auto":
        balancer = "nginx" if shutil.which("nginx") else "python"
    if balancer == "nginx" and not shutil.which("nginx"):
        parser.error("nginx is not on PATH (apt-get install -y nginx), or use --balancer python")

    workdir = Path(tempfile.mkdtemp(prefix="stopwise-replicas-"))
    os.chmod(workdir, 0o755)  # nginx's workers and the postgres user read below it
    procs: list[subprocess.Popen[bytes]] = []
    balancers: list[RoundRobin] = []
    notes: list[str] = []
    pg = PostgresServer(settings={"fsync": "on", "full_page_writes": "on"})
    try:
        pg.start()
        log_url = pg.create_database("stopwise_bench")
        sim_port = free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        sim = start([*STOPWISE, "sim", "--port", str(sim_port), "--log-level", "warning"])
        procs.append(sim)
        wait_ready(f"{sim_url}/v1/models", sim)
        (workdir / "empty.toml").write_text("")
        env = {**os.environ, "STOPWISE_CONFIG": str(workdir / "empty.toml")}

        def serve(name: str, log: list[str]) -> Replica:
            port = free_port()
            cmd = [
                *STOPWISE,
                "serve",
                "--port",
                str(port),
                "--anthropic-base-url",
                sim_url,
                "--openai-base-url",
                f"{sim_url}/v1",
                "--replica",
                name,
                *log,
                "--log-level",
                "warning",
            ]
            # Its warnings (a row dropped, a write retried) kept for the report.
            with (workdir / f"{name}.log").open("wb") as err:
                proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
            procs.append(proc)
            replica = Replica(name, port, proc)
            wait_ready(f"{replica.url}/healthz", proc)
            return replica

        sqlite_path = workdir / "gateway.db"
        lite = serve("sqlite", ["--log-path", str(sqlite_path)])
        r1 = serve("r1", ["--log-url", log_url])
        r2 = serve("r2", ["--log-url", log_url])

        lb_urls: dict[str, str] = {}
        if balancer == "nginx":
            one, two = free_port(), free_port()
            conf = nginx_conf(workdir, {one: [r1], two: [r1, r2]})
            nginx = start(["nginx", "-c", str(conf), "-p", str(workdir), "-g", "daemon off;"])
            procs.append(nginx)
            wait_port(one, nginx)
            wait_port(two, nginx)
            lb_urls = {"pg-1-lb": f"http://127.0.0.1:{one}", "pg-2-lb": f"http://127.0.0.1:{two}"}
            version = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
            notes.append(f"balancer: {version}, 1 worker, round-robin, keepalive 128 to the upstreams")
        else:
            for target, backends in (("pg-1-lb", [r1]), ("pg-2-lb", [r1, r2])):
                lb = RoundRobin([b.url for b in backends])
                balancers.append(lb)
                lb_urls[target] = lb.url
            notes.append(
                "balancer: the Python RoundRobin of tests/gateway/_balancer.py (nginx "
                + ("not installed" if not shutil.which("nginx") else "not chosen")
                + "); it balances connections, not requests"
            )

        targets: dict[str, tuple[str, list[Replica], Callable[[], dict[str, int]]]] = {
            "sqlite-1": (lite.url, [lite], lambda: sqlite_rows(sqlite_path)),
            "pg-1-direct": (r1.url, [r1], lambda: pg_rows(log_url)),
            "pg-1-lb": (lb_urls["pg-1-lb"], [r1], lambda: pg_rows(log_url)),
            "pg-2-lb": (lb_urls["pg-2-lb"], [r1, r2], lambda: pg_rows(log_url)),
        }
        runs: dict[tuple[str, str, int], list[Cell]] = {}
        postmaster = int((pg.data / "postmaster.pid").read_text().split()[0])
        roots = [os.getpid(), postmaster]
        all_ok = True
        dropped_total = 0
        for rep in range(repeat):
            for stream in (False, True):
                for concurrency in CONCURRENCY:
                    for name, (base, replicas, rows) in targets.items():
                        before_rows = rows()
                        before = {x.name: metrics(x.url) for x in replicas}
                        cpu0 = sum(cpu_seconds(x.proc.pid) for x in replicas)
                        busy0, total0 = machine_ticks()
                        own0 = own_ticks(roots)
                        r = load_wrk(
                            base,
                            HEADERS,
                            stream=stream,
                            concurrency=concurrency,
                            seconds=seconds,
                            workdir=workdir,
                        )
                        # The CPU, the ticks and the rows all include load_wrk's 1 s warm-up,
                        # so CPU per row is over the same requests.
                        busy1, total1 = machine_ticks()
                        own1 = own_ticks(roots)
                        cpu = sum(cpu_seconds(x.proc.pid) for x in replicas) - cpu0
                        r.target = name
                        after_rows, after = settle(replicas, rows)
                        checks = {
                            x.name: Check(
                                after_rows.get(x.name, 0) - before_rows.get(x.name, 0),
                                round(after[x.name]["requests"] - before[x.name]["requests"]),
                                round(after[x.name]["dropped"] - before[x.name]["dropped"]),
                                ", ".join(
                                    f"{k.split()[1]} {v - before[x.name].get(k, 0):.0f}"
                                    for k, v in after[x.name].items()
                                    if k.startswith("dropped ") and v != before[x.name].get(k, 0)
                                ),
                            )
                            for x in replicas
                        }
                        total_added = sum(c.rows for c in checks.values())
                        # wrk counts the requests it completed in the measured seconds; the
                        # replicas also served its warm-up and the requests cut at the end.
                        ok = all(c.ok for c in checks.values()) and total_added >= r.requests
                        all_ok = all_ok and ok
                        dropped_total += sum(c.dropped for c in checks.values())
                        r.cpu_ms = cpu * 1000 / max(total_added, 1)
                        span = max(total1 - total0, 1)
                        others = max(0, (busy1 - busy0) - (own1 - own0)) / span
                        cell = Cell(r, (busy1 - busy0) / span, others, checks, ok)
                        runs.setdefault((name, r.mode, concurrency), []).append(cell)
                        print(
                            f"[{rep + 1}/{repeat}] {name:11} {r.mode:6} c={concurrency:<3} "
                            f"{r.rps:6.0f} req/s  p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  "
                            f"errors {r.errors}  others {others:.0%}  wrk completed {r.requests}; "
                            + "; ".join(f"{k}: {c}" for k, c in checks.items())
                            + f"; {'rows OK' if ok else 'ROWS MISMATCH'}",
                            flush=True,
                        )
        if not all_ok:
            for x in (lite, r1, r2):
                text = (workdir / f"{x.name}.log").read_text(errors="replace").strip().splitlines()
                print(f"\n--- stderr of replica {x.name} (last 15 lines) ---", *text[-15:], sep="\n")
        final_pg = pg_rows(log_url)
        final_lite = sqlite_rows(sqlite_path)
    finally:
        for lb in balancers:
            lb.close()
        for p in reversed(procs):
            stop(p)
        pg.close()
        shutil.rmtree(workdir, ignore_errors=True)
    results = [median_of([c.result for c in cells]) for cells in runs.values()]
    busy = {
        key: (statistics.median(c.busy for c in cells), statistics.median(c.others for c in cells))
        for key, cells in runs.items()
    }
    lost = {
        key: sum(ch.requests - ch.rows for c in cells for ch in c.checks.values())
        for key, cells in runs.items()
    }
    by = {(r.target, r.mode, r.concurrency): r for r in results}
    print()
    print(table(results, busy, lost))
    print()
    for mode in ("body", "stream"):
        for c in CONCURRENCY:
            two, one = by[("pg-2-lb", mode, c)], by[("pg-1-lb", mode, c)]
            direct, lite_r = by[("pg-1-direct", mode, c)], by[("sqlite-1", mode, c)]
            print(
                f"{mode:6} c={c:<3} 2 replicas / 1 replica (balanced): {two.rps / one.rps:.2f}x   "
                f"PostgreSQL / SQLite, 1 replica direct: {direct.rps / lite_r.rps:.2f}x   "
                f"1 replica balanced / direct: {one.rps / direct.rps:.2f}x"
            )
    print()
    print(f"rows in PostgreSQL at the end, per replica: {final_pg}; in SQLite: {final_lite}")
    print(f"rows dropped by the replicas (stopwise_log_rows_dropped_total), all runs: {dropped_total}")
    print(
        "every run: rows = requests counted by each replica, none dropped, rows added >= wrk's "
        + ("completed requests: OK" if all_ok else "completed requests: FAILED (see the runs above)")
    )
    print(
        f"seconds per cell: {seconds:g} after a 1 s warm-up; runs per cell: {repeat}; cores: {os.cpu_count()}"
    )
    for note in notes:
        print(note)
    if not all_ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
