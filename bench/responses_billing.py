"""Which way of continuing a cut Responses answer bills less input (issue 13): re-sending the
text so far as input items with a continue turn (what the finisher does), or chaining each
round to the stored response with ``previous_response_id``.

Run by hand (not in CI), against the simulator on 127.0.0.1:
    .venv/bin/python bench/responses_billing.py [--caps 137,300,1000] [--kinds prose,code,...]

Both ways send the same continue turn (``stopwise.finisher.seam.nudge``) and go on until the
response completes. Per kind and cap, columns:
  rounds     upstream requests that made the answer
  input      usage.input_tokens summed over the rounds
  cached     input_tokens_details.cached_tokens summed (the simulator's prompt cache: a repeated
             prefix of message boundaries, as OpenAI's automatic caching)
  billed     input - cached + 0.5 x cached: gpt-4o's price for cached input, in units of one
             uncached input token (gpt-4.1 bills cached input at 0.25x, gpt-5 at 0.1x: the
             chain's advantage grows with the discount)
  chain/items  the chain's billed over the input items' billed
The last columns count cached input by OpenAI's documented rule instead (prefix_cached: the
longest token prefix shared with an earlier prompt of at least 1024 tokens, in 128-token steps),
under which the items way's growing assistant message is cached too; the chain's context is
rebuilt as the API rebuilds it (every earlier input and output, then the new turn).
The items way is run through ``stopwise.http_client()`` (its rounds read on a tap); the chain by
hand with the openai SDK, joining each round's text as it came (the simulator's faithful replies
need no seam repair).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import openai
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "finisher"))

from _finish import rig, running_sim

from stopwise.finisher import Policy, RetryPolicy
from stopwise.finisher.seam import nudge, structure_at
from stopwise.sim import full_document
from stopwise.sim.tokenizer import tokenize

KINDS = ("prose", "code", "json", "table", "cjk")
MODEL = "gpt-4o"
CACHED_PRICE = 0.5
POLICY = Policy(max_rounds=400, grow_max_tokens=1.0, retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))


def _tally(usages: list[dict[str, Any]], contexts: list[list[str]]) -> tuple[int, int, int, int]:
    inp = sum(u["input_tokens"] for u in usages)
    cached = sum((u.get("input_tokens_details") or {}).get("cached_tokens", 0) for u in usages)
    return len(usages), inp, cached, prefix_cached(contexts)


def _tokens(items: list[tuple[str, str]]) -> list[str]:
    """A context as the model reads it: each message's role marker, then its text's tokens."""
    out: list[str] = []
    for role, text in items:
        out.append(f"<|{role}|>")
        out.extend(tokenize(text))
    return out


def prefix_cached(contexts: list[list[str]]) -> int:
    """Cached input under OpenAI's documented rule rather than the simulator's: a prompt of at
    least 1024 tokens reuses the longest token prefix it shares with an earlier one, in steps of
    128 tokens. (The simulator caches whole messages only, which a growing assistant message
    never repeats; a token prefix it does.)"""
    total = 0
    for i, ctx in enumerate(contexts):
        best = 0
        for prev in contexts[:i]:
            n = 0
            limit = min(len(ctx), len(prev))
            while n < limit and ctx[n] == prev[n]:
                n += 1
            best = max(best, n)
        total += (best // 128) * 128 if len(ctx) >= 1024 and best >= 1024 else 0
    return total


def by_items(url: str, kind: str, cap: int) -> tuple[int, int, int]:
    with rig(policy=POLICY) as r:
        client = openai.OpenAI(base_url=url + "/v1", api_key="sk-bench", http_client=r.client, max_retries=0)
        done = client.responses.create(model=MODEL, input=f"Write {kind} please", max_output_tokens=cap)
        assert done.output_text == full_document(kind), "the finisher did not finish"
        contexts = [_tokens([(i["role"], _text(i["content"])) for i in _items(e.body)]) for e in r.sent]
        return _tally([orjson.loads(bytes(e.raw))["usage"] for e in r.sent], contexts)


def _items(body: dict[str, Any] | None) -> list[dict[str, Any]]:
    value = (body or {}).get("input")
    return [{"role": "user", "content": value}] if isinstance(value, str) else list(value or [])


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def by_chain(url: str, kind: str, cap: int) -> tuple[int, int, int]:
    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-bench", max_retries=0)
    usages: list[dict[str, Any]] = []
    text = ""
    context: list[tuple[str, str]] = [("user", f"Write {kind} please")]
    contexts = [_tokens(context)]
    resp = client.responses.create(model=MODEL, input=context[0][1], max_output_tokens=cap)
    while True:
        usages.append(resp.usage.to_dict())
        text += resp.output_text
        if resp.status != "incomplete":
            break
        turn = nudge(structure_at(text))
        # The chain's context: every earlier input and output, then the new turn.
        context += [("assistant", resp.output_text), ("user", turn)]
        contexts.append(_tokens(context))
        resp = client.responses.create(
            model=MODEL,
            previous_response_id=resp.id,
            input=[{"role": "user", "content": turn}],
            max_output_tokens=cap,
        )
    assert text == full_document(kind), "the chain did not join to the document"
    return _tally(usages, contexts)


def billed(inp: int, cached: int) -> float:
    return inp - cached + CACHED_PRICE * cached


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--caps", default="137,300,1000")
    ap.add_argument("--kinds", default=",".join(KINDS))
    args = ap.parse_args()
    caps = [int(c) for c in args.caps.split(",")]
    items, chain = "items: rounds input cached billed", "chain: rounds input cached billed"
    prefix = "token prefix: items cached billed, chain cached billed, chain/items"
    print(f"{'kind':6} {'cap':>5} | {items:>34} | {chain:>34} | chain/items | {prefix}")
    with running_sim() as url:
        for kind in args.kinds.split(","):
            for cap in caps:
                a = by_items(url, kind, cap)
                b = by_chain(url, kind, cap)
                ba, bb = billed(a[1], a[2]), billed(b[1], b[2])
                pa, pb = billed(a[1], a[3]), billed(b[1], b[3])
                print(
                    f"{kind:6} {cap:>5} | {a[0]:>13} {a[1]:>6} {a[2]:>6} {ba:>8.0f} |"
                    f" {b[0]:>13} {b[1]:>6} {b[2]:>6} {bb:>8.0f} | {bb / ba:>6.2f}"
                    f" | {a[3]:>6} {pa:>8.0f} {b[3]:>6} {pb:>8.0f} {pb / pa:>6.2f}"
                )


if __name__ == "__main__":
    main()
