"""Every stop reason on demand, through both official SDKs (docs/sim.md, "Stop reasons")."""

from __future__ import annotations

import asyncio
import json

import anthropic
import httpx2
import openai
import pytest

from stopwise.sim import document, full_document, tokenize
from stopwise.sse import iter_events

MODEL = "claude-haiku-4-5"
TOOL = {"name": "write_file", "description": "Write a file", "input_schema": {"type": "object"}}
OPENAI_TOOL = {"type": "function", "function": {"name": "write_file", "parameters": {"type": "object"}}}
WEB_SEARCH = {"type": "web_search_20250305", "name": "web_search"}


def ask(text: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": text}]


def test_tool_use(claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(model=MODEL, max_tokens=8000, tools=[TOOL], messages=ask("call the tool"))
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content] == ["text", "tool_use"]
    call = msg.content[1]
    assert call.type == "tool_use" and call.name == "write_file" and call.id.startswith("toolu_01")
    assert json.dumps(call.input, ensure_ascii=False) == full_document("tool")
    assert len(full_document("tool")) > 5000


def test_tool_use_stream_then_tool_result(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model=MODEL, max_tokens=8000, tools=[TOOL], messages=ask("tool")) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    call = final.content[1]
    assert call.type == "tool_use" and json.dumps(call.input, ensure_ascii=False) == full_document("tool")
    follow = claude.messages.create(
        model=MODEL,
        max_tokens=200,
        tools=[TOOL],
        messages=[
            *ask("tool"),
            {"role": "assistant", "content": final.to_dict()["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "ok"}]},
        ],
    )
    assert follow.stop_reason == "end_turn"
    assert follow.content[0].text == document("tool-followup").text  # type: ignore[union-attr]


def test_tool_word_without_tools_is_prose(claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(model=MODEL, max_tokens=10, messages=ask("tool"))
    assert full_document("prose").startswith(msg.content[0].text)  # type: ignore[union-attr]


def test_max_tokens_inside_tool_input_has_no_block_stop(sim_url: str, claude: anthropic.Anthropic) -> None:
    body = {"model": MODEL, "max_tokens": 60, "tools": [TOOL], "messages": ask("tool"), "stream": True}
    events = [
        (e.event, json.loads(e.data))
        for e in iter_events([httpx2.post(f"{sim_url}/v1/messages", json=body).content])
    ]
    names = [name for name, _ in events]
    assert names[-2:] == ["message_delta", "message_stop"]
    assert names[-3] == "content_block_delta"  # no content_block_stop for the cut tool block
    assert names.count("content_block_stop") == 1  # the text block's only
    assert events[-2][1]["delta"]["stop_reason"] == "max_tokens"
    partial = "".join(
        d["delta"].get("partial_json", "")
        for n, d in events
        if n == "content_block_delta" and d["index"] == 1
    )
    assert full_document("tool").startswith(partial) and partial
    # Through the SDK: the message says max_tokens and ends on the cut tool block.
    with claude.messages.stream(**{k: v for k, v in body.items() if k != "stream"}) as stream:  # type: ignore[arg-type]
        final = stream.get_final_message()
    assert final.stop_reason == "max_tokens" and final.content[-1].type == "tool_use"
    plain = claude.messages.create(model=MODEL, max_tokens=60, tools=[TOOL], messages=ask("tool"))
    assert plain.stop_reason == "max_tokens" and plain.content[-1].type == "tool_use"
    assert isinstance(plain.content[-1].input, dict)  # best-effort partial parse


def test_pause_turn_loop(claude: anthropic.Anthropic) -> None:
    messages: list[dict[str, object]] = ask("search the web, then write prose")
    first = claude.messages.create(model=MODEL, max_tokens=20000, tools=[WEB_SEARCH], messages=messages)
    assert first.stop_reason == "pause_turn"
    assert [b.type for b in first.content] == ["server_tool_use", "web_search_tool_result"] * 2
    assert first.usage.server_tool_use is not None and first.usage.server_tool_use.web_search_requests == 2
    # Send the paused turn back as-is: the loop resumes and finishes (3 searches by default).
    messages.append({"role": "assistant", "content": first.to_dict()["content"]})
    second = claude.messages.create(
        model="claude-opus-4-6", max_tokens=20000, tools=[WEB_SEARCH], messages=messages
    )
    assert second.stop_reason == "end_turn"
    assert [b.type for b in second.content] == ["server_tool_use", "web_search_tool_result", "text"]
    assert second.content[-1].text == full_document("prose")  # type: ignore[union-attr]


def test_pause_turn_stream_and_headers(claude: anthropic.Anthropic) -> None:
    headers = {"x-sim-searches": "4", "x-sim-pause-after": "1"}
    with claude.messages.stream(
        model=MODEL, max_tokens=100, tools=[WEB_SEARCH], messages=ask("json"), extra_headers=headers
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "pause_turn"
    assert [b.type for b in final.content] == ["server_tool_use", "web_search_tool_result"]
    assert final.content[0].input == {"query": "json reference 1"}  # type: ignore[union-attr]


@pytest.mark.parametrize("stream", [False, True])
def test_refusal_with_stop_details(claude: anthropic.Anthropic, stream: bool) -> None:
    kwargs = {
        "model": MODEL,
        "max_tokens": 100,
        "messages": ask("prose"),
        "extra_headers": {"x-sim-stop": "refusal:5"},
    }
    if stream:
        with claude.messages.stream(**kwargs) as s:  # type: ignore[arg-type]
            msg = s.get_final_message()
    else:
        msg = claude.messages.create(**kwargs)  # type: ignore[arg-type]
    assert msg.stop_reason == "refusal"
    assert msg.stop_details is not None and msg.stop_details.type == "refusal"
    assert msg.stop_details.category == "cyber" and msg.stop_details.explanation
    assert msg.content[0].text == "".join(tokenize(full_document("prose"))[:5])  # type: ignore[union-attr]


def test_refusal_before_any_text_has_an_empty_block(claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(
        model=MODEL, max_tokens=100, messages=ask("x"), extra_headers={"x-sim-stop": "refusal"}
    )
    assert msg.stop_reason == "refusal" and msg.content[0].text == "" and msg.usage.output_tokens == 0  # type: ignore[union-attr]


def test_model_context_window_exceeded_with_the_beta(claude: anthropic.Anthropic) -> None:
    headers = {"anthropic-beta": "model-context-window-exceeded-2025-08-26", "x-sim-context-window": "60"}
    msg = claude.messages.create(model=MODEL, max_tokens=500, messages=ask("prose"), extra_headers=headers)
    assert msg.stop_reason == "model_context_window_exceeded"
    assert msg.usage.input_tokens + msg.usage.output_tokens == 60


def test_model_context_window_exceeded_on_demand(claude: anthropic.Anthropic) -> None:
    msg = claude.messages.create(
        model=MODEL, max_tokens=500, messages=ask("cjk"), extra_headers={"x-sim-stop": "context-window:12"}
    )
    assert msg.stop_reason == "model_context_window_exceeded" and msg.usage.output_tokens == 12


def test_thinking_blocks_have_signatures_and_count_against_max_tokens(claude: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    msg = claude.messages.create(model=MODEL, max_tokens=1100, thinking=thinking, messages=ask("prose"))  # type: ignore[arg-type]
    assert [b.type for b in msg.content] == ["thinking", "text"]
    block = msg.content[0]
    assert block.type == "thinking" and block.signature and len(tokenize(block.thinking)) == 200
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 1100
    assert len(tokenize(msg.content[1].text)) == 900  # type: ignore[union-attr]
    # The signed block can be sent back; a tampered one cannot.
    back = [*ask("prose"), {"role": "assistant", "content": msg.to_dict()["content"]}, *ask("go on")]
    claude.messages.create(model=MODEL, max_tokens=1100, thinking=thinking, messages=back)  # type: ignore[arg-type]
    back[1]["content"][0]["signature"] = "forged"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError, match="Invalid `signature` in `thinking` block"):
        claude.messages.create(model=MODEL, max_tokens=1100, thinking=thinking, messages=back)  # type: ignore[arg-type]


def test_thinking_cut_by_max_tokens_has_no_signature(claude: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    headers = {"x-sim-thinking-tokens": "1500"}
    with claude.messages.stream(
        model=MODEL,
        max_tokens=1200,
        thinking=thinking,
        messages=ask("code"),
        extra_headers=headers,  # type: ignore[arg-type]
    ) as stream:
        events = [e.type for e in stream]
        msg = stream.get_final_message()
    assert msg.stop_reason == "max_tokens"
    assert [b.type for b in msg.content] == ["thinking"]  # reasoning-only truncation
    assert msg.content[0].signature == ""  # type: ignore[union-attr]
    assert "signature" not in events


def test_thinking_budget_must_be_below_max_tokens(claude: anthropic.Anthropic) -> None:
    with pytest.raises(
        anthropic.BadRequestError, match=r"`max_tokens` must be greater than `thinking\.budget_tokens`"
    ):
        claude.messages.create(
            model=MODEL,
            max_tokens=1024,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=ask("x"),
        )


def test_openai_finish_reasons(gpt: openai.OpenAI) -> None:
    assert (
        gpt.chat.completions.create(model="gpt-4o", messages=ask("prose")).choices[0].finish_reason == "stop"
    )
    cut = gpt.chat.completions.create(model="gpt-4o", max_tokens=9, messages=ask("prose"))
    assert (
        cut.choices[0].finish_reason == "length"
        and cut.usage is not None
        and cut.usage.completion_tokens == 9
    )
    doc = full_document("table")
    stop = gpt.chat.completions.create(model="gpt-4.1", messages=ask("table"), stop=["| 3 |"])
    assert (
        stop.choices[0].finish_reason == "stop"
        and stop.choices[0].message.content == doc[: doc.index("| 3 |")]
    )
    filtered = gpt.chat.completions.create(
        model="gpt-4o", messages=ask("prose"), extra_headers={"x-sim-stop": "content-filter:4"}
    )
    assert filtered.choices[0].finish_reason == "content_filter"


def test_openai_tool_calls_and_cut_arguments(gpt: openai.OpenAI) -> None:
    done = gpt.chat.completions.create(model="gpt-4o", tools=[OPENAI_TOOL], messages=ask("tool"))  # type: ignore[list-item]
    call = done.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert done.choices[0].finish_reason == "tool_calls" and done.choices[0].message.content is None
    assert call.id.startswith("call_") and call.function.arguments == full_document("tool")  # type: ignore[union-attr]
    chunks = list(
        gpt.chat.completions.create(
            model="gpt-4o", tools=[OPENAI_TOOL], messages=ask("tool"), max_tokens=40, stream=True
        )  # type: ignore[list-item]
    )
    args = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""  # type: ignore[index, union-attr]
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert chunks[-1].choices[0].finish_reason == "length"
    assert args == "".join(tokenize(full_document("tool"))[:40])


def test_openai_refusal(gpt: openai.OpenAI) -> None:
    msg = gpt.chat.completions.create(
        model="gpt-4o", messages=ask("x"), extra_headers={"x-sim-stop": "refusal"}
    )
    assert msg.choices[0].finish_reason == "stop"
    assert msg.choices[0].message.refusal and msg.choices[0].message.content is None

    async def main() -> str:
        async with openai.AsyncOpenAI(base_url=str(gpt.base_url), api_key="x") as client:
            stream = await client.chat.completions.create(
                model="gpt-4o",
                messages=ask("x"),
                stream=True,
                extra_headers={"x-sim-stop": "refusal"},  # type: ignore[arg-type]
            )
            return "".join([c.choices[0].delta.refusal or "" async for c in stream if c.choices])

    assert asyncio.run(main()) == msg.choices[0].message.refusal


def test_openai_tool_result_gets_the_closing_answer(gpt: openai.OpenAI) -> None:
    call = gpt.chat.completions.create(model="gpt-4o", tools=[OPENAI_TOOL], messages=ask("tool"))  # type: ignore[list-item]
    message = call.choices[0].message
    tool_call = message.tool_calls[0]  # type: ignore[index]
    follow = gpt.chat.completions.create(
        model="gpt-4o",
        tools=[OPENAI_TOOL],  # type: ignore[list-item]
        messages=[
            *ask("tool"),  # type: ignore[list-item]
            message.model_dump(exclude_none=True),  # type: ignore[list-item]
            {"role": "tool", "tool_call_id": tool_call.id, "content": "written"},
        ],
    )
    assert follow.choices[0].finish_reason == "stop"
    assert follow.choices[0].message.content == document("tool-followup").text


def test_thinking_stream_matches_non_stream(sim_url: str) -> None:
    kwargs: dict[str, object] = {
        "model": MODEL,
        "max_tokens": 1500,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": ask("json"),
    }

    async def main() -> None:
        async with anthropic.AsyncAnthropic(base_url=sim_url, api_key="x", max_retries=0) as client:
            plain = await client.messages.create(**kwargs)  # type: ignore[call-overload]
            async with client.messages.stream(**kwargs) as stream:  # type: ignore[arg-type]
                types = [e.type async for e in stream]
                final = await stream.get_final_message()
        assert "signature" in types and "thinking" in types
        assert final.content[0].to_dict() == plain.content[0].to_dict()
        assert final.usage.output_tokens == plain.usage.output_tokens == 1500

    asyncio.run(main())


def test_async_relay_and_openai(sim_url: str) -> None:
    async def main() -> None:
        async with (
            openai.AsyncOpenAI(base_url=f"{sim_url}/relay/v1", api_key="x", max_retries=0) as relay,
            openai.AsyncOpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0) as gpt,
        ):
            cut = await relay.chat.completions.create(
                model="claude-haiku-4-5", messages=ask("json"), max_tokens=7
            )  # type: ignore[arg-type]
            assert cut.choices[0].finish_reason == "max_tokens" and cut.id.startswith("msg_")
            done = await gpt.chat.completions.create(model="gpt-4.1", messages=ask("cjk"))  # type: ignore[arg-type]
            assert done.choices[0].message.content == full_document("cjk")

    asyncio.run(main())
