"""The round loop both dialects share: send, read, retry, resume, decide, finish.

:class:`Finisher` owns what is the same for every wire: which errors are retried and after how
long, what a 400 teaches about the model, when a broken stream is resumed, the bounds (rounds of
every kind, output tokens), and how the caller is told what happened (``x-stopwise-*`` headers, or
a final ``stopwise`` event on streams, and the frozen :class:`~.report.Report`). A
:class:`~.dialect.Dialect` strategy says what the next request is, how a round merges into the
answer and how the stream is rewritten. The loop is a generator of effects
(:mod:`stopwise.finisher.effects`); only its drivers touch sockets and clocks.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from dataclasses import replace
from typing import Any

from ..dialects import error_from_response
from ..errors import STATUS_OF_TYPE, APIError
from ..outcome import Outcome, State
from ..sse import SSEDecoder
from .dialect import Dialect, Plan
from .effects import Emit, Failure, Finish, Forward, Head, Read, Send, Sleep, Start
from .models import ceiling_from_error, is_prefill_rejection, is_trailing_whitespace_rejection
from .policy import RetryPolicy
from .report import Report, RoundReport

__all__ = ["Engine", "Finisher", "Plan"]

Effect = Send | Read | Forward | Sleep | Start | Emit | Finish
_READ = Read()
Engine = Generator[Effect, Any, None]

# Headers of an upstream response that describe its body, which we replace.
_BODY_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding", "content-type"})
# A body handed on unchanged keeps its own content-length; these describe the connection.
_HOP_HEADERS = frozenset({"transfer-encoding", "connection", "keep-alive"})

# Mid-stream and 200-body errors carry no HTTP status: what they say decides. Types that name a
# passing fault, across Anthropic, OpenAI and the relays in front of them (LiteLLM writes
# internal_server_error, one-api/new-api upstream_error and the like).
_PASSING_TYPES = frozenset(
    {
        "overloaded_error",
        "api_error",
        "internal_server_error",
        "server_error",
        "service_unavailable",
        "service_unavailable_error",
        "timeout_error",
        "timeout",
        "rate_limit_error",
        "rate_limit_exceeded",
        "upstream_error",
        "bad_gateway",
        "gateway_timeout",
        "internal_error",
        "overloaded",
    }
)
_FINAL_TYPES = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "permission_denied",
        "not_found_error",
        "billing_error",
        "request_too_large",
        "insufficient_quota",
        "invalid_api_key",
        "context_length_exceeded",
        "content_filter",
        "content_policy_violation",
    }
)


def status_of(err: APIError) -> int | None:
    """A status-like value an error body carries (``code: "500"``, ``status: 529``)."""
    candidates: list[object] = [err.code]
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error")
        for holder in (body, inner if isinstance(inner, dict) else {}):
            candidates += [holder.get("status"), holder.get("status_code")]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
            return value
        if isinstance(value, str) and value.isdigit() and 100 <= int(value) <= 599:
            return int(value)
    return None


def passing(err: APIError, retry: RetryPolicy) -> bool:
    """Whether waiting and asking again can help."""
    if err.should_retry is not None:
        return err.should_retry
    if err.spend_limit:
        return False
    if not err.mid_stream:
        return retry.retryable_status(err.status)
    said = status_of(err)
    if said is not None:
        return retry.retryable_status(said)
    # A known passing type, or one we do not know: an error after the 200 is a fault of the
    # moment far more often than of the request (which was accepted); retries are bounded.
    return (err.error_type or "").lower() not in _FINAL_TYPES


class Finisher:
    def __init__(self, dialect: Dialect, *, rand: Callable[[], float] = random.random) -> None:
        self.dialect = dialect
        self.ledger = dialect.ledger
        # The ledger's: a dialect may narrow the caller's policy (OpenAI's n > 1 is not resumed).
        self.policy = dialect.ledger.policy
        self.memory = dialect.ledger.memory
        self.rand = rand
        self.started = False  # the downstream stream head went out
        self.upstream_headers: dict[str, str] = {}
        self.request_ids: list[str] = []
        self.gave_up_with: str | None = None
        self.cancelled = False
        self.started_at = self.ledger.clock()
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.max_tokens: int | None = None  # the first plan's: the caller's
        # The round under way: when its first attempt went out, and the counts it starts from.
        self._round_started: float | None = None
        self._retries_seen = 0
        self._notes_seen = 0
        self._round_open = False  # the last round counted may still be given notes

    # Read by the transports and the gateway.
    @property
    def model(self) -> str:
        return self.ledger.model

    @property
    def stream(self) -> bool:
        return self.ledger.stream

    @property
    def name(self) -> str:
        return self.dialect.name

    # -- the loop -----------------------------------------------------------------------------
    def run(self) -> Engine:
        led = self.ledger
        plan: Plan | None = self.dialect.first_plan()
        attempts = 0
        assert plan is not None
        self.max_tokens = plan.max_tokens
        while True:
            assert plan is not None
            self._settle_round_notes()
            if self._round_started is None:
                self._round_started = led.clock()
            # Serialized now, the parsed request let go: what a round holds while it runs is its
            # bytes (and the caller's), not the conversation as objects too.
            plan.freeze()
            self.dialect.let_go()
            head = yield Send(plan.body, plan.caller, plan.data)
            if isinstance(head, Failure):
                delay = self._retry_delay(None, attempts)
                if delay is None:
                    yield from self._give_up(None, connection=head.error)
                    return
                attempts += 1
                led.retries += 1
                yield Sleep(delay)
                continue
            assert isinstance(head, Head)
            rid = head.headers.get("request-id") or head.headers.get("x-request-id")
            if rid:
                self.request_ids.append(rid)
            http_err: APIError | None = None
            raw = b""
            if head.status >= 400:
                got = yield from self._read_all()
                raw = got if isinstance(got, bytes) else b""
                http_err = error_from_response(head.status, raw, head.headers)
            elif not plan.body.get("stream") or _json_body(head):
                # A body, or a stream request answered with JSON (a relay's error): read whole.
                got = yield from self._read_all()
                if isinstance(got, bytes):
                    raw = got
                    http_err = self.dialect.body_error(raw, head.headers)
            if http_err is not None:
                # An HTTP error, or a 200 that carries an error body (which is that error).
                replanned = self._replan_for(http_err, plan)
                if replanned is not None:
                    plan = replanned
                    continue
                delay = self._retry_delay(http_err, attempts)
                if delay is not None:
                    attempts += 1
                    led.retries += 1
                    yield Sleep(delay)
                    continue
                yield from self._give_up(http_err, head=head, raw=raw)
                return
            if not self.upstream_headers:
                self.upstream_headers = head.headers
            self.dialect.begin_round(plan)
            failure: BaseException | None = None
            if plan.body.get("stream"):
                if led.stream and not self.started:
                    yield Start(200, self._headers(head.headers, streaming=True))
                    self.started = True
                decoder = SSEDecoder()
                feed = self.dialect.feed
                ahead = raw  # what was read already (a JSON answer to a stream request)
                # What one upstream read releases goes out with the next Read (one effect per
                # read: the hot path of every stream), or as an Emit when the round ends.
                release = b""
                take_plain, round_done = self.dialect.take_plain, self.dialect.round_done
                while not round_done():
                    if ahead:
                        chunk, ahead = ahead, b""
                    else:
                        chunk = yield Read(release) if release else _READ
                        release = b""
                    # A plain text delta cannot end the round: the driver reads on and passes
                    # them on itself, and hands back the first chunk that is not one. The
                    # decoder sees none of them, so it stays idle while they last.
                    if decoder.idle and type(chunk) is bytes and chunk and take_plain(chunk):
                        chunk = yield Forward(chunk, take_plain)
                    if isinstance(chunk, Failure):
                        failure = chunk.error
                        break
                    if not chunk:
                        last = decoder.flush()
                        if last is not None:
                            release = b"".join(feed(last, None))
                        break
                    events = decoder.decode(chunk)
                    if decoder.exact:
                        release = b"".join(feed(events[0], chunk))
                    elif events:
                        release = b"".join([data for event in events for data in feed(event, None)])
                if release:
                    yield Emit(release)
                outcome = self.dialect.stream_outcome()
            elif isinstance(got, Failure):
                failure = got.error
                outcome = self.dialect.body_outcome(b"")
            else:
                outcome = self.dialect.body_outcome(raw)
            self._count(outcome, plan)

            if outcome.state in (State.INTERRUPTED, State.FAILED):
                err: APIError | None = outcome.error
                delay = self._retry_delay(err, attempts) if self.policy.resume_interrupted else None
                before = self.dialect.answer_size()
                self.dialect.absorb(outcome, plan, partial=True)
                if delay is None or not led.rounds_left():
                    yield from self._emit(self.dialect.conclude(None, failed=True))
                    yield from self._give_up(err, connection=failure, head=head, raw=raw)
                    return
                # A round that broke off after making progress is not the same failure again:
                # the round bound still applies, the retry count starts over.
                attempts = 1 if self.dialect.answer_size() > before else attempts + 1
                led.retries += 1
                yield Sleep(delay)
                plan = self.dialect.resume_plan(plan)
                yield from self._emit(self.dialect.conclude(plan, failed=True))
                if plan is None:
                    yield from self._give_up(err, connection=failure, head=head, raw=raw)
                    return
                continue
            attempts = 0
            self.dialect.absorb(outcome, plan, partial=False)
            if led.rounds_left():
                nxt = self.dialect.next_plan(outcome, plan)
            else:
                nxt = None
                self.dialect.out_of_rounds(outcome)
            yield from self._emit(self.dialect.conclude(nxt, failed=False))
            if nxt is None:
                yield from self._finish()
                return
            plan = nxt

    def _emit(self, data: bytes) -> Generator[Effect, Any, None]:
        if data and self.started:
            yield Emit(data)

    def _read_all(self) -> Generator[Effect, Any, bytes | Failure]:
        parts: list[bytes] = []
        while True:
            chunk = yield _READ
            if isinstance(chunk, Failure):
                return chunk
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    def _count(self, outcome: Outcome, plan: Plan) -> None:
        led = self.ledger
        led.usage = led.usage + outcome.usage
        if self.response_id is None:
            # Every dialect's reconstructed message is its wire's envelope (Message,
            # ChatCompletion, Response): the upstream's own id and model.
            rid, model = outcome.message.get("id"), outcome.message.get("model")
            self.response_id = rid if isinstance(rid, str) else None
            self.response_model = model if isinstance(model, str) else None
        led.rounds.append(
            RoundReport(
                plan.mode,
                outcome.stop.raw,
                outcome.state,
                outcome.usage.output_tokens,
                plan.max_tokens,
                input_tokens=outcome.usage.input_tokens,
                retries=led.retries - self._retries_seen,
                started=self._round_started,
                ended=led.clock(),
                notes=tuple(led.notes[self._notes_seen :]),  # what reading it noted (a restart)
            )
        )
        self._round_started = None
        self._retries_seen = led.retries
        self._notes_seen = len(led.notes)
        self._round_open = True

    def _settle_round_notes(self) -> None:
        """Give the round just counted the notes added since: its merge (seam repair) and the
        decision that followed come after :meth:`_count`. Once: what a retry notes next belongs
        to the round that retry brings."""
        led = self.ledger
        if self._round_open and len(led.notes) > self._notes_seen:
            last = led.rounds[-1]
            led.rounds[-1] = replace(last, notes=(*last.notes, *led.notes[self._notes_seen :]))
            self._notes_seen = len(led.notes)
        self._round_open = False

    # -- errors ---------------------------------------------------------------------------------
    def _replan_for(self, err: APIError, plan: Plan) -> Plan | None:
        """A 400 that says what to change: re-plan the same round once instead of failing."""
        if err.status != 400 or plan.replanned:
            return None
        if plan.mode == "initial":
            # The caller's own request: only a ceiling we ourselves raised can be wrong, and the
            # first round keeps the caller's max_tokens.
            return None
        if is_prefill_rejection(err.message) and plan.prefill:
            self.memory.forbid_prefill(self.model)
            new = self.dialect.replan_without_prefill(plan)
        elif is_trailing_whitespace_rejection(err.message):
            new = self.dialect.replan_without_prefill(plan)
        else:
            ceiling = ceiling_from_error(err.message)
            if ceiling is None:
                return None
            self.memory.learn_ceiling(self.model, ceiling)
            cut = self.dialect.with_max_tokens(plan, ceiling)
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
            if not passing(err, rp):
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
        led = self.ledger
        if err is not None:
            self.gave_up_with = err.error_type or err.code or f"http_{err.status}"
        elif connection is not None:
            self.gave_up_with = type(connection).__name__
        if self.started:
            yield Emit(
                self.dialect.close_stream(
                    err if err is not None else _interrupted(connection), self.summary()
                )
            )
            yield Finish(200, {})
            return
        if self.dialect.has_content():
            # What we have is worth more than the error: the answer so far, with its honest
            # stop reason and state, and the error named in the headers.
            headers = self._headers(self.upstream_headers, streaming=False)
            if err is not None:
                headers["x-stopwise-error"] = f"{err.status} {err.error_type or ''}".strip()
            elif connection is not None:
                headers["x-stopwise-error"] = type(connection).__name__
            yield Finish(200, headers, self.dialect.final_body())
            return
        if head is not None and (head.status >= 400 or (err is not None and raw)):
            # Nothing generated yet: hand the caller the upstream's own error, untouched but for
            # telling its SDK not to retry (the finisher owns retries). A 200 that carried an
            # error body goes back with the status the error names.
            status = head.status
            if status < 400 and err is not None:
                status = status_of(err) or STATUS_OF_TYPE.get(err.error_type or "", 502)
            headers = {k: v for k, v in head.headers.items() if k not in _HOP_HEADERS}
            headers["x-should-retry"] = "false"
            headers["x-stopwise-retries"] = str(led.retries)
            yield Finish(status, headers, raw)
            return
        raise _UpstreamUnreachable(connection)

    def _finish(self) -> Generator[Effect, Any, None]:
        if self.started:
            yield Emit(self.dialect.close_stream(None, self.summary()))
            yield Finish(200, {})
            return
        body = self.dialect.final_body()
        if self.dialect.transparent():
            # One round that needed nothing: the upstream's own body and headers.
            headers = {k: v for k, v in self.upstream_headers.items() if k not in _HOP_HEADERS}
            headers.update(self._stopwise_headers())
            yield Finish(200, headers, body)
            return
        yield Finish(200, self._headers(self.upstream_headers, streaming=False), body)

    # -- what happened ----------------------------------------------------------------------------
    def report(self) -> Report:
        led = self.ledger
        self._settle_round_notes()
        return Report(
            dialect=self.dialect.name,
            model=led.model,
            stream=led.stream,
            rounds=tuple(led.rounds),
            state=self.dialect.final_state(),
            retries=led.retries,
            usage=led.usage,
            error=self.gave_up_with,
            notes=tuple(led.notes),
            request_ids=tuple(self.request_ids),
            cancelled=self.cancelled,
            transparent=self.dialect.transparent(),
            response_id=self.response_id,
            response_model=self.response_model,
            max_tokens=self.max_tokens,
            started=self.started_at,
            ended=led.clock(),
        )

    def summary(self) -> dict[str, Any]:
        return self.report().to_dict()

    def _stopwise_headers(self) -> dict[str, str]:
        led = self.ledger
        headers = {
            "x-stopwise": "finisher",
            "x-stopwise-rounds": str(len(led.rounds)),
            "x-stopwise-modes": ",".join(r.mode for r in led.rounds),
            "x-stopwise-stop-reasons": ",".join(r.stop_reason or "none" for r in led.rounds),
            "x-stopwise-state": self.dialect.final_state().value,
            "x-stopwise-retries": str(led.retries),
        }
        if led.notes:
            headers["x-stopwise-notes"] = "; ".join(led.notes)
        return headers

    def _headers(self, upstream: dict[str, str], *, streaming: bool) -> dict[str, str]:
        headers = {k: v for k, v in upstream.items() if k not in _BODY_HEADERS}
        if streaming:
            headers["content-type"] = upstream.get("content-type") or "text/event-stream; charset=utf-8"
            headers["x-stopwise"] = "finisher"
        else:
            headers["content-type"] = "application/json"
            headers.update(self._stopwise_headers())
        return headers


def _json_body(head: Head) -> bool:
    return head.headers.get("content-type", "").split(";")[0].strip() == "application/json"


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
