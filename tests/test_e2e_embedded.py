"""The main job, end to end, on the embedded model: no mocks, no network, no key."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import has_plugin, has_storage

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (has_storage() and has_plugin("tools") and has_plugin("local")),
        reason="needs az-sqlite, az-tools and az-local installed",
    ),
]


def test_how_many_files_on_the_embedded_model(az, tmp_path: Path):
    ws = tmp_path / "ws"
    ws.mkdir()
    for name in ("one.txt", "two.txt", "three.txt"):
        (ws / name).write_text(name)
    # no hosted keys: the embedded model must be the default
    env = {
        k: ""
        for k in (
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
            "DEEPSEEK_API_KEY",
            "MISTRAL_API_KEY",
        )
    }
    r = az(
        "task",
        "run",
        "How many files are in this directory?",
        # plumbing on the small bundled model, also when a model pack is installed
        "--model",
        "smollm2",
        "--json",
        "--approve",
        "auto",
        "--workspace",
        str(ws),
        env=env,
        timeout=900,
    )
    assert r.returncode == 0, r
    out = r.json()
    assert out["status"] == "completed"
    assert out["model"] == "local/smollm2-135m-instruct"
    assert out["tool_calls"] >= 1
    assert out["prompt_tokens"] > 0 and out["completion_tokens"] > 0
    assert out["cost_usd"] == 0
    listed = az("task", "list", "--json", env=env)
    assert listed.returncode == 0, listed
    assert out["id"] in listed.stdout
    shown = az("task", "show", out["id"], "--json", env=env)
    assert shown.returncode == 0 and "filesystem." in shown.stdout
