"""The ``stopwise`` command: one click group, one module per subcommand."""

from __future__ import annotations

import click

from .._version import __version__
from .demo import demo_cmd
from .diagnose import diagnose_cmd
from .inspect import inspect_cmd
from .logs import logs_cmd, stats_cmd
from .serve import serve_cmd
from .sim import sim_cmd
from .ui import ui_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="stopwise")
def main() -> None:
    """Complete, honest LLM API responses."""


for _command in (demo_cmd, inspect_cmd, diagnose_cmd, sim_cmd, serve_cmd, logs_cmd, stats_cmd, ui_cmd):
    main.add_command(_command)
