"""Rules from facts to the categories of brief/diagnosis.md (names used verbatim).

The order of the rules is the order of precedence: an HTTP error the log ends in explains more
than the stream before it; among stream outcomes the most specific truncation wins (a cut tool
call before a plain cap). Error texts are matched only where the API gives no other machine-
readable signal (the 400s of brief/wire.md); everything else goes by status, type and code.

Secondary categories (``also``) are independent findings that hold at the same time, e.g. the
seed report: truncated at ``max_tokens``, by a relay's default cap, with the reason mis-mapped.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from .. import error_texts
from ..errors import is_quota_error
from ._signals import time_of
from .extract import Extraction
from .facts import Facts

__all__ = ["CATEGORIES", "Verdict", "classify"]

CATEGORIES = (
    "truncated_max_tokens",
    "truncated_length",
    "truncated_tool_use",
    "thinking_exhausted_budget",
    "gateway_default_max_tokens",
    "relay_stop_reason_mismapped",
    "pause_turn_unhandled",
    "pause_turn_resubmit_misordered",
    "refusal",
    "content_filter",
    "context_window_exceeded",
    "context_window_exceeded_by_max_tokens",
    "stop_model_context_window_exceeded",
    "invalid_request_trailing_whitespace",
    "invalid_request_empty_text_block",
    "invalid_request_tool_use_without_tool_result",
    "invalid_request_tool_result_without_tool_use",
    "invalid_request_max_tokens_above_model_limit",
    "invalid_request_thinking_budget",
    "invalid_request_unsupported_parameter",
    "invalid_request_prefill_unsupported",
    "auth_invalid_api_key",
    "permission_denied_region",
    "forbidden_waf_user_agent",
    "model_not_found",
    "relay_no_available_channel",
    "request_too_large",
    "rate_limited",
    "insufficient_quota",
    "api_internal_error",
    "overloaded",
    "overloaded_mid_stream",
    "stream_interrupted",
    "proxy_buffering",
    "sse_malformed_line",
    "stream_usage_missing",
    "unknown",
)

# The 400s whose only machine-readable signal is their text (brief/wire.md "Exact 400 texts"):
# their catalog texts (error_texts.CATALOG, in its order) decide before status and type do.
_TEXT_CATEGORIES = frozenset(
    {
        "invalid_request_trailing_whitespace",
        "invalid_request_prefill_unsupported",
        "invalid_request_empty_text_block",
        "invalid_request_tool_use_without_tool_result",
        "invalid_request_tool_result_without_tool_use",
        "invalid_request_max_tokens_above_model_limit",
        "invalid_request_thinking_budget",
        "context_window_exceeded_by_max_tokens",
        "context_window_exceeded",
        "content_filter",
        "invalid_request_unsupported_parameter",
        "permission_denied_region",
        "insufficient_quota",
    }
)
_TEXT_RULES = tuple(
    (e.category, e.text) for e in error_texts.CATALOG if e.category in _TEXT_CATEGORIES and e.weight >= 0.9
)
_OPENAI_WINDOW = re.compile(r"maximum context length is (\d+) tokens.{0,80}?\((\d+) in the messages", re.S)
# A response body cut short: whatever was being read was incomplete.
_BODY_CUT = (
    "incomplete chunked read",
    "peer closed connection",
    "remoteprotocolerror",
    "chunkedencodingerror",
    "incompleteread",
)
# Transport failures that only mean a cut stream when the log shows a stream (without one, a
# connect failure or a slow non-stream answer fits them just as well, and no category says so).
_TRANSPORT = (
    "connection reset",
    "readtimeout",
    "apitimeouterror",
    "read timed out",
    "server disconnected",
    "readerror",
    "apiconnectionerror",
)


@dataclass(slots=True)
class Verdict:
    category: str
    confidence: float
    also: list[str] = field(default_factory=list)
    evidence: list[int] = field(default_factory=list)  # 1-based line numbers
    matched: str | None = None  # the error text a rule matched, when one did


def classify(f: Facts, ex: Extraction) -> Verdict:
    """Weigh every piece of evidence for every category: what the wire core reconstructed and the
    rules below read from it (status, type, code, stop reason, stream shape), the catalog's texts
    anywhere in the log, HTTP statuses in any spelling, the SDKs' exception names. Each is a
    probability that its category is the cause; per kind the strongest counts, and the kinds
    combine as independent (1 - the product of 1 - w), so two kinds of hint outweigh one. The
    best is the primary, the runners-up with a score of their own are ``also``; ``unknown`` only
    when nothing in the log points at a failure."""
    ruled = _ruled(f, ex)
    # Per kind of evidence, the strongest piece: the same fact written three ways (a 429 status
    # line, "Too Many Requests", rate_limit_error) is one piece, not three.
    kinds: dict[str, dict[str, float]] = {}
    lines: dict[str, list[int]] = {}

    def add(kind: str, category: str, weight: float, line: int | None = None) -> None:
        best = kinds.setdefault(kind, {})
        best[category] = max(best.get(category, 0.0), weight)
        if line is not None:
            lines.setdefault(category, []).append(line)

    if ruled.category != "unknown":
        add("rules", ruled.category, ruled.confidence)
    for category in _secondary(f, ex):
        add("secondary", category, 0.3)
    # The parsed messages too: a body's JSON escapes (``\u5f53``) hide its text from the raw scan.
    parsed = " ".join(m for m in (f.error_message, *(e[2] for e in ex.signals.exceptions[-3:])) if m)
    text = ex.scan_text + " \n " + error_texts.normalize(parsed)
    hits = error_texts.find(text)
    failing = (
        ruled.category != "unknown"
        or any(status >= 400 for _, status in ex.signals.statuses)
        or bool(ex.signals.exceptions)
        or any(not e.hint for e, _ in hits)
    )
    lowered = [line.lower().replace("`", "") for line in ex.lines] if hits else []
    for entry, _ in hits:
        if entry.hint and not failing:
            continue  # a healthy response's own fields: no failure to explain
        add("texts", entry.category, entry.weight, _line_of(lowered, entry.text))
    # Loose spellings (`[500]`, `status 529`) are hints like the hint texts: a JSON list of
    # numbers is no status, so they count only where something else shows a failure.
    for line, status in (*ex.signals.statuses, *(ex.signals.loose_statuses if failing else ())):
        for category, weight in _STATUS_EVIDENCE.get(status, ()):
            add("status", category, weight, line)
    for line, name, _ in ex.signals.exceptions:
        short = name.rsplit(".", 1)[-1]
        for category, weight in _EXCEPTION_EVIDENCE.get(short, ()):
            add("exception", category, weight, line)
    scores: dict[str, float] = {}
    for strongest in kinds.values():
        for category, weight in strongest.items():
            scores[category] = 1 - (1 - scores.get(category, 0.0)) * (1 - weight)
    _adjust(scores, text)
    if not scores:
        return ruled
    best = max(scores, key=lambda c: (scores[c], c == ruled.category))
    if best in _REFINED_BY.get(ruled.category, ()):
        # The rules saw the specific case of what the texts name (a 529 mid-stream, a window
        # exceeded by the requested cap): the specific one is the diagnosis.
        best = ruled.category
    if best == ruled.category:
        verdict = ruled
        verdict.confidence = round(max(ruled.confidence, min(scores[best], 0.99)), 2)
    else:
        # Its own lines, and those of the facts (the error body the text was read from).
        own = lines.get(best, [])[:5]
        verdict = Verdict(best, round(min(scores[best], 0.99), 2), evidence=sorted({*own, *f.lines.values()}))
    runners = [c for c in sorted(scores, key=lambda c: -scores[c]) if c != best and scores[c] >= 0.5]
    verdict.also = list(dict.fromkeys([*ruled.also, *runners]))
    verdict.also = [c for c in verdict.also if c != best][:5]
    return verdict


_TRUNCATIONS = ("truncated_max_tokens", "truncated_length")
#: A rule's category -> the general ones it is a specific case of.
_REFINED_BY: dict[str, tuple[str, ...]] = {
    "overloaded_mid_stream": ("overloaded", "api_internal_error"),
    "context_window_exceeded_by_max_tokens": ("context_window_exceeded",),
    "pause_turn_unhandled": ("invalid_request_tool_use_without_tool_result",),
    "pause_turn_resubmit_misordered": (
        "pause_turn_unhandled",
        "invalid_request_tool_use_without_tool_result",
    ),
    "truncated_tool_use": _TRUNCATIONS,
    "thinking_exhausted_budget": _TRUNCATIONS,
    "gateway_default_max_tokens": _TRUNCATIONS,
    "relay_stop_reason_mismapped": _TRUNCATIONS,
}


def _line_of(lowered: list[str], needle: str) -> int | None:
    """The first line a catalog text starts on (its first words; a wrapped text ends later).
    ``lowered``: the log's lines as the catalog reads them, made once for every hit."""
    probe = needle[:24]
    for number, line in enumerate(lowered, 1):
        if probe in line:
            return number
    return None


# What an HTTP status alone says, wherever it is written: a hint other evidence must back.
_STATUS_EVIDENCE: dict[int, tuple[tuple[str, float], ...]] = {
    401: (("auth_invalid_api_key", 0.6),),
    402: (("insufficient_quota", 0.6),),
    403: (("permission_denied_region", 0.3), ("forbidden_waf_user_agent", 0.25)),
    404: (("model_not_found", 0.45),),
    408: (("stream_interrupted", 0.3),),
    413: (("request_too_large", 0.7),),
    429: (("rate_limited", 0.6),),
    500: (("api_internal_error", 0.5),),
    502: (("api_internal_error", 0.35),),
    503: (("api_internal_error", 0.3), ("overloaded", 0.3)),
    504: (("api_internal_error", 0.3),),
    524: (("overloaded", 0.4),),
    529: (("overloaded", 0.75),),
}
# The SDKs' (Python and JavaScript) and LiteLLM's exception classes.
_EXCEPTION_EVIDENCE: dict[str, tuple[tuple[str, float], ...]] = {
    "AuthenticationError": (("auth_invalid_api_key", 0.6),),
    "RateLimitError": (("rate_limited", 0.6),),
    "NotFoundError": (("model_not_found", 0.45),),
    "PermissionDeniedError": (("permission_denied_region", 0.3),),
    "InternalServerError": (("api_internal_error", 0.5),),
    "ServiceUnavailableError": (("overloaded", 0.35), ("api_internal_error", 0.3)),
    "OverloadedError": (("overloaded", 0.7),),
    "ContextWindowExceededError": (("context_window_exceeded", 0.85),),
    "ContentPolicyViolationError": (("content_filter", 0.85),),
    "LengthFinishReasonError": (("truncated_length", 0.9),),
    "RemoteProtocolError": (("stream_interrupted", 0.6),),
    "ChunkedEncodingError": (("stream_interrupted", 0.7),),
    "IncompleteRead": (("stream_interrupted", 0.7),),
    "ProtocolError": (("stream_interrupted", 0.4),),
    "JSONDecodeError": (("sse_malformed_line", 0.35),),
    "UnprocessableEntityError": (("invalid_request_unsupported_parameter", 0.3),),
    "BudgetExceededError": (("insufficient_quota", 0.7),),
}


def _adjust(scores: dict[str, float], text: str) -> None:
    """Where two categories share their texts, what tells them apart."""
    m = _OPENAI_WINDOW.search(text)
    if m and int(m.group(2)) <= int(m.group(1)) and "context_window_exceeded" in scores:
        # The messages alone fit: the requested completion pushed it over.
        scores["context_window_exceeded_by_max_tokens"] = max(
            scores.get("context_window_exceeded_by_max_tokens", 0.0), scores["context_window_exceeded"] + 0.01
        )
    unpaired = scores.get("invalid_request_tool_use_without_tool_result")
    if unpaired and "pause_turn_unhandled" in scores and ("srvtoolu_" in text or "server_tool_use" in text):
        # The unpaired block is a server tool's: a paused turn sent back as if it were done.
        scores["pause_turn_unhandled"] = max(scores["pause_turn_unhandled"], unpaired + 0.01)
    if scores.get("relay_no_available_channel", 0.0) >= 0.85:
        # A relay's distributor reports "no channel" as model_not_found: the relay's mapping.
        scores.pop("model_not_found", None)
    if "overloaded" in scores and ("event: error" in text or "while streaming" in text):
        # An overloaded_error as an SSE error event: inside a 200 stream, after partial output.
        scores["overloaded_mid_stream"] = max(
            scores.get("overloaded_mid_stream", 0.0), scores["overloaded"] + 0.01
        )
    by_cap = scores.get("context_window_exceeded_by_max_tokens", 0.0)
    if by_cap >= 0.8 and "context_window_exceeded" in scores:
        # "However, you requested N tokens (M in the messages, K in the completion)" names both.
        scores["context_window_exceeded_by_max_tokens"] = max(
            by_cap, scores["context_window_exceeded"] + 0.01
        )


def _ruled(f: Facts, ex: Extraction) -> Verdict:
    # A log with only a traceback line has its message there, not in a parsed body.
    last_exc = ex.signals.exceptions[-1][2] if ex.signals.exceptions else ""
    # Backticks come and go between API versions of the same message; match without them.
    lowered = (f.error_message or last_exc).lower().replace("`", "")
    for rule in (_by_text, _by_status, _by_exception, _by_stop, _by_stream, _by_framing):
        verdict = rule(f, ex, lowered)
        if verdict is not None:
            break
    else:
        verdict = Verdict("unknown", 0.0)
    verdict.also = [c for c in _secondary(f, ex) if c != verdict.category]
    # Every fact remembers its line: those lines are the evidence, with any the rule added.
    verdict.evidence = sorted({*verdict.evidence, *f.lines.values()})
    return verdict


def _by_text(f: Facts, ex: Extraction, msg: str) -> Verdict | None:
    if f.status is not None and f.status < 400 and not f.mid_stream_error:
        return None
    for category, needle in _TEXT_RULES:
        if needle in msg:
            return _refine_text(Verdict(category, 0.95, matched=needle), f, ex, msg)
    if "server_tool_use" in msg or "pause_turn" in msg:
        ordered = any(w in msg for w in ("last message", "final message", "must be the last", "at the end"))
        return Verdict("pause_turn_resubmit_misordered" if ordered else "pause_turn_unhandled", 0.8)
    return None


def _refine_text(v: Verdict, f: Facts, ex: Extraction, msg: str) -> Verdict:
    if v.category == "invalid_request_tool_use_without_tool_result" and (
        "server_tool_use" in msg or "srvtoolu_" in msg or "pause_turn" in f.earlier_stops
    ):
        # The unpaired block came from a paused server-tool turn sent back as if it were done.
        return Verdict("pause_turn_unhandled", 0.9, matched=v.matched)
    m = _OPENAI_WINDOW.search(msg)
    if v.category == "context_window_exceeded" and m and int(m.group(2)) <= int(m.group(1)):
        return Verdict("context_window_exceeded_by_max_tokens", 0.9, matched=v.matched)
    if v.category == "insufficient_quota" and f.status not in (None, 402, 429, 400, 403):
        v.confidence = 0.7
    return v


def _by_status(f: Facts, ex: Extraction, msg: str) -> Verdict | None:
    status, etype, code = f.status or 0, f.error_type, f.error_code
    if status < 400 and not etype:
        return None
    if status == 401 or etype == "authentication_error" or code == "invalid_api_key":
        return Verdict("auth_invalid_api_key", 0.9)
    if is_quota_error(status, etype, code):
        return Verdict("insufficient_quota", 0.95)
    if status == 403 and (ex.signals.html or ex.signals.cdn):
        return Verdict("forbidden_waf_user_agent", 0.85)
    if status == 404 or etype == "not_found_error" or code == "model_not_found":
        about_model = "model" in msg or code == "model_not_found"
        return Verdict("model_not_found", 0.9 if about_model else 0.5)
    if status == 413 or etype == "request_too_large":
        return Verdict("request_too_large", 0.95)
    if status == 429 or etype == "rate_limit_error":
        return Verdict("rate_limited", 0.9)
    if status == 529 or etype == "overloaded_error":
        if f.mid_stream_error or status == 200:
            return Verdict("overloaded_mid_stream", 0.95 if f.text_chars else 0.8)
        return Verdict("overloaded", 0.95)
    if status >= 500 or etype in ("api_error", "timeout_error"):
        return Verdict("api_internal_error", 0.85 if (status == 500 or etype == "api_error") else 0.6)
    return None


def _by_exception(f: Facts, ex: Extraction, msg: str) -> Verdict | None:
    for line, name, text in reversed(ex.signals.exceptions):
        blob = f"{name} {text}".lower()
        if "lengthfinishreasonerror" in blob:
            return Verdict("truncated_length", 0.9, evidence=[line])
        body_cut = any(n in blob for n in _BODY_CUT)
        if body_cut or (f.stream and any(n in blob for n in _TRANSPORT)):
            if f.stream_terminated:
                continue  # the stream we see ended properly: the error belongs to something else
            return Verdict("stream_interrupted", 0.85 if f.stream else 0.7, evidence=[line])
        if "jsondecodeerror" in blob and (ex.data or ex.done):
            return Verdict("sse_malformed_line", 0.8, evidence=[line, *ex.done_nospace[:1], *ex.bad_data[:3]])
    return None


def _by_stop(f: Facts, ex: Extraction, msg: str) -> Verdict | None:
    raw, norm = f.stop_raw, f.stop_normalized
    if f.outcome is not None and any(b.get("type") == "refusal" for b in f.outcome.content):
        return Verdict("refusal", 0.9)
    if raw == "refusal":
        return Verdict("refusal", 0.95)
    if raw == "content_filter":
        return Verdict("content_filter", 0.95)
    if raw == "model_context_window_exceeded":
        return Verdict("stop_model_context_window_exceeded", 0.95)
    if raw == "pause_turn":
        return Verdict("pause_turn_unhandled", 0.6)
    if norm == "max_tokens" or f.state == "truncated":
        if f.request is not None and f.requested_max_tokens is None and f.cap_source == "relay_default":
            # The logged request proves the caller sent no max_tokens: the relay's default is
            # the cause, the truncation its symptom (listed in `also`).
            return Verdict("gateway_default_max_tokens", 0.9)
        if f.tool_call_cut:
            return Verdict("truncated_tool_use", 0.9)
        if not (f.text_chars or 0) and (f.thinking_chars or f.reasoning_tokens):
            return Verdict("thinking_exhausted_budget", 0.9)
        if raw == "max_tokens":
            return Verdict("truncated_max_tokens", 0.95)
        if raw in ("length", "max_output_tokens"):
            return Verdict("truncated_length", 0.95)
        # Truncated by the cap while the reason says it ended normally: the reason is wrong.
        return Verdict("relay_stop_reason_mismapped", 0.8)
    return None


def _by_stream(f: Facts, ex: Extraction, msg: str) -> Verdict | None:
    if not f.stream:
        return None
    if f.stop_raw is None and not f.mid_stream_error:
        if ex.done:
            # [DONE] arrived but no chunk carried a finish reason: one-api drops that chunk
            # (brief/wire.md), so the caller cannot tell a cap from a normal end.
            return Verdict("relay_stop_reason_mismapped", 0.7)
        return Verdict("stream_interrupted", 0.85 if f.text_chars else 0.6)
    if _buffered(f, ex):
        return Verdict("proxy_buffering", 0.7)
    return None


def _by_framing(f: Facts, ex: Extraction, msg: str) -> Verdict | None:
    if ex.done_nospace or ex.bad_data or ex.retry_only:
        return Verdict(
            "sse_malformed_line", 0.6, evidence=[*ex.done_nospace[:2], *ex.bad_data[:3], *ex.retry_only[:2]]
        )
    if f.stream and f.dialect == "openai" and f.state == "complete" and not f.usage_reported:
        return Verdict("stream_usage_missing", 0.6)
    return None


def _buffered(f: Facts, ex: Extraction) -> bool:
    """Tokens delivered in bursts: most gaps near zero, and a few long waits (or one long wait
    before the first token and nothing after). Needs timestamps on the data lines."""
    if len(ex.data) < 8:
        return False
    times = [t for d in ex.data if (t := time_of(ex.text_of(d.line))) is not None]
    if len(times) < 8:
        return False
    gaps = [b - a for a, b in itertools.pairwise(times) if b >= a]
    if not gaps:
        return False
    tiny = sum(1 for g in gaps if g < 0.01)
    first = ex.data[0].line
    before = [
        t for n in range(first - 1, max(0, first - 50), -1) if (t := time_of(ex.text_of(n))) is not None
    ]
    ttft = times[0] - before[0] if before else 0.0
    return tiny >= 0.8 * len(gaps) and (max(gaps) >= 2.0 or ttft >= 5.0)


def _secondary(f: Facts, ex: Extraction) -> list[str]:
    also: list[str] = []
    truncated = f.stop_normalized == "max_tokens" or f.state == "truncated"
    if truncated and f.stop_raw in ("max_tokens", "length"):
        also.append("truncated_max_tokens" if f.stop_raw == "max_tokens" else "truncated_length")
    if truncated and f.cap_source == "relay_default" and f.requested_max_tokens is None:
        also.append("gateway_default_max_tokens")
    if f.stream and f.stop_raw is None and ex.done and f.cap_source == "relay_default":
        also.append("gateway_default_max_tokens")
    if f.raw_claude_reason:
        also.append("relay_stop_reason_mismapped")
    if f.stream and f.dialect == "openai" and f.usage_reported is False and f.stream_terminated:
        also.append("stream_usage_missing")
    if ex.done_nospace or ex.bad_data:
        also.append("sse_malformed_line")
    return list(dict.fromkeys(also))
