"""The finisher: one sans-I/O engine that turns truncated, paused, cut and failed responses
into one complete response (or one stream). See :mod:`stopwise.finisher.base` for the loop and
:mod:`stopwise.finisher.effects` for how drivers run it."""

from __future__ import annotations

from typing import Any

from .anthropic import AnthropicFinisher
from .base import Finisher
from .models import ModelMemory
from .policy import Policy, RetryPolicy

__all__ = ["AnthropicFinisher", "Finisher", "ModelMemory", "Policy", "RetryPolicy", "finisher_for"]


def finisher_for(dialect: str, body: dict[str, Any], *, policy: Policy, memory: ModelMemory) -> Finisher:
    if dialect == "anthropic":
        return AnthropicFinisher(body, policy=policy, memory=memory)
    from .openai import OpenAIFinisher

    return OpenAIFinisher(body, policy=policy, memory=memory)
