"""The finisher: one sans-I/O engine that turns truncated, paused, cut and failed responses
into one complete response (or one stream). :mod:`stopwise.finisher.base` holds the round loop,
:mod:`stopwise.finisher.dialect` the interface a wire's strategy fills in
(:mod:`~stopwise.finisher.anthropic`, :mod:`~stopwise.finisher.openai`),
:mod:`stopwise.finisher.effects` how drivers run it, :mod:`stopwise.finisher.report` what it
reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..errors import UnknownDialectError
from .anthropic import AnthropicDialect
from .base import Finisher
from .dialect import Dialect, Ledger, Plan
from .models import Fact, ModelMemory
from .openai import OpenAIDialect
from .policy import Policy, RetryPolicy
from .report import Report, RoundReport
from .responses import ResponsesDialect

__all__ = [
    "AnthropicDialect",
    "Dialect",
    "Fact",
    "Finisher",
    "Ledger",
    "ModelMemory",
    "OpenAIDialect",
    "Plan",
    "Policy",
    "Report",
    "ResponsesDialect",
    "RetryPolicy",
    "RoundReport",
    "finisher_for",
]


def finisher_for(
    dialect: str,
    body: dict[str, Any],
    *,
    policy: Policy,
    memory: ModelMemory,
    clock: Callable[[], float] = time.time,
    source: bytes | None = None,
) -> Finisher:
    """The finisher of one request. ``source``: the request's bytes, which ``body`` was parsed
    from; the finisher then keeps those and not ``body`` (see Dialect.request)."""
    ledger = Ledger(policy, memory, str(body.get("model") or ""), bool(body.get("stream")), clock)
    strategy: Dialect
    if dialect == "anthropic":
        strategy = AnthropicDialect(body, ledger, source)
    elif dialect == "openai":
        strategy = OpenAIDialect(body, ledger, source)
    elif dialect == "responses":
        strategy = ResponsesDialect(body, ledger, source)
    else:
        raise UnknownDialectError(f"no finisher for the {dialect!r} dialect")
    return Finisher(strategy)
