"""Input-token accounting, with prompt caching.

A request's input is a list of :class:`Segment`s in the order the provider caches them (tools,
system, then each message's blocks). Anthropic caches the prefix ending at each
``cache_control`` breakpoint: the first request reports it as ``cache_creation_input_tokens``,
a later request sharing that prefix as ``cache_read_input_tokens``, and ``input_tokens`` is
what is left. A hit can be at any block boundary up to the last breakpoint, and only prefixes
of at least the model's minimum are cached, as with the real API. OpenAI caches automatically:
``cached_tokens`` is the longest previously seen message-boundary prefix of at least 1024
tokens, rounded down to a multiple of 128.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["MESSAGE_OVERHEAD", "REQUEST_OVERHEAD", "CacheUse", "PromptCache", "Segment"]

#: Fixed token costs, like the role markers of a real chat template.
MESSAGE_OVERHEAD = 3
REQUEST_OVERHEAD = 3
_OPENAI_MIN = 1024
_OPENAI_STEP = 128


@dataclass(frozen=True)
class Segment:
    material: str  # what identifies the block for caching (its canonical JSON)
    tokens: int
    breakpoint: bool = False
    ttl: str = "5m"


@dataclass(frozen=True)
class CacheUse:
    input_tokens: int  # not cached
    creation: int = 0
    read: int = 0
    creation_1h: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.creation + self.read


class PromptCache:
    """Per-app cache state: prefix hash → token count."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def anthropic(self, model: str, segments: list[Segment], min_tokens: int) -> CacheUse:
        total = REQUEST_OVERHEAD + sum(s.tokens for s in segments)
        keys, cums = _prefixes(model, segments)
        marks = [i for i, s in enumerate(segments) if s.breakpoint]
        if not marks:
            return CacheUse(total)
        last = marks[-1]
        read = max((cums[j] for j in range(last + 1) if keys[j] in self._seen), default=0)
        creation = 0
        if cums[last] >= min_tokens and keys[last] not in self._seen:
            creation = cums[last] - read
        for i in marks:
            if cums[i] >= min_tokens:
                self._seen[keys[i]] = cums[i]
        one_hour = creation if segments[last].ttl == "1h" else 0
        return CacheUse(total - read - creation, creation, read, one_hour)

    def openai(self, model: str, segments: list[Segment], boundaries: list[int]) -> CacheUse:
        """``boundaries``: indexes of the segments that end a message."""
        total = REQUEST_OVERHEAD + sum(s.tokens for s in segments)
        keys, cums = _prefixes(model, segments)
        hits = [cums[i] for i in boundaries if keys[i] in self._seen]
        cached = max(hits, default=0)
        cached = cached - cached % _OPENAI_STEP if cached >= _OPENAI_MIN else 0
        for i in boundaries:
            if cums[i] >= _OPENAI_MIN:
                self._seen[keys[i]] = cums[i]
        return CacheUse(total - cached, 0, cached)


def _prefixes(model: str, segments: list[Segment]) -> tuple[list[str], list[int]]:
    h = hashlib.sha256(model.encode())
    keys: list[str] = []
    cums: list[int] = []
    cum = 0
    for s in segments:
        h.update(b"\0" + s.material.encode())
        cum += s.tokens
        keys.append(h.copy().hexdigest())
        cums.append(cum)
    return keys, cums
