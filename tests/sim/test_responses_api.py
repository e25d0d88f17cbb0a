"""``POST /v1/responses`` through the official openai SDK against the simulator on 127.0.0.1:
every shape parses, stream and body agree, stop reasons and faults come on demand, and both
ways of continuing (input items, ``previous_response_id``) rebuild the full document exactly."""

from __future__ import annotations

import asyncio
import itertools
import re
from typing import Any

import httpx2
import openai
import pytest
from openai.types.responses import Response

from stopwise.sim import PREAMBLE, TOOL_FOLLOWUP, create_app, full_document, tokenize
from stopwise.sim.responses_api import CHAINED_HEADER

MODEL = "gpt-4.1"
REASONING = "o4-mini"
CONTINUE = "Continue exactly where you stopped."
TOOLS: list[Any] = [
    {"type": "function", "name": "write_file", "parameters": {"type": "object", "properties": {}}},
]


def text_of(response: Response) -> str:
    return response.output_text


def events_of(gpt: openai.OpenAI, **kwargs: Any) -> list[Any]:
    with gpt.responses.create(stream=True, **kwargs) as stream:
        return list(stream)


def test_body_has_the_real_envelope(gpt: openai.OpenAI) -> None:
    r = gpt.responses.create(model=MODEL, input="Write prose.", max_output_tokens=5000, metadata={"k": "v"})
    assert r.status == "completed" and r.incomplete_details is None and r.error is None
    assert r.object == "response" and r.id.startswith("resp_") and len(r.id) == 5 + 48
    assert r.model == "gpt-4.1-2025-04-14" and r.max_output_tokens == 5000 and r.metadata == {"k": "v"}
    assert r.store is True and r.tool_choice == "auto" and r.tools == [] and r.parallel_tool_calls is True
    assert r.truncation == "disabled" and r.text is not None and r.text.format.type == "text"
    assert r.previous_response_id is None and r.temperature == 1.0 and r.top_p == 1.0
    (message,) = r.output
    assert message.type == "message" and message.status == "completed" and message.id.startswith("msg_")
    assert message.id[-16:] == r.id[-16:]  # item ids share the response id's tail
    (part,) = message.content
    assert part.type == "output_text" and part.annotations == [] and part.logprobs == []
    assert text_of(r) == full_document("prose")
    u = r.usage
    assert u is not None and u.output_tokens == len(tokenize(full_document("prose")))
    assert u.input_tokens_details.cached_tokens == 0 and u.output_tokens_details.reasoning_tokens == 0
    assert u.total_tokens == u.input_tokens + u.output_tokens


def test_stream_events_are_the_real_sequence(gpt: openai.OpenAI) -> None:
    events = events_of(gpt, model=MODEL, input="Write json.", max_output_tokens=40)
    types = [e.type for e in events]
    assert types[:5] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.incomplete",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert all(e.logprobs == [] and e.output_index == 0 and e.content_index == 0 for e in deltas)
    final = events[-1].response
    assert final.status == "incomplete" and final.incomplete_details.reason == "max_output_tokens"
    assert "".join(e.delta for e in deltas) == final.output_text == events[-4].text
    assert events[0].response.status == "in_progress" and events[0].response.usage is None


def test_stream_helper_builds_the_body(gpt: openai.OpenAI, sim_url: str) -> None:
    kwargs: dict[str, Any] = {"model": MODEL, "input": "table", "max_output_tokens": 9000}
    with gpt.responses.stream(**kwargs) as stream:
        streamed = stream.get_final_response()
    body = gpt.responses.create(**kwargs)
    assert streamed.output_text == body.output_text == full_document("table")
    assert streamed.usage == body.usage and streamed.status == body.status == "completed"


def test_async_client_in_process() -> None:
    async def main() -> Response:
        transport = httpx2.ASGITransport(create_app())
        http = httpx2.AsyncClient(transport=transport)
        async with openai.AsyncOpenAI(base_url="http://sim/v1", api_key="x", http_client=http) as client:
            return await client.responses.create(model=MODEL, input="cjk", max_output_tokens=20)

    r = asyncio.run(main())
    assert r.status == "incomplete" and full_document("cjk").startswith(r.output_text)


def continue_by_items(gpt: openai.OpenAI, kind: str, cap: int, tag: str = "") -> tuple[str, list[Any]]:
    """``tag`` makes the prompt new to the session's prompt cache."""
    ask = {"role": "user", "content": f"Write the {kind} document.{tag}"}
    have = ""
    billed = []
    for _ in range(200):
        history: list[Any] = [ask]
        if have:
            history += [{"role": "assistant", "content": have}, {"role": "user", "content": CONTINUE}]
        r = gpt.responses.create(model=MODEL, input=history, max_output_tokens=cap)
        assert r.usage is not None
        billed.append(r.usage)
        have += r.output_text
        if r.status == "completed":
            return have, billed
        assert r.incomplete_details is not None and r.incomplete_details.reason == "max_output_tokens"
    raise AssertionError("never completed")


def continue_by_chain(
    gpt: openai.OpenAI, kind: str, cap: int, tag: str = ""
) -> tuple[str, list[Any], list[int]]:
    have = ""
    billed, chained = [], []
    previous = None
    for _ in range(200):
        raw = gpt.responses.with_raw_response.create(
            model=MODEL,
            input=CONTINUE if previous else f"Write the {kind} document.{tag}",
            max_output_tokens=cap,
            **({"previous_response_id": previous} if previous else {}),
        )
        r = raw.parse()
        assert r.usage is not None and r.previous_response_id == previous
        billed.append(r.usage)
        chained.append(int(raw.headers[CHAINED_HEADER]))
        have += r.output_text
        if r.status == "completed":
            return have, billed, chained
        previous = r.id
    raise AssertionError("never completed")


@pytest.mark.parametrize("kind", ["prose", "code", "json", "table", "cjk"])
def test_continuing_by_input_items_rebuilds_the_document(gpt: openai.OpenAI, kind: str) -> None:
    have, _ = continue_by_items(gpt, kind, 1500)
    assert have == full_document(kind)


@pytest.mark.parametrize("kind", ["prose", "code", "cjk"])
def test_continuing_by_previous_response_id_rebuilds_the_document(gpt: openai.OpenAI, kind: str) -> None:
    have, billed, chained = continue_by_chain(gpt, kind, 1500)
    assert have == full_document(kind)
    assert chained[0] == 0 and all(c > 0 for c in chained[1:])
    # Each round bills everything before it again: input grows by at least the last output.
    inputs = [u.input_tokens for u in billed]
    assert all(later > earlier + 1400 for earlier, later in itertools.pairwise(inputs))


def test_what_each_way_of_continuing_bills(gpt: openai.OpenAI) -> None:
    _, by_items = continue_by_items(gpt, "code", 2000, " (billing)")
    _, by_chain, chained = continue_by_chain(gpt, "code", 2000, " (billing)")
    assert len(by_items) == len(by_chain) > 3
    items_in = [u.input_tokens for u in by_items]
    chain_in = [u.input_tokens for u in by_chain]
    # The chain keeps every earlier "continue" turn and output item, so from the third round it
    # bills a little more input than one assistant message holding the text so far...
    assert chain_in[:2] == items_in[:2] and all(
        c > i for c, i in zip(chain_in[2:], items_in[2:], strict=True)
    )
    assert all(c <= i + 30 * n for n, (c, i) in enumerate(zip(chain_in, items_in, strict=True)))
    # The header counts the replayed part: all but the request's overhead and its own new turn.
    new_turn = 3 + 3 + len(tokenize(CONTINUE))
    assert [c - h for c, h in zip(chain_in[1:], chained[1:], strict=True)] == [new_turn] * (len(chained) - 1)
    # ...but its prefix repeats byte for byte, so from the third round most of it is cached.
    assert all(u.input_tokens_details.cached_tokens == 0 for u in by_items)
    cached = [u.input_tokens_details.cached_tokens for u in by_chain]
    assert cached[:2] == [0, 0] and all(c >= 1024 and c % 128 == 0 for c in cached[2:])


def test_behavior_misbehaves_on_both_continuations(gpt: openai.OpenAI) -> None:
    headers = {"x-sim-behavior": "preamble"}
    first = gpt.responses.create(model=MODEL, input="prose", max_output_tokens=30)
    chained = gpt.responses.create(
        model=MODEL,
        input=CONTINUE,
        previous_response_id=first.id,
        max_output_tokens=30,
        extra_headers=headers,
    )
    items = gpt.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "prose"},
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": first.output_text}],
            },
            {"role": "user", "content": [{"type": "input_text", "text": CONTINUE}]},
        ],
        max_output_tokens=30,
        extra_headers=headers,
    )
    assert chained.output_text == items.output_text and chained.output_text.startswith(PREAMBLE)
    fresh = gpt.responses.create(model=MODEL, input="prose", max_output_tokens=30, extra_headers=headers)
    assert fresh.output_text == first.output_text  # behaviours apply to continue turns only


def test_reasoning_model_thinks_first(gpt: openai.OpenAI) -> None:
    r = gpt.responses.create(
        model=REASONING,
        input="prose",
        max_output_tokens=4000,
        reasoning={"effort": "medium", "summary": "auto"},
        include=["reasoning.encrypted_content"],
    )
    reasoning, message = r.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    assert reasoning.summary and reasoning.summary[0].type == "summary_text" and reasoning.encrypted_content
    assert r.reasoning is not None and r.reasoning.effort == "medium" and r.reasoning.summary == "detailed"
    assert r.usage is not None and r.usage.output_tokens_details.reasoning_tokens == 200
    assert r.usage.output_tokens == 200 + len(tokenize(message.content[0].text))  # type: ignore[union-attr]
    assert r.model == "o4-mini-2025-04-16" and r.status == "completed"


def test_reasoning_only_truncation(gpt: openai.OpenAI) -> None:
    kwargs: dict[str, Any] = {"model": REASONING, "input": "code", "max_output_tokens": 120}
    r = gpt.responses.create(**kwargs, reasoning={"summary": "auto"})
    (reasoning,) = r.output
    assert reasoning.type == "reasoning" and reasoning.summary == []  # cut thought: no summary
    assert r.status == "incomplete" and r.incomplete_details is not None
    assert r.incomplete_details.reason == "max_output_tokens" and r.output_text == ""
    assert (
        r.usage is not None and r.usage.output_tokens == r.usage.output_tokens_details.reasoning_tokens == 120
    )
    types = [e.type for e in events_of(gpt, **kwargs)]
    assert "response.output_text.delta" not in types and types[-1] == "response.incomplete"


def test_summary_streams_as_summary_events(gpt: openai.OpenAI) -> None:
    events = events_of(
        gpt, model="gpt-5", input="prose", max_output_tokens=300, reasoning={"summary": "concise"}
    )
    types = [e.type for e in events]
    at = types.index("response.reasoning_summary_part.added")
    assert types[at - 1] == "response.output_item.added" and events[at - 1].item.type == "reasoning"
    done = next(e for e in events if e.type == "response.reasoning_summary_text.done")
    deltas = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert deltas == done.text and len(tokenize(done.text)) == 200
    assert types.index("response.reasoning_summary_part.done") < types.index("response.content_part.added")


def test_function_call_whole_then_cut_then_answered(gpt: openai.OpenAI) -> None:
    whole = gpt.responses.create(model=MODEL, input="Use the tool.", tools=TOOLS, max_output_tokens=9000)
    (call,) = whole.output
    assert call.type == "function_call" and call.status == "completed" and call.name == "write_file"
    assert call.call_id.startswith("call_") and call.id is not None and call.id.startswith("fc_")
    assert call.arguments == full_document("tool") and whole.status == "completed"

    cut = gpt.responses.create(model=MODEL, input="Use the tool.", tools=TOOLS, max_output_tokens=50)
    (partial,) = cut.output
    assert partial.type == "function_call" and partial.status == "incomplete" and cut.status == "incomplete"
    assert full_document("tool").startswith(partial.arguments) and len(tokenize(partial.arguments)) == 50

    events = events_of(gpt, model=MODEL, input="Use the tool.", tools=TOOLS, max_output_tokens=50)
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert args == partial.arguments
    assert [e.arguments for e in events if e.type == "response.function_call_arguments.done"] == [args]

    answer = gpt.responses.create(
        model=MODEL,
        previous_response_id=whole.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "ok"}],
        tools=TOOLS,
    )
    assert answer.output_text == TOOL_FOLLOWUP and answer.status == "completed"


def test_parallel_calls_and_tool_choice_none(gpt: openai.OpenAI) -> None:
    two = [*TOOLS, {"type": "function", "name": "read_file", "parameters": {"type": "object"}}]
    r = gpt.responses.create(model=MODEL, input="tool", tools=two, extra_headers={"x-sim-tool-calls": "2"})
    assert [(i.type, getattr(i, "name", None)) for i in r.output] == [
        ("function_call", "write_file"),
        ("function_call", "read_file"),
    ]
    none = gpt.responses.create(
        model=MODEL, input="tool", tools=two, tool_choice="none", max_output_tokens=20
    )
    assert none.output[0].type == "message"


def test_forced_stops(gpt: openai.OpenAI) -> None:
    filtered = gpt.responses.create(
        model=MODEL, input="prose", max_output_tokens=500, extra_headers={"x-sim-stop": "content-filter:7"}
    )
    assert filtered.status == "incomplete" and filtered.incomplete_details is not None
    assert filtered.incomplete_details.reason == "content_filter" and len(tokenize(filtered.output_text)) == 7
    refused = gpt.responses.create(model=MODEL, input="prose", extra_headers={"x-sim-stop": "refusal"})
    (message,) = refused.output
    assert refused.status == "completed" and message.content[0].type == "refusal"  # type: ignore[union-attr]
    with pytest.raises(openai.BadRequestError, match="not a Responses API stop"):
        gpt.responses.create(model=MODEL, input="prose", extra_headers={"x-sim-stop": "pause-turn"})


def test_errors_before_the_stream(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as rate:
        gpt.responses.create(model=MODEL, input="x", extra_headers={"x-sim-fault": "429"})
    assert rate.value.response.headers["retry-after"] == "1"
    with pytest.raises(openai.InternalServerError):
        gpt.responses.create(model=MODEL, input="x", stream=True, extra_headers={"x-sim-fault": "500"})


def test_mid_stream_error_event_raises(gpt: openai.OpenAI) -> None:
    seen = []
    with pytest.raises(openai.APIError) as err:
        for event in gpt.responses.create(
            model=MODEL, input="prose", stream=True, extra_headers={"x-sim-fault": "stream-error:6"}
        ):
            seen.append(event.sequence_number)
    assert seen == list(range(6)) and err.value.body == {
        "type": "server_error",
        "code": "server_error",
        "message": "The server had an error while processing your request. Sorry about that!",
        "param": None,
    }


def test_mid_stream_response_failed(gpt: openai.OpenAI) -> None:
    events = events_of(
        gpt, model=MODEL, input="prose", extra_headers={"x-sim-fault": "stream-error:5:failed"}
    )
    assert [e.sequence_number for e in events] == list(range(6))
    failed = events[-1]
    Response.model_validate(failed.response.to_dict())  # strictly, not just as the SDK constructs it
    assert failed.type == "response.failed" and failed.response.status == "failed"
    assert failed.response.id == events[0].response.id and failed.response.error.code == "server_error"


def test_dropped_connection_and_missing_terminal(gpt: openai.OpenAI) -> None:
    with pytest.raises(openai.APIConnectionError):
        events_of(gpt, model=MODEL, input="prose", extra_headers={"x-sim-fault": "drop:3000"})
    with (
        pytest.raises(RuntimeError, match=re.escape("`response.completed`")),
        gpt.responses.stream(model=MODEL, input="hi", extra_headers={"x-sim-fault": "no-terminal"}) as stream,
    ):
        stream.get_final_response()


def test_stall_times_out(sim_url: str) -> None:
    with (
        openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0, timeout=0.3) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        events_of(client, model=MODEL, input="prose", extra_headers={"x-sim-fault": "stall:3"})


def test_stored_responses(gpt: openai.OpenAI) -> None:
    made = gpt.responses.create(model=MODEL, input="prose", max_output_tokens=16)
    assert gpt.responses.retrieve(made.id) == made
    with pytest.raises(openai.NotFoundError, match=re.escape("Response with id 'resp_nope' not found.")):
        gpt.responses.retrieve("resp_nope")
    unstored = gpt.responses.create(model=MODEL, input="prose", max_output_tokens=16, store=False)
    assert unstored.store is False
    with pytest.raises(openai.NotFoundError):
        gpt.responses.retrieve(unstored.id)
    with pytest.raises(
        openai.BadRequestError, match=re.escape(f"Previous response with id '{unstored.id}' not found.")
    ):
        gpt.responses.create(model=MODEL, input="go on", previous_response_id=unstored.id)


def test_output_items_handed_back_continue_the_document(gpt: openai.OpenAI) -> None:
    ask = {"role": "user", "content": "Write the json document."}
    kwargs: dict[str, Any] = {"model": REASONING, "max_output_tokens": 400, "store": False}
    cut = gpt.responses.create(input=[ask], include=["reasoning.encrypted_content"], **kwargs)
    assert [i.type for i in cut.output] == ["reasoning", "message"] and cut.status == "incomplete"
    handed_back = [ask, *(i.to_dict() for i in cut.output), {"role": "user", "content": CONTINUE}]
    rest = gpt.responses.create(input=handed_back, **kwargs)
    assert rest.usage is not None and rest.usage.output_tokens_details.reasoning_tokens == 200
    assert full_document("json").startswith(cut.output_text + rest.output_text)
    assert len(tokenize(rest.output_text)) == 200  # it thinks again, then writes the rest of the budget


def test_a_trailing_assistant_message_is_a_finished_turn(gpt: openai.OpenAI) -> None:
    doc = full_document("prose")
    r = gpt.responses.create(
        model=MODEL,
        input=[{"role": "user", "content": "prose"}, {"role": "assistant", "content": doc[:300]}],
        max_output_tokens=16,
    )
    assert doc.startswith(r.output_text) and r.output_text.startswith("Our oldest map")


def test_instructions_are_input_but_not_carried_over(gpt: openai.OpenAI) -> None:
    plain = gpt.responses.create(model=MODEL, input="prose", max_output_tokens=16)
    told = gpt.responses.create(model=MODEL, input="prose", instructions="Be brief.", max_output_tokens=16)
    assert told.instructions == "Be brief." and told.output_text == plain.output_text
    assert told.usage is not None and plain.usage is not None
    assert told.usage.input_tokens == plain.usage.input_tokens + 3 + len(tokenize("Be brief."))
    after_plain = gpt.responses.create(model=MODEL, input=CONTINUE, previous_response_id=plain.id)
    after_told = gpt.responses.create(model=MODEL, input=CONTINUE, previous_response_id=told.id)
    assert after_told.instructions is None and after_told.usage == after_plain.usage
    assert (
        after_told.output_text == after_plain.output_text == full_document("prose")[len(plain.output_text) :]
    )


def test_thinking_length_on_demand(gpt: openai.OpenAI) -> None:
    def think(tokens: int) -> Response:
        return gpt.responses.create(
            model="gpt-5",
            input="prose",
            max_output_tokens=1000,
            extra_headers={"x-sim-thinking-tokens": str(tokens)},
        )

    one_word = think(999)
    assert one_word.output_text == "Our" and one_word.status == "incomplete"
    # Thought that fills the budget exactly leaves no room for text.
    filled = think(1000)
    assert [i.type for i in filled.output] == ["reasoning"] and filled.status == "incomplete"
    assert filled.usage is not None and filled.usage.output_tokens_details.reasoning_tokens == 1000


@pytest.mark.parametrize(
    ("fault", "error"),
    [("malformed:4", ValueError), ("restart:5", RuntimeError)],
)
def test_broken_streams_break_the_sdk_accumulator(
    gpt: openai.OpenAI, fault: str, error: type[Exception]
) -> None:
    with (
        pytest.raises(error),
        gpt.responses.stream(model=MODEL, input="prose", extra_headers={"x-sim-fault": fault}) as stream,
    ):
        stream.get_final_response()


def test_fail_first_then_the_sdk_retry_gets_through(sim_url: str) -> None:
    with openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=2) as client:
        r = client.responses.create(
            model=MODEL,
            input="prose",
            max_output_tokens=16,
            extra_headers={
                "x-sim-fault": "fail-first:2,retry-after-ms:1",
                "x-sim-attempt-key": "responses-retry",
            },
        )
    assert r.status == "incomplete" and len(tokenize(r.output_text)) == 16


def test_a_cut_call_needs_its_output_before_anything_else(gpt: openai.OpenAI) -> None:
    cut = gpt.responses.create(model=MODEL, input="tool", tools=TOOLS, max_output_tokens=16)
    (call,) = cut.output
    assert call.type == "function_call" and call.status == "incomplete"
    with pytest.raises(
        openai.BadRequestError, match=re.escape(f"No tool output found for function call {call.call_id}.")
    ):
        gpt.responses.create(model=MODEL, input=CONTINUE, previous_response_id=cut.id, tools=TOOLS)
