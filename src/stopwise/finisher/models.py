"""What the finisher knows about models: prefill support and output ceilings. Starts from
:mod:`stopwise.catalog` and learns from the API's own 400s at run time (brief/wire.md: "Treat that 400 as a
per-model capability signal"; the ``max_tokens: X > Y`` text names the ceiling)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from ..catalog import model_ceiling, prefill_supported
from ..error_texts import CEILING_TEXT, matches

__all__ = [
    "Fact",
    "ModelMemory",
    "ceiling_from_error",
    "is_prefill_rejection",
    "is_trailing_whitespace_rejection",
]

# The API's own 400 texts, from the one catalog diagnose reads too.


def is_prefill_rejection(message: str) -> bool:
    return matches(message, "invalid_request_prefill_unsupported")


def is_trailing_whitespace_rejection(message: str) -> bool:
    return matches(message, "invalid_request_trailing_whitespace")


def ceiling_from_error(message: str) -> int | None:
    m = CEILING_TEXT.search(message)
    return int(m.group(1)) if m else None


@dataclass(frozen=True, slots=True)
class Fact:
    """One thing a 400 taught about a model: ``prefill`` (value 0: the model rejects a
    prefill) or ``ceiling`` (value: its output ceiling), good until ``expires_at`` (Unix
    seconds)."""

    model: str
    fact: Literal["prefill", "ceiling"]
    value: int
    expires_at: float


class ModelMemory:
    """Shared by every request of one client (and of one gateway): what one request learns, the
    next one uses. Thread-safe, since a client is used from many threads.

    ``ttl``: seconds a learned fact holds before the catalog's word is taken again (None:
    forever). ``on_learn`` is told of each fact learned here (a gateway shares it with its
    replicas); facts they learned come in by :meth:`merge`, and are not told back."""

    def __init__(
        self,
        *,
        ttl: float | None = None,
        on_learn: Callable[[Fact], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.on_learn = on_learn
        self._clock = clock
        self._lock = threading.Lock()
        self._facts: dict[tuple[str, str], Fact] = {}

    def _known(self, model: str, kind: str) -> Fact | None:
        with self._lock:
            fact = self._facts.get((model, kind))
        return fact if fact is not None and fact.expires_at > self._clock() else None

    def _learn(self, model: str, kind: Literal["prefill", "ceiling"], value: int) -> None:
        expires = math.inf if self.ttl is None else self._clock() + self.ttl
        fact = Fact(model, kind, value, expires)
        with self._lock:
            self._facts[(model, kind)] = fact
        if self.on_learn is not None:
            self.on_learn(fact)

    def prefill(self, dialect: str, model: str) -> bool:
        if dialect != "anthropic":
            return False  # OpenAI Chat has no prefill: a trailing assistant message is a finished turn
        known = self._known(model, "prefill")
        if known is not None:
            return bool(known.value)
        return prefill_supported(model)

    def forbid_prefill(self, model: str) -> None:
        self._learn(model, "prefill", 0)

    def ceiling(self, model: str) -> int | None:
        learned = self._known(model, "ceiling")
        return learned.value if learned is not None else model_ceiling(model)

    def learn_ceiling(self, model: str, value: int) -> None:
        self._learn(model, "ceiling", value)

    def merge(self, facts: Iterable[Fact]) -> int:
        """Take facts learned elsewhere; expired ones are skipped, and of two facts on one
        model the one that holds longer (the one learned last) is kept, so a fact learned here
        and not yet shared is not undone by an older copy. Returns how many were taken."""
        now = self._clock()
        taken = 0
        with self._lock:
            for fact in facts:
                if fact.expires_at <= now or fact.fact not in ("prefill", "ceiling"):
                    continue
                mine = self._facts.get((fact.model, fact.fact))
                if mine is None or mine.expires_at <= fact.expires_at:
                    self._facts[(fact.model, fact.fact)] = fact
                    taken += 1
        return taken

    def facts(self) -> list[Fact]:
        """The learned facts still in force."""
        now = self._clock()
        with self._lock:
            return [f for f in self._facts.values() if f.expires_at > now]
