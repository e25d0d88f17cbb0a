"""Prompt caching in the accounting: creation, then reads, so continuation cost can be measured."""

from __future__ import annotations

import uuid

import anthropic
import openai

from stopwise.sim import full_document
from stopwise.sim.caching import PromptCache, Segment

MODEL = "claude-haiku-4-5"  # caches prefixes of 4096 tokens or more


def test_breakpoint_creates_then_reads(claude: anthropic.Anthropic) -> None:
    nonce = uuid.uuid4().hex
    system = [
        {"type": "text", "text": f"{nonce}\n{full_document('table')}", "cache_control": {"type": "ephemeral"}}
    ]
    first = claude.messages.create(
        model=MODEL, max_tokens=5, system=system, messages=[{"role": "user", "content": "prose"}]
    )  # type: ignore[arg-type]
    u1 = first.usage
    assert (
        u1.cache_creation_input_tokens
        and u1.cache_creation_input_tokens > 4096
        and u1.cache_read_input_tokens == 0
    )
    assert (
        u1.cache_creation is not None
        and u1.cache_creation.ephemeral_5m_input_tokens == u1.cache_creation_input_tokens
    )
    second = claude.messages.create(
        model=MODEL, max_tokens=5, system=system, messages=[{"role": "user", "content": "table"}]
    )  # type: ignore[arg-type]
    u2 = second.usage
    assert (
        u2.cache_read_input_tokens == u1.cache_creation_input_tokens and u2.cache_creation_input_tokens == 0
    )
    # input_tokens excludes what was cached; the totals agree.
    assert u2.input_tokens < 20
    assert u1.input_tokens + u1.cache_creation_input_tokens == u2.input_tokens + u2.cache_read_input_tokens


def test_continuation_rounds_reuse_the_cached_prefix(claude: anthropic.Anthropic) -> None:
    nonce = uuid.uuid4().hex
    doc = full_document("code")
    prompt = {"role": "user", "content": [{"type": "text", "text": f"{nonce} code"}]}
    partial = {
        "role": "assistant",
        "content": [
            {
                "type": "text",
                "text": doc[:20000].rstrip(),
                "cache_control": {"type": "ephemeral", "ttl": "1h"},
            }
        ],
    }
    nudge = {"role": "user", "content": "continue"}
    first = claude.messages.create(model=MODEL, max_tokens=5, messages=[prompt, partial, nudge])  # type: ignore[list-item]
    assert first.usage.cache_creation is not None and first.usage.cache_creation.ephemeral_1h_input_tokens > 0
    again = claude.messages.create(model=MODEL, max_tokens=5, messages=[prompt, partial, nudge])  # type: ignore[list-item]
    assert again.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


def test_short_prefixes_are_not_cached(claude: anthropic.Anthropic) -> None:
    system = [{"type": "text", "text": f"{uuid.uuid4().hex} short", "cache_control": {"type": "ephemeral"}}]
    for _ in range(2):
        msg = claude.messages.create(
            model=MODEL, max_tokens=5, system=system, messages=[{"role": "user", "content": "x"}]
        )  # type: ignore[arg-type]
        assert msg.usage.cache_creation_input_tokens == 0 and msg.usage.cache_read_input_tokens == 0


def test_openai_cached_tokens(gpt: openai.OpenAI) -> None:
    long = f"{uuid.uuid4().hex} {full_document('prose')}"
    messages = [{"role": "system", "content": long}, {"role": "user", "content": "prose"}]
    first = gpt.chat.completions.create(model="gpt-4o", max_tokens=5, messages=messages)  # type: ignore[arg-type]
    second = gpt.chat.completions.create(model="gpt-4o", max_tokens=5, messages=messages)  # type: ignore[arg-type]
    assert (
        first.usage
        and first.usage.prompt_tokens_details
        and first.usage.prompt_tokens_details.cached_tokens == 0
    )
    cached = second.usage.prompt_tokens_details.cached_tokens  # type: ignore[union-attr]
    assert cached and cached >= 1024 and cached % 128 == 0


def test_prompt_cache_unit() -> None:
    cache = PromptCache()
    segments = [Segment("a", 2000), Segment("b", 3000, breakpoint=True), Segment("c", 10)]
    first = cache.anthropic("m", segments, 1024)
    assert (first.creation, first.read, first.input_tokens) == (5000, 0, 13)
    second = cache.anthropic("m", [*segments[:2], Segment("d", 7, breakpoint=True)], 1024)
    assert (second.read, second.creation) == (5000, 5007 - 5000)
    assert cache.anthropic("other-model", segments, 1024).read == 0
