"""The gateway's OpenTelemetry spans: the finisher's, for each request it forwards, sent to the
tracer provider set on its proxy (the global one otherwise; tests/test_telemetry.py runs that
path). Server-held and client keys never appear in a span, content only when enabled."""

from __future__ import annotations

from dataclasses import replace

import anthropic
import orjson
import pytest
from _gateway import POLICY, GatewayFactory, Running
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

SERVER_KEY = "sk-ant-server-5ecret"
CLIENT_KEY = "sk-client-5ecret"
PROMPT = "Write prose please"


def traced(gw: Running) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    gw.gateway.proxy.tracer_provider = provider
    return exporter


def split(spans: tuple[ReadableSpan, ...]) -> tuple[ReadableSpan, list[ReadableSpan]]:
    (top,) = [s for s in spans if s.parent is None]
    rounds = [s for s in spans if s.parent is not None and s.parent.span_id == top.context.span_id]
    assert len(rounds) == len(spans) - 1
    return top, rounds


def no_secret(spans: tuple[ReadableSpan, ...]) -> None:
    for span in spans:
        text = str(dict(span.attributes or {})) + str([dict(e.attributes or {}) for e in span.events])
        assert SERVER_KEY not in text and CLIENT_KEY not in text


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_a_rescued_answer_is_traced_round_by_round(gateway_factory: GatewayFactory, stream: bool) -> None:
    policy = replace(POLICY, trace_content=True)  # content on: still no key
    with gateway_factory(anthropic_api_key=SERVER_KEY, policy=policy) as gw:
        exporter = traced(gw)
        client = gw.anthropic(api_key=CLIENT_KEY)
        request = {
            "model": "claude-haiku-4-5",
            "max_tokens": 137,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        if stream:
            with client.messages.stream(**request) as events:  # type: ignore[arg-type]
                message = events.get_final_message()
        else:
            message = client.messages.create(**request)  # type: ignore[arg-type]
        (row,) = gw.wait_rows(1)  # written after the spans: both come from the same report
        spans = tuple(exporter.get_finished_spans())
    top, rounds = split(spans)
    attrs = dict(top.attributes or {})
    assert top.kind is SpanKind.CLIENT and top.name == "chat claude-haiku-4-5"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.response.id"] == message.id
    assert attrs["stopwise.rounds"] == row["rounds"] == len(rounds) > 1
    assert attrs["stopwise.state"] == row["state"] == "complete"
    assert [dict(s.attributes or {})["stopwise.round.mode"] for s in rounds] == orjson.loads(row["modes"])
    assert PROMPT in str(attrs["gen_ai.input.messages"])
    assert ("gen_ai.output.messages" in attrs) is not stream  # a stream has no body to record
    no_secret(spans)


def test_an_upstream_error_is_recorded(gw: Running) -> None:
    exporter = traced(gw)
    with pytest.raises(anthropic.InternalServerError):
        gw.anthropic(api_key=CLIENT_KEY).messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            messages=[{"role": "user", "content": PROMPT}],
            extra_headers={"x-sim-fault": "529"},
        )
    gw.wait_rows(1)
    top, rounds = split(tuple(exporter.get_finished_spans()))
    attrs = dict(top.attributes or {})
    assert top.status.status_code is StatusCode.ERROR and attrs["error.type"] == "overloaded_error"
    assert rounds == [] and attrs["stopwise.retries"] == POLICY.retry.max_retries
    assert PROMPT not in str(attrs)  # content is off by default
