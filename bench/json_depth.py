"""The request body's depth check (`stopwise.gateway.body.depth_over`) on 175 KB bodies.

Run by hand (not in CI):  .venv/bin/python bench/json_depth.py [--repeat 300]

Two bodies of about 175 KB, as an agent sends them: `dense`, many small objects (tool schemas,
content blocks, tool inputs; about 4,400 arrays and objects), and `code`, tool results that
quote source files (few containers, long strings full of escapes, brackets and quotes). For
each, the median of --repeat runs of: orjson.loads (for scale), the check as it was before
(f89ad66: a bracket count, then a stack walk over every value), the check now (a walk level by
level in C loops), and a scan of the bytes that skips strings (the other way considered: strip
escapes, drop what is inside quotes, keep brackets, the deepest prefix).
"""

from __future__ import annotations

import argparse
import operator
import random
import re
import statistics
import time
from collections.abc import Callable
from itertools import accumulate, count
from pathlib import Path
from typing import Any

import orjson

from stopwise.gateway.body import depth_over

LIMIT = 128
WORDS = [
    "the",
    "model",
    "calls",
    "a",
    "tool",
    "with",
    "{json}",
    "arguments",
    "[1,",
    "2]",
    "and",
    "reads",
    "it",
]


def dense(rng: random.Random, size: int) -> bytes:
    def text(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n))

    properties = {
        f"p{j}": {"type": "string", "description": text(6), "enum": ["a", "b", "c"]} for j in range(6)
    }
    tools = [
        {
            "name": f"tool_{i}",
            "description": text(30),
            "input_schema": {"type": "object", "properties": properties},
        }
        for i in range(16)
    ]
    body: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 4096, "tools": tools, "messages": []}
    i = 0
    while len(orjson.dumps(body)) < size:
        i += 1
        result = {
            "type": "tool_result",
            "tool_use_id": f"toolu_{i}",
            "content": [{"type": "text", "text": text(40)}],
        }
        use = {
            "type": "tool_use",
            "id": f"toolu_{i}",
            "name": "tool_1",
            "input": {"lines": [1, 2], "o": {"a": None}},
        }
        body["messages"] += [
            {"role": "assistant", "content": [{"type": "text", "text": text(20)}, use]},
            {"role": "user", "content": [result]},
        ]
    return orjson.dumps(body)


def code(size: int) -> bytes:
    sources = sorted(Path(__file__).resolve().parents[1].glob("src/stopwise/**/*.py"))
    messages: list[Any] = [{"role": "user", "content": "Review the code."}]
    for i, path in enumerate(sources):
        if sum(len(orjson.dumps(m)) for m in messages) > size:
            break
        use = {"type": "tool_use", "id": f"toolu_{i}", "name": "Read", "input": {"path": str(path)}}
        result = {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": path.read_text()[:4000]}
        messages += [{"role": "assistant", "content": [use]}, {"role": "user", "content": [result]}]
    return orjson.dumps({"model": "claude-sonnet-4-5", "max_tokens": 4096, "messages": messages})


def before(body: bytes, obj: object, limit: int) -> bool:
    """f89ad66's check."""
    if body.count(b"{") + body.count(b"[") <= limit or not isinstance(obj, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


_ESCAPE = re.compile(rb"\\.", re.S)
_NOT_STRUCTURE = bytes(range(256)).translate(None, b'[]{}"')
_SIGN = bytes.maketrans(b"[]{}", b"\x02\x00\x02\x00")


def byte_scan(body: bytes, limit: int) -> bool:
    s = _ESCAPE.sub(b"", body).translate(None, _NOT_STRUCTURE)
    while b'""' in s:  # an empty string, or the end of one and the start of the next: parity kept
        s = s.replace(b'""', b"")
    if b'"' in s:
        s = b"".join(s.split(b'"')[::2])
    return max(map(operator.sub, accumulate(s.translate(_SIGN)), count(1)), default=0) > limit


def median_ms(repeat: int, fn: Callable[..., object], *args: Any) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=300)
    parser.add_argument("--size", type=int, default=175_000)
    args = parser.parse_args()
    for name, body in (("dense", dense(random.Random(3), args.size)), ("code", code(args.size))):
        obj = orjson.loads(body)
        assert before(body, obj, LIMIT) == depth_over(obj, LIMIT) == byte_scan(body, LIMIT) is False
        assert before(body, obj, 3) == depth_over(obj, 3) == byte_scan(body, 3) is True
        containers = body.count(b"{") + body.count(b"[")
        figures = {
            "loads": median_ms(args.repeat, orjson.loads, body),
            "before": median_ms(args.repeat, before, body, obj, LIMIT),
            "now": median_ms(args.repeat, depth_over, obj, LIMIT),
            "byte scan": median_ms(args.repeat, byte_scan, body, LIMIT),
        }
        shown = "  ".join(f"{k} {v:.3f}" for k, v in figures.items())
        print(
            f"{name:5} {len(body) / 1000:.0f} KB, {containers} brackets: {shown} ms (median of {args.repeat})"
        )


if __name__ == "__main__":
    main()
