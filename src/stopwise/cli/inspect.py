"""``stopwise inspect FILE|-``: what a raw capture really says."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..dialects import parse_capture
from ..errors import ProtocolError, SSEError
from ..outcome import Outcome, State

_STATE_STYLE = {
    State.COMPLETE: "green",
    State.TRUNCATED: "yellow",
    State.PAUSED: "cyan",
    State.INTERRUPTED: "red",
    State.FAILED: "bold red",
}


@click.command("inspect")
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a report.")
@click.option("--max-tokens", type=int, default=None, help="The request's max_tokens, to spot a hit cap.")
def inspect_cmd(source: Any, as_json: bool, max_tokens: int | None) -> None:
    """Read a raw SSE capture or a JSON response body (Anthropic Messages, OpenAI Chat
    Completions or Responses) and print the reconstructed message, its stop reason (raw and
    normalized), state and usage."""
    raw = source.read()
    try:
        outcome = parse_capture(raw, max_tokens=max_tokens)
    except (ProtocolError, SSEError) as exc:  # SSEError: an event past the decoder's size bound
        raise click.ClickException(str(exc)) from exc
    if as_json:
        sys.stdout.write(orjson.dumps(outcome.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    _report(outcome, Console())


def _report(outcome: Outcome, console: Console) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("dialect", outcome.dialect)
    table.add_row("state", Text(outcome.state.value, style=_STATE_STYLE[outcome.state]))
    table.add_row("stop reason", f"{outcome.stop.raw!r} -> {outcome.stop.normalized.value}")
    table.add_row("model", str(outcome.model))
    table.add_row("id", str(outcome.id))
    u = outcome.usage
    usage = f"input {u.input_tokens}, output {u.output_tokens}"
    if u.cache_read_input_tokens or u.cache_creation_input_tokens:
        usage += f", cache read {u.cache_read_input_tokens}, cache write {u.cache_creation_input_tokens}"
    if u.reasoning_tokens:
        usage += f", reasoning {u.reasoning_tokens}"
    if u.estimated:
        usage += f" (estimated: {', '.join(sorted(u.estimated))})"
    table.add_row("usage", usage)
    for why in outcome.reasons:
        table.add_row("why", why)
    for sign in outcome.relay:
        table.add_row("relay", sign)
    for kind, count in outcome.anomalies.items():
        table.add_row("skipped", f"{kind} x{count}")
    if outcome.error is not None:
        table.add_row("error", Text(str(outcome.error), style="red"))
    console.print(table)
    for i, block in enumerate(outcome.content):
        kind = block.get("type", "?")
        console.rule(f"[bold]block {i}: {kind}")
        if kind == "text":
            console.print(Text(block.get("text", "")))
        elif kind == "thinking":
            console.print(Text(block.get("thinking", ""), style="dim"))
        else:
            body = {k: v for k, v in block.items() if k != "type"}
            console.print(Text(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()))
    if len(outcome.choices) > 1:
        for choice in outcome.choices[1:]:
            console.rule(f"[bold]choice {choice.message.get('index')}: {choice.state.value}")
            console.print(Text(choice.text))
