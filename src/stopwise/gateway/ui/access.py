"""Who may open the dashboard: the gateway's own rule, with an admin key instead of a client key.

- ``admin_key`` set: every dashboard request must carry it (``x-stopwise-admin-key`` or
  ``Authorization: Bearer``), from anywhere;
- no ``admin_key``: open to loopback peers of a gateway that listens on loopback only; closed
  otherwise (a gateway reachable from other machines shows its log to no one without a key).

A client key never opens it: a client may use the gateway, not read what everyone sent.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request

from ..auth import is_loopback
from ..config import Settings

__all__ = ["AdminGate"]


def _presented(request: Request) -> str | None:
    key = request.headers.get("x-stopwise-admin-key")
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class AdminGate:
    def __init__(self, settings: Settings) -> None:
        self._key = settings.admin_key.encode() if settings.admin_key else None
        self._loopback = is_loopback(settings.host)

    def page_refusal(self, request: Request) -> tuple[int, str] | None:
        """The page holds no data, so with a key set it is served to anyone, to ask for the
        key; without one, it follows the data's rule."""
        return None if self._key is not None else self.refusal(request)

    def refusal(self, request: Request) -> tuple[int, str] | None:
        """None when the request may read the dashboard, else (status, why)."""
        if self._key is not None:
            key = _presented(request)
            if key is not None and hmac.compare_digest(key.encode(), self._key):
                return None
            return 401, "the dashboard needs the stopwise admin key (x-stopwise-admin-key)"
        peer = request.client.host if request.client else ""
        if self._loopback and is_loopback(peer):
            return None
        return 403, "the dashboard is off beyond loopback until admin_key (STOPWISE_ADMIN_KEY) is set"
