"""Ending requests the gateway will not wait for: past the per-request deadline, and past the
graceful-shutdown timeout.

Every request is entered here while it is served, with a timer for its ``request_timeout``.
When the server is asked to stop (SIGTERM, Ctrl-C), :meth:`Drain.begin` starts the shutdown
clock: the server stops accepting connections, open requests go on, and after
``shutdown_timeout`` seconds every request still open is ended. Ending one cancels its task
with a cancel of ours; the handler that catches it asks :meth:`Drain.ours` whether it is ours
and gets the error to answer with: a 503 or 504 in the caller's dialect or, for a stream already
under way, a typed error event and a clean end of the body. Either way the request's row is
written. What no handler got to finish (a task the server cancelled itself) is handed back by
:meth:`Drain.leftovers` before the log closes, so no in-flight request goes unrecorded.
"""

from __future__ import annotations

import asyncio

from .errors import GatewayError
from .record import Exchange

__all__ = ["DEADLINE_CODE", "SHUTDOWN_CODE", "Drain"]

#: The error type of a request ended by the shutdown timeout (row, metrics, error body).
SHUTDOWN_CODE = "gateway_shutdown"
#: ... and of one that outlived ``request_timeout``.
DEADLINE_CODE = "request_deadline"


class Drain:
    def __init__(self) -> None:
        self._open: dict[asyncio.Task[object], Exchange] = {}
        self._timers: dict[asyncio.Task[object], asyncio.TimerHandle] = {}
        self._ended: dict[asyncio.Task[object], GatewayError] = {}
        self._shutdown: asyncio.TimerHandle | None = None  # set once the server is stopping

    def enter(self, ex: Exchange, deadline: float | None = None) -> None:
        task = asyncio.current_task()
        if task is None:
            return
        self._open[task] = ex
        ex.task = task
        if deadline is not None:
            err = GatewayError(504, DEADLINE_CODE, f"the request took longer than {deadline:g} s")
            self._timers[task] = asyncio.get_running_loop().call_later(deadline, self._end, task, err)

    def leave(self, ex: Exchange) -> None:
        task = ex.task
        if task is not None:
            self._open.pop(task, None)
            self._ended.pop(task, None)
            timer = self._timers.pop(task, None)
            if timer is not None:
                timer.cancel()

    def begin(self, timeout: float) -> None:
        """The server stops; open requests have ``timeout`` seconds to end by themselves."""
        if self._shutdown is not None:
            return
        self._shutdown = asyncio.get_running_loop().call_later(timeout, self.expire)

    def expire(self) -> None:
        """End every open request now."""
        err = GatewayError(
            503, SHUTDOWN_CODE, "the stopwise gateway shut down before the answer was complete"
        )
        for task in list(self._open):
            self._end(task, err)

    def _end(self, task: asyncio.Task[object], err: GatewayError) -> None:
        if task in self._open and task not in self._ended:
            self._ended[task] = err
            task.cancel(err.code)

    def ours(self) -> GatewayError | None:
        """On a ``CancelledError``: the error to end the request with, if the cancel is ours
        (it is then taken off the task's count: the handler ends the request itself)."""
        task = asyncio.current_task()
        err = self._ended.pop(task, None) if task is not None else None
        if err is not None and task is not None:
            task.uncancel()
        return err

    def leftovers(self) -> list[Exchange]:
        """Requests still open when the app shuts down: their tasks were cancelled from
        outside, or never got to write their rows."""
        if self._shutdown is not None:
            self._shutdown.cancel()
        for timer in self._timers.values():
            timer.cancel()
        left = list(self._open.values())
        self._open.clear()
        self._timers.clear()
        self._ended.clear()
        return left
