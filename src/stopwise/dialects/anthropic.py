"""Anthropic Messages: non-stream bodies, and streams folded into the final message.

Folding follows the official SDK's ``accumulate_event`` (anthropic 2.12,
``lib/streaming/_beta_messages.py``) so the message is the same one the SDK builds, and adds
what the SDK does not check (brief/wire.md "Anthropic stream grammar"):

- a stream is complete only when a terminal ``stop_reason`` arrived and every started content
  block was stopped; ``message_delta`` with a reason counts as the end, because recorded
  streams often lose the final ``message_stop`` for want of a blank line;
- a cut stream is ``interrupted`` and keeps everything received;
- ``event: error`` after the 200 becomes a typed error carrying the partial outcome;
- bad input is skipped and counted in ``Outcome.anomalies``, never raised: unknown events,
  unknown delta types, malformed JSON, deltas for blocks never started, events before
  ``message_start``. Anything that may have lost content also rules out ``complete``.
"""

from __future__ import annotations

from typing import Any

from ..errors import APIError, ProtocolError
from ..outcome import Outcome, State, Stop, Usage, apply_cap, estimate_tokens, state_for
from ..sse import ServerSentEvent
from ._errors import error_from_payload
from ._fold import EventFolder
from ._json import is_whole_json, partial_json

__all__ = ["AnthropicAccumulator", "parse_message"]

DIALECT = "anthropic"

_USAGE_REPORTED = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")


def _usage_from(raw: object) -> Usage:
    usage = Usage()
    if isinstance(raw, dict):
        for name in _USAGE_REPORTED:
            usage.set_reported(name, raw.get(name))
    return usage


def _str(value: object) -> str:
    """A text piece of the wire; anything else is a malformed event (the caller counts it)."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _text_of(content: list[dict[str, Any]]) -> str:
    return "".join(b["text"] for b in content if b.get("type") == "text" and isinstance(b.get("text"), str))


def _finish(
    message: dict[str, Any],
    usage: Usage,
    *,
    max_tokens: int | None,
    reasons: list[str],
    anomalies: dict[str, int],
    tool_json: dict[str, str],
    cut: bool,
    error: APIError | None = None,
) -> Outcome:
    """The verdict shared by streams and bodies."""
    stop = Stop.of(message.get("stop_reason"))
    state = state_for(stop.normalized)
    content = message.get("content")
    blocks: list[dict[str, Any]] = content if isinstance(content, list) else []
    for key, buf in tool_json.items():
        if not is_whole_json(buf) and state is State.COMPLETE:
            state = State.TRUNCATED
            reasons.append(f"tool input of block {key} is not whole JSON")
    if cut and state is State.COMPLETE:
        state = State.INTERRUPTED
    if error is not None:
        state = State.FAILED
    outcome = Outcome(
        dialect=DIALECT,
        state=state,
        stop=stop,
        usage=usage,
        message=message,
        text=_text_of(blocks),
        content=blocks,
        error=error,
        reasons=reasons,
        anomalies=anomalies,
        tool_json=tool_json,
    )
    apply_cap(outcome, max_tokens)
    return outcome


def parse_message(body: object, *, max_tokens: int | None = None) -> Outcome:
    """A non-stream Messages body (already parsed JSON). A ``{"type":"error"}`` body gives a
    failed outcome carrying the typed error."""
    if not isinstance(body, dict):
        raise ProtocolError(f"an Anthropic message body must be a JSON object, not {type(body).__name__}")
    if body.get("type") == "error":
        err = error_from_payload(0, body)  # an error body read without its HTTP status
        return _finish(
            {"type": "message", "content": [], "stop_reason": None},
            Usage(),
            max_tokens=None,
            reasons=["error body"],
            anomalies={},
            tool_json={},
            cut=False,
            error=err,
        )
    anomalies: dict[str, int] = {}
    reasons: list[str] = []
    content = body.get("content")
    if not isinstance(content, list):
        anomalies["content_not_a_list"] = 1
        body = {**body, "content": []}
    elif not all(isinstance(b, dict) for b in content):
        # Skipped and counted like bad stream input; the message is then not whole.
        anomalies["malformed_block"] = sum(not isinstance(b, dict) for b in content)
        body = {**body, "content": [b for b in content if isinstance(b, dict)]}
    if anomalies:
        reasons.append("content unreadable (see anomalies)")
    return _finish(
        body,
        _usage_from(body.get("usage")),
        max_tokens=max_tokens,
        reasons=reasons,
        anomalies=anomalies,
        tool_json={},
        cut=bool(anomalies),
    )


class AnthropicAccumulator(EventFolder):
    """Folds a Messages stream, event by event. :meth:`finish` gives the outcome at any time
    (a cut stream gives its partial message)."""

    def __init__(self, *, max_tokens: int | None = None) -> None:
        self.max_tokens = max_tokens
        self.message: dict[str, Any] | None = None
        self._blocks: list[dict[str, Any]] = []
        self._position: dict[int, int] = {}  # stream index -> position in content
        self._open: set[int] = set()
        self._text: dict[int, list[str]] = {}  # text/thinking parts, joined lazily
        self._json: dict[int, list[str]] = {}
        self._usage = Usage()
        self._delta_seen = False
        self._stopped = False
        self._lost = False  # something that may have carried content was dropped
        self.anomalies: dict[str, int] = {}
        self.error: APIError | None = None
        self.events = 0

    @property
    def done(self) -> bool:
        """The stream reached its end (a reason in ``message_delta``, ``message_stop``, or an
        error event): nothing after this changes the message."""
        return self._stopped or self.error is not None

    def feed(self, sse: ServerSentEvent) -> dict[str, Any] | None:
        """Fold one event. Returns its payload, parsed once, for callers that need it too (the
        finisher re-emits events); ``None`` when there was nothing to fold."""
        name = sse.event
        if name == "ping":
            return None
        data = sse.data
        if not data:
            # An `event:`-only or `retry:`-only block: nothing to fold.
            if name not in (None, "message_stop"):
                self._note("empty_event")
            if name == "message_stop":
                self._stopped = True
            return None
        obj = self._parsed(data)
        if obj is None:
            return None
        self.feed_json(obj, name)
        return obj

    def text_parts(self, index: int) -> list[str]:
        """The parts of text block ``index`` folded so far, for a caller that appends its
        ``text_delta`` pieces itself (the finisher's hot path; it counts them in ``events``)."""
        return self._text[index]

    def fold_text(self, index: int, text: str) -> None:
        """Fold a ``text_delta`` of text block ``index``, already read and checked by the caller
        (the finisher's path for the deltas it passes on unchanged)."""
        self.events += 1
        self._text[index].append(text)

    def _dispatch(self, etype: str | None, obj: dict[str, Any]) -> None:
        if etype == "content_block_delta":
            self._on_delta(obj)
        elif etype == "content_block_start":
            self._on_start(obj)
        elif etype == "content_block_stop":
            self._on_stop(obj)
        elif etype == "message_delta":
            self._on_message_delta(obj)
        elif etype == "message_start":
            self._on_message_start(obj)
        elif etype == "message_stop":
            self._stopped = True
        elif etype == "ping":
            pass
        elif etype == "error":
            self._on_error(obj)
        else:
            self._note(f"unknown_event:{etype}")

    def _require_message(self, etype: str) -> dict[str, Any]:
        if self.message is None:
            self._note(f"{etype}_before_message_start")
            # The head of the stream went missing: whatever came with it is lost too.
            self._lost = True
            self.message = {"id": None, "type": "message", "role": "assistant", "model": None, "content": []}
        return self.message

    def _on_message_start(self, obj: dict[str, Any]) -> None:
        msg = obj["message"]
        if self.message is not None:
            self._note("duplicate_message_start")
            return
        self.message = {k: v for k, v in msg.items() if k != "content"}
        self.message["content"] = []
        self._usage = _usage_from(msg.get("usage"))

    def _on_start(self, obj: dict[str, Any]) -> None:
        self._require_message("content_block_start")
        index = obj["index"]
        block = dict(obj["content_block"])
        btype = block.get("type")
        if btype in ("text", "thinking"):
            _str(block.get(btype) or "")  # checked before the block is recorded
        if not isinstance(index, int) or index in self._position:
            self._note("content_block_restarted")
            self._lost = True
            return
        if index != len(self._blocks):
            # The SDK appends whatever the index says (out_of_order_response fixture); so do we,
            # but a gap means a block went missing on the way.
            self._note("content_block_index_gap")
            self._lost = True
        self._position[index] = len(self._blocks)
        self._blocks.append(block)
        self._open.add(index)
        if btype == "text":
            self._text[index] = [block.get("text") or ""]
        elif btype == "thinking":
            self._text[index] = [block.get("thinking") or ""]
        if "input" in block and btype != "text":
            self._json[index] = []

    def _block_for(self, obj: dict[str, Any], what: str) -> tuple[int, dict[str, Any]] | None:
        index = obj["index"]
        pos = self._position.get(index)
        if pos is None:
            self._note(f"{what}_for_unstarted_block")
            self._lost = True
            return None
        return index, self._blocks[pos]

    def _on_delta(self, obj: dict[str, Any]) -> None:
        found = self._block_for(obj, "delta")
        if found is None:
            return
        index, block = found
        delta = obj["delta"]
        dtype = delta["type"]
        btype = block.get("type")
        if dtype == "text_delta":
            if btype == "text":
                self._text[index].append(_str(delta["text"]))
            else:
                self._mismatch()
        elif dtype == "input_json_delta":
            parts = self._json.get(index)
            if parts is None:
                self._mismatch()
            else:
                parts.append(_str(delta["partial_json"]))
        elif dtype == "thinking_delta":
            if btype == "thinking":
                self._text[index].append(_str(delta["thinking"]))
            else:
                self._mismatch()
        elif dtype == "signature_delta":
            block["signature"] = delta["signature"]  # replaces, does not append
        elif dtype == "citations_delta":
            cites = block.get("citations")
            if not isinstance(cites, list):
                cites = block["citations"] = []
            cites.append(delta["citation"])
        elif dtype == "compaction_delta":
            block["content"] = delta.get("content")
            block["encrypted_content"] = delta.get("encrypted_content")
        else:
            # Counted, not fatal: the API adds delta types over time (compaction_delta did), and
            # the SDK skips ones it does not know. Reading every stream that carries a new one as
            # cut would make the finisher resume healthy answers until it gave up.
            self._note(f"unknown_delta:{dtype}")

    def _mismatch(self) -> None:
        # A delta of the wrong kind for its block (text for a tool_use...): its content is dropped.
        self._note("delta_type_mismatch")
        self._lost = True

    def _on_stop(self, obj: dict[str, Any]) -> None:
        index = obj["index"]
        if index not in self._position:
            self._note("stop_for_unstarted_block")
            return
        if index not in self._open:
            self._note("content_block_stopped_twice")
        self._open.discard(index)

    def _on_message_delta(self, obj: dict[str, Any]) -> None:
        msg = self._require_message("message_delta")
        delta = obj.get("delta") or {}
        for key, value in delta.items():
            msg[key] = value
        usage = obj.get("usage")
        if isinstance(usage, dict):
            # Cumulative: output replaces; the others replace only when present and non-null.
            for name in _USAGE_REPORTED:
                self._usage.set_reported(name, usage.get(name))
            raw_usage = msg.get("usage")
            merged = dict(raw_usage) if isinstance(raw_usage, dict) else {}
            merged.update({k: v for k, v in usage.items() if v is not None})
            msg["usage"] = merged
        self._delta_seen = True
        if delta.get("stop_reason") is not None:
            self._stopped = True

    def _on_error(self, obj: dict[str, Any]) -> None:
        # An error event after the 200: the SDK raises a generic status error and never
        # retries; we keep the partial message beside a properly typed error.
        self.error = error_from_payload(200, obj)
        self._stopped = True

    def snapshot(self) -> dict[str, Any]:
        """The message as the SDK would show it now."""
        msg: dict[str, Any] = dict(self.message) if self.message is not None else {"type": "message"}
        blocks: list[dict[str, Any]] = []
        by_position = {pos: index for index, pos in self._position.items()}
        for pos, block in enumerate(self._blocks):
            index = by_position[pos]
            out = dict(block)
            parts = self._text.get(index)
            if parts is not None:
                out["thinking" if block.get("type") == "thinking" else "text"] = "".join(parts)
            jparts = self._json.get(index)
            if jparts:
                parsed = partial_json("".join(jparts))
                if parsed is not None:
                    out["input"] = parsed
            blocks.append(out)
        msg["content"] = blocks
        msg.setdefault("stop_reason", None)
        return msg

    def finish(self) -> Outcome:
        message = self.snapshot()
        reasons: list[str] = []
        tool_json = {str(i): "".join(p) for i, p in self._json.items() if p}
        stop_reason = message.get("stop_reason")
        cut = False
        if self.message is None:
            reasons.append("no message_start")
            cut = True
        if stop_reason is None and self.error is None:
            reasons.append("stream ended before a stop reason")
        if self._open:
            still = ", ".join(str(i) for i in sorted(self._open))
            reasons.append(f"content block {still} never stopped")
            cut = True
        if self._lost:
            reasons.append("input was lost on the way (see anomalies)")
            cut = True
        usage = self._usage
        if not self._delta_seen:
            # message_start reports output_tokens 1 or so; a cut stream never sends the real
            # count, so estimate it from what arrived and say so.
            generated = sum(len(x) for parts in self._text.values() for x in parts)
            generated += sum(len(x) for parts in self._json.values() for x in parts)
            usage.reported.discard("output_tokens")
            usage.set_estimated("output_tokens", max(usage.output_tokens, estimate_tokens(generated)))
        outcome = _finish(
            message,
            usage,
            max_tokens=self.max_tokens,
            reasons=reasons,
            anomalies=dict(self.anomalies),
            tool_json=tool_json,
            cut=cut,
            error=self.error,
        )
        if self.error is not None:
            self.error.partial = outcome
        return outcome
