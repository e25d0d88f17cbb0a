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
@click.option("--log-level", default="info", show_default=True, help="uvicorn log level.")
def sim_cmd(host: str, port: int, model_faults: tuple[str, ...], log_level: str) -> None:
    """Serve a deterministic Anthropic Messages + OpenAI Chat Completions and Responses upstream.

    Point the SDKs at it: anthropic.Anthropic(base_url="http://HOST:PORT") and
    openai.OpenAI(base_url="http://HOST:PORT/v1"); any api key works.
    """
    import uvicorn

    from ..sim import SimConfig, create_app, quiet_dropped_connections

    faults: dict[str, str] = {}
    for item in model_faults:
        model, sep, spec = item.partition("=")
        if not sep or not model or not spec:
            raise click.BadParameter(f"expected MODEL=FAULTS, got {item!r}", param_hint="--model-fault")
        faults[model] = spec
    quiet_dropped_connections()
    uvicorn.run(create_app(SimConfig(model_faults=faults)), host=host, port=port, log_level=log_level)
