"""The finisher's strategy for the OpenAI Responses API (``POST /v1/responses``).

A response cut at ``max_output_tokens`` (``status: "incomplete"``) goes on with a continue turn:
the caller's input, the text so far as an assistant message (backed off to its last whole
word), and a user turn asking to go on; the seam is reconciled as on Chat Completions
(:mod:`.join`). The input-items way was measured against chaining with
``previous_response_id`` (``bench/responses_billing.py``, docs/benchmarks.md). A cut function
call, a constrained answer (``text.format`` json_schema / json_object, a forced tool) and a
round that spent its budget on reasoning alone are asked again whole with a larger budget, up
to the model's ceiling; ``content_filter`` and a completed response are final.

The caller sees one response: the first round's id and envelope, its output items with the
continued message's text joined over rounds (later rounds' other items after it), usage summed
field by field, the last round's status. A one-round answer goes out as it came, byte for byte.
On a stream, a first round's events pass as they arrive; what the terminal event decides is
held from the first event it decides on (the message's ``.done`` events, a function call, the
terminal itself), and everything behind it waits with it, so the order never changes. Later
rounds' events are rewritten into the first's items and numbered on from the last event shown.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..dialects._json import is_whole_json
from ..dialects.responses import ResponsesAccumulator, parse_response
from ..errors import APIError, ProtocolError
from ..outcome import Outcome, State, StopReason
from ..sse import ServerSentEvent, encode_event
from . import seam as seams
from .dialect import Dialect, Ledger, Plan
from .join import UNDECIDED, Join
from .report import sum_usage

__all__ = ["ResponsesDialect"]

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_LIFECYCLE = frozenset({"response.created", "response.in_progress", "response.queued"})
# The events of the continued message that its round's end decides on: they are held.
_MESSAGE_DONE = frozenset(
    {"response.output_text.done", "response.content_part.done", "response.output_item.done"}
)
_CALL_EVENTS = frozenset({"response.function_call_arguments.delta", "response.function_call_arguments.done"})


def _constrained(body: dict[str, Any]) -> bool:
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object"):
        return True
    choice = body.get("tool_choice")
    return choice == "required" or (isinstance(choice, dict) and choice.get("type") == "function")


def _input_items(value: object) -> list[Any]:
    """The caller's ``input`` as a list of items (a string is one user message)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return copy.deepcopy(value) if isinstance(value, list) else []


def _message_text(item: dict[str, Any]) -> str:
    parts = item.get("content")
    if not isinstance(parts, list):
        return ""
    return "".join(
        p["text"]
        for p in parts
        if isinstance(p, dict) and p.get("type") == "output_text" and isinstance(p.get("text"), str)
    )


@dataclass(slots=True)
class _Round:
    plan: Plan
    acc: ResponsesAccumulator
    join: Join | None
    texts: list[str] = field(default_factory=list)  # this round's text as joined (shown)
    # What the round's end decides on, and everything behind it, in order: ``(tag, event,
    # bytes)``; tag "raw" a first round's event as it came, "up" a later round's, rewritten when
    # it goes out, "ours" one of ours in the caller's terms, numbered when it goes out.
    held: list[tuple[str, dict[str, Any], bytes]] = field(default_factory=list)
    holding: bool = False
    # Upstream output index -> the caller's; the upstream index of this round's message.
    index: dict[int, int] = field(default_factory=dict)
    message: int | None = None
    calls: set[int] = field(default_factory=set)  # upstream indices of function calls
    whole: set[int] = field(default_factory=set)  # of them, the ones that came whole
    body: dict[str, Any] | None = None
    first: bool = False  # the caller has seen nothing yet: its events go out as they came
    created: bool = False  # its response.created came
    restarted: bool = False  # a second response.created: the upstream began the answer again
    progressed: bool = False
    abandoned: bool = False
    cut_call: bool = False
    raw: int = 0  # characters of the reply's text that came
    raw_text: list[str] = field(default_factory=list)  # that text
    joined: int = 0  # of them, what joined the answer (the seam may drop its head)


class ResponsesDialect(Dialect):
    name = "responses"
    cap_key = "max_output_tokens"

    def __init__(self, request: dict[str, Any], ledger: Ledger, source: bytes | None = None) -> None:
        super().__init__(request, ledger, source)
        self.constrained = _constrained(request)
        # The answer being built.
        self.envelope: dict[str, Any] = {}  # the first round's response, without output and usage
        self.items: list[dict[str, Any]] = []  # the caller's output items
        # Their output_index as the caller saw it: a first round's are the upstream's (a call
        # asked again leaves a gap), a later round's the next free ones.
        self.slots: list[int] = []
        self.next_slot = 0
        self.message: int | None = None  # which of them is the message being continued
        self.last_calls: list[dict[str, Any]] = []  # the calls the last round added
        self.envelope_seen = False  # the envelope is that of a response the caller saw
        self.text = ""  # its text (output_text parts joined)
        self.usages: list[dict[str, Any]] = []
        self.status: dict[str, Any] = {}  # the last round's status, incomplete_details, error
        self.next_join: Join | None = None
        self.seq = 0  # the next sequence_number the caller should see
        self.shown_any = False
        self.part_open = False  # the caller saw the continued message's text part begin
        self.notes_shown = 0  # annotations the caller saw on the continued message's text
        self.round = _Round(self.caller_plan("initial", None), ResponsesAccumulator(), None)

    # -- plans ----------------------------------------------------------------------------------
    def _body(self, max_tokens: int | None) -> dict[str, Any]:
        body = dict(self.request)
        if max_tokens is not None:
            body[self.cap_key] = max_tokens
        return body

    def _continue(self, mode: str, max_tokens: int | None) -> Plan | None:
        if max_tokens is not None and max_tokens <= 0:
            return None
        if (again := Join.again(self.text)) is not None:
            self.next_join = again
            self._forget_calls()
            return Plan(mode, self._body(max_tokens), max_tokens)
        kept, join, structure = Join.continue_turn(self.text)
        if not kept.strip():
            return None
        self.next_join = join
        body = self._body(max_tokens)
        items = _input_items(body.get("input"))
        items.append({"role": "assistant", "content": kept})
        items.append({"role": "user", "content": seams.nudge(structure)})
        body["input"] = items
        return Plan(mode, body, max_tokens, continues=True)

    def _from_scratch(self, mode: str, max_tokens: int | None) -> Plan:
        # What was shown of the text is matched against the new answer and dropped.
        self.next_join = Join(self.text)
        self._forget_calls()
        return Plan(mode, self._body(max_tokens), max_tokens)

    def replan_without_prefill(self, plan: Plan) -> Plan:
        return plan  # no prefill on this wire

    def next_plan(self, outcome: Outcome, plan: Plan) -> Plan | None:
        if outcome.state is not State.TRUNCATED and not self.round.cut_call:
            return None  # completed, content_filter, a refusal: final
        if outcome.stop.normalized is not StopReason.MAX_TOKENS and not self.round.cut_call:
            return None  # ``completed`` with output at the cap: returned complete (absorb)
        left = self.ledger.output_left()
        if left is not None and left <= 0:
            return None
        if self.constrained or self.round.cut_call or not self.text.strip():
            # Must come whole, or nothing visible to go on from (the budget went on reasoning):
            # asked again with more room, which stops at the ceiling (never a loop).
            if self.constrained and self.ledger.stream and self.shown_any:
                return None  # shown already: asking again would show a second answer
            if self.round.cut_call and not self.policy.retry_cut_tool_calls:
                return None
            bigger = self._bigger(plan)
            if bigger is None:
                return None
            if self.constrained:
                self.ledger.note("constrained answer cut: asked again whole with a larger max_output_tokens")
            elif not self.round.cut_call:
                self.ledger.note(
                    "reasoning used the whole budget: asked again with a larger max_output_tokens"
                )
            mode = (
                "tool-retry" if self.round.cut_call else "structured-retry" if self.constrained else "retry"
            )
            return self._from_scratch(mode, bigger)
        if not self.policy.continue_truncated:
            return None
        go_on, nxt = self.ledger.next_continuation(plan, self.round.progressed, self.round.abandoned)
        return self._continue("continue", nxt) if go_on else None

    def resume_plan(self, plan: Plan) -> Plan | None:
        budget = self.ledger.budget(plan.max_tokens)
        if budget is not None and budget <= 0:
            return None
        if self.text.strip() and not self.constrained:
            return self._continue("resume", budget)
        if self.text.strip():
            return None
        return self._from_scratch("resume", budget)

    # -- folding a round ------------------------------------------------------------------------
    def begin_round(self, plan: Plan) -> None:
        self.let_go()
        acc = ResponsesAccumulator(max_tokens=plan.body.get(self.cap_key))
        # A stream that has shown nothing yet (a first round, or one after a round that broke
        # before its first event) takes this round's events as they come, lifecycle included.
        first = (
            not self.shown_any if self.ledger.stream else not self.ledger.rounds and plan.mode == "initial"
        )
        self.round = _Round(plan, acc, self.next_join, first=first)
        self.next_join = None

    def round_done(self) -> bool:
        return self.round.acc.done or self.round.restarted

    def feed(self, event: ServerSentEvent, raw: bytes | None) -> list[bytes]:
        r = self.round
        if event.event == "response.created" or (
            event.event is None and '"response.created"' in event.data[:80]
        ):
            if r.created:
                # A relay that began the stream again: what it writes now was shown already.
                # The round ends here, broken off, and is resumed from what the caller saw.
                r.restarted = True
                self.ledger.note("the upstream began its stream again: resumed from what was shown")
                return []
            r.created = True
        obj = r.acc.feed(event)
        out: list[bytes] = []
        if obj is None:
            return out
        kind = obj.get("type")
        index = obj.get("output_index")
        if kind == "response.output_item.added" and isinstance(index, int):
            item = obj.get("item")
            itype = item.get("type") if isinstance(item, dict) else None
            if itype == "message" and (r.message is None or r.first):
                # The message a later round goes on: a first round's last one (an answer may
                # have several, around hosted tool calls), a continuation's reply.
                r.message = index
            elif itype == "function_call":
                r.calls.add(index)
        elif kind == "response.output_item.done" and isinstance(index, int):
            item = obj.get("item")
            if isinstance(item, dict) and item.get("type") == "function_call" and not _cut(item):
                r.whole.add(index)
        decides = (
            kind in _TERMINAL
            or kind == "error"
            or (kind in _MESSAGE_DONE and index == r.message)
            or (isinstance(index, int) and index in r.calls)
            or kind in _CALL_EVENTS
        )
        if r.first:
            if kind == "response.output_item.added" and isinstance(index, int):
                self.next_slot = max(self.next_slot, index + 1)
            if decides:
                r.holding = True
            if r.holding:
                r.held.append(("raw", obj, raw if raw is not None else _encode(obj)))
            else:
                if kind == "response.content_part.added":
                    self.part_open = True
                elif kind == "response.output_text.annotation.added":
                    self.notes_shown += 1
                self._note_seq(obj)
                out.append(raw if raw is not None else _encode(obj))
                self.shown_any = True
            return out
        return self._rewrite(obj, decides, out)

    def _note_seq(self, obj: dict[str, Any]) -> None:
        n = obj.get("sequence_number")
        if isinstance(n, int) and not isinstance(n, bool):
            self.seq = max(self.seq, n + 1)

    def _rewrite(self, obj: dict[str, Any], decides: bool, out: list[bytes]) -> list[bytes]:
        """A later round's event, in the caller's items and numbering; None of it when it
        is this round's own framing of the message the answer continues."""
        r = self.round
        kind = obj.get("type")
        if kind in _LIFECYCLE:
            return out
        index = obj.get("output_index")
        if isinstance(index, int):
            if index == r.message and self.message is not None:
                if kind == "response.content_part.added" and not self.part_open:
                    # The round its text began in broke first: the caller opens the part now.
                    self.part_open = True
                    item = self.items[self.message]
                    self._send(
                        {**obj, "output_index": self.slots[self.message], "item_id": item.get("id")}, out
                    )
                    return out
                if kind in ("response.output_item.added", "response.content_part.added"):
                    return out  # the caller's message is open already
                if kind == "response.output_text.delta":
                    piece = obj.get("delta")
                    text = r.join.feed(piece) if r.join is not None and isinstance(piece, str) else piece
                    if isinstance(piece, str):
                        r.raw += len(piece)
                        r.raw_text.append(piece)
                    if isinstance(text, str) and text:
                        r.texts.append(text)
                        r.joined += len(text)
                        # The upstream's logprobs belong to its text: kept when it went out whole.
                        logprobs = obj.get("logprobs", []) if text == piece else []
                        self._send(self._delta(text, logprobs), out)
                    return out
                if kind == "response.output_text.annotation.added":
                    shift = len(self.text) + r.joined - r.raw
                    answer = self.text + "".join(r.texts)
                    note = _shifted(obj.get("annotation"), shift, "".join(r.raw_text), answer)
                    if note is not None:
                        item = self.items[self.message]
                        new = {**obj, "output_index": self.slots[self.message], "item_id": item.get("id")}
                        new["annotation"] = note
                        new["annotation_index"] = self.notes_shown
                        self.notes_shown += 1
                        self._send(new, out)
                    return out
            elif kind == "response.output_item.added":
                r.index[index] = self.next_slot
                self.next_slot += 1
        if decides or r.holding:
            r.holding = True
            r.held.append(("up", obj, b""))
            return out
        self._send(self._mapped(obj), out)
        return out

    def _send(self, obj: dict[str, Any], out: list[bytes]) -> None:
        """One of ours (in the caller's items): out now, numbered, unless the round holds."""
        r = self.round
        if r.holding:
            r.held.append(("ours", obj, b""))
        else:
            out.append(self._number(obj))
            self.shown_any = True

    def _mapped(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A later round's event with the caller's output index."""
        index = obj.get("output_index")
        mapped = self.round.index.get(index) if isinstance(index, int) else None
        return obj if mapped is None else {**obj, "output_index": mapped}

    def _number(self, obj: dict[str, Any]) -> bytes:
        """Encoded with the next sequence number the caller sees: numbered as it goes out, so
        the numbers rise in the order the caller reads them."""
        new = {**obj, "sequence_number": self.seq}
        self.seq += 1
        return _encode(new)

    def _renumber(self, obj: dict[str, Any]) -> bytes:
        return self._number(self._mapped(obj))

    def _delta(self, text: str, logprobs: Any = None) -> dict[str, Any]:
        assert self.message is not None
        item = self.items[self.message]
        parts = item.get("content")
        content_index = max(len(parts) - 1, 0) if isinstance(parts, list) else 0
        obj: dict[str, Any] = {
            "type": "response.output_text.delta",
            "item_id": item.get("id"),
            "output_index": self.slots[self.message],
            "content_index": content_index,
            "delta": text,
            "logprobs": [] if logprobs is None else logprobs,
        }
        return obj

    def stream_outcome(self) -> Outcome:
        return self.round.acc.finish()

    def body_outcome(self, body: bytes) -> Outcome:
        r = self.round
        try:
            obj = orjson.loads(body)
            outcome = parse_response(obj, max_tokens=r.acc.max_tokens)
        except (orjson.JSONDecodeError, ProtocolError):
            return ResponsesAccumulator().finish()
        r.body = obj
        if r.first:
            self.raw = body
        if self.head.get("background") is True and obj.get("status") in ("queued", "in_progress"):
            # A background request's answer is its handle, polled later with GET: asking again
            # would start a second job. It is what the caller asked for, unchanged.
            outcome.state = State.COMPLETE
            self.ledger.note("a background response: handed back as it came")
        return outcome

    def body_error(self, body: bytes, headers: dict[str, str]) -> APIError | None:
        if b'"object":"response"' in body or b'"object": "response"' in body:
            return None  # a response, failed or not: its outcome says which
        return super().body_error(body, headers)

    def absorb(self, outcome: Outcome, plan: Plan, *, partial: bool) -> None:
        r = self.round
        if len(self.ledger.rounds) > 1 or partial or plan.mode != "initial":
            self.raw = None
        response = r.body if r.body is not None else outcome.message
        output = [i for i in response.get("output") or [] if isinstance(i, dict)]
        # The envelope is the first response's the caller saw: on a stream, the one whose
        # response.created went out (a round that broke or failed before it showed nothing); in
        # a body, the first with an id.
        seen = r.first and r.created if self.ledger.stream else bool(response.get("id"))
        if (seen and not self.envelope_seen) or not self.envelope:
            self.envelope = {k: v for k, v in response.items() if k not in ("output", "usage")}
            self.envelope_seen = seen
        usage = response.get("usage")
        if isinstance(usage, dict):
            self.usages.append(usage)
        if not partial:
            self.status = {k: response.get(k) for k in ("status", "incomplete_details", "error")}
        cut = partial or outcome.stop.normalized is StopReason.MAX_TOKENS
        calls = [i for i in output if i.get("type") == "function_call"]
        r.cut_call = not partial and any(_cut(c) for c in calls)
        # Asked again whole (next_plan): nothing of the round is the answer's but what was shown.
        # (A round that only reasoned asks again whole only when there is no text yet: after
        # text, the next continuation goes on from it, with a larger budget.)
        nothing = not _has_text(output) and not self.text.strip()
        retry = not partial and (r.cut_call or (cut and (self.constrained or nothing)))
        stream = self.ledger.stream
        if cut and stream:
            self._abandon_head()  # a body's reply is fed to its join below, first
        if not stream and retry:
            self.items, self.slots, self.message, self.text = [], [], None, ""
            return
        self.last_calls = []
        at = _first_message(output) if self.message is not None else _last_message(output)
        new = ""
        reply: dict[str, Any] | None = None
        before = len(self.text)
        for position, item in enumerate(output):
            if position == at and self.message is not None:
                reply = item
                if stream:
                    new = "".join(r.texts)
                elif r.join is not None:
                    new = r.join.feed(_message_text(item))
                    if cut:
                        self._abandon_head()
            elif position == at:
                self.message = len(self.items)
                self._keep(item, position, r)
                new = _message_text(item)
                if r.join is not None:
                    new = r.join.feed(new)
            elif item.get("type") == "function_call" and (retry or partial or _cut(item)):
                continue  # never shown: a cut call, or one asked again with the question
            else:
                self._keep(item, position, r)
                if item.get("type") == "function_call":
                    self.last_calls.append(self.items[-1])
        if r.join is not None:
            tail = r.join.finish()
            if tail and stream and self.message is not None:
                r.held.insert(_first_held(r.held), ("ours", self._delta(tail), b""))
            new += tail
            for note in r.join.notes():
                self.ledger.note(note)
        r.progressed = bool(new.strip()) or bool(calls)
        self.text += new
        if self.message is not None:
            _set_text(self.items[self.message], self.text)
            if reply is not None:
                # The reply's annotations, moved to where its text now is in the answer.
                shift = before + len(new) - len(_message_text(reply))
                _add_annotations(self.items[self.message], reply, shift, self.text)
        ended = outcome.stop.normalized in (StopReason.END, StopReason.TOOL_USE)
        if not partial and outcome.state is State.TRUNCATED and ended and not r.cut_call:
            # ``completed`` with output at the cap: the API says it ended, and a continue turn
            # could only alter a finished answer (decided here: with no round left, the same).
            self.at_cap_complete = True
            self.ledger.note(f"{outcome.stop.raw} with output at the cap: returned complete")

    def _keep(self, item: dict[str, Any], position: int, r: _Round) -> None:
        """``item``, the round's ``position``-th, joins the caller's output at the index the
        caller saw it at (a body's: the next)."""
        if r.first and self.ledger.stream:
            slot = position
        elif self.ledger.stream and position in r.index:
            slot = r.index[position]
        else:
            slot = self.next_slot
        self.items.append(copy.deepcopy(item))
        self.slots.append(slot)
        self.next_slot = max(self.next_slot, slot + 1)

    def _forget_calls(self) -> None:
        """The question is asked again whole: the calls the last round made (held, never shown)
        will come again, so they are not the answer's."""
        if not self.last_calls:
            return
        message = self.items[self.message] if self.message is not None else None
        kept = [
            (i, s)
            for i, s in zip(self.items, self.slots, strict=True)
            if not any(i is c for c in self.last_calls)
        ]
        self.items, self.slots = [i for i, _ in kept], [s for _, s in kept]
        self.message = next((n for n, i in enumerate(self.items) if i is message), None)
        self.last_calls = []

    def _abandon_head(self) -> None:
        join = self.round.join
        if join is not None and join.abandon():
            self.ledger.note(UNDECIDED)
            self.round.abandoned = True

    def conclude(self, nxt: Plan | None, *, failed: bool) -> bytes:
        if not self.ledger.stream:
            return b""
        r = self.round
        if nxt is None:
            return b""  # the answer's end: close_stream releases what is held
        # Another round follows. Of what was held, never shown: the terminal event, the
        # continued message's closing events (it goes on), and the calls asked again (all of
        # them when the question is asked again whole; a cut one always). Everything else that
        # waited behind them (text, whole calls, other items) goes out now, in order.
        again = not nxt.continues
        out: list[bytes] = []
        for tag, obj, data in r.held:
            if tag == "ours":
                out.append(self._number(obj))
                continue
            kind, index = obj.get("type"), obj.get("output_index")
            if kind in _TERMINAL or kind == "error":
                continue
            if index == r.message and kind in _MESSAGE_DONE:
                continue
            if isinstance(index, int) and index in r.calls and (again or index not in r.whole):
                continue
            if tag == "raw":
                self._note_seq(obj)
                out.append(data)
            else:
                out.append(self._renumber(obj))
        r.held.clear()
        return b"".join(out)

    def _release(self, *, final: bool = True) -> list[bytes]:
        """The round is the last: what it held, as it came (a first round) or rewritten. Not
        ``final`` (the finisher gives up): everything that arrived but the terminal event and
        the upstream's error, which the typed error replaces."""
        r = self.round
        out: list[bytes] = []
        for tag, obj, data in r.held:
            if tag == "ours":
                out.append(self._number(obj))
            elif not final and (obj.get("type") in _TERMINAL or obj.get("type") == "error"):
                continue
            elif tag == "raw":
                out.append(data)
                self._note_seq(obj)
            else:
                out.append(self._final_event(obj))
        r.held.clear()
        return out

    def _final_event(self, obj: dict[str, Any]) -> bytes:
        r = self.round
        kind = obj.get("type")
        index = obj.get("output_index")
        if kind in _TERMINAL:
            return self._number({**obj, "response": self._response()})
        if isinstance(index, int) and index == r.message and self.message is not None:
            item = self.items[self.message]
            new = dict(obj)
            new["output_index"] = self.slots[self.message]
            new["item_id"] = item.get("id")
            if kind == "response.output_text.done":
                new["text"] = self.text
            elif kind == "response.content_part.done":
                part = dict(obj.get("part") or {})
                part["text"] = self.text
                new["part"] = part
            elif kind == "response.output_item.done":
                new.pop("item_id", None)
                new["item"] = item
            return self._number(new)
        return self._renumber(obj)

    # -- writing the answer ---------------------------------------------------------------------
    def has_content(self) -> bool:
        return bool(self.text or self.items)

    def answer_size(self) -> int:
        return len(self.text) + len(self.items)

    def _response(self) -> dict[str, Any]:
        response: dict[str, Any] = {"id": None, "object": "response", "model": self.ledger.model}
        response.update(self.envelope)
        response.update(self.status)
        response["output"] = self.items
        if self.usages:
            response["usage"] = sum_usage(self.usages)
        return response

    def final_body(self) -> bytes:
        if self.transparent():
            assert self.raw is not None
            return self.raw
        return orjson.dumps(self._response())

    def close_stream(self, error: APIError | None, summary: dict[str, Any]) -> bytes:
        out = self._release(final=error is None)
        if error is not None:
            # Nested as the live API writes it (the openai SDK raises APIError on this shape).
            inner = {
                "type": error.error_type or "server_error",
                "code": error.code or error.error_type,
                "message": error.message,
                "param": None,
            }
            obj = {"type": "error", "error": inner, "sequence_number": self.seq}
            self.seq += 1
            out.append(encode_event(orjson.dumps(obj).decode(), event="error"))
            return b"".join(out)
        if self.policy.report_event:
            out.append(encode_event(orjson.dumps({"type": "stopwise", **summary}).decode(), event="stopwise"))
        return b"".join(out)


def _encode(obj: dict[str, Any]) -> bytes:
    kind = obj.get("type")
    return encode_event(orjson.dumps(obj).decode(), event=kind if isinstance(kind, str) else None)


def _cut(call: dict[str, Any]) -> bool:
    """A function call the budget ended: its item says so, or its arguments are not a whole
    JSON value (none at all included: the API writes ``{}`` for a call without arguments)."""
    args = call.get("arguments")
    if call.get("status") == "incomplete" or not isinstance(args, str) or not args.strip():
        return True
    return not is_whole_json(args)


def _has_text(output: list[dict[str, Any]]) -> bool:
    return any(item.get("type") == "message" and _message_text(item) for item in output)


def _last_message(output: list[dict[str, Any]]) -> int:
    return max((i for i, item in enumerate(output) if item.get("type") == "message"), default=-1)


def _shifted(note: object, shift: int, reply: str, answer: str) -> dict[str, Any] | None:
    """An annotation of ``reply``'s text at its place in ``answer`` (``shift`` characters on);
    None when the text it covers is not there as the reply wrote it (a repeat the seam dropped,
    which the caller saw annotated already, or a head that never joined)."""
    if not isinstance(note, dict):
        return None
    out = dict(note)
    start, end = note.get("start_index"), note.get("end_index")
    if isinstance(start, int) and isinstance(end, int):
        if not 0 <= start + shift <= end + shift <= len(answer):
            return None
        if reply[start:end] != answer[start + shift : end + shift]:
            return None
        out["start_index"], out["end_index"] = start + shift, end + shift
    index = note.get("index")
    if isinstance(index, int) and not isinstance(index, bool):
        if not 0 <= index + shift <= len(answer):
            return None
        out["index"] = index + shift
    return out


def _add_annotations(item: dict[str, Any], reply: dict[str, Any], shift: int, answer: str) -> None:
    text = _message_text(reply)
    notes = [
        n
        for p in reply.get("content") or []
        if isinstance(p, dict) and p.get("type") == "output_text"
        for n in p.get("annotations") or []
    ]
    moved = [m for m in (_shifted(n, shift, text, answer) for n in notes) if m is not None]
    if not moved:
        return
    parts = [p for p in item.get("content") or [] if isinstance(p, dict) and p.get("type") == "output_text"]
    if parts:
        parts[-1]["annotations"] = [*(parts[-1].get("annotations") or []), *moved]


def _first_message(output: list[dict[str, Any]]) -> int:
    return next((i for i, item in enumerate(output) if item.get("type") == "message"), -1)


def _first_held(held: list[tuple[str, dict[str, Any], bytes]]) -> int:
    """Where text belongs in what a round holds: before its first upstream event."""
    return next((i for i, (tag, _, _) in enumerate(held) if tag != "ours"), len(held))


def _set_text(item: dict[str, Any], text: str) -> None:
    parts = item.get("content")
    if not isinstance(parts, list):
        item["content"] = parts = []
    for part in reversed(parts):
        if isinstance(part, dict) and part.get("type") == "output_text":
            before = sum(
                len(p["text"])
                for p in parts
                if p is not part
                and isinstance(p, dict)
                and isinstance(p.get("text"), str)
                and p.get("type") == "output_text"
            )
            part["text"] = text[before:]
            return
    parts.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
