"""What continuation costs in input tokens (issue 5, acceptance "Cost bench"; brief/continuation.md
"Futile loops and cost"): finishing each document kind by continuation at a few caps, with
``Policy(cache_prefix=False)`` and ``True``, against one request whose cap fits the whole answer.

Run by hand (not in CI):
    .venv/bin/python bench/continuation_cost.py [--caps 137,300,1000]
        [--models claude-sonnet-4-5,claude-opus-4-6] [--kinds prose,code,json,table,cjk]

Every round re-sends the answer so far, so re-billed input grows with the square of the rounds;
marking the re-sent prefix with ``cache_control`` turns most of it into cache reads. Columns:
  rounds     upstream requests that made the answer
  input      usage.input_tokens summed over rounds (not cached)
  write      cache_creation_input_tokens summed
  read       cache_read_input_tokens summed
  total      input + write + read: every input token processed
  billed     input + 1.25 × write + 0.1 × read: Anthropic's price multipliers for 5-minute cache
             writes and reads, in units of one uncached input token
  ×1         billed divided by the input of the one large-cap request
The numbers are the simulator's token counts (its own tokenizer and cache rules, including each
model's minimum cacheable prefix: 1024 tokens for Sonnet 4.5, 4096 for Opus 4.6), summed from the
upstream responses seen on a tap under the finisher.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "finisher"))

from _finish import FAST_RETRY, Rig, anthropic_sdk, finish_anthropic, rig, running_sim

from stopwise.finisher import Policy
from stopwise.sim import count_tokens, full_document

KINDS = ("prose", "code", "json", "table", "cjk")


def usage_of(r: Rig) -> dict[str, int]:
    out = {"input": 0, "write": 0, "read": 0, "output": 0}
    for e in r.sent:
        if e.status != 200:
            continue
        u = orjson.loads(bytes(e.raw))["usage"]
        out["input"] += u["input_tokens"]
        out["write"] += u.get("cache_creation_input_tokens") or 0
        out["read"] += u.get("cache_read_input_tokens") or 0
        out["output"] += u["output_tokens"]
    return out


def billed(u: dict[str, int]) -> float:
    return u["input"] + 1.25 * u["write"] + 0.1 * u["read"]


RUNS = iter(range(1, 1_000_000))


def finish(url: str, model: str, kind: str, cap: int, *, cache: bool) -> tuple[int, dict[str, int], bool]:
    """Finish one answer; its rounds, summed usage and whether it is the whole document. Each run
    asks with a fresh prompt, so no cache entry carries over from another run."""
    messages = [{"role": "user", "content": f"Write {kind} please (run {next(RUNS)})"}]
    policy = Policy(max_rounds=400, cache_prefix=cache, retry=FAST_RETRY)
    with rig(policy=policy) as r:
        done = finish_anthropic(
            anthropic_sdk(url, r), r, model=model, cap=cap, messages=messages, stream=False
        )
        return len(r.sent), usage_of(r), done.text == full_document(kind)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--caps", default="137,300,1000")
    parser.add_argument("--models", default="claude-sonnet-4-5,claude-opus-4-6")
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the SDK's deprecation notice for Sonnet 4.5
    caps = [int(c) for c in args.caps.split(",")]
    rows: list[str] = []
    with running_sim() as url:
        for model in args.models.split(","):
            for kind in args.kinds.split(","):
                doc = full_document(kind)

                _, one, ok = finish(url, model, kind, count_tokens(doc) + 64, cache=False)
                base = one["input"]
                rows.append(
                    f"| {model} | {kind} | one request | 1 | {base} | 0 | 0 | {base} | {base} | 1.0 | {ok} |"
                )
                for cap in caps:
                    for cache in (False, True):
                        rounds, u, ok = finish(url, model, kind, cap, cache=cache)
                        total = u["input"] + u["write"] + u["read"]
                        b = billed(u)
                        run = f"cap {cap}, cache {'on' if cache else 'off'}"
                        rows.append(
                            f"| {model} | {kind} | {run} | {rounds} | {u['input']} | {u['write']} | "
                            f"{u['read']} | {total} | {b:.0f} | {b / base:.1f} | {ok} |"
                        )
    print(f"Command: .venv/bin/python bench/continuation_cost.py {' '.join(sys.argv[1:])}".rstrip())
    print()
    print("| model | kind | run | rounds | input | write | read | total | billed | ×1 | complete |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
