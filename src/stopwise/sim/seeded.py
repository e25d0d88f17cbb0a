"""A tiny seeded generator whose output depends on nothing but its seed.

The documents are the simulator's contract with every test and benchmark, so they must be the
same on every Python version. ``random.Random`` only promises that for ``random()`` itself (its
``choice``, ``randint`` and ``sample`` may change between versions), so this one is built on
SHA-256 in counter mode instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["Seeded"]

T = TypeVar("T")


class Seeded:
    def __init__(self, seed: str) -> None:
        self._seed = hashlib.sha256(seed.encode()).digest()
        self._counter = 0

    def random(self) -> float:
        """A float in [0, 1) from the next 53 bits of the stream."""
        self._counter += 1
        digest = hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
        return (int.from_bytes(digest[:8], "big") >> 11) / (1 << 53)

    def randint(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def choice(self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]

    def sample(self, items: Sequence[T], k: int) -> list[T]:
        pool = list(items)
        return [pool.pop(int(self.random() * len(pool))) for _ in range(k)]
