"""Pull the machine-readable pieces out of a pasted log, whatever surrounds them.

What we look for, line by line (after one decode with replacement, so invalid UTF-8 is fine):

- SSE ``data:`` and ``event:`` lines, bare or wrapped in log prefixes and quotes, including the
  seed report's ``Line 1467: 'data: {...}'`` where the JSON sits inside a Python repr with its
  backslashes doubled, and a whole stream printed as one ``b'event: ...\\ndata: ...\\n\\n'`` repr;
- JSON objects anywhere on a line, Python dict literals from SDK tracebacks, JSON escaped inside
  strings, and pretty-printed JSON spread over several lines;
- signals found with linear regexes over the whole text (see :mod:`._signals`).

What a response body's strings say is its answer, never evidence about the transport: a line
that only looks like SSE inside such a body (a model writing ``data: the``) is no SSE line, and
the signal scan reads the body with its strings emptied (:func:`._scan.blank_strings`).

Nothing here interprets what it finds; :mod:`.facts` does. Nothing here raises on bad input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .. import error_texts
from . import _signals
from ._scan import (
    blank_strings,
    embedded,
    find_objects,
    find_spans,
    is_response_body,
    loads_lenient,
    unescape,
)

__all__ = ["DataLine", "Extraction", "Found", "extract"]

_LABEL = re.compile(r"\b(?:line|l)\s*#?\s*(\d{1,9})\b", re.I)
_MULTILINE_MAX_LINES = 400
_MULTILINE_MAX_CHARS = 1_000_000


@dataclass(slots=True)
class DataLine:
    """One SSE ``data:`` payload. ``obj`` is ``None`` for a payload that is not JSON."""

    line: int  # 1-based
    event: str | None
    raw: str
    obj: dict[str, Any] | None
    label: str | None  # "1467" for a "Line 1467:" prefix: the same label twice is one event


@dataclass(slots=True)
class Found:
    """A JSON object outside SSE data lines (a body, an error, a request, a log record)."""

    line: int
    obj: dict[str, Any]


@dataclass(slots=True)
class Extraction:
    lines: list[str]
    data: list[DataLine] = field(default_factory=list)
    done: list[int] = field(default_factory=list)  # lines with data: [DONE]
    done_nospace: list[int] = field(default_factory=list)  # `data:[DONE]`, which strict clients choke on
    bad_data: list[int] = field(default_factory=list)  # data: lines whose payload is neither JSON nor [DONE]
    truncated_data: list[int] = field(default_factory=list)  # data: lines cut by the paste ("...")
    retry_only: list[int] = field(default_factory=list)  # `retry:` lines (events with no data)
    objects: list[Found] = field(default_factory=list)
    signals: _signals.Signals = field(default_factory=_signals.Signals)
    #: The lines signals and key-value facts are read in: the log without SSE payloads and with
    #: response bodies' strings emptied (a model writing about "HTTP 429" in its answer is no
    #: status); ``scan_text`` is them joined and normalized (error_texts.normalize).
    scan_lines: list[str] = field(default_factory=list)
    scan_text: str = ""

    def text_of(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""


def extract(raw: bytes | str) -> Extraction:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    ex = Extraction(lines=lines)
    walker = _Walker(ex)
    walker.run()
    # Signals are read outside SSE payloads and response bodies' strings: a model writing about
    # "HTTP 429" or Cloudflare in its answer is not a status or a CDN page (and skipping them is
    # most of the bytes).
    ex.scan_lines = list(lines)
    if walker.masked:
        for no, seen in walker.masked.items():
            ex.scan_lines[no - 1] = seen
        text = "\n".join(ex.scan_lines)
    ex.signals = _signals.scan(text)
    ex.scan_text = error_texts.normalize(text)
    return ex


class _Walker:
    def __init__(self, ex: Extraction) -> None:
        self.ex = ex
        self.event: str | None = None  # the last `event:` seen, for the next data line
        self.skip_multiline_until = 0
        self.body_until = 0  # the last line of a multi-line response body being read
        self.masked: dict[int, str] = {}  # line -> what the signal scan reads of it

    def run(self) -> None:
        for no, line in enumerate(self.ex.lines, 1):
            if no <= self.body_until:
                continue  # inside a response body: its answer, read (and masked) with the body
            sse_like = "data:" in line or "event:" in line or "retry:" in line
            if sse_like and not _in_body(line) and not self.opens_body(no, line):
                if "\\n" in line and _looks_like_repr_stream(line):
                    for piece in unescape(line).split("\n"):
                        self.sse_line(no, piece)
                    self.mask(no, line)
                    continue
                cut = self.sse_line(no, line)
                if cut >= 0:
                    self.masked[no] = line[:cut]
                    continue
            if "{" in line:
                self.objects(no, line)

    def mask(self, no: int, line: str) -> None:
        cut = min((i for i in (_field(line, "data:"), _field(line, "event:")) if i >= 0), default=-1)
        if cut >= 0:
            self.masked[no] = line[:cut]

    def sse_line(self, no: int, line: str) -> int:
        """Handle a line holding an SSE field. Returns where the field starts (what precedes it
        is the log's own prefix), or -1 when the line holds none (let the JSON search run)."""
        idx = _field(line, "data:")
        if idx < 0:
            ev = _field(line, "event:")
            if ev >= 0:
                name = line[ev + 6 :].strip().strip("'\",")
                self.event = name.split()[0] if name else None
                return ev
            retry = line.find("retry:")
            if retry >= 0 and not line[:retry].strip(" '\"b"):
                self.ex.retry_only.append(no)
                return retry
            return -1
        prefix = line[:idx]
        ev = _field(prefix, "event:")
        if ev >= 0:  # `event: x data: {...}` flattened onto one line by a logger
            name = prefix[ev + 6 :].strip().strip("'\",")
            self.event = name.split()[0] if name else None
            prefix = prefix[:ev]
        payload = line[idx + 5 :]
        if payload[:1] == " ":
            payload = payload[1:]
        elif payload.startswith("[DONE]"):
            self.ex.done_nospace.append(no)
        quote = prefix.rstrip()[-1:] if prefix.rstrip()[-1:] in ("'", '"') else ""
        payload = _strip_tail(payload, quote)
        # Cheap test first: the regex would run on every line of a long log.
        label_m = _LABEL.search(prefix) if ("ine" in prefix or "L" in prefix) else None
        label = label_m.group(1) if label_m else None
        event, self.event = self.event, None
        if payload.startswith("[DONE]"):
            self.ex.done.append(no)
            return idx
        if not payload:
            return idx
        obj = _parse_payload(payload, quoted=bool(quote))
        if obj is None:
            if "..." in payload or "…" in payload:  # elided by whoever pasted it, not malformed
                self.ex.truncated_data.append(no)
            else:
                self.ex.bad_data.append(no)
        self.ex.data.append(DataLine(no, event, payload, obj, label))
        return idx

    def objects(self, no: int, line: str) -> None:
        objs = self.objects_in(no, line)
        first = len(self.ex.objects)
        self.ex.objects.extend(Found(no, obj) for obj in objs)
        if no > self.skip_multiline_until:
            if not objs and line.rstrip().endswith(("{", "[")):
                # Pretty-printed JSON opening here, or one line of it the terminal wrapped
                # just after a brace or bracket (inside a string, "[" of a message): then
                # the lines joined back as one come first.
                self.multiline(no, wrapped=_opens(line))
            elif _opens(line):
                # What parsed on this line was an inner object of one the next lines go on.
                self.multiline(no, wrapped=True)
        if self.body_until >= no:
            # A response body opens here and goes on: what parsed on this line were its parts.
            del self.ex.objects[first : first + len(objs)]
            return
        for obj in objs:
            if is_response_body(obj):
                continue
            for value in list(obj.values())[:50]:
                # A structured logger that put the raw SSE body into a string field.
                if isinstance(value, str) and "data:" in value and len(value) < 1_000_000:
                    for piece in value.replace("\r\n", "\n").split("\n"):
                        self.sse_line(no, piece)

    def objects_in(self, no: int, line: str) -> list[dict[str, Any]]:
        """The objects on a line, and those quoted in their strings; the response bodies among
        them are read by the signal scan with their strings emptied."""
        out: list[dict[str, Any]] = []
        seen: list[str] = []
        last = 0
        for start, end, obj, verbatim in find_spans(line):
            out.append(obj)
            out.extend(embedded(obj))
            if verbatim and is_response_body(obj):
                seen += [line[last:start], blank_strings(line[start:end])]
                last = end
        if seen:
            self.masked[no] = "".join([*seen, line[last:]])
        return out

    def multiline(self, no: int, *, wrapped: bool = False) -> None:
        """Pretty-printed JSON (curl output, a logger's indent=2): join the following lines
        until one parses. Each line takes part in at most one attempt, so this stays linear.
        ``wrapped``: an object that opens mid-line and goes on over the next lines, as a
        terminal wraps a long line (inside words and strings, the next line indented): also
        tried with the lines joined back as one, their indent dropped."""
        first = self.ex.lines[no - 1]
        start, parts = _join(self.ex.lines, no, wrapped=wrapped)
        self.skip_multiline_until = no + len(parts) - 1
        if wrapped:
            whole = _unwrap(parts)
            if whole is not None:
                self.ex.objects.append(Found(no, whole))
                if is_response_body(whole):
                    self.mask_body(no, first[:start], parts, [(0, len("\n".join(parts)))])
                return
        joined = "\n".join(parts)
        bodies: list[tuple[int, int]] = []
        for at, end_at, obj, verbatim in find_spans(joined):
            self.ex.objects.append(Found(no, obj))
            self.ex.objects.extend(Found(no, o) for o in embedded(obj))
            if verbatim and is_response_body(obj):
                bodies.append((at, end_at))
        if bodies:
            self.mask_body(no, first[:start], parts, bodies)

    def opens_body(self, no: int, line: str) -> bool:
        """A response body opens on this line before what looks like SSE on it, and goes on over
        the next lines (the look-alike is its answer): the line is read as objects() reads it."""
        at = _sse_at(line)
        brace = line.find("{", 0, at)
        if brace < 0 or no <= self.skip_multiline_until or _depth(line[brace:]) <= 0:
            return False
        if not any(True for _ in find_objects(line)) and line.rstrip().endswith(("{", "[")):
            start, parts = _join(self.ex.lines, no, wrapped=False)
            objs = [(start + at_, o) for at_, _, o, _ in find_spans("\n".join(parts))]
        elif _opens(line):
            start, parts = _join(self.ex.lines, no, wrapped=True)
            whole = _unwrap(parts)
            objs = [] if whole is None else [(start, whole)]
        else:
            return False
        return any(begin < at and is_response_body(obj) for begin, obj in objs)

    def mask_body(self, no: int, head: str, parts: list[str], spans: list[tuple[int, int]]) -> None:
        """Response bodies spread over the lines from ``no`` (``parts``, the first without its
        ``head``): the signal scan reads them with their strings emptied, and their lines are no
        log lines of their own (an answer's ``data: the`` is no SSE line)."""
        joined = "\n".join(parts)
        pieces: list[str] = []
        last = 0
        for at, end in spans:
            pieces += [joined[last:at], blank_strings(joined[at:end])]
            last = end
        pieces.append(joined[last:])
        for k, seen in enumerate("".join(pieces).split("\n")):
            self.masked[no + k] = head + seen if k == 0 else seen
        self.body_until = no + joined.count("\n", 0, spans[-1][1])


def _join(lines: list[str], no: int, *, wrapped: bool) -> tuple[int, list[str]]:
    """The lines an object opening on line ``no`` spans: where it starts on that line, and the
    lines (the first from there) up to the one that closes it, within bounds."""
    first = lines[no - 1]
    start = first.find("{") if wrapped else max(first.rfind("{"), first.rfind("["))
    parts = [first[start:]]
    size = len(parts[0])
    # Brackets inside strings do not count (an answer may say "]"); a pretty-printed string
    # ends on its line, a wrapped one goes on over the break.
    depth, quote = _depth_after(parts[0], 0, "")
    if not wrapped:
        quote = ""
    end = no
    while end < len(lines) and end - no < _MULTILINE_MAX_LINES and size < _MULTILINE_MAX_CHARS:
        nxt = lines[end]
        end += 1
        parts.append(nxt)
        size += len(nxt)
        if wrapped:
            depth, quote = _depth_after(nxt.lstrip(), depth, quote)
        else:
            depth = _depth_after(nxt, depth, "")[0]
        if depth <= 0:
            break
    return start, parts


def _unwrap(parts: list[str]) -> dict[str, Any] | None:
    """The object a terminal wrapped over ``parts``. A wrap at a space lost that space, one
    inside a word lost nothing: read the lines as joined by a space unless that puts a space
    inside a key ("reques t_id"). Only an object that starts where the first line's does is the
    one that was wrapped. Identifiers (keys, types, ids) read whole; prose messages keep their
    spaces."""
    pieces = [p.strip() for p in parts]
    tight, spaced = _whole("".join(pieces)), _whole(" ".join(pieces))
    if tight is not None:
        return _with_messages(tight, spaced)
    if spaced is not None and not _spaced_key(spaced):
        return spaced
    return None


def _sse_at(line: str) -> int:
    """Where what looks like SSE starts on a line (``data:``, ``event:``, ``retry:``, also as a
    repr's ``\\ndata:``), or -1."""
    found = (line.find(name) for name in ("data:", "event:", "retry:"))
    return min((i for i in found if i >= 0), default=-1)


def _in_body(line: str) -> bool:
    """What looks like SSE on the line starts inside a response body written on it: words of
    the answer."""
    at = _sse_at(line)
    if at < 0 or line.find("{", 0, at) < 0:
        return False  # the common case (`data: {...}`), without a parse
    return any(start < at < end and is_response_body(obj) for start, end, obj, _ in find_spans(line))


def _whole(joined: str) -> dict[str, Any] | None:
    """The one object ``joined`` is (or most of it is), or None."""
    obj = loads_lenient(joined) if joined.endswith("}") else None
    if obj is None:
        objs = [o for o in find_objects(joined) if len(str(o)) * 2 > len(joined)]
        obj = objs[0] if objs else None
    return obj if isinstance(obj, dict) else None


def _with_messages(tight: dict[str, Any], spaced: dict[str, Any] | None, depth: int = 0) -> dict[str, Any]:
    """``tight`` with its ``message`` strings taken from ``spaced`` where both have them."""
    if spaced is None or depth > 4:
        return tight
    out = dict(tight)
    for key, value in tight.items():
        other = spaced.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            out[key] = _with_messages(value, other, depth + 1)
        elif key == "message" and isinstance(value, str) and isinstance(other, str):
            out[key] = other
    return out


def _spaced_key(obj: Any, depth: int = 0) -> bool:
    if isinstance(obj, dict) and depth < 4:
        return any(" " in k or _spaced_key(v, depth + 1) for k, v in obj.items())
    return False


def _opens(line: str) -> bool:
    """A JSON object starts on this line and does not end on it."""
    # The first that opens, of either quote: a Python literal's string may quote JSON.
    at = min((i for i in (line.find('{"'), line.find("{'")) if i >= 0), default=-1)
    return at >= 0 and _depth(line[at:]) > 0


def _depth(text: str) -> int:
    """Brackets opened and not closed in ``text``, those inside strings not counted (a message
    may hold a brace)."""
    return _depth_after(text, 0, "")[0]


def _depth_after(text: str, depth: int, quote: str) -> tuple[int, str]:
    """The bracket depth and the open string's quote ("" if none) after ``text``, from those
    before it: a wrapped string goes on over the line break."""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
    return depth, quote


def _field(line: str, name: str) -> int:
    """Where an SSE field name starts in a line, as a word of its own: "metadata:" in a log
    line is not a data field."""
    pos = line.find(name)
    while pos > 0 and (line[pos - 1].isalnum() or line[pos - 1] == "_"):
        pos = line.find(name, pos + 1)
    return pos


def _looks_like_repr_stream(line: str) -> bool:
    """A whole stream printed as one Python (bytes) repr: SSE line ends appear as ``\\n``."""
    return "\\ndata:" in line or "\\nevent:" in line


def _strip_tail(payload: str, quote: str) -> str:
    payload = payload.rstrip()
    if quote and payload.endswith(quote):
        payload = payload[:-1]
    elif quote and payload.endswith((quote + ",", quote + ")")):
        payload = payload[:-2]
    while payload.endswith("\\n"):  # the SSE line end, escaped inside a repr
        payload = payload[:-2]
    return payload.rstrip()


def _parse_payload(payload: str, *, quoted: bool) -> dict[str, Any] | None:
    """The JSON of one data line. Inside a quoted repr the backslashes were doubled, so undo
    one level first; else try the text as it is, then with trailing noise cut off."""
    candidates = [unescape(payload), payload] if quoted and "\\" in payload else [payload]
    for cand in candidates:
        obj = loads_lenient(cand)
        if isinstance(obj, dict):
            return obj
    for cand in candidates:
        brace = cand.find("{")
        if brace >= 0:
            for obj in find_objects(cand[brace:], depth=99):
                return obj
    return None
