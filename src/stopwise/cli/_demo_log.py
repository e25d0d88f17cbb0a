"""The demo's requests once more, through a gateway with a request log, so that the dashboard
has something to show: ``stopwise ui`` on the file this writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["demo_log"]


def demo_log(sim_url: str) -> Path:
    """Send the demo's prompts through a gateway in front of ``sim_url``; the log's path (each
    run starts it afresh)."""
    import anthropic
    import openai

    from ..gateway import Settings, create_app
    from ..gateway.server import server
    from ..sim import serving

    path = platformdirs.user_data_path("stopwise") / "demo.db"
    for stale in (path, path.with_name("demo.db-wal"), path.with_name("demo.db-shm")):
        stale.unlink(missing_ok=True)
    settings = Settings(anthropic_base_url=sim_url, openai_base_url=f"{sim_url}/v1", log_path=path)
    # The app's lifespan opens the log and, when the server stops, writes every row.
    with serving(server(create_app(settings), host="127.0.0.1", port=0, log_level="warning")) as url:
        claude = anthropic.Anthropic(base_url=url, api_key="sim-key", max_retries=0)
        gpt = openai.OpenAI(base_url=f"{url}/v1", api_key="sim-key", max_retries=0)
        code: list[Any] = [
            {"role": "user", "content": "Write code please: a long markdown guide with code blocks."}
        ]
        for model in ("claude-sonnet-4-5", "claude-opus-4-6"):
            claude.messages.create(model=model, max_tokens=1500, messages=code)
            with claude.messages.stream(model=model, max_tokens=1500, messages=code) as s:
                s.get_final_message()
        json_doc: list[Any] = [{"role": "user", "content": "Write json please: one large JSON document."}]
        gpt.chat.completions.create(model="gpt-4o", max_tokens=1500, messages=json_doc)
        for _ in gpt.chat.completions.create(
            model="gpt-4o",
            max_tokens=1500,
            messages=json_doc,
            stream=True,
        ):
            pass
    return path
