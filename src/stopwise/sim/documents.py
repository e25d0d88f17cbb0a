"""The fixed answers of the deterministic model: one long document per kind.

Every document is generated once from a :class:`~stopwise.sim.seeded.Seeded` stream (the same
text in every process, on every machine and every Python version) and cached. Each is
several thousand tokens long so that small ``max_tokens`` caps cut it many times, and each has
the structure a cut can break: paragraphs, fenced code, one JSON object, a table, CJK text, and a
tool call whose input JSON is several thousand characters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from .seeded import Seeded

__all__ = ["KINDS", "TOOL_FOLLOWUP", "Document", "document", "full_document", "tool_call_input"]

#: Document kinds, in the order the request's words are looked for.
KINDS = ("prose", "code", "json", "table", "cjk", "tool")

#: The short closing answer after a ``tool_result`` (or OpenAI ``tool`` message) comes back.
TOOL_FOLLOWUP = "The tool call finished and its result is in. Everything you asked for is now done."

_SUBJECTS = [
    "The harbour committee",
    "A careful engineer",
    "The river valley",
    "Our oldest map",
    "The night shift",
    "Every small library",
    "The weather station",
    "A travelling printer",
    "The glass workshop",
    "The mountain railway",
    "Each new apprentice",
    "The city archive",
    "A patient gardener",
    "The lighthouse keeper",
    "The market square",
    "The observatory staff",
]
_VERBS = [
    "records",
    "rebuilds",
    "measures",
    "questions",
    "describes",
    "gathers",
    "protects",
    "compares",
    "restores",
    "follows",
    "revisits",
    "catalogues",
    "balances",
    "explains",
    "tests",
    "welcomes",
]
_OBJECTS = [
    "the tides of late autumn",
    "every ledger since the flood",
    "the quiet northern roads",
    "a thousand pressed flowers",
    "the drift of the old coastline",
    "its stubborn copper pipes",
    "the letters nobody answered",
    "the timetable of the ferries",
    "a collection of brass instruments",
    "the faint outline of the first wall",
    "the seasons of the orchard",
    "the long arithmetic of bridges",
    "the colours of the winter sky",
    "a stack of unbound manuscripts",
    "the habits of migrating birds",
]
_TAILS = [
    "before the first frost arrives",
    "with a patience that surprises visitors",
    "because the numbers never quite agree",
    "while the town sleeps",
    "one careful step at a time",
    "so that nothing is lost twice",
    "as its founders once hoped",
    "in a notebook with a green cover",
    "even when the lamps fail",
    "without asking for thanks",
    "long after the crowds have gone",
    "under the watch of the clock tower",
    "in spite of the rain",
    "for the benefit of strangers",
]
_TOPICS = [
    "Parsing the input",
    "Validating records",
    "Streaming the output",
    "Retrying failures",
    "Caching results",
    "Measuring latency",
    "Handling timeouts",
    "Writing the report",
]
_NAMES = [
    "anchor",
    "beacon",
    "cobalt",
    "delta",
    "ember",
    "falcon",
    "garnet",
    "harbor",
    "indigo",
    "juniper",
    "kestrel",
    "lantern",
    "meadow",
    "nimbus",
    "orchid",
    "pepper",
    "quartz",
    "raven",
    "saffron",
    "tundra",
]
_CJK_SENTENCES = [
    "清晨的港口笼罩在薄雾之中，渔船一艘接一艘地驶出海湾",
    "老图书馆的管理员每天都会仔细整理那些泛黄的手稿",
    "山间的铁路穿过隧道和桥梁，把偏远的村庄与城市连接起来",
    "气象站的记录显示，今年秋天的降雨比往年多了许多",
    "工匠们在玻璃作坊里反复试验，终于烧制出透明的蓝色花瓶",
    "市场广场上人来人往，小贩们大声吆喝着新鲜的水果和蔬菜",
    "天文台的研究人员整夜观察星空，记录下每一颗流星的轨迹",
    "园丁耐心地修剪果树，期待来年春天能够开出更多的花",
    "灯塔看守人点亮了灯火，为夜航的船只指引回家的方向",
    "档案馆里保存着这座城市几百年来的地图和信件",
    "年轻的学徒认真学习每一道工序，从不敢有丝毫马虎",
    "河谷里的村民世代耕作，熟悉每一块田地的脾性",
]
_CJK_ENDS = ["。", "。", "；", "！", "。"]
_CODE_LANGS = ["python", "javascript", "bash", "sql", "rust", "go"]


@dataclass(frozen=True)
class Document:
    """A kind's full answer. ``text`` is the visible text; for ``tool`` it is the short sentence
    the model says before calling the tool, and ``tool_input`` is the call's input as JSON."""

    kind: str
    text: str
    tool_input: str | None = None


def full_document(kind: str) -> str:
    """The exact full answer for a kind: the text, or for ``tool`` the tool call's input JSON
    (the string OpenAI sends as ``function.arguments``)."""
    doc = document(kind)
    return doc.tool_input if doc.tool_input is not None else doc.text


@cache
def document(kind: str) -> Document:
    if kind == "tool-followup":
        return Document(kind, TOOL_FOLLOWUP)
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    rng = Seeded(f"stopwise-sim:{kind}")
    if kind == "tool":
        text = "I'll write the complete guide to a file now."
        return Document(kind, text, json.dumps(_tool_input(rng), ensure_ascii=False))
    builders = {"prose": _prose, "code": _code, "json": _json, "table": _table, "cjk": _cjk}
    return Document(kind, builders[kind](rng))


def tool_call_input(k: int) -> str:
    """The input JSON of call ``k`` (from 0) in a turn of parallel tool calls
    (``x-sim-tool-calls``): one short section of the guide, about 100 tokens, so a small
    ``max_tokens`` cuts the second call."""
    rng = Seeded(f"stopwise-sim:tool-call:{k}")
    body = {"filename": f"field-guide-part-{k + 1}.md", "title": f"Part {k + 1}", "body": _paragraph(rng, 3)}
    return json.dumps(body, ensure_ascii=False)


def _sentence(rng: Seeded) -> str:
    return f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_TAILS)}."


def _paragraph(rng: Seeded, sentences: int) -> str:
    return " ".join(_sentence(rng) for _ in range(sentences))


def _prose(rng: Seeded) -> str:
    return "\n\n".join(_paragraph(rng, rng.randint(5, 8)) for _ in range(22))


def _code_block(rng: Seeded, lang: str, n: int) -> str:
    name = rng.choice(_NAMES)
    other = rng.choice(_NAMES)
    if lang == "python":
        lines = [f"def {name}_{n}(items, limit={rng.randint(3, 90)}):", f'    """Collect {other} values."""']
        lines += ["    out = []", "    for i, item in enumerate(items):", "        if i >= limit:"]
        lines += [
            "            break",
            f"        out.append(item * {rng.randint(2, 9)} + {rng.randint(1, 50)})",
        ]
        lines += ["    return out", "", "", f"print({name}_{n}(range({rng.randint(10, 40)})))"]
    elif lang == "javascript":
        lines = [
            f"export function {name}{n}(rows) {{",
            "  const seen = new Map();",
            "  for (const row of rows) {",
        ]
        lines += [
            f"    const key = row.{other} ?? 'none';",
            "    seen.set(key, (seen.get(key) || 0) + 1);",
            "  }",
        ]
        lines += ["  return [...seen.entries()].sort((a, b) => b[1] - a[1]);", "}"]
    elif lang == "bash":
        lines = ["#!/usr/bin/env bash", "set -euo pipefail", f'dir="${{1:-./{name}}}"']
        lines += ['for f in "$dir"/*.log; do', f'  grep -c "{other}" "$f" || true', "done"]
    elif lang == "sql":
        lines = [f"SELECT {name}.id, COUNT(*) AS total, SUM({name}.amount) AS amount", f"FROM {name}"]
        lines += [
            f"JOIN {other} ON {other}.{name}_id = {name}.id",
            f"WHERE {name}.year >= {rng.randint(1990, 2024)}",
        ]
        lines += [f"GROUP BY {name}.id", "ORDER BY total DESC", f"LIMIT {rng.randint(5, 50)};"]
    elif lang == "rust":
        lines = [f"fn {name}_{n}(values: &[u32]) -> u64 {{", "    values", "        .iter()"]
        lines += [f"        .filter(|v| **v % {rng.randint(2, 7)} == 0)", "        .map(|v| u64::from(*v))"]
        lines += ["        .sum()", "}"]
    else:
        lines = ["package main", "", 'import "fmt"', "", f"func {name}{n}(xs []int) int {{", "\ttotal := 0"]
        lines += [
            "\tfor _, x := range xs {",
            f"\t\ttotal += x * {rng.randint(2, 9)}",
            "\t}",
            "\treturn total",
            "}",
        ]
    return f"```{lang}\n" + "\n".join(lines) + "\n```"


def _code(rng: Seeded) -> str:
    parts = ["# A field guide to the pipeline", _paragraph(rng, 3)]
    for n in range(52):
        lang = _CODE_LANGS[n % len(_CODE_LANGS)]
        parts += [f"## {_TOPICS[n % len(_TOPICS)]} ({lang})", _paragraph(rng, rng.randint(2, 4))]
        parts += [_code_block(rng, lang, n), _paragraph(rng, 2)]
    return "\n\n".join(parts)


def _json(rng: Seeded) -> str:
    items = []
    for i in range(45):
        name = f"{rng.choice(_NAMES)}-{rng.choice(_NAMES)}"
        items.append(
            {
                "id": i + 1,
                "name": name,
                "description": _sentence(rng),
                "tags": rng.sample(_NAMES, 3),
                "price": round(rng.uniform(1, 500), 2),
                "in_stock": rng.random() > 0.3,
                "dimensions": {"width": rng.randint(1, 99), "height": rng.randint(1, 99), "unit": "cm"},
            }
        )
    return json.dumps({"catalog": {"name": "Harbour supplies", "version": "3.1", "items": items}}, indent=2)


def _table(rng: Seeded) -> str:
    rows = [
        "| # | Name | Category | Quantity | Price | Notes |",
        "|---|------|----------|---------:|------:|-------|",
    ]
    for i in range(130):
        name = f"{rng.choice(_NAMES).title()} {rng.choice(_NAMES)}"
        notes = f"{rng.choice(_OBJECTS)} {rng.choice(_TAILS)}"
        rows.append(
            f"| {i + 1} | {name} | {rng.choice(_TOPICS)} | {rng.randint(1, 999)} | "
            f"{rng.uniform(1, 900):.2f} | {notes} |"
        )
    return "## Inventory\n\n" + "\n".join(rows)


def _cjk(rng: Seeded) -> str:
    paragraphs = []
    last = ""
    for _ in range(45):
        parts = []
        for _ in range(rng.randint(4, 7)):
            # Never the same sentence twice in a row: a legitimate repeat at a seam would look
            # exactly like a model repeating itself, and no seam repair could tell them apart.
            last = rng.choice([c for c in _CJK_SENTENCES if c != last])
            parts.append(last + rng.choice(_CJK_ENDS))
        paragraphs.append("".join(parts))
    return "\n\n".join(paragraphs)


def _tool_input(rng: Seeded) -> dict[str, object]:
    sections = [
        {"heading": _TOPICS[i % len(_TOPICS)], "body": _paragraph(rng, rng.randint(3, 5)), "order": i + 1}
        for i in range(20)
    ]
    return {"filename": "field-guide.md", "title": "A field guide to the harbour", "sections": sections}
