"""Properties of the Responses API wire, on the raw bytes of an in-process app: every body and
stream event validates against the openai SDK's own types (strictly, not the SDK's lenient
construct), names its type twice and numbers itself in order, the stream builds exactly the
non-streaming body, and a cut answer is a prefix of the document that both ways of continuing
complete in the same way."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx2
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from stopwise.sim import create_app, full_document, tokenize
from stopwise.sse import SSEDecoder

_IDS = re.compile(r"\b(resp|msg|rs|fc)_[0-9a-f]{48}\b|\bcall_[0-9A-Za-z]{24}\b")
TOOLS = [
    {"type": "function", "name": "write_file", "parameters": {"type": "object"}},
    {"type": "function", "name": "read_file", "parameters": {"type": "object"}},
]
CONTINUE = "Please continue."
STREAM_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)


async def _post(client: httpx2.AsyncClient, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    r = await client.post("/v1/responses", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.content


def post(body: dict[str, Any], headers: dict[str, str] | None = None) -> bytes:
    """One request to a fresh app."""

    async def main() -> bytes:
        transport = httpx2.ASGITransport(create_app())
        async with httpx2.AsyncClient(transport=transport, base_url="http://sim") as client:
            return await _post(client, body, headers or {})

    return asyncio.run(main())


def masked(value: Any) -> Any:
    """``value`` with its ids blanked: a stream and a body of the same request differ only there."""
    return orjson.loads(_IDS.sub("ID", orjson.dumps(value).decode()))


def decode(raw: bytes) -> list[dict[str, Any]]:
    decoder = SSEDecoder()
    events = decoder.decode(raw)
    assert decoder.flush() is None
    out = []
    for event in events:
        data = orjson.loads(event.data)
        assert event.event == data["type"]
        assert STREAM_EVENT.validate_python(data).type == data["type"]
        out.append(data)
    return out


def accumulate(events: list[dict[str, Any]]) -> dict[int, str]:
    """Each output item's streamed text: message text, call arguments or reasoning summary."""
    streamed: dict[int, str] = {}
    for e in events:
        if e["type"] in (
            "response.output_text.delta",
            "response.function_call_arguments.delta",
            "response.reasoning_summary_text.delta",
            "response.refusal.delta",
        ):
            streamed[e["output_index"]] = streamed.get(e["output_index"], "") + e["delta"]
    return streamed


def item_text(item: dict[str, Any]) -> str:
    if item["type"] == "message":
        part = item["content"][0]
        return str(part.get("text", part.get("refusal")))
    if item["type"] == "function_call":
        return str(item["arguments"])
    return "".join(s["text"] for s in item["summary"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["prose", "code", "json", "table", "cjk", "tool"]),
    cap=st.none() | st.integers(16, 700),
    model=st.sampled_from(["gpt-4.1", "o4-mini", "gpt-5"]),
    summary=st.booleans(),
    calls=st.integers(1, 3),
    stop=st.sampled_from(["", "refusal:3", "content-filter:20"]),
)
def test_the_stream_builds_the_body(
    kind: str, cap: int | None, model: str, summary: bool, calls: int, stop: str
) -> None:
    body: dict[str, Any] = {"model": model, "input": kind, "tools": TOOLS}
    if cap is not None:
        body["max_output_tokens"] = cap
    if summary and model != "gpt-4.1":
        body["reasoning"] = {"summary": "auto"}
    headers = {"x-sim-tool-calls": str(calls)} | ({"x-sim-stop": stop} if stop else {})
    final = orjson.loads(post(body, headers))
    Response.model_validate(final)
    events = decode(post({**body, "stream": True}, headers))

    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[:2]] == ["response.created", "response.in_progress"]
    assert events[-1]["type"] == f"response.{final['status']}"
    assert masked(events[-1]["response"]) == masked(final)
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []

    added = [e for e in events if e["type"] == "response.output_item.added"]
    done = [e for e in events if e["type"] == "response.output_item.done"]
    assert (
        [e["output_index"] for e in added]
        == [e["output_index"] for e in done]
        == list(range(len(final["output"])))
    )
    assert masked([e["item"] for e in done]) == masked(final["output"])
    assert all(a["item"]["id"] == d["item"]["id"] for a, d in zip(added, done, strict=True))
    streamed = accumulate(events)
    for index, item in enumerate(final["output"]):
        assert streamed.get(index, "") == item_text(item)
    usage = final["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    if cap is not None:
        assert usage["output_tokens"] <= cap


async def _continue_both_ways(kind: str, cap: int) -> tuple[str, str, str, bool]:
    transport = httpx2.ASGITransport(create_app())
    async with httpx2.AsyncClient(transport=transport, base_url="http://sim") as client:
        ask = {"role": "user", "content": f"the {kind} document"}
        first = orjson.loads(
            await _post(client, {"model": "gpt-4.1", "input": [ask], "max_output_tokens": cap}, {})
        )
        partial = first["output"][0]["content"][0]["text"]
        by_items_body = {
            "model": "gpt-4.1",
            "input": [ask, {"role": "assistant", "content": partial}, {"role": "user", "content": CONTINUE}],
            "max_output_tokens": cap,
        }
        by_items = orjson.loads(await _post(client, by_items_body, {}))
        chained_body = {
            "model": "gpt-4.1",
            "input": CONTINUE,
            "previous_response_id": first["id"],
            "max_output_tokens": cap,
        }
        chained = orjson.loads(await _post(client, chained_body, {}))
    rest = by_items["output"][0]["content"][0]["text"]
    assert first["status"] == "incomplete"
    assert chained["output"][0]["content"][0]["text"] == rest
    assert chained["status"] == by_items["status"]
    return partial, rest, by_items["status"], by_items["usage"]["output_tokens"] == len(tokenize(rest))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(["prose", "code", "json", "table", "cjk"]), cap=st.integers(16, 3000))
def test_a_cut_answer_is_a_prefix_both_continuations_extend(kind: str, cap: int) -> None:
    doc = full_document(kind)
    partial, rest, status, counted = asyncio.run(_continue_both_ways(kind, cap))
    assert doc.startswith(partial) and doc.startswith(partial + rest) and counted
    assert len(tokenize(partial)) == cap
    if status == "completed":
        assert partial + rest == doc
    else:
        assert len(partial + rest) < len(doc)
