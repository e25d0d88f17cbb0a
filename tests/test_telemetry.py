"""OpenTelemetry spans of the transports, through the official SDKs against the simulator on
127.0.0.1, read back with the SDK's in-memory exporter. Each test has its own tracer provider,
handed to ``stopwise.http_client(tracer_provider=…)``: the global one is set once per process,
so the global path runs in a subprocess of its own."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import stopwise
from stopwise.finisher import Policy, Report, RetryPolicy, RoundReport
from stopwise.outcome import State, Usage
from stopwise.sim import running
from stopwise.telemetry import CONTENT_ENV, Tracing

# The default growth of max_tokens: a handful of rounds from a small cap.
POLICY = Policy(retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))
KEY = "sk-test-5ecret-never-in-a-span"
PROMPT = "Write prose please"
CAP = 60


class Spans:
    """A tracer provider of the test's own, and what it exported."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    @property
    def all(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.exporter.get_finished_spans())

    def request(self) -> ReadableSpan:
        (span,) = [s for s in self.all if s.parent is None]
        return span

    def rounds(self) -> list[ReadableSpan]:
        top = self.request()
        children = [s for s in self.all if s.parent is not None]
        assert all(s.parent is not None and s.parent.span_id == top.context.span_id for s in children)
        return sorted(children, key=lambda s: s.start_time or 0)


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with running() as url:
        yield url


@pytest.fixture
def spans() -> Spans:
    return Spans()


def client(spans: Spans, reports: list[Report], policy: Policy = POLICY) -> httpx2.Client:
    return stopwise.http_client(policy=policy, tracer_provider=spans.provider, observer=reports.append)


def ask_anthropic(url: str, http: httpx2.Client, **extra: Any) -> anthropic.types.Message:
    sdk = anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0, http_client=http)
    return sdk.messages.create(
        model="claude-haiku-4-5",
        max_tokens=CAP,
        messages=[{"role": "user", "content": PROMPT}],
        **extra,
    )


def assert_matches(spans: Spans, report: Report) -> None:
    """The span tree says what the report says: one child per round, the same counts."""
    top = spans.request()
    attrs = dict(top.attributes or {})
    assert top.kind is SpanKind.CLIENT and top.name == f"chat {report.model}"
    assert top.instrumentation_scope is not None and top.instrumentation_scope.name == "stopwise"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == report.model
    assert attrs["gen_ai.usage.input_tokens"] == report.usage.input_tokens
    assert attrs["gen_ai.usage.output_tokens"] == report.usage.output_tokens
    assert attrs["stopwise.rounds"] == len(report.rounds)
    assert attrs["stopwise.state"] == report.state.value
    assert attrs["stopwise.retries"] == report.retries
    rounds = spans.rounds()
    assert len(rounds) == len(report.rounds)
    for span, rnd in zip(rounds, report.rounds, strict=True):
        got = dict(span.attributes or {})
        assert got["stopwise.round.mode"] == rnd.mode
        assert got.get("stopwise.round.stop_reason") == rnd.stop_reason
        assert got["stopwise.round.output_tokens"] == rnd.output_tokens
        assert got["stopwise.round.input_tokens"] == rnd.input_tokens
        assert got.get("stopwise.round.max_tokens") == rnd.max_tokens
        assert list(got.get("stopwise.round.notes", ())) == list(rnd.notes)
        assert not any(name.startswith("gen_ai.usage") for name in got)  # counted once, on top
        assert top.start_time is not None and span.start_time is not None and span.end_time is not None
        assert top.start_time <= span.start_time <= span.end_time


def no_key_anywhere(spans: Spans) -> None:
    for span in spans.all:
        for value in (span.attributes or {}).values():
            assert KEY not in str(value)
        for event in span.events:
            assert KEY not in str(dict(event.attributes or {}))


def test_a_continued_answer_is_one_request_span_with_a_child_per_round(sim_url: str, spans: Spans) -> None:
    reports: list[Report] = []
    with client(spans, reports) as http:
        message = ask_anthropic(sim_url, http)
    (report,) = reports
    assert len(report.rounds) >= 2 and report.state is State.COMPLETE
    assert_matches(spans, report)
    attrs = dict(spans.request().attributes or {})
    assert attrs["gen_ai.system"] == attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.max_tokens"] == CAP
    assert attrs["gen_ai.response.id"] == message.id
    assert attrs["gen_ai.response.model"] == message.model
    assert list(attrs["gen_ai.response.finish_reasons"]) == report.stop_reasons
    assert report.modes[0] == "initial" and "initial" not in report.modes[1:]
    assert spans.request().status.status_code is StatusCode.UNSET
    no_key_anywhere(spans)


def test_async_openai_stream_has_its_rounds_too(sim_url: str, spans: Spans) -> None:
    reports: list[Report] = []

    async def main() -> str:
        http = stopwise.async_http_client(
            policy=POLICY, tracer_provider=spans.provider, observer=reports.append
        )
        sdk = openai.AsyncOpenAI(base_url=f"{sim_url}/v1", api_key=KEY, max_retries=0, http_client=http)
        async with http:
            stream = await sdk.chat.completions.create(
                model="gpt-4o",
                max_tokens=CAP,
                messages=[{"role": "user", "content": PROMPT}],
                stream=True,
            )
            ids = {chunk.id async for chunk in stream}
        (one,) = ids
        return one

    response_id = asyncio.run(main())
    (report,) = reports
    assert len(report.rounds) >= 2
    assert_matches(spans, report)
    attrs = dict(spans.request().attributes or {})
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.response.id"] == response_id
    assert attrs["stopwise.stream"] is True
    no_key_anywhere(spans)


def test_retries_exhausted_record_the_error(sim_url: str, spans: Spans) -> None:
    reports: list[Report] = []
    with client(spans, reports) as http, pytest.raises(anthropic.APIStatusError):
        ask_anthropic(sim_url, http, extra_headers={"x-sim-fault": "529"})
    (report,) = reports
    top = spans.request()
    attrs = dict(top.attributes or {})
    assert top.status.status_code is StatusCode.ERROR
    assert report.error is not None and attrs["error.type"] == report.error
    assert attrs["stopwise.retries"] == POLICY.retry.max_retries and attrs["stopwise.rounds"] == 0
    assert spans.rounds() == []


def test_an_unreachable_upstream_records_the_exception(spans: Spans) -> None:
    reports: list[Report] = []
    # Port 9 on loopback (discard): nothing listens there in a test run.
    with client(spans, reports) as http, pytest.raises(anthropic.APIConnectionError):
        ask_anthropic("http://127.0.0.1:9", http)
    top = spans.request()
    assert top.status.status_code is StatusCode.ERROR
    assert [e.name for e in top.events] == ["exception"]
    assert dict(top.events[0].attributes or {})["exception.type"].endswith("ConnectError")


def test_content_is_absent_by_default(sim_url: str, spans: Spans, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONTENT_ENV, raising=False)
    with client(spans, []) as http:
        ask_anthropic(sim_url, http)
    for span in spans.all:
        assert not any("messages" in name for name in span.attributes or {})
        assert PROMPT not in str(dict(span.attributes or {}))


@pytest.mark.parametrize("how", ["policy", "env"])
def test_content_when_enabled(sim_url: str, spans: Spans, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    policy = POLICY
    if how == "policy":
        policy = Policy(retry=POLICY.retry, trace_content=True)
    else:
        monkeypatch.setenv(CONTENT_ENV, "true")
    with client(spans, [], policy) as http:
        message = ask_anthropic(sim_url, http)
    attrs = dict(spans.request().attributes or {})
    assert PROMPT in str(attrs["gen_ai.input.messages"])
    text = "".join(b.text for b in message.content if b.type == "text")
    assert text[:40] in str(attrs["gen_ai.output.messages"]).replace("\\n", "\n")
    no_key_anywhere(spans)


def test_the_global_provider_and_none(sim_url: str) -> None:
    """A subprocess: no provider set, no spans (and no error); then set, the spans go there."""
    code = textwrap.dedent(
        f"""
        import anthropic
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        import stopwise

        def ask():
            sdk = anthropic.Anthropic(base_url={sim_url!r}, api_key="x", http_client=stopwise.http_client())
            sdk.messages.create(model="claude-haiku-4-5", max_tokens=20,
                                messages=[{{"role": "user", "content": "hi"}}])

        ask()
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        ask()
        # The anthropic SDK makes a span of its own: ours is its child.
        ours = [s for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "stopwise"]
        top = [s for s in ours if s.name.startswith("chat")]
        assert len(top) == 1 and top[0].parent is not None
        print(len(ours) - 1 == top[0].attributes["stopwise.rounds"] > 0)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "True"


def test_stopwise_works_without_opentelemetry(sim_url: str) -> None:
    """``opentelemetry`` made unimportable: the transports work, and no tracing is built."""
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["opentelemetry"] = None
        import stopwise
        from stopwise.telemetry import tracing

        assert tracing() is None
        # httpx2 alone: the anthropic SDK imports opentelemetry itself.
        with stopwise.http_client() as http:
            assert http._transport.tracing is None
            got = http.post({sim_url!r} + "/v1/messages", headers={{"x-api-key": "x"}}, json={{
                "model": "claude-haiku-4-5", "max_tokens": 20,
                "messages": [{{"role": "user", "content": "hi"}}]}})
        print(got.status_code, got.headers["x-stopwise-state"])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "200 complete"


# -- any report ------------------------------------------------------------------------------------
_rounds = st.builds(
    RoundReport,
    mode=st.sampled_from(["initial", "continue", "prefill", "tool-retry", "pause", "resume"]),
    stop_reason=st.one_of(st.none(), st.sampled_from(["end_turn", "max_tokens", "length", "weird"])),
    state=st.sampled_from(list(State)),
    output_tokens=st.integers(0, 10**6),
    max_tokens=st.one_of(st.none(), st.integers(1, 10**5)),
    input_tokens=st.integers(0, 10**6),
    retries=st.integers(0, 5),
    started=st.just(1.7e9),
    ended=st.just(1.7e9 + 1),
    notes=st.lists(st.text(max_size=20), max_size=2).map(tuple),
)


@given(
    rounds=st.lists(_rounds, max_size=6).map(tuple),
    dialect=st.sampled_from(["anthropic", "openai", "responses"]),
    error=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
)
def test_any_report_makes_one_child_per_round(
    rounds: tuple[RoundReport, ...], dialect: str, error: str | None
) -> None:
    spans = Spans()
    usage = Usage(
        input_tokens=sum(r.input_tokens for r in rounds), output_tokens=sum(r.output_tokens for r in rounds)
    )
    report = Report(
        dialect, "m", False, rounds, State.COMPLETE, 0, usage, error=error, started=1.7e9, ended=1.7e9 + 2
    )
    Tracing(spans.provider, content=False).record(report)
    assert_matches(spans, report)
    top = spans.request()
    assert (top.status.status_code is StatusCode.ERROR) == (error is not None)
