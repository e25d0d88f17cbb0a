"""``stopwise ui``: the dashboard on a request log file, without serving traffic."""

from __future__ import annotations

import os
from pathlib import Path

import click

__all__ = ["ui_cmd"]


@click.command("ui")
@click.argument("log_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8788, show_default=True, type=int, help="Port to bind.")
@click.option("--log-level", default="warning", show_default=True, help="uvicorn log level.")
def ui_cmd(log_file: Path, host: str, port: int, log_level: str) -> None:
    """Browse LOG_FILE (a `stopwise serve` request log) at http://HOST:PORT/ui.

    Beyond loopback the dashboard needs an admin key: STOPWISE_ADMIN_KEY (or admin_key in the
    config file), sent as x-stopwise-admin-key or Authorization: Bearer.
    """
    import uvicorn

    from ..gateway import ConfigError, load_settings
    from ..gateway.auth import is_loopback
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
    click.echo(f"stopwise ui: http://{host}:{port}/ui on {log_file}", err=True)
    uvicorn.run(
        create_ui_app(settings, log_file), host=host, port=port, log_level=log_level, server_header=False
    )
