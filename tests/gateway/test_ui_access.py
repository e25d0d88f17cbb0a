"""Who may read the dashboard: loopback by default, the admin key beyond it or whenever it is
set, and never a client key."""

from __future__ import annotations

import asyncio

import httpx2
import pytest
from _gateway import GatewayFactory, Running
from _traffic import make_traffic

from stopwise.gateway import ConfigError, Settings, check_bind
from stopwise.gateway.ui import create_ui_app

ADMIN, CLIENT = "sw-admin-1", "sw-client-1"


def _status(gw: Running, path: str, **headers: str) -> int:
    return httpx2.get(f"{gw.url}{path}", headers=headers).status_code


def test_loopback_needs_no_key(gw: Running) -> None:
    make_traffic(gw)
    assert _status(gw, "/ui") == _status(gw, "/ui/api/requests") == _status(gw, "/ui/api/stats") == 200


def test_with_an_admin_key_only_it_opens_the_data(gateway_factory: GatewayFactory) -> None:
    with gateway_factory(admin_key=ADMIN, client_keys=(CLIENT,)) as gw:
        make_traffic(gw, client_key=CLIENT)
        for path in ("/ui/api/requests", "/ui/api/stats", "/ui/api/requests/1"):
            assert _status(gw, path) == 401
            # A client key opens the API routes, not the dashboard, however it is sent.
            assert _status(gw, path, authorization=f"Bearer {CLIENT}") == 401
            assert _status(gw, path, **{"x-api-key": CLIENT}) == 401
            assert _status(gw, path, **{"x-stopwise-admin-key": CLIENT}) == 401
            assert _status(gw, path, **{"x-stopwise-admin-key": ADMIN}) == 200
            assert _status(gw, path, authorization=f"Bearer {ADMIN}") == 200
        refused = httpx2.get(f"{gw.url}/ui/api/stats")
        assert refused.json() == {
            "error": "the dashboard needs the stopwise admin key (x-stopwise-admin-key)"
        }
        # The page holds no data and is served, so that it can ask for the key.
        page = httpx2.get(f"{gw.url}/ui")
        assert page.status_code == 200 and CLIENT not in page.text and ADMIN not in page.text
        # The admin key is not a client key either.
        assert _status(gw, "/metrics", authorization=f"Bearer {ADMIN}") == 401


def test_listening_beyond_loopback_without_an_admin_key_closes_it(gateway_factory: GatewayFactory) -> None:
    # Settings say the gateway listens on a public address (the test server itself is on
    # 127.0.0.1): loopback peers do not open it then, since a proxy in front would be one.
    with gateway_factory(host="192.0.2.10", client_keys=(CLIENT,)) as gw:
        for path in ("/ui", "/ui/api/requests", "/ui/api/stats"):
            assert _status(gw, path) == 403
            assert _status(gw, path, authorization=f"Bearer {CLIENT}") == 403
    with gateway_factory(host="192.0.2.10", client_keys=(CLIENT,), admin_key=ADMIN) as gw:
        assert _status(gw, "/ui/api/stats") == 401
        assert _status(gw, "/ui/api/stats", **{"x-stopwise-admin-key": ADMIN}) == 200


def test_a_peer_beyond_loopback_needs_the_key(gw: Running) -> None:
    make_traffic(gw)
    app = create_ui_app(Settings(), gw.log_path)

    async def get(peer: str) -> httpx2.Response:
        # The ASGI transport is the one way to be a non-loopback peer without leaving 127.0.0.1.
        transport = httpx2.ASGITransport(app, client=(peer, 40000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.get("/ui/api/requests")

    assert asyncio.run(get("192.0.2.7")).status_code == 403
    assert len(asyncio.run(get("127.0.0.1")).json()["requests"]) == 3


def test_an_admin_key_that_is_a_client_key_is_refused() -> None:
    with pytest.raises(ConfigError, match="admin_key is also one of client_keys"):
        check_bind(Settings(admin_key=CLIENT, client_keys=(CLIENT,)))
    check_bind(Settings(admin_key=ADMIN, client_keys=(CLIENT,)))


def test_the_admin_key_never_shows_in_a_repr() -> None:
    assert ADMIN not in repr(Settings(admin_key=ADMIN))
