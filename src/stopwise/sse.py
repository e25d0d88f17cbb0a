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

from collections.abc import Iterable, Iterator

from .errors import EventTooLargeError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent", "encode_event", "iter_events"]

#: Bytes one event may take before the decoder gives up on it (16 MiB). A tool result or a
#: long thinking block can be large, but an unbounded buffer is a memory leak waiting for a
#: server that never sends a blank line.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"


class ServerSentEvent:
    """One dispatched event. ``event`` is ``None`` when the block had no ``event:`` field
    (the spec's default type is "message"; the Anthropic SDK skips such events, so the
    difference matters). ``id`` is the last event id seen on the stream, as the spec says."""

    __slots__ = ("data", "event", "id", "retry")

    def __init__(
        self, event: str | None = None, data: str = "", id: str | None = None, retry: int | None = None
    ) -> None:
        self.event = event
        self.data = data
        self.id = id
        self.retry = retry

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (self.event, self.data, self.id, self.retry) == (
            other.event,
            other.data,
            other.id,
            other.retry,
        )

    def __hash__(self) -> int:
        return hash((self.event, self.data, self.id, self.retry))

    def __repr__(self) -> str:
        return (
            f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, retry={self.retry!r})"
        )


class SSEDecoder:
    """Incremental decoder. Feed chunks to :meth:`decode`; call :meth:`flush` once at the end.

    ``max_event_size`` bounds the bytes buffered for one event; past it
    :class:`~stopwise.errors.EventTooLargeError` is raised and the decoder is unusable.
    """

    __slots__ = ("_bom_done", "_cr", "_last_id", "_max", "_pending", "_pending_size", "_started")

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._max = max_event_size
        self._pending: list[bytes] = []  # bytes of the event not yet ended by a blank line
        self._pending_size = 0
        self._cr = False  # the previous chunk ended in CR: an LF starting the next one belongs to it
        self._bom_done = False
        self._started = b""  # the first bytes, held until we know whether they are a BOM
        self._last_id: str | None = None

    @property
    def last_event_id(self) -> str | None:
        return self._last_id

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
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
        if b"\r" in chunk:
            if chunk[-1:] == b"\r":
                self._cr = True
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if not chunk:
            return []

        pending = self._pending
        if b"\n\n" not in chunk and not (chunk[:1] == b"\n" and pending and pending[-1][-1:] == b"\n"):
            if not pending and chunk[:1] == b"\n":
                # A blank line with nothing pending dispatches nothing.
                chunk = chunk.lstrip(b"\n")
                if not chunk:
                    return []
            pending.append(chunk)
            self._pending_size += len(chunk)
            if self._pending_size > self._max:
                raise EventTooLargeError(self._max)
            return []

        if pending:
            pending.append(chunk)
            buf = b"".join(pending)
            pending.clear()
        else:
            buf = chunk
        blocks = buf.split(b"\n\n")
        tail = blocks.pop()
        if tail:
            if len(tail) > self._max:
                raise EventTooLargeError(self._max)
            pending.append(tail)
        self._pending_size = len(tail)
        out: list[ServerSentEvent] = []
        for block in blocks:
            if block:
                ev = self._parse_block(block)
                if ev is not None:
                    out.append(ev)
        return out

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
        return self._parse_block(buf)

    def _strip_bom(self, chunk: bytes) -> bytes:
        head = self._started + chunk
        if len(head) < len(_BOM) and _BOM.startswith(head):
            self._started = head  # could still become a BOM
            return b""
        self._bom_done = True
        self._started = b""
        return head[3:] if head.startswith(_BOM) else head

    def _parse_block(self, block: bytes) -> ServerSentEvent | None:
        text = block.decode("utf-8", "replace")
        # Fast path: the shape every LLM API sends, `event: x\ndata: {...}` or `data: {...}`.
        if text.startswith("event: "):
            nl = text.find("\n")
            if nl > 0 and text.startswith("data: ", nl + 1) and text.find("\n", nl + 1) < 0:
                return ServerSentEvent(text[7:nl], text[nl + 7 :], self._last_id)
        elif text.startswith("data: ") and "\n" not in text:
            return ServerSentEvent(None, text[6:], self._last_id)

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
                event = value
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


def _check_field(name: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise ValueError(f"SSE {name} field cannot contain a line break: {value!r}")
