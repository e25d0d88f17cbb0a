"""``finisher_for``: the strategy of each wire, and a clear refusal for one it does not know."""

from __future__ import annotations

import pytest

from stopwise.errors import UnknownDialectError
from stopwise.finisher import (
    AnthropicDialect,
    ModelMemory,
    OpenAIDialect,
    Policy,
    ResponsesDialect,
    finisher_for,
)


@pytest.mark.parametrize(
    ("dialect", "strategy"),
    [("anthropic", AnthropicDialect), ("openai", OpenAIDialect), ("responses", ResponsesDialect)],
)
def test_each_wire_gets_its_strategy(dialect: str, strategy: type) -> None:
    finisher = finisher_for(dialect, {"model": "m", "max_tokens": 16}, policy=Policy(), memory=ModelMemory())
    assert isinstance(finisher.dialect, strategy)


def test_an_unknown_wire_is_refused() -> None:
    with pytest.raises(UnknownDialectError, match="gemini"):
        finisher_for("gemini", {"model": "m"}, policy=Policy(), memory=ModelMemory())
