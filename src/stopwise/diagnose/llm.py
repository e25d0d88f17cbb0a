"""``--llm MODEL``: a model's own explanation of the log, fetched so that it is never truncated.

One request through stopwise's own finisher transport to the Anthropic Messages API
(``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``) or, for ``gpt-*`` and o-series models, an
OpenAI-compatible Chat Completions API (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``): a truncated
explanation is continued by the same engine that finishes every other answer. The key is sent
in a header and never appears in a message, a log line or an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2
import orjson

from ..dialects import error_from_response, parse_body
from ..errors import StopwiseError
from ..finisher import Policy
from ..outcome import State
from ..transport import FinisherTransport

__all__ = ["LLMConfig", "LLMError", "ask", "build_prompt", "config_from_env"]

_OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-")
_LOG_LIMIT = 40_000  # characters of the log sent (its end: where failures are)
_LANG_NAMES = {"en": "English", "zh-CN": "Simplified Chinese", "zh-TW": "Traditional Chinese (Taiwan)"}


class LLMError(StopwiseError):
    """The model could not be asked (no key, HTTP error, network)."""


@dataclass(frozen=True, slots=True)
class LLMConfig:
    model: str
    api_key: str
    base_url: str
    provider: str  # "anthropic" | "openai"
    max_tokens: int = 2048
    max_rounds: int = 4
    timeout: float = 120.0

    def __repr__(self) -> str:  # the key must never be printed
        return f"LLMConfig(model={self.model!r}, base_url={self.base_url!r}, provider={self.provider!r})"


def config_from_env(model: str, env: Mapping[str, str] | None = None) -> LLMConfig:
    env = os.environ if env is None else env
    if model.startswith(_OPENAI_PREFIXES):
        key, base, provider = (
            env.get("OPENAI_API_KEY"),
            env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
            "openai",
        )
    else:
        key, base, provider = (
            env.get("ANTHROPIC_API_KEY"),
            env.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
            "anthropic",
        )
    if not key:
        name = "OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY"
        raise LLMError(f"--llm {model} needs {name} in the environment")
    return LLMConfig(model=model, api_key=key, base_url=base.rstrip("/"), provider=provider)


def build_prompt(log: str, diagnosis: Mapping[str, Any], lang: str) -> tuple[str, str]:
    system = (
        "You are an expert on LLM API failures: Anthropic Messages and OpenAI Chat Completions, their stop "
        "reasons, SSE streams, HTTP errors, and the relays and gateways in front of them (new-api, one-api, "
        f"LiteLLM). Explain the log below: what happened, the cause, the fix, the prevention. Answer in "
        f"{_LANG_NAMES.get(lang, 'English')}. Be specific to the numbers in the log."
    )
    tail = log[-_LOG_LIMIT:]
    cut_note = f"(the log's last {_LOG_LIMIT} characters)\n" if len(log) > _LOG_LIMIT else ""
    facts = orjson.dumps(
        {k: diagnosis.get(k) for k in ("category", "also", "facts", "confidence")}, option=orjson.OPT_INDENT_2
    ).decode()
    user = f"Facts stopwise extracted offline:\n{facts}\n\nLog {cut_note}:\n```\n{tail}\n```"
    return system, user


def ask(
    cfg: LLMConfig, system: str, user: str, *, transport: httpx2.BaseTransport | None = None
) -> dict[str, Any]:
    """The model's whole explanation: ``{"model", "text", "rounds", "stop_reason", "complete"}``.

    One request through stopwise's own finisher transport: a truncated explanation is continued
    (prefill where the model allows it, else a continue turn with seam repair) until it ends,
    within ``cfg.max_rounds``."""
    finisher = FinisherTransport(transport, policy=Policy(max_rounds=cfg.max_rounds))
    if cfg.provider == "openai":
        path = "/chat/completions"
        headers = {"authorization": f"Bearer {cfg.api_key}"}
        body: dict[str, Any] = {
            "model": cfg.model,
            "max_completion_tokens": cfg.max_tokens,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
        }
    else:
        path = "/v1/messages"
        headers = {"x-api-key": cfg.api_key, "anthropic-version": "2023-06-01"}
        body = {
            "model": cfg.model,
            "max_tokens": cfg.max_tokens,
            "system": system,
            "messages": [{"role": "user", "content": user}],
        }
    with httpx2.Client(base_url=cfg.base_url, timeout=cfg.timeout, transport=finisher) as client:
        try:
            resp = client.post(
                path, content=orjson.dumps(body), headers={"content-type": "application/json", **headers}
            )
        except httpx2.HTTPError as exc:
            raise LLMError(f"could not reach the model API: {type(exc).__name__}") from None
    if resp.status_code >= 400:
        err = error_from_response(resp.status_code, resp.content, dict(resp.headers))
        raise LLMError(f"the model API rejected the request: {err}")
    try:
        out = parse_body(orjson.loads(resp.content), dialect=cfg.provider)  # type: ignore[arg-type]
    except (orjson.JSONDecodeError, StopwiseError):
        raise LLMError(
            f"the model API answered {resp.status_code} with a body that is not a response"
        ) from None
    return {
        "model": cfg.model,
        "text": out.text,
        "rounds": int(resp.headers.get("x-stopwise-rounds", "1")),
        "stop_reason": out.stop.raw,
        "complete": resp.headers.get("x-stopwise-state", out.state.value) == State.COMPLETE.value,
    }
