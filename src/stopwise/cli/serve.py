"""``stopwise serve``: the finisher as a gateway (see docs/gateway.md)."""

from __future__ import annotations

import os
from pathlib import Path

import click

__all__ = ["serve_cmd"]


@click.command("serve")
@click.option("--host", default=None, help="Interface to bind.  [default: 127.0.0.1; env STOPWISE_HOST]")
@click.option("--port", default=None, type=int, help="Port to bind.  [default: 8787; env STOPWISE_PORT]")
@click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config file.  [env STOPWISE_CONFIG]",
)
@click.option(
    "--anthropic-base-url",
    default=None,
    help="Anthropic upstream, without /v1.  [default: https://api.anthropic.com]",
)
@click.option(
    "--openai-base-url",
    default=None,
    help="OpenAI-compatible upstream, with /v1.  [default: https://api.openai.com/v1]",
)
@click.option(
    "--log-path", default=None, type=click.Path(dir_okay=False, path_type=Path), help="Request log (SQLite)."
)
@click.option(
    "--log-url",
    default=None,
    help="Request log elsewhere: postgresql://… (shared by replicas; pip install 'stopwise[postgres]') "
    "or sqlite:///path.  [env STOPWISE_LOG_URL]",
)
@click.option("--replica", default=None, help="This gateway's name in a shared log.  [default: host:pid]")
@click.option(
    "--log-bodies/--no-log-bodies", default=None, help="Keep request and response bodies in the log."
)
@click.option("--max-body-bytes", default=None, type=int, help="Largest request body accepted (else 413).")
@click.option("--upstream-timeout", default=None, type=float, help="Seconds to wait on the upstream.")
@click.option(
    "--shutdown-timeout",
    default=None,
    type=float,
    help="Seconds open requests get after SIGTERM before they are ended.  [default: 30]",
)
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    default=None,
    help="Listen on a non-loopback address without client keys.",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn log level.")
def serve_cmd(
    host: str | None,
    port: int | None,
    config_path: Path | None,
    anthropic_base_url: str | None,
    openai_base_url: str | None,
    log_path: Path | None,
    log_url: str | None,
    replica: str | None,
    log_bodies: bool | None,
    max_body_bytes: int | None,
    upstream_timeout: float | None,
    shutdown_timeout: float | None,
    allow_unauthenticated: bool | None,
    log_level: str,
) -> None:
    """Serve the finisher to any client: point ANTHROPIC_BASE_URL at http://HOST:PORT and
    OPENAI_BASE_URL at http://HOST:PORT/v1.

    Settings come from these flags, then STOPWISE_* environment variables, then the config
    file, then the defaults.
    """
    from ..gateway import ConfigError, check_bind, create_app, load_settings, prepare_log
    from ..gateway.logstore import LogUnavailable

    flags = {
        "host": host,
        "port": port,
        "anthropic_base_url": anthropic_base_url,
        "openai_base_url": openai_base_url,
        "log_path": log_path,
        "log_url": log_url,
        "replica": replica,
        "log_bodies": log_bodies,
        "max_body_bytes": max_body_bytes,
        "upstream_timeout": upstream_timeout,
        "shutdown_timeout": shutdown_timeout,
        "allow_unauthenticated": allow_unauthenticated,
    }
    try:
        settings = load_settings(flags, os.environ, config_path=config_path)
        check_bind(settings)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None

    auth = "client keys" if settings.client_keys else "pass-through client keys"
    held = [d for d in ("anthropic", "openai") if settings.upstream_key(d)]
    click.echo(
        f"stopwise serve: http://{settings.host}:{settings.port}\n"
        f"  anthropic upstream {settings.anthropic_base_url}\n"
        f"  openai upstream    {settings.openai_base_url}\n"
        f"  auth: {auth}" + (f"; server-held keys for {', '.join(held)}" if held else "") + "\n"
        f"  request log {settings.log_location}"
        + (f" as replica {settings.replica}" if settings.log_url else "")
        + (" (with bodies)" if settings.log_bodies else ""),
        err=True,
    )
    try:
        prepare_log(settings)
    except LogUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    from ..gateway.server import run

    run(create_app(settings), log_level=log_level)
