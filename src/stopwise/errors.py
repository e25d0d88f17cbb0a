"""Errors stopwise raises. Every one is a :class:`StopwiseError`; none is a bare KeyError/TypeError.

::

    StopwiseError
    ├── SSEError                  the byte stream is not valid SSE for us
    │   └── EventTooLargeError    one event grew past the decoder's bound
    ├── ProtocolError             the events or JSON do not follow the dialect (bad input)
    │   └── UnknownDialectError   nothing in the input says which API it came from
    └── APIError                  the API (or a relay) said no: status, type, message, ids
        ├── BadRequestError               400
        ├── AuthenticationError           401
        ├── PermissionDeniedError         403 (and 402 billing)
        ├── NotFoundError                 404
        ├── RequestTooLargeError          413
        ├── RateLimitError                429 (``spend_limit`` tells a quota 429 from a bucket)
        ├── InternalServerError           5xx other than 529
        ├── OverloadedError               529 or ``overloaded_error``
        └── (any of the above with ``status == 200``) an error event inside a 200 stream

An :class:`APIError` raised for a stream carries what was received before it in ``partial``
(an :class:`~stopwise.outcome.Outcome`), so nothing already generated is lost.
Classification is by status, error type and code, at this one edge; never by message text,
except the two Anthropic 400s whose only machine-readable signal *is* the text (see
:func:`stopwise.dialects.anthropic.bad_request_hint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .outcome import Outcome

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "EventTooLargeError",
    "InternalServerError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "RequestTooLargeError",
    "SSEError",
    "StopwiseError",
    "UnknownDialectError",
    "api_error_class",
]


class StopwiseError(Exception):
    """Base of every error stopwise raises."""


class SSEError(StopwiseError):
    """The byte stream could not be decoded as server-sent events."""


class EventTooLargeError(SSEError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"server-sent event exceeded the {limit} byte limit without a blank line")
        self.limit = limit


class ProtocolError(StopwiseError):
    """Input that does not follow the dialect: invalid JSON, a body of the wrong shape."""


class UnknownDialectError(ProtocolError):
    """Not an Anthropic Messages, OpenAI Chat Completions or OpenAI Responses payload."""


class APIError(StopwiseError):
    """An error reported by the API: an HTTP error response, or an error event in a 200 stream.

    ``headers`` are lowercased. ``retry_after`` is in seconds, from ``retry-after-ms`` or
    ``retry-after`` (seconds or HTTP date), ``None`` when the server gave none.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        code: str | None = None,
        dialect: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        should_retry: bool | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        partial: Outcome | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.code = code
        self.dialect = dialect
        self.request_id = request_id
        self.retry_after = retry_after
        self.should_retry = should_retry
        self.body = body
        self.headers = dict(headers or {})
        self.partial = partial

    @property
    def mid_stream(self) -> bool:
        """True for an error that arrived inside a stream after a 200."""
        return self.status == 200

    @property
    def spend_limit(self) -> bool:
        """A 429 or 402 that waiting will not fix: a spend limit or exhausted quota."""
        return is_quota_error(self.status, self.error_type, self.code)

    def __str__(self) -> str:
        parts = [f"{self.status}" if self.status else "error"]
        if self.error_type:
            parts.append(self.error_type)
        head = " ".join(parts)
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{head}: {self.message}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, error_type={self.error_type!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class BadRequestError(APIError):
    pass


class AuthenticationError(APIError):
    pass


class PermissionDeniedError(APIError):
    pass


class NotFoundError(APIError):
    pass


class RequestTooLargeError(APIError):
    pass


class RateLimitError(APIError):
    pass


class InternalServerError(APIError):
    pass


class OverloadedError(APIError):
    pass


_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "enforced_spend_limit_reached",
        "spend_limit_reached",
        "billing_hard_limit_reached",
    }
)


def is_quota_error(status: int, error_type: str | None, code: str | None) -> bool:
    if status == 402 or error_type == "billing_error":
        return True
    return status == 429 and (code in _QUOTA_CODES or error_type in _QUOTA_CODES)


_BY_TYPE: dict[str, type[APIError]] = {
    "invalid_request_error": BadRequestError,
    "authentication_error": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "billing_error": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "request_too_large": RequestTooLargeError,
    "rate_limit_error": RateLimitError,
    "api_error": InternalServerError,
    "timeout_error": InternalServerError,
    "overloaded_error": OverloadedError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PermissionDeniedError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: RequestTooLargeError,
    429: RateLimitError,
    529: OverloadedError,
}


#: The HTTP status each error type comes with (Anthropic's table, brief/wire.md, plus OpenAI's
#: quota type): for an error object met without its status (a 200 body, a pasted log).
STATUS_OF_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "insufficient_quota": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def api_error_class(status: int, error_type: str | None) -> type[APIError]:
    """The class for an error. The status decides when it is a real HTTP status; the error type
    decides inside a 200 stream (status 200) and for a body read without its status (0)."""
    if status == 529 or error_type == "overloaded_error":
        return OverloadedError
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        # A relay's 500 carrying a client error type is still a server fault, and retryable.
        return InternalServerError
    cls = _BY_TYPE.get(error_type or "")
    if cls is not None:
        return cls
    return InternalServerError if status == 200 else APIError
