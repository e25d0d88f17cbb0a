"""``stopwise serve``: options, refusals and bad settings, without starting a server."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from stopwise.cli import main


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--config",
        "--anthropic-base-url",
        "--openai-base-url",
        "--allow-unauthenticated",
    ):
        assert option in result.output


def test_non_loopback_without_client_keys_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "empty.toml"
    config.write_text("")
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--config", str(config)])
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0" in result.output and "--allow-unauthenticated" in result.output
    result = CliRunner().invoke(
        main, ["serve", "--config", str(config)], env={"STOPWISE_HOST": "10.1.2.3", "STOPWISE_CONFIG": None}
    )
    assert result.exit_code == 1 and "refusing to listen on 10.1.2.3" in result.output


def test_bad_settings_are_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("prot = 8787\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert result.exit_code == 1 and "unknown settings: prot" in result.output
