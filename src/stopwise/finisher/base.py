"""The round loop every dialect shares: send, read, retry, resume, decide, finish.

A dialect subclass says how to fold one round into the answer, what the next request is, and
how the answer is written out (one body, or one continuous stream). This module owns what is
the same for both: which errors are retried and after how long, what a 400 teaches about the
model, when a broken stream is resumed, the bounds, and how the caller is told what happened
(``x-stopwise-*`` headers, or a final ``stopwise`` event on streams).
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import orjson

from ..dialects import error_from_response
from ..errors import APIError
from ..outcome import Outcome, State, Usage
from ..sse import ServerSentEvent, SSEDecoder
from .effects import Emit, Failure, Finish, Head, Read, Send, Sleep, Start
from .models import ModelMemory, ceiling_from_error, is_prefill_rejection, is_trailing_whitespace_rejection
from .policy import Policy
from .text import Head as TextHead
from .text import TextWriter

__all__ = ["Engine", "Finisher", "Plan", "Round"]

Effect = Send | Read | Sleep | Start | Emit | Finish
Engine = Generator[Effect, Any, None]

# Headers of an upstream response that describe its body, which we replace.
_BODY_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-type"})


@dataclass(slots=True)
class Plan:
    """One upstream request: ``mode`` is why it is made (initial, prefill, continue,
    tool-retry, pause, resume)."""

    mode: str
    body: dict[str, Any]
    # The 400 that would make us re-plan this same round has been seen once already.
    replanned: bool = False


@dataclass(slots=True)
class Round:
    mode: str
    raw_stop: str | None
    state: State
    output_tokens: int


class Finisher(ABC):
    dialect: str

    def __init__(
        self,
        body: dict[str, Any],
        *,
        policy: Policy | None = None,
        memory: ModelMemory | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.request = body
        self.policy = policy or Policy()
        self.memory = memory or ModelMemory()
        self.rand = rand
        self.stream = bool(body.get("stream"))
        self.model = str(body.get("model") or "")
        self.rounds: list[Round] = []
        self.usage = Usage()
        self.retries = 0
        self.started = False  # the downstream stream head went out
        self.upstream_headers: dict[str, str] = {}
        self.request_ids: list[str] = []
        self.gave_up_with: str | None = None  # the error the finisher stopped on, for the log

    # -- what a dialect provides ------------------------------------------------------------
    @abstractmethod
    def first_plan(self) -> Plan: ...

    @abstractmethod
    def begin_round(self, plan: Plan) -> None:
        """Reset per-round state before the first event of a round."""

    @abstractmethod
    def feed(self, event: ServerSentEvent) -> list[bytes]:
        """Stream mode: fold one upstream event, return the downstream bytes it releases."""

    # Stream mode, set by each dialect's begin_round: the open text block, the head of a
    # continue-turn reply, whether the round wrote anything, text not yet released.
    writer: TextWriter | None
    head: TextHead
    round_progressed: bool
    unreleased: bool

    def append_text(self, text: str) -> None:
        """Stream mode: a text delta of the answer; released by :meth:`flush`."""
        assert self.writer is not None
        piece = self.head.feed(text)
        self.writer.text += piece
        self.round_progressed = self.round_progressed or bool(piece.strip())
        self.unreleased = True

    def flush(self) -> list[bytes]:
        """Stream mode: the text the events of the last read appended but did not release.

        Text deltas only append; the release (a seam back-off and an event) happens once per
        upstream read, here, or before the first other event that must follow the text. The
        text downstream is the same, in fewer events: one per read instead of one per
        upstream delta, and the per-delta back-off was most of a stream's cost."""
        if not self.unreleased:
            return []
        self.unreleased = False
        return self._release(final=False)

    @abstractmethod
    def _release(self, *, final: bool) -> list[bytes]:
        """Stream mode: the writer's text up to its releasable point (all of it if final)."""

    @abstractmethod
    def round_done(self) -> bool:
        """The upstream stream has said all it will (its terminal event or an error)."""

    @abstractmethod
    def stream_outcome(self) -> Outcome: ...

    @abstractmethod
    def body_outcome(self, body: bytes) -> Outcome: ...

    @abstractmethod
    def absorb(self, outcome: Outcome, plan: Plan, *, partial: bool) -> None:
        """Merge a round into the answer. ``partial``: the round broke off; keep only what is
        safe to continue from."""

    @abstractmethod
    def next_plan(self, outcome: Outcome, plan: Plan) -> Plan | None:
        """The next request after a round that ended normally, or None: the answer is done."""

    @abstractmethod
    def resume_plan(self, plan: Plan) -> Plan:
        """The request that resumes after a round broke off."""

    @abstractmethod
    def replan_without_prefill(self, plan: Plan) -> Plan: ...

    @abstractmethod
    def with_max_tokens(self, plan: Plan, max_tokens: int) -> Plan | None: ...

    @abstractmethod
    def has_content(self) -> bool: ...

    @abstractmethod
    def answer_size(self) -> int:
        """How much answer we hold (characters of text and blocks): the measure of progress."""

    @abstractmethod
    def close_stream(self, error: APIError | None) -> bytes:
        """The downstream events that end the stream: final stop, summed usage, terminator;
        or, when ``error`` is given, the error event after what was already sent."""

    @abstractmethod
    def final_body(self) -> dict[str, Any]: ...

    @abstractmethod
    def final_state(self) -> State: ...

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> Engine:
        plan = self.first_plan()
        attempts = 0
        while True:
            head = yield Send(plan.body)
            if isinstance(head, Failure):
                delay = self._retry_delay(None, attempts)
                if delay is None:
                    yield from self._give_up(None, connection=head.error)
                    return
                attempts += 1
                self.retries += 1
                yield Sleep(delay)
                continue
            assert isinstance(head, Head)
            rid = head.headers.get("request-id") or head.headers.get("x-request-id")
            if rid:
                self.request_ids.append(rid)
            if head.status >= 400:
                raw = yield from self._read_all()
                if isinstance(raw, Failure):
                    raw = b""
                http_err = error_from_response(head.status, raw, head.headers)
                replanned = self._replan_for(http_err, plan)
                if replanned is not None:
                    plan = replanned
                    continue
                delay = self._retry_delay(http_err, attempts)
                if delay is not None:
                    attempts += 1
                    self.retries += 1
                    yield Sleep(delay)
                    continue
                yield from self._give_up(http_err, head=head, raw=raw)
                return
            if not self.upstream_headers:
                self.upstream_headers = head.headers
            self.begin_round(plan)
            failure: BaseException | None = None
            if plan.body.get("stream"):
                if self.stream and not self.started:
                    yield Start(200, self._headers(head.headers, streaming=True))
                    self.started = True
                decoder = SSEDecoder()
                while not self.round_done():
                    chunk = yield Read()
                    if isinstance(chunk, Failure):
                        failure = chunk.error
                        break
                    # What one upstream read releases goes out as one Emit: one downstream
                    # write per read instead of one per event.
                    if not chunk:
                        last = decoder.flush()
                        out = b"".join((self.feed(last) if last is not None else []) + self.flush())
                        if out:
                            yield Emit(out)
                        break
                    parts = [out for event in decoder.decode(chunk) for out in self.feed(event)]
                    out = b"".join(parts + self.flush())
                    if out:
                        yield Emit(out)
                outcome = self.stream_outcome()
            else:
                raw = yield from self._read_all()
                if isinstance(raw, Failure):
                    failure = raw.error
                    outcome = self.body_outcome(b"")
                else:
                    outcome = self.body_outcome(raw)
            self._count(outcome, plan)

            if failure is not None or outcome.state in (State.INTERRUPTED, State.FAILED):
                err: APIError | None = outcome.error
                delay = self._retry_delay(err, attempts) if self.policy.resume_interrupted else None
                if delay is None:
                    self.absorb(outcome, plan, partial=True)
                    yield from self._give_up(err, connection=failure)
                    return
                before = self.answer_size()
                self.absorb(outcome, plan, partial=True)
                # A round that broke off after making progress is not the same failure again:
                # the round bound still applies, the retry count starts over.
                attempts = 1 if self.answer_size() > before else attempts + 1
                self.retries += 1
                if not self.continuation_rounds_left():
                    yield from self._give_up(err, connection=failure)
                    return
                yield Sleep(delay)
                plan = self.resume_plan(plan)
                continue
            attempts = 0
            self.absorb(outcome, plan, partial=False)
            nxt = self.next_plan(outcome, plan)
            if nxt is None:
                yield from self._finish()
                return
            plan = nxt

    def _read_all(self) -> Generator[Effect, Any, bytes | Failure]:
        parts: list[bytes] = []
        while True:
            chunk = yield Read()
            if isinstance(chunk, Failure):
                return chunk
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    def _count(self, outcome: Outcome, plan: Plan) -> None:
        self.usage = self.usage + outcome.usage
        self.rounds.append(Round(plan.mode, outcome.stop.raw, outcome.state, outcome.usage.output_tokens))

    def output_budget_left(self) -> bool:
        cap = self.policy.max_output_tokens
        return cap is None or self.usage.output_tokens < cap

    def budget_cap(self, max_tokens: int | None) -> int | None:
        """A round's max_tokens within what ``Policy.max_output_tokens`` leaves."""
        cap = self.policy.max_output_tokens
        if cap is None:
            return max_tokens
        left = cap - self.usage.output_tokens
        return left if max_tokens is None else min(max_tokens, left)

    def continuation_rounds_left(self) -> bool:
        return len(self.rounds) < self.policy.max_rounds

    # -- errors ---------------------------------------------------------------------------------
    def _replan_for(self, err: APIError, plan: Plan) -> Plan | None:
        """A 400 that says what to change: re-plan the same round once instead of failing."""
        if err.status != 400 or plan.replanned or plan.mode == "initial":
            return None
        if is_prefill_rejection(err.message) and plan.mode in ("prefill", "tool-retry", "resume"):
            self.memory.forbid_prefill(self.model)
            new = self.replan_without_prefill(plan)
        elif is_trailing_whitespace_rejection(err.message):
            new = self.replan_without_prefill(plan)
        else:
            ceiling = ceiling_from_error(err.message)
            if ceiling is None:
                return None
            self.memory.learn_ceiling(self.model, ceiling)
            cut = self.with_max_tokens(plan, ceiling)
            if cut is None:
                return None
            new = cut
        new.replanned = True
        return new

    def _retry_delay(self, err: APIError | None, attempts: int) -> float | None:
        rp = self.policy.retry
        if attempts >= rp.max_retries:
            return None
        if err is not None:
            if err.should_retry is False:
                return None
            if err.should_retry is not True:
                if err.spend_limit:
                    return None
                if err.mid_stream:
                    if err.error_type not in ("overloaded_error", "api_error", "server_error", None):
                        return None
                elif not rp.retryable_status(err.status):
                    return None
            wait = err.retry_after
            if wait is not None:
                return None if wait > rp.max_retry_after else float(wait)
        base: float = min(rp.initial_delay * 2**attempts, rp.max_delay)
        return base * (1.0 - rp.jitter * self.rand())

    def _give_up(
        self,
        err: APIError | None,
        *,
        head: Head | None = None,
        raw: bytes = b"",
        connection: BaseException | None = None,
    ) -> Generator[Effect, Any, None]:
        if err is not None:
            self.gave_up_with = err.error_type or err.code or f"http_{err.status}"
        elif connection is not None:
            self.gave_up_with = type(connection).__name__
        if self.started:
            yield Emit(self.close_stream(err if err is not None else _interrupted(connection)))
            yield Finish(200, {})
            return
        if self.has_content():
            # What we have is worth more than the error: the answer so far, with its honest
            # stop reason and state, and the error named in the headers.
            headers = self._headers(self.upstream_headers, streaming=False)
            if err is not None:
                headers["x-stopwise-error"] = f"{err.status} {err.error_type or ''}".strip()
            elif connection is not None:
                headers["x-stopwise-error"] = type(connection).__name__
            yield Finish(200, headers, orjson.dumps(self.final_body()))
            return
        if head is not None:
            # Nothing generated yet: hand the caller the upstream's own error, untouched but for
            # telling its SDK not to retry: the finisher owns retries, and it retried what was
            # worth retrying (a spend-limit 429 is not).
            headers = {
                k: v for k, v in head.headers.items() if k not in ("content-length", "transfer-encoding")
            }
            headers["x-should-retry"] = "false"
            headers["x-stopwise-retries"] = str(self.retries)
            yield Finish(head.status, headers, raw)
            return
        raise _UpstreamUnreachable(connection)

    def _finish(self) -> Generator[Effect, Any, None]:
        if self.started:
            yield Emit(self.close_stream(None))
            yield Finish(200, {})
            return
        yield Finish(
            200, self._headers(self.upstream_headers, streaming=False), orjson.dumps(self.final_body())
        )

    def summary(self) -> dict[str, Any]:
        return {
            "rounds": len(self.rounds),
            "modes": [r.mode for r in self.rounds],
            "stop_reasons": [r.raw_stop for r in self.rounds],
            "state": self.final_state().value,
            "retries": self.retries,
            "usage": self.usage.to_dict(),
            "error": self.gave_up_with,
        }

    def _headers(self, upstream: dict[str, str], *, streaming: bool) -> dict[str, str]:
        headers = {k: v for k, v in upstream.items() if k not in _BODY_HEADERS}
        headers["content-type"] = "text/event-stream; charset=utf-8" if streaming else "application/json"
        headers["x-stopwise"] = "finisher"
        if not streaming:
            headers["x-stopwise-rounds"] = str(len(self.rounds))
            headers["x-stopwise-modes"] = ",".join(r.mode for r in self.rounds)
            headers["x-stopwise-stop-reasons"] = ",".join(r.raw_stop or "none" for r in self.rounds)
            headers["x-stopwise-state"] = self.final_state().value
            headers["x-stopwise-retries"] = str(self.retries)
        return headers


class _UpstreamUnreachable(Exception):
    """Raised out of the engine when no upstream response ever came: the driver re-raises the
    original transport error so the SDK reports a connection error as it always does."""

    def __init__(self, cause: BaseException | None) -> None:
        super().__init__(str(cause) if cause is not None else "upstream unreachable")
        self.cause = cause


def _interrupted(connection: BaseException | None) -> APIError:
    detail = f": {type(connection).__name__}" if connection is not None else ""
    return APIError(
        f"the upstream stream broke off and could not be resumed{detail}",
        status=200,
        error_type="api_error",
    )
