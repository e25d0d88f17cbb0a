"""Validating a Messages API request body the way the real API does, and reducing it to a
:class:`~stopwise.sim.engine.SimRequest`.

The 400 texts are the real ones (brief/wire.md, "Exact 400 texts"); field errors follow the
API's ``path: problem`` form. Nothing here may raise anything but
:class:`~stopwise.sim.http_errors.SimError`: bad input is never a 500.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import orjson

from .caching import MESSAGE_OVERHEAD, Segment
from .citations import documents_in
from .conversation import Turn
from .engine import SimRequest
from .generate import signature_for
from .http_errors import SimError
from .models import lookup
from .tokenizer import count_tokens

__all__ = ["PREFILL_REJECTED", "TRAILING_WHITESPACE", "parse_anthropic", "segments_for"]

PREFILL_REJECTED = (
    "This model does not support assistant message prefill. The conversation must end with a user message."
)
TRAILING_WHITESPACE = "messages: final assistant content cannot end with trailing whitespace"
THINKING_BUDGET = (
    "`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at "
    "https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"
)
THINKING_PREFILL = (
    "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`. When "
    "`thinking` "
    "is enabled, a final `assistant` message must start with a thinking block. To avoid this requirement, "
    "disable `thinking`."
)
_SERVER_TOOL_PREFIXES = ("web_search_", "web_fetch_", "code_execution_")


def _bad(message: str) -> SimError:
    return SimError(400, message)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_anthropic(body: Any) -> SimRequest:
    if not isinstance(body, dict):
        raise _bad("Input should be a valid dictionary")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            raise _bad(f"{name}: Field required")
    max_tokens = body["max_tokens"]
    if not _is_int(max_tokens):
        raise _bad("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")
    messages = body["messages"]
    if not isinstance(messages, list):
        raise _bad("messages: Input should be a valid list")
    if not messages:
        raise _bad("messages: at least one message is required")
    turns = [_turn(i, m, last=i == len(messages) - 1) for i, m in enumerate(messages)]
    _check_tool_pairs(messages)
    stop_sequences = body.get("stop_sequences") or []
    if not isinstance(stop_sequences, list) or not all(isinstance(s, str) for s in stop_sequences):
        raise _bad("stop_sequences: Input should be a valid list of strings")
    _check_system(body.get("system"))
    client_tools, server_tools = _tools(body.get("tools"))
    thinking = _thinking(body.get("thinking"), max_tokens)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("stream: Input should be a valid boolean")

    model = lookup(body["model"], "anthropic")
    if model is None:
        raise SimError(404, f"model: {body['model']}")
    if max_tokens > model.max_output:
        raise _bad(
            f"max_tokens: {max_tokens} > {model.max_output}, which is the maximum allowed number of output "
            f"tokens for {model.response_name}"
        )
    last = turns[-1]
    if last.role == "assistant" and last.text and not last.server_tool_uses:
        if not model.prefill:
            raise _bad(PREFILL_REJECTED)
        if thinking is not None:
            raise _bad(THINKING_PREFILL.format(i=len(turns) - 1))
        if last.text != last.text.rstrip():
            raise _bad(TRAILING_WHITESPACE)
    return SimRequest(
        dialect="anthropic",
        model=model,
        stream=stream,
        max_tokens=max_tokens,
        turns=turns,
        segments=segments_for(body),
        stop_sequences=tuple(stop_sequences),
        client_tool=client_tools[0] if client_tools else None,
        server_tools=server_tools,
        thinking_budget=thinking,
        prefill=True,
        client_tools=client_tools,
        documents=documents_in(messages),
        adaptive_thinking=_is_adaptive(body.get("thinking")),
    )


def _turn(i: int, message: Any, *, last: bool) -> Turn:
    if not isinstance(message, dict):
        raise _bad(f"messages.{i}: Input should be a valid dictionary")
    role = message.get("role")
    if role not in ("user", "assistant"):
        raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
    if "content" not in message:
        raise _bad(f"messages.{i}.content: Field required")
    content = message["content"]
    empty_ok = last and role == "assistant"
    if isinstance(content, str):
        if not content and not empty_ok:
            raise _bad(
                f"messages.{i}: all messages must have non-empty content except for the optional "
                "final assistant message"
            )
        return Turn(role, content)
    if not isinstance(content, list):
        raise _bad(f"messages.{i}.content: Input should be a valid list")
    if not content and not empty_ok:
        raise _bad(
            f"messages.{i}: all messages must have non-empty content except for the optional final "
            "assistant message"
        )
    turn = Turn(role)
    texts: list[str] = []
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _bad(f"messages.{i}.content.{j}.type: Field required")
        kind = block["type"]
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise _bad(f"messages.{i}.content.{j}.text: Field required")
            if not text:
                raise _bad("messages: text content blocks must be non-empty")
            texts.append(text)
        elif kind == "tool_use":
            turn.tool_use_ids.append(str(block.get("id", "")))
        elif kind == "tool_result":
            turn.tool_results = True
        elif kind == "server_tool_use":
            turn.server_tool_uses += 1
        elif kind == "thinking" and role == "assistant":
            thinking = block.get("thinking")
            if not isinstance(thinking, str) or block.get("signature") != signature_for(thinking):
                raise _bad(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` block")
    turn.text = "".join(texts)
    return turn


def _check_tool_pairs(messages: list[Any]) -> None:
    # Every tool_use needs its tool_result in the very next message (brief/wire.md).
    for i, message in enumerate(messages[:-1]):
        content = message.get("content")
        if message.get("role") != "assistant" or not isinstance(content, list):
            continue
        asked = [b.get("id") for b in content if isinstance(b, dict) and b.get("type") == "tool_use"]
        if not asked:
            continue
        following = messages[i + 1].get("content")
        answered = set()
        if messages[i + 1].get("role") == "user" and isinstance(following, list):
            answered = {
                b.get("tool_use_id")
                for b in following
                if isinstance(b, dict) and b.get("type") == "tool_result"
            }
        missing = [str(t) for t in asked if t not in answered]
        if missing:
            raise _bad(
                f"messages.{i + 1}: `tool_use` ids were found without `tool_result` blocks "
                "immediately after: "
                f"{', '.join(missing)}. Each `tool_use` block must have a corresponding `tool_result` "
                "block in "
                "the next message."
            )


def _check_system(system: Any) -> None:
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        raise _bad("system: Input should be a valid list")
    for k, block in enumerate(system):
        if (
            not isinstance(block, dict)
            or block.get("type") != "text"
            or not isinstance(block.get("text"), str)
        ):
            raise _bad(f"system.{k}: Input should be a valid text block")
        if not block["text"]:
            raise _bad("system: text content blocks must be non-empty")


def _tools(tools: Any) -> tuple[tuple[str, ...], bool]:
    if tools is None:
        return (), False
    if not isinstance(tools, list):
        raise _bad("tools: Input should be a valid list")
    client: list[str] = []
    server = False
    for k, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise _bad(f"tools.{k}: Input should be a valid dictionary")
        kind = tool.get("type")
        if isinstance(kind, str) and kind.startswith(_SERVER_TOOL_PREFIXES):
            server = True
            continue
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(f"tools.{k}.custom.name: Field required")
        if "input_schema" not in tool:
            raise _bad(f"tools.{k}.custom.input_schema: Field required")
        client.append(name)
    return tuple(client), server


def _is_adaptive(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") == "adaptive"


def _thinking(thinking: Any, max_tokens: int) -> int | None:
    if thinking is None or (isinstance(thinking, dict) and thinking.get("type") == "disabled"):
        return None
    if isinstance(thinking, dict) and thinking.get("type") == "adaptive":
        # Adaptive thinking has no budget: the model decides, within max_tokens.
        return max_tokens - 1 or None
    if not isinstance(thinking, dict) or thinking.get("type") != "enabled":
        raise _bad(
            "thinking: Input tag found using 'type' does not match any of the expected tags: "
            "'adaptive', 'disabled', 'enabled'"
        )
    budget = thinking.get("budget_tokens")
    if not _is_int(budget):
        raise _bad("thinking.enabled.budget_tokens: Field required")
    if budget < 1024:
        raise _bad("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024")
    if max_tokens <= budget:
        raise _bad(THINKING_BUDGET)
    return int(budget)


def segments_for(body: dict[str, Any]) -> list[Segment]:
    """The request's input in cache order: tools, system, then each message's blocks."""
    out: list[Segment] = []
    for tool in body.get("tools") or []:
        out.append(_segment(tool))
    system = body.get("system")
    if isinstance(system, str) and system:
        out.append(Segment(system, count_tokens(system) + MESSAGE_OVERHEAD))
    elif isinstance(system, list):
        out.extend(_segment(b) for b in system if isinstance(b, dict))
    for message in body["messages"]:
        out.append(Segment(f"role:{message['role']}", MESSAGE_OVERHEAD))
        content = message["content"]
        if isinstance(content, str):
            out.append(Segment(content, count_tokens(content)))
        else:
            out.extend(_segment(b) for b in content)
    return out


def _segment(block: dict[str, Any]) -> Segment:
    control = block.get("cache_control")
    plain = {k: v for k, v in block.items() if k != "cache_control"}
    material = orjson.dumps(plain, option=orjson.OPT_SORT_KEYS).decode()
    text = plain.get("text") if plain.get("type") == "text" else None
    tokens = count_tokens(text) if isinstance(text, str) else count_tokens(material)
    ttl = control.get("ttl", "5m") if isinstance(control, dict) else "5m"
    return Segment(material, tokens, isinstance(control, dict), str(ttl))
