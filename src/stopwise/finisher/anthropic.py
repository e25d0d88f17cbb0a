"""The finisher's strategy for Anthropic Messages.

The caller sees one message: the first round's envelope (id, model and every other field, known
or not), text that goes on in the same content block across rounds, usage summed field by field
over every round, the last round's stop fields.

A stream is the upstream's own events, in their order, as they arrive: a round that needs no
finishing goes out unchanged (and a ``stopwise`` event after ``message_stop``, which SDKs skip).
What the round's stop reason decides is held back until it is known (:class:`~.outbox.Outbox`):
a client tool call (a cut one is asked for again and must never be shown), a thinking block (a
cut one is never handed back), a text block's ``content_block_stop`` (the next round may go on
in it), ``message_delta`` and ``message_stop``. Text itself is never held: the seam is reconciled
at the head of the next round (:mod:`.join`). A constrained answer (a forced tool, an output
format) is held whole, because a cut one is asked for again from the start.

Later rounds are rewritten into the first: their ``message_start`` dropped, their first text
block merged into the answer's open one, block indices continued. A relay that restarts the
stream mid-round (a second ``message_start``) is replayed against what was shown, so nothing is
shown twice.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..dialects._json import payload
from ..dialects.anthropic import AnthropicAccumulator, parse_message
from ..errors import APIError, ProtocolError
from ..outcome import Outcome, State, StopReason
from ..sse import ServerSentEvent, encode_data, encode_event
from . import seam as seams
from .dialect import Dialect, Ledger, Plan
from .join import UNDECIDED, Join
from .outbox import Outbox
from .report import sum_usage
from .text import Head

__all__ = ["AnthropicDialect"]

_CLIENT_TOOLS = frozenset({"tool_use"})
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_THINKING = frozenset({"thinking", "redacted_thinking"})
_STOP_FIELDS = ("stop_reason", "stop_sequence", "stop_details")
_MAX_BREAKPOINTS = 4  # cache_control blocks the API accepts in one request


def _event(name: str, obj: dict[str, Any]) -> bytes:
    return encode_data(orjson.dumps(obj), event=name)


def _request_block(block: dict[str, Any]) -> dict[str, Any] | None:
    """A response block as it may be sent back in an assistant turn."""
    kind = block.get("type")
    if kind == "text":
        text = block.get("text") or ""
        return {"type": "text", "text": text} if text else None
    if kind == "thinking":
        # A thinking block cut by max_tokens has no signature and cannot be replayed.
        if not block.get("signature"):
            return None
        return {"type": "thinking", "thinking": block.get("thinking", ""), "signature": block["signature"]}
    if kind in _TOOL_BLOCKS:
        return {k: block[k] for k in ("type", "id", "name", "input") if k in block}
    return {k: v for k, v in block.items() if v is not None and k not in ("citations", "parsed_output")}


def _constrained(body: dict[str, Any]) -> bool:
    """A forced tool or an output format: the answer's shape is fixed, so a cut one cannot be
    continued by concatenation."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("tool", "any"):
        return True
    fmt = body.get("output_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")


# How the API writes a text delta of block %d, up to the text's opening quote.
_PLAIN_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":"'
)


@dataclass(slots=True)
class _Round:
    """One round's state, replaced at each :meth:`AnthropicDialect.begin_round`."""

    plan: Plan
    acc: AnthropicAccumulator
    join: Join | None  # how the round's first text block joins the answer's open one
    first_index: int  # the downstream index the round's first new block would take
    index_map: dict[int, int] = field(default_factory=dict)  # upstream -> downstream
    kinds: dict[int, str] = field(default_factory=dict)
    texts: dict[int, list[str]] = field(default_factory=dict)  # joined text, as shown
    raw_texts: dict[int, list[str]] = field(default_factory=dict)  # as the upstream wrote it
    merged: int | None = None  # the upstream index merged into the answer's open text block
    # A continue turn under extended thinking opens with the model thinking about how to go on:
    # reasoning about the nudge, not part of the answer, so neither shown nor kept.
    skip_thinking: bool = False
    skipped: set[int] = field(default_factory=set)
    # A round that begins the answer again (from scratch, into an open text block that showed
    # only citations): the citations already shown, which it writes again.
    cite_skip: list[Any] = field(default_factory=list)
    scratch: bool = False
    cites: dict[int, int] = field(default_factory=dict)  # citations shown, per upstream index
    cite_replay: dict[int, int] = field(default_factory=dict)  # after a restart: to skip
    saw_start: bool = False
    deltas: list[bytes] = field(default_factory=list)  # message_delta events, held
    stop: bytes | None = None  # message_stop, held
    # A restarted stream: per upstream index, the raw text it must write again before it is new.
    replay: dict[int, str] = field(default_factory=dict)
    replayed: set[int] = field(default_factory=set)  # indices shown before the restart
    diverged: bool = False  # the restart wrote something else than what was shown
    before: Outcome | None = None  # the outcome before the restart, if it diverged
    progressed: bool = False
    cut: bool = False  # the round ended at the cap or broke off (set when it is absorbed)
    abandoned: bool = False  # cut inside its reply's undecided head (Join.abandon)
    # The open text block whose deltas go out as they came, with nothing to decide (not held,
    # not merged, not replayed, same index downstream): the hot path of every stream.
    plain_text: int | None = None


class AnthropicDialect(Dialect):
    name = "anthropic"

    def __init__(self, request: dict[str, Any], ledger: Ledger) -> None:
        super().__init__(request, ledger)
        self._raw: bytes | None = None  # the event being fed, as it came (see feed)
        self._plain_prefix: bytes | None = None  # how a plain text delta starts (take_plain)
        messages = request.get("messages")
        self.messages: list[dict[str, Any]] = list(messages) if isinstance(messages, list) else []
        # A caller's own prefill: the response continues it, but is not part of the response.
        self.caller_prefill: list[dict[str, Any]] = []
        if (
            self.messages
            and isinstance(self.messages[-1], dict)
            and self.messages[-1].get("role") == "assistant"
        ):
            last = self.messages.pop()
            content = last.get("content")
            self.caller_prefill = (
                [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
            )
        cap = request.get("max_tokens")
        self.max_tokens = cap if isinstance(cap, int) and not isinstance(cap, bool) else None
        self.constrained = _constrained(request)
        self.thinking = isinstance(request.get("thinking"), dict) and request["thinking"].get("type") in (
            "enabled",
            "adaptive",
        )
        # The answer being built, in response shape.
        self.content: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}  # the first round's envelope, less content and stop fields
        self.stop_fields: dict[str, Any] = {"stop_reason": None, "stop_sequence": None}
        self.usages: list[dict[str, Any]] = []
        self.pauses = 0
        # Where the answer's last text block stood at each continuation (for cache segments).
        self.text_marks: list[int] = []
        self.marks_block = -1
        self.next_join: Join | None = None
        self.next_structure = seams.Structure()
        # Stream state that lives across rounds.
        self.outbox = Outbox()
        self.late: list[bytes] = []  # text a round's seam held until its end, not yet sent
        self.sent_start = False
        self.next_index = 0
        self.open_text: int | None = None  # downstream index of a text block whose stop is not out
        self.round = _Round(Plan("initial", request), AnthropicAccumulator(), None, 0)

    # -- plans ----------------------------------------------------------------------------------
    def first_plan(self) -> Plan:
        body = self.request
        budget = self.ledger.budget(self.max_tokens)
        if budget is not None and budget != self.max_tokens:
            body = {**body, "max_tokens": max(budget, 1)}
        return Plan("initial", body, max_tokens=body.get("max_tokens"))

    def _breakpoints(self, messages: list[dict[str, Any]]) -> int:
        count = 0
        for part in (self.request.get("system"), self.request.get("tools"), messages):
            count += _count_cache_control(part)
        return count

    def _body(self, ours: list[dict[str, Any]], *, prefill: bool, max_tokens: int | None) -> dict[str, Any]:
        # The caller's thinking configuration goes on every round: an assistant turn keeps one
        # (brief/wire.md), so a thinking answer goes on by a continue turn, never a prefill, with
        # its signed thinking replayed first.
        body = dict(self.request)
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        messages = copy.deepcopy(self.messages)
        if self.policy.cache_prefix:
            room = _MAX_BREAKPOINTS - self._breakpoints(messages)
            if room >= 2:
                _mark_cache(messages)
            if room >= 1 and ours:
                if ours[-1].get("type") == "text" and self.marks_block == len(self.content) - 1:
                    # One block per round: each round's prefix is then block-aligned and
                    # unchanged in the next request, so the next round reads it from the cache.
                    ours[-1:] = _segments(ours[-1]["text"], self.text_marks)
                ours[-1] = {**ours[-1], "cache_control": {"type": "ephemeral"}}
        if prefill:
            messages.append({"role": "assistant", "content": copy.deepcopy(self.caller_prefill) + ours})
        else:
            messages.append({"role": "assistant", "content": ours})
            messages.append({"role": "user", "content": seams.nudge(self.next_structure)})
        body["messages"] = messages
        return body

    def _ends_in_text(self) -> bool:
        return bool(self.content) and self.content[-1].get("type") == "text"

    def _can_prefill(self) -> bool:
        return (
            self.policy.prefill == "auto"
            and not self.thinking
            and self.memory.prefill(self.name, self.ledger.model)
        )

    def _continue(self, mode: str, max_tokens: int | None, *, whole: bool = False) -> Plan | None:
        """A round that goes on from the end of the answer so far. ``whole``: the text ended
        before a tool call, so it is complete up to its trailing whitespace."""
        if max_tokens is not None and max_tokens <= 0:
            return None
        if not self.content and not self.caller_prefill:
            return None
        prefill = self._can_prefill()
        if not prefill and not self.content:
            return None
        if (
            not prefill
            and not whole
            and not self.caller_prefill
            and len(self.content) == 1
            and self._ends_in_text()
            and (again := Join.again(self.content[0].get("text", ""))) is not None
        ):
            planned = self._from_scratch(mode, max_tokens)
            self.next_join = again
            return planned
        ours = [b for b in (_request_block(x) for x in self.content) if b is not None]
        self.next_join = None
        self.next_structure = seams.Structure()
        if self._ends_in_text():
            text = self.content[-1].get("text", "")
            if prefill or whole:
                kept, join = Join.prefill(text)
                self.next_structure = seams.structure_at(kept)
                if not prefill:
                    # A continue turn after text that ended whole (before a tool call): only the
                    # trailing whitespace is the seam.
                    head = Head(seams.Seam(kept, join.shown), self.next_structure)
                    join = Join(join.shown, head=head)
            else:
                kept, join, self.next_structure = Join.continue_turn(text)
            self.next_join = join
            if ours and ours[-1].get("type") == "text":
                if kept:
                    ours[-1] = {"type": "text", "text": kept}
                else:
                    ours.pop()
            if self.marks_block != len(self.content) - 1:
                self.marks_block, self.text_marks = len(self.content) - 1, []
            self.text_marks.append(len(kept))
        if ours and ours[-1].get("type") in _THINKING:
            return None  # an assistant turn must not end on thinking
        if not ours and not (prefill and self.caller_prefill):
            return None
        kind = "prefill" if prefill and mode == "continue" else mode
        body = self._body(ours, prefill=prefill, max_tokens=max_tokens)
        return Plan(kind, body, max_tokens, prefill, continues=True)

    def replan_without_prefill(self, plan: Plan) -> Plan:
        mode = "continue" if plan.mode == "prefill" else plan.mode
        if self._ends_in_text():
            text = self.content[-1].get("text", "")
            kept, self.next_join, self.next_structure = Join.continue_turn(text)
        ours = [b for b in (_request_block(x) for x in self.content) if b is not None]
        if self._ends_in_text() and ours and ours[-1].get("type") == "text":
            if kept:
                ours[-1] = {"type": "text", "text": kept}
            else:
                ours.pop()
        body = self._body(ours, prefill=False, max_tokens=plan.max_tokens)
        return Plan(mode, body, plan.max_tokens, continues=True)

    def with_max_tokens(self, plan: Plan, max_tokens: int) -> Plan | None:
        current = plan.body.get("max_tokens")
        if isinstance(current, int) and current <= max_tokens:
            return None
        body = {**plan.body, "max_tokens": max_tokens}
        return Plan(plan.mode, body, max_tokens, plan.prefill, continues=plan.continues)

    def _bigger(self, plan: Plan) -> int | None:
        """A retry's budget for an answer that must come whole: more than the last round had."""
        current = plan.body.get("max_tokens")
        if not isinstance(current, int):
            return None
        return self.ledger.bigger(current, self.memory.ceiling(self.ledger.model))

    def next_plan(self, outcome: Outcome, plan: Plan) -> Plan | None:
        reason = outcome.stop.normalized
        if outcome.state is State.PAUSED:
            if not self.policy.resume_pause_turn or self.pauses >= self.policy.max_pause_rounds:
                return None
            self.pauses += 1
            self.next_join = None
            body = dict(self.request)
            budget = self.ledger.budget(self.max_tokens)
            if budget is not None:
                if budget <= 0:
                    return None
                body["max_tokens"] = budget
            messages = copy.deepcopy(self.messages)
            # The paused turn goes back exactly as it came (brief/wire.md, pause_turn).
            messages.append(
                {
                    "role": "assistant",
                    "content": copy.deepcopy(self.caller_prefill) + copy.deepcopy(self.content),
                }
            )
            body["messages"] = messages
            return Plan("pause", body, body.get("max_tokens"))
        if outcome.state is not State.TRUNCATED or reason is StopReason.CONTEXT_WINDOW:
            return None  # complete, or truncated by a full window: continuing would not fit
        if reason is StopReason.END and not (
            self.policy.continue_truncated and self._can_prefill() and self._ends_in_text()
        ):
            # A normal stop with output at the cap: the answer may be whole. Only a prefill,
            # which adds nothing to a finished answer, may look; otherwise it is what it says.
            self._complete_at_cap(outcome)
            return None
        left = self.ledger.output_left()
        if left is not None and left <= 0:
            return None
        if self.constrained:
            return self._structured_retry(plan)
        if outcome.content and outcome.content[-1].get("type") in _TOOL_BLOCKS:
            return self._tool_retry(plan)
        if not self.policy.continue_truncated:
            return None
        if not outcome.text:
            return None  # reasoning-only: continuing would spend the budget thinking again
        go_on, nxt = self.ledger.next_continuation(
            plan,
            self.round.progressed,
            self.memory.ceiling(self.ledger.model),
            abandoned=self.round.abandoned,
        )
        if not go_on:
            return None
        planned = self._continue("continue", nxt)
        if planned is None and reason is not StopReason.MAX_TOKENS:
            self._complete_at_cap(outcome)
        return planned

    def _complete_at_cap(self, outcome: Outcome) -> None:
        self.at_cap_complete = True
        self.ledger.note(f"{outcome.stop.raw} with output at max_tokens: returned complete")

    def _tool_retry(self, plan: Plan) -> Plan | None:
        if not self.policy.retry_cut_tool_calls:
            return None
        bigger = self._bigger(plan)
        if bigger is None:
            return None  # it cannot fit: hand back the truncation as it is
        # Drop the cut call and any call before it that was never shown (they are written again,
        # whole) and go on from what preceded them.
        saved = list(self.content)
        self._drop_unshown_tail()
        if not self._visible():
            return self._from_scratch("tool-retry", bigger)
        planned = self._continue("tool-retry", bigger, whole=True)
        if planned is None:
            self.content = saved
        return planned

    def _structured_retry(self, plan: Plan) -> Plan | None:
        if self.round.first_index != 0 or len(self.usages) > 1:
            return None  # part of it is already out: it cannot be asked for again
        bigger = self._bigger(plan)
        if bigger is None:
            return None
        self.content = []
        self.next_join = None
        self.ledger.note("constrained answer cut: asked again whole with a larger max_tokens")
        return Plan("structured-retry", {**self.request, "max_tokens": bigger}, bigger)

    def _visible(self) -> bool:
        """The answer holds something to go on from (thinking alone is not: a turn cannot end
        on it)."""
        return any(b.get("type") not in ("text", *_THINKING) or b.get("text") for b in self.content)

    def _drop_unshown_tail(self) -> None:
        """Blocks at the answer's end the caller never saw (a cut tool call, whole calls and a
        thinking block held back with it) go: the retry writes them again. A body shows nothing
        before its end, so there every trailing tool call and thinking block goes."""
        while self.content:
            last = len(self.content) - 1
            if self.ledger.stream:
                if not self.outbox.holds(("block", last)):
                    return
            elif self.content[last].get("type") not in (*_TOOL_BLOCKS, *_THINKING):
                return
            self.content.pop()

    def _has_thinking(self) -> bool:
        return any(b.get("type") in _THINKING for b in self.content)

    def _from_scratch(self, mode: str, max_tokens: int | None) -> Plan:
        """The caller's request again: nothing of the answer was shown but, perhaps, the start of
        an empty text block, which the new round's text goes on in."""
        self.next_join = Join("") if self._ends_in_text() else None
        body = self.request
        if max_tokens is not None and max_tokens != body.get("max_tokens"):
            body = {**body, "max_tokens": max_tokens}
        return Plan(mode, body, max_tokens)

    def resume_plan(self, plan: Plan) -> Plan | None:
        budget = self.ledger.budget(plan.max_tokens)
        if budget is not None and budget <= 0:
            return None
        self._drop_unshown_tail()
        if not self._visible():
            return self._from_scratch("resume", budget)
        if self.constrained:
            return None
        return self._continue("resume", budget)

    # -- folding a round ------------------------------------------------------------------------
    def begin_round(self, plan: Plan) -> None:
        self._plain_prefix = None
        join = self.next_join if self._ends_in_text() else None
        acc = AnthropicAccumulator(max_tokens=plan.body.get("max_tokens"))
        self.round = _Round(
            plan,
            acc,
            join,
            self.next_index,
            skip_thinking=self.thinking and (plan.continues or self._has_thinking()),
        )
        if join is not None and not plan.continues:
            cites = self.content[-1].get("citations")
            self.round.cite_skip = list(cites) if isinstance(cites, list) else []
            self.round.scratch = True
        self.next_join = None

    def round_done(self) -> bool:
        return self.round.acc.done or self.round.diverged

    def take_plain(self, chunk: bytes) -> bool:
        # The exact shape the API writes a text delta in; anything else (another index, spaces,
        # extra fields, an escape that ends the string early) takes the general path.
        prefix = self._plain_prefix
        if (
            prefix is None
            or not chunk.startswith(prefix)
            or not chunk.endswith(b'"}}\n\n')
            or chunk.count(b"\n") != 3
            or 13 in chunk
        ):
            return False
        try:
            piece = orjson.loads(chunk[len(prefix) - 1 : -4])
        except orjson.JSONDecodeError:
            return False
        index = self.round.plain_text
        if not isinstance(piece, str) or index is None:
            return False
        self._fold_plain(index, piece)
        return True

    def feed(self, event: ServerSentEvent, raw: bytes | None) -> list[bytes]:
        out = self._feed(event, raw)
        r = self.round
        plain = r.plain_text is not None and not self.outbox and not r.diverged and self.ledger.stream
        self._plain_prefix = _PLAIN_DELTA % r.plain_text if plain else None
        return out

    def _feed(self, event: ServerSentEvent, raw: bytes | None) -> list[bytes]:
        r = self.round
        if r.diverged:
            return []
        self._raw = raw
        if r.plain_text is not None and raw is not None and event.event == "content_block_delta":
            piece = self._plain_delta(event.data, r.plain_text)
            if piece is not None:
                self._fold_plain(r.plain_text, piece)
                sent: list[bytes] = []
                self.outbox.send(raw, sent)
                return sent
        obj = r.acc.feed(event)
        if not self.ledger.stream:
            return []
        out: list[bytes] = []
        name = event.event
        if name == "ping" or obj is None:
            if name == "ping" or (name not in (None, "message_stop") and not event.data):
                self.outbox.send(self._same(event), out)
            elif name == "message_stop":
                r.stop = self._same(event)
            return out
        kind = obj.get("type", name)
        if kind == "content_block_delta":
            self._on_delta(obj, event, out)
        elif kind == "content_block_start":
            self._on_start(obj, event, out)
        elif kind == "content_block_stop":
            self._on_stop(obj, event, out)
        elif kind == "message_delta":
            r.deltas.append(self._same(event))
        elif kind == "message_stop":
            r.stop = self._same(event)
        elif kind == "message_start":
            self._on_message_start(obj, event, out)
        elif kind == "error":
            pass  # the loop resumes or gives up
        else:
            # An event type we do not know: passed on as it came (the SDKs skip what they do
            # not know, and the caller may know it).
            self.outbox.send(self._same(event), out)
        return out

    @staticmethod
    def _plain_delta(data: str, index: int) -> str | None:
        """The text of a text delta of block ``index`` however it is serialized; ``None`` for
        anything else (the general path then reads the event)."""
        obj = payload(data)
        if obj is None or obj.get("type") != "content_block_delta" or obj.get("index") != index:
            return None
        delta = obj.get("delta")
        if not isinstance(delta, dict) or delta.get("type") != "text_delta":
            return None
        piece = delta.get("text")
        return piece if isinstance(piece, str) else None

    def _fold_plain(self, index: int, piece: str) -> None:
        """A text delta of the plain open block, passed on unchanged: folded where the general
        path would fold it (the accumulator, the text shown and as written)."""
        r = self.round
        r.acc.fold_text(index, piece)
        r.raw_texts[index].append(piece)
        r.texts[index].append(piece)
        if not r.progressed and piece.strip():
            r.progressed = True

    def _same(self, event: ServerSentEvent) -> bytes:
        """The event being fed, unchanged: as it came when the decoder saw it whole."""
        return self._raw or encode_event(event.data, event=event.event)

    def _raw_or(self, event: ServerSentEvent, obj: dict[str, Any], index: int, down: int) -> bytes:
        if index == down:
            return self._same(event)
        return _event(str(obj.get("type")), {**obj, "index": down})

    def _on_message_start(self, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]) -> None:
        r = self.round
        if r.saw_start:
            self._restart(obj)
            return
        r.saw_start = True
        if not self.sent_start and isinstance(obj.get("message"), dict):
            self.sent_start = True
            self.outbox.send(self._same(event), out)

    def _restart(self, obj: dict[str, Any]) -> None:
        """A relay began the message again: what it writes again is checked against what was
        shown and dropped; a cut held block is forgotten (it was never shown)."""
        r = self.round
        r.plain_text = None
        r.before = r.acc.finish()
        r.acc = AnthropicAccumulator(max_tokens=r.plan.body.get("max_tokens"))
        r.acc.feed_json(obj, "message_start")
        held = set(self.outbox.held_keys())
        keep_stops = {k for k in held if isinstance(k, tuple) and k[0] == "stop"}
        dropped = held - keep_stops
        if dropped:
            self.outbox.drop(dropped, [])
        shown: dict[int, int] = {}
        for index, down in list(r.index_map.items()):
            if ("block", down) in dropped:
                del r.index_map[index]
                r.texts.pop(index, None)
                r.raw_texts.pop(index, None)
                continue
            shown[index] = down
            if index in r.raw_texts:
                r.replay[index] = "".join(r.raw_texts[index])
            if r.cites.get(index):
                r.cite_replay[index] = r.cites[index]
        r.replayed = set(shown)
        self.next_index = max([r.first_index, *(d + 1 for d in shown.values() if d >= r.first_index)])
        self.ledger.note("upstream restarted the stream: replayed against what was shown")

    def _diverge(self) -> None:
        r = self.round
        r.diverged = True
        self.ledger.note("restarted stream wrote something else than what was shown: resumed instead")

    def _on_start(self, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]) -> None:
        r = self.round
        r.plain_text = None
        index, block = obj.get("index"), obj.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            return
        kind = str(block.get("type"))
        if index in r.replayed:
            return  # shown before the restart
        if index in r.index_map or index in r.skipped:
            return  # a block started twice: the accumulator counts it
        if r.skip_thinking and kind in _THINKING:
            r.skipped.add(index)
            return
        r.kinds[index] = kind
        if kind == "text" and r.join is not None and r.merged is None and self.open_text is not None:
            r.merged = index
            r.index_map[index] = self.open_text
            r.texts[index], r.raw_texts[index] = [], []
            first = block.get("text") or ""
            if first:
                self._text(index, first, obj, event, out)
            return
        down = self.next_index
        self.next_index += 1
        r.index_map[index] = down
        held = kind in _CLIENT_TOOLS or kind in _THINKING or (self.constrained and kind == "text")
        self._decide_head(out)
        if not held:
            # The model moved on past whatever was held: it is whole.
            self.outbox.settle_all(out)
            self._close_open_text(out)
        data = self._raw_or(event, obj, index, down)
        if held:
            self.outbox.hold(("block", down), data)
        else:
            self.outbox.send(data, out)
        if kind == "text":
            r.texts[index], r.raw_texts[index] = [block.get("text") or ""], [block.get("text") or ""]
            self.open_text = down
            if not held and index == down:
                r.plain_text = index

    def _decide_head(self, out: list[bytes]) -> None:
        """The merged block's continue-turn head, still held: decided now."""
        r = self.round
        if r.merged is None or r.join is None or r.join.head.decided:
            return
        tail = r.join.finish()
        if tail:
            r.texts[r.merged].append(tail)
            r.progressed = r.progressed or bool(tail.strip())
            down = r.index_map[r.merged]
            data = _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": down, "delta": {"type": "text_delta", "text": tail}},
            )
            if self.outbox.holds(("block", down)):
                self.outbox.hold(("block", down), data)
            else:
                self.outbox.send_before(("stop", down), data, out)

    def _close_open_text(self, out: list[bytes]) -> None:
        """A new block follows the answer's open text block: its stop goes out now."""
        down = self.open_text
        if down is None:
            return
        self.open_text = None
        if not self.outbox.queued(("stop", down)):
            self.outbox.send(_event("content_block_stop", {"type": "content_block_stop", "index": down}), out)

    def _text(
        self, index: int, piece: str, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]
    ) -> None:
        r = self.round
        down = r.index_map[index]
        r.raw_texts.setdefault(index, []).append(piece)
        shown = piece
        if index == r.merged and r.join is not None:
            shown = r.join.feed(piece)
        r.texts.setdefault(index, []).append(shown)
        if shown.strip():
            r.progressed = True
        if not shown:
            return
        if shown == piece and index == down and obj.get("type") == "content_block_delta":
            data = self._same(event)
        else:
            data = _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": down,
                    "delta": {"type": "text_delta", "text": shown},
                },
            )
        self._put(down, data, out)

    def _on_delta(self, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]) -> None:
        r = self.round
        index, delta = obj.get("index"), obj.get("delta")
        if not isinstance(index, int) or not isinstance(delta, dict) or index not in r.index_map:
            return
        down = r.index_map[index]
        text_block = r.kinds.get(index) == "text"
        if index in r.replayed:
            if not text_block:
                return  # a block shown before the restart
            if index in r.replay and delta.get("type") == "text_delta":
                piece = delta.get("text")
                if not isinstance(piece, str):
                    return
                want = r.replay[index]
                if want.startswith(piece):
                    r.replay[index] = want[len(piece) :]
                    return
                if not piece.startswith(want):
                    self._diverge()
                    return
                del r.replay[index]
                piece = piece[len(want) :]
                if piece:
                    self._text(index, piece, obj, event, out)
                return
        if delta.get("type") == "text_delta" and text_block:
            piece = delta.get("text")
            if isinstance(piece, str):
                self._text(index, piece, obj, event, out)
            return
        if delta.get("type") == "citations_delta":
            if r.cite_replay.get(index):
                r.cite_replay[index] -= 1
                return
            r.cites[index] = r.cites.get(index, 0) + 1
        if index == r.merged and delta.get("type") == "citations_delta" and r.cite_skip:
            if delta.get("citation") == r.cite_skip[0]:
                r.cite_skip.pop(0)
                return
            r.cite_skip.clear()
        if index == r.merged:
            data = _event("content_block_delta", {**obj, "index": down})
        else:
            data = self._raw_or(event, obj, index, down)
        self._put(down, data, out)

    def _on_stop(self, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]) -> None:
        r = self.round
        r.plain_text = None
        index = obj.get("index")
        if not isinstance(index, int) or index not in r.index_map:
            return
        kind = r.kinds.get(index)
        if index in r.replayed and kind != "text":
            return
        down = r.index_map[index]
        if kind == "text":
            # A continue-turn head still undecided when its block stops waits for the stop
            # reason (the stop is held anyway): cut there, it is asked again, not guessed.
            if self.outbox.holds(("stop", down)):
                return
            self.outbox.hold(("stop", down), self._raw_or(event, obj, index, down))
            return
        data = self._raw_or(event, obj, index, down)
        self._put(down, data, out)

    def _put(self, down: int, data: bytes, out: list[bytes]) -> None:
        """An event of block ``down``: held with the block when the block is held, else out."""
        if self.outbox.holds(("block", down)):
            self.outbox.hold(("block", down), data)
        else:
            self.outbox.send(data, out)

    def _emit_text(self, down: int, text: str, out: list[bytes]) -> None:
        data = _event(
            "content_block_delta",
            {"type": "content_block_delta", "index": down, "delta": {"type": "text_delta", "text": text}},
        )
        self._put(down, data, out)

    def stream_outcome(self) -> Outcome:
        r = self.round
        if r.diverged and r.before is not None:
            before = r.before
            before.state = State.INTERRUPTED
            return before
        return r.acc.finish()

    def body_outcome(self, body: bytes) -> Outcome:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return AnthropicAccumulator().finish()  # nothing usable: an interrupted, empty outcome
        try:
            outcome = parse_message(obj, max_tokens=self.round.acc.max_tokens)
        except ProtocolError:
            return AnthropicAccumulator().finish()
        if not self.usages and self.raw is None:
            self.raw = body
        return outcome

    def absorb(self, outcome: Outcome, plan: Plan, *, partial: bool) -> None:
        message = outcome.message
        if message and message.get("id") is not None and not self.meta:
            self.meta = {k: v for k, v in message.items() if k not in ("content", "usage", *_STOP_FIELDS)}
        usage = message.get("usage") if message else None
        if isinstance(usage, dict):
            self.usages.append(usage)
        elif outcome.usage.reported or outcome.usage.estimated:
            self.usages.append(
                {"input_tokens": outcome.usage.input_tokens, "output_tokens": outcome.usage.output_tokens}
            )
        if len(self.usages) > 1 or partial or plan.mode != "initial":
            self.raw = None
        if not partial:
            # The last round's stop fields; a field only an earlier round sent is kept.
            self.stop_fields.update({k: v for k, v in message.items() if k in _STOP_FIELDS})
        blocks = [dict(b) for b in outcome.content]
        self.round.cut = partial or outcome.stop.normalized is StopReason.MAX_TOKENS
        if partial and blocks and blocks[-1].get("type") != "text":
            # Only the last block can be cut. Keep text (we continue from it), never a cut tool
            # call or an unsigned thinking block.
            blocks.pop()
        if self.ledger.stream:
            self._absorb_stream(blocks)
        else:
            self._absorb_body(blocks)

    def _absorb_body(self, blocks: list[dict[str, Any]]) -> None:
        r = self.round
        if r.skip_thinking:
            blocks = [b for b in blocks if b.get("type") not in _THINKING]
        if blocks and blocks[0].get("type") == "text" and r.join is not None and self._ends_in_text():
            first = blocks.pop(0)
            new = r.join.feed(first.get("text", ""))
            if not (r.cut and self._abandon_head()):
                new += r.join.finish()
            self._note_join(r.join)
            self._merge_text(first, new)
            r.progressed = r.progressed or bool(new.strip())
        if r.plan.mode != "initial":
            blocks = [b for b in blocks if b.get("type") != "text" or (b.get("text") or "").strip()]
        if blocks:
            r.progressed = True
        self.content.extend(blocks)

    def _merge_text(self, block: dict[str, Any], text: str) -> None:
        """A round's first text block goes on in the answer's last one: its text (as joined) and
        its citations. A round that began the answer again cites again what was cited already."""
        into = self.content[-1]
        into["text"] = into.get("text", "") + text
        new = block.get("citations")
        if isinstance(new, list) and new:
            old = into.get("citations")
            old = old if isinstance(old, list) else []
            if self.round.scratch:
                new = new[len(_common_prefix(old, new)) :]
            into["citations"] = old + new

    def _absorb_stream(self, blocks: list[dict[str, Any]]) -> None:
        # The round's text blocks as shown (joined); other blocks as the accumulator folded them
        # (positions follow upstream indices in order).
        r = self.round
        if r.join is not None:
            # The round ended while its reply's head was still undecided: decide it now.
            if not (r.cut and self._abandon_head()):
                self._decide_head(self.late)
            self._note_join(r.join)
        upstream = sorted({*r.index_map, *r.skipped})
        for position, block in enumerate(blocks):
            index = upstream[position] if position < len(upstream) else None
            if index in r.skipped:
                continue
            if index is not None and index in r.texts:
                text = "".join(r.texts[index])
                if index == r.merged and self._ends_in_text():
                    self._merge_text(block, text)
                    continue
                block["text"] = text
            self.content.append(block)
            if block.get("type") != "text":
                r.progressed = True

    def _abandon_head(self) -> bool:
        join = self.round.join
        if join is None or not join.abandon():
            return False
        self.ledger.note(UNDECIDED)
        self.round.abandoned = True
        return True

    def _note_join(self, join: Join) -> None:
        for note in join.notes():
            self.ledger.note(note)

    def conclude(self, nxt: Plan | None, *, failed: bool) -> bytes:
        if not self.ledger.stream:
            return b""
        out: list[bytes] = self.late
        self.late = []
        if nxt is None or nxt.mode == "pause":
            self.outbox.settle_all(out)
            if nxt is not None:
                self._close_open_text(out)  # a resumed pause writes new blocks
            return b"".join(out)
        # The next round goes on from the answer: what this round held back was never shown,
        # and is asked for again.
        held = set(self.outbox.held_keys())
        stop = ("stop", self.open_text) if self.open_text is not None else None
        if stop in held and self.next_join is None:
            held.discard(stop)  # no round goes on in the open text block: it may end now
            self.outbox.settle(stop, out)
            self.open_text = None
        self.outbox.drop(held, out)
        dropped = [k[1] for k in held if isinstance(k, tuple) and k[0] == "block"]
        if dropped:
            self.next_index = min(dropped)
            if self.open_text is not None and self.open_text in dropped:
                self.open_text = None
        return b"".join(out)

    # -- writing the answer ---------------------------------------------------------------------
    def has_content(self) -> bool:
        return bool(self.content)

    def answer_size(self) -> int:
        return sum(len(b.get("text") or "") + 1 for b in self.content)

    def _usage(self) -> dict[str, Any]:
        return sum_usage(self.usages) if self.usages else {"input_tokens": 0, "output_tokens": 0}

    def final_body(self) -> bytes:
        if self.transparent():
            assert self.raw is not None
            return self.raw
        body: dict[str, Any] = {"type": "message", "role": "assistant", **self.meta}
        body["content"] = self.content
        body.update(self.stop_fields)
        body["usage"] = self._usage()
        return orjson.dumps(body)

    def close_stream(self, error: APIError | None, summary: dict[str, Any]) -> bytes:
        out: list[bytes] = self.late
        self.late = []
        if error is not None:
            # What was sent stays sent; the error says the rest will not come.
            self.outbox.settle_all(out)
            out.append(
                _event(
                    "error",
                    {
                        "type": "error",
                        "error": {"type": error.error_type or "api_error", "message": error.message},
                    },
                )
            )
            return b"".join(out)
        self.outbox.settle_all(out)
        r = self.round
        if self.open_text is not None:
            self._close_open_text(out)
        one = len(self.ledger.rounds) == 1 and bool(r.deltas)
        if one:
            out += r.deltas
        else:
            delta = dict(self.stop_fields)
            out.append(
                _event("message_delta", {"type": "message_delta", "delta": delta, "usage": self._usage()})
            )
        out.append(r.stop if one and r.stop is not None else _event("message_stop", {"type": "message_stop"}))
        if self.policy.report_event:
            out.append(_event("stopwise", {"type": "stopwise", **summary}))
        return b"".join(out)


def _common_prefix(a: list[Any], b: list[Any]) -> list[Any]:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return a[:n]


def _count_cache_control(part: object) -> int:
    if isinstance(part, dict):
        own = 1 if isinstance(part.get("cache_control"), dict) else 0
        return own + sum(_count_cache_control(v) for k, v in part.items() if k in ("content",))
    if isinstance(part, list):
        return sum(_count_cache_control(x) for x in part)
    return 0


def _segments(text: str, marks: list[int]) -> list[dict[str, Any]]:
    """``text`` cut at ``marks`` into text blocks; a piece with no visible text joins the next
    one (the API rejects empty text blocks)."""
    pieces: list[str] = []
    start = 0
    for mark in [*marks, len(text)]:
        if start < mark <= len(text):
            pieces.append(text[start:mark])
            start = mark
    blocks: list[dict[str, Any]] = []
    carry = ""
    for piece in pieces:
        piece = carry + piece
        if piece.strip():
            blocks.append({"type": "text", "text": piece})
            carry = ""
        else:
            carry = piece
    if carry and blocks:
        blocks[-1]["text"] += carry
    return blocks or [{"type": "text", "text": text}]


def _mark_cache(messages: list[dict[str, Any]]) -> None:
    """A cache breakpoint on the last block of the caller's own messages: every continuation
    round re-sends that prefix unchanged."""
    if not messages:
        return
    last = messages[-1]
    content = last.get("content")
    if isinstance(content, str):
        last["content"] = [{"type": "text", "text": content, "cache_control": {"type": "ephemeral"}}]
    elif isinstance(content, list) and content and isinstance(content[-1], dict):
        content[-1] = {**content[-1], "cache_control": {"type": "ephemeral"}}
