"""Deterministic ids: the same request on a fresh app gets the same ids, byte for byte.

Each request's ids derive from a hash of its path and body plus the app's request counter, so
two identical requests on one app still get different ids (as real ones do), while a replay on
a fresh app reproduces them.
"""

from __future__ import annotations

import hashlib

__all__ = ["IdFactory"]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class IdFactory:
    def __init__(self, path: str, body: bytes, counter: int) -> None:
        self._seed = hashlib.sha256(f"{path}\n{counter}\n".encode() + body).digest()
        self._n = 0

    def make(self, prefix: str, length: int = 24) -> str:
        """The next id, e.g. ``msg_01…``; Anthropic ids carry the ``01`` version marker."""
        self._n += 1
        digest = hashlib.sha256(self._seed + self._n.to_bytes(4, "big")).digest()
        value = int.from_bytes(digest, "big")
        chars = []
        for _ in range(length):
            value, rem = divmod(value, len(_ALPHABET))
            chars.append(_ALPHABET[rem])
        return prefix + "".join(chars)
