"""What the dialects' stream folders share: anomalies counted by kind, an event's payload parsed
once (a payload that does not parse is counted and marks the fold as having lost input), and an
event folded by the ``type`` inside its payload, the SSE ``event:`` name as the fallback."""

from __future__ import annotations

from typing import Any

from ._json import payload

__all__ = ["EventFolder"]


class EventFolder:
    anomalies: dict[str, int]
    events: int
    _lost: bool

    def _note(self, kind: str) -> None:
        self.anomalies[kind] = self.anomalies.get(kind, 0) + 1

    def _parsed(self, data: str) -> dict[str, Any] | None:
        obj = payload(data)
        if obj is None:
            self._note("malformed_json")
            self._lost = True
        return obj

    def feed_json(self, obj: dict[str, Any], event: str | None = None) -> None:
        """Fold one event payload. The ``type`` inside the payload decides; the SSE ``event:``
        name is the fallback (the SDKs dispatch on it, and skip payloads without one; we accept
        them, so logs holding only data lines can still be read)."""
        self.events += 1
        etype = obj.get("type")
        if not isinstance(etype, str):
            etype = event
        try:
            self._dispatch(etype, obj)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            # A known event with fields of the wrong shape: count it, keep going.
            self._note(f"malformed_{etype}")
            self._lost = True

    def _dispatch(self, etype: str | None, obj: dict[str, Any]) -> None:
        raise NotImplementedError  # each dialect's own events
