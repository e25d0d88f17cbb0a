"""Hostile Responses upstreams end to end: the real openai SDK, sync and async, through
``stopwise.http_client()`` to a scripted upstream on 127.0.0.1 replaying shapes the simulator
never makes (a relay restarting its stream, ``response.failed`` with no output, a stream cut
mid-call, a 529 before the first byte, annotations on every round)."""

from __future__ import annotations

import asyncio

import openai
import pytest

import stopwise
from stopwise.finisher import Policy, RetryPolicy
from stopwise.testing.responses_model import ResponsesFault, ResponsesModel, ResponsesStep, ResponsesTruth
from stopwise.testing.server import scripted_upstream

POLICY = Policy(max_rounds=100, retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))
TEXT = (
    "The harbour committee records the tides of late autumn before the first frost arrives, "
    "and every entry is signed by the keeper on duty that night."
)
CALL = ("save", '{"doc": "the tide table", "pages": [1, 2, 3]}')

SCRIPTS = {
    "restarted": (ResponsesStep(fault=ResponsesFault("restart", 9)),),
    "failed-empty": (ResponsesStep(fault=ResponsesFault("failed", 8)),),
    "error-event": (ResponsesStep(fault=ResponsesFault("error", 7)),),
    "broken": (ResponsesStep(fault=ResponsesFault("break", 10)),),
    "overloaded": (ResponsesStep(fault=ResponsesFault("529")),),
    "cut-mid-call": (ResponsesStep(cut=40),),
}


def _ask(client: openai.OpenAI, stream: bool) -> openai.types.responses.Response:
    args = {
        "model": "gpt-4o",
        "input": "Write it all",
        "max_output_tokens": 12,
        "tools": [{"type": "function", "name": "save", "parameters": {"type": "object"}}],
    }
    if not stream:
        return client.responses.create(**args)  # type: ignore[call-overload,no-any-return]
    with client.responses.stream(**args) as events:  # type: ignore[arg-type]
        for _ in events:
            pass
        return events.get_final_response()


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("name", list(SCRIPTS))
def test_hostile_shapes_end_in_the_whole_answer(name: str, stream: bool) -> None:
    model = ResponsesModel(ResponsesTruth(TEXT, call=CALL, cite=True), SCRIPTS[name])
    with (
        scripted_upstream(model) as up,
        openai.OpenAI(
            base_url=up.base_url + "/v1",
            api_key="sk",
            max_retries=0,
            http_client=stopwise.http_client(policy=POLICY),
        ) as client,
    ):
        final = _ask(client, stream)
    assert final.status == "completed"
    assert final.output_text == TEXT
    calls = [i for i in final.output if i.type == "function_call"]
    assert [(c.name, c.arguments) for c in calls] == [CALL]  # once, whole
    for item in final.output:
        for part in getattr(item, "content", None) or []:
            for note in part.annotations:
                assert part.text[note.start_index : note.end_index] == note.title
    assert all(a.mismatch is None for a in model.asked)


def test_the_async_sdk_too() -> None:
    model = ResponsesModel(ResponsesTruth(TEXT), SCRIPTS["restarted"])

    async def main() -> str:
        async with stopwise.async_http_client(policy=POLICY) as http:
            client = openai.AsyncOpenAI(
                base_url=up.base_url + "/v1", api_key="sk-test", max_retries=0, http_client=http
            )
            async with client.responses.stream(model="gpt-4o", input="Write", max_output_tokens=12) as events:
                async for _ in events:
                    pass
                return (await events.get_final_response()).output_text

    with scripted_upstream(model) as up:
        assert asyncio.run(main()) == TEXT
