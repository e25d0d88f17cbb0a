"""The finisher's strategy for OpenAI Chat Completions (and the relays that speak it in front of
Claude).

Chat Completions has no prefill: a trailing assistant message is a finished turn, so a cut answer
goes on with a continue turn whose seam is reconciled (:mod:`.join`). The caller sees one
completion: the first round's envelope and every field of it, one content string, the message's
and the choice's other fields joined over rounds (``annotations``, ``logprobs.content``,
``reasoning_content``), usage summed field by field, one finish chunk, one usage chunk when it
asked for one, ``[DONE]``; then a ``stopwise`` event after ``[DONE]``, where the SDK has stopped
reading.

A first round's chunks go out unchanged as they arrive; only what its finish reason decides is
held: tool-call fragments (a cut call is asked for again) and a finish chunk that is not final.
Later rounds' chunks are rewritten into the first's id. Relays pass Claude's raw reasons through
(``max_tokens``, ``end_turn``, ``tool_use``); a merged answer's finish reason is in OpenAI's own
words for those. Requests with ``n > 1`` are passed through.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..dialects._json import is_whole_json, payload
from ..dialects.openai import OpenAIAccumulator, parse_completion
from ..errors import APIError, ProtocolError
from ..outcome import Outcome, State, StopReason, normalize_stop_reason
from ..sse import ServerSentEvent, encode_data, encode_event
from . import seam as seams
from .dialect import Dialect, Ledger, Plan
from .join import UNDECIDED, Join
from .outbox import Outbox
from .report import sum_usage

__all__ = ["OpenAIDialect"]

# Claude's values, as relays pass them, in OpenAI's words.
_OPENAI_WORDS = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop",
}
_FINAL_REASONS = frozenset(
    {StopReason.END, StopReason.STOP_SEQUENCE, StopReason.REFUSAL, StopReason.CONTENT_FILTER}
)
_TOOLS, _FINISH, _CONTENT = "tools", "finish", "content"


def _chunk_bytes(obj: dict[str, Any]) -> bytes:
    return encode_data(orjson.dumps(obj))


@dataclass(frozen=True, slots=True)
class _PlainChunk:
    """How this stream writes a plain content chunk (the hot path of :meth:`take_plain`),
    learned from one the general path passed on unchanged: the bytes up to the content string's
    opening quote, and from its closing quote to the end. OpenAI writes a per-chunk random
    ``obfuscation`` value at the end, so that value alone may differ (``tail`` is then what
    comes before it, the end being ``"}\n\n``)."""

    prefix: bytes
    tail: bytes
    obfuscated: bool


_OBFUSCATION = b',"obfuscation":"'
# After this many changes of shape in one round, the round stops learning one.
_RESHAPES = 3


def _plain_chunk(raw: bytes, content: str) -> _PlainChunk | None:
    start = raw.find(b'"delta":{"content":"')
    if start < 0 or not raw.startswith(b"data: {") or not raw.endswith(b"}\n\n"):
        return None
    prefix = raw[: start + 20]
    encoded = orjson.dumps(content)
    if not raw.startswith(encoded[1:], len(prefix)):
        return None  # written with other escapes than ours: cannot tell where the string ends
    tail = raw[len(prefix) + len(encoded) - 2 :]  # from the closing quote
    cut = tail.find(_OBFUSCATION)
    if cut >= 0 and tail.endswith(b'"}\n\n') and tail.count(b'"', cut + len(_OBFUSCATION)) == 1:
        return _PlainChunk(prefix, tail[: cut + len(_OBFUSCATION)], True)
    return _PlainChunk(prefix, tail, False)


def _constrained(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"):
        return True
    choice = body.get("tool_choice")
    return choice == "required" or (isinstance(choice, dict) and choice.get("type") == "function")


def _join_field(a: Any, b: Any) -> Any:
    """Two rounds' values of a message or choice field, as one: strings and lists joined,
    objects joined key by key, anything else the first non-null one."""
    if a is None:
        return copy.deepcopy(b)
    if b is None:
        return a
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, list) and isinstance(b, list):
        return a + copy.deepcopy(b)
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _join_field(out.get(k), v)
        return out
    return a


@dataclass(slots=True)
class _Round:
    plan: Plan
    acc: OpenAIAccumulator
    join: Join | None
    texts: list[str] = field(default_factory=list)  # joined content, as shown
    abandoned: bool = False  # cut inside its reply's undecided head (Join.abandon)
    usage: dict[str, Any] | None = None  # the usage chunk, parsed
    usage_raw: bytes | None = None
    done: bytes | None = None  # the [DONE] line as it came
    final: bool = False  # a final finish reason arrived
    finish_sent: bool = False
    body: dict[str, Any] | None = None  # non-stream: the parsed body
    progressed: bool = False
    cut_calls: bool = False
    first_id: str | None = None
    raw_text: list[str] = field(default_factory=list)  # content as the upstream wrote it
    # A relay that began the stream again: the content it must write again before it is new.
    replay: str | None = None
    diverged: bool = False
    before: Outcome | None = None


class OpenAIDialect(Dialect):
    name = "openai"

    def __init__(self, request: dict[str, Any], ledger: Ledger, source: bytes | None = None) -> None:
        super().__init__(request, ledger, source)
        n = request.get("n")
        self.passthrough = isinstance(n, int) and n > 1
        if self.passthrough:
            # Chunks of several choices go out as they come: a resumed stream would repeat them.
            # Retries before the first byte still apply.
            self.policy = dataclasses.replace(self.policy, resume_interrupted=False)
            ledger.policy = self.policy
        options = request.get("stream_options")
        self.wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.cap_key = "max_completion_tokens" if "max_completion_tokens" in request else "max_tokens"
        self.constrained = _constrained(request)
        # The answer being built.
        self.text = ""
        self.refusal: str | None = None
        self.tool_calls: list[dict[str, Any]] = []
        self.envelope: dict[str, Any] = {}
        self.message_extra: dict[str, Any] = {}
        self.choice_extra: dict[str, Any] = {}
        self.finish_reason: str | None = None
        self.usages: list[dict[str, Any]] = []
        self.next_join: Join | None = None
        self.outbox = Outbox()
        self.late: list[bytes] = []  # text a round's seam held until its end, not yet sent
        self.sent_any = False
        self.passthrough_body: dict[str, Any] = {}  # n > 1: the body as the upstream sent it
        self._plain: _PlainChunk | None = None  # see take_plain
        self._learn: tuple[bytes, str] | None = None  # a chunk just passed on unchanged
        self._shape: _PlainChunk | None = None  # the last shape learned this round
        self._reshaped = 0  # times this round's chunks came in another shape than the last
        # A placeholder until the first round begins: the small fields only (see Dialect.request).
        self.round = _Round(self.caller_plan("initial", None), OpenAIAccumulator(), None)

    # -- plans ----------------------------------------------------------------------------------
    def _with_usage(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("stream") and not self.passthrough:
            # Continuation rounds report their usage, to sum it (the caller gets the usage chunk
            # only if it asked). The first round goes as the caller sent it.
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body = {**body, "stream_options": options}
        return body

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.request.get("messages")
        return list(messages) if isinstance(messages, list) else []

    def _continue(self, mode: str, max_tokens: int | None) -> Plan | None:
        if max_tokens is not None and max_tokens <= 0:
            return None
        if not self.tool_calls and (again := Join.again(self.text)) is not None:
            plan = self._from_scratch(mode, max_tokens)
            self.next_join = again
            return plan
        kept, join, structure = Join.continue_turn(self.text)
        if not kept.strip():
            return None
        self.next_join = join
        body = dict(self.request)
        if max_tokens is not None:
            body[self.cap_key] = max_tokens
        messages = copy.deepcopy(self.messages)
        messages.append({"role": "assistant", "content": kept})
        messages.append({"role": "user", "content": seams.nudge(structure)})
        body["messages"] = messages
        return Plan(mode, self._with_usage(body), max_tokens)

    def _from_scratch(self, mode: str, max_tokens: int | None) -> Plan:
        self.next_join = Join("")
        body = dict(self.request)
        if max_tokens is not None:
            body[self.cap_key] = max_tokens
        return Plan(mode, self._with_usage(body), max_tokens)

    def replan_without_prefill(self, plan: Plan) -> Plan:
        return plan  # there is no prefill on this wire

    def next_plan(self, outcome: Outcome, plan: Plan) -> Plan | None:
        if self.passthrough or outcome.state is not State.TRUNCATED:
            return None  # complete, paused (raw pause_turn from a relay: not ours to resume), ...
        reason = outcome.stop.normalized
        if reason is StopReason.CONTEXT_WINDOW:
            return None
        if reason is StopReason.END and not self.round.cut_calls:
            return None  # a normal stop at the cap: returned complete (absorb)
        left = self.ledger.output_left()
        if left is not None and left <= 0:
            return None
        if self.constrained:
            return self._structured_retry(plan)
        if self.round.cut_calls:
            return self._tool_retry(plan)
        if not self.policy.continue_truncated:
            return None
        if not self.text.strip():
            return None  # reasoning-only: nothing visible to continue from
        go_on, nxt = self.ledger.next_continuation(plan, self.round.progressed, self.round.abandoned)
        if not go_on:
            return None
        return self._continue("continue", nxt)

    def _tool_retry(self, plan: Plan) -> Plan | None:
        if not self.policy.retry_cut_tool_calls:
            return None
        bigger = self._bigger(plan)
        if bigger is None:
            return None
        if self.text.strip():
            return self._continue("tool-retry", bigger)
        return self._from_scratch("tool-retry", bigger)

    def _structured_retry(self, plan: Plan) -> Plan | None:
        if self.sent_any and self.ledger.stream and self.round.texts:
            return None
        bigger = self._bigger(plan)
        if bigger is None:
            return None
        self.text = ""
        self.ledger.note("constrained answer cut: asked again whole with a larger max_tokens")
        return self._from_scratch("structured-retry", bigger)

    def resume_plan(self, plan: Plan) -> Plan | None:
        budget = self.ledger.budget(plan.max_tokens)
        if budget is not None and budget <= 0:
            return None
        if self.text.strip():
            if self.constrained:
                return None
            return self._continue("resume", budget)
        if self.refusal or self.tool_calls:
            return None
        return self._from_scratch("resume", budget)

    # -- folding a round ------------------------------------------------------------------------
    def begin_round(self, plan: Plan) -> None:
        self.let_go()
        self._plain = self._shape = None
        self._reshaped = 0
        self.round = _Round(plan, OpenAIAccumulator(max_tokens=plan.body.get(self.cap_key)), self.next_join)
        self.next_join = None

    def round_done(self) -> bool:
        return self.round.acc.done or self.round.diverged

    def _first(self) -> bool:
        return not self.ledger.rounds and self.round.plan.mode == "initial"

    def _send(self, key: str | None, data: bytes, out: list[bytes]) -> None:
        held = key is not None and (key != _CONTENT or self.constrained)
        if held:
            assert key is not None
            self.outbox.hold(key, data)
        else:
            self.outbox.send(data, out)
        self.sent_any = True

    def _rewrite(self, obj: dict[str, Any], choice: dict[str, Any] | None) -> bytes:
        """A later round's chunk as if it were the first's."""
        new = dict(obj)
        for key, value in self.envelope.items():
            if key != "object":
                new[key] = value
        if not self.wants_usage:
            new.pop("usage", None)
        if choice is not None:
            new["choices"] = [choice]
        return _chunk_bytes(new)

    def _restarts(self, event: ServerSentEvent) -> bool:
        """A chunk that begins the stream again (a relay retried upstream after part of it had
        gone out): a new role chunk, or a new id, once content came."""
        r = self.round
        if not r.raw_text or r.first_id is None:
            return False
        if '"role"' not in event.data and r.first_id in event.data:
            return False
        obj = payload(event.data)
        if obj is None:
            return False
        if obj.get("id") not in (None, r.first_id):
            return True
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return False
        delta = choices[0].get("delta")
        return isinstance(delta, dict) and bool(delta.get("role"))

    def take_plain(self, chunk: bytes) -> bool:
        # A first round's content chunk written like the one learned (same id, model, fields
        # and order; only the text, and OpenAI's obfuscation value, differ) goes out as it came.
        # Anything else takes the general path: a false match of the tail can only fall inside
        # the string, and then the string does not parse.
        plain = self._plain
        if plain is None or not chunk.startswith(plain.prefix):
            return False
        start = len(plain.prefix) - 1
        if plain.obfuscated:
            end = chunk.find(plain.tail, start)
            if end < 0 or not chunk.endswith(b'"}\n\n'):
                return False
            # OpenAI's values are letters and digits; anything else is for the general path.
            if not chunk[end + len(plain.tail) : -4].isalnum():
                return False
        elif chunk.endswith(plain.tail):
            end = len(chunk) - len(plain.tail)
        else:
            return False
        try:
            content = orjson.loads(chunk[start : end + 1])
        except orjson.JSONDecodeError:
            return False
        if type(content) is not str:
            return False
        # What the general path does with such a chunk, inlined: it runs once per token.
        r = self.round
        acc = r.acc
        acc.chunks += 1
        acc.fold_content(content)
        if content:
            r.raw_text.append(content)
        r.texts.append(content)
        if not r.progressed and content.strip():
            r.progressed = True
        return True

    def feed(self, event: ServerSentEvent, raw: bytes | None) -> list[bytes]:
        self._learn = None
        out = self._feed(event, raw)
        learn, self._learn = self._learn, None
        self._plain = None
        if learn is not None and not self.outbox and self._reshaped < _RESHAPES:
            shape = _plain_chunk(*learn)
            if shape is not None and self._shape is not None and shape != self._shape:
                # Each chunk written differently (a relay's own id or created per chunk): the
                # hot path would never match, and learning again costs every chunk.
                self._reshaped += 1
            self._plain = self._shape = shape
        return out

    def _feed(self, event: ServerSentEvent, raw: bytes | None) -> list[bytes]:
        r = self.round
        exact = raw
        if r.diverged:
            return []
        if self.ledger.stream and not self.passthrough and self._restarts(event):
            r.before = r.acc.finish()
            r.acc = OpenAIAccumulator(max_tokens=r.acc.max_tokens)
            r.replay = "".join(r.raw_text)
            r.raw_text = []
            self.outbox.drop({_TOOLS, _FINISH}, [])
            self.ledger.note("upstream restarted the stream: replayed against what was shown")
        obj = r.acc.feed(event)
        if not self.ledger.stream:
            return []
        if self.passthrough:
            return [(raw or encode_event(event.data, event=event.event))]
        out: list[bytes] = []
        if event.data.startswith("[DONE]"):
            r.done = raw or encode_event(event.data, event=event.event)
            return out
        if obj is None or ("error" in obj and "choices" not in obj):
            return out
        if not self.envelope:
            self.envelope = {k: v for k, v in obj.items() if k not in ("choices", "usage")}
        if r.first_id is None and isinstance(obj.get("id"), str):
            r.first_id = obj["id"]
        raw = raw or encode_event(event.data, event=event.event)
        first = self._first()
        choices = obj.get("choices")
        if isinstance(obj.get("usage"), dict) and not choices:
            r.usage, r.usage_raw = obj["usage"], raw
            return out
        if not isinstance(choices, list) or not choices:
            self._send(None, raw if first else self._rewrite(obj, None), out)
            return out
        choice = choices[0] if isinstance(choices[0], dict) else {}
        if choice.get("index", 0) != 0:
            return out
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        assert isinstance(delta, dict)
        finish = choice.get("finish_reason")
        content = delta.get("content") if isinstance(delta.get("content"), str) else None
        if r.replay is not None:
            if content is None:
                if delta.get("role") and finish is None and not delta.get("tool_calls"):
                    return out  # the restart's role chunk
            elif r.replay.startswith(content):
                r.replay = r.replay[len(content) :]
                r.raw_text.append(content)
                return out
            elif content.startswith(r.replay):
                r.raw_text.append(r.replay)
                content = content[len(r.replay) :]
                delta = {**delta, "content": content}
                r.replay = None
                first = False  # the chunk is rewritten
            else:
                r.diverged = True
                self.ledger.note("restarted stream wrote something else than what was shown: resumed instead")
                return out
        if content:
            r.raw_text.append(content)
        piece = content
        if content and r.join is not None:
            piece = r.join.feed(content)
        if content is not None:
            r.texts.append(piece or "")
            if piece and piece.strip():
                r.progressed = True
        if delta.get("tool_calls") or delta.get("function_call"):
            self._send(_TOOLS, raw if first else self._rewrite(obj, choice), out)
            return out
        if finish is None:
            if first and piece == content:
                self._send(_CONTENT, raw, out)
                # A chunk that says nothing but its text, passed on as it came: the shape the
                # hot path takes (a first round has no join; n > 1 and a choice other than 0
                # returned above; a restart's replay and constrained answers take no shortcut).
                if (
                    exact is not None
                    and content
                    and not self.constrained
                    and r.replay is None
                    and len(choices) == 1
                    and set(delta) == {"content"}
                    and set(choice) <= {"index", "delta", "logprobs", "finish_reason"}
                    and choice.get("logprobs") is None
                    and type(choice.get("index", 0)) is int
                    and not obj.get("usage")
                ):
                    self._learn = (exact, content)
            elif piece or delta.get("refusal") or (first and not content):
                if not first and not piece and set(delta) <= {"role", "content"}:
                    return out  # a later round's role chunk
                self._send(
                    _CONTENT, self._rewrite(obj, {**choice, "delta": {**delta, "content": piece}}), out
                )
            return out
        # The chunk that says why the round ended.
        final = self._final_reason(finish)
        r.final = final
        if r.join is not None and normalize_stop_reason(finish) is StopReason.MAX_TOKENS:
            self._abandon_head()
        if r.join is not None and not r.join.head.decided:
            # A continue-turn head still undecided: decided before the reason goes out.
            tail = r.join.finish()
            if tail:
                r.texts.append(tail)
                r.progressed = r.progressed or bool(tail.strip())
                content = (content or "") + tail
                piece = (piece or "") + tail
                delta = {**delta, "content": content}
        if final:
            self.outbox.settle_all(out)
            if not first:
                word = _OPENAI_WORDS.get(finish, finish) if isinstance(finish, str) else finish
                choice = {
                    **choice,
                    "delta": {**delta, "content": piece} if content else delta,
                    "finish_reason": word,
                }
                raw = self._rewrite(obj, choice)
            elif piece != content:
                raw = self._rewrite(obj, {**choice, "delta": {**delta, "content": piece}})
            self._send(None, raw, out)
            r.finish_sent = True
            return out
        if first and not content:
            self.outbox.hold(_FINISH, raw)
            return out
        if piece:
            # The text goes out now; the reason waits for the decision.
            self._send(
                _CONTENT,
                self._rewrite(obj, {**choice, "delta": {**delta, "content": piece}, "finish_reason": None}),
                out,
            )
            delta = {k: v for k, v in delta.items() if k != "content"}
        word = finish if first or not isinstance(finish, str) else _OPENAI_WORDS.get(finish, finish)
        self.outbox.hold(_FINISH, self._rewrite(obj, {**choice, "delta": delta, "finish_reason": word}))
        return out

    def _final_reason(self, finish: object) -> bool:
        reason = normalize_stop_reason(finish)
        if reason in _FINAL_REASONS:
            return True
        if reason is StopReason.TOOL_USE:
            calls = self.round.acc.snapshot()["choices"]
            message = calls[0]["message"] if calls else {}
            return all(
                is_whole_json(c.get("function", {}).get("arguments") or "{}")
                for c in message.get("tool_calls") or ()
            )
        return False

    def stream_outcome(self) -> Outcome:
        if self.round.diverged and self.round.before is not None:
            before = self.round.before
            before.state, before.error = State.INTERRUPTED, None
            return before
        outcome = self.round.acc.finish()
        if self.round.final and outcome.state in (State.INTERRUPTED, State.FAILED):
            # The finish chunk arrived: the answer is whole. Only the usage chunk or [DONE] went
            # missing, or an error came after the end.
            outcome.error = None
            choice = outcome.choices[0] if outcome.choices else None
            broken = (State.INTERRUPTED, State.FAILED)
            outcome.state = State.COMPLETE if choice is None or choice.state in broken else choice.state
            self.ledger.note("stream ended after its finish chunk, before usage or [DONE]")
        return outcome

    def body_outcome(self, body: bytes) -> Outcome:
        r = self.round
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return OpenAIAccumulator().finish()
        try:
            outcome = parse_completion(obj, max_tokens=r.acc.max_tokens)
        except ProtocolError:
            return OpenAIAccumulator().finish()
        r.body = obj if isinstance(obj, dict) else None
        if not self.ledger.rounds and r.plan.mode == "initial":
            self.raw = body
        return outcome

    def absorb(self, outcome: Outcome, plan: Plan, *, partial: bool) -> None:
        r = self.round
        if self.passthrough:
            # Several choices go through as they came: the body byte for byte (transparent()).
            self.passthrough_body = dict(outcome.message)
            return
        cut = partial or any(c.stop.normalized is StopReason.MAX_TOKENS for c in outcome.choices[:1])
        if len(self.ledger.rounds) > 1 or partial or plan.mode != "initial":
            self.raw = None
        message = r.body if r.body is not None else outcome.message
        if not self.envelope or (r.body is not None and not self.usages):
            self.envelope = {k: v for k, v in message.items() if k not in ("choices", "usage")}
        else:
            for k, v in message.items():
                if k not in ("choices", "usage"):
                    self.envelope.setdefault(k, v)
        usage = message.get("usage") if r.body is not None else (r.usage or outcome.message.get("usage"))
        if isinstance(usage, dict):
            self.usages.append(usage)
        choices = message.get("choices") or []
        raw_choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        choice = outcome.choices[0] if outcome.choices else None
        if not partial and choice is not None:
            self.finish_reason = choice.stop.raw
        msg = raw_choice.get("message") if isinstance(raw_choice.get("message"), dict) else {}
        assert isinstance(msg, dict)
        calls = msg.get("tool_calls") or []
        whole = choice is not None and choice.state is State.COMPLETE
        r.cut_calls = bool(calls) and not whole and not partial
        if calls and not partial and whole:
            self.tool_calls.extend(calls)
        refusal = msg.get("refusal")
        if isinstance(refusal, str) and refusal:
            self.refusal = (self.refusal or "") + refusal
        for k, v in raw_choice.items():
            if k not in ("index", "message", "finish_reason", "delta"):
                self.choice_extra[k] = _join_field(self.choice_extra.get(k), v)
        for k, v in msg.items():
            if k not in ("role", "content", "refusal", "tool_calls"):
                self.message_extra[k] = _join_field(self.message_extra.get(k), v)
        if self.ledger.stream:
            if cut:
                self._abandon_head()
            if r.join is not None:
                tail = r.join.finish()
                if tail:
                    r.texts.append(tail)
                    self._send(_CONTENT, self._text_chunk(tail), self.late)
            new = "".join(r.texts)
        else:
            got = msg.get("content")
            new = got if isinstance(got, str) else ""
            if r.join is not None:
                new = r.join.feed(new)
                if cut:
                    self._abandon_head()
                new += r.join.finish()
        for note in r.join.notes() if r.join is not None else ():
            self.ledger.note(note)
        r.progressed = bool(new.strip()) or bool(calls)
        self.text += new
        ended = choice is not None and choice.stop.normalized is StopReason.END
        if outcome.state is State.TRUNCATED and ended and not partial and not r.cut_calls:
            # A normal stop with output at the cap: there is no prefill here to look without
            # altering a finished answer, so it is what it says (decided here, not when the next
            # round is planned: with no round left the verdict is the same).
            self.at_cap_complete = True
            self.ledger.note(f"{outcome.stop.raw} with output at the cap: returned complete")

    def _abandon_head(self) -> None:
        join = self.round.join
        if join is not None and join.abandon():
            self.ledger.note(UNDECIDED)
            self.round.abandoned = True

    def _text_chunk(self, text: str) -> bytes:
        return self._chunk({"content": text})

    def conclude(self, nxt: Plan | None, *, failed: bool) -> bytes:
        if not self.ledger.stream or self.passthrough:
            return b""
        out: list[bytes] = list(self.late)
        self.late.clear()
        if nxt is None:
            self.outbox.settle_all(out)
        else:
            self.outbox.drop({_TOOLS, _FINISH, _CONTENT}, out)
        return b"".join(out)

    # -- writing the answer ---------------------------------------------------------------------
    def has_content(self) -> bool:
        return bool(self.text or self.tool_calls or self.refusal)

    def answer_size(self) -> int:
        return len(self.text) + len(self.tool_calls) + len(self.refusal or "")

    def _finish_word(self) -> str | None:
        raw = self.finish_reason
        return _OPENAI_WORDS.get(raw, raw) if raw is not None else None

    def _usage(self) -> dict[str, Any]:
        return (
            sum_usage(self.usages)
            if self.usages
            else {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        )

    def final_body(self) -> bytes:
        if self.transparent():
            assert self.raw is not None
            return self.raw
        if self.passthrough:
            return orjson.dumps(self.passthrough_body)
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None, "refusal": self.refusal}
        if self.tool_calls:
            message["tool_calls"] = [
                {k: v for k, v in call.items() if k != "index"} for call in self.tool_calls
            ]
        message.update(self.message_extra)
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "finish_reason": self._finish_word(),
            "logprobs": None,
        }
        choice.update(self.choice_extra)
        body: dict[str, Any] = {
            "id": None,
            "object": "chat.completion",
            "created": int(self.ledger.clock()),
            "model": self.ledger.model,
        }
        body.update(self.envelope)
        body["object"] = "chat.completion"
        body["choices"] = [choice]
        body["usage"] = self._usage()
        return orjson.dumps(body)

    def _chunk(self, delta: dict[str, Any] | None, finish_reason: str | None = None, **extra: Any) -> bytes:
        """A chunk of our own, with the first round's envelope (id, model, service_tier, every
        field of it); ``delta=None``: one with no choices (the usage chunk)."""
        chunk: dict[str, Any] = {
            "id": None,
            "created": int(self.ledger.clock()),
            "model": self.ledger.model,
            **{k: v for k, v in self.envelope.items() if k != "object"},
            "object": "chat.completion.chunk",
        }
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk["choices"] = [] if delta is None else [choice]
        chunk.update(extra)
        return _chunk_bytes(chunk)

    def close_stream(self, error: APIError | None, summary: dict[str, Any]) -> bytes:
        if self.passthrough:
            if error is None:
                return b""
            return _chunk_bytes({"error": {"message": error.message, "type": error.error_type}})
        out: list[bytes] = list(self.late)
        self.late.clear()
        finish_held = self.outbox.queued(_FINISH)
        self.outbox.settle_all(out)
        if error is not None:
            out.append(
                _chunk_bytes({"error": {"message": error.message, "type": error.error_type or "api_error"}})
            )
            return b"".join(out)
        r = self.round
        one = len(self.ledger.rounds) == 1
        if not r.finish_sent and not finish_held:
            out.append(self._chunk({}, finish_reason=self._finish_word()))
        if one and r.usage_raw is not None:
            out.append(r.usage_raw)  # as it came, asked for or not: nothing was finished
        elif self.wants_usage:
            out.append(self._chunk(None, usage=self._usage()))
        out.append(r.done if one and r.done is not None else b"data: [DONE]\n\n")
        if self.policy.report_event:
            out.append(encode_event(orjson.dumps({"type": "stopwise", **summary}).decode(), event="stopwise"))
        return b"".join(out)
