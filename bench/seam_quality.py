"""Both sides of continue-turn seam repair on real documents (issue 10, invariant 3).

Run by hand (not in CI):
    .venv/bin/python bench/seam_quality.py [--cuts 10000] [--seed 10] [--show 3]

The documents are real text installed on this machine, each recorded by its path: the Python
standard library's modules (code), JSON files shipped by packages and the standard library's
tests (json), package READMEs and metadata that hold markdown tables (table), package metadata,
READMEs and /usr/share/doc text without tables (prose), and Chinese and Japanese text (gnupg's
help files, the Chinese and Japanese Rust by Example books as text, the standard library's CJK
codec test texts). ``--cuts`` cuts in all, split evenly across the kinds, each at a random
character of a random document of that kind (table cuts land on table lines three times in four);
the answer so far is the document up to the cut, backed off with ``back_off``.

False deletions, on faithful replies: ``repair`` gets exactly the rest of the document after the
kept part (it starts with the dropped whitespace and word), and the same without its leading
whitespace (continue-turn models often drop it). Any joined result other than the document is a
false deletion (or a whitespace error). The target is 0.

Repair rate, on misbehaving replies for the same cuts: each cut gets one reply per behaviour
(repeat of the last 3 to 10 words, or 4 to 16 characters in CJK; restart of the kept text's last
line; restart of its paragraph; a preamble from the closed list; a reopened fence when the cut is
inside a tagged one) and one combination (a preamble, or a reopened fence, before a repeat or a
restart), every reply also without its leading whitespace half the time. A reply is repaired when
the joined result equals the document. The target is at least 99 %.

Deterministic for a given ``--seed`` and set of installed files.
"""

from __future__ import annotations

import argparse
import gzip
import html.parser
import json
import random
import re
import sys
import sysconfig
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stopwise.finisher.seam import (
    ACKNOWLEDGEMENTS,
    CONTINUATION_PHRASES,
    Seam,
    back_off,
    repair,
    structure_at,
)

KINDS = ("prose", "table", "code", "json", "cjk")
MAX_CHARS = 100_000  # a longer document is used up to the last line break before this
MIN_CHARS = 400
# A max_tokens cut comes after a few tokens at least; and an answer that is one word so far (no
# whitespace in what is kept) is skipped too: it has no seam whitespace to know, so a reply
# without its leading whitespace cannot be told from one that has none.
MIN_CUT = 16
STDLIB = Path(sysconfig.get_paths()["stdlib"])
SITE = [Path(p) for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}]
BASE_SITE = [STDLIB / "site-packages", *STDLIB.parent.glob("python3*/site-packages")]
_TABLE_LINE = re.compile(r"(?m)^[ \t]*\|.*\|[ \t]*$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class Doc:
    kind: str
    source: str
    text: str
    table_spans: tuple[tuple[int, int], ...] = ()


def _read(path: Path) -> str | None:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return None
    text = text.replace("\r\n", "\n")
    if len(text) > MAX_CHARS:
        text = text[: text.rfind("\n", 0, MAX_CHARS) + 1]
    return text if len(text) >= MIN_CHARS and "\x00" not in text else None


def _files(roots: list[Path], patterns: tuple[str, ...]) -> Iterator[Path]:
    seen: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for pattern in patterns:
            for path in sorted(root.glob(pattern)):
                real = path.resolve()
                if real not in seen and path.is_file():
                    seen.add(real)
                    yield path


class _Text(html.parser.HTMLParser):
    """The visible text of an HTML page's <main>, paragraphs and list items on their own lines."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.depth = 0
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.depth += 1
        elif tag in ("script", "style"):
            self.skip += 1
        elif tag in ("p", "li", "h1", "h2", "h3", "h4", "pre", "tr", "br"):
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "pre") else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.depth -= 1
        elif tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if self.depth > 0 and not self.skip:
            self.parts.append(data)


def _html_text(path: Path) -> str | None:
    try:
        page = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    parser = _Text()
    parser.feed(page)
    text = re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+\n", "\n", "".join(parser.parts))).strip() + "\n"
    if len(text) > MAX_CHARS:
        text = text[: text.rfind("\n", 0, MAX_CHARS) + 1]
    return text


def _table_spans(text: str) -> tuple[tuple[int, int], ...]:
    return tuple((m.start(), m.end()) for m in _TABLE_LINE.finditer(text))


def collect() -> dict[str, list[Doc]]:
    docs: dict[str, list[Doc]] = defaultdict(list)
    # code: the standard library's own modules
    for path in _files([STDLIB, STDLIB / "json", STDLIB / "email", STDLIB / "asyncio"], ("*.py",)):
        if (text := _read(path)) is not None:
            docs["code"].append(Doc("code", str(path), text))
    # json: JSON files shipped by packages and the standard library's tests
    json_roots = [*SITE, *BASE_SITE, STDLIB / "test", Path("/usr/lib/node_modules")]
    for path in _files(json_roots, ("**/*.json",)):
        text = _read(path)
        if text is None or _CJK.search(text):
            continue
        try:
            json.loads(text)
        except ValueError:
            continue  # cut by MAX_CHARS, or not JSON after all
        docs["json"].append(Doc("json", str(path), text))
    # markdown: package metadata and READMEs; with tables -> table, else prose
    md_roots = [*SITE, *BASE_SITE, Path("/usr/share/doc"), Path("/usr/lib/node_modules")]
    for path in _files(md_roots, ("*.dist-info/METADATA", "**/README.md", "*/*.md", "*/README*.txt")):
        text = _read(path)
        if text is None or _CJK.search(text):
            continue
        spans = _table_spans(text)
        if len(spans) >= 4:
            docs["table"].append(Doc("table", str(path), text, spans))
        else:
            docs["prose"].append(Doc("prose", str(path), text))
    for path in [STDLIB / "LICENSE.txt", Path("/usr/share/gnupg/help.txt")]:
        if (text := _read(path)) is not None:
            docs["prose"].append(Doc("prose", str(path), text))
    # CJK: Chinese (Simplified and Traditional) and Japanese text
    cjk_files = [Path(f"/usr/share/gnupg/help.{lang}.txt") for lang in ("zh_CN", "zh_TW", "ja")]
    cjk_files += sorted((STDLIB / "test" / "cjkencodings").glob("*-utf8.txt"))
    for path in cjk_files:
        if (text := _read(path)) is not None and len(_CJK.findall(text)) > 100:
            docs["cjk"].append(Doc("cjk", str(path), text))
    books = Path.home() / ".rustup/toolchains"
    for path in sorted(books.glob("*/share/doc/rust/html/rust-by-example/*/print.html")):
        if path.parent.name in ("zh", "ja") and (text := _html_text(path)) is not None:
            docs["cjk"].append(Doc("cjk", f"{path} (its text)", text))
    return docs


# -- replies ----------------------------------------------------------------------------------------
def _word_start(kept: str, words: int) -> int:
    pos = len(kept)
    for _ in range(words):
        while pos > 0 and kept[pos - 1].isspace():
            pos -= 1
        while pos > 0 and not kept[pos - 1].isspace():
            pos -= 1
    return pos


def _is_cjk_tail(kept: str) -> bool:
    return bool(_CJK.match(kept[-1:]))


def _in_latin_word(text: str, at: int) -> bool:
    return all(c.isascii() and not c.isspace() for c in text[at - 1 : at + 1])


def _repeat(doc: str, seam: Seam, rng: random.Random) -> str:
    kept = seam.kept
    if _is_cjk_tail(kept):
        # A few characters back, and never from inside a word of Latin letters.
        start = max(0, len(kept) - rng.randint(4, 16))
        while start > 0 and _in_latin_word(kept, start):
            start -= 1
        return doc[start:]
    return doc[_word_start(kept, rng.randint(3, 10)) :]


def _line_restart(doc: str, seam: Seam, rng: random.Random) -> str:
    line = seam.kept.rfind("\n") + 1
    return doc[line:]


def _paragraph_restart(doc: str, seam: Seam, rng: random.Random) -> str:
    found = seam.kept.rfind("\n\n")
    return doc[0 if found < 0 else found + 2 :]


_PREAMBLES = [
    *CONTINUATION_PHRASES,
    *(f"{ack}, {p[0].lower()}{p[1:]}" for ack in ACKNOWLEDGEMENTS[:6] for p in CONTINUATION_PHRASES[:4]),
    "好的，继续",
    "好的，接着上文",
    "好的，繼續",
]


def _preamble(rng: random.Random) -> str:
    phrase = rng.choice(_PREAMBLES)
    if rng.random() < 0.7:
        phrase += "：" if _CJK.search(phrase) else ":"
    return phrase + rng.choice(["\n", "\n\n"])


def _fence_line(seam: Seam) -> str | None:
    fence = structure_at(seam.kept).fence
    return f"```{fence}\n" if fence else None


Behaviour = Callable[[str, Seam, random.Random], str | None]


def _with_preamble(base: Callable[[str, Seam, random.Random], str]) -> Behaviour:
    return lambda doc, seam, rng: _preamble(rng) + base(doc, seam, rng).lstrip()


def _reopened(base: Callable[[str, Seam, random.Random], str]) -> Behaviour:
    def reply(doc: str, seam: Seam, rng: random.Random) -> str | None:
        line = _fence_line(seam)
        if line is None:
            return None
        text = base(doc, seam, rng)
        return line + (text[1:] if text.startswith("\n") else text)

    return reply


def _rest(doc: str, seam: Seam, rng: random.Random) -> str:
    return doc[len(seam.kept) :]


BEHAVIOURS: dict[str, Behaviour] = {
    "repeat": _repeat,
    "restart-line": _line_restart,
    "restart-paragraph": _paragraph_restart,
    "preamble": _with_preamble(_rest),
    "reopen-fence": _reopened(_rest),
}
COMBOS: dict[str, Behaviour] = {
    "preamble+repeat": _with_preamble(_repeat),
    "preamble+restart-line": _with_preamble(_line_restart),
    "reopen-fence+repeat": _reopened(_repeat),
}


# -- the run ----------------------------------------------------------------------------------------
def _cut(doc: Doc, rng: random.Random) -> int:
    if doc.kind == "table" and rng.random() < 0.75:
        start, end = rng.choice(doc.table_spans)
        return rng.randint(max(start + 1, MIN_CUT), end)
    return rng.randint(MIN_CUT, len(doc.text) - 1)


@dataclass
class Tally:
    cuts: int = 0
    faithful: int = 0
    false_deletions: int = 0
    replies: int = 0
    repaired: int = 0

    def add(self, other: Tally) -> None:
        for name in ("cuts", "faithful", "false_deletions", "replies", "repaired"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _show(doc: Doc, seam: Seam, reply: str, joined: str) -> str:
    at = len(seam.kept)
    return (
        f"  {doc.source} at {at}: kept …{seam.kept[-40:]!r} dropped {seam.dropped!r}\n"
        f"    reply {reply[:70]!r}\n    want  {doc.text[at - 20 : at + 50]!r}\n"
        f"    got   {joined[at - 20 : at + 50]!r}"
    )


def run(docs: dict[str, list[Doc]], cuts: int, seed: int, show: int) -> None:
    per_kind = cuts // len(KINDS)
    tallies: dict[str, Tally] = {}
    behaviour_counts: Counter[str] = Counter()
    behaviour_good: Counter[str] = Counter()
    failures: dict[str, list[str]] = defaultdict(list)
    for kind in KINDS:
        rng = random.Random(f"{seed}:{kind}")
        tally = Tally()
        pool = docs[kind]
        while tally.cuts < per_kind:
            doc = rng.choice(pool)
            seam = back_off(doc.text[: _cut(doc, rng)])
            if not any(c.isspace() for c in seam.kept.strip()):
                continue  # a one-word answer so far: see MIN_CUT
            tally.cuts += 1
            structure = structure_at(seam.kept)
            rest = doc.text[len(seam.kept) :]
            for reply in (rest, rest.lstrip()):
                tally.faithful += 1
                joined = seam.kept + repair(seam, reply, structure)
                if joined != doc.text:
                    tally.false_deletions += 1
                    if len(failures[f"{kind} false deletion"]) < show:
                        failures[f"{kind} false deletion"].append(_show(doc, seam, reply, joined))
            for name, behaviour in {**BEHAVIOURS, **COMBOS}.items():
                bad = behaviour(doc.text, seam, rng)
                if bad is None:
                    continue
                if rng.random() < 0.5:
                    bad = bad.lstrip()
                if bad.lstrip() == rest.lstrip():
                    continue  # nothing misbehaved (a restart at the cut itself)
                tally.replies += 1
                behaviour_counts[f"{kind} {name}"] += 1
                joined = seam.kept + repair(seam, bad, structure)
                if joined == doc.text:
                    tally.repaired += 1
                    behaviour_good[f"{kind} {name}"] += 1
                elif len(failures[f"{kind} {name}"]) < show:
                    failures[f"{kind} {name}"].append(_show(doc, seam, bad, joined))
        tallies[kind] = tally

    total = Tally()
    print(
        f"{'kind':8s} {'docs':>5s} {'cuts':>6s} {'faithful':>9s} {'false del.':>10s} "
        f"{'misbehaving':>11s} {'repaired':>9s} {'rate':>8s}"
    )
    for kind in KINDS:
        t = tallies[kind]
        total.add(t)
        print(
            f"{kind:8s} {len(docs[kind]):5d} {t.cuts:6d} {t.faithful:9d} {t.false_deletions:10d} "
            f"{t.replies:11d} {t.repaired:9d} {t.repaired / max(t.replies, 1):8.2%}"
        )
    print(
        f"{'all':8s} {sum(len(v) for v in docs.values()):5d} {total.cuts:6d} {total.faithful:9d} "
        f"{total.false_deletions:10d} {total.replies:11d} {total.repaired:9d} "
        f"{total.repaired / max(total.replies, 1):8.2%}"
    )
    print("\nrepair rate per behaviour:")
    for key in sorted(behaviour_counts):
        n = behaviour_counts[key]
        print(f"  {key:32s} {behaviour_good[key]:6d}/{n:<6d} {behaviour_good[key] / n:8.2%}")
    if failures:
        print("\nexamples:")
        for key, examples in sorted(failures.items()):
            print(key)
            print("\n".join(examples))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cuts", type=int, default=10_000, help="cuts in all, split across the kinds")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--show", type=int, default=3, help="examples shown per failing row")
    parser.add_argument("--list", action="store_true", help="list the documents and stop")
    args = parser.parse_args()
    started = time.perf_counter()
    docs = collect()
    missing = [kind for kind in KINDS if not docs[kind]]
    if missing:
        sys.exit(f"no documents of kind {missing} found on this machine")
    if args.list:
        for kind in KINDS:
            for doc in docs[kind]:
                print(kind, len(doc.text), doc.source)
        return
    print(
        "documents: "
        + ", ".join(
            f"{kind} {len(docs[kind])} ({sum(len(d.text) for d in docs[kind]):,} chars)" for kind in KINDS
        )
    )
    run(docs, args.cuts, args.seed, args.show)
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
