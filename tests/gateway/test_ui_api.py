"""The dashboard's JSON API against a real gateway in front of the simulator: what it reads
back from the log, and its filters."""

from __future__ import annotations

from typing import Any

import httpx2
from _gateway import Running
from _traffic import make_traffic


def _get(gw: Running, path: str, **params: Any) -> Any:
    resp = httpx2.get(f"{gw.url}/ui/api/{path}", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    return resp.json()


def test_the_request_list_newest_first_with_outcomes(gw: Running) -> None:
    make_traffic(gw)
    rows = _get(gw, "requests")["requests"]
    assert [r["route"] for r in rows] == [
        "/v1/messages/count_tokens",
        "/v1/chat/completions",
        "/v1/messages",
    ]
    assert [r["outcome"] for r in rows] == ["answered", "complete", "complete"]
    assert all(r["rescued"] for r in rows[1:]) and "request_body" not in rows[0]


def test_filters_by_model_outcome_stop_reason_and_time(gw: Running) -> None:
    make_traffic(gw)

    def ids(**params: Any) -> list[str]:
        return [r["route"] for r in _get(gw, "requests", **params)["requests"]]

    assert ids(model="gpt-4o") == ["/v1/chat/completions"]
    assert ids(outcome="answered") == ["/v1/messages/count_tokens"]
    assert ids(stop_reason="end_turn") == ["/v1/messages"]
    assert ids(stop_reason="stop") == ["/v1/chat/completions"]
    assert ids(stop_reason="end") == ["/v1/chat/completions", "/v1/messages"]  # normalized
    first = _get(gw, "requests")["requests"][-1]["time"]
    assert ids(until=first) == [] and len(ids(since=first)) == 3
    assert ids(since="2999") == [] and len(ids(limit=2)) == 2
    bad = httpx2.get(f"{gw.url}/ui/api/requests", params={"outcome": "great"})
    assert bad.status_code == 400 and "outcome must be one of" in bad.json()["error"]


def test_one_request_with_its_rounds_and_notes(gw: Running) -> None:
    make_traffic(gw)
    listed = _get(gw, "requests", model="claude-haiku-4-5")["requests"]
    row = _get(gw, f"requests/{listed[-1]['id']}")
    rounds = row["round_details"]
    assert len(rounds) == row["rounds"] > 1 and rounds[0]["mode"] == "initial"
    assert [r["stop_reason"] for r in rounds] == row["stop_reasons"]
    first = rounds[0]
    assert (first["mode"], first["stop_reason"], first["state"], first["max_tokens"]) == (
        "initial",
        "max_tokens",
        "truncated",
        300,
    )
    assert sum(r["output_tokens"] for r in rounds) == row["output_tokens"]
    assert sum(r["input_tokens"] for r in rounds) == row["input_tokens"]
    # Each round's own latency, within the request's.
    assert all(0 <= r["latency_ms"] <= row["latency_ms"] for r in rounds)
    assert all(isinstance(r["notes"], list) for r in rounds)
    assert isinstance(row["notes"], list) and row["latency_ms"] > 0
    missing = httpx2.get(f"{gw.url}/ui/api/requests/999999")
    assert missing.status_code == 404


def test_stats_and_over_time(gw: Running) -> None:
    make_traffic(gw)
    s = _get(gw, "stats")
    assert s["requests"] == 3 and s["truncations_rescued"] == 2
    assert s["stop_reasons"]["per_round"]["max_tokens"] >= 1
    assert {m["model"] for m in s["tokens_by_model"]} == {"claude-haiku-4-5", "gpt-4o"}
    # Input billed again by the rounds after the first, per model, from the logged rounds.
    rebilled = s["rebilled_input_by_model"]
    for model in ("claude-haiku-4-5", "gpt-4o"):
        rows = [r for r in _get(gw, "requests", model=model)["requests"] if r["rounds"]]
        want = sum(
            sum(r["input_tokens"] for r in _get(gw, f"requests/{x['id']}")["round_details"][1:]) for x in rows
        )
        assert want > 0 and rebilled[model] == want
    points = s["over_time"]["points"]
    assert s["over_time"]["bucket"] == "minute"
    assert sum(p["requests"] for p in points) == 3
    assert sum(p["truncated"] for p in points) == sum(p["rescued"] for p in points) == 2
    by_day = _get(gw, "stats", bucket="day")["over_time"]
    assert by_day["bucket"] == "day" and by_day["points"][0]["time"] == points[0]["time"][:10]


def test_the_page_is_one_static_file_with_no_data_in_it(gw: Running) -> None:
    make_traffic(gw)
    page = httpx2.get(f"{gw.url}/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/ui/api/" in page.text and "claude-haiku-4-5" not in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_error_rates_by_model(gw: Running) -> None:
    """A model whose requests the upstream refuses has its own error rate; another's stays 0."""
    import openai

    client = gw.openai()
    for _ in range(2):
        try:
            client.chat.completions.create(  # past gpt-4o's ceiling: the upstream's 400
                model="gpt-4o", max_tokens=999_999, messages=[{"role": "user", "content": "hi"}]
            )
        except openai.BadRequestError:
            pass
        else:
            raise AssertionError("the upstream accepted max_tokens past the ceiling")
    gw.anthropic().messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    gw.wait_rows(3)
    per_model = {m["model"]: m for m in httpx2.get(f"{gw.url}/ui/api/stats").json()["errors_by_model"]}
    assert per_model["gpt-4o"] == {"model": "gpt-4o", "requests": 2, "failed": 2, "cut": 0, "rate": 1.0}
    assert per_model["claude-haiku-4-5"]["rate"] == 0.0 and per_model["claude-haiku-4-5"]["requests"] == 1
