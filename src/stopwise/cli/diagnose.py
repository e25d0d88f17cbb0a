"""``stopwise diagnose [FILES...]``: explain a pasted LLM API failure log, offline."""

from __future__ import annotations

import sys

import click
import orjson
from rich.console import Console

from ..diagnose import LANGS, diagnose, render
from ..diagnose.llm import LLMError, ask, build_prompt, config_from_env

__all__ = ["diagnose_cmd"]


def _read(files: tuple[str, ...]) -> bytes:
    if not files:
        return sys.stdin.buffer.read()
    parts: list[bytes] = []
    for name in files:
        if name == "-":
            parts.append(sys.stdin.buffer.read())
        else:
            with open(name, "rb") as fh:
                parts.append(fh.read())
    return b"\n".join(parts)


@click.command("diagnose")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the report.")
@click.option(
    "--lang",
    type=click.Choice(sorted(LANGS)),
    default="en",
    show_default=True,
    envvar="STOPWISE_LANG",
    help="Language of the report's prose (facts and categories stay as they are).",
)
@click.option(
    "--llm",
    "llm_model",
    metavar="MODEL",
    default=None,
    help="Also ask MODEL to explain the log (needs ANTHROPIC_API_KEY, or OPENAI_API_KEY for gpt-*); "
    "printed beside the offline report, marked as model-generated.",
)
def diagnose_cmd(files: tuple[str, ...], as_json: bool, lang: str, llm_model: str | None) -> None:
    """Explain an LLM API failure log (SSE, JSON bodies, tracebacks, proxy logs) from FILES or stdin."""
    raw = _read(files)
    result = diagnose(raw, lang)
    if llm_model:
        try:
            config = config_from_env(llm_model)
            system, user = build_prompt(raw.decode("utf-8", "replace"), result.to_dict(), lang)
            result.llm = ask(config, system, user)
        except LLMError as exc:
            # The offline report stands on its own: show why the model was not asked, go on.
            result.llm = {"model": llm_model, "error": str(exc), "text": f"(not available: {exc})"}
    if as_json:
        click.echo(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        render(result, Console(soft_wrap=False))
