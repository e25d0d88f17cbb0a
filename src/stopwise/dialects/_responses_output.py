"""Output items of a Responses response: read into stopwise's content blocks, and built up while
they stream (an item's parts, summaries and argument pieces, until ``output_item.done`` gives it
whole). Every field is checked as it is read: a value of the wrong type raises ``TypeError``,
which the callers turn into a counted anomaly (streams) or a ``ProtocolError`` (bodies)."""

from __future__ import annotations

from typing import Any

from ._json import partial_json

__all__ = [
    "Item",
    "Part",
    "as_dict",
    "as_int",
    "as_str",
    "blocks_of",
    "list_field",
    "output_of",
    "text_field",
]


def as_str(value: object) -> str:
    """A text piece of the wire; anything else is malformed input (the caller counts it)."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def as_int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an integer index, got {type(value).__name__}")
    return value


def text_field(obj: dict[str, Any], key: str) -> str:
    """A text field that may be absent or null (an empty string then), else a string."""
    value = obj.get(key)
    return "" if value is None else as_str(value)


def list_field(obj: dict[str, Any], key: str) -> list[Any]:
    """A list field that may be absent or null (empty then), else a list."""
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{key} must be a list, not {type(value).__name__}")
    return value


def as_dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def output_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [as_dict(item) for item in list_field(response, "output")]


def blocks_of(output: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, dict[str, str]]:
    """The content blocks in stopwise's shared vocabulary (``text``, ``refusal``, ``thinking``,
    ``tool_call``; any other item kept whole under its own type), the output text as the SDK's
    ``output_text`` joins it, and each function call's argument JSON by output index."""
    blocks: list[dict[str, Any]] = []
    texts: list[str] = []
    tool_json: dict[str, str] = {}
    for index, item in enumerate(output):
        itype = item.get("type")
        if itype == "message":
            for part in list_field(item, "content"):
                part = as_dict(part)
                ptype = part.get("type")
                if ptype == "output_text":
                    text = text_field(part, "text")
                    texts.append(text)
                    blocks.append(
                        {"type": "text", "text": text, "annotations": list(list_field(part, "annotations"))}
                    )
                elif ptype == "refusal":
                    blocks.append({"type": "refusal", "refusal": text_field(part, "refusal")})
                else:
                    blocks.append({"type": str(ptype), "part": part})
        elif itype == "reasoning":
            summary = "".join(text_field(as_dict(s), "text") for s in list_field(item, "summary"))
            block: dict[str, Any] = {"type": "thinking", "thinking": summary, "id": item.get("id")}
            raw = [text_field(as_dict(c), "text") for c in list_field(item, "content")]
            if raw:
                block["reasoning_text"] = "".join(raw)
            if item.get("encrypted_content") is not None:
                block["encrypted_content"] = item["encrypted_content"]
            blocks.append(block)
        elif itype == "function_call":
            args = text_field(item, "arguments")
            tool_json[str(index)] = args
            blocks.append(
                {
                    "type": "tool_call",
                    "id": item.get("call_id"),
                    "item_id": item.get("id"),
                    "name": item.get("name"),
                    "arguments": args,
                    "input": partial_json(args),
                }
            )
        else:
            blocks.append({"type": str(itype), "item": item})
    return blocks, "".join(texts), tool_json


class Part:
    """One content part of a message item while it streams (``output_text`` or ``refusal``)."""

    __slots__ = ("annotations", "key", "logprobs", "part", "pieces")

    def __init__(self, part: dict[str, Any]) -> None:
        self.part = part
        ptype = part.get("type")
        self.key = "refusal" if ptype == "refusal" else "text" if ptype == "output_text" else None
        self.pieces: list[str] = [text_field(part, self.key)] if self.key else []
        self.annotations: list[Any] = list(list_field(part, "annotations"))
        self.logprobs: list[Any] = list(list_field(part, "logprobs"))

    def render(self) -> dict[str, Any]:
        out = dict(self.part)
        if self.key is not None:
            out[self.key] = "".join(self.pieces)
        if self.key == "text":
            out["annotations"] = list(self.annotations)
            if self.logprobs or "logprobs" in self.part:
                out["logprobs"] = list(self.logprobs)
        return out


class Item:
    """One output item while it streams; ``whole`` once ``response.output_item.done`` gave it."""

    __slots__ = ("args", "item", "parts", "reasoning", "summary", "whole")

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item
        self.whole = False
        self.parts: dict[int, Part] = {}
        self.summary: dict[int, list[str]] = {}
        self.reasoning: dict[int, list[str]] = {}
        self.args: list[str] | None = None
        itype = item.get("type")
        if itype == "message":
            for i, part in enumerate(list_field(item, "content")):
                self.parts[i] = Part(as_dict(part))
        elif itype == "reasoning":
            for i, s in enumerate(list_field(item, "summary")):
                self.summary[i] = [text_field(as_dict(s), "text")]
            for i, c in enumerate(list_field(item, "content")):
                self.reasoning[i] = [text_field(as_dict(c), "text")]
        elif itype == "function_call":
            self.args = [text_field(item, "arguments")]

    def chars(self) -> int:
        n = sum(len(x) for p in self.parts.values() for x in p.pieces)
        n += sum(len(x) for parts in (*self.summary.values(), *self.reasoning.values()) for x in parts)
        return n + sum(len(x) for x in self.args or ())

    def render(self) -> dict[str, Any]:
        if self.whole:
            return self.item
        out = dict(self.item)
        itype = out.get("type")
        if itype == "message":
            out["content"] = [p.render() for _, p in sorted(self.parts.items())]
        elif itype == "reasoning":
            out["summary"] = [
                {"type": "summary_text", "text": "".join(v)} for _, v in sorted(self.summary.items())
            ]
            if self.reasoning:
                out["content"] = [
                    {"type": "reasoning_text", "text": "".join(v)} for _, v in sorted(self.reasoning.items())
                ]
        elif self.args is not None:
            out["arguments"] = "".join(self.args)
        return out
