"""SSE decoding and stream accumulation: stopwise against the decoders the official SDKs use.

Run by hand (not in CI):  .venv/bin/python bench/sse_decode.py [--mb 50] [--repeat 5]

Generates realistic Anthropic Messages and OpenAI chat.completion.chunk streams (text deltas of a
few tokens, tool-input JSON fragments, pings, usage), at least --mb megabytes in all, then in one
run decodes them with
  - stopwise.sse.SSEDecoder,
  - httpx2's SSE parser (httpx2._sse._SSEParser, fed text through an incremental UTF-8 decoder,
    as its EventSource does),
  - the anthropic SDK's SSEDecoder (anthropic._streaming.SSEDecoder.iter_bytes),
and folds the Anthropic events into a message with stopwise.AnthropicAccumulator and with the
SDK's accumulate_event (after sse.json() + construct_type, as the SDK's MessageStream does).
Two chunkings: one network read per event (how tokens really arrive) and 64 KiB reads (a
backlog). Reports the median of --repeat runs, MB/s, events/s and ratios.
"""

from __future__ import annotations

import argparse
import codecs
import gc
import json
import random
import statistics
import time
from collections.abc import Callable

_SAMPLE = (
    "the model streams tokens as server sent events while the client folds them into one message "
    "naïve café 数据 流式 响应 🚀 SELECT SUM(amount) FROM orders WHERE id = 42; def main(): return 0"
)
WORDS = _SAMPLE.split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def anthropic_stream(rng: random.Random, deltas: int) -> list[bytes]:
    """One message: a long text block then a tool_use block, as the API sends it."""

    def ev(name: str, obj: dict[str, object]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()

    out = [
        ev(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_01" + "".join(rng.choice("abcdefXYZ0123") for _ in range(20)),
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 1200, "output_tokens": 1},
                },
            },
        ),
        ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        ev("ping", {"type": "ping"}),
    ]
    for _ in range(deltas):
        delta = {"type": "text_delta", "text": _text(rng, rng.randint(1, 4)) + " "}
        out.append(ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 0}))
    tool = {"type": "tool_use", "id": "toolu_01abc", "name": "write_file", "input": {}}
    out.append(ev("content_block_start", {"type": "content_block_start", "index": 1, "content_block": tool}))
    args = json.dumps({"path": "out.sql", "body": _text(rng, deltas // 4)})
    for i in range(0, len(args), 12):
        delta = {"type": "input_json_delta", "partial_json": args[i : i + 12]}
        out.append(ev("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": delta}))
    out.append(ev("content_block_stop", {"type": "content_block_stop", "index": 1}))
    out.append(
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": deltas * 3},
            },
        )
    )
    out.append(ev("message_stop", {"type": "message_stop"}))
    return out


def openai_stream(rng: random.Random, deltas: int) -> list[bytes]:
    base = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1757509223,
        "model": "gpt-4o",
    }

    def chunk(choices: list[dict[str, object]], usage: object = None) -> bytes:
        body = json.dumps({**base, "choices": choices, "usage": usage}, separators=(",", ":"))
        return f"data: {body}\n\n".encode()

    out = [chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])]
    for _ in range(deltas):
        delta = {"content": _text(rng, rng.randint(1, 4)) + " "}
        out.append(chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]))
    out.append(chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    out.append(
        chunk([], {"prompt_tokens": 1200, "completion_tokens": deltas * 3, "total_tokens": 1200 + deltas * 3})
    )
    out.append(b"data: [DONE]\n\n")
    return out


def build(mb: int) -> tuple[list[bytes], int, int]:
    """Event byte strings (Anthropic and OpenAI messages interleaved), total bytes, Anthropic events."""
    rng = random.Random(7)
    events: list[bytes] = []
    size = 0
    anthropic_events = 0
    while size < mb * 1_000_000:
        a = anthropic_stream(rng, 2000)
        o = openai_stream(rng, 2000)
        events += a + o
        anthropic_events += len(a)
        size += sum(map(len, a)) + sum(map(len, o))
    return events, size, anthropic_events


def chunked(events: list[bytes], mode: str) -> list[bytes]:
    if mode == "per-event":
        return events
    blob = b"".join(events)
    return [blob[i : i + 65536] for i in range(0, len(blob), 65536)]


def decode_stopwise(chunks: list[bytes]) -> int:
    from stopwise.sse import SSEDecoder

    d = SSEDecoder()
    n = 0
    for c in chunks:
        n += len(d.decode(c))
    if d.flush() is not None:
        n += 1
    return n


def decode_httpx2(chunks: list[bytes]) -> int:
    from httpx2._sse import _SSEParser

    parser = _SSEParser()
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    n = 0
    for c in chunks:
        for _ in parser.decode(utf8.decode(c)):
            n += 1
    for _ in parser.flush():
        n += 1
    return n


def decode_anthropic_sdk(chunks: list[bytes]) -> int:
    from anthropic._streaming import SSEDecoder

    n = 0
    for _ in SSEDecoder().iter_bytes(iter(chunks)):
        n += 1
    return n


def accumulate_stopwise(events: list[object]) -> int:
    from stopwise.dialects import AnthropicAccumulator

    acc = AnthropicAccumulator()
    n = 0
    for sse in events:
        if (
            getattr(sse, "data", "") == '{"type":"message_start"'
            or getattr(sse, "event", None) == "message_start"
        ):
            if n:
                acc.finish()
            acc = AnthropicAccumulator()
        acc.feed(sse)  # type: ignore[arg-type]
        n += 1
    acc.finish()
    return n


def accumulate_anthropic_sdk(events: list[object]) -> int:
    import httpx2
    from anthropic._models import construct_type
    from anthropic.lib.streaming._beta_messages import accumulate_event
    from anthropic.types.beta import BetaRawMessageStreamEvent

    headers = httpx2.Headers()
    snap = None
    bufs: dict[int, bytes] = {}
    n = 0
    for sse in events:
        name = sse.event  # type: ignore[attr-defined]
        if name == "ping":
            continue
        if name == "message_start":
            snap, bufs = None, {}
        event = construct_type(type_=BetaRawMessageStreamEvent, value=json.loads(sse.data))  # type: ignore[attr-defined]
        snap = accumulate_event(event=event, current_snapshot=snap, json_bufs=bufs, request_headers=headers)
        n += 1
    return n


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    times = []
    count = 0
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        count = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    events, size, _ = build(args.mb)
    mb = size / 1e6
    print(f"input: {mb:.1f} MB, {len(events)} events (Anthropic + OpenAI), median of {args.repeat} runs\n")
    for mode in ("per-event", "64KiB"):
        chunks = chunked(events, mode)
        print(f"decode, {mode} chunks ({len(chunks)} reads)")
        results = {}
        for name, fn in (
            ("stopwise", decode_stopwise),
            ("httpx2 _SSEParser", decode_httpx2),
            ("anthropic SDK SSEDecoder", decode_anthropic_sdk),
        ):
            secs, n = timed(lambda fn=fn, chunks=chunks: fn(chunks), args.repeat)  # type: ignore[misc]
            results[name] = secs
            print(f"  {name:26s} {mb / secs:8.1f} MB/s {n / secs:12,.0f} events/s  ({n} events)")
        ours = results.pop("stopwise")
        fastest = min(results.values())
        print(f"  ratio stopwise / fastest peer: {fastest / ours:.2f}x\n")

    from stopwise.dialects.anthropic import DIALECT  # noqa: F401  (import cost outside the timing)
    from stopwise.sse import SSEDecoder

    anthropic_events = [e for e in SSEDecoder().decode(b"".join(events)) if e.event is not None]
    sdk_sample = anthropic_events[: len(anthropic_events) // 5]  # the SDK path is slow; time a fifth
    print(f"accumulate Anthropic events into messages ({len(anthropic_events)} events)")
    ours_s, n_ours = timed(lambda: accumulate_stopwise(anthropic_events), args.repeat)  # type: ignore[arg-type]
    sdk_s, n_sdk = timed(lambda: accumulate_anthropic_sdk(sdk_sample), max(1, args.repeat // 2))  # type: ignore[arg-type]
    ours_rate, sdk_rate = n_ours / ours_s, n_sdk / sdk_s
    print(f"  {'stopwise':26s} {ours_rate:12,.0f} events/s")
    print(f"  {'anthropic SDK':26s} {sdk_rate:12,.0f} events/s  (on a fifth of the events)")
    print(f"  ratio: {ours_rate / sdk_rate:.1f}x")


if __name__ == "__main__":
    main()
