"""A real simulator on 127.0.0.1 for the whole session; the finisher's tests drive it through the
official SDKs with stopwise's transports. pytest runs with ``--import-mode=importlib``, which puts
no test folder on ``sys.path``; the tests here share ``_finish.py``, so put this folder there."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from _finish import running_sim  # noqa: E402


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    with running_sim() as url:
        yield url
