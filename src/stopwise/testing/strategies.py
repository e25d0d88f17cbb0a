"""hypothesis strategies for whole upstream responses of both dialects and the requests they answer.

Each response strategy draws a complete, legitimate API response (the dict a non-stream call
returns) of the stop reason asked for, with usage consistent with the request's cap; render it
with :mod:`stopwise.testing.render`. :func:`anthropic_cases` and :func:`openai_cases` draw a
request body and its response together::

    from hypothesis import given
    from stopwise.testing.strategies import anthropic_cases

    @given(anthropic_cases(stop_reasons=["refusal"], at_cap=True))
    def test_refusal(case): ...
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from hypothesis import strategies as st

__all__ = [
    "ANTHROPIC_STOPS",
    "OPENAI_FINISHES",
    "STREAM_ONLY",
    "Behaviour",
    "Case",
    "RoundFault",
    "anthropic_body",
    "anthropic_cases",
    "anthropic_message",
    "anthropic_render_options",
    "behaviours",
    "json_values",
    "openai_body",
    "openai_cases",
    "openai_completion",
    "openai_render_options",
    "texts",
]

Dialect = Literal["anthropic", "openai"]

ANTHROPIC_STOPS = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn")
OPENAI_FINISHES = ("stop", "length", "tool_calls", "content_filter", "refusal")
PREFILL_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5")
NO_PREFILL_MODELS = ("claude-opus-4-6", "claude-sonnet-4-6")

_WORDS = (
    "the", "answer", "is", "a", "region", "total", "of", "revenue", "grew", "in", "each", "quarter",
    "Here", "is", "breakdown", "by", "and", "we", "see", "that", "data", "shows", "Q3", "2024",
    "north", "south", "because", "however", "note", "first", "second", "finally", "it", "was",
)  # fmt: skip
_CJK = ("今天", "天气", "很好", "我们", "去", "公园", "吧", "数据", "显示", "增长", "了", "百分之", "十",
        "。", "，", "！", "東京", "の", "売上", "は", "増加", "しました", "서울", "데이터")  # fmt: skip
_IDENT = ("x", "total", "rows", "value", "item", "result", "count", "name")


@st.composite
def _prose(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=24))
    out = []
    for i, w in enumerate(words):
        out.append(w)
        if i + 1 < len(words):
            out.append(draw(st.sampled_from((" ", " ", " ", ", ", ". ", ".\n\n", ": ", "\n"))))
    if draw(st.booleans()):
        out.append(draw(st.sampled_from((".", "!", "?", ":", "\n"))))
    return "".join(out)


@st.composite
def _table(draw: st.DrawFn) -> str:
    cols = draw(st.integers(1, 4))
    rows = draw(st.integers(0, 4))
    head = [draw(st.sampled_from(_WORDS)) for _ in range(cols)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * cols]
    for _ in range(rows):
        cells = [draw(st.one_of(st.sampled_from(_WORDS), st.integers(0, 9999).map(str))) for _ in range(cols)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + draw(st.sampled_from(("", "\n", "\n\n")))


@st.composite
def _code(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_IDENT))
    arg = draw(st.sampled_from(_IDENT))
    body = draw(st.lists(st.sampled_from(_IDENT), min_size=1, max_size=4))
    lines = [f"def {name}({arg}):"]
    lines += [f"    {v} = {arg} + {i}" for i, v in enumerate(body)]
    lines.append(f"    return {body[-1]}")
    fence = draw(st.booleans())
    code = "\n".join(lines) + "\n"
    return f"```python\n{code}```" if fence else code


def json_values(depth: int = 2) -> st.SearchStrategy[Any]:
    """Small JSON values (keys and strings may be CJK or need escaping)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**6), 10**6),
        st.sampled_from(_WORDS + _CJK + ('a "quote"', "back\\slash", "tab\there", "line\nbreak", "\u2028")),
    )
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(_IDENT + _CJK[:3]), inner, max_size=3),
        ),
        max_leaves=depth * 4,
    )


_json_text = json_values().map(lambda v: orjson.dumps(v).decode())


@st.composite
def _cjk(draw: st.DrawFn) -> str:
    return "".join(draw(st.lists(st.sampled_from(_CJK), min_size=1, max_size=20)))


_unicode = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]),
    min_size=1,
    max_size=30,
)


def texts(*, min_size: int = 1) -> st.SearchStrategy[str]:
    """Answer text of every kind: prose, markdown tables, code, JSON, CJK, odd Unicode, and mixes."""
    one = st.one_of(_prose(), _table(), _code(), _json_text, _cjk(), _unicode)
    joined = st.lists(one, min_size=1, max_size=3).map(lambda parts: "\n\n".join(parts))
    return joined.filter(lambda s: len(s) >= min_size)


# --------------------------------------------------------------------------- Anthropic


def _ids(prefix: str) -> st.SearchStrategy[str]:
    return st.text(
        alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789", min_size=8, max_size=12
    ).map(lambda s: prefix + s)


_extra_fields = st.dictionaries(
    st.sampled_from(("x_future", "meta", "trace_tag")), json_values(1), max_size=1
)


@st.composite
def _citation(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.integers(0, 500))
    kind = draw(st.sampled_from(("char_location", "page_location", "web_search_result_location")))
    cited = draw(_prose())
    if kind == "char_location":
        return {
            "type": kind,
            "cited_text": cited,
            "document_index": 0,
            "document_title": draw(st.sampled_from(("Facts", "Report", None))),
            "start_char_index": start,
            "end_char_index": start + len(cited),
        }
    if kind == "page_location":
        return {
            "type": kind,
            "cited_text": cited,
            "document_index": draw(st.integers(0, 2)),
            "document_title": "Report",
            "start_page_number": 1,
            "end_page_number": 2,
        }
    return {
        "type": kind,
        "cited_text": cited,
        "url": "https://example.com/" + draw(st.sampled_from(_IDENT)),
        "title": "Example",
        "encrypted_index": draw(_ids("Eo")),
    }


@st.composite
def _text_block(draw: st.DrawFn, *, citations: bool = True, text: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": draw(texts()) if text is None else text}
    if citations and draw(st.integers(0, 3)) == 0:
        block["citations"] = draw(st.lists(_citation(), min_size=1, max_size=2))
    block.update(draw(_extra_fields) if draw(st.integers(0, 5)) == 0 else {})
    return block


@st.composite
def _tool_use(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": draw(_ids("toolu_")),
        "name": draw(st.sampled_from(("get_weather", "lookup", "run_sql"))),
        "input": draw(st.dictionaries(st.sampled_from(_IDENT), json_values(1), max_size=3)),
    }


@st.composite
def _server_tool_pair(draw: st.DrawFn) -> list[dict[str, Any]]:
    tid = draw(_ids("srvtoolu_"))
    results = [
        {
            "type": "web_search_result",
            "url": "https://example.com/" + draw(st.sampled_from(_IDENT)),
            "title": draw(_prose()),
            "encrypted_content": draw(_ids("Eq")),
            "page_age": draw(st.sampled_from((None, "2 days ago"))),
        }
        for _ in range(draw(st.integers(1, 2)))
    ]
    return [
        {"type": "server_tool_use", "id": tid, "name": "web_search", "input": {"query": draw(_prose())}},
        {"type": "web_search_tool_result", "tool_use_id": tid, "content": results},
    ]


@st.composite
def anthropic_message(
    draw: st.DrawFn,
    *,
    stop_reason: str,
    max_tokens: int,
    at_cap: bool = False,
    model: str = "claude-sonnet-4-5",
    thinking: bool = False,
    server_tools: bool = False,
    unknown: bool = True,
    text: str | None = None,
) -> dict[str, Any]:
    """A whole Messages API response with this stop reason. ``at_cap``: ``output_tokens`` equals
    ``max_tokens`` (always so for ``max_tokens``). ``text``: the one text block's text."""
    content: list[dict[str, Any]] = []
    if thinking:
        content.append({"type": "thinking", "thinking": draw(_prose()), "signature": draw(_ids("EqS"))})
        if draw(st.integers(0, 3)) == 0:
            content.append({"type": "redacted_thinking", "data": draw(_ids("EmR"))})
    if server_tools:
        content += draw(_server_tool_pair())
    if unknown and draw(st.integers(0, 4)) == 0:
        content.append({"type": "x_future_block", "payload": draw(json_values(1))})
    if text is not None:
        content.append({"type": "text", "text": text})
    else:
        for _ in range(draw(st.integers(1, 2))):
            content.append(draw(_text_block()))
    if stop_reason == "tool_use":
        content += draw(st.lists(_tool_use(), min_size=1, max_size=3))
    if stop_reason == "pause_turn":
        content += draw(_server_tool_pair())[:1]
    if stop_reason == "max_tokens" or at_cap:
        out = max_tokens
    else:
        out = draw(st.integers(1, max(1, max_tokens - 1)))
    cache_5m = draw(st.integers(0, 2000))
    cache_1h = draw(st.integers(0, 2000))
    usage: dict[str, Any] = {
        "input_tokens": draw(st.integers(1, 5000)),
        "cache_creation_input_tokens": cache_5m + cache_1h,
        "cache_read_input_tokens": draw(st.integers(0, 5000)),
        "cache_creation": {"ephemeral_5m_input_tokens": cache_5m, "ephemeral_1h_input_tokens": cache_1h},
        "output_tokens": out,
        "service_tier": draw(st.sampled_from(("standard", "priority"))),
    }
    if server_tools or stop_reason == "pause_turn":
        usage["server_tool_use"] = {"web_search_requests": draw(st.integers(1, 3))}
    stop_sequence = (
        draw(st.sampled_from(("###", "\n\nHuman:", "END"))) if stop_reason == "stop_sequence" else None
    )
    message: dict[str, Any] = {
        "id": draw(_ids("msg_")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
    }
    if stop_reason == "refusal":
        message["stop_details"] = {
            "type": "refusal",
            "category": draw(st.sampled_from(("cyber", "bio", None))),
            "explanation": draw(_prose()),
        }
    elif draw(st.booleans()):
        message["stop_details"] = None
    message["usage"] = usage
    if unknown and draw(st.integers(0, 3)) == 0:
        message.update(draw(_extra_fields))
    return message


def anthropic_body(
    message: dict[str, Any], *, max_tokens: int, stream: bool, thinking: bool = False
) -> dict[str, Any]:
    """A request that ``message`` answers: tools for its tool blocks, thinking when it thinks."""
    body: dict[str, Any] = {
        "model": message["model"],
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": "Tell me about the data."}],
    }
    if stream:
        body["stream"] = True
    names = sorted({b["name"] for b in message["content"] if b.get("type") == "tool_use"})
    tools: list[dict[str, Any]] = [
        {
            "name": n,
            "description": "a tool",
            "input_schema": {"type": "object", "properties": {}, "additionalProperties": True},
        }
        for n in names
    ]
    if any(b.get("type") == "server_tool_use" for b in message["content"]):
        tools.append({"type": "web_search_20250305", "name": "web_search", "max_uses": 5})
    if tools:
        body["tools"] = tools
        body["tool_choice"] = {"type": "auto"}
    if message.get("stop_reason") == "stop_sequence":
        body["stop_sequences"] = [message["stop_sequence"]]
    if thinking:
        body["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    return body


@dataclass(frozen=True, slots=True)
class Case:
    """A request and the whole response the upstream gives it, with how it is streamed."""

    dialect: Dialect
    body: dict[str, Any]
    response: dict[str, Any]
    stream: bool
    render: dict[str, Any] = field(default_factory=dict)  # keyword options for the renderer


@st.composite
def anthropic_render_options(draw: st.DrawFn, *, faults: bool = False) -> dict[str, Any]:
    """Options for :func:`~stopwise.testing.render.anthropic_reply` that keep the stream whole
    (pieces, pings, how events straddle reads)."""
    opts: dict[str, Any] = {"pieces": draw(st.integers(1, 4)), "pings": draw(st.booleans())}
    if draw(st.integers(0, 3)) == 0:
        opts["spaced"] = True  # a relay's serialization: the general path, not the plain one
    if draw(st.booleans()):
        opts["chunking"] = draw(st.lists(st.integers(1, 6000), max_size=12))
    return opts


@st.composite
def openai_render_options(draw: st.DrawFn) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "pieces": draw(st.integers(1, 4)),
        "done": draw(st.sampled_from((True, True, "nospace"))),
    }
    if draw(st.integers(0, 3)) == 0:
        opts["spaced"] = True
    if draw(st.booleans()):
        opts["obfuscation"] = True
    if draw(st.booleans()):
        opts["chunking"] = draw(st.lists(st.integers(1, 6000), max_size=12))
    return opts


@st.composite
def anthropic_cases(
    draw: st.DrawFn,
    *,
    stop_reasons: Sequence[str] = ("end_turn", "stop_sequence", "tool_use", "refusal"),
    at_cap: bool | None = False,
    models: Sequence[str] = PREFILL_MODELS + NO_PREFILL_MODELS,
    stream: bool | None = None,
) -> Case:
    """A request and its whole Anthropic response. ``at_cap=None``: either."""
    reason = draw(st.sampled_from(stop_reasons))
    cap = draw(st.booleans()) if at_cap is None else at_cap
    max_tokens = draw(st.sampled_from((16, 64, 300, 1024, 4096, 8192)))
    thinking = draw(st.integers(0, 3)) == 0 and max_tokens > 1024
    server = draw(st.integers(0, 4)) == 0
    model = draw(st.sampled_from(models))
    message = draw(
        anthropic_message(
            stop_reason=reason,
            max_tokens=max_tokens,
            at_cap=cap,
            model=model,
            thinking=thinking,
            server_tools=server,
        )
    )
    s = draw(st.booleans()) if stream is None else stream
    body = anthropic_body(message, max_tokens=max_tokens, stream=s, thinking=thinking)
    return Case("anthropic", body, message, s, draw(anthropic_render_options()) if s else {})


# --------------------------------------------------------------------------- OpenAI


@st.composite
def _logprobs(draw: st.DrawFn, text: str) -> dict[str, Any]:
    words = text.split(" ")[:8] or [text]
    entries = []
    for w in words:
        lp = -draw(st.floats(0, 5, allow_nan=False).map(lambda f: round(f, 4)))
        entries.append({"token": w, "logprob": lp, "bytes": list(w.encode()), "top_logprobs": []})
    return {"content": entries, "refusal": None}


@st.composite
def _tool_call(draw: st.DrawFn) -> dict[str, Any]:
    args = draw(st.dictionaries(st.sampled_from(_IDENT), json_values(1), max_size=3))
    return {
        "id": draw(_ids("call_")),
        "type": "function",
        "function": {
            "name": draw(st.sampled_from(("get_weather", "lookup", "run_sql"))),
            "arguments": orjson.dumps(args).decode(),
        },
    }


@st.composite
def openai_completion(
    draw: st.DrawFn,
    *,
    finish_reason: str,
    max_tokens: int,
    at_cap: bool = False,
    model: str = "gpt-4o",
    relay_claude: bool = False,
    unknown: bool = True,
    text: str | None = None,
) -> dict[str, Any]:
    """A whole Chat Completions response. ``finish_reason="refusal"`` draws a ``message.refusal``
    with ``stop``; ``tool_calls`` one to three parallel calls; ``length`` / ``at_cap`` make
    ``completion_tokens`` equal ``max_tokens``."""
    message: dict[str, Any] = {"role": "assistant"}
    finish = finish_reason
    content: str | None = draw(texts()) if text is None else text
    if finish_reason == "refusal":
        finish = "stop"
        message["content"] = None
        message["refusal"] = draw(_prose())
    elif finish_reason == "tool_calls":
        message["content"] = draw(st.sampled_from((None, content)))
        message["refusal"] = None
        message["tool_calls"] = draw(st.lists(_tool_call(), min_size=1, max_size=3))
    elif finish_reason == "content_filter":
        message["content"] = draw(st.sampled_from(("", content)))
        message["refusal"] = None
    else:
        message["content"] = content
        message["refusal"] = None
    if relay_claude and draw(st.booleans()):
        message["reasoning_content"] = draw(_prose())
    if isinstance(message.get("content"), str) and message["content"] and draw(st.integers(0, 3)) == 0:
        message["annotations"] = [
            {
                "type": "url_citation",
                "url_citation": {
                    "start_index": 0,
                    "end_index": 1,
                    "title": "Ex",
                    "url": "https://example.com/",
                },
            }
        ]
    choice: dict[str, Any] = {"index": 0, "message": message}
    c = message.get("content")
    choice["logprobs"] = (
        draw(_logprobs(c)) if isinstance(c, str) and c and draw(st.integers(0, 2)) == 0 else None
    )
    choice["finish_reason"] = finish
    out = max_tokens if finish_reason == "length" or at_cap else draw(st.integers(1, max(1, max_tokens - 1)))
    prompt = draw(st.integers(1, 5000))
    reasoning = draw(st.integers(0, out))
    completion: dict[str, Any] = {
        "id": draw(_ids("msg_" if relay_claude else "chatcmpl-")),
        "object": "chat.completion",
        "created": draw(st.integers(1_700_000_000, 1_800_000_000)),
        "model": model,
        "choices": [choice],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": out,
            "total_tokens": prompt + out,
            "prompt_tokens_details": {"cached_tokens": draw(st.integers(0, prompt)), "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }
    if not relay_claude:
        completion["service_tier"] = draw(st.sampled_from(("default", "flex", None)))
        completion["system_fingerprint"] = draw(_ids("fp_"))
    if unknown and draw(st.integers(0, 3)) == 0:
        completion.update(draw(_extra_fields))
    return completion


def openai_body(
    completion: dict[str, Any],
    *,
    max_tokens: int,
    stream: bool,
    include_usage: bool = True,
    new_param: bool = False,
) -> dict[str, Any]:
    """A request ``completion`` answers (tools for its calls; ``new_param``: ``max_completion_tokens``)."""
    body: dict[str, Any] = {
        "model": completion["model"],
        "messages": [{"role": "user", "content": "Tell me about the data."}],
        ("max_completion_tokens" if new_param else "max_tokens"): max_tokens,
    }
    if stream:
        body["stream"] = True
        if include_usage:
            body["stream_options"] = {"include_usage": True}
    calls = completion["choices"][0]["message"].get("tool_calls") or []
    names = sorted({c["function"]["name"] for c in calls})
    if names:
        body["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object", "properties": {}}}}
            for n in names
        ]
        body["tool_choice"] = "auto"
    if completion["choices"][0].get("logprobs") is not None:
        body["logprobs"] = True
    return body


@st.composite
def openai_cases(
    draw: st.DrawFn,
    *,
    finishes: Sequence[str] = ("stop", "tool_calls", "content_filter", "refusal"),
    at_cap: bool | None = False,
    stream: bool | None = None,
    relay: bool | None = None,
) -> Case:
    """A request and its whole Chat Completions response (``relay``: Claude behind a relay, with
    ``msg_`` id, a ``claude-`` model and maybe ``reasoning_content``)."""
    reason = draw(st.sampled_from(finishes))
    cap = draw(st.booleans()) if at_cap is None else at_cap
    max_tokens = draw(st.sampled_from((16, 64, 300, 1024, 4096)))
    claude = draw(st.integers(0, 3)) == 0 if relay is None else relay
    model = "claude-sonnet-4-5" if claude else draw(st.sampled_from(("gpt-4o", "gpt-4.1-mini", "o4-mini")))
    completion = draw(
        openai_completion(
            finish_reason=reason, max_tokens=max_tokens, at_cap=cap, model=model, relay_claude=claude
        )
    )
    s = draw(st.booleans()) if stream is None else stream
    usage = draw(st.booleans()) if s else True
    body = openai_body(
        completion, max_tokens=max_tokens, stream=s, include_usage=usage, new_param=draw(st.booleans())
    )
    render: dict[str, Any] = draw(openai_render_options()) if s else {}
    if s:
        render["include_usage"] = usage
    return Case("openai", body, completion, s, render)


# --------------------------------------------------------------------------- behaviours

#: What one upstream response does. ``cut``: the answer stops after ``at`` more characters at
#: the cap (``max_tokens`` / ``length``); ``break``: the body breaks off after ``at`` events (a
#: stream) or bytes (JSON); ``error``: a passing error after ``at`` events (stream: an error
#: event or chunk; JSON: a 529 / 500 status); ``restart``: the relay restarts the stream after
#: ``at`` events (JSON: no fault); ``http``: a passing error status before any body.
FaultKind = Literal["none", "cut", "break", "error", "restart", "http"]
STREAM_ONLY: frozenset[str] = frozenset({"break", "error", "restart"})


@dataclass(frozen=True, slots=True)
class RoundFault:
    kind: FaultKind = "none"
    at: int = 1


@dataclass(frozen=True, slots=True)
class Behaviour:
    """A consistent upstream: it knows the whole answer (``text``, optional signed ``thinking``,
    ``citations`` on the text, whole tool ``calls`` at the end) and answers each request from
    where the request's answer so far ends (a prefill or a continue turn's assistant text; none:
    from the start), misbehaving as ``faults[n]`` says for request ``n``."""

    dialect: Dialect
    model: str
    max_tokens: int
    text: str
    faults: tuple[RoundFault, ...] = ()
    thinking: str | None = None
    citations: tuple[dict[str, Any], ...] = ()
    calls: tuple[dict[str, Any], ...] = ()  # Anthropic tool_use blocks (rendered as tool_calls on OpenAI)

    def body(self, *, stream: bool) -> dict[str, Any]:
        message = {"model": self.model, "content": [dict(c) for c in self.calls], "stop_reason": "end_turn"}
        if self.dialect == "anthropic":
            return anthropic_body(
                message, max_tokens=self.max_tokens, stream=stream, thinking=self.thinking is not None
            )
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": [{"role": "user", "content": "Tell me about the data."}],
        }
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        names = sorted({c["name"] for c in self.calls})
        if names:
            body["tools"] = [
                {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in names
            ]
        return body

    @property
    def mode_neutral(self) -> bool:
        """No fault that only a stream can have (so usage means the same in both modes)."""
        return not any(f.kind in STREAM_ONLY for f in self.faults)

    def upstream(self) -> Any:
        """The ``upstream`` callable for :func:`stopwise.testing.run`."""
        from . import Reply
        from .render import anthropic_error_event, anthropic_reply, openai_reply

        def answer(body: dict[str, Any], n: int) -> Reply:
            fault = self.faults[n] if n < len(self.faults) else RoundFault()
            stream = bool(body.get("stream"))
            if fault.kind == "http":
                status = (529, 500, 503, 429)[fault.at % 4]
                if self.dialect == "anthropic":
                    kind = {529: "overloaded_error", 429: "rate_limit_error"}.get(status, "api_error")
                    err: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": "try again"}}
                else:
                    err = {
                        "error": {"message": "try again", "type": "server_error", "param": None, "code": None}
                    }
                return Reply.json(err, status, {"retry-after-ms": "1"})
            done, prefix_len, calls_done = self._position(body)
            rest = self.text[prefix_len:]
            cap = int(body.get("max_tokens") or body.get("max_completion_tokens") or self.max_tokens)
            cut = fault.kind == "cut" and len(rest) > 1
            shown = rest[: max(1, min(fault.at, len(rest) - 1))] if cut else rest
            calls = [] if cut else list(self.calls[calls_done:])
            out = cap if cut else max(1, min(cap - 1, len(shown) // 3 + 1))
            usage = {"input_tokens": 10 + n, "output_tokens": out}
            if self.dialect == "anthropic":
                content: list[dict[str, Any]] = []
                if self.thinking is not None and not done:
                    content.append({"type": "thinking", "thinking": self.thinking, "signature": "EqSigTruth"})
                if shown or not calls:
                    block: dict[str, Any] = {"type": "text", "text": shown}
                    if self.citations and prefix_len == 0:
                        block["citations"] = [dict(c) for c in self.citations]
                    content.append(block)
                content += [dict(c) for c in calls]
                stop = "max_tokens" if cut else ("tool_use" if calls else "end_turn")
                message = {
                    "id": f"msg_{n:04d}",
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": content,
                    "stop_reason": stop,
                    "stop_sequence": None,
                    "usage": usage,
                }
                if not stream:
                    if fault.kind == "break":
                        data = orjson.dumps(message)
                        return Reply(
                            200, {"content-type": "application/json"}, (data[: fault.at % len(data)],), "read"
                        )
                    if fault.kind == "error":
                        err = anthropic_error_event()
                        return Reply.json(err, 529)
                    return anthropic_reply(message, stream=False)
                opts: dict[str, Any] = {"pieces": 1 + fault.at % 3}
                if fault.kind == "break":
                    opts["break_after"] = fault.at
                elif fault.kind == "error":
                    opts["break_after"], opts["error_event"] = fault.at, anthropic_error_event()
                elif fault.kind == "restart":
                    opts["restart_after"] = fault.at
                return anthropic_reply(message, stream=True, **opts)
            msg: dict[str, Any] = {
                "role": "assistant",
                "content": shown if shown or not calls else None,
                "refusal": None,
            }
            if calls:
                msg["tool_calls"] = [
                    {
                        "id": c["id"].replace("toolu_", "call_"),
                        "type": "function",
                        "function": {"name": c["name"], "arguments": orjson.dumps(c["input"]).decode()},
                    }
                    for c in calls
                ]
            finish = "length" if cut else ("tool_calls" if calls else "stop")
            completion = {
                "id": f"chatcmpl-{n:04d}",
                "object": "chat.completion",
                "created": 1_750_000_000,
                "model": self.model,
                "choices": [{"index": 0, "message": msg, "logprobs": None, "finish_reason": finish}],
                "usage": {
                    "prompt_tokens": usage["input_tokens"],
                    "completion_tokens": out,
                    "total_tokens": usage["input_tokens"] + out,
                },
            }
            if not stream:
                if fault.kind == "break":
                    data = orjson.dumps(completion)
                    return Reply(
                        200, {"content-type": "application/json"}, (data[: fault.at % len(data)],), "read"
                    )
                if fault.kind == "error":
                    return Reply.json(
                        {"error": {"message": "boom", "type": "server_error", "code": None}}, 500
                    )
                return openai_reply(completion, stream=False)
            o: dict[str, Any] = {"pieces": 1 + fault.at % 3}
            if fault.kind in ("break", "restart"):
                o["break_after"] = fault.at  # an OpenAI stream has no restart: a break
            elif fault.kind == "error":
                o["break_after"] = fault.at
                o["error_chunk"] = {"error": {"message": "boom", "type": "server_error", "code": "500"}}
            return openai_reply(completion, stream=True, **o)

        return answer

    def _position(self, body: Mapping[str, Any]) -> tuple[bool, int, int]:
        """(an answer so far exists, where its text ends in ``text``, how many calls it holds)."""
        messages = list(body.get("messages") or [])
        if len(messages) <= 1:
            return False, 0, 0
        assistant = messages[-1] if messages[-1].get("role") == "assistant" else None
        if assistant is None:
            assistant = next((m for m in reversed(messages) if m.get("role") == "assistant"), None)
        if assistant is None:
            return False, 0, 0
        content = assistant.get("content")
        text, calls = "", len(assistant.get("tool_calls") or [])
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            for b in content:
                if b.get("type") == "text":
                    text += str(b.get("text", ""))
                elif b.get("type") == "tool_use":
                    calls += 1
        for candidate in (text, text.rstrip()):
            if self.text.startswith(candidate):
                return True, len(candidate), calls
        at = self.text.find(text.strip())
        return True, (at + len(text.strip())) if at >= 0 and text.strip() else 0, calls


_fault = st.builds(
    RoundFault,
    kind=st.sampled_from(("none", "cut", "cut", "break", "error", "restart", "http")),
    at=st.integers(1, 40),
)


@st.composite
def behaviours(
    draw: st.DrawFn,
    *,
    dialect: Dialect,
    models: Sequence[str] | None = None,
    max_faults: int = 3,
    tools: bool = True,
    thinking: bool = True,
    citations: bool = True,
) -> Behaviour:
    """A consistent upstream answer and the faults of its first rounds (cuts, breaks, passing
    errors, restarts, error statuses), then rounds that answer the rest whole."""
    if models is None:
        models = (
            PREFILL_MODELS + NO_PREFILL_MODELS if dialect == "anthropic" else ("gpt-4o", "claude-sonnet-4-5")
        )
    model = draw(st.sampled_from(models))
    text = draw(texts(min_size=2))
    calls = tuple(draw(st.lists(_tool_use(), max_size=2))) if tools else ()
    think = draw(st.one_of(st.none(), _prose())) if thinking and dialect == "anthropic" else None
    cites = tuple(draw(st.lists(_citation(), max_size=2))) if citations and dialect == "anthropic" else ()
    faults = tuple(draw(st.lists(_fault, max_size=max_faults)))
    return Behaviour(dialect, model, draw(st.sampled_from((2048, 4096))), text, faults, think, cites, calls)
