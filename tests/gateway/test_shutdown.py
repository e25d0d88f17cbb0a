"""SIGTERM with streams the upstream has stalled: the gateway waits ``shutdown_timeout``, then
ends each open request in its caller's dialect (an error event mid-stream, a 503 before the
answer), writes every row, and exits."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import anthropic
import openai
from _gateway import serve_process

from stopwise.gateway.drain import SHUTDOWN_CODE

STALL = {"x-sim-fault": "stall:60"}  # the simulator sends one event, then nothing for 60 s


def test_sigterm_ends_stalled_streams_with_an_error_event_and_writes_their_rows(
    sim_url: str, tmp_path: Path
) -> None:
    with serve_process(sim_url, tmp_path, STOPWISE_SHUTDOWN_TIMEOUT="1") as gw:
        outcomes: dict[str, Any] = {}
        ended: dict[str, float] = {}  # when each client got its error
        started = threading.Barrier(4)

        def claude_stream() -> None:
            with anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0) as claude:
                stream = claude.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=2000,
                    stream=True,
                    messages=[{"role": "user", "content": "prose"}],
                    extra_headers=STALL,
                )
                events = []
                try:
                    for event in stream:
                        events.append(event.type)
                        if len(events) == 1:
                            started.wait()
                except anthropic.APIError as exc:
                    outcomes["claude"] = (events, exc)
                    ended["claude"] = time.monotonic()

        def gpt_stream() -> None:
            with openai.OpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0) as gpt:
                stream = gpt.chat.completions.create(
                    model="gpt-4o",
                    max_tokens=2000,
                    stream=True,
                    messages=[{"role": "user", "content": "prose"}],
                    extra_headers=STALL,
                )
                chunks = 0
                try:
                    for _ in stream:
                        chunks += 1
                        if chunks == 1:
                            started.wait()
                except openai.APIError as exc:
                    outcomes["gpt"] = (chunks, exc)
                    ended["gpt"] = time.monotonic()

        def claude_whole() -> None:
            with anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0) as claude:
                started.wait()
                try:
                    claude.messages.create(
                        model="claude-haiku-4-5",
                        max_tokens=200,
                        messages=[{"role": "user", "content": "prose"}],
                        extra_headers={"x-sim-fault": "stall:60"},
                    )
                except anthropic.APIStatusError as exc:
                    outcomes["whole"] = exc
                    ended["whole"] = time.monotonic()

        threads = [threading.Thread(target=f) for f in (claude_stream, gpt_stream, claude_whole)]
        for t in threads:
            t.start()
        started.wait(timeout=10)
        # The non-stream request is sent after the barrier: let it reach the upstream.
        deadline = time.monotonic() + 5
        while gw.metric("stopwise_requests_in_flight") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        sent = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(timeout=20)
        # uvicorn re-raises the signal once it has shut down, so the exit is a SIGTERM one.
        assert gw.proc.wait(timeout=20) in (0, -signal.SIGTERM)

    # Each request was given the shutdown timeout (1 s) and ended by the shutdown (its typed
    # error), not by the stall's end 60 s on.
    assert sorted(ended) == ["claude", "gpt", "whole"]
    assert all(at - sent >= 1.0 for at in ended.values()), {k: at - sent for k, at in ended.items()}
    events, err = outcomes["claude"]
    assert events[0] == "message_start" and isinstance(err, anthropic.APIStatusError)
    assert "shut down" in str(err)
    chunks, gpt_err = outcomes["gpt"]
    assert chunks >= 1 and "shut down" in str(gpt_err)
    assert isinstance(outcomes["whole"], anthropic.InternalServerError)
    assert outcomes["whole"].status_code == 503

    rows = gw.rows()
    assert len(rows) == 3
    assert {r["error_type"] for r in rows} == {SHUTDOWN_CODE}
    assert sorted(r["status"] for r in rows) == [200, 200, 503]
    assert all(r["cancelled"] == 0 for r in rows)  # the gateway ended them; no client left


def test_sigterm_with_nothing_open_exits_at_once(sim_url: str, tmp_path: Path) -> None:
    with serve_process(sim_url, tmp_path, STOPWISE_SHUTDOWN_TIMEOUT="3600") as gw:
        with anthropic.Anthropic(base_url=gw.url, api_key="x", max_retries=0) as claude:
            claude.messages.create(
                model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
            )
        gw.proc.send_signal(signal.SIGTERM)
        # With nothing open it exits without waiting out the hour (the wait is only the
        # test's guard against a hang, 60 s).
        assert gw.proc.wait(timeout=60) in (0, -signal.SIGTERM)
    assert [r["status"] for r in gw.rows()] == [200]
