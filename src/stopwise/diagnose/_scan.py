"""Finding JSON (and Python-literal) objects inside arbitrary text, and undoing one level of
string escaping. Every function here is total: bad input gives ``None``, never an exception.

Costs are bounded so a 10 MB paste stays fast: JSON is parsed by the C decoders (orjson, the
stdlib scanner), the number of attempts per line is capped, and Python literals (which the SDKs
print in tracebacks: ``Error code: 429 - {'type': 'error', ...}``) are only evaluated when small
and shallow, because ``ast`` recursion on deep nesting can exhaust the interpreter's stack.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

__all__ = [
    "blank_strings",
    "embedded",
    "find_objects",
    "find_spans",
    "is_json",
    "is_response_body",
    "loads_lenient",
    "unescape",
]

_DECODER = json.JSONDecoder()
_MAX_ATTEMPTS = 6  # `{` positions tried per string: logs rarely hold more objects on one line
_MAX_LITERAL = 200_000  # bytes of a Python literal we hand to ast
_MAX_LITERAL_BRACES = 200  # ast's parser gives up (or worse) on deeper nesting
_MAX_EMBED_DEPTH = 3  # JSON inside a string inside JSON inside...

# One level of backslash escaping, as Python's repr and JSON string encoders write it.
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|.)", re.S)
_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "b": "\b", "f": "\f"}


def _unescape_one(m: re.Match[str]) -> str:
    tok = m.group(1)
    if len(tok) > 1:
        return chr(int(tok[1:], 16))
    return _SIMPLE.get(tok, tok)


def unescape(text: str) -> str:
    """Undo one level of backslash escaping (``\\\\`` → ``\\``, ``\\"`` → ``"``, ``\\n`` → newline).
    ``\\xhh`` sequences that spell UTF-8 (a ``bytes`` repr) are re-read as UTF-8."""
    out = _ESCAPE.sub(_unescape_one, text)
    if "\\x" in text and any("\x80" <= ch <= "\xff" for ch in out):
        try:
            return out.encode("latin-1").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            return out
    return out


def loads_lenient(text: str) -> Any:
    """A whole string as JSON, or ``None``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _raw_decode(text: str, start: int) -> tuple[Any, int] | None:
    try:
        return _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        # RecursionError: the stdlib scanner recurses once per nesting level.
        return None


def _literal(text: str, start: int) -> tuple[Any, int] | None:
    """A Python dict literal starting at ``start`` and ending at the last ``}`` of the text
    (SDK tracebacks print the body at the end of the line)."""
    end = text.rfind("}")
    if end <= start or end - start > _MAX_LITERAL:
        return None
    chunk = text[start : end + 1]
    if chunk.count("{") > _MAX_LITERAL_BRACES:
        return None
    try:
        value = ast.literal_eval(chunk)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value, end + 1


def _parse_at(text: str, start: int) -> tuple[Any, int, bool] | None:
    """The value at ``start``, where it ends, and whether it is written there verbatim (JSON or a
    Python literal) rather than escaped inside a string."""
    got = _raw_decode(text, start)
    if got is not None:
        return got[0], got[1], True
    nxt = text[start + 1 : start + 3].lstrip()[:1]
    if nxt == "'":
        lit = _literal(text, start)
        return None if lit is None else (lit[0], lit[1], True)
    if text.startswith('\\"', start + 1) or text.startswith(' \\"', start + 1):
        # JSON escaped inside a string (a log message that quotes a body): undo one level.
        end = text.rfind("}")
        if end > start:
            inner = unescape(text[start : end + 1])
            got = _raw_decode(inner, 0)
            if got is not None:
                return got[0], end + 1, False
    return None


def is_response_body(obj: dict[str, Any]) -> bool:
    """A whole response as its API returns it (Anthropic's message, OpenAI's chat completion, a
    Responses object): what it says is read from its fields, and its strings are the answer."""
    return obj.get("type") == "message" or obj.get("object") in ("chat.completion", "response")


def find_spans(text: str) -> Iterator[tuple[int, int, dict[str, Any], bool]]:
    """The top-level objects in ``text`` in order: ``(start, end, object, verbatim)``, where
    ``verbatim`` says the text from start to end is the object as written (not escaped)."""
    start = text.find("{")
    attempts = 0
    while start >= 0 and attempts < _MAX_ATTEMPTS:
        attempts += 1
        got = _parse_at(text, start)
        if got is None:
            start = text.find("{", start + 1)
            continue
        value, end, verbatim = got
        if isinstance(value, dict):
            yield start, end, value, verbatim
        start = text.find("{", end)


def find_objects(text: str, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects found in ``text`` in order, and the ones embedded as strings
    inside them (a gateway log whose ``msg`` quotes the upstream body). A response body's
    strings are its answer: an object the model wrote there is content, not another record."""
    for _start, _end, value, _verbatim in find_spans(text):
        yield value
        if depth < _MAX_EMBED_DEPTH:
            yield from embedded(value, depth + 1)


def embedded(obj: dict[str, Any], depth: int = 1) -> Iterator[dict[str, Any]]:
    """Objects quoted inside string values (only the top level's strings: enough for gateway
    log lines, and bounded); none in a response body's."""
    if is_response_body(obj):
        return
    for value in list(obj.values())[:50]:
        if isinstance(value, str) and "{" in value and len(value) < 1_000_000:
            yield from find_objects(value, depth)
        elif isinstance(value, dict) and depth < _MAX_EMBED_DEPTH and not is_response_body(value):
            for inner in list(value.values())[:50]:
                if isinstance(inner, str) and "{" in inner and len(inner) < 1_000_000:
                    yield from find_objects(inner, depth + 1)


def blank_strings(text: str) -> str:
    """``text`` (an object as written: JSON or a Python literal) with every string value emptied
    and its keys kept: ``{"text": "HTTP 529"}`` becomes ``{"text": ""}``. Line breaks inside a
    string (a terminal's wrap) are kept, so the text keeps its lines. Linear, total."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch not in "\"'":
            j = i
            while j < n and text[j] not in "\"'":
                j += 1
            out.append(text[i:j])
            i = j
            continue
        j = i + 1
        while j < n and text[j] != ch:
            j += 2 if text[j] == "\\" else 1
        j = min(j, n - 1)  # an unterminated string runs to the end
        k = j + 1
        while k < n and text[k] in " \t\n":
            k += 1
        if k < n and text[k] == ":":
            out.append(text[i : j + 1])  # a key
        else:
            out.append(ch + "\n" * text.count("\n", i, j) + ch)
        i = j + 1
    return "".join(out)
