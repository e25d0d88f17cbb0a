"""Settings: flag > env var > config file > default, for every layer; the config file's tables;
errors that say where the bad value came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from stopwise.gateway import ConfigError, Settings, load_settings
from stopwise.gateway.config import default_log_path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    s = load_settings({}, {"STOPWISE_CONFIG": str(write(tmp_path, ""))})
    assert (s.host, s.port) == ("127.0.0.1", 8787)
    assert s.anthropic_base_url == "https://api.anthropic.com"
    assert s.openai_base_url == "https://api.openai.com/v1"
    assert s.log_path == default_log_path() and s.log_path.name == "gateway.db"
    assert not s.log_bodies and not s.client_keys and s.anthropic_api_key is None
    assert s.policy == Settings().policy


def test_flag_beats_env_beats_file_beats_default(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'port = 1111\nhost = "127.0.0.2"\nopenai_base_url = "http://file/v1"\nlog_bodies = true\n'
    )
    env = {"STOPWISE_PORT": "2222", "STOPWISE_HOST": "127.0.0.3", "STOPWISE_CONFIG": str(path)}
    s = load_settings({"port": 3333, "host": None}, env)
    assert s.port == 3333  # flag
    assert s.host == "127.0.0.3"  # env (the flag was not given)
    assert s.openai_base_url == "http://file/v1"  # file
    assert s.log_bodies is True  # file
    assert s.anthropic_base_url == "https://api.anthropic.com"  # default
    assert s.config_path == path
    assert load_settings({}, {**env, "STOPWISE_LOG_BODIES": "0"}).log_bodies is False


def test_config_flag_beats_env(tmp_path: Path) -> None:
    a = write(tmp_path, "port = 1")
    b = tmp_path / "b.toml"
    b.write_text("port = 2")
    assert load_settings({}, {"STOPWISE_CONFIG": str(b)}, config_path=a).port == 1


def test_tables(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
client_keys = ["k1", "k2"]
anthropic_api_key = "sk-ant"
[policy]
max_rounds = 3
prefill = "never"
[policy.retry]
max_retries = 1
statuses = [429]
[[routes]]
model = "gpt-4o*"
base_url = "http://127.0.0.1:8000/v1/"
api_key = "local"
[[routes]]
model = "claude-*"
base_url = "http://127.0.0.1:8001"
""",
    )
    s = load_settings({}, {}, config_path=path)
    assert s.client_keys == ("k1", "k2") and s.anthropic_api_key == "sk-ant"
    assert s.policy.max_rounds == 3 and s.policy.prefill == "never"
    assert s.policy.retry.max_retries == 1 and s.policy.retry.statuses == frozenset({429})
    assert [(r.pattern, r.base_url, r.api_key) for r in s.routes] == [
        ("gpt-4o*", "http://127.0.0.1:8000/v1", "local"),
        ("claude-*", "http://127.0.0.1:8001", None),
    ]
    assert s.routes[0].matches("gpt-4o-mini") and not s.routes[0].matches("gpt-4.1")
    assert load_settings({}, {"STOPWISE_CLIENT_KEYS": "a, b"}, config_path=path).client_keys == ("a", "b")


@pytest.mark.parametrize(
    ("text", "flags", "env", "message"),
    [
        ("prot = 1", {}, {}, "unknown settings: prot"),
        ("port = 'x'", {}, {}, "gateway.toml: port"),
        ("", {}, {"STOPWISE_PORT": "99999"}, "STOPWISE_PORT: not a port"),
        ("", {"anthropic_base_url": "api.anthropic.com"}, {}, "--anthropic-base-url: not an http"),
        ("[policy]\nmax_rondz = 2", {}, {}, "unknown keys: max_rondz"),
        ("[policy]\nprefill = 'always'", {}, {}, "prefill must be"),
        ("[[routes]]\nmodel = 'x'", {}, {}, "model and base_url are required"),
        ("port = [", {}, {}, "gateway.toml"),
        ("", {"max_body_bytes": 0}, {}, "must be positive"),
    ],
)
def test_bad_values_name_their_source(
    tmp_path: Path, text: str, flags: dict[str, object], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(flags, env, config_path=write(tmp_path, text))


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, {}, config_path=tmp_path / "nope.toml")
