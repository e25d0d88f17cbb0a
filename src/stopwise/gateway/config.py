"""The gateway's settings: one object, built once and passed in.

Each value comes from the first of: a command-line flag, an environment variable
``STOPWISE_<NAME>``, the TOML config file, the default. The config file is ``--config``, else
``STOPWISE_CONFIG``, else ``<user config dir>/stopwise/gateway.toml`` when it exists::

    host = "127.0.0.1"
    port = 8787
    anthropic_base_url = "https://api.anthropic.com"     # as the Anthropic SDK takes it: no /v1
    openai_base_url = "https://api.openai.com/v1"        # as the OpenAI SDK takes it: with /v1
    max_body_bytes = 33554432
    header_timeout = 10.0           # request line and headers complete within this
    max_header_bytes = 32768
    max_headers = 100
    body_timeout = 60.0             # the whole body within this after the headers
    max_json_depth = 128
    log_max_string = 512            # longest string stored in a log column
    request_timeout = 1800.0        # a request's whole life, rounds and retries included
    upstream_timeout = 600.0        # connect aside: waiting for the upstream's answer to start
    upstream_idle_timeout = 300.0   # silence between two pieces of an upstream body
    log_path = "/var/lib/stopwise/gateway.db"
    log_url = "postgresql://stopwise@db/stopwise"  # instead of log_path: a log replicas share
    log_pool_size = 4               # PostgreSQL connections per gateway
    replica = "gw-1"                # this gateway's name in shared rows [default: host:pid]
    facts_ttl = 86400.0             # seconds a learned model fact (prefill, ceiling) holds
    facts_refresh = 5.0             # seconds between reads of what other replicas learned
    log_bodies = false
    log_queue_rows = 10000          # rows waiting for a busy disk before new ones are dropped
    shutdown_timeout = 30.0         # seconds streams get after SIGTERM before they are ended
    client_keys = ["sw-…"]          # clients must send one of these (x-api-key or Bearer)
    anthropic_api_key = "sk-ant-…"  # server-held upstream keys, replacing what clients send
    openai_api_key = "sk-…"
    forward_headers = ["x-my-option"]  # sent upstream with a server-held key, beyond the allowlist
    admin_key = "…"                 # opens the dashboard (/ui); required off loopback

    [policy]                        # stopwise.Policy fields
    max_rounds = 8
    [policy.retry]                  # stopwise.RetryPolicy fields
    max_retries = 4

    [[routes]]                      # per model: the first matching pattern wins
    model = "gpt-4o*"
    base_url = "http://127.0.0.1:8000/v1"
    api_key = "…"                   # optional server-held key for this upstream
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from ..finisher import Policy, RetryPolicy
from .logstore import LogLocation, parse_log_url

__all__ = [
    "ConfigError",
    "ModelRoute",
    "Settings",
    "default_log_path",
    "default_replica",
    "load_settings",
]

ENV_PREFIX = "STOPWISE_"


class ConfigError(ValueError):
    """A setting that cannot be used; the message names where it came from."""


def default_log_path() -> Path:
    return platformdirs.user_data_path("stopwise") / "gateway.db"


def default_replica() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def default_config_path() -> Path:
    return platformdirs.user_config_path("stopwise") / "gateway.toml"


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """Requests whose ``model`` matches ``pattern`` (fnmatch) go to ``base_url``, written the way
    the SDK of the incoming route takes it (Anthropic: no ``/v1``; OpenAI: with ``/v1``)."""

    pattern: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)

    def matches(self, model: str) -> bool:
        return fnmatch.fnmatchcase(model, self.pattern)


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8787
    anthropic_base_url: str = "https://api.anthropic.com"
    openai_base_url: str = "https://api.openai.com/v1"
    routes: tuple[ModelRoute, ...] = ()
    max_body_bytes: int = 32 * 1024 * 1024
    # The request head: complete within header_timeout of the connection (or the request's
    # first byte), at most max_header_bytes (request line included) in max_headers lines. The
    # SDKs send about 20 headers and 1 KB; nginx allows 32 KB by default, Apache 100 lines.
    header_timeout: float = 10.0
    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    # The whole body within body_timeout of the head: 32 MiB at 0.5 MB/s.
    body_timeout: float = 60.0
    # Deeper JSON is refused with a 400 (the APIs' own bodies nest a few dozen levels at most;
    # the finisher's serializer cannot write more than 254).
    max_json_depth: int = 128
    # Longest string from a client or upstream stored in a log column (model, error type,
    # request ids, stop reasons); bodies have their own 1 MiB cut.
    log_max_string: int = 512
    # A request's whole life, rounds and retries included; past it, a 504 or an error event.
    request_timeout: float = 1800.0
    upstream_timeout: float = 600.0
    # Longest silence between two pieces of an upstream body once it has started (a stream's
    # events; reasoning models can think for minutes between them).
    upstream_idle_timeout: float = 300.0
    connect_timeout: float = 10.0
    max_connections: int = 1000
    policy: Policy = field(default_factory=Policy)
    log_path: Path = field(default_factory=default_log_path)
    # A log elsewhere than log_path: postgresql://… (shared by replicas) or sqlite:///path.
    # Hidden from repr: it may hold the database's password.
    log_url: str | None = field(default=None, repr=False)
    log_pool_size: int = 4
    # This gateway's name in the rows and facts it writes to a shared log.
    replica: str = field(default_factory=default_replica)
    # What a 400 taught about a model (prefill rejected, an output ceiling) holds this long,
    # then the catalog's word is taken again; other replicas' lessons are read this often
    # (PostgreSQL also tells them at once, by NOTIFY).
    facts_ttl: float = 86400.0
    facts_refresh: float = 5.0
    log_bodies: bool = False
    # Rows that may wait for a busy or full disk before new ones are dropped (and counted):
    # about 10 minutes of a busy gateway's rows, a few MB of memory without bodies.
    log_queue_rows: int = 10_000
    # Seconds open requests get to end by themselves after SIGTERM; then streams end with an
    # error event, other requests with a 503, and every row is written.
    shutdown_timeout: float = 30.0
    allow_unauthenticated: bool = False
    # Secrets never appear in a repr (and so in no traceback or log line that prints settings).
    client_keys: tuple[str, ...] = field(default=(), repr=False)
    anthropic_api_key: str | None = field(default=None, repr=False)
    openai_api_key: str | None = field(default=None, repr=False)
    # Client request headers sent upstream with a server-held key beyond the built-in
    # allowlist (stopwise.gateway.headers), e.g. a self-hosted upstream's own options.
    forward_headers: tuple[str, ...] = ()
    # Opens the dashboard (/ui): required for it when the gateway listens beyond loopback, and
    # whenever it is set. Never a client key: what a client may send must not read the log.
    admin_key: str | None = field(default=None, repr=False)
    config_path: Path | None = None  # the file the settings were read from, if any

    @property
    def log_location(self) -> LogLocation:
        return parse_log_url(self.log_url) if self.log_url else LogLocation.sqlite(self.log_path)

    def base_url(self, dialect: str) -> str:
        return self.anthropic_base_url if dialect == "anthropic" else self.openai_base_url

    def upstream_key(self, dialect: str) -> str | None:
        return self.anthropic_api_key if dialect == "anthropic" else self.openai_api_key


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _keys(value: object) -> tuple[str, ...]:
    if isinstance(value, str):  # env var: comma-separated
        return tuple(k.strip() for k in value.split(",") if k.strip())
    if isinstance(value, list | tuple) and all(isinstance(k, str) for k in value):
        return tuple(value)
    raise ValueError("expected a list of strings")


def _url(value: object) -> str:
    text = str(value).strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {value!r}")
    if _URL_UNSAFE.search(text):
        # It becomes the Host header and the request line: no room for a line break.
        raise ValueError("a URL with whitespace or a control character in it")
    return text


def _str(value: object) -> str:
    return str(value)


def _log_url(value: object) -> str:
    text = str(value).strip()
    parse_log_url(text)  # ValueError names what is wrong, never the password
    return text


# What must never be inside a header value the gateway writes (RFC 9110 §5.5; h11 refuses
# the same): a CR or LF would end the header and start one of the sender's choosing.
_UNSAFE = re.compile("[\x00\r\n]")
_URL_UNSAFE = re.compile("[\x00-\x20\x7f]")
_TOKEN = re.compile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # a header name (RFC 9110 §5.6.2)


def _header_value(value: object) -> str:
    """A key that goes upstream in a header. Never echoed: the message names the problem,
    not the secret."""
    text = str(value)
    if _UNSAFE.search(text):
        raise ValueError("a CR, LF or NUL inside a value that is sent as a header")
    if text != text.strip():
        raise ValueError("leading or trailing whitespace in a value that is sent as a header")
    return text


def _header_values(value: object) -> tuple[str, ...]:
    return tuple(_header_value(k) for k in _keys(value))


def _header_names(value: object) -> tuple[str, ...]:
    names = _keys(value)
    for name in names:
        if not _TOKEN.match(name):
            raise ValueError(f"not a header name: {name!r}")
    return tuple(n.lower() for n in names)


def _positive_int(value: object) -> int:
    number = int(str(value)) if not isinstance(value, int) else value
    if number <= 0:
        raise ValueError(f"must be positive: {value!r}")
    return number


def _positive_float(value: object) -> float:
    number = float(str(value)) if not isinstance(value, int | float) else float(value)
    if number <= 0:
        raise ValueError(f"must be positive: {value!r}")
    return number


def _port(value: object) -> int:
    number = int(str(value)) if not isinstance(value, int) else value
    if not 0 <= number <= 65535:
        raise ValueError(f"not a port: {value!r}")
    return number


# The scalar settings, each with how to read it from a flag, env var or file value.
_SCALARS: dict[str, Callable[[object], Any]] = {
    "host": _str,
    "port": _port,
    "anthropic_base_url": _url,
    "openai_base_url": _url,
    "max_body_bytes": _positive_int,
    "header_timeout": _positive_float,
    "max_header_bytes": _positive_int,
    "max_headers": _positive_int,
    "body_timeout": _positive_float,
    "max_json_depth": _positive_int,
    "log_max_string": _positive_int,
    "request_timeout": _positive_float,
    "upstream_timeout": _positive_float,
    "upstream_idle_timeout": _positive_float,
    "connect_timeout": _positive_float,
    "max_connections": _positive_int,
    "log_path": lambda v: Path(str(v)).expanduser(),
    "log_url": _log_url,
    "log_pool_size": _positive_int,
    "replica": _str,
    "facts_ttl": _positive_float,
    "facts_refresh": _positive_float,
    "log_bodies": _bool,
    "log_queue_rows": _positive_int,
    "shutdown_timeout": _positive_float,
    "allow_unauthenticated": _bool,
    "client_keys": _header_values,
    "anthropic_api_key": _header_value,
    "openai_api_key": _header_value,
    "forward_headers": _header_names,
    "admin_key": _header_value,
}
_TABLES = ("policy", "routes")


def load_settings(
    flags: Mapping[str, object] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    config_path: Path | str | None = None,
) -> Settings:
    """Settings from ``flags`` (None means not given), then ``env`` (``os.environ`` when None),
    then the config file, then the defaults."""
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    path = _config_path(config_path, env)
    file = _read_toml(path) if path is not None else {}
    unknown = set(file) - set(_SCALARS) - set(_TABLES)
    if unknown:
        raise ConfigError(f"{path}: unknown settings: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, read in _SCALARS.items():
        env_name = ENV_PREFIX + name.upper()
        if name in flags:
            source, raw = f"--{name.replace('_', '-')}", flags[name]
        elif env_name in env:
            source, raw = env_name, env[env_name]
        elif name in file:
            source, raw = f"{path}: {name}", file[name]
        else:
            continue
        try:
            values[name] = read(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from None
    if "policy" in file:
        values["policy"] = _policy(file["policy"], path)
    if "routes" in file:
        values["routes"] = _routes(file["routes"], path)
    return Settings(**values, config_path=path)


def _config_path(given: Path | str | None, env: Mapping[str, str]) -> Path | None:
    if given is not None:
        return Path(given).expanduser()
    if env.get(ENV_PREFIX + "CONFIG"):
        return Path(env[ENV_PREFIX + "CONFIG"]).expanduser()
    default = default_config_path()
    return default if default.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _dataclass_from(cls: type[Any], table: object, where: str, **extra: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise ConfigError(f"{where}: unknown keys: {', '.join(sorted(unknown))}")
    try:
        return cls(**table, **extra)
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _policy(table: object, path: Path | None) -> Policy:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [policy]: expected a table")
    table = dict(table)
    retry_table = table.pop("retry", {})
    if isinstance(retry_table, dict) and isinstance(retry_table.get("statuses"), list):
        retry_table = {**retry_table, "statuses": frozenset(retry_table["statuses"])}
    retry = _dataclass_from(RetryPolicy, retry_table, f"{path}: [policy.retry]")
    policy: Policy = _dataclass_from(Policy, table, f"{path}: [policy]", retry=retry)
    if policy.prefill not in ("auto", "never"):
        raise ConfigError(f"{path}: [policy]: prefill must be 'auto' or 'never'")
    return policy


def _routes(items: object, path: Path | None) -> tuple[ModelRoute, ...]:
    if not isinstance(items, list):
        raise ConfigError(f"{path}: routes: expected [[routes]] tables")
    routes: list[ModelRoute] = []
    for i, item in enumerate(items):
        where = f"{path}: routes[{i}]"
        if not isinstance(item, dict) or set(item) - {"model", "base_url", "api_key"}:
            raise ConfigError(f"{where}: expected model, base_url and optionally api_key")
        if not isinstance(item.get("model"), str) or "base_url" not in item:
            raise ConfigError(f"{where}: model and base_url are required")
        try:
            base = _url(item["base_url"])
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        key = item.get("api_key")
        try:
            checked = _header_value(key) if key is not None else None
        except ValueError as exc:
            raise ConfigError(f"{where}: api_key: {exc}") from None
        routes.append(ModelRoute(item["model"], base, checked))
    return tuple(routes)
