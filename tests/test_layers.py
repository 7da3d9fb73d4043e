"""The import-linter contracts in pyproject.toml cover every first-party plugin,
and every FEATURE_PLUGINS entry names a real distribution."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from az_os.commands import FEATURE_PLUGINS

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(
    pkg.name
    for dist in (ROOT / "plugins").glob("*/pyproject.toml")
    for pkg in dist.parent.glob("az_*")
    if (pkg / "__init__.py").exists()
)


def _linter() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_every_plugin_package_is_under_the_contracts():
    cfg = _linter()
    contracts = {c["name"]: c for c in cfg["contracts"]}
    independent = next(c for c in contracts.values() if c["type"] == "independence")
    forbidden = next(c for c in contracts.values() if c["type"] == "forbidden")
    assert PACKAGES, "no plugin packages found"
    for pkg in PACKAGES:
        assert pkg in cfg["root_packages"], f"add {pkg} to [tool.importlinter] root_packages"
        assert pkg in independent["modules"], f"add {pkg} to the independence contract"
        assert pkg in forbidden["forbidden_modules"], f"add {pkg} to the kernel's forbidden list"


@pytest.mark.parametrize("command", sorted(FEATURE_PLUGINS))
def test_feature_plugins_name_real_distributions_and_shadow_no_kernel_command(command):
    from az_os.cli import build_app

    app = build_app()
    kernel = {g.name for g in app.registered_groups} | {
        c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands
    }
    assert command not in kernel, f"'az {command}' is the kernel's own command"
    dists = {p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml")}
    named = [d.strip() for d in FEATURE_PLUGINS[command].replace(" or ", ",").split(",")]
    names = [n.split(" ")[0] for n in named if n]
    assert names and all(n in dists for n in names), (
        f"FEATURE_PLUGINS['{command}'] = {FEATURE_PLUGINS[command]!r} names no plugin under plugins/"
    )
