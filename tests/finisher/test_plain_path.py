"""The hot path (finisher/base.py, ``Dialect.take_plain``): a chunk that is one whole plain text
delta goes out as it came without being decoded as SSE. Whatever it takes or leaves, the caller
gets what the general path would give: the oracle is the same wire cut so that no chunk is one
whole event (every event then goes through the decoder)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopwise.finisher import Policy, RetryPolicy
from stopwise.finisher.anthropic import AnthropicDialect
from stopwise.finisher.openai import OpenAIDialect
from stopwise.testing import Reply, run, sse
from stopwise.testing.render import anthropic_reply, openai_reply
from stopwise.testing.strategies import anthropic_cases, openai_cases, texts

POLICY = Policy(retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def halves(reply: Reply) -> Reply:
    """Every read split in two: no chunk is a whole event, so the plain path never runs."""
    reads: list[bytes] = []
    for chunk in reply.chunks:
        mid = max(1, len(chunk) // 2)
        reads += [chunk[:mid], chunk[mid:]] if len(chunk) > 1 else [chunk]
    return Reply(reply.status, reply.headers, tuple(reads), reply.fail)


def same_result(body: dict[str, object], reply: Reply, dialect: str = "anthropic") -> None:
    # Every round is answered with the same reply (a cut one is continued into the same again):
    # the two runs see the same upstream, whatever the finisher asks.
    fast = run(body, lambda _body, _n: reply, dialect=dialect, policy=POLICY)
    slow = run(body, lambda _body, _n: halves(reply), dialect=dialect, policy=POLICY)
    assert fast.body == slow.body
    assert fast.requests == slow.requests  # continuations re-send what was shown: the same
    assert fast.finisher is not None and slow.finisher is not None
    # The answer the engine built (what a continuation, the report and the log go on).
    fd, sd = fast.finisher.dialect, slow.finisher.dialect
    if isinstance(fd, AnthropicDialect):
        assert isinstance(sd, AnthropicDialect)
        assert fd.content == sd.content
    else:
        assert isinstance(fd, OpenAIDialect) and isinstance(sd, OpenAIDialect)
        assert (fd.text, fd.tool_calls, fd.finish_reason) == (sd.text, sd.tool_calls, sd.finish_reason)
        assert fd.round.acc.finish() == sd.round.acc.finish()
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


@PROPS
@given(
    openai_cases(finishes=("stop", "length", "tool_calls", "content_filter"), at_cap=None, stream=True),
    st.booleans(),
)
def test_openai_plain_path_gives_what_the_general_path_gives(case, obfuscation: bool) -> None:  # type: ignore[no-untyped-def]
    render = {**case.render, "chunking": None, "obfuscation": obfuscation}
    reply = openai_reply(case.response, stream=True, **render)
    same_result(case.body, reply, dialect="openai")


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


@PROPS
@given(st.lists(st.one_of(_TRICKY, texts()), min_size=1, max_size=6), st.booleans())
def test_an_openai_chunk_whose_text_looks_like_the_chunk_end_is_read_right(
    pieces: list[str], obfuscation: bool
) -> None:
    completion = {
        "id": "chatcmpl-plain01",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(pieces), "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    }
    body = {"model": "gpt-4o", "messages": [], "stream": True}
    reply = openai_reply(completion, stream=True, pieces=len(pieces), obfuscation=obfuscation)
    same_result(body, reply, dialect="openai")
    quiet = Policy(retry=POLICY.retry, report_event=False)
    result = run(body, [reply], dialect="openai", policy=quiet)
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


_CHUNK = (
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o",'
    b'"choices":[{"index":0,"delta":{"content":%s},"logprobs":null,"finish_reason":null}]%s}\n\n'
)


@given(
    st.sampled_from(
        [
            # the learned shape but for one thing: another index, an extra field, logprobs, role
            _CHUNK.replace(b'"index":0', b'"index":1') % (b'"a"', b""),
            _CHUNK % (b'"a","x":1', b""),
            _CHUNK.replace(b'"logprobs":null', b'"logprobs":{"content":[]}') % (b'"a"', b""),
            _CHUNK % (b'"a","role":"assistant"', b""),
            _CHUNK % (b'"a"', b',"usage":{"prompt_tokens":1}'),
            # an obfuscation value that is not letters and digits, or not a string
            _CHUNK % (b'"a"', b',"obfuscation":"a b"'),
            _CHUNK % (b'"a"', b',"obfuscation":"a\\"'),
            _CHUNK % (b'"a"', b',"obfuscation":1'),
            _CHUNK % (b'"a"', b',"obfuscation":"ab","obfuscation":"cd"'),
            # the learned prefix, but not JSON: a string ended early, an unterminated one
            _CHUNK % (b'"a"b"', b""),
            _CHUNK % (b'"a\\"', b""),
            _CHUNK % (b"1", b""),
            _CHUNK % (b"null", b""),
        ]
    ),
    st.booleans(),
)
def test_an_openai_chunk_that_only_looks_plain_takes_the_general_path(odd: bytes, obfuscated: bool) -> None:
    tail = b',"obfuscation":"Qx7"' if obfuscated else b""
    role = _CHUNK.replace(b'{"content":%s}', b'{"role":"assistant","content":""}') % (tail,)
    plain = [_CHUNK % (orjson.dumps(t), tail) for t in ("Hel", "lo")]
    finish = _CHUNK.replace(b'{"content":%s}', b"{}").replace(
        b'"finish_reason":null', b'"finish_reason":"stop"'
    )
    events = [role, *plain, odd, plain[0], finish % (tail,), b"data: [DONE]\n\n"]
    body = {"model": "gpt-4o", "messages": [], "stream": True}
    same_result(body, Reply.stream(events), dialect="openai")


def test_real_shaped_openai_content_chunks_take_the_plain_path(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The properties above hold whether or not the hot path runs; this one says that it does,
    # on chunks as OpenAI writes them (usage null on each, the obfuscation padding last).
    taken: list[bool] = []
    take = OpenAIDialect.take_plain

    def counting(self: OpenAIDialect, chunk: bytes) -> bool:
        taken.append(take(self, chunk))
        return taken[-1]

    monkeypatch.setattr(OpenAIDialect, "take_plain", counting)
    completion = {
        "id": "chatcmpl-plain02",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-2024-08-06",
        "service_tier": "default",
        "system_fingerprint": "fp_f9f4fb6dbf",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "one two three four five six", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11},
    }
    body = {"model": "gpt-4o", "messages": [], "stream": True, "stream_options": {"include_usage": True}}
    reply = openai_reply(completion, stream=True, pieces=6, obfuscation=True)
    result = run(body, [reply], dialect="openai", policy=Policy(retry=POLICY.retry, report_event=False))
    assert result.body == b"".join(reply.chunks)
    # Six content chunks: the first is learned on the general path, the other five are taken.
    assert taken.count(True) == 5


def test_the_seed_reports_relay_chunks_take_the_plain_path(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # The relay chunk of ../shared/examples/relay-truncation-report.txt (line 1467 of its log):
    # ``index`` last in the choice, ``system_fingerprint`` and ``usage`` null. The report holds
    # one content chunk; the stream here writes several in its exact shape, then its own finish
    # chunk (``end_turn`` in place of its ``max_tokens``, so that nothing needs finishing).
    report = Path(__file__).resolve().parents[3] / "shared" / "examples" / "relay-truncation-report.txt"
    lines = report.read_text().splitlines()
    line = next(x for x in lines if x.startswith("Line 1467: 'data: {") and x.endswith("}'"))
    chunk = json.loads(line.split("'data: ", 1)[1].rstrip("'"))
    assert list(chunk["choices"][0]) == ["delta", "logprobs", "finish_reason", "index"]
    taken: list[bool] = []
    take = OpenAIDialect.take_plain

    def counting(self: OpenAIDialect, data: bytes) -> bool:
        taken.append(take(self, data))
        return taken[-1]

    monkeypatch.setattr(OpenAIDialect, "take_plain", counting)

    def write(delta: dict[str, object], finish: str | None) -> bytes:
        choice = {"delta": delta, "logprobs": None, "finish_reason": finish, "index": 0}
        return b"data: " + orjson.dumps({**chunk, "choices": [choice]}) + b"\n\n"

    pieces = ["SELECT", " region", ",\n SUM(", "amount", ")"]
    events = [write({"content": p}, None) for p in pieces] + [write({}, "end_turn"), b"data: [DONE]\n\n"]
    body = {"model": "claude-opus-4-20250514", "messages": [], "stream": True}
    result = run(
        body, [Reply.stream(events)], dialect="openai", policy=Policy(retry=POLICY.retry, report_event=False)
    )
    assert result.body == b"".join(events)  # nothing to finish: unchanged
    # The first read is decoded whole (the decoder settles a leading BOM on it first), the
    # second teaches the shape, the rest take the plain path; the finish chunk and [DONE] do not.
    assert taken == [False] + [True] * (len(pieces) - 2) + [False, False]


def test_a_relay_that_writes_each_chunk_differently_stops_being_learned(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # ``created`` changes on every chunk: no learned shape ever matches the next chunk, so the
    # round stops learning after a few changes of shape instead of paying for it per chunk.
    import stopwise.finisher.openai as finisher_openai

    learned: list[bytes] = []
    learn = finisher_openai._plain_chunk

    def counting(raw: bytes, content: str):  # type: ignore[no-untyped-def]
        learned.append(raw)
        return learn(raw, content)

    monkeypatch.setattr(finisher_openai, "_plain_chunk", counting)

    def write(n: int, delta: dict[str, object], finish: str | None) -> bytes:
        chunk = {
            "id": "chatcmpl-relay",
            "object": "chat.completion.chunk",
            "created": 1700000000 + n,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    events = [write(0, {"role": "assistant", "content": ""}, None)]
    events += [write(n, {"content": f" word{n}"}, None) for n in range(1, 21)]
    events += [write(21, {}, "stop"), b"data: [DONE]\n\n"]
    body = {"model": "gpt-4o", "messages": [], "stream": True}
    same_result(body, Reply.stream(events), dialect="openai")
    learned.clear()
    quiet = Policy(retry=POLICY.retry, report_event=False)
    result = run(body, [Reply.stream(events)], dialect="openai", policy=quiet)
    assert result.body == b"".join(events)
    assert len(learned) == finisher_openai._RESHAPES + 1, len(learned)
