"""The shapes real APIs and relays produce (docs/sim.md, "Shapes"): citations, parallel tool
calls, interleaved and redacted thinking, relay error chunks and restarted streams. Each stream
goes through the official SDKs' own accumulators, and every shape is deterministic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from openai._models import construct_type
from openai.lib.streaming.chat._completions import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from stopwise.sim import create_app, document, full_document, tokenize
from stopwise.sim.documents import tool_call_input
from stopwise.sim.generate import signature_for
from stopwise.sse import iter_events

MODEL = "claude-haiku-4-5"
FACTS = "The grass is green. The sky is blue."
TEXT_DOC = {
    "type": "document",
    "source": {"type": "text", "media_type": "text/plain", "data": FACTS},
    "title": "Facts",
    "citations": {"enabled": True},
}
TOOLS = [
    {"name": name, "description": "d", "input_schema": {"type": "object"}}
    for name in ("write_file", "read_file", "list_dir")
]
OPENAI_TOOLS = [
    {"type": "function", "function": {"name": t["name"], "parameters": {"type": "object"}}} for t in TOOLS
]
THINKING = {"type": "enabled", "budget_tokens": 1024}
INTERLEAVED = {"anthropic-beta": "interleaved-thinking-2025-05-14"}


def post(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx2.Response:
    """One request to a fresh app: the same request always gives the same bytes."""

    async def main() -> httpx2.Response:
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(create_app()), base_url="http://sim"
        ) as client:
            response = await client.post(path, json=body, headers=headers or {})
            await response.aread()
            return response

    return asyncio.run(main())


def events(raw: bytes) -> list[tuple[str | None, Any]]:
    out: list[tuple[str | None, Any]] = []
    for event in iter_events([raw]):
        out.append((event.event, event.data if event.data == "[DONE]" else json.loads(event.data)))
    return out


def openai_state(raw: bytes) -> dict[str, Any]:
    """What the openai SDK's own accumulator builds from a chunk stream."""
    state = ChatCompletionStreamState()
    for _, data in events(raw):
        if data == "[DONE]":
            break
        state.handle_chunk(construct_type(type_=ChatCompletionChunk, value=data))  # type: ignore[arg-type]
    result: dict[str, Any] = state.current_completion_snapshot.to_dict()
    return result


def sdk(client: Any) -> Any:
    """The client untyped: the request bodies here are plain dicts."""
    return client


def create(client: anthropic.Anthropic, **kwargs: Any) -> Any:
    return sdk(client).messages.create(**kwargs)


def text_of(content: Iterable[dict[str, Any]]) -> str:
    return "".join(b["text"] for b in content if b["type"] == "text")


def create_and_stream(claude: anthropic.Anthropic, headers: dict[str, str] | None = None, **body: Any) -> Any:
    """The non-streaming message and the one the SDK's MessageStream builds, as dicts."""
    kwargs: dict[str, Any] = {"model": MODEL, "extra_headers": headers or {}, **body}
    whole = create(claude, **kwargs).to_dict()
    with sdk(claude).messages.stream(**kwargs) as stream:
        streamed = stream.get_final_message().to_dict()
    return whole, streamed


def same_answer(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Same content (tool ids aside: every request gets its own), stop reason and usage."""

    def blocks(m: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in block.items() if k != "id"} for block in m["content"]]

    assert blocks(a) == blocks(b)
    assert a["stop_reason"] == b["stop_reason"]
    assert a["usage"]["output_tokens"] == b["usage"]["output_tokens"]


# --- citations ----------------------------------------------------------------------------------


def test_document_citations_split_the_answer_into_cited_blocks(claude: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": [TEXT_DOC, {"type": "text", "text": "prose"}]}]
    whole, streamed = create_and_stream(claude, max_tokens=20000, messages=messages)
    same_answer(whole, streamed)
    content = whole["content"]
    assert text_of(content) == full_document("prose") and whole["stop_reason"] == "end_turn"
    cited = [b for b in content if b.get("citations")]
    assert len(cited) == 22 and all(b["text"].strip() for b in cited)
    assert all(b["citations"] is None and b["text"] == "\n\n" for b in content if b not in cited)
    assert cited[0]["citations"] == [
        {
            "type": "char_location",
            "cited_text": "The grass is green.",
            "document_index": 0,
            "document_title": "Facts",
            "start_char_index": 0,
            "end_char_index": 19,
        }
    ]
    second = cited[1]["citations"][0]
    assert (
        FACTS[second["start_char_index"] : second["end_char_index"]]
        == second["cited_text"]
        == "The sky is blue."
    )


def test_citations_delta_comes_before_the_cited_text() -> None:
    messages = [{"role": "user", "content": [TEXT_DOC, {"type": "text", "text": "prose"}]}]
    body = {"model": MODEL, "max_tokens": 300, "stream": True, "messages": messages}
    stream = events(post("/v1/messages", body).content)
    starts = {d["index"]: d["content_block"] for n, d in stream if n == "content_block_start"}
    assert starts[0] == {"type": "text", "text": "", "citations": None}
    first_delta: dict[int, str] = {}
    for name, data in stream:
        if name == "content_block_delta":
            first_delta.setdefault(data["index"], data["delta"]["type"])
    assert first_delta[0] == first_delta[2] == "citations_delta"
    assert first_delta[1] == "text_delta"  # the paragraph break cites nothing


@pytest.mark.parametrize(
    ("knob", "location", "fields"),
    [
        ("char", "char_location", {"start_char_index", "end_char_index"}),
        ("page", "page_location", {"start_page_number", "end_page_number"}),
        ("content", "content_block_location", {"start_block_index", "end_block_index"}),
    ],
)
def test_citations_knob(claude: anthropic.Anthropic, knob: str, location: str, fields: set[str]) -> None:
    whole, streamed = create_and_stream(
        claude, {"x-sim-citations": knob}, max_tokens=150, messages=[{"role": "user", "content": "prose"}]
    )
    same_answer(whole, streamed)
    citation = whole["content"][0]["citations"][0]
    assert citation["type"] == location and fields <= set(citation)
    assert citation["document_title"] == "The prose reference" and citation["cited_text"]
    assert whole["stop_reason"] == "max_tokens"


def test_pdf_and_content_documents_cite_pages_and_blocks(claude: anthropic.Anthropic) -> None:
    pdf = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
        "citations": {"enabled": True},
    }
    blocks = {
        "type": "document",
        "source": {
            "type": "content",
            "content": [{"type": "text", "text": "First."}, {"type": "text", "text": "Second."}],
        },
        "title": "Notes",
        "citations": {"enabled": True},
    }
    messages = [{"role": "user", "content": [pdf, blocks, {"type": "text", "text": "prose"}]}]
    msg = create(claude, model=MODEL, max_tokens=20000, messages=messages).to_dict()
    cited = [b["citations"][0] for b in msg["content"] if b.get("citations")]
    assert cited[0]["type"] == "page_location" and cited[0]["document_index"] == 0
    assert cited[0]["document_title"] is None and cited[0]["start_page_number"] == 1
    assert cited[1] == {
        "type": "content_block_location",
        "cited_text": "First.",
        "document_index": 1,
        "document_title": "Notes",
        "start_block_index": 0,
        "end_block_index": 1,
    }
    assert cited[3]["cited_text"] == "Second."


def test_citations_off_by_default_and_for_disabled_documents(claude: anthropic.Anthropic) -> None:
    off = {**TEXT_DOC, "citations": {"enabled": False}}
    msg = create(
        claude,
        model=MODEL,
        max_tokens=30,
        messages=[{"role": "user", "content": [off, {"type": "text", "text": "prose"}]}],
    )
    assert len(msg.content) == 1 and "citations" not in msg.to_dict()["content"][0]
    with pytest.raises(anthropic.BadRequestError, match="x-sim-citations"):
        create(
            claude,
            model=MODEL,
            max_tokens=30,
            messages=[{"role": "user", "content": "prose"}],
            extra_headers={"x-sim-citations": "url"},
        )


def test_openai_has_no_citations(gpt: openai.OpenAI) -> None:
    out = sdk(gpt).chat.completions.create(
        model="gpt-4o",
        max_tokens=2000,
        messages=[{"role": "user", "content": "prose"}],
        extra_headers={"x-sim-citations": "char"},
    )
    assert out.choices[0].message.annotations == [] and out.choices[0].message.content
    assert full_document("prose").startswith(out.choices[0].message.content)


# --- parallel tool calls ---------------------------------------------------------------------


def test_parallel_tool_calls_anthropic(claude: anthropic.Anthropic) -> None:
    whole, streamed = create_and_stream(
        claude,
        {"x-sim-tool-calls": "3"},
        max_tokens=2000,
        tools=TOOLS,
        messages=[{"role": "user", "content": "Use the tools."}],
    )
    same_answer(whole, streamed)
    calls = [b for b in whole["content"] if b["type"] == "tool_use"]
    assert [b["type"] for b in whole["content"]] == ["text", "tool_use", "tool_use", "tool_use"]
    assert [c["name"] for c in calls] == ["write_file", "read_file", "list_dir"]
    assert [c["input"] for c in calls] == [json.loads(tool_call_input(k)) for k in range(3)]
    assert len({c["id"] for c in calls}) == 3 and whole["stop_reason"] == "tool_use"
    # The loop goes on once every call has its result.
    results = [{"type": "tool_result", "tool_use_id": c["id"], "content": "ok"} for c in calls]
    follow = create(
        claude,
        model=MODEL,
        max_tokens=200,
        tools=TOOLS,
        messages=[
            {"role": "user", "content": "Use the tools."},
            {"role": "assistant", "content": whole["content"]},
            {"role": "user", "content": results},
        ],
    )
    assert follow.stop_reason == "end_turn"


def test_second_parallel_call_cut_by_max_tokens(claude: anthropic.Anthropic) -> None:
    messages = [{"role": "user", "content": "tools"}]
    body = {"model": MODEL, "max_tokens": 130, "tools": TOOLS, "messages": messages}
    whole, streamed = create_and_stream(claude, {"x-sim-tool-calls": "2"}, **body)
    same_answer(whole, streamed)
    assert whole["stop_reason"] == "max_tokens"
    first, second = [b for b in whole["content"] if b["type"] == "tool_use"]
    assert first["input"] == json.loads(tool_call_input(0))
    assert second["input"] != json.loads(tool_call_input(1))
    raw = post("/v1/messages", {**body, "stream": True}, {"x-sim-tool-calls": "2"}).content
    stops = [d["index"] for n, d in events(raw) if n == "content_block_stop"]
    assert stops == [0, 1]  # the cut call (index 2) is never closed


def test_parallel_tool_calls_openai_are_sequential(gpt: openai.OpenAI, sim_url: str) -> None:
    body = {"model": "gpt-4o", "tools": OPENAI_TOOLS, "messages": [{"role": "user", "content": "tool"}]}
    headers = {"x-sim-tool-calls": "3"}
    whole = post("/v1/chat/completions", body, headers).json()
    calls = whole["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["arguments"] for c in calls] == [tool_call_input(k) for k in range(3)]
    assert whole["choices"][0]["finish_reason"] == "tool_calls"
    raw = post("/v1/chat/completions", {**body, "stream": True}, headers).content
    indexes = [
        d["choices"][0]["delta"]["tool_calls"][0]["index"]
        for _, d in events(raw)
        if d != "[DONE]" and d["choices"] and "tool_calls" in d["choices"][0]["delta"]
    ]
    assert indexes == sorted(indexes) and set(indexes) == {0, 1, 2}
    with sdk(gpt).chat.completions.stream(
        model="gpt-4o",
        tools=OPENAI_TOOLS,
        messages=[{"role": "user", "content": "tool"}],
        extra_headers=headers,
    ) as stream:
        final = stream.get_final_completion()
    streamed = [
        (c.id, c.function.name, c.function.arguments) for c in final.choices[0].message.tool_calls or []
    ]
    assert [s[1:] for s in streamed] == [(c["function"]["name"], c["function"]["arguments"]) for c in calls]


def test_parallel_tool_calls_openai_cut_at_length() -> None:
    body = {
        "model": "gpt-4o",
        "max_tokens": 100,
        "stream": True,
        "tools": OPENAI_TOOLS,
        "messages": [{"role": "user", "content": "tool"}],
    }
    final = openai_state(post("/v1/chat/completions", body, {"x-sim-tool-calls": "2"}).content)
    choice = final["choices"][0]
    assert choice["finish_reason"] == "length"
    first, second = choice["message"]["tool_calls"]
    assert first["function"]["arguments"] == tool_call_input(0)
    partial = second["function"]["arguments"]
    assert partial and tool_call_input(1).startswith(partial) and partial != tool_call_input(1)


def test_parallel_tool_calls_through_the_relay() -> None:
    body = {
        "model": MODEL,
        "tools": OPENAI_TOOLS,
        "messages": [{"role": "user", "content": "tool"}],
        "stream": True,
    }
    final = openai_state(post("/relay/v1/chat/completions", body, {"x-sim-tool-calls": "2"}).content)
    assert final["choices"][0]["finish_reason"] == "tool_use"
    assert [c["function"]["name"] for c in final["choices"][0]["message"]["tool_calls"]] == [
        "write_file",
        "read_file",
    ]


# --- interleaved and redacted thinking -------------------------------------------------------


def tool_turn(claude: anthropic.Anthropic, headers: dict[str, str], model: str = MODEL, **body: Any) -> Any:
    return create_and_stream(
        claude,
        headers,
        model=model,
        max_tokens=5000,
        tools=TOOLS[:1],
        messages=[{"role": "user", "content": "tool"}],
        **body,
    )


def test_interleaved_thinking_between_text_and_tool_call(claude: anthropic.Anthropic) -> None:
    whole, streamed = tool_turn(claude, INTERLEAVED, thinking=THINKING)
    same_answer(whole, streamed)
    content = whole["content"]
    assert [b["type"] for b in content] == ["thinking", "text", "thinking", "tool_use"]
    assert all(b["signature"] == signature_for(b["thinking"]) for b in content if b["type"] == "thinking")
    assert content[0]["thinking"] != content[2]["thinking"]
    # After the tool result the model thinks again before it answers; the signed blocks go back.
    call = content[3]
    follow = create(
        claude,
        model=MODEL,
        max_tokens=5000,
        tools=TOOLS[:1],
        thinking=THINKING,
        extra_headers=INTERLEAVED,
        messages=[
            {"role": "user", "content": "tool"},
            {"role": "assistant", "content": content},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "ok"}],
            },
        ],
    )
    assert [b.type for b in follow.content] == ["thinking", "text"] and follow.stop_reason == "end_turn"


def test_no_interleaving_without_the_beta(claude: anthropic.Anthropic) -> None:
    whole, _ = tool_turn(claude, {}, thinking=THINKING)
    assert [b["type"] for b in whole["content"]] == ["thinking", "text", "tool_use"]


def test_opus_4_6_interleaves_with_adaptive_thinking(claude: anthropic.Anthropic) -> None:
    whole, streamed = tool_turn(claude, {}, model="claude-opus-4-6", thinking={"type": "adaptive"})
    same_answer(whole, streamed)
    assert [b["type"] for b in whole["content"]] == ["thinking", "text", "thinking", "tool_use"]


def test_interleaved_thinking_cut_has_no_signature() -> None:
    preface = len(tokenize(document("tool").text))
    body = {
        "model": MODEL,
        "max_tokens": 1100 + preface + 100,  # the second thinking block is 275 tokens
        "thinking": THINKING,
        "stream": True,
        "tools": TOOLS[:1],
        "messages": [{"role": "user", "content": "tool"}],
    }
    headers = INTERLEAVED | {"x-sim-thinking-tokens": "1100"}
    stream = events(post("/v1/messages", body, headers).content)
    types = [d["content_block"]["type"] for n, d in stream if n == "content_block_start"]
    assert types == ["thinking", "text", "thinking"]
    signed = [
        d["index"]
        for n, d in stream
        if n == "content_block_delta" and d["delta"]["type"] == "signature_delta"
    ]
    assert signed == [0]
    assert stream[-2][1]["delta"]["stop_reason"] == "max_tokens"


def test_redacted_thinking(claude: anthropic.Anthropic) -> None:
    headers = {"x-sim-redacted-thinking": "true"}
    whole, streamed = create_and_stream(
        claude, headers, max_tokens=3000, thinking=THINKING, messages=[{"role": "user", "content": "prose"}]
    )
    same_answer(whole, streamed)
    first = whole["content"][0]
    assert (
        first["type"] == "redacted_thinking" and len(first["data"]) > 100 and set(first) == {"type", "data"}
    )
    assert whole["content"][1]["type"] == "text" and whole["usage"]["output_tokens"] == 3000
    # The block goes back as it came.
    again = create(
        claude,
        model=MODEL,
        max_tokens=3000,
        thinking=THINKING,
        messages=[
            {"role": "user", "content": "prose"},
            {"role": "assistant", "content": whole["content"]},
            {"role": "user", "content": "Continue."},
        ],
    )
    assert again.content[0].type == "thinking"


# --- relay error chunks ----------------------------------------------------------------------


RELAY_BODY = {
    "model": "claude-opus-4-0",
    "max_tokens": 50,
    "stream": True,
    "messages": [{"role": "user", "content": "prose"}],
}


@pytest.mark.parametrize(
    ("style", "event_name", "expected"),
    [
        ("litellm", None, {"type": "internal_server_error", "param": None, "code": "500"}),
        ("new-api", None, {"type": "overloaded_error", "param": "", "code": "overloaded_error"}),
        ("one-api", None, {"type": "one_api_error", "param": "", "code": "read_response_body_failed"}),
        ("openai", None, {"type": "server_error", "param": None, "code": None}),
        ("anthropic", "error", {"type": "overloaded_error"}),
    ],
)
def test_relay_error_chunks(
    relay: openai.OpenAI, style: str, event_name: str | None, expected: dict[str, Any]
) -> None:
    headers = {"x-sim-fault": f"stream-error:3:{style}"}
    stream = events(post("/relay/v1/chat/completions", RELAY_BODY, headers).content)
    assert len(stream) == 4 and stream[-1][0] == event_name
    error = stream[-1][1]["error"]
    assert {k: error[k] for k in expected} == expected and error["message"]
    if style == "litellm":
        raw = post("/relay/v1/chat/completions", RELAY_BODY, headers).content
        assert b'data: {"error": {"message": "litellm.InternalServerError: AnthropicException' in raw
    with pytest.raises(openai.APIError) as info:
        for _ in sdk(relay).chat.completions.create(**RELAY_BODY, extra_headers=headers):
            pass
    body = info.value.body
    assert isinstance(body, dict) and {k: body[k] for k in expected} == expected


def test_unknown_stream_error_style_is_a_400(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="stream-error:3:nginx"):
        create(
            claude,
            model=MODEL,
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-sim-fault": "stream-error:3:nginx"},
        )


# --- restarted streams -----------------------------------------------------------------------


def test_anthropic_stream_restarted_by_a_relay(claude: anthropic.Anthropic) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 40,
        "stream": True,
        "messages": [{"role": "user", "content": "prose"}],
    }
    stream = events(post("/v1/messages", body, {"x-sim-fault": "restart:6"}).content)
    starts = [i for i, (n, _) in enumerate(stream) if n == "message_start"]
    assert starts[0] == 0 and starts[1] == 6 and len(starts) == 2
    first_id, second_id = (stream[i][1]["message"]["id"] for i in starts)
    assert first_id != second_id
    again = "".join(
        d["delta"]["text"]
        for n, d in stream[6:]
        if n == "content_block_delta" and d["delta"]["type"] == "text_delta"
    )
    assert again == "".join(
        __import__("stopwise.sim", fromlist=["tokenize"]).tokenize(full_document("prose"))[:40]
    )
    # The SDK's accumulator takes it without a word, and shows the start twice.
    with sdk(claude).messages.stream(
        model=MODEL,
        max_tokens=40,
        messages=[{"role": "user", "content": "prose"}],
        extra_headers={"x-sim-fault": "restart:6"},
    ) as restarted:
        final = restarted.get_final_message()
    assert final.id.startswith("msg_01") and final.stop_reason == "max_tokens"
    shown = "".join(b.text for b in final.content if b.type == "text")
    assert shown.count(again[:20]) == 2


def test_openai_stream_restarted_with_a_new_id() -> None:
    body = {
        "model": "gpt-4o",
        "max_tokens": 30,
        "stream": True,
        "messages": [{"role": "user", "content": "prose"}],
    }
    plain = events(post("/v1/chat/completions", body).content)
    stream = events(post("/v1/chat/completions", body, {"x-sim-fault": "restart:4"}).content)
    assert len(stream) == 4 + len(plain)
    ids = [d["id"] for _, d in stream if d != "[DONE]"]
    assert len(set(ids[:4])) == 1 and len(set(ids[4:])) == 1 and ids[0] != ids[4]
    assert stream[4][1]["choices"][0]["delta"]["role"] == "assistant"
    final = openai_state(post("/v1/chat/completions", body, {"x-sim-fault": "restart:4"}).content)
    text = "".join(
        d["choices"][0]["delta"].get("content") or "" for _, d in plain if d != "[DONE]" and d["choices"]
    )
    head = "".join(d["choices"][0]["delta"].get("content") or "" for _, d in stream[:4])
    assert final["choices"][0]["message"]["content"] == head + text


def test_relay_restart() -> None:
    stream = events(post("/relay/v1/chat/completions", RELAY_BODY, {"x-sim-fault": "restart:3"}).content)
    ids = [d["id"] for _, d in stream if d != "[DONE]"]
    assert ids[0].startswith("msg_01") and ids[3].startswith("msg_01") and ids[0] != ids[3]
    assert stream[-1][1] == "[DONE]"


# --- determinism -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        (
            "/v1/messages",
            {"messages": [{"role": "user", "content": [TEXT_DOC, {"type": "text", "text": "prose"}]}]},
            {},
        ),
        ("/v1/messages", {"messages": [{"role": "user", "content": "prose"}]}, {"x-sim-citations": "page"}),
        (
            "/v1/messages",
            {"tools": TOOLS, "messages": [{"role": "user", "content": "tool"}]},
            {"x-sim-tool-calls": "3"},
        ),
        (
            "/v1/messages",
            {"tools": TOOLS, "thinking": THINKING, "messages": [{"role": "user", "content": "tool"}]},
            INTERLEAVED | {"x-sim-redacted-thinking": "1"},
        ),
        ("/v1/messages", {"messages": [{"role": "user", "content": "prose"}]}, {"x-sim-fault": "restart:5"}),
        (
            "/relay/v1/chat/completions",
            {"messages": [{"role": "user", "content": "prose"}]},
            {"x-sim-fault": "stream-error:4:new-api"},
        ),
        (
            "/v1/chat/completions",
            {"tools": OPENAI_TOOLS, "messages": [{"role": "user", "content": "tool"}]},
            {"x-sim-tool-calls": "2"},
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_new_shapes_are_deterministic(
    path: str, body: dict[str, Any], headers: dict[str, str], stream: bool
) -> None:
    model = "gpt-4o" if path.startswith("/v1/chat") else MODEL
    full = {"model": model, "max_tokens": 2000, "stream": stream, **body}
    first, second = post(path, full, headers), post(path, full, headers)
    assert first.status_code == 200 and first.content == second.content
    rid = "x-request-id" if "chat/completions" in path else "request-id"
    assert first.headers[rid] == second.headers[rid]
