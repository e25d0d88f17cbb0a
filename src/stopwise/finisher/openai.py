"""The finisher for OpenAI Chat Completions (and the relays that speak it in front of Claude).

Chat Completions has no prefill: a trailing assistant message is a finished turn, so a cut answer
goes on with a continue turn and seam repair. The caller sees one completion: one id, one
content string, one finish chunk, one usage chunk when it asked for one, ``[DONE]``; then a
``stopwise`` event after ``[DONE]``, where the SDK has stopped reading chunks.

Relays pass Claude's raw reasons through (``max_tokens``, ``end_turn``, ``tool_use``); the
finisher reads them as what they mean, and the finish reason it hands back is in OpenAI's own
vocabulary for those (the raw values of every round are in ``x-stopwise-stop-reasons`` and the
``stopwise`` event). Requests with ``n > 1`` are passed through: continuing several choices at
once is not something a careful caller wants done behind its back.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from typing import Any

import orjson

from ..dialects import parse_body
from ..dialects.openai import OpenAIAccumulator
from ..errors import APIError, ProtocolError
from ..outcome import Outcome, State, StopReason
from ..sse import ServerSentEvent, encode_data, encode_event
from . import seam as seams
from .base import Finisher, Plan
from .text import Head, TextWriter

__all__ = ["OpenAIFinisher"]

# Claude's values, as relays pass them, in OpenAI's words.
_OPENAI_WORDS = {
    "end_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "stop_sequence": "stop",
}


def _chunk_bytes(obj: dict[str, Any]) -> bytes:
    return encode_data(orjson.dumps(obj))


class OpenAIFinisher(Finisher):
    dialect = "openai"

    def __init__(self, body: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(body, **kwargs)
        messages = body.get("messages")
        self.messages: list[dict[str, Any]] = list(messages) if isinstance(messages, list) else []
        n = body.get("n")
        self.passthrough = isinstance(n, int) and n > 1
        if self.passthrough:
            # Chunks of several choices already went out as they came: a resumed stream would
            # repeat them. Retries before the first byte still apply.
            self.policy = dataclasses.replace(self.policy, resume_interrupted=False)
        options = body.get("stream_options")
        self.wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.cap_key = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        cap = body.get(self.cap_key)
        self.max_tokens = cap if isinstance(cap, int) else None
        self.text = ""  # the answer's content so far
        self.refusal: str | None = None
        self.tool_calls: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.finish_reason: str | None = None
        self.seam: seams.Seam | None = None
        self.structure = seams.Structure()
        self.acc = OpenAIAccumulator()
        self.writer: TextWriter | None = None
        self.sent_role = False
        self.head = Head()
        self.continue_turn = False
        self.round_progressed = False
        self.kept_size = -1  # the answer's length after the last back-off: the progress measure

    # -- plans ----------------------------------------------------------------------------------
    def _with_usage(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("stream") and not self.passthrough:
            # We need every round's usage to sum it; the caller gets the usage chunk only if it asked.
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body = {**body, "stream_options": options}
        return body

    def first_plan(self) -> Plan:
        return Plan("initial", self._with_usage(self.request))

    def _continue(self, mode: str, max_tokens: int | None) -> Plan | None:
        max_tokens = self.budget_cap(max_tokens)
        if max_tokens is not None and max_tokens <= 0:
            return None
        emitted = self.writer.sent if self.writer is not None else 0
        seam = seams.back_off(self.text)
        if len(seam.kept) < emitted:
            seam = seams.Seam(self.text[:emitted], self.text[emitted:])
        if not seam.kept.strip():
            return None
        if mode == "continue" and len(seam.kept) <= self.kept_size:
            return None  # the last round added nothing that survives the back-off: stop
        self.kept_size = len(seam.kept)
        self.text = seam.kept
        if self.writer is not None:
            self.writer.text = seam.kept
        self.seam = seam
        self.structure = seams.structure_at(seam.kept)
        body = dict(self.request)
        if max_tokens is not None:
            body[self.cap_key] = max_tokens
        messages = copy.deepcopy(self.messages)
        messages.append({"role": "assistant", "content": seam.kept})
        messages.append({"role": "user", "content": seams.nudge(self.structure)})
        body["messages"] = messages
        return Plan(mode, self._with_usage(body))

    def replan_without_prefill(self, plan: Plan) -> Plan:
        return plan  # there is no prefill on this wire

    def with_max_tokens(self, plan: Plan, max_tokens: int) -> Plan | None:
        current = plan.body.get(self.cap_key)
        if isinstance(current, int) and current <= max_tokens:
            return None
        return Plan(plan.mode, {**plan.body, self.cap_key: max_tokens})

    def next_plan(self, outcome: Outcome, plan: Plan) -> Plan | None:
        if self.passthrough or outcome.state is not State.TRUNCATED:
            return None  # complete, paused (raw pause_turn from a relay: not ours to resume), ...
        if outcome.stop.normalized is StopReason.CONTEXT_WINDOW:
            return None
        if not (self.continuation_rounds_left() and self.output_budget_left()):
            return None
        if self.round_tool_calls:
            return self._tool_retry(plan)
        if not self.policy.continue_truncated:
            return None
        if plan.mode != "initial" and not self.round_progressed:
            return None
        if not self.text.strip():
            return None  # reasoning-only: nothing visible to continue from
        return self._continue("continue", self.max_tokens)

    def _tool_retry(self, plan: Plan) -> Plan | None:
        if not self.policy.retry_cut_tool_calls:
            return None
        current = plan.body.get(self.cap_key)
        if not isinstance(current, int):
            # The relay chose the cap; ask explicitly for twice what came back.
            current = max(self.rounds[-1].output_tokens, 1)
        ceiling = self.memory.ceiling(self.model)
        bigger = int(current * self.policy.tool_budget_factor)
        if ceiling is not None:
            bigger = min(bigger, ceiling)
        budget = self.budget_cap(bigger)
        bigger = bigger if budget is None else budget
        if bigger <= current:
            return None
        self.tool_calls = []
        if self.text.strip():
            return self._continue("tool-retry", bigger)
        self.text = ""
        self.seam = None
        return Plan("tool-retry", self._with_usage({**self.request, self.cap_key: bigger}))

    def resume_plan(self, plan: Plan) -> Plan:
        if self.text.strip():
            nxt = self._continue("resume", plan.body.get(self.cap_key))
            if nxt is not None:
                return nxt
        self.seam = None
        return Plan("resume", self._with_usage(self.request))

    # -- folding a round ------------------------------------------------------------------------
    def begin_round(self, plan: Plan) -> None:
        self.acc = OpenAIAccumulator(max_tokens=plan.body.get(self.cap_key))
        self.continue_turn = plan.mode != "initial" and self.seam is not None
        self.head = Head(self.seam, self.structure) if self.continue_turn else Head()
        self.round_progressed = False
        self.round_tool_calls: list[dict[str, Any]] = []
        self.round_ended = False
        self.unreleased = False  # text appended since the last release (see flush)
        if self.stream and self.writer is None and not self.passthrough:
            self.writer = TextWriter(0, self.text, len(self.text))

    def round_done(self) -> bool:
        return self.acc.done

    def feed(self, event: ServerSentEvent) -> list[bytes]:
        obj = self.acc.feed(event)
        if not self.stream:
            return []
        if self.passthrough:
            return [encode_event(event.data, event=event.event)]
        if obj is None or "error" in obj:
            return []
        if not self.meta:
            self.meta = {k: obj[k] for k in ("id", "created", "model", "system_fingerprint") if k in obj}
        out: list[bytes] = []
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if not self.sent_role:
                out.append(self._chunk({"role": "assistant", "content": ""}))
                self.sent_role = True
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.append_text(content)  # released by flush(), once per read
            refusal = delta.get("refusal")
            if isinstance(refusal, str) and refusal:
                out += self.flush()
                out.append(self._chunk({"refusal": refusal}))
        return out

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _chunk_bytes(
            {
                "id": self.meta.get("id"),
                "object": "chat.completion.chunk",
                "created": self.meta.get("created", int(time.time())),
                "model": self.meta.get("model", self.model),
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
        )

    def _release(self, *, final: bool) -> list[bytes]:
        w = self.writer
        if w is None:
            return []
        upto = len(w.text) if final else w.releasable()
        if upto <= w.sent:
            return []
        piece = w.text[w.sent : upto]
        w.sent = upto
        return [self._chunk({"content": piece})]

    def stream_outcome(self) -> Outcome:
        return self.acc.finish()

    def body_outcome(self, body: bytes) -> Outcome:
        try:
            return parse_body(orjson.loads(body), max_tokens=self.acc.max_tokens, dialect="openai")
        except (orjson.JSONDecodeError, ProtocolError):
            return OpenAIAccumulator().finish()

    def absorb(self, outcome: Outcome, plan: Plan, *, partial: bool) -> None:
        message = outcome.message
        if not self.meta and message:
            self.meta = {
                k: message[k] for k in ("id", "created", "model", "system_fingerprint") if k in message
            }
        if self.passthrough:
            self.passthrough_body = message
            return
        choice = outcome.choices[0] if outcome.choices else None
        if not partial and choice is not None:
            self.finish_reason = choice.stop.raw
        msg = (choice.message.get("message") if choice is not None else None) or {}
        calls = msg.get("tool_calls") or []
        whole = choice is not None and choice.state is State.COMPLETE
        if calls and not partial:
            if whole:
                self.tool_calls.extend(calls)
            else:
                self.round_tool_calls = calls  # cut: asked again with a bigger budget
        refusal = msg.get("refusal")
        if isinstance(refusal, str) and refusal:
            self.refusal = (self.refusal or "") + refusal
        if self.stream:
            if self.writer is not None:
                if not partial:
                    self.writer.text += self.head.finish()
                self.text = self.writer.text
        else:
            new = msg.get("content") or ""
            if self.seam is not None and self.continue_turn:
                new = seams.repair(self.seam, new, self.structure)
            self.round_progressed = bool(new.strip()) or bool(calls)
            self.text += new
        self.seam = None

    # -- writing the answer ---------------------------------------------------------------------
    def has_content(self) -> bool:
        return bool(self.text or self.tool_calls or self.refusal)

    def answer_size(self) -> int:
        return len(self.text) + len(self.tool_calls) + len(self.refusal or "")

    def final_state(self) -> State:
        return self.rounds[-1].state if self.rounds else State.FAILED

    def _finish_reason(self) -> str | None:
        raw = self.finish_reason
        return _OPENAI_WORDS.get(raw, raw) if raw is not None else None

    def _usage(self) -> dict[str, Any]:
        u = self.usage
        prompt = u.input_tokens + u.cache_read_input_tokens
        usage: dict[str, Any] = {
            "prompt_tokens": prompt,
            "completion_tokens": u.output_tokens,
            "total_tokens": prompt + u.output_tokens,
        }
        if u.cache_read_input_tokens:
            usage["prompt_tokens_details"] = {"cached_tokens": u.cache_read_input_tokens}
        return usage

    def final_body(self) -> dict[str, Any]:
        if self.passthrough:
            return dict(getattr(self, "passthrough_body", {}))
        message: dict[str, Any] = {"role": "assistant", "content": self.text or None, "refusal": self.refusal}
        if self.tool_calls:
            message["tool_calls"] = [
                {k: v for k, v in call.items() if k != "index"} for call in self.tool_calls
            ]
        return {
            "id": self.meta.get("id"),
            "object": "chat.completion",
            "created": self.meta.get("created", int(time.time())),
            "model": self.meta.get("model", self.model),
            "choices": [
                {"index": 0, "message": message, "finish_reason": self._finish_reason(), "logprobs": None}
            ],
            "usage": self._usage(),
        }

    def close_stream(self, error: APIError | None) -> bytes:
        if self.passthrough:
            return (
                b""
                if error is None
                else _chunk_bytes({"error": {"message": error.message, "type": error.error_type}})
            )
        out: list[bytes] = []
        if error is not None:
            out.append(
                _chunk_bytes({"error": {"message": error.message, "type": error.error_type or "api_error"}})
            )
            return b"".join(out)
        out += self._release(final=True)
        for i, call in enumerate(self.tool_calls):
            fn = call.get("function") or {}
            out.append(
                self._chunk(
                    {
                        "tool_calls": [
                            {
                                "index": i,
                                "id": call.get("id"),
                                "type": call.get("type", "function"),
                                "function": {"name": fn.get("name"), "arguments": fn.get("arguments", "")},
                            }
                        ]
                    }
                )
            )
        out.append(self._chunk({}, finish_reason=self._finish_reason()))
        if self.wants_usage:
            out.append(
                _chunk_bytes(
                    {
                        "id": self.meta.get("id"),
                        "object": "chat.completion.chunk",
                        "created": self.meta.get("created", int(time.time())),
                        "model": self.meta.get("model", self.model),
                        "choices": [],
                        "usage": self._usage(),
                    }
                )
            )
        out.append(b"data: [DONE]\n\n")
        out.append(
            encode_event(orjson.dumps({"type": "stopwise", **self.summary()}).decode(), event="stopwise")
        )
        return b"".join(out)
