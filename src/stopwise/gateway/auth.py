"""Whose key goes upstream, and who may use the gateway.

- Pass-through (the default): the client's own ``x-api-key`` / ``Authorization`` goes to the
  upstream unchanged. The gateway never stores or logs it.
- Server-held keys: with ``anthropic_api_key`` / ``openai_api_key`` (or a route's ``api_key``)
  configured, the gateway puts its key on the upstream request in place of the client's.
- Client keys: with ``client_keys`` configured, a client must send one of them (as the SDKs send
  any key: ``x-api-key`` or ``Authorization: Bearer``); it is checked, then removed, never
  forwarded.

A gateway reachable from other machines without client keys would lend its server-held keys (or
its position) to anyone, so listening on a non-loopback address without them is refused unless
``allow_unauthenticated`` says it is meant.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Mapping

from .config import ConfigError, Settings
from .headers import forwarded

__all__ = ["KeyPolicy", "check_bind", "is_loopback"]

_AUTH_HEADERS = (b"x-api-key", b"authorization")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_bind(settings: Settings) -> None:
    """Refuse a setup that would expose the gateway without client authentication, or its
    dashboard to a client key."""
    if settings.admin_key is not None and settings.admin_key in settings.client_keys:
        raise ConfigError("admin_key is also one of client_keys: a client could read the dashboard")
    if is_loopback(settings.host) or settings.client_keys or settings.allow_unauthenticated:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} without client authentication: set client_keys in "
        "the config file (or STOPWISE_CLIENT_KEYS), listen on 127.0.0.1, or pass "
        "--allow-unauthenticated if every client that can reach this address may use it"
    )


def _presented_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class KeyPolicy:
    def __init__(self, settings: Settings) -> None:
        self._client_keys = tuple(k.encode() for k in settings.client_keys)
        self._extra = frozenset(h.lower().encode("latin-1") for h in settings.forward_headers)

    def allows(self, headers: Mapping[str, str]) -> bool:
        if not self._client_keys:
            return True
        key = _presented_key(headers)
        if key is None:
            return False
        presented = key.encode()
        # Compare with every key, in constant time each: no early exit that times the match.
        return any([hmac.compare_digest(presented, k) for k in self._client_keys])

    def upstream_headers(
        self, headers: list[tuple[bytes, bytes]], dialect: str, server_key: str | None
    ) -> list[tuple[bytes, bytes]]:
        """The client's headers as they go upstream: unchanged in pass-through; only the
        allowed ones (:mod:`.headers`), with the server's key in place of the client's, when
        the server holds one; without the client's stopwise key when clients authenticate."""
        if server_key is None and not self._client_keys:
            return headers
        if server_key is None:
            out = [(k, v) for k, v in headers if k not in _AUTH_HEADERS]
        else:
            # host is the gateway's own (the upstream's netloc), put first by the proxy.
            out = [(k, v) for k, v in headers if k == b"host" or forwarded(k, self._extra)]
        if server_key is not None:
            if dialect == "anthropic":
                out.append((b"x-api-key", server_key.encode()))
            else:
                out.append((b"authorization", b"Bearer " + server_key.encode()))
        return out
