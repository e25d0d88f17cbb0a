"""``finisher_for``: the strategy of each wire, and a clear refusal for the one it cannot finish."""

from __future__ import annotations

import pytest

from stopwise.errors import UnknownDialectError
from stopwise.finisher import AnthropicDialect, ModelMemory, OpenAIDialect, Policy, finisher_for


@pytest.mark.parametrize(
    ("dialect", "strategy"), [("anthropic", AnthropicDialect), ("openai", OpenAIDialect)]
)
def test_each_wire_gets_its_strategy(dialect: str, strategy: type) -> None:
    finisher = finisher_for(dialect, {"model": "m", "max_tokens": 16}, policy=Policy(), memory=ModelMemory())
    assert isinstance(finisher.dialect, strategy)


def test_responses_is_refused_not_read_as_chat() -> None:
    # The wire core reads the Responses API; continuing it is not Chat's, so no strategy yet.
    with pytest.raises(UnknownDialectError, match="Responses"):
        finisher_for("responses", {"model": "gpt-5", "input": "hi"}, policy=Policy(), memory=ModelMemory())
