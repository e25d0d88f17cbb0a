"""OpenAI Chat Completions: non-stream bodies, and ``chat.completion.chunk`` streams folded into
the final completion the way the SDK's ``ChatCompletionStreamState`` does (content and refusal
appended, tool-call fragments merged by index, ``n > 1`` choices keyed by ``choice.index``, the
``include_usage`` chunk with empty choices).

Beyond the SDK (brief/wire.md "What relays and gateways really send"):

- ``finish_reason`` is read as a free string: relays put Claude's raw ``max_tokens``,
  ``tool_use``, ``pause_turn``, ``end_turn`` there, and the SDK's strict models reject them;
- a choice is complete only when its finish reason arrived; a missing reason (one-api drops
  the finish chunk) is ``interrupted``, never a normal stop;
- tool-call arguments that are not whole JSON make the choice ``truncated`` even under
  ``tool_calls`` (a relay's capped call);
- signs that Claude sits behind a relay (``msg_`` ids, ``claude-`` models, raw Claude reasons)
  are recorded in ``Outcome.relay``;
- a data line whose JSON has an ``error`` key is a typed error carrying the partial outcome.
"""

from __future__ import annotations

from typing import Any

from ..catalog import CLAUDE_STOP_REASONS
from ..errors import APIError, ProtocolError
from ..outcome import Outcome, State, Stop, Usage, apply_cap, estimate_tokens, state_for, worst
from ..sse import ServerSentEvent
from ._errors import error_from_payload
from ._fold import EventFolder
from ._json import is_whole_json, partial_json

__all__ = ["OpenAIAccumulator", "parse_completion"]

DIALECT = "openai"


def _usage_from(raw: object) -> Usage:
    usage = Usage()
    if not isinstance(raw, dict):
        return usage
    usage.set_reported("input_tokens", raw.get("prompt_tokens"))
    usage.set_reported("output_tokens", raw.get("completion_tokens"))
    prompt_details = raw.get("prompt_tokens_details")
    if isinstance(prompt_details, dict):
        cached = prompt_details.get("cached_tokens")
        # OpenAI counts cached tokens inside prompt_tokens; we keep Anthropic's vocabulary
        # (input_tokens excludes cache reads) so sums across dialects mean the same thing.
        if isinstance(cached, int) and cached and "input_tokens" in usage.reported:
            usage.input_tokens -= cached
            usage.set_reported("cache_read_input_tokens", cached)
    completion_details = raw.get("completion_tokens_details")
    if isinstance(completion_details, dict):
        usage.set_reported("reasoning_tokens", completion_details.get("reasoning_tokens"))
    return usage


def _relay_signs(message: dict[str, Any], raw_reasons: list[str | None]) -> list[str]:
    signs: list[str] = []
    ident = message.get("id")
    if isinstance(ident, str) and ident.startswith("msg_"):
        signs.append(f"Anthropic message id {ident} on the OpenAI wire")
    model = message.get("model")
    if isinstance(model, str) and "claude" in model.lower():
        signs.append(f"Claude model {model} on the OpenAI wire")
    for raw in raw_reasons:
        if raw in CLAUDE_STOP_REASONS:
            signs.append(f'raw Claude stop reason "{raw}" passed through as finish_reason')
            break
    return signs


def _blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(content, str) and content:
        blocks.append({"type": "text", "text": content})
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        blocks.append({"type": "refusal", "refusal": refusal})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        args = fn.get("arguments") or ""
        blocks.append(
            {
                "type": "tool_call",
                "id": call.get("id"),
                "name": fn.get("name"),
                "arguments": args,
                "input": partial_json(args),
            }
        )
    return blocks


def _choice_outcome(choice: dict[str, Any], *, cut: bool, reasons: list[str]) -> Outcome:
    message = choice.get("message") or {}
    stop = Stop.of(choice.get("finish_reason"))
    state = state_for(stop.normalized)
    tool_json: dict[str, str] = {}
    calls = list(message.get("tool_calls") or [])
    legacy = message.get("function_call")
    if isinstance(legacy, dict):
        calls.append({"function": legacy})
    for i, call in enumerate(calls):
        args = (call.get("function") or {}).get("arguments") or ""
        tool_json[f"{choice.get('index', 0)}:{i}"] = args
        if not is_whole_json(args) and state is State.COMPLETE:
            state = State.TRUNCATED
            reasons.append(f"arguments of tool call {i} are not whole JSON")
    if cut and state is State.COMPLETE:
        state = State.INTERRUPTED
    content = message.get("content")
    return Outcome(
        dialect=DIALECT,
        state=state,
        stop=stop,
        usage=Usage(),
        message=choice,
        text=content if isinstance(content, str) else "",
        content=_blocks_of(message),
        reasons=reasons,
        tool_json=tool_json,
    )


def _assemble(
    completion: dict[str, Any],
    usage: Usage,
    *,
    max_tokens: int | None,
    cut: bool,
    reasons: list[str],
    anomalies: dict[str, int],
    error: APIError | None = None,
) -> Outcome:
    raw_choices = [c for c in completion.get("choices") or [] if isinstance(c, dict)]
    choices = [_choice_outcome(c, cut=cut, reasons=[]) for c in raw_choices]
    if choices:
        first = choices[0]
        state = worst([c.state for c in choices])
        stop, text, content = first.stop, first.text, first.content
    else:
        state, stop, text, content = State.INTERRUPTED, Stop.of(None), "", []
        reasons.append("no choices")
    if error is not None:
        state = State.FAILED
    tool_json: dict[str, str] = {}
    for c in choices:
        tool_json.update(c.tool_json)
        reasons.extend(c.reasons)
    outcome = Outcome(
        dialect=DIALECT,
        state=state,
        stop=stop,
        usage=usage,
        message=completion,
        text=text,
        content=content,
        choices=choices,
        error=error,
        reasons=reasons,
        anomalies=anomalies,
        tool_json=tool_json,
        relay=_relay_signs(completion, [c.stop.raw for c in choices]),
    )
    apply_cap(outcome, max_tokens)
    # Usage belongs to the response; with one choice it is that choice's too.
    if len(choices) == 1 and outcome.state is State.TRUNCATED and choices[0].state is State.COMPLETE:
        choices[0].state = State.TRUNCATED
        choices[0].reasons.extend(r for r in outcome.reasons if r.startswith("output_tokens"))
    return outcome


def parse_completion(body: object, *, max_tokens: int | None = None) -> Outcome:
    """A non-stream ``chat.completion`` body (already parsed JSON); an ``{"error": ...}``
    body gives a failed outcome carrying the typed error."""
    if not isinstance(body, dict):
        raise ProtocolError(f"an OpenAI completion body must be a JSON object, not {type(body).__name__}")
    if "error" in body and "choices" not in body:
        err = error_from_payload(0, body)  # an error body read without its HTTP status
        return _assemble(
            body, Usage(), max_tokens=None, cut=False, reasons=["error body"], anomalies={}, error=err
        )
    try:
        return _assemble(
            body, _usage_from(body.get("usage")), max_tokens=max_tokens, cut=False, reasons=[], anomalies={}
        )
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        # A choice, message or tool call of the wrong shape.
        raise ProtocolError(f"malformed chat.completion body: {exc}") from exc


def _str(value: object) -> str:
    # Pieces of text that are not strings make the chunk malformed (counted by the caller).
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer index, got {type(value).__name__}")
    return value


class _Choice:
    __slots__ = (
        "content",
        "finish_reason",
        "function_call",
        "index",
        "logprobs",
        "refusal",
        "role",
        "tool_calls",
    )

    def __init__(self, index: int) -> None:
        self.index = index
        self.role = "assistant"
        self.content: list[str] | None = None
        self.refusal: list[str] | None = None
        self.tool_calls: dict[int, dict[str, Any]] = {}
        # The deprecated single call: name and argument fragments, as the SDK keeps them.
        self.function_call: tuple[list[str], list[str]] | None = None
        self.finish_reason: str | None = None
        self.logprobs: dict[str, list[Any]] | None = None

    def to_dict(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role,
            "content": "".join(self.content) if self.content is not None else None,
            "refusal": "".join(self.refusal) if self.refusal is not None else None,
        }
        if self.tool_calls:
            calls = []
            for _, call in sorted(self.tool_calls.items()):
                out = {k: v for k, v in call.items() if k != "_args"}
                out["function"] = {"name": call["function"]["name"], "arguments": "".join(call["_args"])}
                calls.append(out)
            message["tool_calls"] = calls
        if self.function_call is not None:
            name, args = self.function_call
            message["function_call"] = {"name": "".join(name), "arguments": "".join(args)}
        return {
            "index": self.index,
            "message": message,
            "finish_reason": self.finish_reason,
            "logprobs": self.logprobs,
        }


class OpenAIAccumulator(EventFolder):
    """Folds a Chat Completions stream chunk by chunk; :meth:`finish` at any time."""

    def __init__(self, *, max_tokens: int | None = None) -> None:
        self.max_tokens = max_tokens
        self.meta: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage_raw: dict[str, Any] | None = None
        self._done = False
        self._lost = False
        self.anomalies: dict[str, int] = {}
        self.error: APIError | None = None
        self.chunks = 0

    @property
    def done(self) -> bool:
        return self._done or self.error is not None

    def feed(self, sse: ServerSentEvent) -> dict[str, Any] | None:
        """Fold one event. Returns its payload, parsed once, for callers that need it too (the
        finisher re-emits events); ``None`` when there was nothing to fold."""
        data = sse.data
        # The SDK matches [DONE] by prefix; some servers send `data:[DONE]` with no space,
        # which the SSE decoder already reads as the same value.
        if data.startswith("[DONE]"):
            self.feed_done()
            return None
        if not data:
            self._note("empty_event")
            return None
        obj = self._parsed(data)
        if obj is None:
            return None
        self.feed_json(obj, sse.event)
        return obj

    def fold_content(self, content: str) -> None:
        """Fold the ``content`` of a chunk of choice 0 that says nothing else, already read and
        checked by the caller (the finisher's path for the chunks it passes on unchanged; it
        counts them in ``chunks``). Choice 0 has been seen."""
        choice = self._choices[0]
        if choice.content is None:
            choice.content = [content]
        else:
            choice.content.append(content)

    def feed_done(self) -> None:
        self._done = True

    def feed_json(self, obj: dict[str, Any], event: str | None = None) -> None:
        if "error" in obj and "choices" not in obj:
            self.error = error_from_payload(200, obj)
            return
        self.chunks += 1
        try:
            self._fold(obj)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            self._note("malformed_chunk")
            self._lost = True

    def _fold(self, chunk: dict[str, Any]) -> None:
        meta = self.meta
        if not meta:
            for key in ("id", "created", "model", "system_fingerprint", "service_tier"):
                if key in chunk:
                    meta[key] = chunk[key]
        elif chunk.get("id") not in (None, meta.get("id")):
            self._note("chunk_id_changed")
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage_raw = usage
        for raw in chunk.get("choices") or ():
            index = _int(raw.get("index", 0))
            choice = self._choices.get(index)
            if choice is None:
                choice = self._choices[index] = _Choice(index)
            delta = raw.get("delta") or {}
            content = delta.get("content")
            if content is not None:
                _str(content)
                if choice.content is None:
                    choice.content = [content]
                else:
                    choice.content.append(content)
            refusal = delta.get("refusal")
            if refusal is not None:
                _str(refusal)
                if choice.refusal is None:
                    choice.refusal = [refusal]
                else:
                    choice.refusal.append(refusal)
            role = delta.get("role")
            if role:
                choice.role = role
            calls = delta.get("tool_calls")
            if calls:
                self._merge_calls(choice, calls)
            fn = delta.get("function_call")
            if isinstance(fn, dict):
                if choice.function_call is None:
                    choice.function_call = ([], [])
                name, args = fn.get("name"), fn.get("arguments")
                if name:
                    choice.function_call[0].append(_str(name))
                if args:
                    choice.function_call[1].append(_str(args))
            logprobs = raw.get("logprobs")
            if isinstance(logprobs, dict):
                if choice.logprobs is None:
                    choice.logprobs = {}
                for key, items in logprobs.items():
                    if isinstance(items, list):
                        choice.logprobs.setdefault(key, []).extend(items)
            reason = raw.get("finish_reason")
            if reason is not None:
                choice.finish_reason = reason

    def _merge_calls(self, choice: _Choice, calls: list[dict[str, Any]]) -> None:
        for frag in calls:
            i = _int(frag.get("index", len(choice.tool_calls)))
            fn = frag.get("function") or {}
            call = choice.tool_calls.get(i)
            if call is None:
                call = choice.tool_calls[i] = {
                    "index": i,
                    "id": frag.get("id"),
                    "type": frag.get("type") or "function",
                    "function": {"name": fn.get("name") or ""},
                    "_args": [],
                }
            else:
                if frag.get("id") and not call["id"]:
                    call["id"] = frag["id"]
                # Names arrive whole on OpenAI; some compatible servers repeat them on every
                # fragment, which must not double them.
                name = fn.get("name")
                if name and not call["function"]["name"].endswith(name):
                    call["function"]["name"] += name
            args = fn.get("arguments")
            if args:
                call["_args"].append(_str(args))

    def snapshot(self) -> dict[str, Any]:
        completion: dict[str, Any] = {
            "id": self.meta.get("id"),
            "object": "chat.completion",
            "created": self.meta.get("created"),
            "model": self.meta.get("model"),
        }
        for key in ("system_fingerprint", "service_tier"):
            if key in self.meta:
                completion[key] = self.meta[key]
        completion["choices"] = [c.to_dict() for _, c in sorted(self._choices.items())]
        completion["usage"] = self._usage_raw
        return completion

    def finish(self) -> Outcome:
        completion = self.snapshot()
        reasons: list[str] = []
        usage = _usage_from(self._usage_raw)
        if self._usage_raw is None:
            chars = 0
            for c in self._choices.values():
                chars += sum(len(x) for x in c.content or ())
                chars += sum(len(x) for x in c.refusal or ())
                chars += sum(len(x) for call in c.tool_calls.values() for x in call["_args"])
            usage.set_estimated("output_tokens", estimate_tokens(chars))
        if not self._done and self.error is None:
            reasons.append("stream ended without [DONE]")
        if self._lost:
            reasons.append("input was lost on the way (see anomalies)")
        outcome = _assemble(
            completion,
            usage,
            max_tokens=self.max_tokens,
            cut=self._lost,
            reasons=reasons,
            anomalies=dict(self.anomalies),
            error=self.error,
        )
        if self.error is not None:
            self.error.partial = outcome
        return outcome
