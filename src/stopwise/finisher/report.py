"""What one finished request amounts to: a frozen, typed report.

The engine builds it once, at its end (or when the caller walks away); the transports' observer
and the gateway's request log receive it, and streams carry :meth:`Report.to_dict` as their final
``stopwise`` event. Usage is summed over rounds field by field, nested objects included
(:func:`sum_usage`), so the split that billing needs (``cache_creation.ephemeral_5m_input_tokens``,
``*_tokens_details.*``, ``server_tool_use.*``) survives a continuation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..outcome import State, Usage

__all__ = ["Report", "RoundReport", "sum_usage"]


@dataclass(frozen=True, slots=True)
class RoundReport:
    """One upstream response merged into the answer. ``mode`` says why it was asked for:
    ``initial``, ``prefill``, ``continue``, ``tool-retry``, ``structured-retry``, ``pause``,
    ``resume``."""

    mode: str
    stop_reason: str | None  # raw, as the upstream said it
    state: State
    output_tokens: int
    max_tokens: int | None = None
    input_tokens: int = 0
    retries: int = 0  # failed attempts before this round's response came
    # The ledger's clock (seconds since the epoch by default): from the round's first attempt
    # going out to its response read whole. Spans are made from these after the fact.
    started: float | None = None
    ended: float | None = None
    notes: tuple[str, ...] = ()  # the report's notes this round added (seam repairs among them)


@dataclass(frozen=True, slots=True)
class Report:
    dialect: str
    model: str
    stream: bool
    rounds: tuple[RoundReport, ...]
    state: State
    retries: int
    usage: Usage
    error: str | None = None  # what the finisher gave up on, if it did
    # Facts the state alone does not say: "end_turn at the cap: returned complete", "seam
    # diverged", "restarted stream replayed", "structured answer re-asked"…
    notes: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()
    cancelled: bool = False  # the caller stopped reading a stream before its end
    transparent: bool = False  # one round, handed on unchanged
    # What the first round that had them said, from its envelope (id, model), and the caller's
    # max_tokens; started/ended by the ledger's clock, from the finisher's birth to this report.
    response_id: str | None = None
    response_model: str | None = None
    max_tokens: int | None = None
    started: float | None = None
    ended: float | None = None

    @property
    def modes(self) -> list[str]:
        return [r.mode for r in self.rounds]

    @property
    def stop_reasons(self) -> list[str | None]:
        return [r.stop_reason for r in self.rounds]

    def to_dict(self) -> dict[str, Any]:
        """The ``stopwise`` stream event's payload (and the JSON a log keeps)."""
        return {
            "rounds": len(self.rounds),
            "modes": self.modes,
            "stop_reasons": self.stop_reasons,
            "state": self.state.value,
            "retries": self.retries,
            "usage": self.usage.to_dict(),
            "error": self.error,
            "notes": list(self.notes),
        }


def sum_usage(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Usage objects of several rounds as one: numbers summed, nested objects summed key by key,
    anything else (``service_tier``, a string) the last round's non-null value; keys in the order
    they first appeared. ``None`` plus a number is the number."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = _add(out.get(key), value) if key in out else _copy(value)
    return out


def _copy(value: Any) -> Any:
    return sum_usage([value]) if isinstance(value, dict) else value


def _add(a: Any, b: Any) -> Any:
    if _number(a) and _number(b):
        return a + b
    if isinstance(a, dict) and isinstance(b, dict):
        return sum_usage([a, b])
    return a if b is None else _copy(b)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
