"""What stopwise knows about models and relays, in one place: output ceilings, prefill support,
Claude's own stop reasons, and the default caps relays inject. The finisher starts from these
and learns from the API's own 400s; diagnosis compares logs against them.

Sources: the providers' published limits at the time of writing, and brief/wire.md ("What relays
and gateways really send", "Prefill and thinking rules").
"""

from __future__ import annotations

import re

__all__ = [
    "CLAUDE_STOP_REASONS",
    "RELAY_DEFAULTS",
    "model_ceiling",
    "prefill_supported",
]

#: Claude's own stop reasons: on the OpenAI wire they mean a relay passed the raw value through.
CLAUDE_STOP_REASONS = frozenset(
    {
        "max_tokens",
        "end_turn",
        "tool_use",
        "pause_turn",
        "stop_sequence",
        "refusal",
        "model_context_window_exceeded",
    }
)

#: max_tokens a relay or gateway injects when the client sends none.
RELAY_DEFAULTS: dict[int, tuple[str, ...]] = {
    8192: ("new-api",),
    4096: ("one-api", "LiteLLM"),
}

# Longest matching prefix wins, so "claude-opus-4-6" is checked before "claude-opus-4".
_CEILINGS: tuple[tuple[str, int], ...] = (
    ("claude-opus-4-6", 128000),
    ("claude-sonnet-4-6", 64000),
    ("claude-opus-4-5", 64000),
    ("claude-opus-4-1", 32000),
    ("claude-opus-4", 32000),
    ("claude-sonnet-4", 64000),
    ("claude-haiku-4", 64000),
    ("claude-3-7-sonnet", 64000),
    ("claude-3-5-sonnet", 8192),
    ("claude-3-5-haiku", 8192),
    ("claude-3-opus", 4096),
    ("claude-3-haiku", 4096),
    ("gpt-4o-mini", 16384),
    ("gpt-4o", 16384),
    ("gpt-4.1", 32768),
    ("gpt-4-turbo", 4096),
)

# Claude 4.6 and later reject prefill; Sonnet 4.5, Haiku 4.5 and older accept it.
_NO_PREFILL = re.compile(r"claude-(?:opus|sonnet|haiku)-(?:4-(?:[6-9]|\d\d)|[5-9])")


def _name(model: str) -> str:
    # "anthropic/claude-opus-4" on OpenRouter-style ids.
    return model.lower().rsplit("/", 1)[-1]


def model_ceiling(model: str | None) -> int | None:
    """The model's published output ceiling, or ``None`` when we do not know the model."""
    if not model:
        return None
    name = _name(model)
    best: tuple[int, int] | None = None
    for prefix, ceiling in _CEILINGS:
        if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), ceiling)
    return best[1] if best else None


def prefill_supported(model: str) -> bool:
    """Whether an Anthropic model accepts a final assistant message (until a 400 says not)."""
    return _NO_PREFILL.search(_name(model)) is None
