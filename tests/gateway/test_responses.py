"""``POST /v1/responses`` through the gateway (issue 13): the official openai SDK → ``stopwise
serve`` → the simulator, on 127.0.0.1. A cut answer comes back as the simulator's full document,
in one response or one stream; the request is logged and metered like the other routes; a stream
the gateway gives up on ends in the error event the SDK raises on."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import openai
import orjson
import pytest
from _gateway import Running

from stopwise.sim import full_document

CAP = 137


def text_of(client: openai.OpenAI, kind: str, *, stream: bool, **kw: object) -> str:
    args = {"model": "gpt-4o", "input": f"Write {kind} please", "max_output_tokens": CAP, **kw}
    if not stream:
        done = client.responses.create(**args)  # type: ignore[call-overload]
        assert done.status == "completed"
        return str(done.output_text)
    with client.responses.stream(**args) as events:  # type: ignore[arg-type]
        for _ in events:
            pass
        final = events.get_final_response()
    assert final.status == "completed"
    return final.output_text


@pytest.mark.parametrize(
    ("kind", "stream"), [("prose", False), ("code", True), ("cjk", False), ("table", True)]
)
def test_a_truncated_answer_is_finished(gw: Running, kind: str, stream: bool) -> None:
    assert text_of(gw.openai(), kind, stream=stream) == full_document(kind)
    (row,) = gw.wait_rows(1)
    assert row["dialect"] == "responses" and row["route"] == "/v1/responses"
    assert row["state"] == "complete" and row["rescued"] == 1 and row["rounds"] > 1
    assert row["stop_reason"] == "completed"
    assert orjson.loads(row["modes"]) == ["initial"] + ["continue"] * (row["rounds"] - 1)
    assert gw.metric('stopwise_rounds_total{dialect="responses",mode="continue"}') == row["rounds"] - 1
    assert gw.metric('stopwise_truncations_rescued_total{dialect="responses"}') == 1


def test_a_mid_stream_fault_is_resumed(gw: Running) -> None:
    headers = {"x-sim-fault": "stream-error:40", "x-sim-attempt-key": uuid.uuid4().hex}
    assert text_of(gw.openai(), "json", stream=True, extra_headers=headers) == full_document("json")
    (row,) = gw.wait_rows(1)
    assert row["retries"] > 0 and "resume" in orjson.loads(row["modes"]) and row["state"] == "complete"


def test_a_persistent_mid_stream_fault_ends_in_the_sdks_error(gw: Running) -> None:
    text = ""
    with pytest.raises(openai.APIError):
        for event in gw.openai().responses.create(
            model="gpt-4o",
            input="Write json please",
            max_output_tokens=CAP,
            stream=True,
            extra_headers={"x-sim-fault": "stream-error:6"},
        ):
            if event.type == "response.output_text.delta":
                text += event.delta
    assert full_document("json").startswith(text)
    (row,) = gw.wait_rows(1)
    assert row["stream"] == 1 and row["state"] != "complete"


@pytest.mark.parametrize("stream", [False, True])
def test_the_async_sdk_gets_the_whole_answer(gw: Running, stream: bool) -> None:
    async def main() -> str:
        async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0) as client:
            args: dict[str, Any] = {
                "model": "gpt-4o",
                "input": "Write prose please",
                "max_output_tokens": CAP,
            }
            if not stream:
                return (await client.responses.create(**args)).output_text
            async with client.responses.stream(**args) as events:
                async for _ in events:
                    pass
                return (await events.get_final_response()).output_text

    assert asyncio.run(main()) == full_document("prose")
    (row,) = gw.wait_rows(1)
    assert row["dialect"] == "responses" and row["state"] == "complete" and row["stream"] == int(stream)
