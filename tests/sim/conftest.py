"""A real simulator on 127.0.0.1 for the whole session, and SDK clients pointed at it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import anthropic
import openai
import pytest
import uvicorn

from stopwise.sim import SimConfig, create_app, quiet_dropped_connections

#: Faults configured per model for the whole session (tested in test_faults.py).
SESSION_CONFIG = SimConfig(model_faults={"claude-opus-4-1": "529,should-retry:false"})


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    quiet_dropped_connections()
    config = uvicorn.Config(
        create_app(SESSION_CONFIG), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the simulator did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(5)


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
