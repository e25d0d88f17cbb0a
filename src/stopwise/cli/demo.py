"""``stopwise demo``: the main job, on the built-in simulator (or the real APIs with ``--live``).

With each official SDK, the same request twice: plainly, where it comes back cut at
``max_tokens``, and through ``stopwise.http_client()``, where it comes back whole; streaming and
not. Then what stopwise makes of the relay-truncated stream this project started from.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from ..diagnose import diagnose, render

# The log lines of the report this project started from (shared/examples/relay-truncation-report.txt),
# as the developer pasted them: a relay in front of Claude, cut at 8192 tokens in the middle of a
# SQL statement, with Claude's raw "max_tokens" inside OpenAI chunks.
SEED_LOG = "\n".join(
    [
        'Line 1467: \'data: {"id":"msg_014i21AGDwm3iv3dnkPFXeSd","object":"chat.completion.chunk",'
        '"created":1757509223,"model":"claude-opus-4-20250514","system_fingerprint":null,'
        '"choices":[{"delta":{"content":",\\\\n SUM("},"logprobs":null,"finish_reason":null,'
        '"index":0}],"usage":null}\'',
        'Line 1469: \'data: {"id":"msg_014i21AGDwm3iv3dnkPFXeSd","object":"chat.completion.chunk",'
        '"created":1757509223,"model":"claude-opus-4-20250514","system_fingerprint":null,'
        '"choices":[{"delta":{},"logprobs":null,"finish_reason":"max_tokens","index":0}],'
        '"usage":null}\'',
        'Line 1471: \'data: {"id":"msg_014i21AGDwm3iv3dnkPFXeSd","object":"chat.completion.chunk",'
        '"created":1757509223,"model":"claude-opus-4-20250514","system_fingerprint":null,'
        '"choices":[],"usage":{"prompt_tokens":25185,"completion_tokens":8192,'
        '"total_tokens":33377}}\'',
        "Line 1473: 'data: [DONE]'",
    ]
)


@dataclass
class _Row:
    sdk: str
    model: str
    mode: str
    plain_stop: str | None
    plain_chars: int
    stop: str | None
    chars: int
    rounds: str
    exact: bool | None


def _anthropic_rows(base_url: str | None, api_key: str, model: str, expected: str | None) -> list[_Row]:
    import anthropic

    from ..transport import http_client

    prompt = [{"role": "user", "content": "Write code please: a long markdown guide with code blocks."}]
    plain = anthropic.Anthropic(base_url=base_url, api_key=api_key, max_retries=0)
    finished = anthropic.Anthropic(
        base_url=base_url, api_key=api_key, max_retries=0, http_client=http_client()
    )
    rows = []
    for mode in ("create", "stream"):
        kwargs: dict[str, Any] = {"model": model, "max_tokens": 1500, "messages": prompt}
        if mode == "create":
            p = plain.messages.create(**kwargs)
            raw = finished.messages.with_raw_response.create(**kwargs)
            f = raw.parse()
            rounds = raw.headers.get("x-stopwise-rounds", "?")
        else:
            with plain.messages.stream(**kwargs) as s:
                p = s.get_final_message()
            with finished.messages.stream(**kwargs) as s:
                f = s.get_final_message()
            rounds = "stream"
        text = "".join(b.text for b in f.content if b.type == "text")
        ptext = "".join(b.text for b in p.content if b.type == "text")
        exact = None if expected is None else text == expected
        rows.append(
            _Row("anthropic", model, mode, p.stop_reason, len(ptext), f.stop_reason, len(text), rounds, exact)
        )
    return rows


def _openai_rows(base_url: str | None, api_key: str, model: str, expected: str | None) -> list[_Row]:
    import openai

    from ..transport import http_client

    prompt: list[Any] = [{"role": "user", "content": "Write json please: one large JSON document."}]
    plain = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    finished = openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, http_client=http_client())
    rows = []
    for mode in ("create", "stream"):
        kwargs: dict[str, Any] = {"model": model, "max_tokens": 1500, "messages": prompt}
        if mode == "create":
            p = plain.chat.completions.create(**kwargs)
            raw = finished.chat.completions.with_raw_response.create(**kwargs)
            f = raw.parse()
            ptext, text = p.choices[0].message.content or "", f.choices[0].message.content or ""
            pstop, stop = p.choices[0].finish_reason, f.choices[0].finish_reason
            rounds = raw.headers.get("x-stopwise-rounds", "?")
        else:
            ptext, pstop = _collect(plain.chat.completions.create(stream=True, **kwargs))
            text, stop = _collect(finished.chat.completions.create(stream=True, **kwargs))
            rounds = "stream"
        exact = None if expected is None else text == expected
        rows.append(_Row("openai", model, mode, pstop, len(ptext), stop, len(text), rounds, exact))
    return rows


def _collect(stream: Any) -> tuple[str, str | None]:
    parts: list[str] = []
    reason = None
    for chunk in stream:
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            reason = choice.finish_reason or reason
    return "".join(parts), reason


def _table(rows: list[_Row], *, live: bool) -> Table:
    table = Table(title="The same request: plain SDK, then through stopwise.http_client()")
    for name in ("SDK / model", "call", "plain SDK", "stopwise", "rounds"):
        table.add_column(name)
    if not live:
        table.add_column("whole")
    for r in rows:
        cells = [
            f"{r.sdk} {r.model}",
            r.mode,
            f"{r.plain_stop}, {r.plain_chars} chars",
            f"{r.stop}, {r.chars} chars",
            r.rounds,
        ]
        if not live:
            cells.append("[green]yes[/]" if r.exact else "[red]NO[/]")
        table.add_row(*cells)
    return table


def _require_sdks() -> None:
    missing = [name for name in ("anthropic", "openai") if importlib.util.find_spec(name) is None]
    if missing:
        raise click.ClickException(
            f"the demo drives the official SDKs; install them first: pip install {' '.join(missing)}"
        )


@click.command("demo")
@click.option("--live", is_flag=True, help="Use the real APIs (ANTHROPIC_API_KEY / OPENAI_API_KEY) instead.")
def demo_cmd(live: bool) -> None:
    """Show truncated answers finished through the official SDKs, then explain the seed report."""
    _require_sdks()
    warnings.simplefilter("ignore", DeprecationWarning)  # the SDKs warn about model names
    console = Console()
    console.rule("[bold]1. Truncated answers, finished")
    rows: list[_Row] = []
    log: Path | None = None
    if live:
        runs: list[Callable[[], list[_Row]]] = []
        akey, okey = os.environ.get("ANTHROPIC_API_KEY"), os.environ.get("OPENAI_API_KEY")
        if akey:
            runs.append(lambda: _anthropic_rows(None, akey, "claude-sonnet-4-5", None))
        if okey:
            runs.append(lambda: _openai_rows(None, okey, "gpt-4o", None))
        if not runs:
            raise click.ClickException("--live needs ANTHROPIC_API_KEY and/or OPENAI_API_KEY")
        for run in runs:
            rows += run()
    else:
        from ..sim import full_document, running

        with running() as url:
            console.print(
                f"stopwise sim on {url}: a deterministic model, so 'complete' can be checked exactly.\n"
            )
            rows += _anthropic_rows(url, "sim-key", "claude-sonnet-4-5", full_document("code"))
            rows += _anthropic_rows(url, "sim-key", "claude-opus-4-6", full_document("code"))
            rows += _openai_rows(f"{url}/v1", "sim-key", "gpt-4o", full_document("json"))
            from ._demo_log import demo_log

            log = demo_log(url)
    console.print(_table(rows, live=live))
    console.print(
        "claude-sonnet-4-5 accepts prefill, so it is continued from the exact prefix; claude-opus-4-6 and "
        "gpt-4o do not, so a continue turn is sent and the seam repaired.\n"
    )
    console.rule("[bold]2. The report this project started from, diagnosed offline")
    console.print("The pasted log lines:\n")
    console.print(SEED_LOG, markup=False, highlight=False)
    render(diagnose(SEED_LOG), console)
    if log is not None:
        console.print(
            f"\nThe same requests went through a gateway too; see them on the dashboard:\n"
            f"  stopwise ui {log}    then open http://127.0.0.1:8788/ui",
            markup=False,
            highlight=False,
            soft_wrap=True,  # a wrapped path or URL cannot be pasted
        )
    else:
        console.print(
            "\nDashboard: run `stopwise serve` and open http://127.0.0.1:8787/ui.",
            markup=False,
            highlight=False,
        )
