"""The cookiecutter template renders into a plugin that az loads and calls."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_template_renders_installs_and_runs(az, tmp_path: Path):
    cookiecutter = pytest.importorskip("cookiecutter.main")
    out = Path(
        cookiecutter.cookiecutter(
            str(ROOT / "plugin_template"),
            no_input=True,
            output_dir=str(tmp_path),
            extra_context={"plugin_name": "tmplcheck", "description": "A template check"},
        )
    )
    assert out.name == "az-tmplcheck"
    assert (out / "az_tmplcheck" / "plugin.py").exists()
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        str(out),
    ]
    subprocess.run(pip, check=True, capture_output=True, text=True)
    try:
        plugins = {p["name"]: p for p in az("plugins", "list", "--json").json()}
        assert plugins["tmplcheck"]["status"] == "loaded"
        assert plugins["tmplcheck"]["distribution"] == "az-tmplcheck"
        assert plugins["tmplcheck"]["hooks"] == ["az_register_tools"]
        assert "A template check." in az("--help").stdout
        r = az("tmplcheck", "greet", "--name", "template")
        assert r.returncode == 0, r
        assert "Hello, template! (az-tmplcheck)" in r.stdout
        # the rendered project's own tests pass against this az
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(out / "tests")],
            capture_output=True,
            text=True,
            cwd=out,
        )
        assert tests.returncode == 0, tests.stdout[-3000:]
    finally:
        subprocess.run(
            [sys.executable, "-m", "pip", "uninstall", "-y", "-q", "az-tmplcheck"],
            capture_output=True,
        )
