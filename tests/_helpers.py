"""What tests in more than one folder share: a free loopback port for a server run as a child
process, and a sample read from Prometheus text. The root ``conftest.py`` puts this folder on
``sys.path`` (pytest runs with ``--import-mode=importlib``, which puts none there)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port free now, for a child process to bind (an in-process server binds port
    0 instead: ``stopwise.sim.serving``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def metric(text: str, series: str) -> float:
    """The value of ``series`` (a name with its labels, as rendered) in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {series} in\n{text}")
