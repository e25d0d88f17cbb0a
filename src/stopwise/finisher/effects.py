"""The finisher engine is a generator: it yields what it needs done and is sent the result.
The sync transport, the async transport and the gateway drive the same generator; only they
touch sockets and clocks.

Engine yields           driver sends back
-------------           -----------------
Send(body)              Head(status, headers), or Failure(exc) if no response came
Read(emit)              the next bytes of the current upstream body; b"" at its end;
                        Failure(exc) if the connection broke. A stream's ``emit`` bytes go
                        downstream first (what the last read released: one effect per read)
Sleep(seconds)          None
Start(status, headers)  None   (stream: the downstream head; Emit follows)
Emit(data)              None   (stream: downstream bytes)
Finish(status, headers, body)  -- the last effect; body is b"" after a Start
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Emit", "Failure", "Finish", "Head", "Read", "Send", "Sleep", "Start"]


@dataclass(frozen=True, slots=True)
class Send:
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Read:
    emit: bytes = b""  # downstream bytes to send before reading (an Emit folded in)


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
