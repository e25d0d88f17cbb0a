"""A real simulator on 127.0.0.1 for the whole session, and SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from stopwise.sim import SimConfig, running

#: Faults configured per model for the whole session (tested in test_faults.py).
SESSION_CONFIG = SimConfig(model_faults={"claude-opus-4-1": "529,should-retry:false"})


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    with running(SESSION_CONFIG) as url:
        yield url


@pytest.fixture
def claude(sim_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=sim_url, api_key="x", max_retries=0) as client:
        yield client


@pytest.fixture
def gpt(sim_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{sim_url}/v1", api_key="x", max_retries=0) as client:
        yield client


@pytest.fixture
def relay(sim_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{sim_url}/relay/v1", api_key="x", max_retries=0) as client:
        yield client
