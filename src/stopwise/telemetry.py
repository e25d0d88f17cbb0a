"""OpenTelemetry spans of finished requests, opt-in (``pip install 'stopwise[otel]'``).

One ``chat {model}`` span (kind CLIENT) per request and one child per upstream round, made after
the fact from the finisher's :class:`~stopwise.finisher.Report` with the times its ledger's clock
took, so the sans-I/O engine never sees OpenTelemetry. Attribute names follow the GenAI semantic
conventions (https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/); ``stopwise.*``
ones say what the conventions have no word for. Like any instrumented library, the spans go to
the tracer provider the application set; with none set (or the package absent) nothing is built.

Message content is recorded only when asked (``Policy(trace_content=True)`` or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``); headers, and so keys, never are.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import orjson

from ._version import __version__
from .finisher import Report, RoundReport
from .outcome import normalize_stop_reason

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

try:
    from opentelemetry import trace
except ImportError:  # the extra is not installed: no spans, and no cost
    trace = None  # type: ignore[assignment]

__all__ = ["CONTENT_ENV", "Tracing", "tracing"]

CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "responses": "openai"}


def tracing(provider: TracerProvider | None = None, *, content: bool = False) -> Tracing | None:
    """What records spans, or None when OpenTelemetry is not installed. ``provider``: a tracer
    provider of the caller's; None: the global one, looked up at each request (an application
    usually sets it after building its clients)."""
    if trace is None:
        return None
    return Tracing(provider, content=content or os.environ.get(CONTENT_ENV, "").lower() == "true")


class Tracing:
    def __init__(self, provider: TracerProvider | None, *, content: bool) -> None:
        self.provider = provider
        self.content = content

    def _tracer(self) -> Tracer | None:
        provider = self.provider or trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            return None  # nobody set one: spans would go nowhere
        return provider.get_tracer("stopwise", __version__)

    @property
    def active(self) -> bool:
        """A provider is there to take spans (the caller's, or a global one set by now)."""
        return self.provider is not None or not isinstance(
            trace.get_tracer_provider(), trace.ProxyTracerProvider
        )

    def record(
        self,
        report: Report,
        *,
        request: bytes | None = None,
        response: bytes | None = None,
        exc: BaseException | None = None,
    ) -> None:
        """The spans of one request. ``request``/``response``: its bodies, read only when content
        is recorded; ``exc``: what the transport raised to its caller, if it did."""
        tracer = self._tracer()
        if tracer is None:
            return
        start = _ns(report.started)
        span = tracer.start_span(
            f"chat {report.model}".strip(),
            kind=trace.SpanKind.CLIENT,
            start_time=start,
            attributes=_request_attributes(report),
        )
        context = trace.set_span_in_context(span)
        for index, rnd in enumerate(report.rounds):
            child = tracer.start_span(
                f"round {index + 1} {rnd.mode}",
                context=context,
                kind=trace.SpanKind.INTERNAL,
                start_time=_ns(rnd.started) or start,
                attributes=_round_attributes(rnd, report.dialect),
            )
            child.end(end_time=_ns(rnd.ended))
        if self.content:
            _content(span, request, response)
        if report.error is not None or exc is not None:
            error = report.error or type(exc).__name__
            span.set_attribute("error.type", error)
            if exc is not None:
                span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, error))
        span.end(end_time=_ns(report.ended))


def _ns(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1e9)


def _request_attributes(report: Report) -> dict[str, Any]:
    provider = _PROVIDER.get(report.dialect, report.dialect)
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        # The older name and the newer one: backends read either, depending on their version.
        "gen_ai.system": provider,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": report.model,
        "gen_ai.usage.input_tokens": report.usage.input_tokens,
        "gen_ai.usage.output_tokens": report.usage.output_tokens,
        "stopwise.rounds": len(report.rounds),
        "stopwise.state": report.state.value,
        "stopwise.retries": report.retries,
        "stopwise.transparent": report.transparent,
        "stopwise.stream": report.stream,
        "stopwise.cancelled": report.cancelled,
    }
    optional: dict[str, Any] = {
        "gen_ai.request.max_tokens": report.max_tokens,
        "gen_ai.response.id": report.response_id,
        "gen_ai.response.model": report.response_model,
    }
    attrs.update({k: v for k, v in optional.items() if v is not None})
    reasons = [r for r in report.stop_reasons if r is not None]
    if reasons:
        attrs["gen_ai.response.finish_reasons"] = reasons
    if report.notes:
        attrs["stopwise.notes"] = list(report.notes)
    return attrs


def _round_attributes(rnd: RoundReport, dialect: str) -> dict[str, Any]:
    # Tokens under stopwise.* names, not gen_ai.usage.*: a backend that sums usage over a trace
    # would count each round twice, once here and once in the request span's total.
    attrs: dict[str, Any] = {
        "gen_ai.provider.name": _PROVIDER.get(dialect, dialect),
        "stopwise.round.mode": rnd.mode,
        "stopwise.round.state": rnd.state.value,
        "stopwise.round.stop_reason.normalized": normalize_stop_reason(rnd.stop_reason).value,
        "stopwise.round.input_tokens": rnd.input_tokens,
        "stopwise.round.output_tokens": rnd.output_tokens,
        "stopwise.round.retries": rnd.retries,
    }
    if rnd.stop_reason is not None:
        attrs["stopwise.round.stop_reason"] = rnd.stop_reason
    if rnd.max_tokens is not None:
        attrs["stopwise.round.max_tokens"] = rnd.max_tokens
    if rnd.notes:
        attrs["stopwise.round.notes"] = list(rnd.notes)
    return attrs


def _content(span: Span, request: bytes | None, response: bytes | None) -> None:
    """The conversation asked and the answer given, as JSON strings in the wire's own shape
    (``gen_ai.input.messages`` / ``gen_ai.output.messages``). Bodies only: headers are never
    read here. A streamed answer has no body to record."""
    body = _json(request)
    if isinstance(body, dict):
        messages = body.get("messages", body.get("input"))
        if messages is not None:
            span.set_attribute("gen_ai.input.messages", orjson.dumps(messages).decode())
        system = body.get("system", body.get("instructions"))
        if system is not None:
            span.set_attribute("gen_ai.system_instructions", orjson.dumps(system).decode())
    answer = _json(response)
    if isinstance(answer, dict):
        output = answer.get("content", answer.get("choices", answer.get("output")))
        if output is not None:
            span.set_attribute("gen_ai.output.messages", orjson.dumps(output).decode())


def _json(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
