"""Which headers cross the gateway when it holds the upstream keys.

In pass-through the client talks to the upstream on its own account, so headers go both ways
(less the hop-by-hop ones). With a server-held key the account is the server's, and every
client shares it, so only what is listed here crosses; anything new an upstream or an SDK
starts sending stays out until it is listed:

- upstream to client (:func:`returned`): what describes the answer, its request id, and when
  to retry; never cookies (one client's session handed to every other) or the organization,
  project and account ids that name the server's account;
- client to upstream (:func:`forwarded`): what shapes the request (API version, betas, content
  type, idempotency key, the SDK's own ``x-stainless-*`` description of itself); never headers
  that pick an account, organization or project, or carry cookies, on the server's key. An
  operator adds names with ``forward_headers``.
"""

from __future__ import annotations

__all__ = ["FORWARDED", "RETURNED", "forwarded", "returned"]

RETURNED = frozenset(
    {
        b"content-type",
        b"content-encoding",
        b"content-language",
        b"cache-control",
        b"request-id",
        b"x-request-id",
        b"retry-after",
        b"retry-after-ms",
        b"x-should-retry",
        b"openai-processing-ms",
        b"openai-version",
    }
)
# The finisher's own headers, and the rate-limit state clients back off by.
_RETURNED_PREFIXES = (b"x-stopwise-", b"anthropic-ratelimit-", b"x-ratelimit-")

FORWARDED = frozenset(
    {
        b"content-type",
        b"accept",
        b"accept-encoding",
        b"user-agent",
        b"anthropic-version",
        b"anthropic-beta",
        b"openai-beta",
        b"idempotency-key",
        b"x-request-id",
    }
)
_FORWARDED_PREFIXES = (b"x-stainless-",)


def returned(name: bytes) -> bool:
    """Whether an upstream response header (lowercased) goes back to a client sharing the
    server's key."""
    return name in RETURNED or name.startswith(_RETURNED_PREFIXES)


def forwarded(name: bytes, extra: frozenset[bytes] = frozenset()) -> bool:
    """Whether a client's request header (lowercased) goes upstream with the server's key."""
    return name in FORWARDED or name in extra or name.startswith(_FORWARDED_PREFIXES)
