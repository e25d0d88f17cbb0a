"""Acceptance, prefill models (issue 5): through the official Anthropic SDK against the simulator on
127.0.0.1, for every text document kind and a sweep of ``max_tokens``, the finished answer is the
simulator's full document byte for byte, ends with ``end_turn``, is one message (one id, the first
round's), and its usage is the sum of what every upstream round reported.

The round count and per-round usage are read from a tap between the finisher and the network,
not from the finisher's own headers; the headers are then checked against the tap.

Matrix (runtime): the full kind × cap sweep for sync non-streaming on Sonnet 4.5, a reduced one for
sync streaming (Haiku 4.5) and for async, streaming and not.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import orjson
import pytest
from _finish import (
    FAST_RETRY,
    TEXT_KINDS,
    Finished,
    Rig,
    afinish_anthropic,
    anthropic_sdk,
    ask,
    async_anthropic_sdk,
    async_rig,
    finish_anthropic,
    first_difference,
    rig,
    round_output_tokens,
    sse_events,
)

from stopwise.finisher import Policy
from stopwise.sim import count_tokens, document_for_messages, full_document

CAPS = (16, 50, 137, 300, 1000, 4000)

# The SDK warns that Sonnet 4.5 retires on 2026-11-30; the simulator still serves it.
pytestmark = pytest.mark.filterwarnings("ignore:The model 'claude-sonnet-4-5:DeprecationWarning")


def round_bound(kind: str, cap: int) -> int:
    """Rounds a prefill finisher needs at most: each round writes ``cap`` tokens and gives back
    at most the partial word at its end (a handful of tokens), so progress per round is at
    least half the cap for every cap in the sweep."""
    return math.ceil(count_tokens(full_document(kind)) / max(cap - 8, cap // 2)) + 1


def policy_for(kind: str, cap: int) -> Policy:
    # A few rounds of slack over the bound, so a finisher that stops making progress fails fast.
    return Policy(max_rounds=round_bound(kind, cap) + 5, grow_max_tokens=1.0, retry=FAST_RETRY)


def first_round_id(r: Rig) -> str:
    raw = bytes(r.sent[0].raw)
    if raw.lstrip().startswith(b"{"):
        return str(orjson.loads(raw)["id"])
    for name, data in sse_events(raw):
        if name == "message_start":
            return str(orjson.loads(data)["message"]["id"])
    raise AssertionError("no message_start in the first round")


def check(done: Finished, r: Rig, kind: str, cap: int, *, stream: bool) -> None:
    doc = full_document(kind)
    assert doc == document_for_messages(ask(kind))
    assert done.text == doc, first_difference(done.text, doc)
    assert done.stop == "end_turn"
    # One message: one id, and it is the first round's.
    assert done.ids == {first_round_id(r)}
    # Usage: the sum over the rounds the tap saw, never less than the document's own tokens.
    assert done.output_tokens == sum(round_output_tokens(e) for e in r.sent)
    assert done.output_tokens >= count_tokens(doc)
    # Every round after the first is a prefill: the answer so far as the final assistant message,
    # a prefix of the document, never ending in whitespace.
    rounds = len(r.sent)
    assert rounds <= round_bound(kind, cap)
    for ex in r.sent[1:]:
        assert ex.body is not None
        last = ex.body["messages"][-1]
        assert last["role"] == "assistant"
        sent = "".join(b["text"] for b in last["content"] if b["type"] == "text")
        assert sent and sent == sent.rstrip() and doc.startswith(sent)
    if stream:
        assert done.summary is not None, "the stream did not end with a stopwise event"
    assert done.rounds == rounds
    assert done.modes == ["initial"] + ["prefill"] * (rounds - 1)
    if cap >= count_tokens(doc) + 1:
        assert rounds == 1


@pytest.mark.parametrize("kind", TEXT_KINDS)
@pytest.mark.parametrize("cap", CAPS)
def test_sync_body(sim_url: str, kind: str, cap: int) -> None:
    with rig(policy=policy_for(kind, cap)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model="claude-sonnet-4-5", cap=cap, messages=ask(kind), stream=False
        )
    check(done, r, kind, cap, stream=False)
    assert done.headers["x-stopwise-state"] == "complete"
    reasons = done.headers["x-stopwise-stop-reasons"].split(",")
    assert reasons == ["max_tokens"] * (len(reasons) - 1) + ["end_turn"]


@pytest.mark.parametrize("kind", TEXT_KINDS)
@pytest.mark.parametrize("cap", [16, 137, 4000])
def test_sync_stream(sim_url: str, kind: str, cap: int) -> None:
    with rig(policy=policy_for(kind, cap)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model="claude-haiku-4-5", cap=cap, messages=ask(kind), stream=True
        )
    check(done, r, kind, cap, stream=True)
    assert done.summary is not None and done.summary["state"] == "complete"
    # One text block, index 0, carrying the whole document.
    assert [b["type"] for b in done.content] == ["text"]


@pytest.mark.parametrize("kind", TEXT_KINDS)
@pytest.mark.parametrize("cap", [50, 1000])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_async(sim_url: str, kind: str, cap: int, stream: bool) -> None:
    r = async_rig(policy=policy_for(kind, cap))

    async def go() -> Finished:
        async with r:
            client = async_anthropic_sdk(sim_url, r)
            return await afinish_anthropic(
                client, r, model="claude-sonnet-4-5", cap=cap, messages=ask(kind), stream=stream
            )

    done = asyncio.run(go())
    check(done, r, kind, cap, stream=stream)


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "claude-sonnet-4-5-20250929"])
def test_tiny_cap_other_models(sim_url: str, model: str) -> None:
    # Dated snapshot ids and the other prefill model behave the same.
    with rig(policy=policy_for("prose", 16)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model=model, cap=16, messages=ask("prose"), stream=False
        )
    check(done, r, "prose", 16, stream=False)


def test_caller_prefill_is_continued_not_returned(sim_url: str) -> None:
    # A caller's own prefill: the answer continues it, and (as with the plain API) the response
    # holds only what comes after it.
    doc = full_document("prose")
    mine = doc[:200].rstrip()
    mine = mine[: mine.rfind(" ")]
    messages: list[dict[str, Any]] = [*ask("prose"), {"role": "assistant", "content": mine}]
    with rig(policy=policy_for("prose", 50)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model="claude-sonnet-4-5", cap=50, messages=messages, stream=False
        )
    assert mine + done.text == doc, first_difference(mine + done.text, doc)
    assert done.stop == "end_turn"
