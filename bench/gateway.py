"""``stopwise serve`` against calling the simulator directly, and against a LiteLLM proxy
configured the same way (issue 6, "Benchmark"). Run by hand, loopback only::

    .venv/bin/python bench/gateway.py                 # everything
    .venv/bin/python bench/gateway.py --no-litellm    # skip LiteLLM
    .venv/bin/python bench/gateway.py --quick         # shorter runs
    .venv/bin/python bench/gateway.py --client python # the asyncio httpx2 load generator
    .venv/bin/python bench/gateway.py --repeat 5      # medians of 5 runs per cell (default 3)

Measures, for Anthropic ``POST /v1/messages`` non-stream and stream at concurrency 1, 20 and
100 (every cell run ``--repeat`` times, interleaved, the tables giving the medians): latency
p50/p99 and throughput through each target, the added latency over the direct call, and the
gateway's CPU time per request (from /proc, steadier than wall-clock figures on a shared
machine); then the gateway's time from start to ready (first 200 from /healthz, as a
subprocess) and its peak RSS (VmHWM) after the load.

The load generator is wrk (C, one thread) when it is on PATH (``apt-get install wrk``), run
for a fixed time per cell after a warm-up; otherwise, or with ``--client python``, an asyncio
httpx2 client sending a fixed number of requests. Everything shares the machine's cores, so a
load generator's own CPU time lowers every target's throughput: wrk's is a small fraction of
the Python client's, which leaves the targets' own costs to decide the comparison.

The request is a one-round answer (the first paragraph of the simulator's prose document, cut
by a stop sequence), so the figures are the gateway's own cost, not the finisher's rounds.

LiteLLM is installed into ``bench/out/litellm-venv`` (``pip install 'litellm[proxy]'``) and
started offline (``LITELLM_LOCAL_MODEL_COST_MAP=True`` and friends) with a random strong master
key; if it cannot be installed or started, the script says so and reports the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
LITELLM_VENV = OUT / "litellm-venv"
MODEL = "claude-haiku-4-5"
BODY = {
    "model": MODEL,
    "max_tokens": 1000,
    "stop_sequences": ["\n\n"],
    "messages": [{"role": "user", "content": "Write prose please"}],
}
LEVELS = {1: 200, 20: 1000, 100: 2000}  # requests per cell, Python client
QUICK_LEVELS = {1: 50, 20: 200, 100: 400}
SECONDS, QUICK_SECONDS = 8.0, 3.0  # measured seconds per cell, wrk


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get_ok(host: str, port: int, path: str) -> bool:
    """One plain-socket GET: cheaper than an HTTP client, whose TLS setup alone would take
    longer than the wait being measured."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def wait_ready(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0, *, started: float | None = None
) -> float:
    """Seconds from ``started`` (default: now) until ``url`` answers 200; raises if the
    process dies or time runs out."""
    parsed = httpx2.URL(url)
    start = time.perf_counter() if started is None else started
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the process exited with {proc.returncode}")
        if _get_ok(parsed.host, parsed.port or 80, parsed.raw_path.decode()):
            return time.perf_counter() - start
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"{url} not ready after {timeout:.0f} s")
        time.sleep(0.002)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Result:
    target: str
    mode: str
    concurrency: int
    requests: int
    p50_ms: float
    p99_ms: float
    rps: float
    errors: int
    cpu_ms: float | None = None  # the gateway's CPU time per request (stopwise only)


def median_of(cell: list[Result]) -> Result:
    """A cell's repeated runs as one: the median of each figure (requests and errors summed)."""
    cpus = [r.cpu_ms for r in cell if r.cpu_ms is not None]
    first = cell[0]
    return Result(
        first.target,
        first.mode,
        first.concurrency,
        sum(r.requests for r in cell),
        statistics.median(r.p50_ms for r in cell),
        statistics.median(r.p99_ms for r in cell),
        statistics.median(r.rps for r in cell),
        sum(r.errors for r in cell),
        statistics.median(cpus) if cpus else None,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    base: str,
    headers: dict[str, str],
    *,
    stream: bool,
    concurrency: int,
    total: int,
    cpu_pid: int | None = None,
) -> Result:
    body = {**BODY, "stream": stream}
    latencies: list[float] = []
    errors = 0
    queue = iter(range(total))
    limits = httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx2.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60.0) as client:

        async def one() -> None:
            nonlocal errors
            start = time.perf_counter()
            async with client.stream("POST", "/v1/messages", json=body) as r:
                async for _ in r.aiter_raw():
                    pass
            if r.status_code != 200:
                errors += 1
            latencies.append(time.perf_counter() - start)

        async def worker() -> None:
            for _ in queue:
                await one()

        # Warm the connections and code paths first.
        for _ in range(min(total, 2 * concurrency)):
            await one()
        latencies.clear()
        errors = 0
        before = cpu_seconds(cpu_pid) if cpu_pid else 0.0
        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
        cpu = cpu_seconds(cpu_pid) - before if cpu_pid else None
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Result(
        "",
        "stream" if stream else "body",
        concurrency,
        total,
        statistics.median(latencies) * 1000,
        p99 * 1000,
        total / elapsed,
        errors,
        None if cpu is None else cpu * 1000 / total,
    )


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def load_wrk(
    base: str,
    headers: dict[str, str],
    *,
    stream: bool,
    concurrency: int,
    seconds: float,
    workdir: Path,
    cpu_pid: int | None = None,
) -> Result:
    """One cell with wrk: a warm-up run, then ``seconds`` measured. wrk counts a non-2xx
    answer and a socket error (connect, read, timeout) separately; both are errors here."""
    body = json.dumps({**BODY, "stream": stream})
    lua = workdir / f"wrk-{secrets.token_hex(4)}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = {json.dumps(body)}"]
    all_headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", **headers}
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in all_headers.items()]
    lua.write_text("\n".join(lines) + "\n")
    cmd = ["wrk", "-t1", f"-c{concurrency}", "--timeout", "30s", "-s", str(lua), f"{base}/v1/messages"]
    subprocess.run([*cmd, "-d", "1s"], capture_output=True, check=True)
    before = cpu_seconds(cpu_pid) if cpu_pid else 0.0
    measured = [*cmd, "-d", f"{seconds:g}s", "--latency"]
    run = subprocess.run(measured, capture_output=True, text=True, check=True)
    cpu = cpu_seconds(cpu_pid) - before if cpu_pid else None
    out = run.stdout
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if not (total and rps and p50 and p99):
        raise RuntimeError(f"could not read wrk's report:\n{out}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors += int(non2xx.group(1)) if non2xx else 0
    requests = int(total.group(1))
    return Result(
        "",
        "stream" if stream else "body",
        concurrency,
        requests,
        _ms(p50.group(1)),
        _ms(p99.group(1)),
        float(rps.group(1)),
        errors,
        None if cpu is None else cpu * 1000 / requests,
    )


def start(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def litellm_setup(sim_url: str, workdir: Path) -> tuple[list[str], dict[str, str], str] | str:
    """The command, env and master key for a LiteLLM proxy in front of the simulator; or why
    there is none."""
    python = LITELLM_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing litellm[proxy] into {LITELLM_VENV} …", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "litellm[proxy]"], check=True, timeout=1800
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            shutil.rmtree(LITELLM_VENV, ignore_errors=True)
            return f"LiteLLM could not be installed here ({exc})"
    master = "sk-" + secrets.token_urlsafe(32)
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {MODEL}\n"
        "    litellm_params:\n"
        f"      model: anthropic/{MODEL}\n"
        f"      api_base: {sim_url}\n"
        "      api_key: x\n"
        "litellm_settings:\n"
        "  telemetry: false\n"
        "  drop_params: true\n"
    )
    env = {
        **os.environ,
        # Offline: no fetching of the model cost map or other remote tables at start.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
        "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
        "LITELLM_LOCAL_BLOG_POSTS": "True",
        "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
        "LITELLM_MASTER_KEY": master,
        "LITELLM_TELEMETRY": "False",
        "LITELLM_LOG": "ERROR",
        "DISABLE_SCHEMA_UPDATE": "True",
    }
    env.pop("DATABASE_URL", None)
    return [str(python), "-m", "litellm.proxy.proxy_cli", "--config", str(config)], env, master


def table(results: list[Result], direct: dict[tuple[str, int], Result]) -> str:
    lines = [
        "| target | mode | concurrency | requests | p50 ms | p99 ms | added p50 ms | added p99 ms"
        " | req/s | errors | gateway CPU ms/req |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        d = direct[(r.mode, r.concurrency)]
        added = "" if r.target == "direct" else f"{r.p50_ms - d.p50_ms:+.2f}"
        added99 = "" if r.target == "direct" else f"{r.p99_ms - d.p99_ms:+.2f}"
        lines.append(
            f"| {r.target} | {r.mode} | {r.concurrency} | {r.requests} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {added} | {added99} | {r.rps:.0f} | {r.errors} "
            f"| {'' if r.cpu_ms is None else f'{r.cpu_ms:.2f}'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of every cell; the tables show their medians"
    )
    parser.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the stopwise process only (e.g. PYTHONPATH with uvloop/httptools)",
    )
    args = parser.parse_args()
    levels = QUICK_LEVELS if args.quick else LEVELS
    seconds = QUICK_SECONDS if args.quick else SECONDS
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "python"
    if client == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH (apt-get install wrk)")
    stopwise = [sys.executable, "-c", "from stopwise.cli import main; main()"]
    workdir = Path(tempfile.mkdtemp(prefix="stopwise-bench-"))
    sim_port, gw_port, lite_port = free_port(), free_port(), free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    gw_url = f"http://127.0.0.1:{gw_port}"
    procs: list[subprocess.Popen[bytes]] = []
    notes: list[str] = []
    try:
        sim = start([*stopwise, "sim", "--port", str(sim_port), "--log-level", "warning"])
        procs.append(sim)
        wait_ready(f"{sim_url}/v1/models", sim)
        (workdir / "empty.toml").write_text("")
        gw_env = {**os.environ, "STOPWISE_CONFIG": str(workdir / "empty.toml")}
        gw_env.update(item.split("=", 1) for item in args.gateway_env)
        gw_cmd = [
            *stopwise,
            "serve",
            "--port",
            str(gw_port),
            "--anthropic-base-url",
            sim_url,
            "--log-path",
            str(workdir / "gateway.db"),
            "--log-level",
            "warning",
        ]
        started = time.perf_counter()
        gateway = start(gw_cmd, gw_env)
        procs.append(gateway)
        ready = wait_ready(f"{gw_url}/healthz", gateway, started=started)
        targets = {"direct": (sim_url, {"x-api-key": "x", "anthropic-version": "2023-06-01"})}
        targets["stopwise"] = (gw_url, {"x-api-key": "x", "anthropic-version": "2023-06-01"})
        if not args.no_litellm:
            setup = litellm_setup(sim_url, workdir)
            if isinstance(setup, str):
                notes.append(setup)
            else:
                cmd, env, master = setup
                lite = start([*cmd, "--port", str(lite_port), "--host", "127.0.0.1"], env)
                procs.append(lite)
                try:
                    lite_ready = wait_ready(
                        f"http://127.0.0.1:{lite_port}/health/liveliness", lite, timeout=120
                    )
                    notes.append(f"LiteLLM proxy ready in {lite_ready:.2f} s")
                    targets["litellm"] = (
                        f"http://127.0.0.1:{lite_port}",
                        {"authorization": f"Bearer {master}", "anthropic-version": "2023-06-01"},
                    )
                except RuntimeError as exc:
                    notes.append(f"LiteLLM proxy could not be started here: {exc}")
        else:
            notes.append("LiteLLM skipped (--no-litellm)")
        runs: dict[tuple[str, str, int], list[Result]] = {}
        for rep in range(args.repeat):
            for stream in (False, True):
                for concurrency, total in levels.items():
                    for name, (base, headers) in targets.items():
                        pid = gateway.pid if name == "stopwise" else None
                        if client == "wrk":
                            r = load_wrk(
                                base,
                                headers,
                                stream=stream,
                                concurrency=concurrency,
                                seconds=seconds,
                                workdir=workdir,
                                cpu_pid=pid,
                            )
                        else:
                            work = load(
                                base,
                                headers,
                                stream=stream,
                                concurrency=concurrency,
                                total=total,
                                cpu_pid=pid,
                            )
                            r = asyncio.run(work)
                        r.target = name
                        runs.setdefault((name, r.mode, concurrency), []).append(r)
                        print(
                            f"[{rep + 1}/{args.repeat}] {name:8} {r.mode:6} c={concurrency:<3} "
                            f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  {r.rps:7.0f} req/s  "
                            f"errors {r.errors}"
                            + (f"  gateway CPU {r.cpu_ms:.2f} ms/req" if r.cpu_ms is not None else ""),
                            flush=True,
                        )
        results = [median_of(cell) for cell in runs.values()]
        rss = peak_rss_mb(gateway.pid)
    finally:
        for p in reversed(procs):
            stop(p)
    direct = {(r.mode, r.concurrency): r for r in results if r.target == "direct"}
    print()
    print(table(results, direct))
    print()
    if "litellm" in targets:
        for mode in ("body", "stream"):
            for c in levels:
                sw = next(r for r in results if (r.target, r.mode, r.concurrency) == ("stopwise", mode, c))
                lt = next(r for r in results if (r.target, r.mode, r.concurrency) == ("litellm", mode, c))
                print(f"throughput stopwise / litellm, {mode}, c={c}: {sw.rps / lt.rps:.1f}x")
    print(
        f"stopwise serve: ready in {ready:.3f} s (process start to first /healthz 200); peak RSS {rss:.1f} MB"
    )
    print(f"load generator: {client}")
    for note in notes:
        print(note)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
