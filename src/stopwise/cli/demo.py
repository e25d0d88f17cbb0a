"""``stopwise demo``: the main job on built-in material, no API key needed."""

from __future__ import annotations

import click
from rich.console import Console

from ..dialects import parse_capture
from .inspect import _report

# The tail of the stream in the report this project started from
# (shared/examples/relay-truncation-report.txt): a relay in front of Claude, cut at 8192 tokens
# in the middle of a SQL statement, with Claude's raw "max_tokens" inside OpenAI chunks.
SEED_STREAM = (
    b'data: {"id":"msg_014i21AGDwm3iv3dnkPFXeSd","object":"chat.completion.chunk","created":1757509223,'
    b'"model":"claude-opus-4-20250514","system_fingerprint":null,"choices":[{"delta":{"content":",\\n SUM("},'
    b'"logprobs":null,"finish_reason":null,"index":0}],"usage":null}\n\n'
    b'data: {"id":"msg_014i21AGDwm3iv3dnkPFXeSd","object":"chat.completion.chunk","created":1757509223,'
    b'"model":"claude-opus-4-20250514","system_fingerprint":null,"choices":[{"delta":{},"logprobs":null,'
    b'"finish_reason":"max_tokens","index":0}],"usage":null}\n\n'
    b'data: {"id":"msg_014i21AGDwm3iv3dnkPFXeSd","object":"chat.completion.chunk","created":1757509223,'
    b'"model":"claude-opus-4-20250514","system_fingerprint":null,"choices":[],"usage":{"prompt_tokens":25185,'
    b'"completion_tokens":8192,"total_tokens":33377}}\n\n'
    b"data: [DONE]\n\n"
)


@click.command("demo")
def demo_cmd() -> None:
    """Show what stopwise makes of the relay-truncated stream this project started from."""
    console = Console()
    console.rule("[bold]The seed report's stream, as stopwise reads it")
    console.print("An OpenAI client checking only for finish_reason == 'length' sees nothing wrong here.\n")
    _report(parse_capture(SEED_STREAM), console)
