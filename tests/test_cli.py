"""The kernel's own commands, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def test_help_lists_kernel_commands_and_teaches(az):
    r = az("--help")
    assert r.returncode == 0, r
    assert "plugins" in r.stdout and "config" in r.stdout and "task" in r.stdout
    assert "az task run" in r.stdout  # the help shows how to start


def test_version(az):
    from az_os import __version__

    r = az("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"az {__version__}"


def test_plugins_list_json_shape(az):
    r = az("plugins", "list", "--json", "--all")
    assert r.returncode == 0, r
    data = r.json()
    builtin = [p for p in data if p["builtin"]]
    assert {p["name"] for p in builtin} >= {"routing", "policy"}
    for p in data:
        assert set(p) >= {"name", "version", "distribution", "hooks", "status", "error"}
    routing = next(p for p in builtin if p["name"] == "routing")
    assert routing["hooks"] == ["az_route"] and routing["status"] == "loaded"


def test_config_set_get_unset_roundtrip(az, az_home: Path):
    r = az("config", "set", "agent.max_turns=8")
    assert r.returncode == 0, r
    assert "max_turns = 8" in (az_home / "config.toml").read_text()
    assert az("config", "get", "agent.max_turns").stdout.strip() == "8"
    r = az("config", "get", "agent.max_turns", "--json")
    assert r.json() == {"key": "agent.max_turns", "value": 8}
    # the design brief's example names a section nothing reads: refused, not written,
    # pointing at the setting that picks the default model
    r = az("config", "set", "llm.provider=gemini")
    assert r.returncode == 2 and "no installed part of az reads a [llm] section" in r.stderr
    assert "did you mean models.default?" in r.stderr
    r = az("config", "set", "models.default=gemini/gemini-2.5-flash")
    assert r.returncode == 0, r
    assert az("config", "get", "models.default").stdout.strip() == "gemini/gemini-2.5-flash"
    assert az("config", "unset", "models.default").returncode == 0
    all_ = az("config", "get", "--all", "--json").json()
    assert all_["agent"]["max_turns"] == 8 and "llm" not in all_
    assert az("config", "unset", "agent.max_turns").returncode == 0
    assert az("config", "get", "agent.max_turns").stdout.strip() == "5"
    r = az("config", "unset", "agent.max_turns")
    assert r.returncode == 1 and "was not set" in r.stderr


def test_config_set_keeps_comments(az, az_home: Path):
    (az_home / "config.toml").write_text("# my settings\n[agent]\nmax_turns = 3  # keep low\n")
    assert az("config", "set", "agent.temperature=0.5").returncode == 0
    text = (az_home / "config.toml").read_text()
    assert "# my settings" in text and "# keep low" in text and "temperature = 0.5" in text


def test_config_set_rejects_invalid_value_and_keeps_file(az, az_home: Path):
    (az_home / "config.toml").write_text("[agent]\nmax_turns = 3\n")
    r = az("config", "set", "agent.max_turns=many")
    assert r.returncode == 2
    assert "agent.max_turns" in r.stderr and "integer" in r.stderr
    assert "Traceback" not in r.stderr
    assert (az_home / "config.toml").read_text() == "[agent]\nmax_turns = 3\n"


@pytest.mark.parametrize(
    "key, hint",
    [
        ("max_turns", "did you mean agent.max_turns?"),
        ("agent.max_turn", "did you mean agent.max_turns?"),
        ("nosuchkey", "settings are SECTION.KEY"),
    ],
)
def test_config_set_refuses_keys_nothing_reads(az, az_home: Path, key: str, hint: str):
    """A key that no setting has is an error naming the closest known one,
    not a line silently written to config.toml."""
    r = az("config", "set", f"{key}=8")
    assert r.returncode == 2 and hint in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (az_home / "config.toml").exists()


def test_malformed_config_names_file_and_line(az, az_home: Path):
    cfg = az_home / "config.toml"
    cfg.write_text("[agent]\nmax_turns = 3\napprove = \n")
    r = az("config", "get", "--all")
    assert r.returncode == 2
    assert str(cfg) in r.stderr and "line 3" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_invalid_config_value_names_key_line_and_type(az, az_home: Path):
    cfg = az_home / "config.toml"
    cfg.write_text("[storage]\nbackend = 'sqlite'\n\n[agent]\nmax_turns = 'ten'\n")
    r = az("config", "get", "agent.max_turns")
    assert r.returncode == 2
    assert "line 5" in r.stderr and "agent.max_turns" in r.stderr and "integer" in r.stderr
    cfg.write_text("[agent]\nmax_turn = 3\n")
    r = az("config", "get", "--all")
    assert "agent.max_turn" in r.stderr and "unknown key" in r.stderr


def test_env_overrides_file(az, az_home: Path):
    (az_home / "config.toml").write_text("[agent]\nmax_turns = 3\n")
    r = az("config", "get", "agent.max_turns", env={"AZ_AGENT__MAX_TURNS": "9"})
    assert r.stdout.strip() == "9"
    r = az("config", "get", "agent.max_turns", env={"AZ_AGENT__MAX_TURNS": "nine"})
    assert r.returncode == 2 and "AZ_AGENT__MAX_TURNS" in r.stderr


def test_unknown_key_is_a_clear_error(az):
    r = az("config", "get", "agent.nope")
    assert r.returncode == 2 and "unknown config key 'agent.nope'" in r.stderr


def test_az_home_holds_everything(az, az_home: Path):
    r = az("config", "path")
    assert r.stdout.strip() == str(az_home / "config.toml")


def test_kernel_alone_says_what_to_install(az):
    """With every plugin disabled (the kernel alone), commands still run and
    missing features name the distribution to install."""
    env = {"AZ_LOAD_PLUGINS": ""}
    r = az("--help", env=env)
    assert r.returncode == 0 and "(not installed: pip install az-sqlite)" in r.stdout
    r = az("plugins", "list", env=env)
    assert r.returncode == 0
    r = az("db", "status", env=env)
    assert r.returncode == 3 and "pip install az-sqlite" in r.stderr
    r = az("task", "run", "hello", env={**env, "AZ_STORAGE__BACKEND": "nosuch"})
    assert r.returncode == 3 and "no storage backend 'nosuch'" in r.stderr
    r = az("config", "set", "agent.max_turns=4", env=env)
    assert r.returncode == 0


#: what reading the task list needs no part of: validation (pydantic), the
#: plugin host (pluggy), and any plugin but the storage backend (found with
#: stevedore, whose entry-point cache costs no more than a scan)
READ_PATH_FREE_OF = {"pydantic", "pluggy", "az_litellm", "az_local", "az_mcp"}
#: `az --help` needs no storage, no tables and no tool contract (the kernel's
#: aichat plugin imports its tool class only when tools are registered)
HELP_FREE_OF = {"stevedore", "sqlite3", "rich", "pydantic"}


@pytest.mark.parametrize(
    ("args", "also_not"),
    [
        (["--help"], HELP_FREE_OF),
        (["plugins", "list"], set()),
        (["task", "list"], READ_PATH_FREE_OF),
    ],
)
def test_startup_imports_nothing_heavy(az, args, also_not):
    """`az --help` must not import heavy libraries (checked with -X importtime);
    `az task list` (200 ms budget) loads no plugin host and no pydantic either."""
    import os
    import subprocess
    import sys

    if args[0] == "task":
        from az_os.drivers import storage_backends

        if "sqlite" not in storage_backends():
            pytest.skip("needs the sqlite storage backend (the kernel-alone install has none)")

    env = dict(os.environ)
    env["AZ_HOME"] = os.environ["AZ_HOME"]
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "az_os.cli", *args],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    # Drivers az_os.sqlstore.driverless hides from peewee show up as import
    # attempts refused in a few microseconds; they are not imported.
    hidden = {"psycopg", "psycopg2", "psycopg2cffi", "pymysql", "MySQLdb", "mysql"}
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if "|" in line
        and not (
            line.split("|")[-1].strip() in hidden
            and line.split("|")[1].strip().isdigit()
            and int(line.split("|")[1]) < 50
        )
    }
    heavy = {
        "litellm",
        "chromadb",
        "onnxruntime",
        "tokenizers",
        "bm25s",
        "textual",
        "llama_cpp",
        "git",
        "torch",
        "openai",
        "mcp",
        "httpx",
        "peewee",
        "fastapi",
        "uvicorn",
        "starlette",
        "prometheus_client",
        "opentelemetry",
        "keyring",
        "keyrings",
        "secretstorage",
        "jeepney",
        "psycopg",
        "celery",
        "kombu",
        "redis",
    }
    if args == ["task", "list"]:
        heavy.discard("peewee")  # the sqlite backend's own library
    heavy |= also_not
    assert not imported & heavy, f"heavy imports at startup: {sorted(imported & heavy)}"
    # importtime misses modules loaded through some import hooks (editable installs):
    # ask the interpreter itself what is loaded after the command ran.
    script = (
        "import sys, json\n"
        "from az_os.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.__stderr__.write(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert not loaded & heavy, (
        f"heavy modules loaded by az {' '.join(args)}: {sorted(loaded & heavy)}"
    )
