"""Server-sent events codec, sans-I/O: bytes in, events out; events in, bytes out.

Follows the WHATWG "event stream interpretation" rules
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):

- lines end in LF, CR or CRLF, and a CRLF split across two chunks is one line end;
- lines are split on bytes and decoded afterwards, so a chunk boundary inside a multi-byte UTF-8
  character is harmless and U+2028 inside JSON is never a line break;
- a leading UTF-8 BOM is dropped (even when split across chunks);
- a line starting with ``:`` is a comment; ``field: value`` loses one leading space;
- ``data`` lines join with ``\\n``; ``id`` containing NUL is ignored; ``retry`` must be all digits;
- a blank line dispatches the event.

Where we depart from a browser, on purpose: at the end of the stream the spec silently drops an
event that was never followed by a blank line. Recorded SDK fixtures and cut streams end exactly
like that, so :meth:`SSEDecoder.flush` hands that event back instead, for the caller to decide.

The decoder works on whole events rather than lines: it finds blank-line boundaries with one
``bytes.split`` per chunk and parses each event block with a fast path for the common
``event: x\\ndata: y`` shape. That is where its speed over line-by-line decoders comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .errors import EventTooLargeError

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "SSEDecoder",
    "ServerSentEvent",
    "encode_data",
    "encode_event",
    "iter_events",
]

#: Bytes one event may take before the decoder gives up on it (16 MiB). A tool result or a
#: long thinking block can be large, but an unbounded buffer is a memory leak waiting for a
#: server that never sends a blank line.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"


class ServerSentEvent(NamedTuple):
    """One dispatched event. ``event`` is ``None`` when the block had no ``event:`` field
    (the spec's default type is "message"; the Anthropic SDK skips such events, so the
    difference matters). ``id`` is the last event id seen on the stream, as the spec says.

    A named tuple because the decoder builds one per event and ``tuple.__new__`` is the
    cheapest constructor Python has."""

    event: str | None = None
    data: str = ""
    id: str | None = None
    retry: int | None = None


_new_event = tuple.__new__

# The one shape LLM APIs send, as regexes so the common case runs in C. `[^\n]*` cannot cross a
# line, so a match is exactly one `event` line (optional) and one `data` line. An empty `event:`
# value is the spec's default type, like no event line at all, hence `[^\n]+`; the
# fallback path reads it the same way.
_ONE_EVENT = re.compile(r"(?:event: ([^\n]+)\n)?data: ([^\n]*)")
_EVENTS = re.compile(r"(?:(?:event: [^\n]+\n)?data: [^\n]*\n\n)*")
_EVENTS_FIND = re.compile(r"(?:event: ([^\n]+)\n)?data: ([^\n]*)\n\n").findall


class SSEDecoder:
    """Incremental decoder. Feed chunks to :meth:`decode`; call :meth:`flush` once at the end.

    ``max_event_size`` bounds the bytes buffered for one event; past it
    :class:`~stopwise.errors.EventTooLargeError` is raised and the decoder is unusable.
    """

    __slots__ = (
        "_bom_done",
        "_cr",
        "_last_id",
        "_max",
        "_pending",
        "_pending_size",
        "_plain",
        "_started",
        "exact",
    )

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._max = max_event_size
        self._pending: list[bytes] = []  # bytes of the event not yet ended by a blank line
        self._pending_size = 0
        self._cr = False  # the previous chunk ended in CR: an LF starting the next one belongs to it
        self._bom_done = False
        self._started = b""  # the first bytes, held until we know whether they are a BOM
        self._last_id: str | None = None
        self._plain = False  # BOM settled and no CR carried over: decode() may take its fast path
        #: The last :meth:`decode` returned one event and the chunk was exactly its encoding
        #: (``event: x\ndata: y\n\n``): a relay of unchanged events can send the chunk itself.
        self.exact = False

    @property
    def last_event_id(self) -> str | None:
        return self._last_id

    @property
    def idle(self) -> bool:
        """Between events, with nothing held: a chunk that is one whole plain event may be read
        by its caller directly (it would decode to exactly that event)."""
        return self._plain and not self._pending

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        self.exact = False
        if self._plain and not self._pending and 13 not in chunk:
            # The common case: BOM settled, no CR anywhere, nothing held back.
            head, sep, tail = chunk.rpartition(b"\n\n")
            if len(head) > self._max:
                self._check_sizes(head)
            if sep and not tail:
                # One read, one event: the way tokens arrive. Inlined, it is most of the work.
                m = _ONE_EVENT.fullmatch(head.decode("utf-8", "replace"))
                if m is not None:
                    self.exact = True
                    return [_new_event(ServerSentEvent, (*m.groups(), self._last_id, None))]
                return self._events(head)
            if sep:
                self._hold(tail)
                return self._events(head)
        return self._decode_general(chunk)

    def _decode_general(self, chunk: bytes) -> list[ServerSentEvent]:
        if not chunk:
            # Transports do hand out empty reads; one must not cancel a CR carried over below.
            # (An empty read on the fast path finds no boundary and lands here too.)
            return []
        if not self._bom_done:
            chunk = self._strip_bom(chunk)
            if not chunk:
                return []
        if self._cr:
            # The CR that ended the last chunk was a line end; if this chunk opens with LF the
            # two are one CRLF, so drop the LF.
            self._cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if 13 in chunk:  # b"\r"; int membership is a memchr, several times faster than b"\r" in
            if chunk[-1] == 13:
                self._cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self._plain = self._bom_done and not self._cr

        pending = self._pending
        if pending:
            if chunk.find(b"\n\n") < 0 and not (chunk[:1] == b"\n" and pending[-1][-1:] == b"\n"):
                # Still inside one event: keep the piece without rescanning what we hold, so an
                # event arriving in many small reads costs linear time.
                return self._hold(chunk)
            pending.append(chunk)
            buf = b"".join(pending)
            pending.clear()
            self._pending_size = 0
        else:
            buf = chunk
        # rpartition scans from the end, where the boundary usually is.
        head, sep, tail = buf.rpartition(b"\n\n")
        if not sep:
            # A blank line with nothing pending dispatches nothing.
            return self._hold(buf.lstrip(b"\n")) if buf[:1] == b"\n" else self._hold(buf)
        if tail:
            self._hold(tail)
        if len(head) > self._max:
            self._check_sizes(head)
        return self._events(head)

    def _check_sizes(self, head: bytes) -> None:
        # The bound holds per event, whether it came in many reads or whole in one.
        for block in head.split(b"\n\n"):
            if len(block) > self._max:
                raise EventTooLargeError(self._max)

    def _events(self, head: bytes) -> list[ServerSentEvent]:
        """Events of ``head``: whole blocks with the final blank line removed. Boundaries are
        ASCII, so ``head`` ends on a character boundary and decodes whole."""
        text = head.decode("utf-8", "replace")
        last_id = self._last_id
        if "\n\n" not in text:
            # One event, the shape every LLM API sends: `event: x\ndata: {...}` or `data: {...}`.
            m = _ONE_EVENT.fullmatch(text)
            if m is not None:
                return [_new_event(ServerSentEvent, (*m.groups(), last_id, None))]
            ev = self._parse_block(text)
            return [] if ev is None else [ev]
        text += "\n\n"
        if _EVENTS.fullmatch(text) is not None:
            # A backlog of plain events: let the regex engine cut them all in one pass.
            return [_new_event(ServerSentEvent, (e or None, d, last_id, None)) for e, d in _EVENTS_FIND(text)]
        out: list[ServerSentEvent] = []
        for block in text.split("\n\n"):
            if block:
                ev = self._parse_block(block)
                if ev is not None:
                    out.append(ev)
        return out

    def _hold(self, piece: bytes) -> list[ServerSentEvent]:
        if piece:
            self._pending.append(piece)
            self._pending_size += len(piece)
            if self._pending_size > self._max:
                raise EventTooLargeError(self._max)
        return []

    def flush(self) -> ServerSentEvent | None:
        """End of stream. Returns the event whose fields arrived but whose blank line never
        did (a browser would drop it), or ``None``. Resets the decoder for reuse."""
        buf = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        self._cr = False
        if not self._bom_done:
            buf = self._started + buf
            self._started = b""
            self._bom_done = True
        buf = buf.strip(b"\n")
        if not buf:
            return None
        return self._parse_block(buf.decode("utf-8", "replace"))

    def _strip_bom(self, chunk: bytes) -> bytes:
        head = self._started + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._started = head  # could still become a BOM
            return b""
        self._bom_done = True
        self._started = b""
        return head[3:] if head.startswith(_BOM) else head

    def _parse_block(self, text: str) -> ServerSentEvent | None:
        event: str | None = None
        data: list[str] = []
        retry: int | None = None
        seen = False
        for line in text.split("\n"):
            if not line or line[0] == ":":
                continue
            name, colon, value = line.partition(":")
            if colon and value[:1] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
                seen = True
            elif name == "event":
                event = value or None  # empty means the default type, as if absent
                seen = True
            elif name == "id":
                if "\0" not in value:
                    self._last_id = value
                    seen = True
            elif name == "retry" and value.isascii() and value.isdigit():
                retry = int(value)
                seen = True
            # Any other field name is ignored, as the spec says.
        if not seen:
            return None
        return ServerSentEvent(event, "\n".join(data), self._last_id, retry)


def iter_events(
    chunks: Iterable[bytes], *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE
) -> Iterator[ServerSentEvent]:
    """Decode a whole byte stream, including a final event that lacks its blank line."""
    decoder = SSEDecoder(max_event_size)
    for chunk in chunks:
        yield from decoder.decode(chunk)
    last = decoder.flush()
    if last is not None:
        yield last


def encode_event(
    data: str, event: str | None = None, id: str | None = None, retry: int | None = None
) -> bytes:
    """Encode one event. Multi-line data becomes several ``data:`` lines, so any string
    round-trips through :class:`SSEDecoder`."""
    parts: list[str] = []
    if event is not None:
        _check_field("event", event)
        parts.append(f"event: {event}\n")
    if id is not None:
        _check_field("id", id)
        parts.append(f"id: {id}\n")
    if retry is not None:
        parts.append(f"retry: {int(retry)}\n")
    if "\n" in data or "\r" in data:
        for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
            parts.append(f"data: {line}\n")
    else:
        parts.append(f"data: {data}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def encode_data(data: bytes, event: str | None = None) -> bytes:
    """Encode one event from data already as UTF-8 bytes (serialized JSON, usually): the
    finishers' per-event path, without the round trip through ``str``."""
    if b"\n" in data or b"\r" in data:
        return encode_event(data.decode("utf-8"), event=event)
    if event is None:
        return b"data: " + data + b"\n\n"
    _check_field("event", event)
    return b"event: " + event.encode("utf-8") + b"\ndata: " + data + b"\n\n"


def _check_field(name: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"SSE {name} field cannot contain a line break: {value!r}")
