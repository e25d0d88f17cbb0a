"""Summary, cause, fix and prevention in the reader's language, with the log's numbers filled in.

Each language module holds the same keys (the tests check that); this module only decides which
sentences apply to the facts and fills them. Facts and category names are never translated.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from . import texts_en, texts_zh_cn, texts_zh_tw
from .classify import Verdict
from .extract import Extraction
from .facts import Facts

__all__ = ["LANGS", "Explanation", "explain", "texts_for"]

LANGS: dict[str, ModuleType] = {"en": texts_en, "zh-CN": texts_zh_cn, "zh-TW": texts_zh_tw}
# Answers cut by a token cap: continuing them is the fix, checking the reason the prevention.
_CAPPED = frozenset(
    {"truncated_max_tokens", "truncated_length", "gateway_default_max_tokens", "relay_stop_reason_mismapped"}
)
_TRUNCATIONS = frozenset(
    {
        "truncated_max_tokens",
        "truncated_length",
        "gateway_default_max_tokens",
        "relay_stop_reason_mismapped",
        "stream_interrupted",
        "overloaded_mid_stream",
    }
)

_RESPONSE_STATUSES = frozenset({"completed", "failed", "cancelled", "in_progress", "queued"})


def _stop_field(dialect: str | None, raw: str) -> str:
    """The wire field the stop reason was read from: the Responses API says `status`, and only
    an incomplete response names its reason in `incomplete_details.reason`."""
    if dialect == "anthropic":
        return "stop_reason"
    if dialect == "responses":
        return "status" if raw in _RESPONSE_STATUSES else "incomplete_details.reason"
    return "finish_reason"


@dataclass(frozen=True, slots=True)
class Explanation:
    summary: str
    cause: str
    fix: str
    prevention: str


class _Fill(dict[str, Any]):
    """Format values with a per-language fallback for anything the log did not show."""

    def __init__(self, values: Mapping[str, Any], defaults: Mapping[str, str]) -> None:
        super().__init__({k: v for k, v in values.items() if v is not None})
        self.defaults = defaults

    def __missing__(self, key: str) -> str:
        return self.defaults.get(key, "?")


def texts_for(lang: str) -> ModuleType:
    return LANGS.get(lang, texts_en)


def _fmt(template: str, fill: _Fill) -> str:
    return string.Formatter().vformat(template, (), fill)


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def explain(f: Facts, v: Verdict, ex: Extraction, lang: str = "en") -> Explanation:
    t = texts_for(lang)
    frag: dict[str, str] = t.FRAG
    values: dict[str, Any] = {
        "model": f.model,
        "status": f.status,
        "etype": f.error_type,
        "code": f.error_code,
        "msg": (f.error_message or "")[:300] or None,
        "raw": f.stop_raw,
        "out": f.output_tokens,
        "cap": f.cap,
        "inp": f.input_tokens,
        "ceiling": f.model_ceiling,
        "retry": _number(f.retry_after),
        "tool": f.tool_name,
        "title": f.html_title,
        "relays": " / ".join(f.cap_default_of) or None,
        "rid": f.request_id,
        "limit": f.model_ceiling,
        "markers": ", ".join(f.cdn_markers) or None,
        "exception": f.exception,
    }
    values["retry_part"] = (
        _fmt(frag["retry_part"], _Fill(values, t.DEFAULTS))
        if f.retry_after is not None
        else frag["retry_part_none"]
    )
    values["title_part"] = _fmt(frag["title_part"], _Fill(values, t.DEFAULTS)) if f.html_title else ""
    values["part"] = frag["part_answer"] if f.stop_raw == "content_filter" else frag["part_prompt"]
    fill = _Fill(values, t.DEFAULTS)
    own = t.CATS_RESPONSES.get(v.category) if f.dialect == "responses" else None
    summary_t, cause_t, fix_t, prev_t = own or t.CATS[v.category]
    summary = [_fmt(summary_t, fill), *_what(f, v, t, fill, ex)]
    cause = [_fmt(cause_t, fill), *_causes(f, v, t, fill)]
    fix, prevention = [_fmt(fix_t, fill)], [_fmt(prev_t, fill)]
    cats = {v.category, *v.also}
    if "gateway_default_max_tokens" in cats and v.category != "gateway_default_max_tokens":
        # "Send max_tokens explicitly" replaces the category's "raise max_tokens": the cap was
        # never the caller's to raise.
        if v.category in ("truncated_max_tokens", "truncated_length"):
            fix = []
        fix.insert(0, _fmt(frag["fix_explicit"], fill))
    if v.category in _CAPPED:
        fix.append(frag["fix_continue"])
        if v.category != "relay_stop_reason_mismapped":
            prevention.append(frag["prev_truncation"])
    if f.relay and v.category in _TRUNCATIONS:
        prevention.append(frag["prev_relay"])
    return Explanation(*(t.SEP.join(p for p in parts if p) for parts in (summary, cause, fix, prevention)))


def _causes(f: Facts, v: Verdict, t: ModuleType, fill: _Fill) -> list[str]:
    """What the facts add to the category's cause: whose cap it was, what the relay did to the
    reason, and whether the cut left the text usable."""
    frag: dict[str, str] = t.FRAG
    cats = {v.category, *v.also}
    out: list[str] = []
    if "gateway_default_max_tokens" in cats and (
        v.category != "gateway_default_max_tokens" or f.cap_default_of
    ):
        out.append(_fmt(frag["cause_relay_default"], fill))
    elif f.cap_source == "model_ceiling" and v.category in _TRUNCATIONS:
        out.append(_fmt(frag["cause_model_ceiling"], fill))
    elif f.cap_source == "request" and v.category in ("truncated_max_tokens", "truncated_length"):
        out.append(_fmt(frag["cause_request_cap"], fill))
    if "relay_stop_reason_mismapped" in cats and f.raw_claude_reason:
        out.append(_fmt(frag["cause_raw_reason"], fill))
    elif v.category == "relay_stop_reason_mismapped" and f.stop_raw is None:
        out.append(frag["cause_no_finish"])
    elif v.category == "relay_stop_reason_mismapped" and f.cap_source == "request":
        out.append(_fmt(frag["cause_hidden_cap"], fill))
    if f.cut_in in ("sql", "code_fence", "json", "table") and v.category in _TRUNCATIONS:
        out.append(_fmt(frag["cause_cut"], _Fill({**fill, "cut": _cut(f, t)}, t.DEFAULTS)))
    return out


def _cut(f: Facts, t: ModuleType) -> str:
    template: str = t.CUT.get(f.cut_in or "", "")
    return template.replace("{lang}", f.cut_lang or "")


def _what(f: Facts, v: Verdict, t: ModuleType, fill: _Fill, ex: Extraction) -> list[str]:
    """The facts as sentences: only those the log showed."""
    frag: dict[str, str] = t.FRAG
    out: list[str] = []
    if v.category == "unknown":
        found = _found(f, ex, t)
        return (
            [_fmt(frag["unknown_found"], _Fill({"found": found}, t.DEFAULTS))]
            if found
            else [frag["unknown_nothing"]]
        )
    if f.stop_raw is not None:
        field = _stop_field(f.dialect, f.stop_raw)
        out.append(_fmt(frag["stop"], _Fill({**fill, "field": field}, t.DEFAULTS)))
    elif f.stream and v.category in _TRUNCATIONS:
        out.append(frag["stop_missing"])
    if f.output_tokens is not None:
        cap_part = _fmt(frag["cap_part"], fill) if f.cap is not None else ""
        if f.cap_source == "relay_default":
            cap_part += _fmt(frag["cap_inferred"], fill)
        if f.output_tokens_estimated:
            cap_part += frag["estimated"]
        key = "tokens" if f.input_tokens is not None else "tokens_out"
        out.append(_fmt(frag[key], _Fill({**fill, "cap_part": cap_part}, t.DEFAULTS)))
    if f.dialect:
        dialect = t.DIALECT.get(f.dialect, f.dialect)
        key = "model" if f.model else "dialect"
        out.append(_fmt(frag[key], _Fill({**fill, "dialect": dialect}, t.DEFAULTS)))
    elif f.model:
        out.append(_fmt(frag["model_only"], fill))
    if f.relay:
        out.append(_fmt(frag["relay"], _Fill({"signs": t.LIST_SEP.join(_relay_signs(f, frag))}, t.DEFAULTS)))
    if f.status or f.error_type:
        etype = f" {f.error_type}" if f.error_type else ""
        code = f" ({f.error_code})" if f.error_code and f.error_code != f.error_type else ""
        key = "status" if f.error_message else "status_bare"
        out.append(
            _fmt(
                frag[key],
                _Fill({**fill, "etype": etype, "code": code, "status": f.status or "200"}, t.DEFAULTS),
            )
        )
    if f.exception and v.category in ("stream_interrupted", "sse_malformed_line", "truncated_length"):
        out.append(_fmt(frag["exception"], fill))
    if f.request_id:
        out.append(_fmt(frag["rid"], fill))
    if f.retry_after is not None:
        out.append(_fmt(frag["retry"], fill))
    if v.category == "truncated_tool_use" and f.tool_json_tail:
        out.append(_fmt(frag["tool_cut"], _Fill({"tail": f.tool_json_tail}, t.DEFAULTS)))
    elif f.text_chars and f.cut_in and v.category in _TRUNCATIONS:
        out.append(_fmt(frag["cut"], _Fill({"cut": _cut(f, t), "tail": f.text_tail}, t.DEFAULTS)))
    if f.log_cut_at_start:
        out.append(frag["cut_start"])
    return out


def _relay_signs(f: Facts, frag: dict[str, str]) -> list[str]:
    """The relay evidence in the reader's language (the facts keep the wire core's wording)."""
    signs: list[str] = []
    if f.response_id and f.response_id.startswith("msg_"):
        signs.append(frag["relay_id"].format(rid=f.response_id))
    if f.model and "claude" in f.model.lower():
        signs.append(frag["relay_model"])
    if f.raw_claude_reason:
        signs.append(frag["relay_reason"].format(raw=f.stop_raw))
    return signs or list(f.relay)


def _found(f: Facts, ex: Extraction, t: ModuleType) -> str:
    words: dict[str, str] = t.FOUND
    parts: list[str] = []
    if ex.data:
        parts.append(words["sse"].format(n=len(ex.data)))
    if ex.objects:
        parts.append(words["json"].format(n=len(ex.objects)))
    if ex.signals.statuses:
        parts.append(words["status"].format(s=", ".join(sorted({str(s) for _, s in ex.signals.statuses}))))
    if f.stop_raw:
        parts.append(words["stop"].format(raw=f.stop_raw, state=f.state))
    if ex.signals.exceptions:
        parts.append(words["exception"].format(name=ex.signals.exceptions[-1][1]))
    if f.model:
        parts.append(words["model"].format(model=f.model))
    sep: str = t.LIST_SEP
    return sep.join(parts)
