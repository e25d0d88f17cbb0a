"""What the finisher does for each outcome, and its bounds. Defaults are what a careful user
wants; every decision can be overridden. One object, built once and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Policy", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of errors the API says are passing (brief/wire.md "Retry policy of the official
    SDKs"): 408, 409, 429, 5xx and 529, after ``retry-after-ms`` / ``retry-after`` when given,
    else exponential backoff with jitter. ``x-should-retry`` overrides the status either way.
    A spend-limit 429 and 4xx errors that cannot change are never retried."""

    max_retries: int = 4  # per round; a resumed stream counts as one
    initial_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.25  # the delay is scaled by 1 - jitter * random()
    max_retry_after: float = 120.0  # a longer wait than this is not a retry, it is an outage
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({408, 409, 429}))

    def retryable_status(self, status: int) -> bool:
        return status in self.statuses or status >= 500


@dataclass(frozen=True, slots=True)
class Policy:
    # Truncated text (max_tokens, length, a relay's raw max_tokens, output at the cap).
    continue_truncated: bool = True
    # "auto": prefill where the model allows it (a table, then what its 400s teach), else a
    # continue turn with seam repair. "never": always a continue turn.
    prefill: Literal["auto", "never"] = "auto"
    max_rounds: int = 8  # upstream rounds of every kind (first, continue, pause, resume, retry)
    max_output_tokens: int | None = None  # total over all rounds; None: no bound but rounds
    # A cut tool call is re-requested with max_tokens multiplied by this, up to the model's
    # ceiling; if it still cannot fit, the truncation is returned as it is.
    retry_cut_tool_calls: bool = True
    tool_budget_factor: float = 2.0
    # Each continuation round asks for this many times the previous round's max_tokens, up to
    # the model's ceiling (known, or learned from its 400) and what max_output_tokens leaves: an
    # answer far longer than its cap then ends in a handful of rounds, re-billing the prompt fewer
    # times. 1.0 keeps the caller's max_tokens on every round.
    grow_max_tokens: float = 4.0
    resume_pause_turn: bool = True
    max_pause_rounds: int = 10
    # A stream that dies after the 200 (dropped connection, error event) is resumed from what
    # arrived instead of being restarted or lost.
    resume_interrupted: bool = True
    # Mark the re-sent prefix with cache_control on continuation rounds (Anthropic), so rounds
    # after the second read it from the cache instead of paying for it again.
    cache_prefix: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Streams end with an ``event: stopwise`` carrying the report (SDKs skip unknown events).
    report_event: bool = True
    # OpenTelemetry spans carry the request's messages and the answer (stopwise.telemetry).
    # Off by default: content is the caller's data. The env var
    # OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true turns it on as well.
    trace_content: bool = False
