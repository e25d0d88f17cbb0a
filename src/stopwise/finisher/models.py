"""What the finisher knows about models: prefill support and output ceilings. Starts from
:mod:`stopwise.catalog` and learns from the API's own 400s at run time (brief/wire.md: "Treat that 400 as a
per-model capability signal"; the ``max_tokens: X > Y`` text names the ceiling)."""

from __future__ import annotations

import threading

from ..catalog import model_ceiling, prefill_supported
from ..error_texts import CEILING_TEXT, matches

__all__ = ["ModelMemory", "ceiling_from_error", "is_prefill_rejection", "is_trailing_whitespace_rejection"]

# The API's own 400 texts, from the one catalog diagnose reads too.


def is_prefill_rejection(message: str) -> bool:
    return matches(message, "invalid_request_prefill_unsupported")


def is_trailing_whitespace_rejection(message: str) -> bool:
    return matches(message, "invalid_request_trailing_whitespace")


def ceiling_from_error(message: str) -> int | None:
    m = CEILING_TEXT.search(message)
    return int(m.group(1)) if m else None


class ModelMemory:
    """Shared by every request of one client (and of one gateway): what one request learns, the
    next one uses. Thread-safe, since a client is used from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prefill: dict[str, bool] = {}
        self._ceiling: dict[str, int] = {}

    def prefill(self, dialect: str, model: str) -> bool:
        if dialect != "anthropic":
            return False  # OpenAI Chat has no prefill: a trailing assistant message is a finished turn
        with self._lock:
            known = self._prefill.get(model)
        if known is not None:
            return known
        return prefill_supported(model)

    def forbid_prefill(self, model: str) -> None:
        with self._lock:
            self._prefill[model] = False

    def ceiling(self, model: str) -> int | None:
        with self._lock:
            learned = self._ceiling.get(model)
        return learned if learned is not None else model_ceiling(model)

    def learn_ceiling(self, model: str, value: int) -> None:
        with self._lock:
            self._ceiling[model] = value
