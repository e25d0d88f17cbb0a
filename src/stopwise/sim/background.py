"""Running an ASGI app (the simulator, or a gateway under test) on 127.0.0.1 in a background
thread: what the demo and every integration test need, written once."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import uvicorn

from .app import create_app, quiet_dropped_connections
from .config import SimConfig

__all__ = ["running", "serve_in_thread", "serving"]


@contextlib.contextmanager
def serving(server: uvicorn.Server, *, start_timeout: float = 10.0) -> Iterator[str]:
    """Run ``server`` (bound to 127.0.0.1, port 0 for a free one) in a thread for the duration
    of the block; yields its URL."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def serve_in_thread(
    app: Any, *, lifespan: Literal["auto", "on", "off"] = "off", start_timeout: float = 10.0
) -> contextlib.AbstractContextManager[str]:
    """Serve ``app`` on a free loopback port for the duration of the block; yields its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan)
    return serving(uvicorn.Server(config), start_timeout=start_timeout)


@contextlib.contextmanager
def running(config: SimConfig | None = None) -> Iterator[str]:
    """``stopwise sim`` in this process, for the duration of the block; yields its base URL."""
    quiet_dropped_connections()
    with serve_in_thread(create_app(config)) as url:
        yield url
