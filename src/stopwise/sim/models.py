"""The model table: what the simulator pretends each model can do.

Numbers are the providers' published limits (context window, output ceiling). ``prefill`` is
whether a final assistant message is continued or rejected with the 400 that Claude 4.6 models
send (see brief/wire.md, "Prefill and thinking rules"). ``min_cache_tokens`` is the smallest
prefix Anthropic will cache for that model. ``reasoning`` marks OpenAI's reasoning models, which
think before they answer on the Responses API (a ``reasoning`` item, billed as
``reasoning_tokens``) and reject sampling parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MODELS", "ModelInfo", "lookup"]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    dialect: str  # "anthropic" or "openai": which endpoint serves it
    context_window: int
    max_output: int
    prefill: bool
    response_name: str  # the dated id the API reports back in the response's ``model``
    display_name: str
    min_cache_tokens: int = 1024
    reasoning: bool = False


_TABLE = [
    ModelInfo(
        "claude-sonnet-4-5",
        "anthropic",
        200_000,
        64_000,
        True,
        "claude-sonnet-4-5-20250929",
        "Claude Sonnet 4.5",
    ),
    ModelInfo(
        "claude-opus-4-6", "anthropic", 200_000, 128_000, False, "claude-opus-4-6", "Claude Opus 4.6", 4096
    ),
    ModelInfo(
        "claude-haiku-4-5",
        "anthropic",
        200_000,
        64_000,
        True,
        "claude-haiku-4-5-20251001",
        "Claude Haiku 4.5",
        4096,
    ),
    ModelInfo(
        "claude-opus-4-1", "anthropic", 200_000, 32_000, True, "claude-opus-4-1-20250805", "Claude Opus 4.1"
    ),
    ModelInfo(
        "claude-opus-4-0", "anthropic", 200_000, 32_000, True, "claude-opus-4-20250514", "Claude Opus 4"
    ),
    ModelInfo("gpt-4o", "openai", 128_000, 16_384, False, "gpt-4o-2024-08-06", "GPT-4o"),
    ModelInfo("gpt-4o-mini", "openai", 128_000, 16_384, False, "gpt-4o-mini-2024-07-18", "GPT-4o mini"),
    ModelInfo("gpt-4.1", "openai", 1_047_576, 32_768, False, "gpt-4.1-2025-04-14", "GPT-4.1"),
    ModelInfo("o4-mini", "openai", 200_000, 100_000, False, "o4-mini-2025-04-16", "o4-mini", reasoning=True),
    ModelInfo("gpt-5", "openai", 400_000, 128_000, False, "gpt-5-2025-08-07", "GPT-5", reasoning=True),
]

#: Every model by name; the dated ids are accepted as aliases.
MODELS: dict[str, ModelInfo] = {m.name: m for m in _TABLE} | {m.response_name: m for m in _TABLE}


def lookup(name: object, dialect: str) -> ModelInfo | None:
    """The model called ``name`` if the dialect's endpoint serves it."""
    if not isinstance(name, str):
        return None
    info = MODELS.get(name)
    return info if info is not None and info.dialect == dialect else None
