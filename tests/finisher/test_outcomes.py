"""What the finisher does for each outcome other than plain truncated text (issue 5, "What it does,
per outcome", 3, 4, 6, 7): pause_turn, cut tool calls, refusals and other final stops, thinking,
and the bounds. Requests really made are counted on a tap under the finisher."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from _finish import (
    FAST_RETRY,
    POLICY,
    Finished,
    Rig,
    anthropic_sdk,
    ask,
    finish_anthropic,
    finish_openai,
    first_difference,
    openai_sdk,
    rig,
    round_output_tokens,
)

from stopwise.finisher import ModelMemory, Policy
from stopwise.sim import count_tokens, document, full_document
from stopwise.sim.generate import signature_for

PREFILL = "claude-haiku-4-5"
NO_PREFILL = "claude-opus-4-6"
WEB_SEARCH = [{"type": "web_search_20250305", "name": "web_search"}]
WRITE_FILE = {
    "name": "write_file",
    "description": "Write a file.",
    "input_schema": {"type": "object", "properties": {"filename": {"type": "string"}}},
}
OPENAI_WRITE_FILE = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Write a file.",
        "parameters": {"type": "object", "properties": {"filename": {"type": "string"}}},
    },
}
TOOL_INPUT = json.loads(full_document("tool"))


def summed(done: Finished, r: Rig) -> None:
    assert done.output_tokens == sum(round_output_tokens(e) for e in r.sent)


def stops(r: Rig) -> list[str | None]:
    """The raw stop reason of each upstream round the tap saw (non-streaming rounds)."""
    out = []
    for e in r.sent:
        body = json.loads(bytes(e.raw)) if e.status == 200 else {}
        out.append(body.get("stop_reason") or (body.get("choices") or [{}])[0].get("finish_reason"))
    return out


# -- pause_turn -------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_pause_turn_is_resumed_until_the_turn_ends(sim_url: str, stream: bool) -> None:
    # Three searches, two per response: the first response pauses; the paused turn goes back as
    # it came and the second one ends the turn with the answer.
    with rig() as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=PREFILL,
            cap=8000,
            messages=ask("prose"),
            stream=stream,
            tools=WEB_SEARCH,
            headers={"x-sim-searches": "3", "x-sim-pause-after": "2"},
        )
    assert done.stop == "end_turn"
    assert done.text == full_document("prose")
    assert done.modes == ["initial", "pause"]
    kinds = [b["type"] if isinstance(b, dict) else b.type for b in done.content]
    assert kinds == ["server_tool_use", "web_search_tool_result"] * 3 + ["text"]
    # The second request sent the paused turn back unchanged: its last message is the assistant
    # turn holding the first two searches.
    second = r.sent[1].body
    assert second is not None and second["messages"][-1]["role"] == "assistant"
    first = json.loads(bytes(r.sent[0].raw)) if not stream else None
    if first is not None:
        assert second["messages"][-1]["content"] == first["content"]
    summed(done, r)


def test_pause_turn_rounds_are_bounded(sim_url: str) -> None:
    policy = Policy(max_pause_rounds=2, retry=FAST_RETRY)
    with rig(policy=policy) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=PREFILL,
            cap=8000,
            messages=ask("prose"),
            stream=False,
            tools=WEB_SEARCH,
            headers={"x-sim-searches": "9", "x-sim-pause-after": "2"},
        )
    assert done.stop == "pause_turn"
    assert len(r.sent) == 3 and done.modes == ["initial", "pause", "pause"]
    assert done.headers["x-stopwise-state"] != "complete"


def test_pause_turn_not_resumed_when_the_policy_says_so(sim_url: str) -> None:
    with rig(policy=Policy(resume_pause_turn=False, retry=FAST_RETRY)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=PREFILL,
            cap=8000,
            messages=ask("prose"),
            stream=False,
            tools=WEB_SEARCH,
            headers={"x-sim-searches": "3", "x-sim-pause-after": "2"},
        )
    assert done.stop == "pause_turn" and len(r.sent) == 1


# -- cut tool calls ---------------------------------------------------------------------------------
def tool_blocks(content: list[Any]) -> list[Any]:
    return [b for b in content if (b["type"] if isinstance(b, dict) else b.type) == "tool_use"]


@pytest.mark.parametrize("model", [PREFILL, NO_PREFILL])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_cut_tool_call_is_asked_again_with_a_bigger_budget(sim_url: str, model: str, stream: bool) -> None:
    with rig() as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=model,
            cap=16,
            messages=ask("tool"),
            stream=stream,
            tools=[WRITE_FILE],
        )
    assert done.stop == "tool_use"
    assert done.text == document("tool").text, first_difference(done.text, document("tool").text)
    calls = tool_blocks(done.content)
    assert len(calls) == 1
    call = calls[0]
    got = json.loads(call["json"]) if isinstance(call, dict) else call.input
    assert got == TOOL_INPUT
    assert "tool-retry" in done.modes
    caps = [e.body["max_tokens"] for e in r.sent if e.body]
    # Each re-request doubles the budget (tool_budget_factor 2.0) until the call fits.
    assert all(b == 2 * a for a, b in itertools.pairwise(caps))
    assert caps[-1] >= count_tokens(full_document("tool"))
    summed(done, r)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_openai_cut_tool_call_is_asked_again(sim_url: str, stream: bool) -> None:
    with rig() as r:
        done = finish_openai(
            openai_sdk(sim_url, r),
            r,
            model="gpt-4o",
            cap=16,
            messages=ask("tool"),
            stream=stream,
            tools=[OPENAI_WRITE_FILE],
        )
    assert done.stop == "tool_calls"
    assert len(done.content) == 1
    call = done.content[0]
    arguments = call["arguments"] if isinstance(call, dict) else call.function.arguments
    assert arguments == full_document("tool")
    assert "tool-retry" in done.modes
    summed(done, r)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_cut_tool_call_that_cannot_fit_is_returned_truncated(sim_url: str, stream: bool) -> None:
    # tool_budget_factor 1.0: no bigger budget to ask for. The truncation comes back as it is,
    # stream and body alike (nothing was finished, so nothing is changed): the cut call is
    # there only under stop_reason max_tokens, never as a finished tool_use.
    with rig(policy=Policy(tool_budget_factor=1.0, retry=FAST_RETRY)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=PREFILL,
            cap=200,
            messages=ask("tool"),
            stream=stream,
            tools=[WRITE_FILE],
        )
    assert done.stop == "max_tokens"
    assert len(r.sent) == 1
    assert len(tool_blocks(done.content)) == 1
    if not stream:
        assert done.headers["x-stopwise-state"] == "truncated"


def test_tool_budget_stops_at_the_models_ceiling(sim_url: str) -> None:
    memory = ModelMemory()
    memory.learn_ceiling(PREFILL, 64)
    with rig(memory=memory) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=PREFILL,
            cap=16,
            messages=ask("tool"),
            stream=False,
            tools=[WRITE_FILE],
        )
    caps = [e.body["max_tokens"] for e in r.sent if e.body]
    assert max(caps) == 64 and caps[0] == 16
    assert done.stop == "max_tokens"
    assert done.headers["x-stopwise-state"] == "truncated"


def test_tool_ceiling_is_learned_from_the_400(sim_url: str) -> None:
    # A factor so large the first re-request asks for more than the model allows: the 400
    # "max_tokens: X > 64000, which is the maximum allowed…" names the ceiling; the same round
    # goes again at the ceiling, and the ceiling is remembered.
    memory = ModelMemory()
    memory.learn_ceiling(PREFILL, 10**6)
    policy = Policy(tool_budget_factor=10_000.0, retry=FAST_RETRY)
    with rig(policy=policy, memory=memory) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=PREFILL,
            cap=16,
            messages=ask("tool"),
            stream=True,
            tools=[WRITE_FILE],
        )
    statuses = [e.status for e in r.sent]
    assert statuses == [200, 400, 200]
    assert b"maximum allowed number of output tokens" in bytes(r.sent[1].raw)
    assert r.sent[2].body is not None and r.sent[2].body["max_tokens"] == 64000
    assert memory.ceiling(PREFILL) == 64000
    assert done.stop == "tool_use"
    assert json.loads(tool_blocks(done.content)[0]["json"]) == TOOL_INPUT


# -- final stops passed through -----------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_refusal_is_passed_through_with_its_details(sim_url: str, stream: bool) -> None:
    with rig() as r:
        client = anthropic_sdk(sim_url, r)
        headers = {"x-sim-stop": "refusal"}
        if not stream:
            raw = client.messages.with_raw_response.create(
                model=PREFILL, max_tokens=500, messages=ask("prose"), extra_headers=headers
            )
            msg = raw.parse()
            assert msg.stop_reason == "refusal"
            assert msg.stop_details is not None and msg.stop_details.type == "refusal"
            assert msg.stop_details.category == "cyber"
            assert raw.headers["x-stopwise-rounds"] == "1"
        else:
            with client.messages.stream(
                model=PREFILL, max_tokens=500, messages=ask("prose"), extra_headers=headers
            ) as s:
                msg = s.get_final_message()
            assert msg.stop_reason == "refusal"
            assert msg.stop_details is not None and msg.stop_details.category == "cyber"
        assert len(r.sent) == 1


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_context_window_is_not_continued(sim_url: str, stream: bool) -> None:
    # model_context_window_exceeded counts as truncated, but continuing into a full window
    # cannot fit: one round, the raw reason kept.
    with rig() as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=PREFILL,
            cap=500,
            messages=ask("prose"),
            stream=stream,
            headers={"x-sim-stop": "context-window"},
        )
    assert done.stop == "model_context_window_exceeded"
    assert len(r.sent) == 1 and done.rounds == 1
    assert full_document("prose").startswith(done.text) and done.text


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_relay_raw_context_window_is_not_continued(sim_url: str, stream: bool) -> None:
    with rig() as r:
        done = finish_openai(
            openai_sdk(sim_url, r, relay=True),
            r,
            model=PREFILL,
            cap=500,
            messages=ask("prose"),
            stream=stream,
            headers={"x-sim-stop": "context-window"},
        )
    assert len(r.sent) == 1
    assert done.stop == "model_context_window_exceeded"


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_openai_content_filter_and_refusal_pass_through(sim_url: str, stream: bool) -> None:
    with rig() as r:
        oai = openai_sdk(sim_url, r)
        done = finish_openai(
            oai,
            r,
            model="gpt-4o",
            cap=500,
            messages=ask("prose"),
            stream=stream,
            headers={"x-sim-stop": "content-filter"},
        )
        assert done.stop == "content_filter" and len(r.sent) == 1
        assert full_document("prose").startswith(done.text)
        if stream:
            chunks = oai.chat.completions.create(
                model="gpt-4o",
                max_tokens=500,
                messages=ask("prose"),
                stream=True,
                extra_headers={"x-sim-stop": "refusal"},
            )
            refusal = "".join(c.choices[0].delta.refusal or "" for c in chunks if c.choices)
        else:
            completion = oai.chat.completions.create(
                model="gpt-4o", max_tokens=500, messages=ask("prose"), extra_headers={"x-sim-stop": "refusal"}
            )
            refusal = completion.choices[0].message.refusal or ""
            assert completion.choices[0].finish_reason == "stop"
        assert refusal == "I'm sorry, but I can't help with that request."


# -- thinking ---------------------------------------------------------------------------------------
THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.mark.parametrize("model", [PREFILL, NO_PREFILL])
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_thinking_then_truncated_text_continues_keeping_signed_thinking(
    sim_url: str, model: str, stream: bool
) -> None:
    with rig() as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=model,
            cap=1100,
            messages=ask("code"),
            stream=stream,
            # The SDK warns against budgeted thinking on Claude 4.6: adaptive there.
            thinking=THINKING if model == PREFILL else {"type": "adaptive"},
        )
    doc = full_document("code")
    assert done.text == doc, first_difference(done.text, doc)
    assert done.stop == "end_turn"
    blocks = [b if isinstance(b, dict) else b.model_dump() for b in done.content]
    thinking = [b for b in blocks if b["type"] == "thinking"]
    assert len(thinking) == 1
    text_of = thinking[0].get("thinking") or thinking[0].get("text")
    assert thinking[0]["signature"] == signature_for(text_of)
    assert len(r.sent) > 1
    # Every continuation round replays the signed thinking block unchanged, never a partial one,
    # and no assistant turn ends on it.
    for e in r.sent[1:]:
        assert e.body is not None
        assistant = [m for m in e.body["messages"] if m["role"] == "assistant"][-1]
        content = assistant["content"]
        assert content[0]["type"] == "thinking" and content[0]["signature"] == signature_for(
            content[0]["thinking"]
        )
        assert content[-1]["type"] != "thinking"
    summed(done, r)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_reasoning_only_truncation_is_not_looped_on(sim_url: str, stream: bool) -> None:
    # The thinking runs past max_tokens: no visible text. Continuing would think again.
    with rig() as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=PREFILL,
            cap=1100,
            messages=ask("prose"),
            stream=stream,
            thinking=THINKING,
            headers={"x-sim-thinking-tokens": "3000"},
        )
    assert len(r.sent) == 1 and done.rounds == 1
    assert done.stop == "max_tokens"
    assert done.text == ""


# -- bounds -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_continue_truncated_false_passes_the_truncation_through(sim_url: str, stream: bool) -> None:
    with rig(policy=Policy(continue_truncated=False, retry=FAST_RETRY)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model=PREFILL, cap=50, messages=ask("prose"), stream=stream
        )
    assert len(r.sent) == 1 and done.stop == "max_tokens"
    assert full_document("prose").startswith(done.text) and done.output_tokens == 50


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_max_rounds_is_respected(sim_url: str, stream: bool) -> None:
    with rig(policy=Policy(max_rounds=3, retry=FAST_RETRY)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model=PREFILL, cap=50, messages=ask("prose"), stream=stream
        )
    assert len(r.sent) == 3 and done.rounds == 3
    assert done.stop == "max_tokens"
    doc = full_document("prose")
    assert doc.startswith(done.text) and len(done.text) > 100
    # Each continuation round asks for grow_max_tokens (4) times the last one's cap.
    assert [e.body["max_tokens"] for e in r.sent if e.body] == [50, 200, 800]
    assert done.output_tokens == 1050


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_max_output_tokens_is_a_bound_on_the_total(sim_url: str, stream: bool) -> None:
    with rig(policy=Policy(max_rounds=100, max_output_tokens=500, retry=FAST_RETRY)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model=PREFILL, cap=137, messages=ask("prose"), stream=stream
        )
    assert done.stop == "max_tokens"
    assert full_document("prose").startswith(done.text)
    assert 400 <= done.output_tokens <= 500, f"{done.output_tokens} output tokens for a bound of 500"


def test_rounds_without_progress_stop_early(sim_url: str) -> None:
    # At max_tokens 16 a continue-turn reply that opens with a preamble and repeats three words
    # has no room left for anything new: round after round adds nothing that survives the seam.
    # The progress check must end it long before max_rounds, honestly truncated.
    headers = {"x-sim-behavior": "preamble,repeat-tail"}
    # A fixed cap: a growing one would leave room for progress.
    with rig(policy=Policy(max_rounds=60, grow_max_tokens=1.0, retry=FAST_RETRY)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r),
            r,
            model=NO_PREFILL,
            cap=16,
            messages=ask("prose"),
            stream=False,
            headers=headers,
        )
    assert full_document("prose").startswith(done.text)
    assert done.stop == "max_tokens"
    assert len(r.sent) <= 10, f"{len(r.sent)} rounds, text {len(done.text)} characters"


def test_default_policy_bounds_rounds(sim_url: str) -> None:
    # The defaults are what a careful user wants: a long answer at a small cap is not finished
    # behind their back in hundreds of rounds; it stops at Policy().max_rounds, truncated.
    with rig(policy=Policy(grow_max_tokens=1.0, retry=FAST_RETRY)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model=PREFILL, cap=50, messages=ask("code"), stream=False
        )
    assert len(r.sent) == Policy().max_rounds
    assert done.stop == "max_tokens" and done.headers["x-stopwise-state"] == "truncated"
    assert full_document("code").startswith(done.text)


@pytest.mark.parametrize("stream", [False, True], ids=["body", "stream"])
def test_default_policy_finishes_a_long_answer_from_a_small_cap(sim_url: str, stream: bool) -> None:
    # The code document is about 9k tokens; asked at 50 tokens a round, the default policy's
    # growing cap (50, 200, 800, 3200, 12800) finishes it well within Policy().max_rounds.
    with rig(policy=Policy(retry=FAST_RETRY)) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model=PREFILL, cap=50, messages=ask("code"), stream=stream
        )
    assert done.text == full_document("code")
    assert done.stop == "end_turn" and len(r.sent) <= 6


def test_generous_policy_finishes(sim_url: str) -> None:
    with rig(policy=POLICY) as r:
        done = finish_anthropic(
            anthropic_sdk(sim_url, r), r, model=PREFILL, cap=300, messages=ask("code"), stream=False
        )
    assert done.text == full_document("code") and done.stop == "end_turn"


# -- cost -------------------------------------------------------------------------------------------
def billed_input(r: Rig) -> tuple[float, int]:
    """Input billed over the rounds the tap saw, in uncached-token units (5-minute cache writes
    cost 1.25×, reads 0.1×), and the cache reads."""
    total, reads = 0.0, 0
    for e in r.sent:
        u = json.loads(bytes(e.raw))["usage"]
        read = u.get("cache_read_input_tokens") or 0
        total += u["input_tokens"] + 1.25 * (u.get("cache_creation_input_tokens") or 0) + 0.1 * read
        reads += read
    return total, reads


@pytest.mark.filterwarnings("ignore:The model 'claude-sonnet-4-5:DeprecationWarning")
def test_caching_the_resent_prefix_cuts_the_billed_input(sim_url: str) -> None:
    # Issue 5, "Bounds and cost": cache_control on the re-sent prefix so that rounds after the
    # second read it from the cache. Sonnet 4.5 caches prefixes from 1024 tokens.
    results = {}
    for cache in (False, True):
        messages = [{"role": "user", "content": f"Write code please (cache {cache})"}]
        # A fixed cap: the many rounds whose re-sent prefix caching is for.
        policy = Policy(max_rounds=100, cache_prefix=cache, grow_max_tokens=1.0, retry=FAST_RETRY)
        with rig(policy=policy) as r:
            raw = anthropic_sdk(sim_url, r).messages.with_raw_response.create(
                model="claude-sonnet-4-5", max_tokens=300, messages=messages
            )
            msg = raw.parse()
            assert msg.content[0].text == full_document("code")  # type: ignore[union-attr]
            billed, reads = billed_input(r)
            assert msg.usage.cache_read_input_tokens == reads
            results[cache] = (billed, reads, len(r.sent))
    (plain, _, rounds), (cached, reads, _) = results[False], results[True]
    assert reads > 0, f"no cache reads in {rounds} rounds"
    assert cached < 0.5 * plain, f"billed input {cached:.0f} with caching, {plain:.0f} without"
