"""What every endpoint shares: the dialect-free request, the ``x-sim-*`` knobs, the app state,
and :func:`run`, which turns a validated request into a :class:`~stopwise.sim.generate.Reply`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .behaviors import BEHAVIORS, parse_behaviors
from .caching import PromptCache, Segment
from .citations import LOCATIONS, CitedDocument
from .config import SimConfig
from .conversation import Turn, analyze
from .generate import Limits, Reply, ServerTools, Shapes, generate, plan
from .http_errors import SimError
from .ids import IdFactory
from .models import ModelInfo
from .responses_store import ResponseStore

__all__ = ["FORCED_STOPS", "Knobs", "SimRequest", "SimState", "parse_knobs", "run"]

#: ``x-sim-stop`` values → (stop reason, default number of tokens before it).
FORCED_STOPS = {
    "refusal": ("refusal", 0),
    "context-window": ("model_context_window_exceeded", 64),
    "pause-turn": ("pause_turn", 64),
    "content-filter": ("content_filter", 64),
}

#: The beta that turns "input + max_tokens over the window" from a 400 into a generation that
#: stops with ``model_context_window_exceeded``.
WINDOW_BETA = "model-context-window-exceeded-2025-08-26"

#: The beta that lets Claude 4 models think between tool calls (Opus 4.6 does it unasked with
#: adaptive thinking).
INTERLEAVED_BETA = "interleaved-thinking-2025-05-14"

#: The most calls ``x-sim-tool-calls`` asks for in one turn.
MAX_TOOL_CALLS = 8


@dataclass
class SimState:
    """Per-app mutable state: the request counter (ids), attempt counts (``fail-first``), the
    prompt cache and the stored Responses API responses. One app, one state: fresh apps replay
    identically."""

    config: SimConfig
    counter: int = 0
    attempts: dict[str, int] = field(default_factory=dict)
    cache: PromptCache = field(default_factory=PromptCache)
    responses: ResponseStore = field(default_factory=ResponseStore)


@dataclass
class SimRequest:
    dialect: str  # anthropic | openai | relay | responses
    model: ModelInfo
    stream: bool
    max_tokens: int
    turns: list[Turn]
    segments: list[Segment]
    boundaries: list[int] = field(default_factory=list)  # segment indexes that end a message
    stop_sequences: tuple[str, ...] = ()
    client_tool: str | None = None  # the tool the ``tool`` document calls
    server_tools: bool = False
    thinking_budget: int | None = None
    prefill: bool = False  # a final assistant message is continued
    include_usage: bool = False
    tool_preface: bool = True
    client_tools: tuple[str, ...] = ()  # every offered client tool, in order
    documents: tuple[CitedDocument, ...] = ()  # document blocks with citations enabled
    adaptive_thinking: bool = False


@dataclass(frozen=True)
class Knobs:
    behaviors: frozenset[str] = frozenset()
    forced: tuple[str, int] | None = None
    thinking_tokens: int | None = None  # x-sim-thinking-tokens: forced thinking length
    default_thinking: int = 200
    searches: int = 3
    pause_after: int = 2
    context_window: int | None = None
    window_beta: bool = False
    citations: str | None = None  # x-sim-citations: a location type
    tool_calls: int = 1  # x-sim-tool-calls
    interleaved: bool = False  # the interleaved-thinking beta
    redacted_thinking: bool = False  # x-sim-redacted-thinking


def parse_knobs(headers: Mapping[str, str], config: SimConfig) -> Knobs:
    behaviors = parse_behaviors(headers.get("x-sim-behavior"))
    unknown = sorted(behaviors - set(BEHAVIORS))
    if unknown:
        raise SimError(
            400, f"x-sim-behavior: unknown value {unknown[0]!r}; expected one of {', '.join(BEHAVIORS)}"
        )
    forced = None
    stop = headers.get("x-sim-stop", "").strip().lower()
    if stop:
        name, _, arg = stop.partition(":")
        if name not in FORCED_STOPS or (arg and not arg.isdigit()):
            raise SimError(
                400, f"x-sim-stop: unknown value {stop!r}; expected one of {', '.join(FORCED_STOPS)}"
            )
        reason, default = FORCED_STOPS[name]
        forced = (reason, int(arg) if arg else default)
    betas = {b.strip() for b in headers.get("anthropic-beta", "").split(",")}
    citations = headers.get("x-sim-citations", "").strip().lower() or None
    if citations is not None and citations not in LOCATIONS:
        raise SimError(
            400, f"x-sim-citations: unknown value {citations!r}; expected one of {', '.join(LOCATIONS)}"
        )
    tool_calls = _int_header(headers, "x-sim-tool-calls", 1)
    if tool_calls > MAX_TOOL_CALLS:
        raise SimError(400, f"x-sim-tool-calls: at most {MAX_TOOL_CALLS}, got {tool_calls}")
    redacted = headers.get("x-sim-redacted-thinking", "").strip().lower()
    if redacted not in ("", "0", "1", "true", "false"):
        raise SimError(400, f"x-sim-redacted-thinking: expected true or false, got {redacted!r}")
    return Knobs(
        behaviors=behaviors,
        forced=forced,
        thinking_tokens=_int_header(headers, "x-sim-thinking-tokens", 0) or None,
        default_thinking=config.thinking_tokens,
        searches=_int_header(headers, "x-sim-searches", config.searches),
        pause_after=max(1, _int_header(headers, "x-sim-pause-after", config.pause_after)),
        context_window=_int_header(headers, "x-sim-context-window", 0) or None,
        window_beta=WINDOW_BETA in betas,
        citations=LOCATIONS[citations] if citations else None,
        tool_calls=max(1, tool_calls),
        interleaved=INTERLEAVED_BETA in betas,
        redacted_thinking=redacted in ("1", "true"),
    )


def _int_header(headers: Mapping[str, str], name: str, default: int) -> int:
    value = headers.get(name)
    if value is None:
        return default
    if not value.strip().isdigit():
        raise SimError(400, f"{name}: expected a non-negative integer, got {value!r}")
    return int(value)


def window_of(req: SimRequest, knobs: Knobs) -> int:
    return knobs.context_window or req.model.context_window


def run(req: SimRequest, knobs: Knobs, input_tokens: int, ids: IdFactory) -> Reply:
    analysis = analyze(req.turns, client_tools=req.client_tool is not None, prefill=req.prefill)
    budget = req.max_tokens
    cap = "max_tokens"
    window = window_of(req, knobs)
    if input_tokens + budget > window:
        # Only reachable with the window beta (the dialects' context checks 400 otherwise):
        # the output stops when it fills the window.
        budget = max(0, window - input_tokens)
        cap = "model_context_window_exceeded"
    forced_reason = None
    if knobs.forced is not None and knobs.forced[1] <= budget:
        forced_reason, budget = knobs.forced
    thinking = None
    if req.thinking_budget:
        # The budget is a target, not a cap: real models overrun it, and x-sim-thinking-tokens
        # forces a length so reasoning-only truncation can be produced on demand.
        thinking = knobs.thinking_tokens or min(req.thinking_budget, knobs.default_thinking)
    server = ServerTools(knobs.searches, knobs.pause_after) if req.server_tools else None
    shapes = Shapes(
        citations=req.documents,
        citation_location=knobs.citations,
        tool_calls=knobs.tool_calls,
        tool_names=req.client_tools,
        interleaved=knobs.interleaved or (req.model.name == "claude-opus-4-6" and req.adaptive_thinking),
        redacted=knobs.redacted_thinking,
    )
    blocks, natural = plan(
        analysis,
        behaviors=knobs.behaviors if analysis.mode == "continue" else frozenset(),
        thinking_tokens=thinking,
        tool_name=req.client_tool,
        tool_preface=req.tool_preface,
        server_tools=server,
        new_id=ids.make,
        tool_id_prefix="call_" if req.dialect in ("openai", "responses") else "toolu_01",
        shapes=shapes,
    )
    limits = Limits(budget, cap, req.stop_sequences, forced_reason)
    return generate(blocks, natural, limits)
