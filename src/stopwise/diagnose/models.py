"""Numbers a diagnosis compares against: relays' injected defaults and models' output ceilings,
from :mod:`stopwise.catalog`. A 400 of the form ``max_tokens: N > M, which is the maximum
allowed`` in the log itself overrides the ceiling (see :mod:`.facts`)."""

from __future__ import annotations

from ..catalog import CLAUDE_STOP_REASONS, RELAY_DEFAULTS, model_ceiling

__all__ = ["CLAUDE_STOP_REASONS", "RELAY_DEFAULTS", "model_ceiling", "relays_with_default"]


def relays_with_default(cap: int | None) -> tuple[str, ...]:
    return RELAY_DEFAULTS.get(cap, ()) if cap is not None else ()
