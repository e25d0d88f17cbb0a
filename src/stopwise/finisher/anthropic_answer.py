"""The Anthropic dialect's answer: each round folded into it (a body's blocks, or a stream's as
they were shown), its first text block merged into the answer's last one with its citations, and
the answer written out whole (the final body, or the events that close the stream).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..dialects.anthropic import AnthropicAccumulator, parse_message
from ..errors import APIError, ProtocolError
from ..outcome import Outcome, StopReason
from .anthropic_state import _STOP_FIELDS, _THINKING, AnthropicState, _event
from .dialect import Plan
from .join import UNDECIDED, Join
from .report import sum_usage

__all__ = ["AnthropicAnswer"]


class AnthropicAnswer(AnthropicState):
    def body_outcome(self, body: bytes) -> Outcome:
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError:
            return AnthropicAccumulator().finish()  # nothing usable: an interrupted, empty outcome
        try:
            outcome = parse_message(obj, max_tokens=self.round.acc.max_tokens)
        except ProtocolError:
            return AnthropicAccumulator().finish()
        if not self.usages and self.raw is None:
            self.raw = body
        return outcome

    def absorb(self, outcome: Outcome, plan: Plan, *, partial: bool) -> None:
        message = outcome.message
        if message and message.get("id") is not None and not self.meta:
            self.meta = {k: v for k, v in message.items() if k not in ("content", "usage", *_STOP_FIELDS)}
        usage = message.get("usage") if message else None
        if isinstance(usage, dict):
            self.usages.append(usage)
        elif outcome.usage.reported or outcome.usage.estimated:
            self.usages.append(
                {"input_tokens": outcome.usage.input_tokens, "output_tokens": outcome.usage.output_tokens}
            )
        if len(self.usages) > 1 or partial or plan.mode != "initial":
            self.raw = None
        if not partial:
            # The last round's stop fields; a field only an earlier round sent is kept.
            self.stop_fields.update({k: v for k, v in message.items() if k in _STOP_FIELDS})
        blocks = [dict(b) for b in outcome.content]
        self.round.cut = partial or outcome.stop.normalized is StopReason.MAX_TOKENS
        if partial and blocks and blocks[-1].get("type") != "text":
            # Only the last block can be cut. Keep text (we continue from it), never a cut tool
            # call or an unsigned thinking block.
            blocks.pop()
        if self.ledger.stream:
            self._absorb_stream(blocks)
        else:
            self._absorb_body(blocks)

    def _absorb_body(self, blocks: list[dict[str, Any]]) -> None:
        r = self.round
        if r.skip_thinking:
            blocks = [b for b in blocks if b.get("type") not in _THINKING]
        if blocks and blocks[0].get("type") == "text" and r.join is not None and self._ends_in_text():
            first = blocks.pop(0)
            new = r.join.feed(first.get("text", ""))
            if not (r.cut and self._abandon_head()):
                new += r.join.finish()
            self._note_join(r.join)
            self._merge_text(first, new)
            r.progressed = r.progressed or bool(new.strip())
        if r.plan.mode != "initial":
            blocks = [b for b in blocks if b.get("type") != "text" or (b.get("text") or "").strip()]
        if blocks:
            r.progressed = True
        self.content.extend(blocks)

    def _merge_text(self, block: dict[str, Any], text: str) -> None:
        """A round's first text block goes on in the answer's last one: its text (as joined) and
        its citations. A round that began the answer again cites again what was cited already."""
        into = self.content[-1]
        into["text"] = into.get("text", "") + text
        new = block.get("citations")
        if isinstance(new, list) and new:
            old = into.get("citations")
            old = old if isinstance(old, list) else []
            if self.round.scratch:
                new = new[len(_common_prefix(old, new)) :]
            into["citations"] = old + new

    def _absorb_stream(self, blocks: list[dict[str, Any]]) -> None:
        # The round's text blocks as shown (joined); other blocks as the accumulator folded them
        # (positions follow upstream indices in order).
        r = self.round
        if r.join is not None:
            # The round ended while its reply's head was still undecided: decide it now.
            if not (r.cut and self._abandon_head()):
                self._decide_head(self.late)
            self._note_join(r.join)
        upstream = sorted({*r.index_map, *r.skipped})
        for position, block in enumerate(blocks):
            index = upstream[position] if position < len(upstream) else None
            if index in r.skipped:
                continue
            if index is not None and index in r.texts:
                text = "".join(r.texts[index])
                if index == r.merged and self._ends_in_text():
                    self._merge_text(block, text)
                    continue
                block["text"] = text
            self.content.append(block)
            if block.get("type") != "text":
                r.progressed = True

    def _abandon_head(self) -> bool:
        join = self.round.join
        if join is None or not join.abandon():
            return False
        self.ledger.note(UNDECIDED)
        self.round.abandoned = True
        return True

    def _note_join(self, join: Join) -> None:
        for note in join.notes():
            self.ledger.note(note)

    # -- writing the answer ---------------------------------------------------------------------
    def has_content(self) -> bool:
        return bool(self.content)

    def answer_size(self) -> int:
        return sum(len(b.get("text") or "") + 1 for b in self.content)

    def _usage(self) -> dict[str, Any]:
        return sum_usage(self.usages) if self.usages else {"input_tokens": 0, "output_tokens": 0}

    def final_body(self) -> bytes:
        if self.transparent():
            assert self.raw is not None
            return self.raw
        body: dict[str, Any] = {"type": "message", "role": "assistant", **self.meta}
        body["content"] = self.content
        body.update(self.stop_fields)
        body["usage"] = self._usage()
        return orjson.dumps(body)

    def close_stream(self, error: APIError | None, summary: dict[str, Any]) -> bytes:
        out: list[bytes] = self.late
        self.late = []
        if error is not None:
            # What was sent stays sent; the error says the rest will not come.
            self.outbox.settle_all(out)
            out.append(
                _event(
                    "error",
                    {
                        "type": "error",
                        "error": {"type": error.error_type or "api_error", "message": error.message},
                    },
                )
            )
            return b"".join(out)
        self.outbox.settle_all(out)
        r = self.round
        if self.open_text is not None:
            self._close_open_text(out)
        one = len(self.ledger.rounds) == 1 and bool(r.deltas)
        if one:
            out += r.deltas
        else:
            delta = dict(self.stop_fields)
            out.append(
                _event("message_delta", {"type": "message_delta", "delta": delta, "usage": self._usage()})
            )
        out.append(r.stop if one and r.stop is not None else _event("message_stop", {"type": "message_stop"}))
        if self.policy.report_event:
            out.append(_event("stopwise", {"type": "stopwise", **summary}))
        return b"".join(out)


def _common_prefix(a: list[Any], b: list[Any]) -> list[Any]:
    n = 0
    while n < len(a) and n < len(b) and a[n] == b[n]:
        n += 1
    return a[:n]
