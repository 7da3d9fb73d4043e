"""`az route explain` and `az route rules` as a user runs them (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: A model plugin installed the way pip would leave it (a module plus a
#: .dist-info with an ``az`` entry point), registering models at real prices.
PLUGIN = """
from az_os import hookimpl
from az_os.models import Model
from az_os.types import ModelInfo


class Priced(Model):
    def __init__(self, info):
        self.info = info

    def complete(self, request):
        raise NotImplementedError


MODELS = [
    ("local/smollm2-135m-instruct", 0.0, 0.0, 8192, True),
    ("deepseek/deepseek-chat", 0.28e-6, 0.42e-6, 131072, False),
    ("anthropic/claude-haiku-4-5", 1e-6, 5e-6, 200000, False),
    ("anthropic/claude-sonnet-4-5", 3e-6, 15e-6, 200000, False),
]


@hookimpl
def az_register_models(register):
    for mid, pin, pout, ctx, local in MODELS:
        register(Priced(ModelInfo(id=mid, provider=mid.split("/")[0], context_window=ctx,
                                  input_cost_per_token=pin, output_cost_per_token=pout,
                                  supports_tools=True, local=local)))
"""


@pytest.fixture
def cli_env(az_home: Path, tmp_path: Path) -> dict[str, str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "priced_models_plugin.py").write_text(PLUGIN, encoding="utf-8")
    dist = site / "priced_models_plugin-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: priced-models-plugin\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (dist / "entry_points.txt").write_text(
        "[az]\npriced-models = priced_models_plugin\n", encoding="utf-8"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    env["AZ_HOME"] = str(az_home)
    env["COLUMNS"] = "200"
    return env


def az(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "az_os.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_explain_json(cli_env):
    proc = az(cli_env, "route", "explain", "fix the failing test in tests/test_io.py", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["task"] == "fix the failing test in tests/test_io.py"
    assert data["complexity"]["class"] == "code"
    assert "test_io.py" in data["complexity"]["code_markers"]
    assert data["rule"]["name"] == "code" and data["rule"]["tier"] == "free"
    assert data["start_tier"] == "free" and data["tier"] == "cheap"
    assert data["skipped"] and not data["escalation"]
    assert data["chosen"] == "deepseek/deepseek-chat"
    # (the 1.5B model pack, when installed, is another free local candidate)
    ids = [
        c["model"] for c in data["candidates"] if c["model"] != "local/qwen2.5-coder-1.5b-instruct"
    ]
    assert ids == [
        "local/smollm2-135m-instruct",
        "deepseek/deepseek-chat",
        "anthropic/claude-haiku-4-5",
        "anthropic/claude-sonnet-4-5",
    ]
    sonnet = data["candidates"][-1]
    assert sonnet["tier"] == "premium" and sonnet["blended_usd_per_1m"] == pytest.approx(6.0)
    assert 0 <= sonnet["score"] <= 1


def test_explain_failed_model_and_context(cli_env):
    proc = az(
        cli_env,
        "route",
        "explain",
        "what time is it?",
        "--json",
        "--failed",
        "local/smollm2-135m-instruct",
        "--context-tokens",
        "2000",
    )
    data = json.loads(proc.stdout)
    assert data["tokens"] >= 2000
    assert data["start_tier"] == "free" and data["tier"] == "cheap"
    local = data["candidates"][0]
    assert not local["eligible"] and "failed earlier" in local["excluded_reason"]
    assert data["escalation"]


def test_explain_table(cli_env):
    proc = az(
        cli_env,
        "route",
        "explain",
        "prove that there are infinitely many primes",
        "--priority",
        "high",
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "class reasoning" in out
    assert "rule reasoning" in out
    assert "chosen anthropic/claude-sonnet-4-5" in out


def test_explain_rejects_invalid_config_rules(cli_env, az_home):
    (az_home / "config.toml").write_text(
        textwrap.dedent("""
        [[router.rules]]
        name = "typo"
        condition = "complexity == 'cod'"
        tier = "cheap"
    """),
        encoding="utf-8",
    )
    proc = az(cli_env, "route", "explain", "hello", "--json")
    assert proc.returncode == 2
    assert "rule 1 ('typo'): unknown complexity 'cod'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_rules_json(cli_env):
    proc = az(cli_env, "route", "rules", "--json")
    data = json.loads(proc.stdout)
    assert [r["name"] for r in data["rules"]][-1] == "fallback"
    assert data["tiers"]["premium"] == ">= 5"
    urgent = data["rules"][0]
    assert urgent["name"] == "urgent" and urgent["within"] == 0.05


def test_rules_table_shows_a_rules_margin(cli_env):
    proc = az(cli_env, "route", "rules")
    assert proc.returncode == 0, proc.stderr
    assert "within 0.05 of the best" in " ".join(proc.stdout.split())
