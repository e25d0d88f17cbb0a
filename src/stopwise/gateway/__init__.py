"""``stopwise serve``: the finisher as an HTTP gateway any client can point its base URL at.

- :mod:`.config`: :class:`Settings`, from flags > ``STOPWISE_*`` env vars > TOML file > defaults;
- :mod:`.app`: :func:`create_app`, the Starlette app; :mod:`.proxy` forwards and streams;
- :mod:`.auth`: key pass-through, server-held keys, client keys, the non-loopback refusal;
- :mod:`.errors`: the gateway's own errors in each dialect's shape;
- :mod:`.log` and :mod:`.migrations`: the SQLite request log; :mod:`.pglog` the PostgreSQL one,
  shared by replicas (:mod:`.logwriter`: the rules both keep; :mod:`.logstore`: where a log is,
  and reading it); :mod:`.query` reads it back; :mod:`.facts`: model facts shared by replicas;
- :mod:`.metrics`: Prometheus text at ``/metrics``.
"""

from __future__ import annotations

from .app import create_app, prepare_log
from .auth import check_bind, is_loopback
from .config import ConfigError, ModelRoute, Settings, load_settings
from .log import RequestLog

__all__ = [
    "ConfigError",
    "ModelRoute",
    "RequestLog",
    "Settings",
    "check_bind",
    "create_app",
    "is_loopback",
    "load_settings",
    "prepare_log",
]
