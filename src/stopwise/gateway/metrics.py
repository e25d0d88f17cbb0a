"""Prometheus metrics at ``GET /metrics``, in the text exposition format (version 0.0.4),
written here rather than pulling in a client library for a few counters and histograms.

All updates happen on the event loop thread (one per process), so no locks are needed.
Label values that come from clients or upstreams (models, raw stop reasons, error types) are
capped in number and in length: past :data:`MAX_LABEL_VALUES` distinct values (50 for error
types) a label reads ``other``, and a value is cut at :data:`MAX_LABEL_LENGTH` characters, so
a client sending random model names, or an upstream echoing input into its error type, cannot
grow the output without bound. Every other label takes values from a fixed set.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

from ..outcome import normalize_stop_reason
from .facts import FactSync
from .inbound import REFUSAL_REASONS
from .logwriter import DROP_REASONS, LogWriter
from .record import Exchange

__all__ = ["Counter", "GatewayMetrics", "Gauge", "Histogram"]

MAX_LABEL_VALUES = 200
MAX_LABEL_LENGTH = 100
MAX_ERROR_TYPES = 50
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
)


def _escape(value: str) -> str:
    # The format's three escapes in label values: backslash, double quote, line feed.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[str, ...], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(value)


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.help = help
        self.labelnames = labels

    def header(self) -> Iterator[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.kind}"


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help: str, labels: tuple[str, ...] = ()) -> None:
        super().__init__(name, help, labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def render(self) -> Iterator[str]:
        yield from self.header()
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {_number(value)}"


class Gauge(Counter):
    kind = "gauge"

    def dec(self, *labels: str) -> None:
        self.inc(*labels, amount=-1.0)


class Histogram(_Metric):
    kind = "histogram"

    def __init__(
        self, name: str, help: str, labels: tuple[str, ...] = (), buckets: tuple[float, ...] = LATENCY_BUCKETS
    ) -> None:
        super().__init__(name, help, labels)
        self.buckets = buckets
        # Per label set: a count per bucket (not cumulative; summed when rendered), sum, count.
        self.series: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = ([0] * (len(self.buckets) + 1), [0.0])
        counts, total = series
        i = 0
        while i < len(self.buckets) and value > self.buckets[i]:
            i += 1
        counts[i] += 1
        total[0] += value

    def render(self) -> Iterator[str]:
        yield from self.header()
        for labels, (counts, total) in sorted(self.series.items()):
            running = 0
            for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
                running += n
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.labelnames, labels, le)} {running}"
            yield f"{self.name}_sum{_labels(self.labelnames, labels)} {_number(total[0])}"
            yield f"{self.name}_count{_labels(self.labelnames, labels)} {running}"


class _Capped:
    """Maps client-chosen label values to themselves, up to a bound, then to ``other``."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        value = (value or "none")[:MAX_LABEL_LENGTH]
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return "other"
        self.seen.add(value)
        return value


class GatewayMetrics:
    def __init__(self) -> None:
        self._model = _Capped()
        self._raw_stop = _Capped()
        self._error_type = _Capped(MAX_ERROR_TYPES)
        self.requests = Counter(
            "stopwise_requests_total", "Requests handled, by route and status.", ("route", "status")
        )
        self.in_flight = Gauge("stopwise_requests_in_flight", "Requests being handled now.")
        self.in_flight.values[()] = 0.0
        self.cancelled = Counter(
            "stopwise_requests_cancelled_total", "Requests whose client left before the end.", ("route",)
        )
        self.rounds = Counter(
            "stopwise_rounds_total", "Upstream rounds made by the finisher.", ("dialect", "mode")
        )
        self.stop_raw = Counter(
            "stopwise_stop_reasons_total",
            "Stop reasons of upstream rounds, as sent.",
            ("dialect", "stop_reason"),
        )
        self.stop_normalized = Counter(
            "stopwise_stop_reasons_normalized_total",
            "Stop reasons of upstream rounds, normalized.",
            ("reason",),
        )
        self.states = Counter(
            "stopwise_final_states_total", "The state of the answer handed back.", ("dialect", "state")
        )
        self.rescued = Counter(
            "stopwise_truncations_rescued_total", "Truncated answers continued to completion.", ("dialect",)
        )
        self.retries = Counter(
            "stopwise_retries_total", "Retries and resumptions of upstream requests.", ("dialect",)
        )
        self.upstream_errors = Counter(
            "stopwise_upstream_errors_total", "Requests that ended on an upstream error, by type.", ("type",)
        )
        self.latency = Histogram(
            "stopwise_request_duration_seconds", "From the request's arrival to its last byte.", ("route",)
        )
        self.ttfb = Histogram(
            "stopwise_time_to_first_byte_seconds",
            "From the request's arrival to its first body byte.",
            ("route",),
        )
        self.tokens = Counter("stopwise_tokens_total", "Tokens used, summed over rounds.", ("model", "kind"))
        self.log_dropped = Counter(
            "stopwise_log_rows_dropped_total",
            "Request log rows lost: the queue was full, or the database could not be written.",
            ("reason",),
        )
        self.refused = Counter(
            "stopwise_connections_refused_total",
            "Connections answered and closed before a request: head too slow, too large, too many headers.",
            ("reason",),
        )
        for reason in REFUSAL_REASONS:
            self.refused.values[(reason,)] = 0.0
        self.log_queued = Gauge("stopwise_log_rows_queued", "Request log rows waiting to be written.")
        self.log_retries = Counter(
            "stopwise_log_write_retries_total", "Request log writes tried again (database busy or full)."
        )
        self.facts = Gauge(
            "stopwise_model_facts",
            "Learned model facts in force here (learned here or from other replicas), by fact.",
            ("fact",),
        )
        self.facts_shared = Counter(
            "stopwise_model_facts_shared_total", "Model facts this gateway wrote to the shared table."
        )
        self.facts_pending = Gauge(
            "stopwise_model_facts_pending",
            "Model facts learned here, not yet written to the shared table.",
        )

    def record(self, ex: Exchange, *, upstream_error: bool) -> None:
        # One series for every model id asked about, not one per id.
        route = "/v1/models/{id}" if ex.route.startswith("/v1/models/") else ex.route
        self.requests.inc(route, str(ex.status or 0))
        if ex.cancelled:
            self.cancelled.inc(route)
        if ex.latency is not None:
            self.latency.observe(ex.latency, route)
        if ex.ttfb is not None:
            self.ttfb.observe(ex.ttfb, route)
        if upstream_error and ex.error_type:
            self.upstream_errors.inc(self._error_type(ex.error_type))
        s = ex.report
        if s is None:
            return
        dialect = ex.dialect or "none"
        for mode in s.modes:
            self.rounds.inc(dialect, mode)
        for raw in s.stop_reasons:
            self.stop_raw.inc(dialect, self._raw_stop(raw))
            self.stop_normalized.inc(normalize_stop_reason(raw).value)
        self.states.inc(dialect, s.state.value)
        if ex.rescued:
            self.rescued.inc(dialect)
        if s.retries:
            self.retries.inc(dialect, amount=float(s.retries))
        usage = s.usage.to_dict()
        model = self._model(ex.model)
        for kind in ("input", "output", "cache_creation_input", "cache_read_input"):
            value = usage.get(f"{kind}_tokens")
            if value:
                self.tokens.inc(model, kind, amount=float(value))

    def render(self, log: LogWriter | None = None, facts: FactSync | None = None) -> str:
        if facts is not None:
            kinds = collections.Counter(f.fact for f in facts.memory.facts())
            for kind in ("prefill", "ceiling"):
                self.facts.values[(kind,)] = float(kinds[kind])
            self.facts_shared.values[()] = float(facts.saved)
            self.facts_pending.values[()] = float(facts.pending)
        if log is not None:
            for reason in DROP_REASONS:  # every reason shown, so a rate() over it starts at 0
                self.log_dropped.values[(reason,)] = float(log.dropped[reason])
            self.log_queued.values[()] = float(log.queued)
            self.log_retries.values[()] = float(log.retries)
        metrics: tuple[Counter | Histogram, ...] = (
            self.requests,
            self.in_flight,
            self.cancelled,
            self.rounds,
            self.stop_raw,
            self.stop_normalized,
            self.states,
            self.rescued,
            self.retries,
            self.upstream_errors,
            self.latency,
            self.ttfb,
            self.tokens,
            self.refused,
            self.log_dropped,
            self.log_queued,
            self.log_retries,
            *((self.facts, self.facts_shared, self.facts_pending) if facts is not None else ()),
        )
        return "".join(line + "\n" for m in metrics for line in m.render())
