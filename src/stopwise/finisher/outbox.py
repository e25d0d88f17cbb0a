"""The downstream side of a stream: events go out in the upstream's order, each as soon as
nothing before it is still undecided.

Some events cannot go out when they arrive, because the round's stop reason decides what they
are: a client tool call (a cut one is asked for again, so it must never be shown), a text
block's ``content_block_stop`` (the next round may go on in the same block), a thinking block
until its signature (a cut one is never handed back). They are held under a key; everything
queued behind a held event waits with it, so the order never changes. :meth:`settle` releases a
key; :meth:`drop` forgets one (it was never shown, so nothing is retracted).
"""

from __future__ import annotations

from collections.abc import Hashable

__all__ = ["Outbox"]


class Outbox:
    def __init__(self) -> None:
        self._queue: list[tuple[Hashable | None, bytes]] = []
        self._settled: set[Hashable] = set()
        self._held: set[Hashable] = set()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def send(self, data: bytes, out: list[bytes]) -> None:
        """``data`` needs no decision: out now, unless something before it is held."""
        if self._queue:
            self._queue.append((None, data))
        else:
            out.append(data)

    def send_before(self, key: Hashable, data: bytes, out: list[bytes]) -> None:
        """``data`` belongs before ``key``'s events (text of a block whose stop is held)."""
        for i, (k, _) in enumerate(self._queue):
            if k == key:
                self._queue.insert(i, (None, data))
                self._drain(out)
                return
        self.send(data, out)

    def hold(self, key: Hashable, data: bytes) -> None:
        self._held.add(key)
        self._queue.append((key, data))

    def holds(self, key: Hashable) -> bool:
        """``key`` is held and not yet released."""
        return key in self._held and key not in self._settled

    def queued(self, key: Hashable) -> bool:
        """``key`` was held and not dropped: it is out, or will be."""
        return key in self._held

    def held_keys(self) -> list[Hashable]:
        return [
            k for k in dict.fromkeys(k for k, _ in self._queue) if k is not None and k not in self._settled
        ]

    def settle(self, key: Hashable, out: list[bytes]) -> None:
        if key in self._held:
            self._settled.add(key)
        self._drain(out)

    def settle_all(self, out: list[bytes]) -> None:
        self._settled.update(self._held)
        self._drain(out)

    def drop(self, keys: set[Hashable], out: list[bytes]) -> None:
        self._queue = [(k, d) for k, d in self._queue if k not in keys]
        self._held -= keys
        self._drain(out)

    def _drain(self, out: list[bytes]) -> None:
        i = 0
        while i < len(self._queue) and (self._queue[i][0] is None or self._queue[i][0] in self._settled):
            out.append(self._queue[i][1])
            i += 1
        if i:
            del self._queue[:i]
