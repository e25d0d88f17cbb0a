"""A scripted OpenAI Responses upstream for :func:`stopwise.testing.run`: a model that knows the
whole answer (:class:`ResponsesTruth`: an optional reasoning summary, text, an optional function
call) and writes, for each request, the part of it the request asks for, cut where the request's
``max_output_tokens`` (or the step's own cut) ends it, misbehaving or failing as its step says.

What it reads of a request:

- A continue turn (the input ends with an assistant message, then a user turn): the assistant
  text is the answer so far, which must be the start of the truth's text (else ``mismatch``
  records the finisher's bug); the reply goes on from there (faithfully, or as
  :data:`~stopwise.testing.model.Misbehaviour` says).
- Anything else: the answer from its start.

Every response is rendered as the API writes it: a body (``object: "response"``, ``status``,
``incomplete_details``, ``output`` items, ``usage`` with its details), or a stream (``event:``
lines, ``sequence_number`` from 0, ``response.created`` / ``in_progress``, the items' events,
then ``response.completed`` or ``response.incomplete``). Faults (:class:`ResponsesStep.fault`):
``break`` after N events, ``error`` (an ``error`` event after N), ``failed`` (``response.failed``
with ``output: []`` after N), ``restart`` (the first N events, then the whole stream again),
``529`` (an HTTP error before any byte).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from . import Reply, sse
from .model import Step, _misbehave, tokens

__all__ = ["ResponsesFault", "ResponsesModel", "ResponsesStep", "ResponsesTruth"]

FaultKind = Literal["break", "error", "failed", "restart", "529"]


@dataclass(frozen=True, slots=True)
class ResponsesFault:
    kind: FaultKind
    after: int = 0  # events (stream) before it strikes


@dataclass(frozen=True, slots=True)
class ResponsesStep:
    """One request's behaviour: ``cut`` output tokens at most (None: only max_output_tokens),
    a fault, and how a continue-turn reply starts (:class:`~stopwise.testing.model.Step`)."""

    cut: int | None = None
    fault: ResponsesFault | None = None
    reply: Step = field(default_factory=Step)


@dataclass(frozen=True, slots=True)
class ResponsesTruth:
    text: str
    reasoning: str = ""  # a summary the model writes before the text (every request)
    call: tuple[str, str] | None = None  # (name, arguments JSON) after the text
    #: Each response's text cites its first word (a ``url_citation`` whose title is the word).
    cite: bool = False
    #: The call comes before the text (a continue turn then writes the text only).
    call_first: bool = False


@dataclass(slots=True)
class ResponsesAsked:
    n: int
    body: dict[str, Any]
    kept: str  # the answer so far the request held
    mismatch: str | None = None
    status: str = ""
    output_tokens: int = 0


@dataclass(slots=True)
class ResponsesModel:
    truth: ResponsesTruth
    steps: tuple[ResponsesStep, ...] = ()
    asked: list[ResponsesAsked] = field(default_factory=list)

    def __call__(self, body: dict[str, Any], n: int) -> Reply:
        step = self.steps[n] if n < len(self.steps) else ResponsesStep()
        kept = _kept(body)
        asked = ResponsesAsked(n, body, kept)
        self.asked.append(asked)
        text = self.truth.text
        if not text.startswith(kept):
            asked.mismatch = f"the answer so far departs from the truth at {_departs(kept, text)}"
        fault = step.fault
        if fault is not None and fault.kind == "529":
            return Reply.json({"error": {"message": "Overloaded", "type": "server_error", "code": None}}, 529)
        start, lead, strip = (len(kept), "", False)
        if kept:
            start, lead, strip = _misbehave(text, len(kept), step.reply)
        rest = text[start:]
        if strip:
            rest = rest.lstrip()
        reply_text = lead + rest
        cap = body.get("max_output_tokens")
        budget = cap if isinstance(cap, int) else 1 << 30
        if step.cut is not None:
            budget = min(budget, step.cut)
        response, used, complete = self._generate(n, body, reply_text, budget, bool(kept))
        asked.status, asked.output_tokens = response["status"], used
        if not body.get("stream"):
            return Reply.json(response, headers={"x-request-id": f"req_{n}"})
        events = _events(response, complete)
        return _stream(events, fault, response)

    def _generate(
        self, n: int, body: dict[str, Any], text: str, budget: int, continuing: bool
    ) -> tuple[dict[str, Any], int, bool]:
        """The response: reasoning, then text, then the call, each cut where the budget ends."""
        output: list[dict[str, Any]] = []
        used = 0
        cut = False
        reasoning_tokens = 0
        if self.truth.reasoning:
            toks = tokens(self.truth.reasoning)
            take = toks[:budget]
            used += len(take)
            reasoning_tokens = len(take)
            cut = len(take) < len(toks)
            output.append(
                {
                    "id": f"rs_{n}",
                    "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": "".join(take)}] if take else [],
                }
            )

        def write_text() -> None:
            nonlocal used, cut
            toks = tokens(text)
            take = toks[: budget - used]
            used += len(take)
            cut = len(take) < len(toks)
            written = "".join(take)
            notes = _citations(written) if self.truth.cite else []
            part = {"type": "output_text", "text": written, "annotations": notes, "logprobs": []}
            output.append(
                {
                    "id": f"msg_{n}",
                    "type": "message",
                    "status": "incomplete" if cut else "completed",
                    "role": "assistant",
                    "content": [part],
                }
            )

        def write_call(name: str, args: str) -> None:
            nonlocal used, cut
            toks = tokens(args)
            take = toks[: budget - used]
            used += len(take)
            cut = len(take) < len(toks)
            output.append(
                {
                    "id": f"fc_{n}",
                    "type": "function_call",
                    "status": "incomplete" if cut else "completed",
                    "call_id": f"call_{n}",
                    "name": name,
                    "arguments": "".join(take),
                }
            )

        call = self.truth.call
        # A continue turn goes on with the text only: a call written first is in the answer.
        first = call is not None and self.truth.call_first and not continuing
        if not cut and first:
            assert call is not None
            write_call(*call)
        if not cut and text:
            write_text()
        if not cut and call is not None and not self.truth.call_first:
            write_call(*call)
        prompt = len(orjson.dumps(body.get("input"))) // 4 + 1
        response = {
            "id": f"resp_{n}",
            "object": "response",
            "created_at": 1700000000 + n,
            "status": "incomplete" if cut else "completed",
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
            "model": str(body.get("model")),
            "output": output,
            "max_output_tokens": body.get("max_output_tokens"),
            "service_tier": "default",
            "store": True,
            "usage": {
                "input_tokens": prompt,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": used,
                "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
                "total_tokens": prompt + used,
            },
            "metadata": {},
        }
        return response, used, not cut


def _citations(text: str) -> list[dict[str, Any]]:
    m = re.search(r"\S+", text)
    if m is None:
        return []
    return [
        {
            "type": "url_citation",
            "start_index": m.start(),
            "end_index": m.end(),
            "url": "https://example.com/",
            "title": m.group(),
        }
    ]


def _kept(body: dict[str, Any]) -> str:
    items = body.get("input")
    if not isinstance(items, list) or len(items) < 2:
        return ""
    last, before = items[-1], items[-2]
    if not (isinstance(last, dict) and isinstance(before, dict)):
        return ""
    if last.get("role") != "user" or before.get("role") != "assistant":
        return ""
    content = before.get("content")
    return content if isinstance(content, str) else ""


def _departs(a: str, b: str) -> int:
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return i


def _events(response: dict[str, Any], complete: bool) -> list[dict[str, Any]]:
    """The stream of ``response``, as the API writes it (sequence numbers added later)."""
    shell = {**response, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": shell},
        {"type": "response.in_progress", "response": shell},
    ]
    for index, item in enumerate(response["output"]):
        kind = item["type"]
        if kind == "reasoning":
            events.append(
                {"type": "response.output_item.added", "output_index": index, "item": {**item, "summary": []}}
            )
            for s_index, part in enumerate(item["summary"]):
                base = {"item_id": item["id"], "output_index": index, "summary_index": s_index}
                events.append(
                    {
                        "type": "response.reasoning_summary_part.added",
                        **base,
                        "part": {"type": "summary_text", "text": ""},
                    }
                )
                for piece in tokens(part["text"]):
                    events.append({"type": "response.reasoning_summary_text.delta", **base, "delta": piece})
                events.append({"type": "response.reasoning_summary_text.done", **base, "text": part["text"]})
                events.append({"type": "response.reasoning_summary_part.done", **base, "part": part})
        elif kind == "message":
            text = item["content"][0]["text"]
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress", "content": []},
                }
            )
            base = {"item_id": item["id"], "output_index": index, "content_index": 0}
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            events.append({"type": "response.content_part.added", **base, "part": empty})
            for piece in tokens(text):
                events.append({"type": "response.output_text.delta", **base, "delta": piece, "logprobs": []})
            for n, note in enumerate(item["content"][0]["annotations"]):
                events.append(
                    {
                        "type": "response.output_text.annotation.added",
                        **base,
                        "annotation_index": n,
                        "annotation": note,
                    }
                )
            events.append({"type": "response.output_text.done", **base, "text": text, "logprobs": []})
            events.append({"type": "response.content_part.done", **base, "part": item["content"][0]})
        else:
            events.append(
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**item, "status": "in_progress", "arguments": ""},
                }
            )
            base = {"item_id": item["id"], "output_index": index}
            for piece in tokens(item["arguments"]):
                events.append({"type": "response.function_call_arguments.delta", **base, "delta": piece})
            events.append(
                {
                    "type": "response.function_call_arguments.done",
                    **base,
                    "arguments": item["arguments"],
                    "name": item["name"],
                }
            )
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    terminal = "response.completed" if complete else "response.incomplete"
    events.append({"type": terminal, "response": response})
    return events


def _stream(events: list[dict[str, Any]], fault: ResponsesFault | None, response: dict[str, Any]) -> Reply:
    fail: Literal["read"] | None = None
    if fault is not None:
        at = min(fault.after, len(events) - 1)
        if fault.kind == "break":
            events, fail = events[:at], "read"
        elif fault.kind == "error":
            events = [
                *events[:at],
                {
                    "type": "error",
                    "error": {
                        "type": "server_error",
                        "code": "server_error",
                        "message": "The server had an error",
                        "param": None,
                    },
                },
            ]
        elif fault.kind == "failed":
            failed = {
                **response,
                "status": "failed",
                "output": [],
                "incomplete_details": None,
                "error": {"code": "server_error", "message": "The server had an error"},
            }
            events = [*events[:at], {"type": "response.failed", "response": failed}]
        elif fault.kind == "restart":
            events = events[:at] + events
    chunks = [sse(e["type"], {**e, "sequence_number": i}) for i, e in enumerate(events)]
    return Reply.stream(chunks, fail=fail)
