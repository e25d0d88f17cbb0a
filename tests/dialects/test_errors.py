"""HTTP error responses of both dialects (and of CDNs in front of them) as typed errors."""

from __future__ import annotations

import email.utils
import json

import pytest

from stopwise.dialects import error_from_payload, error_from_response, parse_retry_after
from stopwise.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    RequestTooLargeError,
)


def anthropic_body(
    error_type: str, message: str, request_id: str | None = "req_011CVLotZ6Xw2fy3SvPpV1aK"
) -> bytes:
    body: dict[str, object] = {"type": "error", "error": {"type": error_type, "message": message}}
    if request_id:
        body["request_id"] = request_id
    return json.dumps(body).encode()


def openai_body(
    message: str, error_type: str | None, code: str | None = None, param: str | None = None
) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    ).encode()


ANTHROPIC_CASES = [
    (400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", BadRequestError),
    (401, "authentication_error", "invalid x-api-key", AuthenticationError),
    (
        402,
        "billing_error",
        "Your credit balance is too low to access the Anthropic API.",
        PermissionDeniedError,
    ),
    (
        403,
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
        PermissionDeniedError,
    ),
    (404, "not_found_error", "model: claude-nope", NotFoundError),
    # 408 and 409 have no class of their own: the type decides, else a plain APIError.
    (408, "timeout_error", "Request timed out", InternalServerError),
    (409, "conflict_error", "Conflict", APIError),
    (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", RequestTooLargeError),
    (
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        RateLimitError,
    ),
    (500, "api_error", "Internal server error", InternalServerError),
    (503, "api_error", "Service unavailable", InternalServerError),
    (504, "timeout_error", "Request timed out", InternalServerError),
    (529, "overloaded_error", "Overloaded", OverloadedError),
]


@pytest.mark.parametrize(("status", "error_type", "message", "cls"), ANTHROPIC_CASES)
def test_anthropic_error_bodies(status: int, error_type: str, message: str, cls: type[APIError]) -> None:
    err = error_from_response(status, anthropic_body(error_type, message), {"Request-Id": "req_hdr_1"})
    assert type(err) is cls
    assert err.status == status
    assert err.error_type == error_type
    assert err.message == message
    assert err.request_id == "req_hdr_1"  # the header wins, read case-insensitively
    assert err.dialect == "anthropic"
    assert err.body["error"]["message"] == message
    assert err.headers == {"request-id": "req_hdr_1"}  # lowercased


def test_anthropic_request_id_from_the_body_when_no_header() -> None:
    err = error_from_response(529, anthropic_body("overloaded_error", "Overloaded"), {})
    assert err.request_id == "req_011CVLotZ6Xw2fy3SvPpV1aK"


OPENAI_CASES = [
    (400, "invalid_request_error", "context_length_exceeded", BadRequestError),
    (401, "invalid_request_error", "invalid_api_key", AuthenticationError),
    (403, "invalid_request_error", "unsupported_country_region_territory", PermissionDeniedError),
    (404, "invalid_request_error", "model_not_found", NotFoundError),
    (408, None, None, APIError),
    (409, None, None, APIError),
    (413, "invalid_request_error", None, RequestTooLargeError),
    (429, "requests", "rate_limit_exceeded", RateLimitError),
    (500, "server_error", None, InternalServerError),
    (503, "server_error", None, InternalServerError),
    (504, None, None, InternalServerError),
]


@pytest.mark.parametrize(("status", "error_type", "code", "cls"), OPENAI_CASES)
def test_openai_error_bodies(
    status: int, error_type: str | None, code: str | None, cls: type[APIError]
) -> None:
    body = openai_body(f"message for {status}", error_type, code)
    err = error_from_response(status, body, {"x-request-id": "req_7f3a9c"})
    assert type(err) is cls
    assert (err.status, err.error_type, err.code) == (status, error_type, code)
    assert err.message == f"message for {status}"
    assert err.request_id == "req_7f3a9c"
    assert err.dialect == "openai"
    assert not err.spend_limit


def test_body_as_str_and_as_mapping_read_the_same() -> None:
    raw = anthropic_body("rate_limit_error", "slow down")
    for body in (raw, raw.decode(), json.loads(raw)):
        err = error_from_response(429, body, {})
        assert type(err) is RateLimitError
        assert err.message == "slow down"


def test_anthropic_spend_limit_429() -> None:
    body = json.dumps(
        {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "You have reached your specified API usage limits.",
                "details": {"error_code": "enforced_spend_limit_reached"},
            },
        }
    )
    err = error_from_response(429, body, {})
    assert type(err) is RateLimitError
    assert err.code == "enforced_spend_limit_reached"
    assert err.spend_limit
    assert err.retry_after is None


def test_openai_insufficient_quota_429() -> None:
    body = openai_body(
        "You exceeded your current quota, please check your plan and billing details.",
        "insufficient_quota",
        "insufficient_quota",
    )
    err = error_from_response(429, body, {})
    assert type(err) is RateLimitError
    assert err.spend_limit


def test_ordinary_rate_limit_is_not_a_spend_limit() -> None:
    err = error_from_response(
        429, anthropic_body("rate_limit_error", "per-minute limit"), {"retry-after": "17"}
    )
    assert not err.spend_limit
    assert err.retry_after == 17.0


# --- retry-after and x-should-retry ---------------------------------------------------------


def test_retry_after_ms_wins_over_retry_after() -> None:
    err = error_from_response(
        429, anthropic_body("rate_limit_error", "x"), {"retry-after-ms": "1500", "Retry-After": "30"}
    )
    assert err.retry_after == 1.5


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": "30"}, 30.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "soon", "retry-after": "2"}, 2.0),  # unreadable ms falls back
        ({"retry-after-ms": "-5", "retry-after": "2"}, 2.0),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "whenever"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_http_date() -> None:
    now = 1_763_712_000.0
    later = email.utils.formatdate(now + 42, usegmt=True)
    assert parse_retry_after({"retry-after": later}, now=now) == pytest.approx(42.0)
    earlier = email.utils.formatdate(now - 42, usegmt=True)
    assert parse_retry_after({"retry-after": earlier}, now=now) == 0.0


def test_retry_after_http_date_through_error_from_response() -> None:
    later = email.utils.formatdate(None, usegmt=True)  # now, to the second
    err = error_from_response(503, b"", {"Retry-After": later})
    assert err.retry_after is not None
    assert 0.0 <= err.retry_after <= 1.0


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("false", False), ("maybe", None), (None, None)]
)
def test_x_should_retry(value: str | None, expected: bool | None) -> None:
    headers = {"X-Should-Retry": value} if value is not None else {}
    err = error_from_response(429, anthropic_body("rate_limit_error", "x"), headers)
    assert err.should_retry is expected


# --- bodies that are not the API's --------------------------------------------------------

CLOUDFLARE_403 = b"""<!DOCTYPE html>
<html lang="en-US">
<head><title>Attention Required! | Cloudflare</title></head>
<body><h1>Sorry, you have been blocked</h1>
<p>You are unable to access api.example-relay.com</p>
<p>Cloudflare Ray ID: <strong>8e2f1c0bdeadbeef</strong></p></body></html>
"""


def test_html_403_from_a_cdn_is_still_a_typed_error() -> None:
    err = error_from_response(
        403, CLOUDFLARE_403, {"cf-ray": "8e2f1c0bdeadbeef-AMS", "content-type": "text/html"}
    )
    assert type(err) is PermissionDeniedError
    assert err.status == 403
    assert err.error_type is None
    assert err.dialect is None
    # The message shows what the page says, so a human can tell a CDN block from an API 403.
    assert "Cloudflare" in err.message
    assert "blocked" in err.message
    assert len(err.message) <= 500
    assert err.body == CLOUDFLARE_403.decode()


def test_long_non_json_body_is_cut_to_a_readable_message() -> None:
    err = error_from_response(502, b"<html>" + b"x" * 5000 + b"</html>", {})
    assert type(err) is InternalServerError
    assert err.message.startswith("<html>")
    assert len(err.message) == 500


@pytest.mark.parametrize("body", [b"", b"   \n", None, ""])
def test_empty_body(body: bytes | str | None) -> None:
    err = error_from_response(503, body, {"x-request-id": "req_empty"})
    assert type(err) is InternalServerError
    assert err.status == 503
    assert "503" in err.message
    assert err.request_id == "req_empty"
    assert "503" in str(err)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error": "upstream timed out"}', "upstream timed out"),
        (b'{"message": "Forbidden"}', "Forbidden"),
        (b'["not", "an", "object"]', '["not", "an", "object"]'),
        (b'"just a string"', '"just a string"'),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
)
def test_odd_bodies_still_give_a_message(body: bytes, message: str) -> None:
    err = error_from_response(500, body, {})
    assert isinstance(err, InternalServerError)
    assert err.message == message


def test_error_fields_of_the_wrong_type_do_not_raise() -> None:
    body = {"type": "error", "error": {"type": 5, "message": ["a"], "code": 429}}
    err = error_from_payload(429, body)
    assert type(err) is RateLimitError
    assert (err.error_type, err.message, err.code) == ("5", "['a']", "429")


def test_http_500_with_a_client_error_type_is_still_a_server_error() -> None:
    body = anthropic_body("invalid_request_error", "upstream said no")
    assert type(error_from_response(500, body, {})) is InternalServerError


def test_unknown_status_without_type_is_a_plain_api_error() -> None:
    err = error_from_response(418, b"I'm a teapot", {})
    assert type(err) is APIError
    assert err.message == "I'm a teapot"
