"""Third-party plugins found through entry points, good and broken.

Each test builds real distributions (``*.dist-info`` with ``entry_points.txt``)
in a temp dir on PYTHONPATH, so importlib.metadata finds them exactly as it
finds pip-installed plugins.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

GOOD = '''
import typer
from az_os import hookimpl

@hookimpl
def az_register_commands(app):
    @app.command("hello")
    def hello(name: str = "world"):
        """Say hello."""
        print(f"hello {name} from a plugin")
'''

IMPORT_ERROR = """
import this_module_does_not_exist_anywhere
"""

BAD_SIGNATURE = """
from az_os import hookimpl

@hookimpl
def az_register_tools(register, not_an_argument):
    pass
"""

UNKNOWN_HOOK = """
from az_os import hookimpl

@hookimpl
def az_register_tool(register):
    pass
"""


def make_dist(root: Path, dist: str, module: str, source: str, ep_name: str | None = None) -> None:
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[az]\n{ep_name or module} = {module}\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    make_dist(root, "az-hello", "az_hello", GOOD, "hello")
    make_dist(root, "az-broken-import", "az_broken_import", IMPORT_ERROR, "broken-import")
    make_dist(root, "az-bad-signature", "az_bad_signature", BAD_SIGNATURE, "bad-signature")
    make_dist(root, "az-unknown-hook", "az_unknown_hook", UNKNOWN_HOOK, "unknown-hook")
    return root


def _env(site: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in [str(site), os.environ.get("PYTHONPATH", "")] if p)
    return {"PYTHONPATH": path, **extra}


def test_good_plugin_adds_a_command(az, site):
    r = az("hello", "--name", "az", env=_env(site))
    assert r.returncode == 0, r
    assert "hello az from a plugin" in r.stdout
    plugins = {p["name"]: p for p in az("plugins", "list", "--json", env=_env(site)).json()}
    hello = plugins["hello"]
    assert hello == {
        **hello,
        "status": "loaded",
        "version": "1.2.3",
        "distribution": "az-hello",
        "hooks": ["az_register_commands"],
        "error": None,
    }


def test_broken_plugins_are_skipped_with_one_line_each(az, site):
    r = az("--help", env=_env(site))
    assert r.returncode == 0, r
    warnings = [line for line in r.stderr.splitlines() if line.startswith("az: warning:")]
    assert len(warnings) == 3, r.stderr
    joined = "\n".join(warnings)
    assert "'broken-import' (az-broken-import)" in joined and "ModuleNotFoundError" in joined
    assert "'bad-signature'" in joined and "not_an_argument" in joined
    assert "'unknown-hook'" in joined and "az_register_tool" in joined
    assert "Traceback" not in r.stderr
    # the good plugin still works next to the broken ones
    assert "hello" in r.stdout


def test_failed_plugins_show_in_plugins_list(az, site):
    data = {p["name"]: p for p in az("plugins", "list", "--json", env=_env(site)).json()}
    for name in ("broken-import", "bad-signature", "unknown-hook"):
        assert data[name]["status"] == "failed"
        assert data[name]["error"]
    table = az("plugins", "list", env=_env(site)).stdout
    assert "failed" in table and "ModuleNotFoundError" in table


def test_disable_plugins_block_list(az, site):
    env = _env(site, AZ_DISABLE_PLUGINS="broken-import,az-bad-signature,unknown-hook")
    r = az("plugins", "list", "--json", env=env)
    assert "az: warning" not in r.stderr
    data = {p["name"]: p["status"] for p in r.json()}
    assert data["broken-import"] == "disabled" and data["bad-signature"] == "disabled"
    assert data["hello"] == "loaded"


def test_load_plugins_allow_list(az, site):
    r = az("plugins", "list", "--json", env=_env(site, AZ_LOAD_PLUGINS="az-hello"))
    data = {p["name"]: p["status"] for p in r.json()}
    assert data["hello"] == "loaded"
    assert {s for n, s in data.items() if n != "hello"} == {"disabled"}
    r = az("hello", env=_env(site, AZ_LOAD_PLUGINS=""))
    assert r.returncode != 0  # nothing loaded: the command is not there


def test_plugin_failing_in_register_commands_is_isolated(az, tmp_path):
    root = tmp_path / "site2"
    root.mkdir()
    make_dist(
        root,
        "az-crashy",
        "az_crashy",
        """
from az_os import hookimpl

@hookimpl
def az_register_commands(app):
    raise RuntimeError("boom")
""",
        "crashy",
    )
    r = az("config", "path", env=_env(root))
    assert r.returncode == 0  # kernel commands load no plugin commands at all
    r = az("--help", env=_env(root))
    assert r.returncode == 0 and "task" in r.stdout
    assert "crashy" in r.stderr and "boom" in r.stderr
