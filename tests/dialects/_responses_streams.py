"""Responses API stream builders and a hypothesis strategy for whole Responses streams.

The grammar follows the recordings in tests/fixtures/responses and the API reference:
``response.created`` → ``response.in_progress`` → for each output item ``output_item.added``,
its parts and deltas, ``output_item.done`` → one terminal event (``response.completed``,
``response.incomplete``, ``response.failed``), every event numbered by ``sequence_number``.
Texts and argument JSON are cut at arbitrary points (inside escapes and multi-byte characters).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from _streams import TEXT, TOOL_INPUT, fragments, sse
from hypothesis import strategies as st

RESP_ID = "resp_0a4bc5e23769d65c00696d5e682884819da7fe3195ef84aa"


def r_response(
    status: str = "in_progress", output: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "id": RESP_ID,
        "object": "response",
        "created_at": 1768775272,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": "gpt-5.2-2025-12-11",
        "output": output if output is not None else [],
        "usage": None,
        **extra,
    }


def r_usage(inp: int, out: int, *, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": inp,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": out,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": inp + out,
    }


def r_event(etype: str, **fields: Any) -> dict[str, Any]:
    return {"type": etype, **fields}


def r_created() -> dict[str, Any]:
    return r_event("response.created", response=r_response())


def r_message(
    mid: str, text: str | None = None, refusal: str | None = None, status: str = "completed"
) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text is not None:
        content.append({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    if refusal is not None:
        content.append({"type": "refusal", "refusal": refusal})
    return {"id": mid, "type": "message", "status": status, "role": "assistant", "content": content}


def r_call(fid: str, args: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": fid,
        "type": "function_call",
        "status": status,
        "arguments": args,
        "call_id": "call_" + fid[3:27],
        "name": "get_capital",
    }


def r_reasoning(rid: str, summary: list[str]) -> dict[str, Any]:
    return {
        "id": rid,
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": s} for s in summary],
        "encrypted_content": "gAAAAABpbV5s" + rid[-8:],
    }


def text_events(index: int, mid: str, pieces: list[str]) -> list[dict[str, Any]]:
    whole = "".join(pieces)
    return [
        r_event(
            "response.output_item.added",
            output_index=index,
            item={**r_message(mid), "status": "in_progress", "content": []},
        ),
        r_event(
            "response.content_part.added",
            item_id=mid,
            output_index=index,
            content_index=0,
            part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
        ),
        *[
            r_event(
                "response.output_text.delta",
                item_id=mid,
                output_index=index,
                content_index=0,
                delta=p,
                logprobs=[],
            )
            for p in pieces
        ],
        r_event(
            "response.output_text.done",
            item_id=mid,
            output_index=index,
            content_index=0,
            text=whole,
            logprobs=[],
        ),
        r_event(
            "response.content_part.done",
            item_id=mid,
            output_index=index,
            content_index=0,
            part={"type": "output_text", "text": whole, "annotations": [], "logprobs": []},
        ),
        r_event("response.output_item.done", output_index=index, item=r_message(mid, whole)),
    ]


def refusal_events(index: int, mid: str, pieces: list[str]) -> list[dict[str, Any]]:
    whole = "".join(pieces)
    return [
        r_event(
            "response.output_item.added",
            output_index=index,
            item={**r_message(mid), "status": "in_progress", "content": []},
        ),
        r_event(
            "response.content_part.added",
            item_id=mid,
            output_index=index,
            content_index=0,
            part={"type": "refusal", "refusal": ""},
        ),
        *[
            r_event("response.refusal.delta", item_id=mid, output_index=index, content_index=0, delta=p)
            for p in pieces
        ],
        r_event("response.refusal.done", item_id=mid, output_index=index, content_index=0, refusal=whole),
        r_event("response.output_item.done", output_index=index, item=r_message(mid, refusal=whole)),
    ]


def call_events(index: int, fid: str, pieces: list[str]) -> list[dict[str, Any]]:
    whole = "".join(pieces)
    return [
        r_event("response.output_item.added", output_index=index, item=r_call(fid, "", status="in_progress")),
        *[
            r_event("response.function_call_arguments.delta", item_id=fid, output_index=index, delta=p)
            for p in pieces
        ],
        r_event("response.function_call_arguments.done", item_id=fid, output_index=index, arguments=whole),
        r_event("response.output_item.done", output_index=index, item=r_call(fid, whole)),
    ]


def reasoning_events(index: int, rid: str, pieces: list[str]) -> list[dict[str, Any]]:
    whole = "".join(pieces)
    return [
        r_event(
            "response.output_item.added",
            output_index=index,
            item={**r_reasoning(rid, []), "encrypted_content": None},
        ),
        r_event(
            "response.reasoning_summary_part.added",
            item_id=rid,
            output_index=index,
            summary_index=0,
            part={"type": "summary_text", "text": ""},
        ),
        *[
            r_event(
                "response.reasoning_summary_text.delta",
                item_id=rid,
                output_index=index,
                summary_index=0,
                delta=p,
            )
            for p in pieces
        ],
        r_event(
            "response.reasoning_summary_text.done",
            item_id=rid,
            output_index=index,
            summary_index=0,
            text=whole,
        ),
        r_event(
            "response.reasoning_summary_part.done",
            item_id=rid,
            output_index=index,
            summary_index=0,
            part={"type": "summary_text", "text": whole},
        ),
        r_event("response.output_item.done", output_index=index, item=r_reasoning(rid, [whole])),
    ]


def numbered(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**ev, "sequence_number": n} for n, ev in enumerate(events)]


#: Terminal kinds the strategy draws: the status and incomplete reason each gives.
TERMINALS: dict[str, tuple[str, str | None]] = {
    "completed": ("completed", None),
    "max_output_tokens": ("incomplete", "max_output_tokens"),
    "content_filter": ("incomplete", "content_filter"),
    "failed": ("failed", None),
}


@dataclass
class GeneratedResponse:
    """A generated Responses stream and what it was built from."""

    raw: bytes
    events: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)  # the terminal event's response
    texts: list[str] = field(default_factory=list)  # output_text of each message, in order
    refusals: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)
    arguments: list[Any] = field(default_factory=list)  # each call's arguments, parsed
    terminal: str = "completed"
    complete_events: bool = True


@st.composite
def responses_streams(draw: st.DrawFn, *, allow_cut: bool = True) -> GeneratedResponse:
    events: list[dict[str, Any]] = [r_created(), r_event("response.in_progress", response=r_response())]
    gen = GeneratedResponse(raw=b"")
    output: list[dict[str, Any]] = []
    kinds = draw(st.lists(st.sampled_from(["message", "reasoning", "function_call", "refusal"]), max_size=4))
    for index, kind in enumerate(kinds):
        ident = f"{index:02d}0a4bc5e23769d65c00696d5e6b"
        if kind == "message":
            text = draw(TEXT)
            gen.texts.append(text)
            events += text_events(index, "msg_" + ident, draw(fragments(text)))
            output.append(r_message("msg_" + ident, text))
        elif kind == "refusal":
            refusal = draw(TEXT)
            gen.refusals.append(refusal)
            events += refusal_events(index, "msg_" + ident, draw(fragments(refusal)))
            output.append(r_message("msg_" + ident, refusal=refusal))
        elif kind == "reasoning":
            summary = draw(TEXT)
            gen.summaries.append(summary)
            events += reasoning_events(index, "rs_" + ident, draw(fragments(summary)))
            output.append(r_reasoning("rs_" + ident, [summary]))
        else:
            args = draw(TOOL_INPUT)
            gen.arguments.append(args)
            whole = json.dumps(args, ensure_ascii=False)
            events += call_events(index, "fc_" + ident, draw(fragments(whole)))
            output.append(r_call("fc_" + ident, whole))
    gen.terminal = draw(st.sampled_from(sorted(TERMINALS)))
    status, reason = TERMINALS[gen.terminal]
    usage = r_usage(draw(st.integers(1, 50_000)), draw(st.integers(1, 8192)), cached=draw(st.integers(0, 1)))
    gen.final = r_response(
        status,
        output,
        usage=usage,
        incomplete_details={"reason": reason} if reason else None,
        error={"code": "server_error", "message": "The server had an error."} if status == "failed" else None,
    )
    events.append(
        r_event(f"response.{'incomplete' if status == 'incomplete' else status}", response=gen.final)
    )
    events = numbered(events)
    if allow_cut and draw(st.booleans()):
        events = events[: draw(st.integers(1, len(events) - 1))]
        gen.complete_events = False
    gen.events = events
    gen.raw = sse(events)
    return gen
