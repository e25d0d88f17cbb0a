"""Prometheus text: the format itself, and what a gateway reports after real requests."""

from __future__ import annotations

import re
import uuid

import httpx2
from _gateway import Running

from _helpers import metric
from stopwise.finisher import Report, RoundReport
from stopwise.gateway.metrics import Counter, GatewayMetrics, Histogram
from stopwise.gateway.record import Exchange
from stopwise.outcome import State, Usage


def test_counter_and_label_escaping() -> None:
    c = Counter("t_total", "Help.", ("a",))
    c.inc('x"y\\z\nw')
    c.inc("b", amount=2.5)
    assert list(c.render()) == [
        "# HELP t_total Help.",
        "# TYPE t_total counter",
        't_total{a="b"} 2.5',
        't_total{a="x\\"y\\\\z\\nw"} 1',
    ]


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram("h_seconds", "Help.", ("r",), buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 3.0):
        h.observe(v, "x")
    lines = list(h.render())
    assert lines[2:] == [
        'h_seconds_bucket{r="x",le="0.1"} 2',
        'h_seconds_bucket{r="x",le="1"} 3',
        'h_seconds_bucket{r="x",le="+Inf"} 4',
        'h_seconds_sum{r="x"} 3.65',
        'h_seconds_count{r="x"} 4',
    ]


def test_client_chosen_labels_are_capped() -> None:
    m = GatewayMetrics()
    for i in range(250):
        ex = Exchange("POST", "/v1/messages", dialect="anthropic", model=f"m{i}", status=200)
        rounds = (RoundReport("initial", "end_turn", State.COMPLETE, 1),)
        ex.observe(Report("anthropic", f"m{i}", False, rounds, State.COMPLETE, 0, Usage(output_tokens=1)))
        m.record(ex, upstream_error=False)
    models = {labels[0] for labels in m.tokens.values}
    assert len(models) == 201 and "other" in models


def test_metrics_after_requests(gw: Running) -> None:
    claude = gw.anthropic()
    claude.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": "json"}]
    )
    with claude.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=5000,
        messages=[{"role": "user", "content": "prose"}],
        extra_headers={"x-sim-fault": "fail-first:1", "x-sim-attempt-key": uuid.uuid4().hex},
    ) as events:
        events.until_done()
    httpx2.post(f"{gw.url}/v1/messages", content=b"{", headers={"anthropic-version": "2023-06-01"})
    rows = gw.wait_rows(3)
    r = httpx2.get(f"{gw.url}/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    rounds = rows[0]["rounds"]
    assert metric(text, 'stopwise_requests_total{route="/v1/messages",status="200"}') == 2
    assert metric(text, 'stopwise_requests_total{route="/v1/messages",status="400"}') == 1
    assert metric(text, 'stopwise_rounds_total{dialect="anthropic",mode="prefill"}') == rounds - 1
    assert (
        metric(text, 'stopwise_stop_reasons_total{dialect="anthropic",stop_reason="max_tokens"}')
        == rounds - 1
    )
    assert metric(text, 'stopwise_stop_reasons_total{dialect="anthropic",stop_reason="end_turn"}') == 2
    assert metric(text, 'stopwise_stop_reasons_normalized_total{reason="max_tokens"}') == rounds - 1
    assert metric(text, 'stopwise_truncations_rescued_total{dialect="anthropic"}') == 1
    assert metric(text, 'stopwise_final_states_total{dialect="anthropic",state="complete"}') == 2
    assert metric(text, 'stopwise_retries_total{dialect="anthropic"}') == 1
    assert metric(text, 'stopwise_request_duration_seconds_count{route="/v1/messages"}') == 3
    assert metric(text, 'stopwise_time_to_first_byte_seconds_count{route="/v1/messages"}') == 3
    out = rows[0]["output_tokens"] + rows[1]["output_tokens"]
    assert metric(text, 'stopwise_tokens_total{model="claude-haiku-4-5",kind="output"}') == out
    assert metric(text, "stopwise_requests_in_flight") == 0
    assert "stopwise_upstream_errors_total" in text and 'type="invalid_json"' not in text
    # Every sample line is NAME{labels} VALUE.
    sample = re.compile(r'^[a-z_]+(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? [-+0-9.eInf]+$')
    assert all(sample.match(line) for line in text.splitlines() if not line.startswith("#"))


def test_upstream_errors_by_type(gw: Running) -> None:
    httpx2.post(
        f"{gw.url}/v1/chat/completions",
        json={"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        headers={"x-sim-fault": "spend-limit"},
    )
    gw.wait_rows(1)
    text = httpx2.get(f"{gw.url}/metrics").text
    assert metric(text, 'stopwise_upstream_errors_total{type="insufficient_quota"}') == 1
