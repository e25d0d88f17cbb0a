"""The finisher engine is a generator: it yields what it needs done and is sent the result.
The sync transport, the async transport and the gateway drive the same generator; only they
touch sockets and clocks.

Engine yields           driver sends back
-------------           -----------------
Send(body, caller, data)  Head(status, headers), or Failure(exc) if no response came
Read(emit)              the next bytes of the current upstream body; b"" at its end;
                        Failure(exc) if the connection broke. A stream's ``emit`` bytes go
                        downstream first (what the last read released: one effect per read)
Forward(emit, take)     like Read(emit), but the driver keeps reading while ``take(chunk)`` is
                        true, sending each such chunk downstream as it came; it sends back
                        the first chunk ``take`` refuses (or b"", or Failure). The hot path
                        of a stream: plain text deltas go out with no engine step per chunk
Sleep(seconds)          None
Start(status, headers)  None   (stream: the downstream head; Emit follows)
Emit(data)              None   (stream: downstream bytes)
Finish(status, headers, body)  -- the last effect; body is b"" after a Start
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Emit", "Failure", "Finish", "Forward", "Head", "Read", "Send", "Sleep", "Start"]


@dataclass(frozen=True, slots=True)
class Send:
    body: dict[str, Any]
    # The caller's own request, unchanged: the driver sends the caller's bytes, and ``body`` is
    # only its small fields (Dialect.head).
    caller: bool = False
    # Any other request: its bytes (Plan.freeze); ``body`` is then only its small fields.
    data: bytes | None = None


# Not frozen: one is made per upstream read of every stream, and a frozen dataclass's
# __init__ (object.__setattr__ per field) costs twice a plain one. Nothing assigns to it.
@dataclass(slots=True)
class Read:
    emit: bytes = b""  # downstream bytes to send before reading (an Emit folded in)


@dataclass(frozen=True, slots=True)
class Forward:
    emit: bytes
    # The dialect's plain-chunk test (Dialect.take_plain): true when it has folded the chunk
    # and the chunk goes downstream unchanged.
    take: Callable[[bytes], bool]


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Start:
    status: int
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Emit:
    data: bytes


@dataclass(frozen=True, slots=True)
class Finish:
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lowercased


@dataclass(frozen=True, slots=True)
class Failure:
    """The request could not be sent, or the body broke off. ``error`` is kept for the log."""

    error: BaseException
