"""``stopwise ui``: the dashboard on a request log file, without serving traffic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ..gateway.logstore import LogLocation

__all__ = ["ui_cmd"]


@click.command("ui")
@click.argument("log_file", required=False, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--log-url", default=None, help="The log as a URL instead: postgresql://… or sqlite:///path.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8788, show_default=True, type=int, help="Port to bind.")
@click.option("--log-level", default="warning", show_default=True, help="uvicorn log level.")
def ui_cmd(log_file: Path | None, log_url: str | None, host: str, port: int, log_level: str) -> None:
    """Browse LOG_FILE (a `stopwise serve` request log) at http://HOST:PORT/ui; or, with
    --log-url, a log in PostgreSQL (the one gateway replicas share).

    Beyond loopback the dashboard needs an admin key: STOPWISE_ADMIN_KEY (or admin_key in the
    config file), sent as x-stopwise-admin-key or Authorization: Bearer.
    """
    import uvicorn

    from ..gateway import ConfigError, load_settings
    from ..gateway.auth import is_loopback
    from ..gateway.logstore import LogLocation
    from ..gateway.ui import create_ui_app

    try:
        settings = load_settings({"host": host, "port": port}, os.environ)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if not is_loopback(host) and settings.admin_key is None:
        raise click.ClickException(
            f"refusing to show the log on {host} without an admin key: set STOPWISE_ADMIN_KEY "
            "or listen on 127.0.0.1"
        )
    if (log_file is None) == (log_url is None):
        raise click.UsageError("give the log: LOG_FILE or --log-url (one of them)")
    where = LogLocation.sqlite(log_file) if log_file is not None else _parse(log_url or "")
    click.echo(f"stopwise ui: http://{host}:{port}/ui on {where}", err=True)
    uvicorn.run(
        create_ui_app(settings, where), host=host, port=port, log_level=log_level, server_header=False
    )


def _parse(url: str) -> LogLocation:
    from ..gateway.logstore import parse_log_url

    try:
        return parse_log_url(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--log-url") from None
