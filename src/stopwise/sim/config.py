"""The simulator's one configuration object, built once and passed to :func:`create_app`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["SimConfig"]


@dataclass(frozen=True)
class SimConfig:
    """``model_faults`` maps a model name to an ``x-sim-fault`` value applied to every request
    for that model (a request's own header adds to it). ``created`` is the fixed Unix time
    reported in OpenAI responses, so output is reproducible. ``relay_default_max_tokens`` is
    what the relay endpoint injects when the request sets none (new-api's 8192). ``aliases``
    maps a name the simulator answers to a model of its table, as a relay or a gateway's model
    list does (``team-claude`` -> ``claude-opus-4-6``): the client cannot tell from the name
    what the model behind it accepts (prefill, its ceiling), and the response names the real
    model."""

    model_faults: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    created: int = 1767225600
    relay_default_max_tokens: int = 8192
    thinking_tokens: int = 200
    searches: int = 3
    pause_after: int = 2
