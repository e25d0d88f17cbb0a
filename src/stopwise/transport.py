"""httpx2 transports that run the finisher, for the official SDKs::

    client = anthropic.Anthropic(http_client=stopwise.http_client())
    client = openai.OpenAI(http_client=stopwise.http_client())
    aclient = anthropic.AsyncAnthropic(http_client=stopwise.async_http_client())

``POST …/v1/messages`` and ``POST …/v1/chat/completions`` (streaming and not) go through the
finisher; every other request passes through untouched. The transports only drive the engine
(:mod:`stopwise.finisher.base`): they send, read, sleep and hand bytes back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn

import httpx2
import orjson

from .finisher import ModelMemory, Policy, Report, finisher_for
from .finisher.base import Finisher, _UpstreamUnreachable
from .finisher.effects import Emit, Failure, Finish, Forward, Head, Read, Send, Sleep, Start
from .telemetry import Tracing, tracing

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

__all__ = ["AsyncFinisherTransport", "FinisherTransport", "Observer", "async_http_client", "http_client"]

#: Called once per finished request with the finisher's :class:`~stopwise.finisher.Report`
#: (rounds, state, retries, usage, ``error``: what it gave up on, notes, request ids, and
#: ``cancelled``: the caller stopped reading a stream before its end).
#: The gateway's request log hangs here. It must not raise.
Observer = Callable[[Report], None]

# The most we read of a finished round's tail to keep its connection (see _close_upstream).
_DRAIN_LIMIT = 65536


def _report(
    finisher: Finisher,
    observer: Observer | None,
    tracing: Tracing | None,
    request: httpx2.Request,
    *,
    cancelled: bool,
    response: bytes | None = None,
    exc: BaseException | None = None,
) -> None:
    if tracing is not None and not tracing.active:
        tracing = None  # no provider set: no report built for spans nobody takes
    if observer is None and tracing is None:
        return
    finisher.cancelled = cancelled
    report = finisher.report()
    if tracing is not None:
        tracing.record(report, request=request.content, response=response, exc=exc)
    if observer is not None:
        observer(report)


def _unreachable(exc: _UpstreamUnreachable, request: httpx2.Request) -> NoReturn:
    """No upstream response ever came: the transport error itself, as the SDK expects."""
    if exc.cause is not None:
        raise exc.cause from None
    raise httpx2.ConnectError("upstream unreachable", request=request) from None


def _route(request: httpx2.Request) -> str | None:
    if request.method != "POST":
        return None
    path = request.url.path.rstrip("/")
    if path.endswith("/v1/messages"):
        return "anthropic"
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/v1/responses"):
        return "responses"
    return None


def _body_of(request: httpx2.Request) -> dict[str, Any] | None:
    try:
        body = orjson.loads(request.content)
    except (orjson.JSONDecodeError, httpx2.RequestNotRead):
        return None
    return body if isinstance(body, dict) else None


def _upstream_request(original: httpx2.Request, send: Send) -> httpx2.Request:
    # The caller's own body unchanged (a first round, usually): its bytes as they came, which
    # also spares a second copy of a large body in memory.
    data = original.content if send.caller else send.data or orjson.dumps(send.body)
    headers = httpx2.Headers(original.headers)  # the caller's, Host included
    headers.pop("transfer-encoding", None)
    headers["content-length"] = str(len(data))
    # We read and re-write bodies, so ask for them uncompressed.
    headers["accept-encoding"] = "identity"
    # ``stream=`` with the framing set here: ``content=`` would encode, read and re-frame the
    # body again, on every round.
    return httpx2.Request(
        original.method,
        original.url,
        headers=headers,
        stream=httpx2.ByteStream(data),
        extensions=original.extensions,
    )


def _response(effect: Finish | Start, request: httpx2.Request, stream: Any = None) -> httpx2.Response:
    if isinstance(effect, Finish) and stream is None:
        # Unread, like any transport's response (the client reads it): ``content=`` would
        # encode and read it here, four times the cost of the whole construction.
        headers = {**effect.headers, "content-length": str(len(effect.body))}
        stream = httpx2.ByteStream(effect.body)
        return httpx2.Response(effect.status, headers=headers, stream=stream, request=request)
    return httpx2.Response(effect.status, headers=effect.headers, stream=stream, request=request)


class FinisherTransport(httpx2.BaseTransport):
    def __init__(
        self,
        transport: httpx2.BaseTransport | None = None,
        *,
        policy: Policy | None = None,
        memory: ModelMemory | None = None,
        sleep: Callable[[float], None] = time.sleep,
        observer: Observer | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._inner = transport or httpx2.HTTPTransport()
        self.policy = policy or Policy()
        self.memory = memory or ModelMemory()
        self._sleep = sleep
        self.observer = observer
        # Spans of each request (stopwise.telemetry): None without OpenTelemetry installed.
        self.tracing = tracing(tracer_provider, content=self.policy.trace_content)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        dialect = _route(request)
        body = _body_of(request) if dialect else None
        if dialect is None or body is None:
            return self._inner.handle_request(request)
        finisher = finisher_for(dialect, body, policy=self.policy, memory=self.memory, source=request.content)
        del body  # the finisher keeps the bytes, not this: a long request is held once
        driver = _SyncDriver(self._inner, request, finisher, self._sleep, self.observer, self.tracing)
        return driver.until_response()

    def close(self) -> None:
        self._inner.close()


class _Reporting:
    """What both drivers do once a request ends: report it, once (observer and spans)."""

    finisher: Finisher
    observer: Observer | None
    tracing: Tracing | None
    request: httpx2.Request
    reported: bool

    def _done(
        self, *, cancelled: bool, response: bytes | None = None, exc: BaseException | None = None
    ) -> None:
        if not self.reported:
            self.reported = True
            _report(
                self.finisher,
                self.observer,
                self.tracing,
                self.request,
                cancelled=cancelled,
                response=response,
                exc=exc,
            )


class _SyncDriver(_Reporting):
    def __init__(
        self,
        inner: httpx2.BaseTransport,
        request: httpx2.Request,
        finisher: Finisher,
        sleep: Callable[[float], None],
        observer: Observer | None,
        tracing: Tracing | None,
    ) -> None:
        self.inner = inner
        self.request = request
        self.finisher = finisher
        self.engine = finisher.run()
        self.sleep = sleep
        self.observer = observer
        self.tracing = tracing
        self.reported = False
        self.upstream: httpx2.Response | None = None
        self.chunks: Iterator[bytes] | None = None

    def _send(self, value: Any) -> Any:
        try:
            return self.engine.send(value)
        except _UpstreamUnreachable as exc:
            _unreachable(exc, self.request)

    def _step(self, value: Any) -> Any:
        """Run the engine up to its next effect that is not I/O we do here."""
        return self._settle(self._send(value))

    def _settle(self, effect: Any) -> Any:
        """Do the I/O ``effect`` asks for, and what follows, up to an effect for the caller."""
        while True:
            if isinstance(effect, Send):
                self._close_upstream(drain=True)
                try:
                    self.upstream = self.inner.handle_request(_upstream_request(self.request, effect))
                except httpx2.TransportError as exc:
                    effect = self._send(Failure(exc))
                    continue
                self.chunks = iter(self.upstream.stream)  # type: ignore[arg-type]
                effect = self._send(
                    Head(self.upstream.status_code, {k.lower(): v for k, v in self.upstream.headers.items()})
                )
            elif isinstance(effect, Forward):
                return effect  # only in a stream, after its head: events() does it
            elif isinstance(effect, Read):
                if effect.emit:
                    return effect  # events() sends the bytes on, then reads
                effect = self._send(self._read())
            elif isinstance(effect, Sleep):
                self.sleep(effect.seconds)
                effect = self._send(None)
            else:
                return effect

    def until_response(self) -> httpx2.Response:
        try:
            effect = self._step(None)
        except BaseException as exc:
            self._close_upstream()
            self.engine.close()
            self._done(cancelled=False, exc=exc)
            raise
        if isinstance(effect, Finish):
            self._close_upstream()
            self._done(cancelled=False, response=effect.body)
            return _response(effect, self.request)
        assert isinstance(effect, Start)
        return _response(effect, self.request, stream=_SyncStream(self))

    def _read(self) -> bytes | Failure:
        assert self.chunks is not None
        try:
            return next(self.chunks, b"")
        except httpx2.TransportError as exc:
            return Failure(exc)

    def events(self) -> Iterator[bytes]:
        try:
            send = self.engine.send
            while True:
                effect = self._step(None)
                while type(effect) is Read or type(effect) is Forward:
                    yield effect.emit
                    # _read and _send, inlined: this is once per upstream read.
                    try:
                        value: Any = next(self.chunks, b"")  # type: ignore[arg-type]
                        if type(effect) is Forward:
                            take = effect.take
                            while value and take(value):
                                yield value
                                value = next(self.chunks, b"")  # type: ignore[arg-type]
                    except httpx2.TransportError as exc:
                        value = Failure(exc)
                    try:
                        effect = send(value)
                    except _UpstreamUnreachable as exc:
                        _unreachable(exc, self.request)
                    if type(effect) is not Forward and (type(effect) is not Read or not effect.emit):
                        effect = self._settle(effect)
                if isinstance(effect, Emit):
                    yield effect.data
                elif isinstance(effect, Finish):
                    self._close_upstream(drain=True)
                    self._done(cancelled=False)
                    return
        finally:
            self.close()

    def _close_upstream(self, *, drain: bool = False) -> None:
        if self.upstream is not None:
            if drain and self.chunks is not None:
                # A round the engine is done with usually has a few bytes left (message_stop,
                # [DONE]): reading them returns the connection to the pool instead of closing it.
                left = _DRAIN_LIMIT
                try:
                    for chunk in self.chunks:
                        left -= len(chunk)
                        if left <= 0:
                            break
                except httpx2.TransportError:
                    left = 0  # a broken tail changes nothing: the round is over; just close
            self.upstream.close()
            self.upstream = None

    def close(self) -> None:
        self._close_upstream()
        self.engine.close()
        self._done(cancelled=True)  # a no-op when the stream already finished


class _SyncStream(httpx2.SyncByteStream):
    def __init__(self, driver: _SyncDriver) -> None:
        self._driver = driver

    def __iter__(self) -> Iterator[bytes]:
        return self._driver.events()  # not wrapped in a generator of its own: a hop per chunk

    def close(self) -> None:
        self._driver.close()


class AsyncFinisherTransport(httpx2.AsyncBaseTransport):
    def __init__(
        self,
        transport: httpx2.AsyncBaseTransport | None = None,
        *,
        policy: Policy | None = None,
        memory: ModelMemory | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        observer: Observer | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._inner = transport or httpx2.AsyncHTTPTransport()
        self.policy = policy or Policy()
        self.memory = memory or ModelMemory()
        self._sleep = sleep
        self.observer = observer
        # Spans of each request (stopwise.telemetry): None without OpenTelemetry installed.
        self.tracing = tracing(tracer_provider, content=self.policy.trace_content)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        dialect = _route(request)
        if dialect is not None:
            await request.aread()
        body = _body_of(request) if dialect else None
        if dialect is None or body is None:
            return await self._inner.handle_async_request(request)
        finisher = finisher_for(dialect, body, policy=self.policy, memory=self.memory, source=request.content)
        del body  # the finisher keeps the bytes, not this: a long request is held once
        driver = _AsyncDriver(self._inner, request, finisher, self._sleep, self.observer, self.tracing)
        return await driver.until_response()

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncDriver(_Reporting):
    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        request: httpx2.Request,
        finisher: Finisher,
        sleep: Callable[[float], Any],
        observer: Observer | None,
        tracing: Tracing | None,
    ) -> None:
        self.inner = inner
        self.request = request
        self.finisher = finisher
        self.engine = finisher.run()
        self.sleep = sleep
        self.observer = observer
        self.tracing = tracing
        self.reported = False
        self.upstream: httpx2.Response | None = None
        self.chunks: AsyncIterator[bytes] | None = None

    def _send(self, value: Any) -> Any:
        try:
            return self.engine.send(value)
        except _UpstreamUnreachable as exc:
            _unreachable(exc, self.request)

    async def _step(self, value: Any) -> Any:
        return await self._settle(self._send(value))

    async def _settle(self, effect: Any) -> Any:
        """See _SyncDriver._settle."""
        while True:
            if isinstance(effect, Send):
                await self._close_upstream(drain=True)
                try:
                    self.upstream = await self.inner.handle_async_request(
                        _upstream_request(self.request, effect)
                    )
                except httpx2.TransportError as exc:
                    effect = self._send(Failure(exc))
                    continue
                self.chunks = aiter(self.upstream.stream)  # type: ignore[arg-type]
                effect = self._send(
                    Head(self.upstream.status_code, {k.lower(): v for k, v in self.upstream.headers.items()})
                )
            elif isinstance(effect, Forward):
                return effect  # only in a stream, after its head: events() does it
            elif isinstance(effect, Read):
                if effect.emit:
                    return effect  # events() sends the bytes on, then reads
                effect = self._send(await self._read())
            elif isinstance(effect, Sleep):
                await self.sleep(effect.seconds)
                effect = self._send(None)
            else:
                return effect

    async def until_response(self) -> httpx2.Response:
        try:
            effect = await self._step(None)
        except BaseException as exc:
            # Cancelled (the gateway's client went away) or failed: release the upstream now.
            await self._close_upstream()
            self.engine.close()
            cancelled = isinstance(exc, asyncio.CancelledError)
            self._done(cancelled=cancelled, exc=None if cancelled else exc)
            raise
        if isinstance(effect, Finish):
            await self._close_upstream()
            self._done(cancelled=False, response=effect.body)
            return _response(effect, self.request)
        assert isinstance(effect, Start)
        return _response(effect, self.request, stream=_AsyncStream(self))

    async def _read(self) -> bytes | Failure:
        assert self.chunks is not None
        try:
            return await anext(self.chunks, b"")
        except httpx2.TransportError as exc:
            return Failure(exc)

    async def events(self) -> AsyncIterator[bytes]:
        try:
            send = self.engine.send
            while True:
                effect = await self._step(None)
                while type(effect) is Read or type(effect) is Forward:
                    yield effect.emit
                    # _read and the engine's next step, inlined: once per upstream read.
                    try:
                        value: Any = await anext(self.chunks, b"")  # type: ignore[arg-type]
                        if type(effect) is Forward:
                            take = effect.take
                            while value and take(value):
                                yield value
                                value = await anext(self.chunks, b"")  # type: ignore[arg-type]
                    except httpx2.TransportError as exc:
                        value = Failure(exc)
                    try:
                        effect = send(value)
                    except _UpstreamUnreachable as exc:
                        _unreachable(exc, self.request)
                    if type(effect) is not Forward and (type(effect) is not Read or not effect.emit):
                        effect = await self._settle(effect)
                if isinstance(effect, Emit):
                    yield effect.data
                elif isinstance(effect, Finish):
                    await self._close_upstream(drain=True)
                    self._done(cancelled=False)
                    return
        finally:
            await self.aclose()

    async def _close_upstream(self, *, drain: bool = False) -> None:
        if self.upstream is not None:
            if drain and self.chunks is not None:
                # See _SyncDriver._close_upstream: keep the connection for the next round.
                left = _DRAIN_LIMIT
                try:
                    async for chunk in self.chunks:
                        left -= len(chunk)
                        if left <= 0:
                            break
                except httpx2.TransportError:
                    left = 0  # a broken tail changes nothing: the round is over; just close
            await self.upstream.aclose()
            self.upstream = None

    async def aclose(self) -> None:
        await self._close_upstream()
        self.engine.close()
        self._done(cancelled=True)  # a no-op when the stream already finished


class _AsyncStream(httpx2.AsyncByteStream):
    def __init__(self, driver: _AsyncDriver) -> None:
        self._driver = driver

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._driver.events()  # not wrapped in a generator of its own: a hop per chunk

    async def aclose(self) -> None:
        await self._driver.aclose()


def http_client(
    *,
    policy: Policy | None = None,
    transport: httpx2.BaseTransport | None = None,
    observer: Observer | None = None,
    tracer_provider: TracerProvider | None = None,
    memory: ModelMemory | None = None,
    **kwargs: Any,
) -> httpx2.Client:
    """An httpx2 client for ``anthropic.Anthropic(http_client=…)`` / ``openai.OpenAI(…)``.
    Extra keyword arguments go to ``httpx2.Client`` (timeouts, limits…). ``tracer_provider``:
    where OpenTelemetry spans go (default: the global one, when set; docs/telemetry.md).
    ``memory``: what 400s taught about models, to share between clients (default: this
    client's own)."""
    kwargs.setdefault("timeout", httpx2.Timeout(600.0, connect=5.0))
    inner = FinisherTransport(
        transport, policy=policy, observer=observer, tracer_provider=tracer_provider, memory=memory
    )
    return httpx2.Client(transport=inner, **kwargs)


def async_http_client(
    *,
    policy: Policy | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    observer: Observer | None = None,
    tracer_provider: TracerProvider | None = None,
    memory: ModelMemory | None = None,
    **kwargs: Any,
) -> httpx2.AsyncClient:
    kwargs.setdefault("timeout", httpx2.Timeout(600.0, connect=5.0))
    inner = AsyncFinisherTransport(
        transport, policy=policy, observer=observer, tracer_provider=tracer_provider, memory=memory
    )
    return httpx2.AsyncClient(transport=inner, **kwargs)
