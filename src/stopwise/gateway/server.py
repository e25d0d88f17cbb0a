"""The gateway under uvicorn: :func:`run`, and the server that tells the gateway it is stopping.

uvicorn's own graceful shutdown waits for open connections, then (past
``timeout_graceful_shutdown``) cancels their tasks without a word to the client, and only then
tells the app. :class:`GatewayServer` starts the gateway's :class:`~.drain.Drain` clock as the
shutdown begins, so the gateway ends what is open itself, in the caller's dialect; uvicorn's
timeout stays as a backstop a little later.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import uvicorn
from starlette.applications import Starlette

from .app import Gateway
from .inbound import HeadLimits, inbound_protocol
from .redact import AccessLogRedaction

__all__ = ["GatewayServer", "run"]

# Seconds after the gateway's own shutdown timeout before uvicorn cancels what is left.
_BACKSTOP = 5.0


class GatewayServer(uvicorn.Server):
    def __init__(self, config: Any, gateway: Gateway) -> None:
        super().__init__(config)
        self.gateway = gateway

    async def shutdown(self, sockets: Any = None) -> None:
        self.gateway.drain.begin(self.gateway.settings.shutdown_timeout)
        await super().shutdown(sockets)


def server(app: Starlette, **config: Any) -> GatewayServer:
    """The server for ``app``; ``config`` adds or overrides ``uvicorn.Config`` arguments."""
    gateway: Gateway = app.state.gateway
    s = gateway.settings
    limits = HeadLimits(s.header_timeout, s.max_header_bytes, s.max_headers)
    options: dict[str, Any] = {
        "host": s.host,
        "port": s.port,
        "http": inbound_protocol(limits, lambda reason: gateway.metrics.refused.inc(reason)),
        "timeout_graceful_shutdown": math.ceil(s.shutdown_timeout + _BACKSTOP),
        # Proxied responses drop the upstream's server header; none is written in its place.
        "server_header": False,
        **config,
    }
    uv = uvicorn.Config(app, **options)  # configures logging: the filter goes on after it
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogRedaction) for f in access.filters):
        access.addFilter(AccessLogRedaction())
    return GatewayServer(uv, gateway)


def run(app: Starlette, **config: Any) -> None:
    """Serve ``app`` (from :func:`~.app.create_app`) until SIGTERM or Ctrl-C."""
    server(app, **config).run()
