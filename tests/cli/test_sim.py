"""``stopwise sim`` as a real process on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import anthropic
from click.testing import CliRunner

from _helpers import free_port
from stopwise.cli import main


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(main, ["sim", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output and "--model-fault" in result.output


def test_bad_model_fault_option() -> None:
    result = CliRunner().invoke(main, ["sim", "--model-fault", "nonsense"])
    assert result.exit_code != 0 and "MODEL=FAULTS" in result.output


def test_serves_the_sdk() -> None:
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "from stopwise.cli import main; main()",
        "sim",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    cmd += ["--model-fault", "claude-opus-4-6=529"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "stopwise sim did not start"
                time.sleep(0.05)
        with anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="x", max_retries=0) as client:
            msg = client.messages.create(
                model="claude-haiku-4-5", max_tokens=3, messages=[{"role": "user", "content": "hi"}]
            )
            assert msg.stop_reason == "max_tokens"
            try:
                client.messages.create(
                    model="claude-opus-4-6", max_tokens=3, messages=[{"role": "user", "content": "hi"}]
                )
                raise AssertionError("the configured fault did not fire")
            except anthropic.OverloadedError:
                pass
    finally:
        proc.terminate()
        proc.wait(10)
