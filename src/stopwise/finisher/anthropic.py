"""The finisher for Anthropic Messages.

The caller sees one message: the first round's id, text that goes on in the same content
block across rounds, usage summed over all rounds, the last round's stop reason. Streams come
out as one stream: one ``message_start``, continuous block indices, text deltas that never need
retracting (only the trailing word is held back until the round's stop reason is known, and the
head of a continue-turn reply until its seam is repaired), one ``message_delta``, one
``message_stop``, then a ``stopwise`` event with the rounds (SDKs skip unknown events).

Blocks other than text (tool calls, thinking, server tool results) are passed on whole when
their ``content_block_stop`` arrives: a tool call cut by ``max_tokens`` is then never shown as
if it were complete.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from ..dialects import parse_body
from ..dialects.anthropic import AnthropicAccumulator
from ..errors import APIError, ProtocolError
from ..outcome import Outcome, State, StopReason
from ..sse import ServerSentEvent, encode_data, encode_event
from . import seam as seams
from .base import Finisher, Plan
from .text import Head, TextWriter

__all__ = ["AnthropicFinisher"]

_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_CONTINUABLE = frozenset({StopReason.MAX_TOKENS})


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


class AnthropicFinisher(Finisher):
    dialect = "anthropic"

    def __init__(self, body: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        messages = body.get("messages")
        self.messages: list[dict[str, Any]] = list(messages) if isinstance(messages, list) else []
        # A caller's own prefill: the response continues it, but is not part of the response.
        self.caller_prefill: list[dict[str, Any]] = []
        if self.messages and self.messages[-1].get("role") == "assistant":
            last = self.messages.pop()
            content = last.get("content")
            self.caller_prefill = (
                [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
            )
        self.max_tokens = body.get("max_tokens") if isinstance(body.get("max_tokens"), int) else None
        self.content: list[dict[str, Any]] = []  # the answer so far, in response shape
        self.meta: dict[str, Any] = {}
        self.last_stop: dict[str, Any] = {"stop_reason": None, "stop_sequence": None}
        self.pauses = 0
        # Where the answer's last text block stood at each continuation (for cache segments).
        self.text_marks: list[int] = []
        self.marks_block = -1
        self.kept_size = -1  # the answer's size after the last back-off: the progress measure
        # The continuation in progress: the seam it starts from and how it is made.
        self.seam: seams.Seam | None = None
        self.structure = seams.Structure()
        # Stream state.
        self.acc = AnthropicAccumulator()
        self.sent_message_start = False
        self.next_index = 0
        self.writer: TextWriter | None = None  # the text block that may still grow
        self.index_map: dict[int, int] = {}  # upstream block index -> downstream index
        self.held: dict[int, list[dict[str, Any]]] = {}  # non-text blocks, until their stop
        self.text_blocks: set[int] = set()  # upstream indices of text blocks this round
        self.merge_next_text = False
        self.head = Head()  # a continue-turn reply's head, until its seam is decided
        self.round_ended = False
        self.unreleased = False  # text appended since the last release (see flush)

    # -- plans ----------------------------------------------------------------------------------
    def first_plan(self) -> Plan:
        return Plan("initial", self.request)

    def _body(self, *, prefill: bool, max_tokens: int | None, mode: str) -> dict[str, Any]:
        body = dict(self.request)
        # Continuation rounds go without extended thinking: prefill is not allowed with it, and
        # the thinking already done is replayed (signed) in the assistant turn.
        body.pop("thinking", None)
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        ours = [b for b in (_request_block(x) for x in self.content) if b is not None]
        messages = copy.deepcopy(self.messages)
        if self.policy.cache_prefix:
            _mark_cache(messages)
            if ours and ours[-1].get("type") == "text" and self.marks_block == len(self.content) - 1:
                # One block per round: each round's prefix is then block-aligned and unchanged
                # in the next request, so the next round reads it from the cache.
                ours[-1:] = _segments(ours[-1]["text"], self.text_marks)
            if ours:
                ours[-1] = {**ours[-1], "cache_control": {"type": "ephemeral"}}
        if prefill:
            messages.append({"role": "assistant", "content": copy.deepcopy(self.caller_prefill) + ours})
        else:
            messages.append({"role": "assistant", "content": ours})
            messages.append({"role": "user", "content": seams.nudge(self.structure)})
        body["messages"] = messages
        return body

    def _continue(self, mode: str, max_tokens: int | None, *, whole: bool = False) -> Plan | None:
        """A round that goes on from the end of the answer so far: text backed off to a whole
        word, or, when ``whole`` (the text ended before a tool call), only its trailing
        whitespace dropped. ``None`` when there is nothing to continue from."""
        max_tokens = self.budget_cap(max_tokens)
        if max_tokens is not None and max_tokens <= 0:
            return None
        if self.content and self.content[-1].get("type") == "text":
            last = self.content[-1]
            emitted = self.writer.sent if self.writer is not None else 0
            text = last.get("text", "")
            seam = seams.Seam(text.rstrip(), text[len(text.rstrip()) :]) if whole else seams.back_off(text)
            if len(seam.kept) < emitted:
                # Never take back what a stream already showed.
                seam = seams.Seam(last["text"][:emitted], last["text"][emitted:])
            kept_size = self.answer_size() - len(text) + len(seam.kept)
            if mode == "continue" and kept_size <= self.kept_size:
                return None  # the last round added nothing that survives the back-off: stop
            self.kept_size = kept_size
            last["text"] = seam.kept
            if self.marks_block != len(self.content) - 1:
                self.marks_block, self.text_marks = len(self.content) - 1, []
            self.text_marks.append(len(seam.kept))
            if self.writer is not None:
                self.writer.text = seam.kept  # the held-back tail is dropped, never sent
            self.seam = seam
        else:
            self.seam = None
        self.structure = (
            seams.structure_at(self.content[-1].get("text", ""))
            if self._ends_in_text()
            else seams.Structure()
        )
        if not self.content and not self.caller_prefill:
            return None
        prefill = self.policy.prefill == "auto" and self.memory.prefill(self.dialect, self.model)
        if not prefill and not self.content:
            return None
        return Plan(
            "prefill" if prefill and mode == "continue" else mode,
            self._body(prefill=prefill, max_tokens=max_tokens, mode=mode),
        )

    def _ends_in_text(self) -> bool:
        return bool(self.content) and self.content[-1].get("type") == "text"

    def replan_without_prefill(self, plan: Plan) -> Plan:
        # Strip what a rejected prefill could have ended with, then ask with a continue turn.
        if self._ends_in_text():
            self.content[-1]["text"] = self.content[-1]["text"].rstrip()
        mode = "continue" if plan.mode == "prefill" else plan.mode
        return Plan(mode, self._body(prefill=False, max_tokens=plan.body.get("max_tokens"), mode=mode))

    def with_max_tokens(self, plan: Plan, max_tokens: int) -> Plan | None:
        current = plan.body.get("max_tokens")
        if isinstance(current, int) and current <= max_tokens:
            return None
        return Plan(plan.mode, {**plan.body, "max_tokens": max_tokens})

    def next_plan(self, outcome: Outcome, plan: Plan) -> Plan | None:
        reason = outcome.stop.normalized
        if outcome.state is State.PAUSED:
            if not self.policy.resume_pause_turn or self.pauses >= self.policy.max_pause_rounds:
                return None
            self.pauses += 1
            self.seam = None
            body = dict(self.request)
            messages = copy.deepcopy(self.messages)
            # The paused turn goes back exactly as it came (brief/wire.md, pause_turn).
            messages.append(
                {
                    "role": "assistant",
                    "content": copy.deepcopy(self.caller_prefill) + copy.deepcopy(self.content),
                }
            )
            body["messages"] = messages
            return Plan("pause", body)
        if outcome.state is not State.TRUNCATED or reason is StopReason.CONTEXT_WINDOW:
            return None  # complete, or truncated by a full window: continuing would not fit
        if not (self.continuation_rounds_left() and self.output_budget_left()):
            return None
        if self._cut_tool_call(outcome):
            return self._tool_retry(plan)
        if not self.policy.continue_truncated:
            return None
        if not outcome.text and not any(b.get("type") in _TOOL_BLOCKS for b in outcome.content):
            return None  # reasoning-only: continuing would spend the budget thinking again
        if plan.mode != "initial" and not self.round_progressed:
            return None
        return self._continue("continue", self.max_tokens)

    def _cut_tool_call(self, outcome: Outcome) -> bool:
        if not outcome.content:
            return False
        last = outcome.content[-1]
        return last.get("type") in _TOOL_BLOCKS

    def _tool_retry(self, plan: Plan) -> Plan | None:
        if not self.policy.retry_cut_tool_calls:
            return None
        current = plan.body.get("max_tokens")
        if not isinstance(current, int):
            return None
        ceiling = self.memory.ceiling(self.model)
        bigger = int(current * self.policy.tool_budget_factor)
        if ceiling is not None:
            bigger = min(bigger, ceiling)
        budget = self.budget_cap(bigger)
        bigger = bigger if budget is None else budget
        if bigger <= current:
            return None  # it cannot fit: hand back the truncation as it is
        # Drop the cut call (it will be written again, whole) and go on from what preceded it.
        while self.content and self.content[-1].get("type") in _TOOL_BLOCKS:
            self.content.pop()
        if not self.content:
            self.seam = None
            self.structure = seams.Structure()
            return Plan("tool-retry", {**self.request, "max_tokens": bigger})
        return self._continue("tool-retry", bigger, whole=True)

    def resume_plan(self, plan: Plan) -> Plan:
        if not self.content:
            self.seam = None
            return Plan("resume", plan.body if plan.mode != "initial" else self.request)
        nxt = self._continue("resume", plan.body.get("max_tokens"))
        return nxt if nxt is not None else Plan("resume", self.request)

    # -- folding a round ------------------------------------------------------------------------
    def begin_round(self, plan: Plan) -> None:
        self.acc = AnthropicAccumulator(max_tokens=plan.body.get("max_tokens"))
        self.index_map = {}
        self.held = {}
        self.text_blocks = set()
        self.round_writers: dict[int, TextWriter] = {}
        self.merged_index: int | None = None
        self.round_ended = False
        self.unreleased = False  # text appended since the last release (see flush)
        self.round_mode = plan.mode
        self.round_progressed = False
        messages = plan.body.get("messages") or []
        self.continue_turn = plan.mode != "initial" and bool(messages) and messages[-1].get("role") == "user"
        # The round's first text block continues ours when we asked it to go on from our text.
        self.merge_next_text = self.seam is not None and self._ends_in_text()
        self.head = Head(self.seam, self.structure) if self.continue_turn and self.merge_next_text else Head()

    def round_done(self) -> bool:
        return self.round_ended

    def feed(self, event: ServerSentEvent) -> list[bytes]:
        obj = self.acc.feed(event)
        if self.acc.done:
            self.round_ended = True
        if not self.stream:
            return []
        name = event.event
        if name == "ping":
            return [*self.flush(), encode_event(event.data, event="ping")]
        if obj is None:
            return []  # counted by the accumulator; nothing to pass on
        kind = obj.get("type", name)
        if kind == "content_block_delta":
            released = self._on_block_delta(obj)  # [] for text: appended, released by flush()
            return self.flush() + released if released else []
        out = self.flush()
        if kind == "message_start":
            if not self.sent_message_start and isinstance(obj.get("message"), dict):
                self.meta = {k: v for k, v in obj["message"].items() if k != "content"}
                out.append(
                    _event(
                        "message_start", {"type": "message_start", "message": {**self.meta, "content": []}}
                    )
                )
                self.sent_message_start = True
        elif kind == "content_block_start":
            out += self._on_block_start(obj)
        elif kind == "content_block_stop":
            out += self._on_block_stop(obj)
        return out

    def _on_block_start(self, obj: dict[str, Any]) -> list[bytes]:
        index, block = obj.get("index"), obj.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            return []
        out: list[bytes] = []
        if block.get("type") == "text" and self.merge_next_text and self.writer is not None:
            self.merge_next_text = False
            self.index_map[index] = self.writer.index
            self.text_blocks.add(index)
            self.round_writers[index] = self.writer
            self.merged_index = index
            return out
        self.merge_next_text = False
        out += self._close_writer()
        if block.get("type") == "text":
            down = self.next_index
            self.next_index += 1
            self.index_map[index] = down
            self.text_blocks.add(index)
            self.writer = TextWriter(down, block.get("text") or "")
            self.round_writers[index] = self.writer
            self.head = Head()
            out += self._release(final=False)
        else:
            # Its downstream index is given when it is released: a cut block that is dropped
            # must not leave a gap (the SDK places blocks by index).
            self.index_map[index] = -1
            self.held[index] = [{"type": "content_block_start", "index": -1, "content_block": block}]
        return out

    def _on_block_delta(self, obj: dict[str, Any]) -> list[bytes]:
        index, delta = obj.get("index"), obj.get("delta")
        if not isinstance(index, int) or not isinstance(delta, dict) or index not in self.index_map:
            return []
        down = self.index_map[index]
        if index in self.held:
            self.held[index].append(obj)
            return []
        if index in self.text_blocks and self.writer is not None and delta.get("type") == "text_delta":
            text = delta.get("text")
            if isinstance(text, str):
                self.append_text(text)
            return []
        return [_event("content_block_delta", {**obj, "index": down})]

    def _on_block_stop(self, obj: dict[str, Any]) -> list[bytes]:
        index = obj.get("index")
        if not isinstance(index, int) or index not in self.index_map:
            return []
        held = self.held.pop(index, None)
        if held is None:
            return []  # a text block: stopped when we know the round's outcome
        out = self._close_writer()
        down = self.next_index
        self.next_index += 1
        self.index_map[index] = down
        for item in held:
            out.append(_event(item["type"], {**item, "index": down}))
        out.append(_event("content_block_stop", {"type": "content_block_stop", "index": down}))
        return out

    def _release(self, *, final: bool) -> list[bytes]:
        w = self.writer
        if w is None:
            return []
        out: list[bytes] = []
        upto = len(w.text) if final else w.releasable()
        if not w.started and (upto > w.sent or final):
            out.append(
                _event(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": w.index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            )
            w.started = True
        if upto > w.sent:
            piece = w.text[w.sent : upto]
            w.sent = upto
            out.append(
                _event(
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": w.index,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
            )
        return out

    def _close_writer(self) -> list[bytes]:
        """The open text block is over (another block follows it): send all of it and stop it."""
        if self.writer is None:
            return []
        self.writer.text += self.head.finish()
        if self.round_mode != "initial" and not self.writer.started and not self.writer.text.strip():
            # Whitespace a continuation round wrote before its tool call: not a block of its own.
            self.writer.skipped = True
            self.next_index -= 1
            self.writer = None
            return []
        out = self._release(final=True)
        out.append(_event("content_block_stop", {"type": "content_block_stop", "index": self.writer.index}))
        self.writer = None
        return out

    def stream_outcome(self) -> Outcome:
        return self.acc.finish()

    def body_outcome(self, body: bytes) -> Outcome:
        try:
            return parse_body(orjson.loads(body), max_tokens=self.acc.max_tokens, dialect="anthropic")
        except (orjson.JSONDecodeError, ProtocolError):
            return AnthropicAccumulator().finish()  # nothing usable: an interrupted, empty outcome

    def absorb(self, outcome: Outcome, plan: Plan, *, partial: bool) -> None:
        if not self.meta and outcome.message:
            self.meta = {
                k: v
                for k, v in outcome.message.items()
                if k not in ("content", "stop_reason", "stop_sequence", "stop_details", "usage")
            }
        if not partial:
            self.last_stop = {
                k: outcome.message.get(k)
                for k in ("stop_reason", "stop_sequence", "stop_details")
                if k in outcome.message
            }
        blocks = [dict(b) for b in outcome.content]
        if partial and blocks and blocks[-1].get("type") != "text":
            # Only the last block can be cut. Keep text (we continue from it), never a cut tool
            # call or an unsigned thinking block.
            blocks.pop()
        if self.stream:
            if not partial and self.merged_index is not None:
                # The round ended while the head of its reply was still held: decide it now.
                repaired = self.head.finish()
                self.round_writers[self.merged_index].text += repaired
                self.round_progressed = self.round_progressed or bool(repaired.strip())
            self._absorb_stream(blocks)
        else:
            self._absorb_body(blocks)
        if partial:
            # A round that broke before writing anything leaves an empty text block: nothing to
            # continue from, and the API rejects empty text in an assistant turn.
            while (
                self.content and self.content[-1].get("type") == "text" and not self.content[-1].get("text")
            ):
                self.content.pop()
            if self.writer is not None and not self.writer.started and not self.writer.text:
                # Its block was never shown: give its index back so the next block takes it.
                self.next_index -= 1
                self.writer = None
        self.seam = None

    def _absorb_body(self, blocks: list[dict[str, Any]]) -> None:
        if blocks and blocks[0].get("type") == "text" and self.seam is not None and self._ends_in_text():
            new = blocks.pop(0).get("text", "")
            if self.continue_turn:
                new = seams.repair(self.seam, new, self.structure)
            self.content[-1]["text"] = self.content[-1].get("text", "") + new
            if new.strip():
                self.round_progressed = True
        if self.round_mode != "initial":
            blocks = [b for b in blocks if b.get("type") != "text" or (b.get("text") or "").strip()]
        if blocks:
            self.round_progressed = True
        self.content.extend(blocks)

    def _absorb_stream(self, blocks: list[dict[str, Any]]) -> None:
        # The writers hold each text block's merged, repaired text; other blocks come from the
        # round as the accumulator folded them (positions follow upstream indices in order).
        upstream = sorted(self.index_map)
        for position, block in enumerate(blocks):
            index = upstream[position] if position < len(upstream) else None
            writer = self.round_writers.get(index) if index is not None else None
            if writer is not None and writer.skipped:
                continue
            if writer is not None:
                if index == self.merged_index and self._ends_in_text():
                    self.content[-1]["text"] = writer.text
                    continue
                block["text"] = writer.text
            self.content.append(block)
        if blocks:
            self.round_progressed = self.round_progressed or self.merged_index is None

    # -- writing the answer ---------------------------------------------------------------------
    def has_content(self) -> bool:
        return bool(self.content)

    def answer_size(self) -> int:
        return sum(len(b.get("text") or "") + 1 for b in self.content)

    def final_state(self) -> State:
        if not self.rounds:
            return State.FAILED
        return self.rounds[-1].state

    def _usage_dict(self) -> dict[str, Any]:
        u = self.usage
        usage: dict[str, Any] = {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}
        if "cache_creation_input_tokens" in u.reported or u.cache_creation_input_tokens:
            usage["cache_creation_input_tokens"] = u.cache_creation_input_tokens
        if "cache_read_input_tokens" in u.reported or u.cache_read_input_tokens:
            usage["cache_read_input_tokens"] = u.cache_read_input_tokens
        return usage

    def final_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "message", "role": "assistant", **self.meta}
        body["content"] = self.content
        body["stop_reason"] = self.last_stop.get("stop_reason")
        body["stop_sequence"] = self.last_stop.get("stop_sequence")
        if self.last_stop.get("stop_details") is not None:
            body["stop_details"] = self.last_stop["stop_details"]
        body["usage"] = self._usage_dict()
        return body

    def close_stream(self, error: APIError | None) -> bytes:
        out: list[bytes] = []
        if error is not None:
            # What was sent stays sent; the error says the rest will not come.
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
        out += self._close_writer()
        delta: dict[str, Any] = {
            "stop_reason": self.last_stop.get("stop_reason"),
            "stop_sequence": self.last_stop.get("stop_sequence"),
        }
        if self.last_stop.get("stop_details") is not None:
            delta["stop_details"] = self.last_stop["stop_details"]
        out.append(
            _event("message_delta", {"type": "message_delta", "delta": delta, "usage": self._usage_dict()})
        )
        out.append(_event("message_stop", {"type": "message_stop"}))
        out.append(_event("stopwise", {"type": "stopwise", **self.summary()}))
        return b"".join(out)


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
