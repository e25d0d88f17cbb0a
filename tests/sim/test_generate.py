from __future__ import annotations

from stopwise.sim.generate import Limits, PlannedBlock, generate, signature_for, thinking_text
from stopwise.sim.tokenizer import tokenize

TEXT = [PlannedBlock("text", "alpha beta gamma delta")]  # 6 tokens: alph a bet a gamm a... see below


def test_budget_cuts_and_the_end_of_turn_needs_a_token() -> None:
    n = len(tokenize(TEXT[0].content))
    assert generate(TEXT, "end_turn", Limits(n + 1)).stop_reason == "end_turn"
    exact = generate(TEXT, "end_turn", Limits(n))
    assert exact.stop_reason == "max_tokens" and exact.blocks[0].content == TEXT[0].content
    cut = generate(TEXT, "end_turn", Limits(2))
    assert cut.stop_reason == "max_tokens" and cut.output_tokens == 2 and not cut.blocks[0].complete


def test_stop_sequence_cuts_inside_a_token() -> None:
    reply = generate(TEXT, "end_turn", Limits(100, stop_sequences=("ta gam", "zzz")))
    assert reply.stop_reason == "stop_sequence" and reply.stop_sequence == "ta gam"
    assert reply.blocks[0].content == "alpha be"


def test_forced_stop_and_empty_refusal_block() -> None:
    reply = generate(TEXT, "end_turn", Limits(0, forced_reason="refusal"))
    assert reply.stop_reason == "refusal" and [b.content for b in reply.blocks] == [""]


def test_thinking_is_exact_and_signed() -> None:
    text = thinking_text("code", 50)
    assert len(tokenize(text)) == 50 and text == thinking_text("code", 50)
    blocks = [PlannedBlock("thinking", text), *TEXT]
    reply = generate(blocks, "end_turn", Limits(100))
    assert reply.blocks[0].signature == signature_for(text) and reply.thinking_tokens == 50
    cut = generate(blocks, "end_turn", Limits(20))
    assert cut.blocks[0].signature is None and len(cut.blocks) == 1


def test_deltas_are_a_few_tokens_each() -> None:
    reply = generate([PlannedBlock("text", "x" * 400)], "end_turn", Limits(1000))
    sizes = {len(tokenize(p)) for p in reply.blocks[0].pieces}
    assert sizes <= {1, 2, 3, 4} and len(reply.blocks[0].pieces) > 20
