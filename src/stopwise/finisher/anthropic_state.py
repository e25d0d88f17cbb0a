"""The Anthropic dialect's state: what lives across rounds (the answer being built, the stream's
downstream position) in :class:`AnthropicState`, and what lives for one round in :class:`_Round`,
replaced at each :meth:`AnthropicState.begin_round`. The plans (:mod:`.anthropic_plans`), the
stream rewriting (:mod:`.anthropic_stream`) and the answer (:mod:`.anthropic_answer`) all read
and write it; :class:`~.anthropic.AnthropicDialect` puts them together.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..dialects.anthropic import AnthropicAccumulator
from ..outcome import Outcome
from ..sse import encode_data
from . import seam as seams
from .dialect import Dialect, Ledger, Plan
from .join import Join
from .outbox import Outbox

__all__ = ["AnthropicState"]

_CLIENT_TOOLS = frozenset({"tool_use"})
_TOOL_BLOCKS = frozenset({"tool_use", "server_tool_use", "mcp_tool_use"})
_THINKING = frozenset({"thinking", "redacted_thinking"})
_STOP_FIELDS = ("stop_reason", "stop_sequence", "stop_details")


def _event(name: str, obj: dict[str, Any]) -> bytes:
    return encode_data(orjson.dumps(obj), event=name)


def _constrained(body: dict[str, Any]) -> bool:
    """A forced tool or an output format: the answer's shape is fixed, so a cut one cannot be
    continued by concatenation."""
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("tool", "any"):
        return True
    fmt = body.get("output_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_schema", "json_object")


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
    # Where a plain delta's text goes: the accumulator's parts, the text as written, as shown.
    plain_parts: tuple[list[str], list[str], list[str]] | None = None


class AnthropicState(Dialect):
    """What every part of the Anthropic dialect shares; not a dialect on its own."""

    def __init__(self, request: dict[str, Any], ledger: Ledger, source: bytes | None = None) -> None:
        super().__init__(request, ledger, source)
        self._raw: bytes | None = None  # the event being fed, as it came (see feed)
        self._plain_prefix: bytes | None = None  # how a plain text delta starts (take_plain)
        self._plain_index: int | None = None  # the block _plain_prefix was built for
        # A caller's own prefill: the response continues it, but is not part of the response.
        self.caller_prefill: list[dict[str, Any]] = []
        last = _caller_prefill(request)
        if last is not None:
            content = last.get("content")
            self.caller_prefill = (
                [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
            )
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
        # A placeholder until the first round begins: the small fields only (see Dialect.request).
        self.round = _Round(self.caller_plan("initial", None), AnthropicAccumulator(), None, 0)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The caller's messages, less its own prefill (read from the request: see
        Dialect.request)."""
        messages = self.request.get("messages")
        out: list[dict[str, Any]] = list(messages) if isinstance(messages, list) else []
        if _caller_prefill(self.request) is not None:
            out.pop()
        return out

    def _ends_in_text(self) -> bool:
        return bool(self.content) and self.content[-1].get("type") == "text"

    def _has_thinking(self) -> bool:
        return any(b.get("type") in _THINKING for b in self.content)

    # -- folding a round ------------------------------------------------------------------------
    def begin_round(self, plan: Plan) -> None:
        self.let_go()
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

    # Provided by the stream rewriting (.anthropic_stream); the answer's fold calls them at a
    # round's end and at the stream's close.
    @abstractmethod
    def _decide_head(self, out: list[bytes]) -> None: ...

    @abstractmethod
    def _close_open_text(self, out: list[bytes]) -> None: ...


def _caller_prefill(request: dict[str, Any]) -> dict[str, Any] | None:
    """The caller's last message when it is an assistant turn (a prefill)."""
    messages = request.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    return last if isinstance(last, dict) and last.get("role") == "assistant" else None
