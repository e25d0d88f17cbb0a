"""stopwise: complete, honest LLM API responses.

The public surface: the SSE codec, the outcome model, the dialects and the error tree.
"""

from __future__ import annotations

from ._version import __version__
from .dialects import (
    AnthropicAccumulator,
    OpenAIAccumulator,
    ResponsesAccumulator,
    detect_dialect,
    error_from_response,
    parse_body,
    parse_capture,
)
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    EventTooLargeError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RequestTooLargeError,
    SSEError,
    StopwiseError,
    UnknownDialectError,
)
from .finisher import ModelMemory, Policy, RetryPolicy
from .outcome import Outcome, State, Stop, StopReason, Usage
from .sse import ServerSentEvent, SSEDecoder, encode_event, iter_events
from .transport import AsyncFinisherTransport, FinisherTransport, async_http_client, http_client

__all__ = [
    "APIError",
    "AnthropicAccumulator",
    "AsyncFinisherTransport",
    "AuthenticationError",
    "BadRequestError",
    "EventTooLargeError",
    "FinisherTransport",
    "InternalServerError",
    "ModelMemory",
    "NotFoundError",
    "OpenAIAccumulator",
    "Outcome",
    "OverloadedError",
    "PermissionDeniedError",
    "Policy",
    "ProtocolError",
    "RateLimitError",
    "RequestTooLargeError",
    "ResponsesAccumulator",
    "RetryPolicy",
    "SSEDecoder",
    "SSEError",
    "ServerSentEvent",
    "State",
    "Stop",
    "StopReason",
    "StopwiseError",
    "UnknownDialectError",
    "Usage",
    "__version__",
    "async_http_client",
    "detect_dialect",
    "encode_event",
    "error_from_response",
    "http_client",
    "iter_events",
    "parse_body",
    "parse_capture",
]
