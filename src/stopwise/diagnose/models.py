"""Numbers a diagnosis compares against: relays' injected defaults and models' output ceilings.

Relay defaults are from brief/wire.md ("Default max_tokens injected when the client sends
none"). Ceilings are the providers' published maximum output tokens per model family at the
time of writing; a 400 of the form ``max_tokens: N > M, which is the maximum allowed`` in the
log itself overrides them (see :mod:`.facts`).
"""

from __future__ import annotations

__all__ = ["CLAUDE_STOP_REASONS", "RELAY_DEFAULTS", "model_ceiling", "relays_with_default"]

#: Claude's own stop reasons: on the OpenAI wire they mean a relay passed the raw value through
#: (brief/wire.md "What relays and gateways really send").
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

# Longest prefix wins, so "claude-3-5-sonnet" is checked before "claude-3".
_CEILINGS: tuple[tuple[str, int], ...] = (
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


def model_ceiling(model: str | None) -> int | None:
    """The model's published output ceiling, or ``None`` when we do not know the model."""
    if not model:
        return None
    name = model.lower().rsplit("/", 1)[-1]  # "anthropic/claude-opus-4" on OpenRouter-style ids
    best: tuple[int, int] | None = None
    for prefix, ceiling in _CEILINGS:
        if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), ceiling)
    return best[1] if best else None


def relays_with_default(cap: int | None) -> tuple[str, ...]:
    return RELAY_DEFAULTS.get(cap, ()) if cap is not None else ()
