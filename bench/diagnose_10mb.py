"""Benchmark: diagnose a 10 MB log (a long relayed OpenAI stream, log-prefixed, with noise and a
traceback), median of several runs. Not a test: run it by hand.

    .venv/bin/python bench/diagnose_10mb.py
"""

from __future__ import annotations

import json
import statistics
import time

from stopwise.diagnose import diagnose

TARGET = 10 * 1024 * 1024
RUNS = 7


def build_log() -> bytes:
    base = {
        "id": "msg_014i21AGDwm3iv3dnkPFXeSd",
        "object": "chat.completion.chunk",
        "created": 1757509223,
        "model": "claude-opus-4-20250514",
        "system_fingerprint": None,
    }
    words = ["SELECT", "region,", "SUM(amount)", "FROM", "sales", "WHERE", "year", "=", "2025", "GROUP", "BY"]
    parts: list[str] = []
    size = 0
    i = 0
    while size < TARGET - 4096:
        chunk = {
            **base,
            "choices": [
                {
                    "delta": {"content": words[i % len(words)] + " "},
                    "logprobs": None,
                    "finish_reason": None,
                    "index": 0,
                }
            ],
            "usage": None,
        }
        line = (
            f"2025-09-10 12:{(i // 6000) % 60:02d}:{(i // 100) % 60:02d}.{i % 1000:03d} DEBUG relay: data: "
        )
        line += json.dumps(chunk, separators=(",", ":")) + "\n"
        if i % 500 == 0:
            line += f"2025-09-10 12:00:00.000 INFO worker heartbeat ok queue=3 pid={i}\n"
        parts.append(line)
        size += len(line)
        i += 1
    tail = [
        {
            **base,
            "choices": [{"delta": {}, "logprobs": None, "finish_reason": "max_tokens", "index": 0}],
            "usage": None,
        },
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 25185, "completion_tokens": 8192, "total_tokens": 33377},
        },
    ]
    for chunk in tail:
        parts.append(
            "2025-09-10 12:59:59.999 DEBUG relay: data: " + json.dumps(chunk, separators=(",", ":")) + "\n"
        )
    parts.append("2025-09-10 12:59:59.999 DEBUG relay: data: [DONE]\n")
    return "".join(parts).encode()


def main() -> None:
    log = build_log()
    times: list[float] = []
    cpu: list[float] = []  # CPU time too: wall time swings when the machine is shared
    result = None
    for _ in range(RUNS):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = diagnose(log)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    assert result is not None
    lines = log.count(b"\n")
    print(f"log: {len(log) / 1024 / 1024:.1f} MB, {lines} lines -> {result.category} {result.also}")
    print(
        f"diagnose median of {RUNS}: {statistics.median(times) * 1000:.0f} ms "
        f"(min {min(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms); "
        f"CPU time median {statistics.median(cpu) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
