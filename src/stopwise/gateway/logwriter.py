"""The rules every request-log writer keeps, whatever the database (:mod:`.log` for SQLite,
:mod:`.pglog` for PostgreSQL).

Request handlers only put a row on a bounded queue; one writer takes what has queued up and
writes it in one transaction, ``interval`` seconds after the first row of a batch arrived. A
batch that fails in a way that passes (a lock, a full disk, a lost connection, a restarting
server) is kept and tried again with backoff while new rows wait on the queue. Rows are dropped
in two cases only, each counted by reason (:attr:`LogWriter.dropped`) and logged:

- ``queue_full``: more than ``max_queue`` rows are waiting (the database has been unwritable for
  that long); the request is never slowed down to wait for the database;
- ``write_error``: an error that retrying cannot mend, or the database still unwritable when
  closing runs out of its ``close_timeout``. A batch refused for good is written again row by
  row first, so that one bad row does not take the others with it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

__all__ = ["BATCH", "DROP_REASONS", "LogWriter", "backoff", "storable"]

logger = logging.getLogger("stopwise.gateway")

BATCH = 1024  # most rows in one transaction
DROP_REASONS = ("queue_full", "write_error")
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 1.0


def _text(value: str, nul: bool) -> str:
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no database's UTF-8 can hold it
            value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    if nul and "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    return value


def storable(row: dict[str, Any], *, nul: bool) -> dict[str, Any]:
    """``row`` with the characters a database cannot store as U+FFFD: lone surrogates (no
    UTF-8 holds them), and NUL when ``nul`` (PostgreSQL's text refuses it). The rest as it came;
    a row that needs nothing (nearly every one) is returned itself, not copied."""
    mended = {k: t for k, v in row.items() if isinstance(v, str) and (t := _text(v, nul)) is not v}
    return {**row, **mended} if mended else row


def backoff() -> Iterator[float]:
    """Seconds to wait before each retry of one batch: doubling, capped."""
    delay = _BACKOFF_FIRST
    while True:
        yield delay
        delay = min(delay * 2, _BACKOFF_MAX)


class LogWriter:
    """Counters and drop rules shared by the writers; ``where`` names the log in messages
    (never with a password in it)."""

    def __init__(self, where: str, *, max_queue: int, interval: float, close_timeout: float) -> None:
        self.where = where
        self.max_queue = max_queue
        self.interval = interval  # seconds rows may wait to be written together
        self.close_timeout = close_timeout  # how long closing keeps retrying a batch it cannot write
        self.dropped: Counter[str] = Counter()
        self.written = 0
        self.retries = 0  # failed write attempts that were tried again
        self._closing_by: float | None = None  # monotonic deadline once closing began
        self._holding = 0  # rows taken off the queue and not yet written (a batch being retried)
        self._failing = False  # the last write attempt failed in a way that passes

    @property
    def queued(self) -> int:
        """Rows waiting to be written: on the queue, and in the batch being written."""
        return self._waiting() + self._holding

    def _waiting(self) -> int:
        raise NotImplementedError

    def _begin_closing(self) -> None:
        self._closing_by = time.monotonic() + self.close_timeout

    def _out_of_time(self) -> bool:
        return self._closing_by is not None and time.monotonic() >= self._closing_by

    def _hopeless(self) -> bool:
        """Closing is out of time and the last write failed: the rest is dropped untried, or
        each batch left would wait out its own attempt (a pool's connect timeout) first."""
        return self._failing and self._out_of_time()

    def _drop(self, reason: str, n: int) -> None:
        first = not self.dropped[reason]
        self.dropped[reason] += n
        # Loud the first time, then quiet: a stalled database must not also flood the error log.
        log = logger.error if first else logger.debug
        log("stopwise: request log %s dropped %d rows (%d so far)", reason, n, self.dropped[reason])

    def _written(self, n: int) -> None:
        self.written += n
        self._failing = False

    def _failed(self, exc: BaseException, n: int, *, passes: bool) -> Literal["split", "drop", "retry"]:
        """What a writer does after a batch of ``n`` rows failed, the one decision both make:
        refused for good, a batch is written again row by row (``split``: one bad row must not
        take the others with it) and a row alone is dropped, counted; a failure that passes is
        tried again after the backoff, unless closing is out of time (dropped)."""
        was_failing, self._failing = self._failing, passes
        if not passes and n > 1:
            return "split"
        if not passes or self._out_of_time():
            self._refused(exc, n)
            return "drop"
        if not was_failing:  # once per episode, not once per attempt
            logger.warning("stopwise: request log %s unwritable (%s); retrying", self.where, exc)
        self.retries += 1
        return "retry"

    def _refused(self, exc: BaseException, n: int) -> None:
        # Losing log rows must not take the gateway down; say so loudly, count them.
        logger.error("stopwise: could not write to the request log %s: %s", self.where, exc)
        self._drop("write_error", n)

    def _report_losses(self) -> None:
        if self.dropped:
            lost = ", ".join(f"{n} ({reason})" for reason, n in sorted(self.dropped.items()))
            logger.error("stopwise: request log %s: rows dropped since start: %s", self.where, lost)
