"""What the gateway tests share: a recorder on the simulator, servers on 127.0.0.1, and a
handle on a running gateway.

The simulator is wrapped in :class:`Recorder`, an ASGI middleware that notes for each request
the headers the gateway sent upstream and whether the gateway hung up before the body ended:
what the gateway did is checked from the other side of the wire, not from its own account.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anthropic
import openai
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stopwise.finisher import Policy, RetryPolicy
from stopwise.gateway import Settings
from stopwise.gateway.app import Gateway
from stopwise.sim import serve_in_thread

#: Many rounds for small caps; retries with (almost) no waiting.
POLICY = Policy(max_rounds=400, retry=RetryPolicy(initial_delay=0.001, max_delay=0.01))


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    finished: bool = False  # the whole body was sent
    disconnected: bool = False  # the gateway hung up before that


class Recorder:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[Seen] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rec = Seen(scope["path"], {k.decode(): v.decode() for k, v in scope["headers"]})
        self.seen.append(rec)

        async def recv() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and not rec.finished:
                rec.disconnected = True
            return message

        async def snd(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                rec.finished = True
            await send(message)

        await self.app(scope, recv, snd)


def serve(
    app: ASGIApp, *, lifespan: Literal["auto", "on", "off"] = "on"
) -> contextlib.AbstractContextManager[str]:
    return serve_in_thread(app, lifespan=lifespan)


@dataclass
class Running:
    url: str
    gateway: Gateway
    settings: Settings
    clients: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for client in self.clients:
            client.close()

    @property
    def log_path(self) -> Path:
        return self.settings.log_path

    def rows(self) -> list[dict[str, Any]]:
        """The request log's rows, oldest first, once everything submitted is written."""
        import sqlite3

        self.gateway.log.flush()
        db = sqlite3.connect(self.log_path)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute("SELECT * FROM requests ORDER BY id")]
        finally:
            db.close()

    def wait_rows(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows()
            if len(rows) >= n or time.monotonic() > deadline:
                return rows
            time.sleep(0.01)

    def anthropic(self, **kwargs: Any) -> anthropic.Anthropic:
        kwargs.setdefault("api_key", "x")
        client = anthropic.Anthropic(base_url=self.url, max_retries=0, **kwargs)
        self.clients.append(client)
        return client

    def openai(self, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("api_key", "x")
        client = openai.OpenAI(base_url=f"{self.url}/v1", max_retries=0, **kwargs)
        self.clients.append(client)
        return client


GatewayFactory = Callable[..., contextlib.AbstractContextManager[Running]]
