"""The hot path (finisher/base.py, ``Dialect.take_plain``): a chunk that is one whole plain text
delta goes out as it came without being decoded as SSE. Whatever it takes or leaves, the caller
gets what the general path would give: the oracle is the same wire cut so that no chunk is one
whole event (every event then goes through the decoder)."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import Policy, RetryPolicy
from stopwise.finisher.anthropic import AnthropicDialect
from stopwise.testing import Reply, run, sse
from stopwise.testing.render import anthropic_reply
from stopwise.testing.strategies import anthropic_cases, texts

POLICY = Policy(retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def halves(reply: Reply) -> Reply:
    """Every read split in two: no chunk is a whole event, so the plain path never runs."""
    reads: list[bytes] = []
    for chunk in reply.chunks:
        mid = max(1, len(chunk) // 2)
        reads += [chunk[:mid], chunk[mid:]] if len(chunk) > 1 else [chunk]
    return Reply(reply.status, reply.headers, tuple(reads), reply.fail)


def same_result(body: dict[str, object], reply: Reply) -> None:
    # Every round is answered with the same reply (a cut one is continued into the same again):
    # the two runs see the same upstream, whatever the finisher asks.
    fast = run(body, lambda _body, _n: reply, dialect="anthropic", policy=POLICY)
    slow = run(body, lambda _body, _n: halves(reply), dialect="anthropic", policy=POLICY)
    assert fast.body == slow.body
    assert fast.requests == slow.requests  # continuations re-send what was shown: the same
    assert fast.finisher is not None and slow.finisher is not None
    # The answer the engine built (what a continuation, the report and the log go on).
    fd, sd = fast.finisher.dialect, slow.finisher.dialect
    assert isinstance(fd, AnthropicDialect) and isinstance(sd, AnthropicDialect)
    assert fd.content == sd.content
    a, b = fast.finisher.report().to_dict(), slow.finisher.report().to_dict()
    for key in ("state", "rounds", "usage"):
        assert a.get(key) == b.get(key), key


@PROPS
@given(
    anthropic_cases(stop_reasons=("end_turn", "max_tokens", "tool_use"), at_cap=None).filter(
        lambda c: c.stream
    )
)
def test_plain_path_gives_what_the_general_path_gives(case) -> None:  # type: ignore[no-untyped-def]
    reply = anthropic_reply(case.response, stream=True, **{**case.render, "chunking": None})
    same_result(case.body, reply)


# Text that ends the JSON string early, or looks like the end of the event, inside a delta.
_TRICKY = st.sampled_from(['"}}', '\\"}}', "\\", '"', "}}\n\n", "\u2028", "\x00", "é中", "\r", "\n\n"])


@PROPS
@given(st.lists(st.one_of(_TRICKY, texts()), min_size=1, max_size=6))
def test_a_delta_whose_text_looks_like_the_event_end_is_read_right(pieces: list[str]) -> None:
    message = {
        "id": "msg_plain01",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-6",
        "content": [{"type": "text", "text": "".join(pieces)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 7},
    }
    body = {"model": "claude-opus-4-6", "max_tokens": 4096, "messages": [], "stream": True}
    reply = anthropic_reply(message, stream=True, pieces=len(pieces))
    same_result(body, reply)
    quiet = Policy(retry=POLICY.retry, report_event=False)
    result = run(body, [reply], dialect="anthropic", policy=quiet)
    assert result.body == b"".join(reply.chunks)  # nothing needed finishing: unchanged


TEXT = {"type": "text", "text": ""}
END = {"stop_reason": "end_turn", "stop_sequence": None}


def _delta(data: bytes) -> bytes:
    return b"event: content_block_delta\ndata: " + data + b"\n\n"


@given(
    st.sampled_from(
        [
            # valid JSON, not the plain shape: an extra field, another index, another delta type
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"x":1}',
            b'{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"a"}}',
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a","x":"b"}}',
            # the plain prefix, but not JSON: a string ended early
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"b"}}',
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\\"}}',
        ]
    )
)
def test_a_chunk_that_only_looks_plain_takes_the_general_path(data: bytes) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    }
    events = [
        b"event: message_start\ndata: " + orjson.dumps(start) + b"\n\n",
        sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": TEXT}),
        _delta(data),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta", "delta": END, "usage": {"output_tokens": 2}}),
        sse("message_stop", {"type": "message_stop"}),
    ]
    body = {"model": "claude-opus-4-6", "max_tokens": 4096, "messages": [], "stream": True}
    same_result(body, Reply.stream(events))
