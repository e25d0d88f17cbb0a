"""``stopwise.sim``: a local Anthropic Messages + OpenAI Chat Completions and Responses upstream
with a deterministic model and fault injection. See docs/sim.md.

For a finisher's tests the useful surface is: :func:`create_app`; :func:`full_document` (the
exact full answer for a document kind) and :func:`document_for_messages` (for a request's
messages); :func:`tokenize`; and the ``x-sim-*`` request headers documented there.
"""

from __future__ import annotations

from typing import Any

from .app import create_app, quiet_dropped_connections
from .background import running, serve_in_thread, serving
from .behaviors import BEHAVIORS, PREAMBLE
from .config import SimConfig
from .conversation import Turn
from .documents import KINDS, TOOL_FOLLOWUP, Document, document, full_document
from .models import MODELS, ModelInfo
from .tokenizer import count_tokens, tokenize

__all__ = [
    "BEHAVIORS",
    "KINDS",
    "MODELS",
    "PREAMBLE",
    "TOOL_FOLLOWUP",
    "Document",
    "ModelInfo",
    "SimConfig",
    "count_tokens",
    "create_app",
    "document",
    "document_for_messages",
    "full_document",
    "kind_for_messages",
    "quiet_dropped_connections",
    "running",
    "serve_in_thread",
    "serving",
    "tokenize",
]


def kind_for_messages(messages: list[dict[str, Any]], *, tools: bool = False) -> str:
    """The document kind a conversation asks for (Anthropic or OpenAI message dicts)."""
    from .conversation import analyze

    return analyze(_turns(messages), client_tools=tools, prefill=True).kind


def document_for_messages(messages: list[dict[str, Any]], *, tools: bool = False) -> str:
    """The exact full answer the conversation's prompt produces: what a finisher must end up
    with, however many rounds it takes. ``tools``: the request offers a client tool."""
    return full_document(kind_for_messages(messages, tools=tools))


def _turns(messages: list[dict[str, Any]]) -> list[Turn]:
    turns = []
    for m in messages:
        content = m.get("content")
        role = m.get("role")
        if role not in ("user", "assistant", "tool"):
            continue
        if isinstance(content, str):
            turns.append(Turn("user" if role == "tool" else role, content, tool_results=role == "tool"))
            continue
        blocks = content if isinstance(content, list) else []
        text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
        turn = Turn("user" if role == "tool" else role, text, tool_results=role == "tool")
        turn.tool_use_ids = [
            str(b.get("id")) for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"
        ]
        turn.tool_use_ids += [str(c.get("id")) for c in m.get("tool_calls") or [] if isinstance(c, dict)]
        turn.tool_results = turn.tool_results or any(
            isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks
        )
        turn.server_tool_uses = sum(
            1 for b in blocks if isinstance(b, dict) and b.get("type") == "server_tool_use"
        )
        turns.append(turn)
    return turns
