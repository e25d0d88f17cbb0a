"""The finisher's acceptance again, through the gateway: the official SDKs → ``stopwise serve``
→ the simulator, over real sockets on 127.0.0.1. Truncated answers come back as the simulator's
full document byte for byte, in one message or one stream, on prefill and continue-turn models,
in both dialects; a stream that breaks is resumed; a persistent fault ends in the SDK's typed
error; pass-through routes pass through; a client that leaves mid-stream closes the upstream."""

from __future__ import annotations

import time
import uuid

import anthropic
import httpx2
import openai
import orjson
import pytest
from _gateway import Recorder, Running

from stopwise.sim import full_document

CAP = 137


def ask(kind: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write {kind} please"}]


def anthropic_text(client: anthropic.Anthropic, model: str, kind: str, *, stream: bool, **kw: object) -> str:
    if not stream:
        msg = client.messages.create(model=model, max_tokens=CAP, messages=ask(kind), **kw)  # type: ignore[arg-type]
        assert msg.stop_reason == "end_turn"
        return "".join(b.text for b in msg.content if b.type == "text")
    starts = 0
    with client.messages.stream(model=model, max_tokens=CAP, messages=ask(kind), **kw) as events:  # type: ignore[arg-type]
        for event in events:
            starts += event.type == "message_start"
        final = events.get_final_message()
    assert starts == 1 and final.stop_reason == "end_turn"
    return "".join(b.text for b in final.content if b.type == "text")


def openai_text(client: openai.OpenAI, kind: str, *, stream: bool, **kw: object) -> str:
    if not stream:
        done = client.chat.completions.create(model="gpt-4o", max_tokens=CAP, messages=ask(kind), **kw)  # type: ignore[call-overload]
        assert done.choices[0].finish_reason == "stop"
        return done.choices[0].message.content or ""
    text, finishes, usage = "", [], []
    chunks = client.chat.completions.create(
        model="gpt-4o",
        max_tokens=CAP,
        messages=ask(kind),  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
        **kw,  # type: ignore[arg-type]
    )
    with chunks:
        for chunk in chunks:
            usage += [chunk.usage] if chunk.usage else []
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finishes += [choice.finish_reason] if choice.finish_reason else []
    assert finishes == ["stop"] and len(usage) == 1
    return text


@pytest.mark.parametrize(
    ("model", "kind", "stream"),
    [
        ("claude-haiku-4-5", "prose", False),  # prefill
        ("claude-haiku-4-5", "code", True),
        ("claude-opus-4-6", "table", False),  # continue turn
        ("claude-opus-4-6", "cjk", True),
    ],
)
def test_anthropic_truncated_answer_is_finished(gw: Running, model: str, kind: str, stream: bool) -> None:
    text = anthropic_text(gw.anthropic(), model, kind, stream=stream)
    assert text == full_document(kind)
    (row,) = gw.wait_rows(1)
    assert row["state"] == "complete" and row["rescued"] == 1 and row["rounds"] > 1
    mode = "prefill" if model == "claude-haiku-4-5" else "continue"
    assert orjson.loads(row["modes"]) == ["initial"] + [mode] * (row["rounds"] - 1)


@pytest.mark.parametrize(("kind", "stream"), [("json", False), ("prose", True)])
def test_openai_truncated_answer_is_finished(gw: Running, kind: str, stream: bool) -> None:
    assert openai_text(gw.openai(), kind, stream=stream) == full_document(kind)
    (row,) = gw.wait_rows(1)
    assert row["dialect"] == "openai" and row["state"] == "complete" and row["stop_reason"] == "stop"


def test_non_stream_headers_say_what_happened(gw: Running) -> None:
    raw = gw.anthropic().messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=CAP, messages=ask("json")
    )
    assert raw.parse().content[0].text == full_document("json")  # type: ignore[union-attr]
    assert raw.headers["x-stopwise-state"] == "complete"
    reasons = raw.headers["x-stopwise-stop-reasons"].split(",")
    assert reasons[-1] == "end_turn" and set(reasons[:-1]) == {"max_tokens"}


@pytest.mark.parametrize("fault", ["stream-error:40", "drop:3000"])
@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
def test_mid_stream_fault_is_resumed(gw: Running, dialect: str, fault: str) -> None:
    headers = {"x-sim-fault": fault, "x-sim-attempt-key": uuid.uuid4().hex}
    if dialect == "anthropic":
        text = anthropic_text(gw.anthropic(), "claude-haiku-4-5", "json", stream=True, extra_headers=headers)
    else:
        text = openai_text(gw.openai(), "json", stream=True, extra_headers=headers)
    assert text == full_document("json")
    (row,) = gw.wait_rows(1)
    assert row["retries"] > 0 and "resume" in orjson.loads(row["modes"]) and row["state"] == "complete"


def test_persistent_fault_ends_in_the_typed_error(gw: Running) -> None:
    with pytest.raises(anthropic.InternalServerError) as info:
        gw.anthropic().messages.create(
            model="claude-haiku-4-5",
            max_tokens=CAP,
            messages=ask("json"),
            extra_headers={"x-sim-fault": "529"},
        )
    assert info.value.status_code == 529
    assert info.value.response.headers["x-should-retry"] == "false"  # the gateway already retried
    with pytest.raises(openai.RateLimitError):
        gw.openai().chat.completions.create(
            model="gpt-4o", max_tokens=CAP, messages=ask("json"), extra_headers={"x-sim-fault": "spend-limit"}
        )
    first, second = gw.wait_rows(2)
    assert (first["status"], first["error_type"], first["retries"]) == (529, "overloaded_error", 4)
    assert (second["status"], second["retries"]) == (429, 0)  # a spend limit is never retried


def test_persistent_mid_stream_fault_ends_in_an_error_event(gw: Running) -> None:
    text = ""
    with (
        pytest.raises(anthropic.APIStatusError),
        gw.anthropic().messages.stream(
            model="claude-haiku-4-5",
            max_tokens=CAP,
            messages=ask("json"),
            extra_headers={"x-sim-fault": "stream-error:2"},
        ) as events,
    ):
        for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text += event.delta.text
    assert full_document("json").startswith(text)
    (row,) = gw.wait_rows(1)
    assert row["stream"] == 1 and row["status"] == 200 and row["error_type"] == "overloaded_error"
    assert row["state"] != "complete" and row["cancelled"] == 0


def test_pass_through_routes(gw: Running) -> None:
    claude = gw.anthropic()
    count = claude.messages.count_tokens(model="claude-haiku-4-5", messages=ask("prose"))
    assert count.input_tokens > 0
    assert "claude-haiku-4-5" in [m.id for m in claude.models.list()]
    assert "gpt-4o" in [m.id for m in gw.openai().models.list()]
    assert gw.openai().models.retrieve("gpt-4o").id == "gpt-4o"
    rows = gw.wait_rows(4)
    assert [r["route"] for r in rows] == [
        "/v1/messages/count_tokens",
        "/v1/models",
        "/v1/models",
        "/v1/models/gpt-4o",
    ]
    assert [r["dialect"] for r in rows] == ["anthropic", "anthropic", "openai", "openai"]
    assert all(r["rounds"] is None and r["status"] == 200 for r in rows)
    assert rows[0]["model"] == "claude-haiku-4-5" and orjson.loads(rows[0]["request_ids"])


def test_client_disconnect_mid_stream_cancels_the_upstream(gw: Running, recorder: Recorder) -> None:
    body = {
        "model": "claude-haiku-4-5",
        "max_tokens": 4000,
        "stream": True,
        "messages": ask("code"),
    }
    before = len(recorder.seen)
    with (
        httpx2.Client(timeout=10) as client,
        client.stream(
            "POST",
            f"{gw.url}/v1/messages",
            json=body,
            headers={"x-api-key": "x", "anthropic-version": "2023-06-01", "x-sim-fault": "slow:20"},
        ) as response,
    ):
        assert response.status_code == 200
        got = b""
        for chunk in response.iter_raw():
            got += chunk
            if len(got) > 200:
                break
    (row,) = gw.wait_rows(1)
    assert row["cancelled"] == 1 and row["stream"] == 1 and row["status"] == 200
    assert row["latency_ms"] < 5000 and row["ttfb_ms"] is not None
    deadline = time.monotonic() + 5
    upstream = [s for s in recorder.seen[before:] if s.path == "/v1/messages"]
    while not upstream[-1].disconnected and time.monotonic() < deadline:
        time.sleep(0.01)
    assert upstream[-1].disconnected and not upstream[-1].finished


def test_client_leaving_a_non_stream_answer_cancels_it(gw: Running) -> None:
    """The row says so at once (the simulator's stalled non-stream endpoint does not listen for
    a disconnect, so unlike the stream case the upstream side cannot be observed here)."""
    body = {"model": "claude-haiku-4-5", "max_tokens": 4000, "messages": ask("prose")}
    headers = {"x-api-key": "x", "anthropic-version": "2023-06-01", "x-sim-fault": "stall:1"}
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.post(f"{gw.url}/v1/messages", json=body, headers=headers, timeout=0.3)
    (row,) = gw.wait_rows(1)
    assert (row["status"], row["cancelled"]) == (499, 1) and row["latency_ms"] < 2000
