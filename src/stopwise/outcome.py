"""The honest outcome of one response: why it stopped (raw and normalized), whether it is
complete, and what it cost.

The normalized stop reason and the completeness state are kept apart on purpose (the shape
pydantic-ai settled on): ``max_tokens`` says *why*, ``truncated`` says *what the caller holds*.
A stream cut after the 200 has no reason at all but is still ``interrupted``; a ``tool_calls``
finish whose arguments do not parse is ``truncated`` whatever its reason says.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import APIError

__all__ = [
    "Outcome",
    "State",
    "Stop",
    "StopReason",
    "Usage",
    "normalize_stop_reason",
    "state_for",
]


class StopReason(enum.StrEnum):
    """Closed vocabulary of why generation stopped, across dialects and relays."""

    END = "end"  # end_turn, stop
    STOP_SEQUENCE = "stop_sequence"
    MAX_TOKENS = "max_tokens"  # max_tokens, length
    TOOL_USE = "tool_use"  # tool_use, tool_calls, function_call
    PAUSE = "pause"  # pause_turn
    COMPACTION = "compaction"  # beta context compaction: resume like a pause
    REFUSAL = "refusal"
    CONTENT_FILTER = "content_filter"
    CONTEXT_WINDOW = "context_window"  # model_context_window_exceeded
    UNKNOWN = "unknown"  # a value we do not know: never read as a normal stop
    MISSING = "missing"  # null, empty or absent: the stream never said


class State(enum.StrEnum):
    COMPLETE = "complete"
    TRUNCATED = "truncated"  # stopped by a token limit; the text is unfinished
    PAUSED = "paused"  # the turn is not over: send it back to resume
    INTERRUPTED = "interrupted"  # ended without a terminal reason, or with input lost on the way
    FAILED = "failed"  # an error ended it (HTTP error, or an error event mid-stream)


# One table for both wires: relays put Claude's raw values into OpenAI chunks (new-api before
# Sept 2025 and its forks), so `max_tokens`, `tool_use`, `pause_turn` and friends must be read
# on the OpenAI wire too (brief/wire.md "What relays and gateways really send").
_REASONS: dict[str, StopReason] = {
    "end_turn": StopReason.END,
    "stop": StopReason.END,
    "stop_sequence": StopReason.STOP_SEQUENCE,
    "max_tokens": StopReason.MAX_TOKENS,
    "length": StopReason.MAX_TOKENS,
    "max_output_tokens": StopReason.MAX_TOKENS,  # Responses API incomplete_details.reason
    "tool_use": StopReason.TOOL_USE,
    "tool_calls": StopReason.TOOL_USE,
    "function_call": StopReason.TOOL_USE,
    "pause_turn": StopReason.PAUSE,
    "compaction": StopReason.COMPACTION,
    "refusal": StopReason.REFUSAL,
    "content_filter": StopReason.CONTENT_FILTER,
    "model_context_window_exceeded": StopReason.CONTEXT_WINDOW,
}

_STATE: dict[StopReason, State] = {
    StopReason.END: State.COMPLETE,
    StopReason.STOP_SEQUENCE: State.COMPLETE,
    StopReason.TOOL_USE: State.COMPLETE,
    StopReason.REFUSAL: State.COMPLETE,
    StopReason.CONTENT_FILTER: State.COMPLETE,
    StopReason.MAX_TOKENS: State.TRUNCATED,
    StopReason.CONTEXT_WINDOW: State.TRUNCATED,
    StopReason.PAUSE: State.PAUSED,
    StopReason.COMPACTION: State.PAUSED,
    StopReason.UNKNOWN: State.INTERRUPTED,
    StopReason.MISSING: State.INTERRUPTED,
}

# How bad a state is, to combine several (n > 1 choices): the worst one wins.
_SEVERITY = {State.COMPLETE: 0, State.PAUSED: 1, State.TRUNCATED: 2, State.INTERRUPTED: 3, State.FAILED: 4}


def normalize_stop_reason(raw: object) -> StopReason:
    if raw is None or raw == "":
        return StopReason.MISSING
    if not isinstance(raw, str):
        return StopReason.UNKNOWN
    return _REASONS.get(raw, StopReason.UNKNOWN)


def state_for(reason: StopReason) -> State:
    return _STATE[reason]


def worst(states: list[State]) -> State:
    return max(states, key=_SEVERITY.__getitem__) if states else State.INTERRUPTED


@dataclass(frozen=True, slots=True)
class Stop:
    raw: str | None
    normalized: StopReason

    @classmethod
    def of(cls, raw: object) -> Stop:
        return cls(
            raw if isinstance(raw, str) else (None if raw is None else str(raw)), normalize_stop_reason(raw)
        )

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "normalized": self.normalized.value}


_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


@dataclass(slots=True)
class Usage:
    """Token counts in Anthropic's vocabulary (OpenAI's prompt/completion map onto them).

    ``reported`` names the counts the provider sent; ``estimated`` the ones stopwise filled in
    (a cut stream never gets its usage event). A count in neither is unknown and reads 0.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    reasoning_tokens: int = 0
    reported: set[str] = field(default_factory=set)
    estimated: set[str] = field(default_factory=set)

    def set_reported(self, name: str, value: object) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            setattr(self, name, value)
            self.reported.add(name)
            self.estimated.discard(name)

    def set_estimated(self, name: str, value: int) -> None:
        if name not in self.reported:
            setattr(self, name, value)
            self.estimated.add(name)

    @property
    def total_tokens(self) -> int:
        return (
            self.input_tokens
            + self.output_tokens
            + self.cache_creation_input_tokens
            + self.cache_read_input_tokens
        )

    def __add__(self, other: Usage) -> Usage:
        out = Usage()
        for name in (*_USAGE_FIELDS, "reasoning_tokens"):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        # A sum with one estimated term is an estimate.
        out.estimated = self.estimated | other.estimated
        out.reported = (self.reported | other.reported) - out.estimated
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {name: getattr(self, name) for name in _USAGE_FIELDS}
        if self.reasoning_tokens or "reasoning_tokens" in self.reported:
            d["reasoning_tokens"] = self.reasoning_tokens
        d["reported"] = sorted(self.reported)
        d["estimated"] = sorted(self.estimated)
        return d


def estimate_tokens(chars: int) -> int:
    """A rough count for ``chars`` characters of output with no reported usage: about 4
    characters a token, what both providers quote for English. Marked ``estimated`` wherever
    it is used."""
    return (chars + 3) // 4


@dataclass(slots=True)
class Outcome:
    """What one response amounts to. ``message`` is the reconstructed body in the dialect's own
    shape (an Anthropic Message, or an OpenAI ChatCompletion), so it can be handed to that SDK.

    For OpenAI, ``stop``, ``text`` and ``content`` are the first choice's, ``choices`` holds one
    Outcome per choice, and ``state`` is the worst of them: a response with one cut choice is not
    complete.
    """

    dialect: str
    state: State
    stop: Stop
    usage: Usage
    message: dict[str, Any]
    text: str = ""
    content: list[dict[str, Any]] = field(default_factory=list)
    choices: list[Outcome] = field(default_factory=list)
    error: APIError | None = None
    # Why the state is what it is when the reason alone does not say: "output_tokens reached
    # max_tokens", "tool input JSON incomplete", "block 1 never stopped", "stream cut"...
    reasons: list[str] = field(default_factory=list)
    # Bad input met on the way, skipped and counted: {"unknown_event": 2, "malformed_json": 1}.
    anomalies: dict[str, int] = field(default_factory=dict)
    # The raw JSON text streamed for each tool input, by block index (or choice:call for OpenAI),
    # kept even when it does not parse: the evidence of a cut call.
    tool_json: dict[str, str] = field(default_factory=dict)
    # Signs that another API sits behind this one (Claude behind an OpenAI-format relay).
    relay: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.state is State.COMPLETE

    @property
    def id(self) -> str | None:
        value = self.message.get("id")
        return value if isinstance(value, str) else None

    @property
    def model(self) -> str | None:
        value = self.message.get("model")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "dialect": self.dialect,
            "state": self.state.value,
            "stop_reason": self.stop.to_dict(),
            "text": self.text,
            "content": self.content,
            "usage": self.usage.to_dict(),
            "id": self.id,
            "model": self.model,
        }
        if self.dialect == "openai":
            d["choices"] = [c.to_dict() for c in self.choices]
        if self.reasons:
            d["reasons"] = list(self.reasons)
        if self.anomalies:
            d["anomalies"] = dict(self.anomalies)
        if self.tool_json:
            d["tool_json"] = dict(self.tool_json)
        if self.relay:
            d["relay"] = list(self.relay)
        if self.error is not None:
            d["error"] = {
                "status": self.error.status,
                "type": self.error.error_type,
                "code": self.error.code,
                "message": self.error.message,
                "request_id": self.error.request_id,
                "retry_after": self.error.retry_after,
            }
        return d


def apply_cap(outcome: Outcome, max_tokens: int | None) -> None:
    """Output tokens at or above the request's ``max_tokens`` with a normal stop mean the cap may
    have been hit (relays that report ``stop`` on a capped answer; brief/wire.md). It never
    overrides a terminal reason: refusal, content_filter, stop_sequence and a whole tool call at
    the cap are what they say."""
    if max_tokens is None or max_tokens <= 0 or outcome.state is not State.COMPLETE:
        return
    if outcome.stop.normalized is not StopReason.END:
        return
    if outcome.usage.output_tokens >= max_tokens:
        outcome.state = State.TRUNCATED
        outcome.reasons.append(f"output_tokens {outcome.usage.output_tokens} reached max_tokens {max_tokens}")
