"""``stopwise sim``: run the local Anthropic + OpenAI simulator (see docs/sim.md)."""

from __future__ import annotations

import click


@click.command("sim")
@click.option(
    "--host", default="127.0.0.1", show_default=True, envvar="STOPWISE_SIM_HOST", help="Interface to bind."
)
@click.option(
    "--port", default=8765, show_default=True, type=int, envvar="STOPWISE_SIM_PORT", help="Port to bind."
)
@click.option(
    "--model-fault",
    "model_faults",
    multiple=True,
    metavar="MODEL=FAULTS",
    help="Faults for every request to MODEL, in x-sim-fault syntax (repeatable), e.g. claude-haiku-4-5=529.",
)
@click.option(
    "--alias",
    "aliases",
    multiple=True,
    metavar="NAME=MODEL",
    help="Answer NAME as MODEL, as a relay's model list does (repeatable), e.g. team-claude=claude-opus-4-6.",
)
@click.option("--log-level", default="info", show_default=True, help="uvicorn log level.")
def sim_cmd(
    host: str, port: int, model_faults: tuple[str, ...], aliases: tuple[str, ...], log_level: str
) -> None:
    """Serve a deterministic Anthropic Messages + OpenAI Chat Completions and Responses upstream.

    Point the SDKs at it: anthropic.Anthropic(base_url="http://HOST:PORT") and
    openai.OpenAI(base_url="http://HOST:PORT/v1"); any api key works.
    """
    import uvicorn

    from ..sim import SimConfig, create_app, quiet_dropped_connections
    from ..sim.models import MODELS

    faults = _pairs(model_faults, "MODEL=FAULTS", "--model-fault")
    names = _pairs(aliases, "NAME=MODEL", "--alias")
    unknown = sorted(set(names.values()) - set(MODELS))
    if unknown:
        raise click.BadParameter(f"no such model: {', '.join(unknown)}", param_hint="--alias")
    quiet_dropped_connections()
    app = create_app(SimConfig(model_faults=faults, aliases=names))
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def _pairs(items: tuple[str, ...], shape: str, hint: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise click.BadParameter(f"expected {shape}, got {item!r}", param_hint=hint)
        out[key] = value
    return out
