"""A real simulator and real gateways on 127.0.0.1, driven by the official SDKs. pytest runs
with ``--import-mode=importlib``, which puts no test folder on ``sys.path``; the tests here share
``_gateway.py``, so put this folder there."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from _gateway import POLICY, GatewayFactory, Recorder, Running, serve_gateway  # noqa: E402
from _pg import PostgresServer, postgres_unavailable  # noqa: E402

from stopwise.gateway import Settings, create_app  # noqa: E402
from stopwise.sim import create_app as create_sim  # noqa: E402
from stopwise.sim import quiet_dropped_connections, serve_in_thread  # noqa: E402


@pytest.fixture(scope="session")
def recorder() -> Recorder:
    quiet_dropped_connections()
    return Recorder(create_sim())


@pytest.fixture(scope="session")
def sim_url(recorder: Recorder) -> Iterator[str]:
    with serve_in_thread(recorder) as url:
        yield url


@pytest.fixture
def gateway_factory(sim_url: str, tmp_path: Path) -> GatewayFactory:
    """``with gateway_factory(**settings) as gw:`` a gateway in front of the simulator."""
    counter = iter(range(1000))

    @contextlib.contextmanager
    def make(**overrides: Any) -> Iterator[Running]:
        base = Settings(
            anthropic_base_url=sim_url,
            openai_base_url=f"{sim_url}/v1",
            policy=POLICY,
            log_path=tmp_path / f"gateway-{next(counter)}.db",
        )
        settings = replace(base, **overrides)
        app = create_app(settings)
        with serve_gateway(app) as url:
            running = Running(url, app.state.gateway, settings)
            try:
                yield running
            finally:
                running.close()

    return make


@pytest.fixture
def gw(gateway_factory: GatewayFactory) -> Iterator[Running]:
    with gateway_factory() as running:
        yield running


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (``pg_url`` gives each test its own database).
    Skipped when the server binaries are missing, except in CI: CI installs them (`make test`),
    so missing there is a broken setup, not a reason to pass quietly."""
    reason = postgres_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI runs the PostgreSQL tests: {reason}", pytrace=False)
        pytest.skip(reason)
    with PostgresServer() as server:
        yield server


_databases = itertools.count()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database on the session's server, dropped after the test."""
    name = f"test_{os.getpid()}_{next(_databases)}"
    url = postgres.create_database(name)
    yield url
    # A test that stopped the server leaves it stopped; the next one needs it back.
    if not postgres.running:
        postgres.start()
    postgres.drop_database(name)
