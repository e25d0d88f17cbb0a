"""The error tree: classes by status and type, the spend-limit flag, and the text of an error."""

from __future__ import annotations

import pytest

from stopwise import errors
from stopwise.errors import (
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
    api_error_class,
    is_quota_error,
)


def test_tree() -> None:
    assert issubclass(SSEError, StopwiseError)
    assert issubclass(EventTooLargeError, SSEError)
    assert issubclass(ProtocolError, StopwiseError)
    assert issubclass(UnknownDialectError, ProtocolError)
    for cls in (
        BadRequestError,
        AuthenticationError,
        PermissionDeniedError,
        NotFoundError,
        RequestTooLargeError,
        RateLimitError,
        InternalServerError,
        OverloadedError,
    ):
        assert issubclass(cls, APIError)
        assert issubclass(cls, StopwiseError)
    assert not issubclass(StopwiseError, (KeyError, TypeError, ValueError))


@pytest.mark.parametrize(
    ("status", "error_type", "cls"),
    [
        (400, "invalid_request_error", BadRequestError),
        (401, "authentication_error", AuthenticationError),
        (402, "billing_error", PermissionDeniedError),
        (403, "permission_error", PermissionDeniedError),
        (404, "not_found_error", NotFoundError),
        (413, "request_too_large", RequestTooLargeError),
        (429, "rate_limit_error", RateLimitError),
        (500, "api_error", InternalServerError),
        (502, None, InternalServerError),
        (503, None, InternalServerError),
        (504, "timeout_error", InternalServerError),
        (529, "overloaded_error", OverloadedError),
        (529, None, OverloadedError),
        # The status decides outside a stream, whatever a relay put in the type.
        (400, "api_error", BadRequestError),
        (429, None, RateLimitError),
        (403, None, PermissionDeniedError),
        # Statuses with no class of their own stay plain APIErrors (callers read .status).
        (408, None, APIError),
        (409, "conflict_error", APIError),
        (418, None, APIError),
    ],
)
def test_class_by_status(status: int, error_type: str | None, cls: type[APIError]) -> None:
    assert api_error_class(status, error_type) is cls


@pytest.mark.parametrize(
    ("error_type", "cls"),
    [
        ("overloaded_error", OverloadedError),
        ("api_error", InternalServerError),
        ("rate_limit_error", RateLimitError),
        ("invalid_request_error", BadRequestError),
        ("authentication_error", AuthenticationError),
        ("permission_error", PermissionDeniedError),
        ("billing_error", PermissionDeniedError),
        ("not_found_error", NotFoundError),
        ("request_too_large", RequestTooLargeError),
        ("timeout_error", InternalServerError),
        ("server_error", InternalServerError),  # unknown type inside a 200: a server fault
        (None, InternalServerError),
    ],
)
def test_class_inside_a_200_stream_comes_from_the_type(error_type: str | None, cls: type[APIError]) -> None:
    assert api_error_class(200, error_type) is cls


def test_overloaded_type_wins_over_any_status() -> None:
    assert api_error_class(500, "overloaded_error") is OverloadedError
    assert api_error_class(400, "overloaded_error") is OverloadedError


@pytest.mark.parametrize(
    ("status", "error_type", "code", "expected"),
    [
        (429, "rate_limit_error", "enforced_spend_limit_reached", True),
        (429, "insufficient_quota", "insufficient_quota", True),
        (429, None, "billing_hard_limit_reached", True),
        (402, "billing_error", None, True),
        (400, "billing_error", None, True),
        (429, "rate_limit_error", None, False),
        (429, "requests", "rate_limit_exceeded", False),
        (500, None, "insufficient_quota", False),  # only a 429 code says quota
    ],
)
def test_spend_limit(status: int, error_type: str | None, code: str | None, expected: bool) -> None:
    assert is_quota_error(status, error_type, code) is expected
    err = api_error_class(status, error_type)("m", status=status, error_type=error_type, code=code)
    assert err.spend_limit is expected


def test_api_error_text_and_fields() -> None:
    err = OverloadedError(
        "Overloaded",
        status=529,
        error_type="overloaded_error",
        request_id="req_011CVabc",
        headers={"request-id": "req_011CVabc"},
    )
    assert str(err) == "529 overloaded_error: Overloaded (request id req_011CVabc)"
    assert "OverloadedError" in repr(err)
    assert "req_011CVabc" in repr(err)
    assert err.message == "Overloaded"
    assert not err.mid_stream
    assert err.partial is None
    plain = APIError("no type", status=502)
    assert str(plain) == "502: no type"
    assert APIError("x", status=200).mid_stream


def test_event_too_large_names_its_limit() -> None:
    err = EventTooLargeError(1024)
    assert err.limit == 1024
    assert "1024" in str(err)


def test_public_surface_lists_what_it_exports() -> None:
    for name in errors.__all__:
        assert hasattr(errors, name), name
