"""Signals found over the whole text: HTTP statuses, headers, exception names, HTML error pages,
CDN and gateway markers.

Speed on a 10 MB paste decides the shape of this module. Python's regex engine only skips ahead
fast when a pattern starts with a literal; an alternation, a character class, a look-behind or
IGNORECASE at the start makes it try every position. So each signal is found by a literal search
first (``str.find`` on the text or its lowercase copy, or a regex that starts with a literal),
and only then checked with a small anchored regex at that position. Every regex is linear (no
nested quantifiers, bounded repeats). Timestamps are read lazily, per line, by
:func:`time_of`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Signals", "scan", "time_of"]

_MAX_HITS = 200  # per signal: a log of repeated errors says it all in its first few hundred

_STATUS_PATTERNS = (
    re.compile(r"Error code: (\d{3})\b"),
    re.compile(r"HTTP/\d(?:\.\d)?\"? (\d{3})\b"),
    re.compile(r"status(?:_code|Code| code)?[\"']?[ \t]{0,3}[:=][ \t]{0,3}[\"']?(\d{3})\b"),
    # Claude Code's `API Error: 529 {...}`, the SDKs' `Error: 400 {...}` (JavaScript), relays'
    # `status 529`, `HTTP 429`, `[429]`, `(HTTP 524)`, `non 200 response: 404`.
    re.compile(r"API Error: (\d{3})\b"),
    re.compile(r"Error: (\d{3}) [{\[A-Za-z]"),
)
# Spellings that are a status only often (`[500]` may be a list of delays): hints for the
# classification, never the response's status.
_LOOSE_STATUS_PATTERNS = (
    re.compile(r"status (\d{3})\b"),
    re.compile(r"HTTP (\d{3})\b"),
    re.compile(r"\[(\d{3})\]"),
    re.compile(r"response: (\d{3})\b"),
    re.compile(r"\| (\d{3}) \|"),  # a Gin access-log line: `| 503 |    1.7ms |`
)
_REASON_PHRASES = (
    "Bad Request",
    "Unauthorized",
    "Payment Required",
    "Forbidden",
    "Not Found",
    "Request Timeout",
    "Conflict",
    "Payload Too Large",
    "Request Entity Too Large",
    "Too Many Requests",
    "Internal Server Error",
    "Bad Gateway",
    "Service Unavailable",
    "Gateway Timeout",
)
_STATUS_BEFORE_PHRASE = re.compile(r"(?<!\d)(\d{3}) $")

_HEADER_PREFIXES = (
    "retry-after",
    "x-ratelimit-",
    "anthropic-ratelimit-",
    "request-id",
    "x-request-id",
    "cf-ray",
    "server",
    "x-should-retry",
    "via",
    "x-accel-buffering",
    "x-new-api-version",
    "x-oneapi-request-id",
    "x-litellm-",
)
_HEADER_AT = re.compile(r"([a-z][a-z0-9-]{1,60})([\"']?)[ \t]{0,3}:[ \t]{0,3}")

_EXC_SUFFIXES = ("Error", "Exception", "Timeout")
_EXC_NAME_BEFORE = re.compile(r"((?:[A-Za-z_]\w{0,60}\.){0,5}[A-Z]\w{0,60})$")

_HTML_MARKERS = ("<html", "<!doctype html")
_TITLE = re.compile(r"<title>([^<\n]{0,200})</title>", re.I)
_CDN_MARKERS = (
    "cloudflare",
    "cf-ray",
    "attention required",
    "sorry, you have been blocked",
    "cf-error-details",
    "error code: 10",
    "just a moment...",
    "akamaighost",
    "access denied",
    "request blocked",
    "incapsula",
    "aliyun waf",
    "x-amz-cf-id",
)
_GATEWAY_MARKERS = ("new-api", "one-api", "litellm", "openrouter", "portkey", "helicone", "oneapi", "newapi")
_TIME = re.compile(r"(?<!\d)(\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,6}))?(?!\d)")


@dataclass(slots=True)
class Signals:
    statuses: list[tuple[int, int]] = field(default_factory=list)  # (line, status), in order
    loose_statuses: list[tuple[int, int]] = field(default_factory=list)  # _LOOSE_STATUS_PATTERNS
    headers: dict[str, tuple[int, str]] = field(default_factory=dict)  # lowercased name -> (line, value)
    exceptions: list[tuple[int, str, str]] = field(default_factory=list)  # (line, dotted name, message)
    html: list[int] = field(default_factory=list)
    html_title: str | None = None
    cdn: list[tuple[int, str]] = field(default_factory=list)  # (line, marker as written)
    gateways: list[str] = field(default_factory=list)  # relay/gateway products named in the log


def _finds(haystack: str, needle: str, limit: int = _MAX_HITS) -> list[int]:
    out: list[int] = []
    pos = haystack.find(needle)
    while pos >= 0 and len(out) < limit:
        out.append(pos)
        pos = haystack.find(needle, pos + len(needle))
    return out


def scan(text: str) -> Signals:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))

    def line_of(pos: int) -> int:
        return bisect.bisect_right(starts, pos)

    low = text.lower()
    sig = Signals()
    _statuses(text, sig, line_of)
    _headers(text, low, sig, line_of)
    _exceptions(text, sig, line_of)
    sig.html = sorted(line_of(p) for marker in _HTML_MARKERS for p in _finds(low, marker, 50))
    if sig.html:
        title = _TITLE.search(text)
        sig.html_title = title.group(1).strip() if title else None
    for marker in _CDN_MARKERS:
        for pos in _finds(low, marker, 10):
            if marker == "error code: 10" and not text[pos + 14 : pos + 16].isdigit():
                continue  # Cloudflare's 10xx codes only
            sig.cdn.append((line_of(pos), text[pos : pos + len(marker)]))
    sig.cdn.sort()
    sig.gateways = [m for m in _GATEWAY_MARKERS if m in low]
    return sig


def _statuses(text: str, sig: Signals, line_of: Callable[[int], int]) -> None:
    found: list[tuple[int, int]] = []
    for pattern in _STATUS_PATTERNS:
        for i, m in enumerate(pattern.finditer(text)):
            if i >= _MAX_HITS:
                break
            if m.re is _STATUS_PATTERNS[2] and m.start() > 0 and text[m.start() - 1].isalpha():
                continue  # "upstatus: 200" is not a status field
            found.append((m.start(), int(m.group(1))))
    for phrase in _REASON_PHRASES:
        for pos in _finds(text, " " + phrase):
            before = _STATUS_BEFORE_PHRASE.search(text, max(0, pos - 4), pos + 1)
            if before:
                found.append((before.start(), int(before.group(1))))
    # Two spellings at one place ("API Error: 529 {" is also "Error: 529 {") are one status.
    sig.statuses = [(line_of(pos), status) for pos, status in sorted(set(found)) if 100 <= status <= 599]
    loose: set[tuple[int, int]] = set()
    for pattern in _LOOSE_STATUS_PATTERNS:
        for i, m in enumerate(pattern.finditer(text)):
            if i >= _MAX_HITS:
                break
            loose.add((m.start(), int(m.group(1))))
    strong = {pos for pos, _ in found}
    sig.loose_statuses = [(line_of(p), st) for p, st in sorted(loose) if p not in strong and 100 <= st <= 599]


def _headers(text: str, low: str, sig: Signals, line_of: Callable[[int], int]) -> None:
    hits: list[tuple[int, str, str]] = []
    for prefix in _HEADER_PREFIXES:
        for pos in _finds(low, prefix, 1000):
            if pos > 0 and (low[pos - 1].isalnum() or low[pos - 1] in "-_"):
                continue  # part of a longer word ("observer", "x-server")
            m = _HEADER_AT.match(low, pos)
            if m is None or not m.group(1).startswith(prefix):
                continue
            end = text.find("\n", m.end())
            rest = text[m.end() : end if end >= 0 else len(text)][:300]
            if m.group(2):  # a quoted dict entry: 'retry-after': '30', ...
                quote = rest[:1] if rest[:1] in "'\"" else ""
                rest = rest[1:].split(quote, 1)[0] if quote else re.split(r"[,}]", rest, maxsplit=1)[0]
            hits.append((pos, m.group(1), rest.strip()))
    for pos, name, value in sorted(hits):
        sig.headers[name] = (line_of(pos), value)


def _exceptions(text: str, sig: Signals, line_of: Callable[[int], int]) -> None:
    found: list[tuple[int, str, str]] = []
    for suffix in _EXC_SUFFIXES:
        for pos in _finds(text, suffix):
            after = pos + len(suffix)
            if after < len(text) and (text[after].isalnum() or text[after] == "_"):
                continue
            m = _EXC_NAME_BEFORE.search(text, max(0, pos - 300), pos)
            if m is None or (
                m.start() > 0 and (text[m.start() - 1].isalnum() or text[m.start() - 1] in "._")
            ):
                continue
            name = m.group(1) + suffix
            message = ""
            if text.startswith(":", after):
                end = text.find("\n", after)
                message = text[after + 1 : end if end >= 0 else len(text)][:2000].strip()
            found.append((m.start(), name, message))
    found.sort()
    sig.exceptions = [(line_of(pos), name, msg) for pos, name, msg in found[:_MAX_HITS]]


def time_of(line: str) -> float | None:
    """Seconds since midnight of the first timestamp in a log line's first 80 characters."""
    m = _TIME.search(line, 0, 80)
    if m is None:
        return None
    h, mi, s, frac = m.groups()
    return int(h) * 3600 + int(mi) * 60 + int(s) + (float("0." + frac) if frac else 0.0)
