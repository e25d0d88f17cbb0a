"""The Anthropic dialect's next requests: the first one, a continuation (a prefill or a continue
turn, with its cache breakpoints), the caller's request again from scratch, a cut tool call or
constrained answer asked again with a larger budget, a paused turn resumed, a broken-off round
resumed, and a round re-planned without a prefill.
"""

from __future__ import annotations

import copy
from typing import Any

from ..outcome import Outcome, State, StopReason
from . import seam as seams
from .anthropic_state import _THINKING, _TOOL_BLOCKS, AnthropicState
from .dialect import Plan
from .join import Join
from .text import Head

__all__ = ["AnthropicPlans"]

_MAX_BREAKPOINTS = 4  # cache_control blocks the API accepts in one request


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


class AnthropicPlans(AnthropicState):
    # -- plans ----------------------------------------------------------------------------------
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

    def _bigger(self, plan: Plan) -> int | None:
        """A retry's budget for an answer that must come whole: more than the last round had."""
        current = plan.body.get("max_tokens")
        if not isinstance(current, int):
            return None
        return self.ledger.bigger(current)

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
        go_on, nxt = self.ledger.next_continuation(plan, self.round.progressed, self.round.abandoned)
        if not go_on:
            return None
        planned = self._continue("continue", nxt)
        if planned is None and reason is not StopReason.MAX_TOKENS:
            self._complete_at_cap(outcome)
        return planned

    def out_of_rounds(self, outcome: Outcome) -> None:
        if outcome.state is State.TRUNCATED and outcome.stop.normalized is StopReason.END:
            self._complete_at_cap(outcome)  # no round left for a prefill to look

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

    def _from_scratch(self, mode: str, max_tokens: int | None) -> Plan:
        """The caller's request again: nothing of the answer was shown but, perhaps, the start of
        an empty text block, which the new round's text goes on in."""
        self.next_join = Join("") if self._ends_in_text() else None
        if max_tokens is not None and max_tokens != self.head.get("max_tokens"):
            return Plan(mode, {**self.request, "max_tokens": max_tokens}, max_tokens)
        return self.caller_plan(mode, max_tokens)

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
