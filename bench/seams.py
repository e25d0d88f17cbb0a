"""Seam quality of continue-turn continuation (issue 5, acceptance; brief/continuation.md "How we
will measure it"): through the official SDKs and stopwise's transport, against the simulator on
127.0.0.1, for models without prefill (Claude Opus 4.6 on the Messages API, GPT-4o on Chat
Completions, Claude Haiku 4.5 behind the OpenAI-format relay), every ``x-sim-behavior`` alone and
in pairs, every text document kind, several caps, streaming and not.

Run by hand (not in CI):
    .venv/bin/python bench/seams.py [--body-caps 137,1000] [--stream-caps 300] [--pairs/--no-pairs]

A case is one finished answer. Per behaviour × kind, the share of cases:
  exact      the answer equals the simulator's full document byte for byte
  dup3       a run of 3 words appears more often than in the document (duplicated across a seam)
  preamble   a continuation preamble was left in
  fences     the number of ``` fence lines differs from the document's
  json       (json kind) the answer does not parse
  table      (table kind) a table row has a different number of cells than the header
  ws         the answer differs from the document in whitespace only
  lost       otherwise shorter than the document (text lost, or an honest truncation: see trunc)
  extra      otherwise longer than the document (text doubled)
  trunc      the answer came back truncated (stop max_tokens / length): no progress was possible
             or the finisher gave up
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "finisher"))

from _finish import (
    FAST_RETRY,
    anthropic_sdk,
    ask,
    finish_anthropic,
    finish_openai,
    openai_sdk,
    rig,
    running_sim,
)

from stopwise.finisher import Policy
from stopwise.sim import BEHAVIORS, PREAMBLE, full_document

KINDS = ("prose", "code", "json", "table", "cjk")
ENDPOINTS = {"anthropic": "claude-opus-4-6", "openai": "gpt-4o", "relay": "claude-haiku-4-5"}
METRICS = ("exact", "dup3", "preamble", "fences", "json", "table", "ws", "lost", "extra", "trunc")


def trigrams(text: str) -> Counter[tuple[str, ...]]:
    words = text.split()
    return Counter(zip(words, words[1:], words[2:], strict=False))


def fence_lines(text: str) -> int:
    return sum(1 for line in text.split("\n") if line.lstrip().startswith("```"))


def table_broken(text: str) -> bool:
    rows = [line for line in text.split("\n") if line.startswith("|")]
    return bool(rows) and any(r.count("|") != rows[0].count("|") for r in rows)


def measure(text: str, doc: str, kind: str, stop: str | None) -> dict[str, bool]:
    dup = False
    if text != doc:
        want = trigrams(doc)
        # Only runs the document has: a partial word at a cut makes new trigrams, not repeats.
        dup = any(n > want[g] for g, n in trigrams(text).items() if g in want)
    m = {
        "exact": text == doc,
        "dup3": dup,
        "preamble": PREAMBLE in text or bool(re.search(r"(?m)^(Continuing|Sure|Here is the rest)\b", text)),
        "fences": fence_lines(text) != fence_lines(doc),
        "json": False,
        "table": kind == "table" and table_broken(text),
        "ws": text != doc and "".join(text.split()) == "".join(doc.split()),
        "trunc": stop in ("max_tokens", "length"),
    }
    m["lost"] = text != doc and not m["ws"] and len(text) < len(doc)
    m["extra"] = text != doc and not m["ws"] and len(text) > len(doc)
    if kind == "json":
        try:
            json.loads(text)
        except ValueError:
            m["json"] = True
    return m


@dataclass
class Cell:
    cases: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, m: dict[str, bool]) -> None:
        self.cases += 1
        self.counts.update(k for k, v in m.items() if v)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--body-caps", default="137,1000")
    parser.add_argument("--stream-caps", default="300")
    parser.add_argument("--endpoints", default=",".join(ENDPOINTS))
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--pairs", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    body_caps = [int(c) for c in args.body_caps.split(",") if c]
    stream_caps = [int(c) for c in args.stream_caps.split(",") if c]
    kinds = args.kinds.split(",")
    combos = [frozenset(), *(frozenset([b]) for b in BEHAVIORS)]
    if args.pairs:
        combos += [frozenset(p) for p in itertools.combinations(BEHAVIORS, 2)]
    runs = [(cap, False) for cap in body_caps] + [(cap, True) for cap in stream_caps]
    cells: dict[tuple[str, str], Cell] = {}
    started = time.perf_counter()
    policy = Policy(max_rounds=400, retry=FAST_RETRY)
    with running_sim() as url, rig(policy=policy) as r:
        for combo, kind, endpoint, (cap, stream) in itertools.product(
            combos, kinds, args.endpoints.split(","), runs
        ):
            name = ",".join(sorted(combo)) or "clean"
            headers = {"x-sim-behavior": name} if combo else {}
            model = ENDPOINTS[endpoint]
            if endpoint == "anthropic":
                done = finish_anthropic(
                    anthropic_sdk(url, r),
                    r,
                    model=model,
                    cap=cap,
                    messages=ask(kind),
                    stream=stream,
                    headers=headers,
                )
            else:
                client = openai_sdk(url, r, relay=endpoint == "relay")
                done = finish_openai(
                    client, r, model=model, cap=cap, messages=ask(kind), stream=stream, headers=headers
                )
            cells.setdefault((name, kind), Cell()).add(
                measure(done.text, full_document(kind), kind, done.stop)
            )
    elapsed = time.perf_counter() - started

    print(f"Command: .venv/bin/python bench/seams.py {' '.join(sys.argv[1:])}".rstrip())
    print(
        f"Endpoints: {args.endpoints}; body caps {body_caps}, stream caps {stream_caps}; "
        f"{sum(c.cases for c in cells.values())} finished answers in {elapsed:.0f} s.\n"
    )
    print("| behaviour | kind | cases | " + " | ".join(METRICS) + " |")
    print("|---|---|---:|" + "---:|" * len(METRICS))
    for (name, kind), cell in cells.items():
        rates = " | ".join(f"{cell.counts[m] / cell.cases:.0%}" for m in METRICS)
        print(f"| {name} | {kind} | {cell.cases} | {rates} |")
    print()
    for kind in kinds:
        total = sum(c.cases for (_, k), c in cells.items() if k == kind)
        exact = sum(c.counts["exact"] for (_, k), c in cells.items() if k == kind)
        print(f"{kind}: {exact}/{total} exact ({exact / total:.1%})")


if __name__ == "__main__":
    main()
