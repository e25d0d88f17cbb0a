"""Graceful shutdown: the requests open now, and ending them when the shutdown timeout passes.

When the server is asked to stop (SIGTERM, Ctrl-C), :meth:`Drain.begin` starts the clock: the
server stops accepting connections, open requests go on, and after ``shutdown_timeout`` seconds
every request still open is cancelled with a cancel of ours. The handler that catches it
(:meth:`Drain.ours` tells ours from any other) ends the request in the caller's dialect: a 503,
or, for a stream already under way, a typed error event and a clean end of the body. Either way
the request's row is written. What no handler got to finish (a task the server cancelled
itself) is finished by :meth:`Drain.leftovers` before the log closes, so no in-flight request
goes unrecorded.
"""

from __future__ import annotations

import asyncio

from .record import Exchange

__all__ = ["SHUTDOWN_CODE", "Drain"]

#: The error type of a request ended by the shutdown timeout (row, metrics, error body).
SHUTDOWN_CODE = "gateway_shutdown"


class Drain:
    def __init__(self) -> None:
        self._open: dict[asyncio.Task[object], Exchange] = {}
        self.draining = False  # the server is stopping: no new connections
        self.expired = False  # the shutdown timeout passed: open requests are being ended
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return len(self._open)

    def enter(self, ex: Exchange) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._open[task] = ex
            ex.task = task

    def leave(self, ex: Exchange) -> None:
        if ex.task is not None:
            self._open.pop(ex.task, None)

    def begin(self, timeout: float) -> None:
        """The server stops; open requests have ``timeout`` seconds to end by themselves."""
        if self.draining:
            return
        self.draining = True
        self._timer = asyncio.get_running_loop().call_later(timeout, self.expire)

    def expire(self) -> None:
        self.expired = True
        for task in list(self._open):
            task.cancel(SHUTDOWN_CODE)

    def ours(self) -> bool:
        """On a ``CancelledError``: whether it is the shutdown's (then it is taken off the
        task's count, and the handler ends the request itself)."""
        task = asyncio.current_task()
        if not self.expired or task is None or task not in self._open:
            return False
        task.uncancel()
        return True

    def leftovers(self) -> list[Exchange]:
        """Requests still open when the app shuts down: their tasks were cancelled from
        outside, or never got to write their rows."""
        if self._timer is not None:
            self._timer.cancel()
        left = list(self._open.values())
        self._open.clear()
        return left
