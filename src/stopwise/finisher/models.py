"""What the finisher knows about models: prefill support and output ceilings. Starts from a
small table and learns from the API's own 400s at run time (brief/wire.md: "Treat that 400 as a
per-model capability signal"; the ``max_tokens: X > Y`` text names the ceiling)."""

from __future__ import annotations

import re
import threading

__all__ = ["ModelMemory", "ceiling_from_error", "is_prefill_rejection", "is_trailing_whitespace_rejection"]

# Claude 4.6 and later reject prefill; Sonnet 4.5, Haiku 4.5 and older accept it.
_NO_PREFILL = re.compile(r"claude-(?:opus|sonnet|haiku)-(?:4-(?:[6-9]|\d\d)|[5-9])")
_CEILINGS = {
    "claude-sonnet-4-5": 64000,
    "claude-haiku-4-5": 64000,
    "claude-opus-4-6": 128000,
    "claude-sonnet-4-6": 64000,
    "claude-opus-4-1": 32000,
    "claude-opus-4": 32000,
    "claude-sonnet-4": 64000,
    "gpt-4o": 16384,
    "gpt-4o-mini": 16384,
    "gpt-4.1": 32768,
    "gpt-4.1-mini": 32768,
}
_CEILING_TEXT = re.compile(r"max_tokens: \d+ > (\d+), which is the maximum allowed")
_PREFILL_TEXT = "does not support assistant message prefill"
_TRAILING_WS_TEXT = "cannot end with trailing whitespace"


def _base(model: str) -> str:
    # Dated snapshots share their family's limits: claude-sonnet-4-5-20250929 -> claude-sonnet-4-5.
    return re.sub(r"-\d{8}$|-latest$", "", model)


def is_prefill_rejection(message: str) -> bool:
    return _PREFILL_TEXT in message


def is_trailing_whitespace_rejection(message: str) -> bool:
    return _TRAILING_WS_TEXT in message


def ceiling_from_error(message: str) -> int | None:
    m = _CEILING_TEXT.search(message)
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
        return _NO_PREFILL.search(model) is None

    def forbid_prefill(self, model: str) -> None:
        with self._lock:
            self._prefill[model] = False

    def ceiling(self, model: str) -> int | None:
        with self._lock:
            learned = self._ceiling.get(model)
        return learned if learned is not None else _CEILINGS.get(_base(model))

    def learn_ceiling(self, model: str, value: int) -> None:
        with self._lock:
            self._ceiling[model] = value
