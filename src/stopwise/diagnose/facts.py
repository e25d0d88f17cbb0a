"""The key facts of a log: what the wire core reconstructs from its streams and bodies, the error
it reports, and the numbers a diagnosis needs (cap, tokens, status, retry-after, request id).

Every fact remembers the log line it came from (:attr:`Facts.lines`), so a report can quote its
evidence verbatim. Facts are observations, never guesses; inferences (a cap equal to a relay
default) are named as such (``cap_source``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..dialects import error_from_payload, parse_body, parse_retry_after
from ..error_texts import CEILING_TEXT, CEILING_TEXT_OPENAI
from ..errors import STATUS_OF_TYPE, APIError, ProtocolError
from ..outcome import Outcome, StopReason, normalize_stop_reason
from . import models
from ._scan import is_json
from ._streams import Stream, fold_streams
from .cut import cut_context, tail_of
from .extract import Extraction, Found

__all__ = ["Facts", "gather"]

_NEAR = 30  # lines between a status line and the body it belongs to


@dataclass(slots=True)
class Facts:
    dialect: str | None = None
    relay: list[str] = field(default_factory=list)
    raw_claude_reason: bool = False  # a Claude stop reason on the OpenAI wire
    stream: bool | None = None
    state: str | None = None
    stop_raw: str | None = None
    stop_normalized: str | None = None
    stream_terminated: bool | None = None
    log_cut_at_start: bool = False
    output_tokens: int | None = None
    output_tokens_estimated: bool = False
    input_tokens: int | None = None
    reasoning_tokens: int | None = None
    usage_reported: bool | None = None
    requested_max_tokens: int | None = None
    cap: int | None = None
    cap_source: str | None = None  # request | relay_default | model_ceiling | error_message
    cap_default_of: list[str] = field(default_factory=list)
    model: str | None = None
    model_ceiling: int | None = None
    response_id: str | None = None
    text_tail: str | None = None
    text_chars: int | None = None
    cut_in: str | None = None
    cut_lang: str | None = None
    thinking_chars: int | None = None
    tool_call_cut: bool = False
    tool_json_tail: str | None = None
    tool_name: str | None = None
    status: int | None = None
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    mid_stream_error: bool = False
    retry_after: float | None = None
    rate_limit: dict[str, str] = field(default_factory=dict)
    request_id: str | None = None
    exception: str | None = None
    html_title: str | None = None
    cdn_markers: list[str] = field(default_factory=list)
    anomalies: dict[str, int] = field(default_factory=dict)
    streams: int = 0
    gateways: list[str] = field(default_factory=list)  # relay/gateway products the log names
    earlier_stops: list[str] = field(default_factory=list)  # stop reasons of streams before the last
    # Where each fact came from: fact name -> 1-based log line.
    lines: dict[str, int] = field(default_factory=dict)
    outcome: Outcome | None = None
    request: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.__slots__:
            if name in ("lines", "outcome", "request", "earlier_stops", "anomalies", "streams"):
                continue
            value = getattr(self, name)
            if value is None or value == [] or value == {} or value is False:
                continue
            out[name] = value
        return out


def gather(ex: Extraction) -> Facts:
    f = Facts()
    request = _last_request(ex.objects)
    if request is not None:
        f.request, line = request
        mt = next(
            (
                f.request.get(k)
                for k in ("max_tokens", "max_completion_tokens", "max_output_tokens")
                if isinstance(f.request.get(k), int)
            ),
            None,
        )
        if mt is not None:
            f.requested_max_tokens = mt
            f.lines["requested_max_tokens"] = line
        if isinstance(f.request.get("model"), str):
            f.model = f.request["model"]
    streams = fold_streams(ex, f.requested_max_tokens)
    f.streams = len(streams)
    if streams:
        _from_stream(f, streams[-1])
        f.earlier_stops = [s.outcome.stop.raw or "" for s in streams[:-1] if s.outcome is not None]
    else:
        _from_body(f, ex.objects)
    _from_errors(f, ex)
    _from_headers(f, ex)
    _from_key_values(f, ex)
    _cap(f, ex.signals.gateways)
    sig = ex.signals
    f.gateways = list(sig.gateways)
    f.html_title = sig.html_title if sig.html else None
    f.cdn_markers = sorted({m.lower(): m for _, m in sig.cdn}.values(), key=str.lower)
    if sig.cdn:
        f.lines.setdefault("cdn", sig.cdn[0][0])
    if sig.html:
        f.lines.setdefault("html", sig.html[0])
    if sig.exceptions:
        line, name, _msg = sig.exceptions[-1]
        f.exception = name
        f.lines["exception"] = line
    return f


# `key: value`, `key=value` and table-ish spellings of the facts people paste outside any JSON:
# `HTTP 200 | stop_reason: max_tokens | output_tokens: 140`, aider's `Output tokens: 3220 of
# 4096`, a dataclass repr's `stop_reason=max_tokens`. Only facts nothing structured gave.
_KV_STOP = re.compile(r"(?:stop_?reason|finish_?reason)[\"']?\s{0,3}[:=]\s{0,3}[\"']?([A-Za-z_]{3,40})", re.I)
_KV_OUTPUT = re.compile(
    r"output[_ ]tokens[\"']?\s{0,3}[:=]\s{0,3}[\"']?(\d[\d,]{0,12})(?:\s+of\s+(\d[\d,]{0,12}))?", re.I
)
_KV_INPUT = re.compile(r"(?:input|prompt)[_ ]tokens[\"']?\s{0,3}[:=]\s{0,3}[\"']?(\d[\d,]{0,12})", re.I)
_KV_MAX = re.compile(r"max_tokens[\"']?\s{0,3}[:=]\s{0,3}[\"']?(\d{1,9})\b")
_KV_HINTS = ("reason", "tokens")
_KV_LINES = 20_000  # from the end: the failure is near it, and a 10 MB paste stays fast


def _int(text: str) -> int:
    return int(text.replace(",", ""))


_CELLS = re.compile(r"\t| {2,}")
_COLUMNS = {"output tokens": "output_tokens", "input tokens": "input_tokens", "model": "model"}


def _from_table(f: Facts, ex: Extraction) -> None:
    """A table a client printed (aider's usage log: ``Time\tModel\t...\tOutput Tokens``): the
    first row under a header naming token columns."""
    if "output tokens" not in ex.scan_text:
        return  # the common case, without a pass over every line
    lines = ex.scan_lines or ex.lines
    for no, line in enumerate(lines, 1):
        low = line.lower()
        if "output tokens" not in low or not _CELLS.search(line):
            continue
        header = [c.strip().lower() for c in _CELLS.split(line.strip())]
        for row_no in range(no, min(no + 3, len(ex.lines))):
            row = [c.strip() for c in _CELLS.split(lines[row_no].strip())]
            if len(row) < len(header) - 1 or not row[0]:
                continue
            for name, cell in zip(header, row, strict=False):
                fact = _COLUMNS.get(name)
                if fact == "model" and f.model is None and cell:
                    f.model = cell
                elif fact and cell.replace(",", "").isdigit() and getattr(f, fact) is None:
                    setattr(f, fact, _int(cell))
                    f.lines.setdefault(fact, row_no + 1)
            return


def _from_key_values(f: Facts, ex: Extraction) -> None:
    _from_table(f, ex)
    # As the signal scan reads them: a response body's strings are its answer, not facts.
    lines = ex.scan_lines or ex.lines
    first = max(0, len(lines) - _KV_LINES)
    for no in range(len(lines), first, -1):
        line = lines[no - 1]
        low = line.lower()
        if not any(h in low for h in _KV_HINTS) or "data:" in ex.lines[no - 1].lower():
            continue  # SSE payloads were folded already (and may quote anything)
        if f.stop_raw is None and (m := _KV_STOP.search(line)) is not None:
            raw = m.group(1)
            if normalize_stop_reason(raw) not in (StopReason.UNKNOWN, StopReason.MISSING):
                f.stop_raw, f.stop_normalized = raw, normalize_stop_reason(raw).value
                f.lines.setdefault("stop_reason", no)
        if f.output_tokens is None and (m := _KV_OUTPUT.search(line)) is not None:
            f.output_tokens = _int(m.group(1))
            f.lines.setdefault("output_tokens", no)
            if m.group(2) and f.cap is None:
                f.cap, f.cap_source = _int(m.group(2)), "log"
        if f.input_tokens is None and (m := _KV_INPUT.search(line)) is not None:
            f.input_tokens = _int(m.group(1))
        if f.requested_max_tokens is None and (m := _KV_MAX.search(line)) is not None:
            f.requested_max_tokens = int(m.group(1))
            f.lines.setdefault("requested_max_tokens", no)


def _last_request(objects: list[Found]) -> tuple[dict[str, Any], int] | None:
    for found in reversed(objects):
        obj = found.obj
        is_request = isinstance(obj.get("messages"), list) or isinstance(obj.get("input"), list)
        if is_request and "choices" not in obj and obj.get("type") != "message":
            return obj, found.line
    return None


def _from_outcome(f: Facts, out: Outcome) -> None:
    f.outcome = out
    f.dialect = out.dialect
    f.state = out.state.value
    f.stop_raw = out.stop.raw
    f.stop_normalized = out.stop.normalized.value
    f.model = out.model or f.model
    f.response_id = out.id
    f.relay = list(out.relay)
    f.raw_claude_reason = out.dialect == "openai" and out.stop.raw in models.CLAUDE_STOP_REASONS
    usage = out.usage
    if "output_tokens" in usage.reported or "output_tokens" in usage.estimated:
        f.output_tokens = usage.output_tokens
        f.output_tokens_estimated = "output_tokens" in usage.estimated
    if "input_tokens" in usage.reported:
        f.input_tokens = (
            usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens
        )
    if usage.reasoning_tokens:
        f.reasoning_tokens = usage.reasoning_tokens
    f.usage_reported = bool(usage.reported)
    f.anomalies = dict(out.anomalies)
    text = out.text
    if "\n" not in text and "\\n" in text:
        # The log escaped the text once more than the wire did (a repr of a repr): read the
        # escapes as the characters they stood for, for the cut analysis only.
        text = text.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"')
    f.text_chars = len(text)
    if text:
        f.text_tail = tail_of(text)
    f.cut_in, f.cut_lang = cut_context(text)
    thinking = sum(len(b.get("thinking") or "") for b in out.content if b.get("type") == "thinking")
    if thinking:
        f.thinking_chars = thinking
    last = out.content[-1] if out.content else None
    if last is not None and last.get("type") in ("tool_use", "tool_call"):
        f.tool_name = str(last.get("name") or "") or None
    if out.tool_json:
        last_json = list(out.tool_json.values())[-1]
        f.tool_json_tail = tail_of(last_json) if last_json else None
    # A tool input that is not whole JSON was cut, whatever the reason says (a relay's capped
    # call can arrive labelled `tool_calls`).
    if any(buf.strip() and not is_json(buf) for buf in out.tool_json.values()) or (
        out.stop.normalized is StopReason.MAX_TOKENS
        and last is not None
        and last.get("type") in ("tool_use", "tool_call")
    ):
        f.tool_call_cut = True
    if out.error is not None:
        _from_error(f, out.error, mid_stream=True)


def _from_stream(f: Facts, s: Stream) -> None:
    assert s.outcome is not None  # fold_streams finishes every stream
    f.stream = True
    _from_outcome(f, s.outcome)
    f.stream_terminated = s.terminated or s.stop_line is not None
    f.log_cut_at_start = s.cut_at_start
    for name, line in (
        ("stop_raw", s.stop_line),
        ("usage", s.usage_line),
        ("text", s.text_line),
        ("error", s.error_line),
        ("done", s.done_line),
    ):
        if line is not None:
            f.lines[name] = line
    if f.stop_raw is None and s.lines:
        f.lines.setdefault("last_event", s.lines[-1])


def _from_body(f: Facts, objects: list[Found]) -> None:
    for found in reversed(objects):
        obj = found.obj
        if obj.get("type") == "message" or obj.get("object") in ("chat.completion", "response"):
            try:
                out = parse_body(obj, max_tokens=f.requested_max_tokens)
            except ProtocolError:
                continue
            f.stream = False
            _from_outcome(f, out)
            f.lines["stop_raw"] = f.lines["usage"] = f.lines["text"] = found.line
            return


def _status_near(ex: Extraction, line: int) -> int | None:
    best: int | None = None
    for sline, status in ex.signals.statuses:
        if sline == line:
            return status
        if line - _NEAR <= sline < line:
            best = status
        elif sline > line:
            break
    return best


def _from_errors(f: Facts, ex: Extraction) -> None:
    """The last error body in the log (an HTTP error outranks an earlier stream's end)."""
    if f.error_type is not None:
        return  # a mid-stream error event already told us
    for found in reversed(ex.objects):
        obj = found.obj
        err = obj.get("error")
        if err is None or "choices" in obj:
            continue
        status = _status_near(ex, found.line)
        # An error printed after a stream that never ended, with no HTTP status of its own, is
        # the error event the SDK raised mid-stream (it reports status 200 for those).
        after_cut = (
            f.stream is True
            and f.stream_terminated is False
            and found.line > max(f.lines.values(), default=0)
        )
        mid = status == 200 or (status is None and after_cut)
        if mid:
            status = 200
        elif status is None:
            etype = err.get("type") if isinstance(err, dict) else None
            code = err.get("code") if isinstance(err, dict) else None
            guessed = STATUS_OF_TYPE.get(etype if isinstance(etype, str) else "") or (
                code if isinstance(code, int) and 400 <= code <= 599 else None
            )
            status = guessed or status
        if status is None:
            status = 0
        _from_error(f, error_from_payload(status, obj, None), mid_stream=mid)
        f.lines["error"] = found.line
        if status:
            f.lines.setdefault("status", found.line)
        return
    if ex.signals.statuses:
        line, status = next(
            ((ln, st) for ln, st in reversed(ex.signals.statuses) if st >= 400), ex.signals.statuses[-1]
        )
        if status >= 400:
            title = ex.signals.html_title or ex.text_of(line).strip()
            _from_error(f, error_from_payload(status, None, None, text=title), mid_stream=False)
            f.lines["status"] = line


def _from_error(f: Facts, err: APIError, *, mid_stream: bool) -> None:
    f.status = err.status or None
    f.error_type = err.error_type
    f.error_code = err.code
    f.error_message = err.message
    f.request_id = err.request_id or f.request_id
    f.mid_stream_error = mid_stream or err.status == 200
    if f.dialect is None and err.dialect is not None:
        f.dialect = err.dialect


def _from_headers(f: Facts, ex: Extraction) -> None:
    headers = ex.signals.headers
    for name in ("request-id", "x-request-id"):
        if name in headers and f.request_id is None:
            f.request_id = headers[name][1]
            f.lines["request_id"] = headers[name][0]
    retry: dict[str, str] = {n: headers[n][1] for n in ("retry-after-ms", "retry-after") if n in headers}
    if retry and f.retry_after is None:
        f.retry_after = parse_retry_after(retry)
        if f.retry_after is not None:
            f.lines["retry_after"] = headers[
                "retry-after-ms" if "retry-after-ms" in retry else "retry-after"
            ][0]
    for name, (line, value) in headers.items():
        if "ratelimit" in name:
            f.rate_limit[name] = value
            f.lines.setdefault("rate_limit", line)


def _cap(f: Facts, gateways: list[str]) -> None:
    """Which cap the output ran into, and how we know it. A relay default is only inferred when
    something in the log says a relay or gateway sat in between: a direct API stream that stops
    at 8192 may just as well have asked for 8192."""
    f.model_ceiling = models.model_ceiling(f.model)
    limit = _ceiling_from_message(f.error_message)
    if limit is not None:
        f.model_ceiling = limit
    if f.requested_max_tokens is not None:
        f.cap, f.cap_source = f.requested_max_tokens, "request"
        return
    if f.output_tokens is None or f.output_tokens_estimated:
        return
    relays = list(models.relays_with_default(f.output_tokens)) if (f.relay or gateways) else []
    if f.model_ceiling is not None and f.output_tokens == f.model_ceiling:
        f.cap, f.cap_source, f.cap_default_of = f.output_tokens, "model_ceiling", relays
    elif relays:
        f.cap, f.cap_source, f.cap_default_of = f.output_tokens, "relay_default", relays


def _ceiling_from_message(message: str | None) -> int | None:
    """``max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens``
    (Anthropic) or ``This model supports at most 16384 completion tokens`` (OpenAI): the texts
    of the one catalog (stopwise.error_texts) the finisher learns ceilings from too."""
    if not message:
        return None
    m = CEILING_TEXT.search(message) or CEILING_TEXT_OPENAI.search(message)
    return int(m.group(1).replace(",", "")) if m else None
