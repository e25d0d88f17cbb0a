"""The interface between the round loop (:mod:`.base`) and a wire dialect's strategy, and the
state they share.

- :class:`Plan`: one upstream request and why it is made.
- :class:`Ledger`: what the loop counts and every strategy reads (rounds, usage, retries, notes,
  the bounds that follow from them).
- :class:`Dialect`: what a wire says (the next request, how a round merges into the answer, how
  the stream is rewritten). Its per-round state is one object, replaced at each
  :meth:`Dialect.begin_round`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..dialects._errors import error_from_payload
from ..errors import APIError
from ..outcome import Outcome, State, Usage
from ..sse import ServerSentEvent
from .models import ModelMemory
from .policy import Policy
from .report import RoundReport

__all__ = ["NO_PROGRESS", "Dialect", "Ledger", "Plan"]

#: The report's note when continuing stopped because a round added nothing and its budget could
#: not grow: the answer is returned truncated, as far as it got.
NO_PROGRESS = "a continuation round added nothing and max_tokens could not grow: returned truncated"

# The fields of a request that hold its size (the conversation): not kept between rounds.
_BULK = ("messages", "system")


@dataclass(slots=True)
class Plan:
    """One upstream request. ``mode``: initial, prefill, continue, tool-retry, structured-retry,
    pause, resume. ``prefill``: it ends on our assistant turn."""

    mode: str
    body: dict[str, Any]
    max_tokens: int | None = None
    prefill: bool = False
    continues: bool = False  # it goes on from the answer so far, in an assistant turn
    # The 400 that would make us re-plan this same round has been seen once already.
    replanned: bool = False
    # The caller's own request, unchanged: it goes as the bytes that came, and ``body`` is then
    # only its small fields (Dialect.head), not the messages (see Dialect.request).
    caller: bool = False
    # Any other plan, once it is sent (freeze): its bytes, and ``body`` only its small fields.
    data: bytes | None = None

    def freeze(self) -> None:
        """Serialized for sending: the bytes are kept, the conversation as objects is not (a
        long conversation would be held twice for the round's whole life)."""
        if not self.caller and self.data is None:
            self.data = orjson.dumps(self.body)
            self.body = {k: v for k, v in self.body.items() if k not in _BULK}


@dataclass(slots=True)
class Ledger:
    policy: Policy
    memory: ModelMemory
    model: str
    stream: bool
    clock: Callable[[], float] = time.time
    rounds: list[RoundReport] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    retries: int = 0
    notes: list[str] = field(default_factory=list)
    # The last continuation round ended in an abandoned head (Join.abandon): asked again once.
    head_retried: bool = False

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def rounds_left(self) -> bool:
        return len(self.rounds) < self.policy.max_rounds

    def output_left(self) -> int | None:
        cap = self.policy.max_output_tokens
        return None if cap is None else cap - self.usage.output_tokens

    def budget(self, max_tokens: int | None) -> int | None:
        """A round's max_tokens within what ``Policy.max_output_tokens`` leaves."""
        left = self.output_left()
        if left is None:
            return max_tokens
        return left if max_tokens is None else min(max_tokens, left)

    def ceiling(self) -> int | None:
        """The model's output ceiling, learned from a 400 or from the catalog."""
        return self.memory.ceiling(self.model)

    def bigger(self, current: int) -> int | None:
        """A retry's budget for an answer that must come whole (a cut tool call, a constrained
        answer): ``tool_budget_factor`` times the last, up to the ceiling and what
        ``max_output_tokens`` leaves; None when that is no more than the last."""
        ceiling = self.ceiling()
        bigger = int(current * self.policy.tool_budget_factor)
        if ceiling is not None:
            bigger = min(bigger, ceiling)
        bigger = self.budget(bigger) or 0  # budget() of a number is a number
        return bigger if bigger > current else None

    def next_continuation(self, plan: Plan, progressed: bool, abandoned: bool) -> tuple[bool, int | None]:
        """Whether to ask for another continuation round after ``plan``, and its max_tokens: a
        round that added nothing is worth repeating only with a larger budget, or once when its
        reply was never judged (``abandoned``: cut inside its undecided head)."""
        nxt = self.grown(plan.max_tokens, self.ceiling())
        grows = plan.max_tokens is not None and nxt is not None and nxt > plan.max_tokens
        again = abandoned and not self.head_retried
        self.head_retried = abandoned
        go_on = plan.mode == "initial" or progressed or grows or again
        if not go_on:
            self.note(NO_PROGRESS)
        return go_on, nxt

    def grown(self, previous: int | None, ceiling: int | None) -> int | None:
        """The max_tokens of the next continuation round (``Policy.grow_max_tokens``)."""
        if previous is None:
            return self.budget(None)
        factor = max(self.policy.grow_max_tokens, 1.0)
        bigger = int(previous * factor)
        if ceiling is not None:
            bigger = min(bigger, ceiling)  # the factor is at least 1: never below the last cap
        return self.budget(bigger)


class Dialect(ABC):
    name: str

    def __init__(self, request: dict[str, Any], ledger: Ledger, source: bytes | None = None) -> None:
        # With the caller's bytes (``source``), the parsed request is not kept: a one-round
        # request, the usual one, then holds only its bytes, not a second copy of its
        # conversation as Python objects. A later round's plan reads the request again.
        self._source = source
        self._request: dict[str, Any] | None = None if source is not None else request
        #: The request without its conversation: every field a round reads (model, stream,
        #: max_tokens, tools, ...). The caller's own plan carries this as its body.
        self.head: dict[str, Any] = (
            {k: v for k, v in request.items() if k not in _BULK} if source is not None else request
        )
        self.ledger = ledger
        self.policy = ledger.policy
        self.memory = ledger.memory
        self.raw: bytes | None = None  # the only round's body, while it is the only round
        self.at_cap_complete = False  # a normal stop at the cap, returned complete

    @property
    def request(self) -> dict[str, Any]:
        """The caller's request, whole. Read again from its bytes for the plans of a round, and
        let go when the round begins (:meth:`let_go`)."""
        if self._request is None:
            assert self._source is not None
            self._request = orjson.loads(self._source)
        return self._request

    def let_go(self) -> None:
        """The round's request is out: the parsed caller's request is not needed until the next
        plan (a no-op without the caller's bytes)."""
        if self._source is not None:
            self._request = None

    def whole(self, plan: Plan) -> dict[str, Any]:
        """``plan``'s body with nothing left out (the caller's request for the caller's plan,
        read again from its bytes for a plan that was sent)."""
        if plan.caller:
            return self.request
        if plan.data is not None:
            body: dict[str, Any] = orjson.loads(plan.data)
            return body
        return plan.body

    def caller_plan(self, mode: str, max_tokens: int | None) -> Plan:
        """The caller's own request again, as it came."""
        return Plan(mode, self.head, max_tokens, caller=True)

    #: The request field that caps the answer (OpenAI's newer models take
    #: ``max_completion_tokens``).
    cap_key = "max_tokens"

    @property
    def max_tokens(self) -> int | None:
        """The caller's cap, if it set one."""
        cap = self.head.get(self.cap_key)
        return cap if isinstance(cap, int) and not isinstance(cap, bool) else None

    def first_plan(self) -> Plan:
        """The caller's request, as it came unless the policy's output budget is smaller."""
        budget = self.ledger.budget(self.max_tokens)
        if budget is not None and budget != self.max_tokens:
            return Plan("initial", {**self.request, self.cap_key: max(budget, 1)}, max(budget, 1))
        return self.caller_plan("initial", self.head.get(self.cap_key))

    def _bigger(self, plan: Plan) -> int | None:
        """A retry's budget for an answer that must come whole (a cut call, a constrained
        answer): more than the last round had. A request with no cap (a relay chose it) asks
        explicitly for more than what came back. (Anthropic, where the cap is required,
        overrides it.)"""
        current = plan.body.get(self.cap_key)
        if not isinstance(current, int):
            current = max(self.ledger.rounds[-1].output_tokens, 1)
        return self.ledger.bigger(current)

    def with_max_tokens(self, plan: Plan, max_tokens: int) -> Plan | None:
        """``plan`` again with a smaller cap (a ceiling learned from a 400); None if it asked
        for no more than that already."""
        current = plan.body.get(self.cap_key)
        if isinstance(current, int) and current <= max_tokens:
            return None
        body = {**self.whole(plan), self.cap_key: max_tokens}
        return Plan(plan.mode, body, max_tokens, plan.prefill, continues=plan.continues)

    @abstractmethod
    def begin_round(self, plan: Plan) -> None:
        """A new round's state (replacing the last one's), before its first byte."""

    @abstractmethod
    def feed(self, event: ServerSentEvent, raw: bytes | None) -> list[bytes]:
        """Stream mode: fold one upstream event, return the downstream bytes it releases.
        ``raw`` is the event's exact encoding when the decoder saw it whole in one read (what
        an unchanged event is sent on as, without encoding it again)."""

    def take_plain(self, chunk: bytes) -> bool:
        """Stream mode, the hot path: ``chunk`` is one whole event (the decoder is idle). If it
        is the dialect's plain text delta, which goes out unchanged with nothing to decide, fold
        it and say so; the loop then sends the chunk on as it came, decoding nothing."""
        return False

    @abstractmethod
    def round_done(self) -> bool:
        """The upstream stream has said all it will (its terminal event or an error)."""

    @abstractmethod
    def stream_outcome(self) -> Outcome: ...

    @abstractmethod
    def body_outcome(self, body: bytes) -> Outcome: ...

    def body_error(self, body: bytes, headers: dict[str, str]) -> APIError | None:
        """A 200 body that is an error object (``{"type": "error", …}``, ``{"error": {…}}``):
        that error, to be retried or handed on like an HTTP error."""
        if b'"error"' not in body:
            return None  # the common case, without parsing the body a second time
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or "choices" in obj or "content" in obj:
            return None
        if obj.get("type") == "error" or isinstance(obj.get("error"), dict):
            return error_from_payload(200, obj, headers)
        return None

    @abstractmethod
    def absorb(self, outcome: Outcome, plan: Plan, *, partial: bool) -> None:
        """Merge a round into the answer. ``partial``: the round broke off; keep only what is
        safe to continue from."""

    @abstractmethod
    def next_plan(self, outcome: Outcome, plan: Plan) -> Plan | None:
        """The next request after a round that ended normally, or None: the answer is done."""

    def out_of_rounds(self, outcome: Outcome) -> None:
        """No round is left after ``outcome`` (``next_plan`` is not asked): settle what its
        verdict needed a next round for (a normal stop at the cap that a prefill would have
        looked at is what it says)."""
        return None

    @abstractmethod
    def resume_plan(self, plan: Plan) -> Plan | None:
        """The request that resumes after a round broke off (None: nothing sensible to ask)."""

    @abstractmethod
    def conclude(self, nxt: Plan | None, *, failed: bool) -> bytes:
        """The round is over and the next request (or none) is known: settle what the stream
        held back for this decision; the downstream bytes that releases."""

    @abstractmethod
    def replan_without_prefill(self, plan: Plan) -> Plan: ...

    @abstractmethod
    def has_content(self) -> bool: ...

    @abstractmethod
    def answer_size(self) -> int:
        """How much answer we hold (characters of text and blocks): the measure of progress."""

    @abstractmethod
    def close_stream(self, error: APIError | None, summary: dict[str, Any]) -> bytes:
        """The downstream events that end the stream (``summary``: the report's payload for the
        final ``stopwise`` event), or, when ``error`` is given, the error event after what was
        already sent."""

    @abstractmethod
    def final_body(self) -> bytes: ...

    def final_state(self) -> State:
        rounds = self.ledger.rounds
        if not rounds:
            return State.FAILED
        if self.at_cap_complete and rounds[-1].state is State.TRUNCATED:
            return State.COMPLETE
        return rounds[-1].state

    def transparent(self) -> bool:
        """One round that needed no finishing: a body handed on byte for byte, a stream as the
        same events, fields and order (an event read whole in the API's own framing goes as its
        bytes; others, such as ``data:[DONE]`` or events sharing a read, are written again in
        the standard framing, which every SSE reader reads alike)."""
        return self.raw is not None and len(self.ledger.rounds) == 1
