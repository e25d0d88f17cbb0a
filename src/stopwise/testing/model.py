"""A scripted *continuing* upstream: the in-process oracle the finisher's property tests run on.

A :class:`Model` knows the whole answer (:class:`Truth`) and how each round misbehaves
(:class:`Behaviour`). It answers every request the finisher sends by reading the request, the
way a real model does: it finds where the answer so far (the request's trailing assistant turn,
if any) ends in the truth and goes on from there, for as many tokens as the request's
``max_tokens`` (and the round's scripted cut) allow. So whatever the finisher does, the model's
answers stay consistent with one ground truth, and a property can compare what the caller got
with :attr:`Model.truth`.

How a request is read (Anthropic Messages and OpenAI Chat alike):

- the caller's own messages (the first request's, ``cache_control`` marks ignored) and nothing
  after them: a fresh answer from the start (the first round, a tool retry, a constrained
  re-ask);
- then one assistant turn: **prefill** (Anthropic only) -- continue right after its text, as a
  real model does: a prefill has no trailing whitespace, so the continuation starts with the
  whitespace the truth has there. A trailing assistant turn ending in a server tool block is a
  ``pause_turn`` resumption and is allowed on every model;
- then an assistant turn and a user turn: a **continue turn** -- continue from where the
  assistant text ends, shaped by the round's :data:`Misbehaviour`.

What a real API rejects, the model rejects with the API's own 400 text (prefill on a model
that does not allow it, trailing whitespace, an unsigned thinking block, an assistant turn
ending in thinking, prefill with thinking enabled, ``max_tokens`` above the ceiling, empty text
blocks, OpenAI tool calls without tool results). Each request is recorded as an
:class:`Asked`: where it started in the truth, how it was read, what it got.

**Tokenizer** (:func:`tokens`, the same as :mod:`stopwise.sim.tokenizer`'s) -- a token is an optional run of
whitespace and up to four non-space characters (two CJK ones), so cuts fall inside words,
strings and table rows. A continuation re-tokenizes the truth from where it starts. A tool
call costs the tokens of its compact JSON arguments; a server tool block costs the tokens of
its JSON and is never cut in the middle; thinking costs its tokens (the signature is free).
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from ..catalog import model_ceiling, prefill_supported
from ..dialects import ANTHROPIC_STREAM_EVENTS
from . import Reply, render, sse

__all__ = [
    "PREAMBLES",
    "Asked",
    "Behaviour",
    "Fault",
    "Misbehaviour",
    "Model",
    "Step",
    "Truth",
    "only_repeats_removed",
    "tokens",
]

#: The closed list of continuation preambles a misbehaving continue-turn reply starts with.
PREAMBLES: tuple[str, ...] = (
    "Continuing from where I left off:\n\n",
    "Here is the rest:\n",
    "接着上文：\n",
)

#: How a continue-turn reply starts:
#: ``faithful``: exactly where the assistant text ends (the whitespace the truth has there first);
#: ``strip``: the same without its leading whitespace (the model starts on the next word);
#: ``word``: from the start of the last (partial) word of the assistant text, when it ends in one;
#: ``repeat``: repeats the last ``Step.words`` words (at least 20 characters) first, no further
#: back than the start of the paragraph the text ends in;
#: ``restart``: restarts the sentence (or line) the assistant text ends in, if that repeats at
#: least 20 characters;
#: ``preamble``: ``PREAMBLES[Step.preamble]`` then the continuation, its leading whitespace dropped;
#: ``fence``: inside an open code fence, reopens it (the fence line with its language tag) and
#: goes on, leading whitespace dropped.
#: When a misbehaviour does not apply where the text ends, the reply is faithful.
Misbehaviour = Literal["faithful", "strip", "word", "repeat", "restart", "preamble", "fence"]

#: A repeat shorter than this is not provably one ("the the"): the model never makes one.
MIN_REPEAT_CHARS = 20
MIN_REPEAT_WORDS = 4


_CJK = "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
_TOKEN = re.compile(rf"\s*(?:[{_CJK}]{{1,2}}|[^\s{_CJK}]{{1,4}})|\s+")


@functools.lru_cache(maxsize=4096)
def tokens(text: str) -> tuple[str, ...]:
    """The model's tokens of ``text`` (lossless: they join back to ``text``): an optional run of
    whitespace then up to four non-space characters, or up to two CJK ones (the simulator's)."""
    return tuple(_TOKEN.findall(text))


def _json(obj: Any) -> str:
    return orjson.dumps(obj).decode()


_SERVER_BLOCKS = frozenset({"server_tool_use", "web_search_tool_result", "code_execution_tool_result"})
_CALL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})


@dataclass(frozen=True, slots=True)
class Truth:
    """The whole answer, as Anthropic content blocks: ``thinking`` (signed) first if any, ``text``
    blocks, server tool blocks (``server_tool_use`` and its ``*_tool_result``) between them, and
    ``tool_use`` calls at the end (several: parallel calls). OpenAI sees the text blocks joined
    into one ``content`` and the calls as ``tool_calls`` (thinking and server blocks are skipped)."""

    blocks: tuple[dict[str, Any], ...]

    @classmethod
    def of(
        cls,
        text: str | Sequence[str] = "",
        *,
        thinking: str | None = None,
        tools: Sequence[tuple[str, Mapping[str, Any]]] = (),
        server: Sequence[tuple[int, str]] = (),
    ) -> Truth:
        """A truth from text (one string or several blocks), an optional thinking text (signed),
        tool calls ``(name, input)`` (ids ``toolu_00``, ``toolu_01`` …) and server searches
        ``(after text block i, query)``."""
        texts = [text] if isinstance(text, str) else list(text)
        blocks: list[dict[str, Any]] = []
        if thinking is not None:
            blocks.append({"type": "thinking", "thinking": thinking, "signature": f"sig-{len(thinking)}-ok"})
        searches = dict(server)
        for i, piece in enumerate(texts):
            if piece:
                blocks.append({"type": "text", "text": piece})
            if i in searches:
                sid = f"srvtoolu_{i:02d}"
                blocks.append(
                    {
                        "type": "server_tool_use",
                        "id": sid,
                        "name": "web_search",
                        "input": {"query": searches[i]},
                    }
                )
                blocks.append(
                    {
                        "type": "web_search_tool_result",
                        "tool_use_id": sid,
                        "content": [
                            {
                                "type": "web_search_result",
                                "url": f"https://example.com/{i}",
                                "title": searches[i],
                                "encrypted_content": "e" * 8,
                                "page_age": None,
                            }
                        ],
                    }
                )
        for i, (name, args) in enumerate(tools):
            blocks.append({"type": "tool_use", "id": f"toolu_{i:02d}", "name": name, "input": dict(args)})
        return cls(tuple(blocks))

    @property
    def text(self) -> str:
        """All the answer's text, its blocks joined."""
        return "".join(b["text"] for b in self.blocks if b["type"] == "text")

    @property
    def tool_calls(self) -> list[dict[str, Any]]:
        return [b for b in self.blocks if b["type"] == "tool_use"]

    def for_openai(self) -> Truth:
        """The same answer as OpenAI Chat can carry it: one text, then the calls."""
        text = self.text
        head = [{"type": "text", "text": text}] if text else []
        return Truth(tuple(head + self.tool_calls))


@dataclass(frozen=True, slots=True)
class Fault:
    """What goes wrong with one request.

    - ``status``: an HTTP error (``status``, e.g. 529, with ``retry_after`` seconds if given);
      nothing is generated.
    - ``break``: the stream breaks off after ``after`` events (a body: after half of it).
    - ``error``: an error event (``overloaded_error``) after ``after`` events (a body: HTTP 529).
    - ``restart``: a relay restarts the stream after ``after`` events (a second
      ``message_start`` / first chunk, then the whole round again); a body is unaffected.
    """

    kind: Literal["status", "break", "error", "restart"]
    after: int = 0
    status: int = 529
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One request's behaviour: ``cut`` tokens at most before a ``max_tokens`` stop (``None``:
    only the request's ``max_tokens`` cuts), a fault, and how a continue-turn reply starts."""

    cut: int | None = None
    fault: Fault | None = None
    misbehave: Misbehaviour = "faithful"
    words: int = 5  # for "repeat"
    preamble: int = 0  # for "preamble": an index into PREAMBLES


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Per request, in the order the finisher sends them; requests past the list get
    ``default``. ``pause_after``: truth block indices (a server tool result) after which the
    server tool loop pauses (``pause_turn``), once each."""

    steps: tuple[Step, ...] = ()
    default: Step = Step()
    pause_after: frozenset[int] = frozenset()

    def step(self, n: int) -> Step:
        return self.steps[n] if n < len(self.steps) else self.default


@dataclass(slots=True)
class Asked:
    """One request as the model read it."""

    n: int
    body: dict[str, Any] = field(repr=False)
    mode: Literal["fresh", "prefill", "continue", "pause", "rejected"]
    start: tuple[int, int] = (0, 0)  # (truth block, character) it went on from
    #: Where the request's answer so far does not agree with the truth (a finisher bug).
    mismatch: str | None = None
    #: The 400 text the model answered with, if it rejected the request.
    rejected: str | None = None
    fault: Fault | None = None
    #: What it generated (before rendering and faults): content blocks, stop, output tokens.
    content: list[dict[str, Any]] = field(default_factory=list)
    stop: str | None = None
    output_tokens: int = 0
    #: Truth position after what it generated (blocks fully generated, characters of the last).
    end: tuple[int, int] = (0, 0)
    reply: Reply | None = field(default=None, repr=False)


def _strip_cache(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _strip_cache(v) for k, v in obj.items() if k != "cache_control"}
    if isinstance(obj, list):
        return [_strip_cache(v) for v in obj]
    return obj


def _blocks(content: Any) -> list[dict[str, Any]]:
    """Message content as blocks, consecutive text blocks merged (cache segments)."""
    if isinstance(content, str):
        raw: list[Any] = [{"type": "text", "text": content}]
    elif isinstance(content, list):
        raw = content
    else:
        raw = []
    out: list[dict[str, Any]] = []
    for b in raw:
        if not isinstance(b, dict):
            continue
        b = _strip_cache(b)
        if b.get("type") == "text" and out and out[-1].get("type") == "text":
            out[-1] = {**out[-1], "text": out[-1].get("text", "") + str(b.get("text", ""))}
        else:
            out.append(dict(b))
    return out


def _norm_messages(messages: Any) -> list[Any]:
    if not isinstance(messages, list):
        return []
    out: list[Any] = []
    for m in messages:
        if isinstance(m, dict):
            m = _strip_cache(m)
            if "content" in m and m.get("content") is not None:
                m = {**m, "content": _blocks(m["content"])}
        out.append(m)
    return out


def _thinking_on(body: Mapping[str, Any]) -> bool:
    t = body.get("thinking")
    return isinstance(t, dict) and t.get("type") in ("enabled", "adaptive")


_WORD_START = re.compile(r"\S+\Z")


class Model:
    """The oracle upstream. Pass it as ``upstream`` to :func:`stopwise.testing.run`."""

    def __init__(
        self,
        truth: Truth,
        behaviour: Behaviour | None = None,
        *,
        dialect: Literal["anthropic", "openai"] = "anthropic",
        model: str | None = None,
        stream: bool | None = None,
    ) -> None:
        self.dialect = dialect
        self.truth = truth if dialect == "anthropic" else truth.for_openai()
        self.behaviour = behaviour or Behaviour()
        self.model = model
        self.stream = stream  # None: as each request asks
        self.asked: list[Asked] = []
        self.base: list[Any] | None = None  # the caller's messages, normalized
        self.paused: set[int] = set()

    # -- the upstream callable ---------------------------------------------------------------
    def __call__(self, body: dict[str, Any], n: int) -> Reply:
        asked = self.answer(body, n)
        assert asked.reply is not None
        return asked.reply

    def answer(self, body: dict[str, Any], n: int) -> Asked:
        step = self.behaviour.step(n)
        messages = body.get("messages")
        if self.base is None:
            norm = _norm_messages(messages)
            if norm and isinstance(norm[-1], dict) and norm[-1].get("role") == "assistant":
                norm = norm[:-1]  # the caller's own prefill
            self.base = norm
        asked = self._read(body, n)
        self.asked.append(asked)
        stream = bool(body.get("stream")) if self.stream is None else self.stream
        if asked.rejected is not None:
            asked.reply = self._error(400, "invalid_request_error", asked.rejected)
            return asked
        if step.fault is not None and step.fault.kind == "status":
            asked.fault = step.fault
            headers = {} if step.fault.retry_after is None else {"retry-after": str(step.fault.retry_after)}
            kind = "overloaded_error" if step.fault.status == 529 else "api_error"
            asked.reply = self._error(step.fault.status, kind, "Overloaded", headers)
            return asked
        self._generate(asked, body, step)
        asked.fault = step.fault
        asked.reply = self._render(asked, body, stream=stream, fault=step.fault)
        return asked

    # -- reading a request -------------------------------------------------------------------
    def _read(self, body: dict[str, Any], n: int) -> Asked:
        asked = Asked(n, copy.deepcopy(body), "fresh")
        model = str(body.get("model") or self.model or "")
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        ceiling = model_ceiling(model)
        if isinstance(max_tokens, int) and ceiling is not None and max_tokens > ceiling:
            asked.mode = "rejected"
            asked.rejected = (
                f"max_tokens: {max_tokens} > {ceiling}, which is the maximum allowed number of output "
                f"tokens for {model}"
            )
            return asked
        messages = _norm_messages(body.get("messages"))
        base = self.base or []
        if messages[: len(base)] != base:
            asked.mismatch = "the caller's messages were changed"
        extra = messages[len(base) :]
        for m in messages:
            if not isinstance(m, dict):
                continue
            for b in m.get("content") or []:
                if b.get("type") == "text" and not b.get("text"):
                    asked.mode, asked.rejected = "rejected", "messages: text content blocks must be non-empty"
                    return asked
                if b.get("type") == "thinking" and not b.get("signature"):
                    asked.mode = "rejected"
                    asked.rejected = "messages: thinking blocks must carry their signature"
                    return asked
        if not extra:
            return asked
        roles = [m.get("role") if isinstance(m, dict) else None for m in extra]
        if roles == ["assistant"]:
            content = extra[0].get("content") or []
            pause = bool(content) and content[-1].get("type") in _SERVER_BLOCKS
            if self.dialect == "openai":
                asked.mode = "rejected"
                asked.rejected = (
                    "a trailing assistant message is a finished turn (OpenAI Chat has no prefill)"
                )
                return asked
            if not pause and not prefill_supported(model):
                asked.mode = "rejected"
                asked.rejected = (
                    "This model does not support assistant message prefill. "
                    "The conversation must end with a user message."
                )
                return asked
            if (
                content
                and content[-1].get("type") == "text"
                and content[-1]["text"] != content[-1]["text"].rstrip()
            ):
                asked.mode = "rejected"
                asked.rejected = "messages: final assistant content cannot end with trailing whitespace"
                return asked
            if content and content[-1].get("type") == "thinking":
                asked.mode = "rejected"
                asked.rejected = "messages: the final assistant content cannot end with a thinking block"
                return asked
            if not pause and _thinking_on(body):
                asked.mode = "rejected"
                asked.rejected = "messages: assistant message prefill is not supported with extended thinking"
                return asked
            asked.mode = "pause" if pause else "prefill"
            asked.start, asked.mismatch = self._locate(content, asked.mismatch)
            return asked
        if roles == ["assistant", "user"]:
            assistant = extra[0]
            if self.dialect == "openai" and assistant.get("tool_calls"):
                asked.mode = "rejected"
                asked.rejected = (
                    "An assistant message with 'tool_calls' must be followed by tool messages responding "
                    "to each 'tool_call_id'."
                )
                return asked
            content = list(assistant.get("content") or [])
            if content and content[-1].get("type") == "thinking":
                asked.mode = "rejected"
                asked.rejected = "messages: an assistant turn cannot end with a thinking block"
                return asked
            if any(b.get("type") == "tool_use" for b in content):
                asked.mode = "rejected"
                asked.rejected = (
                    "messages.1: `tool_use` ids were found without `tool_result` blocks immediately after: "
                    + ", ".join(str(b.get("id")) for b in content if b.get("type") == "tool_use")
                )
                return asked
            asked.mode = "continue"
            asked.start, asked.mismatch = self._locate(content, asked.mismatch)
            return asked
        asked.mismatch = asked.mismatch or f"unexpected turns after the caller's messages: {roles}"
        return asked

    def _locate(
        self, content: list[dict[str, Any]], mismatch: str | None
    ) -> tuple[tuple[int, int], str | None]:
        """Where ``content`` (an answer so far) ends in the truth; and how it disagrees, if it does."""
        truth = self.truth.blocks
        i = 0
        content = [b for b in content if b.get("type") != "text" or b.get("text")]
        for k, rb in enumerate(content):
            last = k == len(content) - 1
            kind = rb.get("type")
            while i < len(truth) and truth[i]["type"] == "thinking" and kind != "thinking":
                i += 1  # answered without thinking
            if i >= len(truth):
                return (len(truth), 0), mismatch or f"block {k} ({kind}) is past the end of the answer"
            tb = truth[i]
            if kind == "text" and tb["type"] == "text":
                rt, tt = str(rb.get("text", "")), tb["text"]
                if rt == tt and not last:
                    i += 1
                    continue
                if tt.startswith(rt) and last:
                    return (i, len(rt)), mismatch
                common = 0
                while common < min(len(rt), len(tt)) and rt[common] == tt[common]:
                    common += 1
                return (i, common), mismatch or (
                    f"text block {k} departs from the answer at {common}: {rt[common : common + 30]!r} "
                    f"instead of {tt[common : common + 30]!r}"
                )
            if kind == tb["type"] and _same_block(rb, tb):
                i += 1
                continue
            return (i, 0), mismatch or f"block {k} ({kind}) is not the answer's block {i} ({tb['type']})"
        return (i, 0), mismatch

    # -- generating --------------------------------------------------------------------------
    def _generate(self, asked: Asked, body: dict[str, Any], step: Step) -> None:
        truth = self.truth.blocks
        max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
        budget = max_tokens if isinstance(max_tokens, int) else 1 << 30
        if step.cut is not None:
            budget = min(budget, step.cut)
        thinking = _thinking_on(body) and self.dialect == "anthropic"
        i, off = asked.start
        lead = ""
        strip = False
        if asked.mode == "continue" and i < len(truth) and truth[i]["type"] == "text":
            off, lead, strip = _misbehave(truth[i]["text"], off, step)
        used = 0
        out: list[dict[str, Any]] = []
        stop = "end_turn"
        cut = False
        while i < len(truth):
            tb = truth[i]
            kind = tb["type"]
            if kind == "thinking" and not (thinking and all(b["type"] == "thinking" for b in out)):
                i, off = i + 1, 0  # answered without (new) thinking
                continue
            if kind in ("text", "thinking"):
                rest = tb[kind][off:]
                if strip:
                    rest = rest.lstrip()
                consumed_before = len(tb[kind]) - off - len(rest)  # stripped whitespace
                rest = lead + rest
                toks = tokens(rest)
                take = min(len(toks), budget - used)
                piece = "".join(toks[:take])
                used += take
                if kind == "text":
                    if piece:
                        out.append({"type": "text", "text": piece})
                else:
                    whole = take == len(toks)
                    signature = tb["signature"] if whole else ""
                    out.append({"type": "thinking", "thinking": piece, "signature": signature})
                if take < len(toks):
                    cut = True
                    off = off + consumed_before + max(0, len(piece) - len(lead))
                    break
                lead, strip = "", False
                i, off = i + 1, 0
                continue
            # an atomic or tool block
            text = _json(tb.get("input", tb.get("content")))
            cost = max(1, len(tokens(text)))
            if used + cost <= budget:
                out.append(copy.deepcopy(tb))
                used += cost
                i, off = i + 1, 0
                if i - 1 in self.behaviour.pause_after and i - 1 not in self.paused:
                    self.paused.add(i - 1)
                    stop = "pause_turn"
                    break
                continue
            cut = True
            if kind == "tool_use":
                partial = "".join(tokens(text)[: budget - used])
                used = budget
                out.append({**copy.deepcopy(tb), "input": {}, "partial_json": partial})
            break
        if cut:
            stop = "max_tokens"
        elif stop != "pause_turn" and out and out[-1]["type"] == "tool_use":
            stop = "tool_use"
        asked.content, asked.stop, asked.output_tokens, asked.end = out, stop, used, (i, off)

    # -- rendering ---------------------------------------------------------------------------
    def _error(self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None) -> Reply:
        if self.dialect == "anthropic":
            obj: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        else:
            obj = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return Reply.json(obj, status, dict(headers or {}))

    def message(self, asked: Asked, body: Mapping[str, Any]) -> dict[str, Any]:
        """The Anthropic message (or OpenAI completion) for what ``asked`` generated; a cut tool
        call keeps its partial JSON under ``partial_json`` (a body renders its input as ``{}``)."""
        model = str(body.get("model") or self.model or "model")
        input_tokens = max(1, len(orjson.dumps(body.get("messages") or [])) // 4)
        if self.dialect == "anthropic":
            return {
                "id": f"msg_model_{asked.n:03d}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": copy.deepcopy(asked.content),
                "stop_reason": asked.stop,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": asked.output_tokens},
            }
        text = "".join(b["text"] for b in asked.content if b["type"] == "text")
        calls = [
            {
                "id": b["id"],
                "type": "function",
                "function": {"name": b["name"], "arguments": b.get("partial_json", _json(b["input"]))},
            }
            for b in asked.content
            if b["type"] == "tool_use"
        ]
        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        finish = {"max_tokens": "length", "tool_use": "tool_calls"}.get(asked.stop or "", "stop")
        return {
            "id": f"chatcmpl-model{asked.n:03d}",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": asked.output_tokens,
                "total_tokens": input_tokens + asked.output_tokens,
            },
        }

    def _render(self, asked: Asked, body: Mapping[str, Any], *, stream: bool, fault: Fault | None) -> Reply:
        message = self.message(asked, body)
        if self.dialect == "anthropic":
            return _render_anthropic(message, stream=stream, fault=fault)
        return _render_openai(message, stream=stream, fault=fault)


def _faulted_body(data: bytes, status: int, fault: Fault | None, error: dict[str, Any]) -> Reply:
    headers = {"content-type": "application/json"}
    if fault is not None and fault.kind == "break":
        return Reply(status, headers, (data[: len(data) // 2],), "read")
    if fault is not None and fault.kind == "error":
        return Reply.json(error, 529 if "type" in error else 500)
    return Reply(status, {**headers, "content-length": str(len(data))}, (data,))


def _render_anthropic(message: dict[str, Any], *, stream: bool, fault: Fault | None) -> Reply:
    """``message`` through :mod:`stopwise.testing.render`; a cut tool call (``partial_json``)
    streams its partial JSON and no ``content_block_stop`` (a body carries ``input: {}``)."""
    content = message["content"]
    partial = content[-1].pop("partial_json", None) if content and "partial_json" in content[-1] else None
    overloaded = render.anthropic_error_event()
    if not stream:
        return _faulted_body(orjson.dumps(message), 200, fault, overloaded)
    events = render.anthropic_events(message)
    if partial is not None:
        last = len(content) - 1
        events = [e for e in events if e.get("index") != last or e["type"] == "content_block_start"]
        at = next(k for k, e in enumerate(events) if e["type"] == "message_delta")
        frags = [
            {
                "type": "content_block_delta",
                "index": last,
                "delta": {"type": "input_json_delta", "partial_json": p},
            }
            for p in ["", *render.split_text(partial, 2)]
        ]
        events[at:at] = frags
    events = [
        e
        for e in events
        if not (
            e["type"] == "content_block_delta"
            and e["delta"].get("type") == "signature_delta"
            and not e["delta"].get("signature")
        )
    ]
    broken = False
    if fault is not None and fault.kind == "restart":
        events = events[: fault.after] + events
    elif fault is not None and fault.kind == "error":
        events = [*events[: fault.after], overloaded]
    elif fault is not None and fault.kind == "break":
        broken = fault.after < len(events)
        events = events[: fault.after]
    chunks = tuple(sse(str(e["type"]), e) for e in events)
    headers = {"content-type": "text/event-stream; charset=utf-8", "request-id": "req_model"}
    return Reply(200, headers, chunks, "read" if broken else None)


def _render_openai(completion: dict[str, Any], *, stream: bool, fault: Fault | None) -> Reply:
    failure = {
        "error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}
    }
    if not stream:
        return _faulted_body(orjson.dumps(completion), 200, fault, failure)
    lines = [sse(None, c) for c in render.openai_chunks(completion)] + [b"data: [DONE]\n\n"]
    broken = False
    if fault is not None and fault.kind == "restart":
        lines = lines[: fault.after] + lines
    elif fault is not None and fault.kind == "error":
        lines = [*lines[: fault.after], sse(None, failure)]
    elif fault is not None and fault.kind == "break":
        broken = fault.after < len(lines)
        lines = lines[: fault.after]
    headers = {"content-type": "text/event-stream; charset=utf-8", "x-request-id": "req_model"}
    return Reply(200, headers, tuple(lines), "read" if broken else None)


def _same_block(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    kind = b["type"]
    if kind == "thinking":
        return bool(a.get("thinking") == b["thinking"] and a.get("signature") == b["signature"])
    if kind in _CALL_BLOCKS:
        return bool(a.get("id") == b["id"] and a.get("name") == b["name"] and a.get("input") == b["input"])
    return dict(a) == dict(b) or all(a.get(k) == v for k, v in b.items() if k != "citations")


def _misbehave(text: str, off: int, step: Step) -> tuple[int, str, bool]:
    """Where a continue-turn reply starts in ``text`` (a truth text block whose first ``off``
    characters the request holds), what it leads with, and whether it drops its leading
    whitespace."""
    before = text[:off]
    kind = step.misbehave
    if kind == "strip":
        return off, "", True
    if kind == "word":
        m = _WORD_START.search(before)
        if m is not None and off < len(text) and not text[off].isspace():
            return m.start(), "", False
        return off, "", False
    if kind == "repeat":
        # The last words of the paragraph the text ends in, at most back to its start: a model
        # repeats the words it was writing (or restarts the paragraph), not from the middle of
        # an earlier paragraph, which is no behaviour models show (brief/continuation.md: the
        # last words or sentence, the paragraph, the whole answer). Reaching back over a blank
        # line, a cut repeat also reads exactly as the last words written again and the
        # document going on as it did after their earlier copy, which the seam rightly takes
        # for the document repeating itself ('0 00010 0\r00000\n\n0 00010 0' + '00010 0\r00000\n\n0').
        para = before.rfind("\n\n") + 2 if "\n\n" in before else 0
        starts = [m.start() for m in re.finditer(r"(?<!\S)\S", before) if m.start() >= para]
        if starts and step.words >= MIN_REPEAT_WORDS:
            start = starts[max(0, len(starts) - step.words)]
            if off - start >= MIN_REPEAT_CHARS and len(before[start:].split()) >= MIN_REPEAT_WORDS:
                return start, "", False
        return off, "", False
    if kind == "restart":
        marks = [m.end() for m in re.finditer(r"(?:[.!?]\s+|\n)", before)]
        start = marks[-1] if marks else 0
        while start < off and before[start].isspace():
            start += 1
        if off - start >= MIN_REPEAT_CHARS and len(before[start:].split()) >= MIN_REPEAT_WORDS:
            return start, "", False
        return off, "", False
    if kind == "preamble":
        return off, PREAMBLES[step.preamble % len(PREAMBLES)], True
    if kind == "fence":
        fence: str | None = None
        lines = before.split("\n")
        for line in lines[:-1]:  # whole lines only: a fence line being cut is no fence yet
            s = line.lstrip()
            if s.startswith("```"):
                fence = s[3:].strip() if fence is None else None
        if lines[-1].strip() == "```":
            # Three backticks alone, last, close an open fence however the line goes on (a
            # closing fence has no tag); a continue turn's kept text often ends on one.
            fence = None
        if fence is not None:
            return off, f"```{fence}\n", True
        return off, "", False
    return off, "", False


# -- what the caller got ----------------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    """What the caller got, read as the official SDKs read it (a stream folded by the SDK's own
    accumulator: anthropic ``accumulate_event``, openai ``ChatCompletionStreamState``)."""

    status: int
    text: str = ""
    #: Anthropic content blocks (OpenAI: the text as one block, then ``tool_use`` blocks).
    content: list[dict[str, Any]] = field(default_factory=list)
    #: ``(id, name, arguments)``: arguments parsed, or the raw string when they do not parse.
    tool_calls: list[tuple[str, str, Any]] = field(default_factory=list)
    stop: str | None = None
    #: The typed error the caller was handed (a stream's error event or chunk, an HTTP error).
    error: str | None = None
    #: The SDK accumulator raised (the stream is not one it accepts).
    sdk_error: str | None = None


def answer_of(result: Any, dialect: Literal["anthropic", "openai"]) -> Answer:
    """The caller's answer in ``result`` (a :class:`stopwise.testing.Run`)."""
    if not result.stream:
        if result.status >= 400:
            return Answer(result.status, error=result.body.decode(errors="replace")[:200])
        doc = orjson.loads(result.body)
        return (
            _answer_anthropic(doc, result.status)
            if dialect == "anthropic"
            else _answer_openai(doc, result.status)
        )
    from ..sse import SSEDecoder

    decoder = SSEDecoder()
    events = decoder.decode(result.body)
    last = decoder.flush()
    if last is not None:
        events.append(last)
    return _stream_anthropic(events) if dialect == "anthropic" else _stream_openai(events)


def _answer_anthropic(doc: dict[str, Any], status: int) -> Answer:
    content = list(doc.get("content") or [])
    return Answer(
        status,
        text="".join(str(b.get("text", "")) for b in content if b.get("type") == "text"),
        content=content,
        tool_calls=[(b["id"], b["name"], b.get("input")) for b in content if b.get("type") == "tool_use"],
        stop=doc.get("stop_reason"),
    )


def _args(raw: Any) -> Any:
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, TypeError):
        return raw


def _answer_openai(doc: dict[str, Any], status: int) -> Answer:
    choice = (doc.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    text = message.get("content") or ""
    calls: list[tuple[str, str, Any]] = [
        (
            str(c.get("id")),
            str((c.get("function") or {}).get("name")),
            _args((c.get("function") or {}).get("arguments")),
        )
        for c in message.get("tool_calls") or []
    ]
    content = ([{"type": "text", "text": text}] if text else []) + [
        {"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in calls
    ]
    return Answer(status, text=text, content=content, tool_calls=calls, stop=choice.get("finish_reason"))


# What the SDK accumulates (pings carry nothing).
_ANTHROPIC_EVENTS = ANTHROPIC_STREAM_EVENTS - {"ping"}


def _stream_anthropic(events: Sequence[Any]) -> Answer:
    from anthropic.lib.streaming._messages import accumulate_event

    snapshot: Any = None
    bufs: dict[int, bytes] = {}
    error: str | None = None
    sdk_error: str | None = None
    for e in events:
        if e.event == "error":
            error = e.data
            break
        if e.event not in _ANTHROPIC_EVENTS:
            continue
        try:
            snapshot = accumulate_event(event=orjson.loads(e.data), current_snapshot=snapshot, json_bufs=bufs)
        except Exception as exc:
            sdk_error = f"{type(exc).__name__}: {exc}"
            break
    if snapshot is None:
        return Answer(
            200, error=error, sdk_error=sdk_error or ("no message_start" if error is None else None)
        )
    doc = snapshot.model_dump(mode="json", exclude_none=False)
    answer = _answer_anthropic(doc, 200)
    answer.error, answer.sdk_error = error, sdk_error
    return answer


def _stream_openai(events: Sequence[Any]) -> Answer:
    from openai._models import construct_type
    from openai.lib.streaming.chat import ChatCompletionStreamState
    from openai.types.chat import ChatCompletionChunk

    state: Any = ChatCompletionStreamState()
    error: str | None = None
    sdk_error: str | None = None
    seen = False
    for e in events:
        if e.data.startswith("[DONE]"):
            break
        try:
            obj = orjson.loads(e.data)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and "error" in obj:
            error = e.data
            break
        try:
            state.handle_chunk(construct_type(type_=ChatCompletionChunk, value=obj))
            seen = True
        except Exception as exc:
            sdk_error = f"{type(exc).__name__}: {exc}"
            break
    if not seen:
        return Answer(200, error=error, sdk_error=sdk_error)
    doc = state.current_completion_snapshot.model_dump(mode="json")
    answer = _answer_openai(doc, 200)
    answer.error, answer.sdk_error = error, sdk_error
    return answer


def only_repeats_removed(got: str, truth: str, kept: int = 0) -> bool:
    """``got`` is ``truth`` less spans that are provably repeated: each removed span (less its
    whitespace) is a copy of text that comes before it. A continue-turn reply of a document that
    repeats itself ("0 001000 0 001000 0") reads exactly like a model repeating the answer, and
    invariant 3 lets the seam remove it; nothing else may differ: no replacement, and an insertion
    only where the report noted an uncertain seam (``kept`` of them), of text already before it."""
    if got == truth:
        return True
    ops = difflib.SequenceMatcher(None, truth, got, autojunk=False).get_opcodes()
    for n, (tag, i1, i2, j1, j2) in enumerate(ops):
        if tag == "equal":
            continue
        # Which of two equal copies the diff calls the removed (or inserted) one is arbitrary:
        # in "0 001000 0 001000 00" less "0 001000 " it picks the first, which nothing precedes.
        # The span may slide over the equal text on either side of it (the result is the same
        # string), so it is judged where it slides to.
        before = ops[n - 1][2] - ops[n - 1][1] if n and ops[n - 1][0] == "equal" else 0
        after = ops[n + 1][2] - ops[n + 1][1] if n + 1 < len(ops) and ops[n + 1][0] == "equal" else 0
        if tag == "insert" and kept > 0 and _a_copy(got, j1, j2, before, after):
            # A seam the report calls uncertain: the model began with what the answer ends in
            # and it could not be told from content, so it stayed (each note allows one).
            kept -= 1
            continue
        if tag != "delete" or not _a_copy(truth, i1, i2, before, after):
            return False
    return True


def _a_copy(text: str, i: int, j: int, before: int, after: int) -> bool:
    """``text[i:j]`` (less its whitespace), slid by up to ``before`` characters back or
    ``after`` forward over text equal to it, is a copy of text that comes before it."""
    if text[i:j].strip() in text[:i]:
        return True
    for k in range(1, before + 1):  # back: the character before the span equals its last
        if text[i - k] != text[j - k]:
            break
        if text[i - k : j - k].strip() in text[: i - k]:
            return True
    for k in range(after):  # forward: the character after the span equals its first
        if j + k >= len(text) or text[i + k] != text[j + k]:
            break
        if text[i + k + 1 : j + k + 1].strip() in text[: i + k + 1]:
            return True
    return False
