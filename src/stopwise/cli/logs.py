"""``stopwise logs`` and ``stopwise stats``: the gateway's request log, read back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from ..gateway.logstore import LogLocation

__all__ = ["logs_cmd", "resolve_log", "stats_cmd"]

_path_option = click.option(
    "--path",
    "log_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Request log.  [default: as `stopwise serve` would use: STOPWISE_LOG_PATH, config, data dir]",
)
_url_option = click.option(
    "--log-url",
    default=None,
    help="Request log as a URL: postgresql://… or sqlite:///path.  [default: STOPWISE_LOG_URL, config]",
)
_config_option = click.option(
    "--config",
    "config_path",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML config file.",
)


def resolve_log(log_path: Path | None, log_url: str | None, config_path: Path | None) -> LogLocation:
    """The log `stopwise serve` would write with the same flags, environment and config (a
    path given here wins over a URL from the environment or config)."""
    from ..gateway import ConfigError, load_settings
    from ..gateway.logstore import LogLocation

    try:
        settings = load_settings(
            {"log_path": log_path, "log_url": log_url}, os.environ, config_path=config_path
        )
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if log_path is not None and log_url is None:
        return LogLocation.sqlite(settings.log_path)
    return settings.log_location


def _dump(obj: Any) -> None:
    click.echo(orjson.dumps(obj, option=orjson.OPT_INDENT_2).decode())


def _runs(reasons: list[str | None]) -> str:
    """Raw stop reasons with repeats folded: ``max_tokens×7,end_turn``."""
    out: list[tuple[str, int]] = []
    for reason in reasons:
        name = reason or "none"
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1] + 1)
        else:
            out.append((name, 1))
    return ",".join(name if n == 1 else f"{name}×{n}" for name, n in out)


@click.command("logs")
@click.option("-n", "--limit", default=20, show_default=True, help="How many rows, newest first.")
@click.option("--model", default=None, help="Only this model.")
@click.option(
    "--state", default=None, help="Only this final state (complete, truncated, interrupted, failed…)."
)
@click.option("--stop-reason", default=None, help="Only this final stop reason, raw or normalized.")
@click.option("--replica", default=None, help="Only the rows this gateway of a shared log wrote.")
@click.option("--bodies", is_flag=True, help="Include logged bodies (--json only).")
@click.option("--json", "as_json", is_flag=True, help="One JSON array.")
@_path_option
@_url_option
@_config_option
def logs_cmd(
    limit: int,
    model: str | None,
    state: str | None,
    stop_reason: str | None,
    replica: str | None,
    bodies: bool,
    as_json: bool,
    log_path: Path | None,
    log_url: str | None,
    config_path: Path | None,
) -> None:
    """Recent requests through `stopwise serve`."""
    from ..gateway.query import LogNotFound, LogUnavailable, recent

    where = resolve_log(log_path, log_url, config_path)
    try:
        rows = recent(
            where,
            limit=limit,
            model=model,
            state=state,
            stop_reason=stop_reason,
            replica=replica,
            with_bodies=bodies,
        )
    except (LogNotFound, LogUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _dump(rows)
        return
    table = Table(box=None, pad_edge=False)
    # Which gateway wrote each row, when more than one wrote these (a shared log).
    shared = len({r.get("replica") for r in rows} - {None}) > 1
    for name in (
        *(("replica",) if shared else ()),
        "time",
        "route",
        "model",
        "st",
        "status",
        "rounds",
        "stop reasons",
        "outcome",
        "out tok",
        "ms",
        "error",
    ):
        table.add_column(name, overflow="fold")
    for r in reversed(rows):
        shown = _runs(r["stop_reasons"] or [])
        table.add_row(
            *((r.get("replica") or "",) if shared else ()),
            r["time"][:19].replace("T", " "),
            r["route"],
            r["model"] or "",
            "S" if r["stream"] else "",
            str(r["status"]),
            "" if r["rounds"] is None else str(r["rounds"]),
            shown,
            r["outcome"],
            "" if r["output_tokens"] is None else str(r["output_tokens"]),
            "" if r["latency_ms"] is None else f"{r['latency_ms']:.0f}",
            r["error_type"] or "",
        )
    Console(width=160).print(table)


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@_path_option
@_url_option
@_config_option
def stats_cmd(as_json: bool, log_path: Path | None, log_url: str | None, config_path: Path | None) -> None:
    """Stop reasons, truncations rescued, rounds, tokens by model and error rates."""
    from ..gateway.query import LogNotFound, LogUnavailable, stats

    where = resolve_log(log_path, log_url, config_path)
    try:
        s = stats(where)
    except (LogNotFound, LogUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        _dump(s)
        return
    out = Console(width=120)
    rounds = s["rounds"]
    errors = s["errors"]
    out.print(
        f"{s['requests']} requests, {s['finisher_requests']} through the finisher; "
        f"{s['truncations_rescued']} truncations rescued, {s['truncated_returned']} returned truncated; "
        f"rounds {rounds['total']} (mean {rounds['mean']}, max {rounds['max']}); retries {s['retries']}"
    )
    out.print(
        "outcomes: "
        + ", ".join(f"{name} {n}" for name, n in sorted(s["outcomes"].items(), key=lambda x: -x[1]))
    )
    # One line however many error types follow (the terminal wraps it): a pair is never split.
    out.print(
        f"errors: {errors['failed'] + errors['cut']} ({errors['rate']:.1%}): failed {errors['failed']}, "
        f"cut {errors['cut']}; abandoned by the client {s['abandoned']}, "
        f"ended by the gateway {s['ended_by_gateway']}"
        + "".join(f"; {k} {v}" for k, v in errors["by_type"].items()),
        soft_wrap=True,
    )
    reasons = Table("stop reason", "final", "per round", box=None, title="stop reasons", title_justify="left")
    names = list(dict.fromkeys([*s["stop_reasons"]["final"], *s["stop_reasons"]["per_round"]]))
    for name in names:
        reasons.add_row(
            name,
            str(s["stop_reasons"]["final"].get(name, 0)),
            str(s["stop_reasons"]["per_round"].get(name, 0)),
        )
    out.print(reasons)
    tokens = Table(
        "model",
        "requests",
        "input",
        "output",
        "cache read",
        "error rate",
        box=None,
        title="tokens",
        title_justify="left",
    )
    rates = {m["model"]: m["rate"] for m in s["errors_by_model"]}
    for t in s["tokens_by_model"]:
        tokens.add_row(
            t["model"],
            str(t["requests"]),
            str(t["input_tokens"]),
            str(t["output_tokens"]),
            str(t["cache_read_input_tokens"]),
            f"{rates.get(t['model'], 0.0):.1%}",
        )
    out.print(tokens)
    if len(s["replicas"]) > 1:
        out.print("replicas: " + ", ".join(f"{name} {n}" for name, n in s["replicas"].items()))
