"""Client-side CPU of ``stopwise.http_client()`` against the plain SDK, on one-round answers that
need no finishing (issue 10, "Done when"). Run by hand, loopback only::

    .venv/bin/python bench/client_overhead.py                     # 500 deltas, 7 x 40 requests
    .venv/bin/python bench/client_overhead.py --events 1000 --repeat 9
    .venv/bin/python bench/client_overhead.py --gap 0.0005        # the upstream pauses between events
    .venv/bin/python bench/client_overhead.py --profile anthropic-stream   # cProfile, both clients

The upstream is :func:`stopwise.testing.server.scripted_upstream` in a *separate process* (this
script with ``--serve``), so ``time.process_time()`` around the client loop counts the client
only. It answers every request with one prerecorded response by model and ``stream``: an
Anthropic Messages stream (``message_start``, ``content_block_start``, ``ping``, ``--events``
``text_delta`` events of two simulator tokens each, ``content_block_stop``, ``message_delta``
with ``end_turn``, ``message_stop``), an OpenAI chunk stream (a role chunk, ``--events`` content
chunks, the ``stop`` chunk, the usage chunk, ``[DONE]``), and the non-stream body of each, all
shaped like the real APIs' (ids, usage details, ``system_fingerprint``, ``service_tier``,
``logprobs: null``). Each stream event is written and flushed apart, as tokens arrive.

Cells: anthropic stream (``for event in client.messages.create(..., stream=True)``), anthropic
body (``messages.create``), openai stream (``for chunk in client.chat.completions.create(...,
stream=True)``), openai body. Clients: the SDK with its default httpx2 client (``plain``), and
the same SDK with ``http_client=stopwise.http_client()``. Every repetition runs every cell and
both clients (their order alternating), ``--requests`` stream / ``--body-requests`` non-stream
requests each, after a warm-up; the
tables give the median CPU ms per request over the repetitions and the ratio of the medians,
with the range of the per-repetition ratios.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ANTHROPIC_MODEL = "claude-opus-4-6"
OPENAI_MODEL = "gpt-4o"
MESSAGES: Any = [{"role": "user", "content": "Write prose please"}]
MAX_TOKENS = 4096
CELLS = ("anthropic-stream", "anthropic-body", "openai-stream", "openai-body")


# -- the prerecorded answers -------------------------------------------------------------------------
def deltas(events: int) -> list[str]:
    """``events`` text deltas of two simulator tokens each, from the simulator's prose document
    (repeated when more are asked for than it has)."""
    from stopwise.sim import full_document, tokenize

    tokens = tokenize(full_document("prose"))
    out = []
    i = 0
    while len(out) < events:
        out.append("".join(tokens[i % len(tokens)] for i in (i, i + 1)))
        i += 2
    return out


def anthropic_answers(parts: list[str]) -> tuple[bytes, list[bytes]]:
    from stopwise.testing import sse

    text = "".join(parts)
    out_tokens = 2 * len(parts)
    usage = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": out_tokens,
        "service_tier": "standard",
    }
    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [
        sse("message_start", {"type": "message_start", "message": start}),
        sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        sse("ping", {"type": "ping"}),
    ]
    events += [
        sse(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in parts
    ]
    events += [
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": out_tokens},
            },
        ),
        sse("message_stop", {"type": "message_stop"}),
    ]
    return orjson.dumps(message), events


def openai_answers(parts: list[str]) -> tuple[bytes, list[bytes]]:
    from stopwise.testing import chunk

    text = "".join(parts)
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 2 * len(parts),
        "total_tokens": 12 + 2 * len(parts),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    envelope = {
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "created": 1741569952,
        "model": "gpt-4o-2024-08-06",
        "service_tier": "default",
        "system_fingerprint": "fp_f9f4fb6dbf",
    }
    body = {
        **envelope,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }

    def one(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return chunk({**envelope, "object": "chat.completion.chunk", "choices": [choice], "usage": None})

    events = [one({"role": "assistant", "content": "", "refusal": None})]
    events += [one({"content": p}) for p in parts]
    events.append(one({}, "stop"))
    events.append(chunk({**envelope, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
    events.append(chunk(b"[DONE]"))
    return orjson.dumps(body), events


# -- the upstream, in its own process -----------------------------------------------------------------
def serve(events: int, gap: float) -> None:
    from stopwise.testing import Reply
    from stopwise.testing.server import scripted_upstream

    parts = deltas(events)
    a_body, a_stream = anthropic_answers(parts)
    o_body, o_stream = openai_answers(parts)
    replies = {
        ("anthropic", False): Reply.json(orjson.loads(a_body)),
        ("anthropic", True): Reply.stream(a_stream),
        ("openai", False): Reply.json(orjson.loads(o_body)),
        ("openai", True): Reply.stream(o_stream),
    }

    def script(body: dict[str, Any], _number: int) -> Reply:
        dialect = "anthropic" if str(body.get("model", "")).startswith("claude") else "openai"
        return replies[(dialect, bool(body.get("stream")))]

    with scripted_upstream(script, gap=gap) as up:
        print(up.base_url, flush=True)
        sys.stdin.read()  # until the parent closes our stdin


# -- the clients ----------------------------------------------------------------------------------------
def clients(base_url: str) -> dict[str, dict[str, Callable[..., Any]]]:
    """Per client kind, per cell: one request, its answer read to the end."""
    import anthropic
    import openai

    import stopwise

    out: dict[str, dict[str, Callable[..., Any]]] = {}
    for kind in ("plain", "stopwise"):
        extra: dict[str, Any] = {"http_client": stopwise.http_client()} if kind == "stopwise" else {}
        a = anthropic.Anthropic(base_url=base_url, api_key="test", max_retries=0, **extra)
        extra = {"http_client": stopwise.http_client()} if kind == "stopwise" else {}
        o = openai.OpenAI(base_url=f"{base_url}/v1", api_key="test", max_retries=0, **extra)

        def a_stream(a: Any = a, sink: list[Any] | None = None) -> Any:
            for event in a.messages.create(
                model=ANTHROPIC_MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES, stream=True
            ):
                if sink is not None:
                    sink.append(event)

        def a_body(a: Any = a) -> Any:
            return a.messages.create(model=ANTHROPIC_MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

        def o_stream(o: Any = o, sink: list[Any] | None = None) -> Any:
            for chunk in o.chat.completions.create(
                model=OPENAI_MODEL,
                max_tokens=MAX_TOKENS,
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True},
            ):
                if sink is not None:
                    sink.append(chunk)

        def o_body(o: Any = o) -> Any:
            return o.chat.completions.create(model=OPENAI_MODEL, max_tokens=MAX_TOKENS, messages=MESSAGES)

        out[kind] = dict(zip(CELLS, (a_stream, a_body, o_stream, o_body), strict=True))
    return out


def check(calls: dict[str, dict[str, Callable[..., Any]]], parts: list[str]) -> None:
    """Both clients get the whole one-round answer (and stopwise finishes nothing)."""
    text = "".join(parts)
    for kind, cells in calls.items():
        a = cells["anthropic-body"]()
        assert a.content[0].text == text and a.stop_reason == "end_turn", kind
        o = cells["openai-body"]()
        assert o.choices[0].message.content == text and o.choices[0].finish_reason == "stop", kind
        events: list[Any] = []
        cells["anthropic-stream"](sink=events)
        got = "".join(e.delta.text for e in events if e.type == "content_block_delta")
        stops = [e.delta.stop_reason for e in events if e.type == "message_delta"]
        assert got == text and stops == ["end_turn"], kind
        chunks: list[Any] = []
        cells["openai-stream"](sink=chunks)
        got = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert got == text and finish == ["stop"] and chunks[-1].usage is not None, kind
        print(f"{kind}: {len(events)} anthropic events, {len(chunks)} openai chunks per stream")


def batch(call: Callable[[], Any], requests: int) -> float:
    """CPU ms per request of this process over ``requests`` calls."""
    gc.collect()
    start = time.process_time()
    for _ in range(requests):
        call()
    return (time.process_time() - start) * 1000 / requests


def profile(calls: dict[str, dict[str, Callable[..., Any]]], cell: str, requests: int, top: int) -> None:
    """cProfile ``requests`` of ``cell`` with each client: the usual tables, own time by package,
    stopwise's functions, and the functions whose own time differs most between the clients."""
    per_kind: dict[str, dict[tuple[str, int, str], float]] = {}
    for kind in ("plain", "stopwise"):
        call = calls[kind][cell]
        for _ in range(5):
            call()
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(requests):
            call()
        prof.disable()
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out)
        total = stats.total_tt  # type: ignore[attr-defined]
        print(f"\n=== {kind} {cell}: {total * 1000 / requests:.2f} ms/request under cProfile ===")
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        print(out.getvalue())
        print(f"own time by package ({kind} {cell}), ms/request:")
        for name, tt in sorted(by_package(stats).items(), key=lambda kv: -kv[1]):
            print(f"  {name:24} {tt * 1000 / requests:7.3f}  {tt / total:6.1%}")
        print(f"stopwise functions by own time ({kind} {cell}), ms/request:")
        own = [(tt, _where(key)) for key, tt in own_times(stats) if _ours(key[0])]
        for tt, where in sorted(own, reverse=True)[:top]:
            print(f"  {where:60} {tt * 1000 / requests:7.3f}  {tt / total:6.1%}")
        per_kind[kind] = dict(own_times(stats))
    plain, sw = per_kind["plain"], per_kind["stopwise"]
    diff = [(sw.get(k, 0.0) - plain.get(k, 0.0), k) for k in {*plain, *sw}]
    extra = sum(d for d, _ in diff)
    print(
        f"\nown time, stopwise minus plain ({cell}): {extra * 1000 / requests:+.3f} ms/request"
        " in all; largest:"
    )
    for d, key in sorted(diff, key=lambda item: -abs(item[0]))[:top]:
        print(f"  {_where(key):70} {d * 1000 / requests:+7.3f}")


def _where(key: tuple[str, int, str]) -> str:
    filename, line, fn = key
    if filename == "~":
        return fn
    if _ours(filename):
        filename = "stopwise/" + filename.rsplit("/stopwise/", 1)[1]
    elif "site-packages/" in filename:
        filename = filename.split("site-packages/", 1)[1]
    else:
        filename = Path(filename).name
    return f"{filename}:{line}({fn})"


def _ours(filename: str) -> bool:
    return "/stopwise/" in filename and "site-packages" not in filename and "/bench/" not in filename


def own_times(stats: pstats.Stats) -> list[tuple[tuple[str, int, str], float]]:
    raw = stats.stats  # type: ignore[attr-defined]
    return [(key, value[2]) for key, value in raw.items()]


def by_package(stats: pstats.Stats) -> dict[str, float]:
    """Own (tottime) seconds per top-level package: stopwise, each site-package, the standard
    library, builtins (C functions, attributed to no file)."""
    out: dict[str, float] = {}
    for (filename, _line, _fn), tt in own_times(stats):
        if _ours(filename):
            name = "stopwise"
        elif "site-packages/" in filename:
            name = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif filename == "~":
            name = "(builtins)"
        elif "/bench/" in filename:
            name = "(bench)"
        else:
            name = "(stdlib)"
        out[name] = out.get(name, 0.0) + tt
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=500, help="text deltas per stream (default 500)")
    parser.add_argument(
        "--requests", type=int, default=40, help="stream requests per client, cell and repetition"
    )
    parser.add_argument("--body-requests", type=int, default=200, help="non-stream requests, likewise")
    parser.add_argument("--repeat", type=int, default=7, help="repetitions (default 7)")
    parser.add_argument("--gap", type=float, default=0.0, help="seconds the upstream waits between events")
    parser.add_argument(
        "--cells", default=",".join(CELLS), help="comma-separated subset of " + ", ".join(CELLS)
    )
    parser.add_argument("--profile", choices=CELLS, help="cProfile one cell for both clients instead")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.events, args.gap)
        return
    cells = [c for c in args.cells.split(",") if c]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--events", str(args.events), "--gap", str(args.gap)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        if not base_url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the upstream did not start: {base_url!r}")
        calls = clients(base_url)
        check(calls, deltas(args.events))
        if args.profile:
            profile(calls, args.profile, args.requests, args.top)
            return
        for kind in calls:  # warm-up
            for cell in cells:
                for _ in range(5):
                    calls[kind][cell]()
        runs: dict[tuple[str, str], list[float]] = {}
        for rep in range(args.repeat):
            order = ("plain", "stopwise") if rep % 2 == 0 else ("stopwise", "plain")
            line = []
            for cell in cells:
                for kind in order:
                    n = args.requests if cell.endswith("stream") else args.body_requests
                    ms = batch(calls[kind][cell], n)
                    runs.setdefault((cell, kind), []).append(ms)
                plain, sw = runs[(cell, "plain")][-1], runs[(cell, "stopwise")][-1]
                line.append(f"{cell} {plain:.3f}/{sw:.3f} ({sw / plain:.2f}x)")
            print(f"[{rep + 1}/{args.repeat}] " + "  ".join(line), flush=True)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print()
    print(
        f"{args.events} text deltas per stream; {args.requests} stream / {args.body_requests}"
        f" non-stream requests x {args.repeat} repetitions per cell, "
        f"upstream gap {args.gap:g} s; python {sys.version.split()[0]}, pid {os.getpid()}"
    )
    print()
    print("| cell | plain SDK CPU ms/req | stopwise CPU ms/req | stopwise / plain | per-run ratios |")
    print("| --- | ---: | ---: | ---: | --- |")
    for cell in cells:
        plain, sw = runs[(cell, "plain")], runs[(cell, "stopwise")]
        ratios = sorted(s / p for s, p in zip(sw, plain, strict=True))
        mp, ms = statistics.median(plain), statistics.median(sw)
        print(
            f"| {cell} | {mp:.3f} | {ms:.3f} | **{ms / mp:.2f}x** "
            f"| {ratios[0]:.2f}–{ratios[-1]:.2f} (median {statistics.median(ratios):.2f}) |"
        )


if __name__ == "__main__":
    main()
