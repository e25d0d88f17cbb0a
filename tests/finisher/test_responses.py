"""The finisher on the OpenAI Responses API (issue 13), through the official openai SDK, sync and
async, against the simulator on 127.0.0.1: every answer comes back whole and byte-exact against
the simulator's full document, a one-round answer unchanged, a cut call or a reasoning-only
answer asked again with more room, ``content_filter`` final."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from stopwise.sim import full_document

from ._finish import POLICY, TEXT_KINDS, async_rig, rig, running_sim, stopwise_event

MODEL = "gpt-4o"
TOOL = {
    "type": "function",
    "name": "save",
    "description": "Save a document.",
    "parameters": {"type": "object", "properties": {"doc": {"type": "string"}}},
}


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_sim() as u:
        yield u


def _client(r: Any, url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="sk-test", http_client=r.client, max_retries=0)


def _final(client: openai.OpenAI, how: str, **kw: Any) -> Any:
    if how == "body":
        return client.responses.create(**kw)
    if how == "create-stream":
        # The raw events, folded by the SDK's own accumulator (as responses.stream() does).
        with client.responses.stream(**kw) as stream:
            for _ in stream:
                pass
            return stream.get_final_response()
    events = list(client.responses.create(stream=True, **kw))
    # The documented stopwise event ends the stream; the SDK yields it as an event of its own.
    if events and events[-1].type == "stopwise":
        events.pop()
    assert all(e.type != "stopwise" for e in events)
    done = [e for e in events if e.type in ("response.completed", "response.incomplete")]
    assert len(done) == 1, [e.type for e in events]  # one response, one terminal event
    ids = {e.response.id for e in events if hasattr(e, "response")}
    assert len(ids) == 1, ids
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(set(numbers)), numbers  # strictly increasing
    return done[0].response


@pytest.mark.parametrize("how", ["body", "create-stream", "events"])
@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_a_cut_answer_comes_back_whole(url: str, kind: str, how: str) -> None:
    with rig() as r:
        client = _client(r, url)
        final = _final(client, how, model=MODEL, input=f"Write {kind} please", max_output_tokens=120)
        assert final.status == "completed"
        assert final.output_text == full_document(kind)
        assert len(r.sent) > 2  # it was cut, more than once
        messages = [item for item in final.output if item.type == "message"]
        assert len(messages) == 1
        # Usage sums every round's, field by field.
        ups = [orjson.loads(bytes(e.raw)) for e in r.sent] if how == "body" else None
        if ups is not None:
            assert final.usage.output_tokens == sum(u["usage"]["output_tokens"] for u in ups)
            assert final.usage.input_tokens == sum(u["usage"]["input_tokens"] for u in ups)
            assert final.id == ups[0]["id"]


@pytest.mark.parametrize(
    "behavior", ["repeat-tail", "preamble", "drop-space", "restart-paragraph", "preamble,repeat-tail"]
)
@pytest.mark.parametrize("how", ["body", "events"])
def test_misbehaving_continuations_are_repaired(url: str, behavior: str, how: str) -> None:
    with rig() as r:
        client = _client(r, url)
        final = _final(
            client,
            how,
            model=MODEL,
            input="Write prose please",
            # Above the longest paragraph: a reply that restarts it must get past the cut.
            max_output_tokens=300,
            extra_headers={"x-sim-behavior": behavior},
        )
        assert final.output_text == full_document("prose")


@pytest.mark.parametrize("how", ["body", "events"])
def test_an_answer_that_needs_no_finishing_is_unchanged(url: str, how: str) -> None:
    with rig() as r:
        client = _client(r, url)
        _final(client, how, model=MODEL, input="Write prose please")
        up, down = bytes(r.upstream.exchanges[-1].raw), bytes(r.downstream.exchanges[-1].raw)
        assert len(r.sent) == 1
        if how == "body":
            assert down == up
        else:
            # The same events, as they came; then the documented stopwise event.
            assert down.startswith(up)
            summary = stopwise_event(down)
            assert summary is not None and summary["state"] == "complete"
        headers = r.downstream.exchanges[-1]
        assert headers.status == 200


@pytest.mark.parametrize("how", ["body", "events"])
def test_a_cut_function_call_is_asked_again_with_more_room(url: str, how: str) -> None:
    with rig() as r:
        client = _client(r, url)
        final = _final(
            client, how, model=MODEL, input="Use the tool please", tools=[TOOL], max_output_tokens=200
        )
        calls = [item for item in final.output if item.type == "function_call"]
        assert len(calls) == 1  # never twice, never a cut one
        assert calls[0].arguments == full_document("tool")
        assert final.status == "completed"
        caps = [e.body.get("max_output_tokens") for e in r.sent if e.body is not None]
        assert caps == sorted(caps) and caps[-1] > caps[0]


@pytest.mark.parametrize("how", ["body", "events"])
def test_reasoning_only_truncation_is_asked_again_not_looped(url: str, how: str) -> None:
    with rig() as r:
        client = _client(r, url)
        final = _final(client, how, model="o4-mini", input="Write prose please", max_output_tokens=150)
        assert final.status == "completed"
        assert final.output_text == full_document("prose")
        caps = [e.body.get("max_output_tokens") for e in r.sent if e.body is not None]
        assert caps[0] == 150 and caps[1] > 150


@pytest.mark.parametrize("how", ["body", "events"])
def test_content_filter_is_final(url: str, how: str) -> None:
    with rig() as r:
        client = _client(r, url)
        final = _final(
            client,
            how,
            model=MODEL,
            input="Write prose please",
            extra_headers={"x-sim-stop": "content-filter:20"},
        )
        assert len(r.sent) == 1
        assert final.status == "incomplete"
        assert final.incomplete_details is not None and final.incomplete_details.reason == "content_filter"


@pytest.mark.parametrize("fault", ["drop:8000", "stream-error:40", "stream-error:40:failed", "fail-first:2"])
@pytest.mark.parametrize("how", ["body", "events"])
def test_passing_faults_end_in_the_whole_document(url: str, fault: str, how: str) -> None:
    # The attempt key makes fail-first the first request's only; the other faults hit every
    # round. A Responses stream's first events carry the whole envelope twice (created,
    # in_progress), so a drop needs more bytes than on Chat for a round to get words past the
    # seam's head (drop:3000 leaves three deltas, held as undecided at every break).
    headers = {"x-sim-fault": fault, "x-sim-attempt-key": uuid.uuid4().hex}
    with rig() as r:
        client = _client(r, url)
        final = _final(
            client, how, model=MODEL, input="Write prose please", max_output_tokens=400, extra_headers=headers
        )
        assert final.output_text == full_document("prose")
        assert final.status == "completed"


@pytest.mark.parametrize("stream", [False, True])
def test_async_client(url: str, stream: bool) -> None:
    async def main() -> str:
        async with async_rig(policy=POLICY) as r:
            client = openai.AsyncOpenAI(
                base_url=url + "/v1", api_key="sk-test", http_client=r.client, max_retries=0
            )
            kw: dict[str, Any] = {"model": MODEL, "input": "Write code please", "max_output_tokens": 150}
            if not stream:
                return (await client.responses.create(**kw)).output_text
            async with client.responses.stream(**kw) as s:
                async for _ in s:
                    pass
                return (await s.get_final_response()).output_text

    assert asyncio.run(main()) == full_document("code")
