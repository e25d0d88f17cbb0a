"""The Anthropic dialect's stream rewriting: each upstream event folded into the round and
rewritten into the one message the caller sees (later rounds' ``message_start`` dropped, their
first text block merged into the answer's open one, block indices continued), what the stop
reason decides held in the outbox until it is known, a relay's restart replayed against what was
shown, and the hot path of a plain text delta that goes out as it came.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..dialects._json import payload
from ..dialects.anthropic import AnthropicAccumulator
from ..outcome import Outcome, State
from ..sse import ServerSentEvent, encode_event
from .anthropic_state import _CLIENT_TOOLS, _THINKING, AnthropicState, _event
from .dialect import Plan

__all__ = ["AnthropicStream"]

# How the API writes a text delta of block %d, up to the text's opening quote.
_PLAIN_DELTA = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
    b'"delta":{"type":"text_delta","text":"'
)


class AnthropicStream(AnthropicState):
    def take_plain(self, chunk: bytes) -> bool:
        # The exact shape the API writes a text delta in; anything else (another index, spaces,
        # extra fields, an escape that ends the string early) takes the general path. The chunk
        # is then exactly one event: the string between prefix and suffix parses as one JSON
        # string, which cannot hold a raw LF or CR, so no other line or event hides in it.
        prefix = self._plain_prefix
        if prefix is None or not chunk.startswith(prefix) or not chunk.endswith(b'"}}\n\n'):
            return False
        try:
            piece = orjson.loads(chunk[len(prefix) - 1 : -4])
        except orjson.JSONDecodeError:
            return False
        r = self.round
        parts = r.plain_parts
        if type(piece) is not str or parts is None:
            return False
        # _fold_plain, inlined: this runs once per token.
        folded, written, shown = parts
        folded.append(piece)
        written.append(piece)
        shown.append(piece)
        r.acc.events += 1
        if not r.progressed and piece.strip():
            r.progressed = True
        return True

    def feed(self, event: ServerSentEvent, raw: bytes | None) -> list[bytes]:
        out = self._feed(event, raw)
        r = self.round
        plain = r.plain_text is not None and not self.outbox and not r.diverged and self.ledger.stream
        if not plain:
            self._plain_prefix = None
        elif self._plain_index != r.plain_text or self._plain_prefix is None:
            # Built once per block, not on every event of it that takes the general path.
            self._plain_index = r.plain_text
            self._plain_prefix = _PLAIN_DELTA % r.plain_text
        return out

    def _feed(self, event: ServerSentEvent, raw: bytes | None) -> list[bytes]:
        r = self.round
        if r.diverged:
            return []
        self._raw = raw
        if r.plain_text is not None and raw is not None and event.event == "content_block_delta":
            piece = self._plain_delta(event.data, r.plain_text)
            if piece is not None:
                self._fold_plain(r.plain_text, piece)
                sent: list[bytes] = []
                self.outbox.send(raw, sent)
                return sent
        obj = r.acc.feed(event)
        if not self.ledger.stream:
            return []
        out: list[bytes] = []
        name = event.event
        if name == "ping" or obj is None:
            if name == "ping" or (name not in (None, "message_stop") and not event.data):
                self.outbox.send(self._same(event), out)
            elif name == "message_stop":
                r.stop = self._same(event)
            return out
        kind = obj.get("type", name)
        if kind == "content_block_delta":
            self._on_delta(obj, event, out)
        elif kind == "content_block_start":
            self._on_start(obj, event, out)
        elif kind == "content_block_stop":
            self._on_stop(obj, event, out)
        elif kind == "message_delta":
            r.deltas.append(self._same(event))
        elif kind == "message_stop":
            r.stop = self._same(event)
        elif kind == "message_start":
            self._on_message_start(obj, event, out)
        elif kind == "error":
            pass  # the loop resumes or gives up
        else:
            # An event type we do not know: passed on as it came (the SDKs skip what they do
            # not know, and the caller may know it).
            self.outbox.send(self._same(event), out)
        return out

    @staticmethod
    def _plain_delta(data: str, index: int) -> str | None:
        """The text of a text delta of block ``index`` however it is serialized; ``None`` for
        anything else (the general path then reads the event)."""
        obj = payload(data)
        if obj is None or obj.get("type") != "content_block_delta" or obj.get("index") != index:
            return None
        delta = obj.get("delta")
        if not isinstance(delta, dict) or delta.get("type") != "text_delta":
            return None
        piece = delta.get("text")
        return piece if isinstance(piece, str) else None

    def _fold_plain(self, index: int, piece: str) -> None:
        """A text delta of the plain open block, passed on unchanged: folded where the general
        path would fold it (the accumulator, the text shown and as written)."""
        r = self.round
        r.acc.fold_text(index, piece)
        r.raw_texts[index].append(piece)
        r.texts[index].append(piece)
        if not r.progressed and piece.strip():
            r.progressed = True

    def _same(self, event: ServerSentEvent) -> bytes:
        """The event being fed, unchanged: as it came when the decoder saw it whole."""
        return self._raw or encode_event(event.data, event=event.event)

    def _raw_or(self, event: ServerSentEvent, obj: dict[str, Any], index: int, down: int) -> bytes:
        if index == down:
            return self._same(event)
        return _event(str(obj.get("type")), {**obj, "index": down})

    def _on_message_start(self, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]) -> None:
        r = self.round
        if r.saw_start:
            self._restart(obj)
            return
        r.saw_start = True
        if not self.sent_start and isinstance(obj.get("message"), dict):
            self.sent_start = True
            self.outbox.send(self._same(event), out)

    def _restart(self, obj: dict[str, Any]) -> None:
        """A relay began the message again: what it writes again is checked against what was
        shown and dropped; a cut held block is forgotten (it was never shown)."""
        r = self.round
        r.plain_text = None
        r.before = r.acc.finish()
        r.acc = AnthropicAccumulator(max_tokens=r.plan.body.get("max_tokens"))
        r.acc.feed_json(obj, "message_start")
        held = set(self.outbox.held_keys())
        keep_stops = {k for k in held if isinstance(k, tuple) and k[0] == "stop"}
        dropped = held - keep_stops
        if dropped:
            self.outbox.drop(dropped, [])
        shown: dict[int, int] = {}
        for index, down in list(r.index_map.items()):
            if ("block", down) in dropped:
                del r.index_map[index]
                r.texts.pop(index, None)
                r.raw_texts.pop(index, None)
                continue
            shown[index] = down
            if index in r.raw_texts:
                r.replay[index] = "".join(r.raw_texts[index])
            if r.cites.get(index):
                r.cite_replay[index] = r.cites[index]
        r.replayed = set(shown)
        self.next_index = max([r.first_index, *(d + 1 for d in shown.values() if d >= r.first_index)])
        self.ledger.note("upstream restarted the stream: replayed against what was shown")

    def _diverge(self) -> None:
        r = self.round
        r.diverged = True
        self.ledger.note("restarted stream wrote something else than what was shown: resumed instead")

    def _on_start(self, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]) -> None:
        r = self.round
        r.plain_text = None
        index, block = obj.get("index"), obj.get("content_block")
        if not isinstance(index, int) or not isinstance(block, dict):
            return
        kind = str(block.get("type"))
        if index in r.replayed:
            return  # shown before the restart
        if index in r.index_map or index in r.skipped:
            return  # a block started twice: the accumulator counts it
        if r.skip_thinking and kind in _THINKING:
            r.skipped.add(index)
            return
        r.kinds[index] = kind
        if kind == "text" and r.join is not None and r.merged is None and self.open_text is not None:
            r.merged = index
            r.index_map[index] = self.open_text
            r.texts[index], r.raw_texts[index] = [], []
            first = block.get("text") or ""
            if first:
                self._text(index, first, obj, event, out)
            return
        down = self.next_index
        self.next_index += 1
        r.index_map[index] = down
        held = kind in _CLIENT_TOOLS or kind in _THINKING or (self.constrained and kind == "text")
        self._decide_head(out)
        if not held:
            # The model moved on past whatever was held: it is whole.
            self.outbox.settle_all(out)
            self._close_open_text(out)
        data = self._raw_or(event, obj, index, down)
        if held:
            self.outbox.hold(("block", down), data)
        else:
            self.outbox.send(data, out)
        if kind == "text":
            r.texts[index], r.raw_texts[index] = [block.get("text") or ""], [block.get("text") or ""]
            self.open_text = down
            if not held and index == down:
                r.plain_text = index
                r.plain_parts = (r.acc.text_parts(index), r.raw_texts[index], r.texts[index])

    def _decide_head(self, out: list[bytes]) -> None:
        """The merged block's continue-turn head, still held: decided now."""
        r = self.round
        if r.merged is None or r.join is None or r.join.head.decided:
            return
        tail = r.join.finish()
        if tail:
            r.texts[r.merged].append(tail)
            r.progressed = r.progressed or bool(tail.strip())
            down = r.index_map[r.merged]
            data = _event(
                "content_block_delta",
                {"type": "content_block_delta", "index": down, "delta": {"type": "text_delta", "text": tail}},
            )
            if self.outbox.holds(("block", down)):
                self.outbox.hold(("block", down), data)
            else:
                self.outbox.send_before(("stop", down), data, out)

    def _close_open_text(self, out: list[bytes]) -> None:
        """A new block follows the answer's open text block: its stop goes out now."""
        down = self.open_text
        if down is None:
            return
        self.open_text = None
        if not self.outbox.queued(("stop", down)):
            self.outbox.send(_event("content_block_stop", {"type": "content_block_stop", "index": down}), out)

    def _text(
        self, index: int, piece: str, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]
    ) -> None:
        r = self.round
        down = r.index_map[index]
        r.raw_texts.setdefault(index, []).append(piece)
        shown = piece
        if index == r.merged and r.join is not None:
            shown = r.join.feed(piece)
        r.texts.setdefault(index, []).append(shown)
        if shown.strip():
            r.progressed = True
        if not shown:
            return
        if shown == piece and index == down and obj.get("type") == "content_block_delta":
            data = self._same(event)
        else:
            data = _event(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": down,
                    "delta": {"type": "text_delta", "text": shown},
                },
            )
        self._put(down, data, out)

    def _on_delta(self, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]) -> None:
        r = self.round
        index, delta = obj.get("index"), obj.get("delta")
        if not isinstance(index, int) or not isinstance(delta, dict) or index not in r.index_map:
            return
        down = r.index_map[index]
        text_block = r.kinds.get(index) == "text"
        if index in r.replayed:
            if not text_block:
                return  # a block shown before the restart
            if index in r.replay and delta.get("type") == "text_delta":
                piece = delta.get("text")
                if not isinstance(piece, str):
                    return
                want = r.replay[index]
                if want.startswith(piece):
                    r.replay[index] = want[len(piece) :]
                    return
                if not piece.startswith(want):
                    self._diverge()
                    return
                del r.replay[index]
                piece = piece[len(want) :]
                if piece:
                    self._text(index, piece, obj, event, out)
                return
        if delta.get("type") == "text_delta" and text_block:
            piece = delta.get("text")
            if isinstance(piece, str):
                self._text(index, piece, obj, event, out)
            return
        if delta.get("type") == "citations_delta":
            if r.cite_replay.get(index):
                r.cite_replay[index] -= 1
                return
            r.cites[index] = r.cites.get(index, 0) + 1
        if index == r.merged and delta.get("type") == "citations_delta" and r.cite_skip:
            if delta.get("citation") == r.cite_skip[0]:
                r.cite_skip.pop(0)
                return
            r.cite_skip.clear()
        if index == r.merged:
            data = _event("content_block_delta", {**obj, "index": down})
        else:
            data = self._raw_or(event, obj, index, down)
        self._put(down, data, out)

    def _on_stop(self, obj: dict[str, Any], event: ServerSentEvent, out: list[bytes]) -> None:
        r = self.round
        r.plain_text = None
        index = obj.get("index")
        if not isinstance(index, int) or index not in r.index_map:
            return
        kind = r.kinds.get(index)
        if index in r.replayed and kind != "text":
            return
        down = r.index_map[index]
        if kind == "text":
            # A continue-turn head still undecided when its block stops waits for the stop
            # reason (the stop is held anyway): cut there, it is asked again, not guessed.
            if self.outbox.holds(("stop", down)):
                return
            self.outbox.hold(("stop", down), self._raw_or(event, obj, index, down))
            return
        data = self._raw_or(event, obj, index, down)
        self._put(down, data, out)

    def _put(self, down: int, data: bytes, out: list[bytes]) -> None:
        """An event of block ``down``: held with the block when the block is held, else out."""
        if self.outbox.holds(("block", down)):
            self.outbox.hold(("block", down), data)
        else:
            self.outbox.send(data, out)

    def stream_outcome(self) -> Outcome:
        r = self.round
        if r.diverged and r.before is not None:
            before = r.before
            before.state = State.INTERRUPTED
            return before
        return r.acc.finish()

    def conclude(self, nxt: Plan | None, *, failed: bool) -> bytes:
        if not self.ledger.stream:
            return b""
        out: list[bytes] = self.late
        self.late = []
        if nxt is None or nxt.mode == "pause":
            self.outbox.settle_all(out)
            if nxt is not None:
                self._close_open_text(out)  # a resumed pause writes new blocks
            return b"".join(out)
        # The next round goes on from the answer: what this round held back was never shown,
        # and is asked for again.
        held = set(self.outbox.held_keys())
        stop = ("stop", self.open_text) if self.open_text is not None else None
        if stop in held and self.next_join is None:
            held.discard(stop)  # no round goes on in the open text block: it may end now
            self.outbox.settle(stop, out)
            self.open_text = None
        self.outbox.drop(held, out)
        dropped = [k[1] for k in held if isinstance(k, tuple) and k[0] == "block"]
        if dropped:
            self.next_index = min(dropped)
            if self.open_text is not None and self.open_text in dropped:
                self.open_text = None
        return b"".join(out)
