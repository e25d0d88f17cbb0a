"""``--llm MODEL``: a model's own explanation of the log, fetched so that it is never truncated.

A stopgap until stopwise's transport and finisher exist: one HTTP call through ``httpx2`` to the
Anthropic Messages API (``ANTHROPIC_API_KEY``, ``ANTHROPIC_BASE_URL``) or, for ``gpt-*`` and
o-series models, an OpenAI-compatible Chat Completions API (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``). Each reply goes through :func:`stopwise.dialects.parse_body`; while it
comes back truncated we continue it (bounded): Anthropic by prefill, falling back to a continue
turn when the model rejects prefill (Claude 4.6+, brief/wire.md), OpenAI by a continue turn.
The key is sent in a header and never appears in a message, a log line or an error.
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
from ..outcome import State

__all__ = ["LLMConfig", "LLMError", "ask", "build_prompt", "config_from_env"]

_OPENAI_PREFIXES = ("gpt-", "o1", "o3", "o4", "chatgpt-")
_CONTINUE = "Continue exactly where you stopped: no repetition, no preamble; your reply is appended as is."
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
    """The model's whole explanation: ``{"model", "text", "rounds", "stop_reason", "complete"}``."""
    with httpx2.Client(base_url=cfg.base_url, timeout=cfg.timeout, transport=transport) as client:
        if cfg.provider == "openai":
            return _ask_openai(client, cfg, system, user)
        return _ask_anthropic(client, cfg, system, user)


def _post(client: httpx2.Client, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    try:
        resp = client.post(
            path, content=orjson.dumps(body), headers={"content-type": "application/json", **headers}
        )
    except httpx2.HTTPError as exc:
        raise LLMError(f"could not reach the model API: {type(exc).__name__}") from None
    if resp.status_code >= 400:
        raise _Rejected(error_from_response(resp.status_code, resp.content, dict(resp.headers)))
    try:
        obj = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        raise LLMError(f"the model API answered {resp.status_code} with a body that is not JSON") from None
    if not isinstance(obj, dict):
        raise LLMError("the model API answered with JSON that is not an object")
    return obj


class _Rejected(LLMError):
    def __init__(self, err: Any) -> None:
        super().__init__(f"the model API rejected the request: {err}")
        self.err = err


def _ask_anthropic(client: httpx2.Client, cfg: LLMConfig, system: str, user: str) -> dict[str, Any]:
    headers = {"x-api-key": cfg.api_key, "anthropic-version": "2023-06-01"}
    text, prefill, rounds, stop = "", True, 0, None
    while rounds < cfg.max_rounds:
        rounds += 1
        messages: list[dict[str, Any]] = [{"role": "user", "content": user}]
        kept = _back_off(text)
        if kept:
            messages.append({"role": "assistant", "content": kept})
            if not prefill:
                messages.append({"role": "user", "content": _CONTINUE})
        body = {"model": cfg.model, "max_tokens": cfg.max_tokens, "system": system, "messages": messages}
        try:
            obj = _post(client, "/v1/messages", body, headers)
        except _Rejected as exc:
            if prefill and kept and "prefill" in str(exc.err.message):
                prefill = False  # this model rejects prefill: use a continue turn from now on
                rounds -= 1
                continue
            raise
        out = parse_body(obj, dialect="anthropic")
        text = _join(kept, out.text, prefill)
        stop = out.stop.raw
        if out.state is not State.TRUNCATED or not out.text.strip():
            break  # finished, or no progress: never loop on an empty continuation
    return {
        "model": cfg.model,
        "text": text,
        "rounds": rounds,
        "stop_reason": stop,
        "complete": stop not in ("max_tokens", None),
    }


def _ask_openai(client: httpx2.Client, cfg: LLMConfig, system: str, user: str) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {cfg.api_key}"}
    text, rounds, stop = "", 0, None
    while rounds < cfg.max_rounds:
        rounds += 1
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        kept = _back_off(text)
        if kept:
            messages += [{"role": "assistant", "content": kept}, {"role": "user", "content": _CONTINUE}]
        body = {"model": cfg.model, "max_completion_tokens": cfg.max_tokens, "messages": messages}
        out = parse_body(_post(client, "/chat/completions", body, headers), dialect="openai")
        text = _join(kept, out.text, False)
        stop = out.stop.raw
        if out.state is not State.TRUNCATED or not out.text.strip():
            break
    return {
        "model": cfg.model,
        "text": text,
        "rounds": rounds,
        "stop_reason": stop,
        "complete": stop not in ("length", "max_tokens", None),
    }


def _back_off(text: str) -> str:
    """Keep the text up to its last complete word: the partial word will be regenerated, and
    Anthropic rejects a prefill ending in whitespace (brief/continuation.md)."""
    stripped = text.rstrip()
    if not stripped:
        return ""
    cut = max(stripped.rfind(" "), stripped.rfind("\n"))
    return stripped[:cut].rstrip() if cut > 0 else stripped


def _join(kept: str, new: str, prefill: bool) -> str:
    if not kept:
        return new
    if prefill:
        return kept + new  # the model continues the very characters it was given
    new = new.lstrip()
    return f"{kept} {new}" if new and not kept.endswith("\n") else kept + new
