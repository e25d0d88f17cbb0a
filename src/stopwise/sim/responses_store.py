"""Stored Responses API responses: what ``previous_response_id`` chains to and what
``GET /v1/responses/{id}`` returns.

The real API keeps a response (``store`` defaults to true) together with the input it answered,
so a chained request's context is the previous input, then the previous output, then its own
input, and all of it is billed again as input tokens. A :class:`StoredResponse` holds exactly
that: the input items after the chain was expanded, and the response body. The store is per app
and bounded (oldest out first), so a long-running simulator does not grow without end.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_STORED", "ResponseStore", "StoredResponse"]

#: How many responses one app keeps.
MAX_STORED = 1000


@dataclass(frozen=True)
class StoredResponse:
    input_items: tuple[dict[str, Any], ...]  # the whole context it answered, chain expanded
    body: dict[str, Any]  # the response object, as ``GET /v1/responses/{id}`` returns it

    @property
    def context(self) -> list[dict[str, Any]]:
        """What a request chained to this response starts from: its input, then its output."""
        return [*self.input_items, *self.body.get("output", [])]


class ResponseStore:
    def __init__(self, limit: int = MAX_STORED) -> None:
        self._limit = limit
        self._items: OrderedDict[str, StoredResponse] = OrderedDict()

    def put(self, response_id: str, stored: StoredResponse) -> None:
        self._items[response_id] = stored
        self._items.move_to_end(response_id)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def get(self, response_id: str) -> StoredResponse | None:
        return self._items.get(response_id)

    def __len__(self) -> int:
        return len(self._items)
