"""A few requests of each kind through a running gateway, for the dashboard's tests: rows with
truncated rounds finished, one through each dialect, a pass-through and a refusal."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from _gateway import Running

from stopwise.sim import full_document


def make_traffic(gw: Running, client_key: str = "x") -> list[dict[str, Any]]:
    """Four requests through ``gw`` (a refused one when it has client keys); their rows."""
    claude = gw.anthropic(api_key=client_key)
    answer = claude.messages.create(
        model="claude-haiku-4-5", max_tokens=300, messages=[{"role": "user", "content": "json"}]
    )
    assert answer.stop_reason == "end_turn"
    gpt = gw.openai(api_key=client_key)
    reply = gpt.chat.completions.create(
        model="gpt-4o", max_tokens=300, messages=[{"role": "user", "content": "Write json please"}]
    )
    assert reply.choices[0].message.content == full_document("json")
    claude.messages.count_tokens(model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}])
    n = 3
    if gw.settings.client_keys:
        with pytest.raises(anthropic.AuthenticationError):
            gw.anthropic(api_key="not-a-key").messages.create(
                model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
            )
        n = 4
    rows = gw.wait_rows(n)
    assert len(rows) == n
    return rows
