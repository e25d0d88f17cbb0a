"""The dashboard over the request log (docs/gateway.md, "Dashboard"): served by the gateway at
``/ui``, or alone on a log file by ``stopwise ui``."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette

from ..config import Settings
from ..logstore import LogLocation
from .access import AdminGate
from .routes import dashboard_routes

__all__ = ["AdminGate", "create_ui_app", "dashboard_routes"]


def create_ui_app(settings: Settings, where: LogLocation | Path) -> Starlette:
    """The dashboard alone, on the log at ``where``: ``stopwise ui``."""
    return Starlette(routes=dashboard_routes(settings, where))
