"""``az cost`` and ``az task run --max-cost`` as a user runs them: real
processes, the real CLI, a real SQLite file under AZ_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from az_os.types import CostRecord, Task
from conftest import requires_sqlite


@requires_sqlite
def test_budget_set_show_clear(az: Any, az_home: Path) -> None:
    r = az("cost", "budget", "show", "--json")
    assert r.returncode == 0, r
    assert r.json() == {"budget": None}

    r = az("cost", "budget", "set", "--amount", "100", "--alert", "80")
    assert r.returncode == 0, r
    assert "of $100.00 monthly spent" in r.stdout
    cfg = tomllib.loads((az_home / "config.toml").read_text())
    assert cfg["cost"] == {"budget_usd": 100.0, "alert_pct": 80.0}

    r = az("cost", "budget", "set", "--amount", "2.5", "--period", "daily")
    assert r.returncode == 0, r
    budget = az("cost", "budget", "show", "--json").json()["budget"]
    assert budget["amount_usd"] == 2.5
    assert budget["period"] == "daily"
    assert budget["alert_pct"] == 80.0  # kept from before
    assert budget["alert_usd"] == pytest.approx(2.0)
    assert budget["spent_usd"] == 0.0 and budget["remaining_usd"] == 2.5
    assert budget["percent_used"] == 0.0 and budget["alerted"] is False
    since = datetime.fromisoformat(budget["since"])
    resets = datetime.fromisoformat(budget["resets"])
    assert timedelta(hours=23) <= resets - since <= timedelta(hours=25)

    r = az("cost", "budget", "clear")
    assert r.returncode == 0 and "cleared" in r.stdout, r
    assert az("cost", "budget", "show", "--json").json() == {"budget": None}
    assert "No budget was set" in az("cost", "budget", "clear").stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--amount", "-5"], "cost.budget_usd"),
        (["--amount", "5", "--alert", "150"], "cost.alert_pct"),
    ],
)
def test_budget_set_rejects_invalid_values(
    az: Any, az_home: Path, args: list[str], expected: str
) -> None:
    r = az("cost", "budget", "set", *args)
    assert r.returncode == 2, r
    assert expected in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (az_home / "config.toml").exists()


def test_invalid_cost_section_is_a_one_line_config_error(az: Any, az_home: Path) -> None:
    (az_home / "config.toml").write_text('[cost]\nbudget_usd = 10\nbudget_period = "yearly"\n')
    r = az("cost", "budget", "show")
    assert r.returncode == 2, r
    assert "cost.budget_period" in r.stderr and "config.toml" in r.stderr
    assert "Traceback" not in r.stderr
    r = az(
        "cost",
        "budget",
        "show",
        env={"AZ_COST__BUDGET_PERIOD": "weekly", "AZ_COST__BUDGET_USD": "x"},
    )
    assert r.returncode == 2 and "AZ_COST__" in r.stderr and "cost.budget_usd" in r.stderr, r


@requires_sqlite
def test_show_json_groups_by_model_task_and_day(az: Any, storage: Any) -> None:
    t1 = storage.create_task(Task(description="summarise the changelog"))
    now = datetime.now(UTC)
    rows = [
        (t1.id, "anthropic/claude-sonnet-4-5", 3000, 400, 1000, 0.0125),
        (t1.id, "openai/gpt-4o-mini", 1200, 300, 0, 0.00036),
        (None, "openai/gpt-4o-mini", 100, 10, 0, 0.000021),
    ]
    for task_id, model, inp, out, cached, usd in rows:
        storage.add_cost(
            CostRecord(
                task_id=task_id,
                model=model,
                input_tokens=inp,
                output_tokens=out,
                cached_tokens=cached,
                cost_usd=usd,
                timestamp=now,
            )
        )
    storage.add_cost(
        CostRecord(model="old/model", cost_usd=7.0, timestamp=now - timedelta(days=400))
    )

    r = az("cost", "show", "--json")
    assert r.returncode == 0, r
    data = r.json()
    assert (data["period"], data["by"], data["calls"]) == ("daily", "model", 3)
    assert data["total_usd"] == pytest.approx(0.012881)
    assert (data["input_tokens"], data["output_tokens"], data["cached_tokens"]) == (4300, 710, 1000)
    assert [(x["key"], x["calls"]) for x in data["rows"]] == [
        ("anthropic/claude-sonnet-4-5", 1),
        ("openai/gpt-4o-mini", 2),
    ]
    assert data["budget"] is None

    data = az("cost", "show", "--by", "task", "--json").json()
    assert [(x["key"], x["description"]) for x in data["rows"]] == [
        (t1.id, "summarise the changelog"),
        (None, None),
    ]
    assert data["rows"][0]["cost_usd"] == pytest.approx(0.01286)

    data = az("cost", "show", "--period", "all", "--by", "day", "--json").json()
    assert data["since"] is None and data["total_usd"] == pytest.approx(7.012881)
    assert len(data["rows"]) == 2 and data["rows"][0]["cost_usd"] == 7.0

    table = az("cost", "show", "--period", "monthly")
    assert table.returncode == 0, table
    assert "anthropic/claude-sonnet-4-5" in table.stdout and "$0.0125" in table.stdout
    assert "total" in table.stdout and "$0.012881" in table.stdout


@requires_sqlite
def test_show_on_an_empty_database(az: Any, storage: Any) -> None:
    r = az("cost", "show", "--period", "weekly")
    assert r.returncode == 0, r
    assert "No model calls recorded" in r.stdout


@requires_sqlite
def test_task_run_max_cost_fails_cleanly_with_work_kept(
    az: Any, storage: Any, tmp_path: Path
) -> None:
    r = az(
        "task",
        "run",
        "echo a few steps",
        "--model",
        "cost-test/sonnet",
        "--max-cost",
        "0.02",
        "--max-turns",
        "10",
        "--tools",
        "cost_test.*",
        "--approve",
        "auto",
        "--workspace",
        str(tmp_path),
        "--json",
        scripted=True,
    )
    assert r.returncode == 1, r
    out = r.json()
    assert out["status"] == "failed"
    assert "task cost cap reached" in out["error"] and "--max-cost" in out["error"]
    assert 0 < out["cost_usd"] <= 0.02
    assert out["turns"] >= 1
    shown = az("cost", "show", "--by", "task", "--json").json()
    assert shown["rows"][0]["key"] == out["id"]
    assert shown["rows"][0]["calls"] == out["turns"]
    assert shown["rows"][0]["cost_usd"] == pytest.approx(out["cost_usd"])


@requires_sqlite
def test_alert_shown_once_per_period_across_processes(
    az: Any, storage: Any, tmp_path: Path
) -> None:
    assert (
        az(
            "cost", "budget", "set", "--amount", "1", "--period", "weekly", "--alert", "0.3"
        ).returncode
        == 0
    )
    args = (
        "task",
        "run",
        "echo",
        "--model",
        "cost-test/sonnet",
        "--max-turns",
        "3",
        "--tools",
        "cost_test.*",
        "--approve",
        "auto",
        "--workspace",
        str(tmp_path),
        "--json",
    )
    first = az(*args, scripted=True)
    assert first.returncode == 0, first
    assert first.stderr.count("az: warning: cost:") == 1, first
    assert "of the $1.00 weekly budget is spent" in first.stderr
    second = az(*args, scripted=True)
    assert second.returncode == 0, second
    assert "az: warning: cost:" not in second.stderr
    assert az("cost", "budget", "show", "--json").json()["budget"]["alerted"] is True


@requires_sqlite
def test_local_model_runs_with_a_zero_budget(az: Any, storage: Any, tmp_path: Path) -> None:
    assert az("cost", "budget", "set", "--amount", "0", "--period", "daily").returncode == 0
    paid = az(
        "task",
        "run",
        "echo",
        "--model",
        "cost-test/sonnet",
        "--tools",
        "cost_test.*",
        "--approve",
        "auto",
        "--workspace",
        str(tmp_path),
        "--json",
        scripted=True,
    )
    assert paid.returncode == 1 and "daily budget reached" in paid.json()["error"], paid
    local = az(
        "task",
        "run",
        "echo",
        "--model",
        "cost-test/local",
        "--max-turns",
        "3",
        "--tools",
        "cost_test.*",
        "--approve",
        "auto",
        "--workspace",
        str(tmp_path),
        "--json",
        scripted=True,
    )
    assert local.returncode == 0, local
    assert local.json()["status"] == "completed"


def test_plugin_and_cost_show_import_no_heavy_library(az_home: Path) -> None:
    heavy = ("litellm", "chromadb", "textual", "llama_cpp", "git", "mcp", "torch")
    code = "import az_cost.plugin, az_cost.cli, az_cost.budget, az_cost.tracker"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if "|" in line
    }
    assert "az_cost" in imported
    assert not imported & set(heavy)
    # Only az-cost (and the storage backend): other plugins answer for their own imports.
    env = {**os.environ, "AZ_LOAD_PLUGINS": "cost,sqlite"}
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "az_os.cli", "cost", "budget", "show"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if "|" in line
    }
    assert "az_cost" in imported
    assert not imported & set(heavy)


@requires_sqlite
def test_parallel_processes_cannot_overspend_a_budget(
    az: Any, storage: Any, az_home: Path, tmp_path: Path
) -> None:
    """Three ``az task run`` processes at once, each call spending its whole
    completion cap: the reservations (in the storage backend) keep
    their sum within the budget."""
    amount = 0.06
    assert az("cost", "budget", "set", "--amount", str(amount), "--period", "daily").returncode == 0
    from az_os import drivers

    drivers.close_all()
    env = {
        **os.environ,
        "AZ_HOME": str(az_home),
        "AZCOST_DELAY_S": "0.5",
        "AZCOST_COMPLETION_TOKENS": "1024",
    }
    cmd = [
        sys.executable,
        str(Path(__file__).parent / "azcost_support.py"),
        "task",
        "run",
        "echo",
        "--model",
        "cost-test/sonnet",
        "--max-turns",
        "10",
        "--tools",
        "cost_test.*",
        "--approve",
        "auto",
        "--workspace",
        str(tmp_path),
        "--json",
    ]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    results = [json.loads(out) for out, _ in outs]
    assert all(r["status"] == "failed" for r in results), outs
    assert all("daily budget reached" in r["error"] for r in results)
    spent = sum(r["cost_usd"] for r in results)
    assert spent <= amount
    assert spent == pytest.approx(az("cost", "show", "--json").json()["total_usd"])
    # all released: reservations live in the storage backend when it can hold them
    inflight = az_home / "cost-inflight.json"
    assert not inflight.exists() or not json.loads(inflight.read_text())
    import sqlite3

    con = sqlite3.connect(az_home / "az.db")
    assert con.execute("SELECT COUNT(*) FROM budget_reservations").fetchone() == (0,)
    con.close()


def test_without_a_storage_backend(az: Any, az_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The budget can be set, but spending cannot be shown or checked: paid
    calls are refused rather than made unchecked; local models still run."""
    from az_cost import budget
    from az_os.errors import PluginMissingError
    from az_os.types import Message, ModelRequest
    from azcost_support import ScriptedModel, local_info, sonnet_info

    env = {"AZ_STORAGE__BACKEND": "nosuch"}
    r = az("cost", "budget", "set", "--amount", "5", env=env)
    assert r.returncode == 0, r
    assert "Budget set: $5.00" in r.stdout and "no storage backend 'nosuch'" in r.stdout
    r = az("cost", "show", env=env)
    assert r.returncode == 3 and "no storage backend 'nosuch'" in r.stderr, r
    assert "Traceback" not in r.stderr

    monkeypatch.setenv("AZ_STORAGE__BACKEND", "nosuch")
    request = ModelRequest(messages=[Message(role="user", content="hi")])
    task = Task(description="no storage")
    assert budget.check_call(task, request, ScriptedModel(local_info())) is None
    with pytest.raises(PluginMissingError, match="nosuch"):
        budget.check_call(task, request, ScriptedModel(sonnet_info()))


@requires_sqlite
def test_az_ask_is_recorded_and_budgeted(az: Any, storage: Any) -> None:
    """``az ask`` makes one model call outside the engine: it is recorded,
    and refused when it could cross the budget."""
    r = az("ask", "Name three primes", "--model", "cost-test/sonnet", "--json", scripted=True)
    assert r.returncode == 0, r
    answer = r.json()
    assert answer["cost_usd"] > 0
    shown = az("cost", "show", "--json").json()
    assert shown["calls"] == 1
    assert shown["total_usd"] == pytest.approx(answer["cost_usd"])
    assert shown["rows"][0]["key"] == "cost-test/sonnet"

    assert az("cost", "budget", "set", "--amount", "0.01", "--period", "daily").returncode == 0
    r = az("ask", "Name three primes", "--model", "cost-test/sonnet", scripted=True)
    assert r.returncode == 6, r  # BudgetExceededError's exit code
    assert "daily budget reached" in r.stderr
    assert az("cost", "show", "--json").json()["calls"] == 1
