"""Plugins' commands declared as entry-point metadata (``az.commands``).

``az --help`` lists every installed plugin's commands from their
declarations without importing any plugin hook module; ``az X`` imports only
what defines X; a plugin that declares nothing still adds its commands
through ``az_register_commands``. Every test runs the real CLI in a
subprocess; the third-party plugins are real distributions (``*.dist-info``
with ``entry_points.txt``) in a temp dir on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest


def _declared() -> dict[str, Any]:
    from az_os.commands import declared, forget_commands

    forget_commands()
    return declared().commands


def _probe(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``az ARGS`` in a fresh interpreter; return its exit code, output
    and which plugin hook modules (``az`` entry points) and command target
    modules were imported by then."""
    script = textwrap.dedent(
        f"""
        import io, json, sys
        from contextlib import redirect_stdout
        from az_os.cli import main
        out = io.StringIO()
        code = 0
        try:
            with redirect_stdout(out):
                main({args!r})
        except SystemExit as exc:
            code = exc.code or 0
        from importlib.metadata import entry_points
        from az_os.commands import declared
        hooks = sorted(ep.value for ep in entry_points(group="az"))
        targets = sorted({{c.target.partition(":")[0] for c in declared().commands.values()}})
        sys.__stderr__.write(json.dumps({{
            "code": code,
            "stdout": out.getvalue(),
            "hooks": [m for m in hooks if m in sys.modules],
            "targets": [m for m in targets if m and m in sys.modules],
        }}) + "\\n")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
    )
    return dict(json.loads(proc.stderr.strip().splitlines()[-1]))


def _site(root: Path, dist: str, files: dict[str, str], entry_points: str) -> Path:
    """A distribution ``dist`` in site dir ``root``: its modules (``files``)
    and its ``entry_points.txt``."""
    root.mkdir(exist_ok=True)
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return root


def _env(site: Path, **extra: str) -> dict[str, str]:
    path = os.pathsep.join(p for p in [str(site), os.environ.get("PYTHONPATH", "")] if p)
    return {"PYTHONPATH": path, **extra}


def test_help_lists_every_declared_command_without_importing_plugins(az_home: Path) -> None:
    commands = _declared()
    top = {name: c for name, c in commands.items() if " " not in name}
    if not top:
        pytest.skip("no plugin with declared commands is installed")
    r = _probe(["--help"], {"AZ_HOME": str(az_home)})
    assert r["code"] == 0, r
    listed = r["stdout"].split("Commands:", 1)[1]
    for name, cmd in top.items():
        line = next((x for x in listed.splitlines() if x.split()[:1] == [name]), "")
        assert line, f"az --help does not list '{name}'"
        # the help line, as far as the formatter keeps it
        assert cmd.help.split()[0] in line, (name, line)
    assert r["hooks"] == [], f"az --help imported plugin hook modules: {r['hooks']}"
    assert r["targets"] == [], f"az --help imported command modules: {r['targets']}"


def test_each_declared_command_shows_its_help_and_imports_only_its_plugin(
    az_home: Path,
) -> None:
    commands = _declared()
    if not commands:
        pytest.skip("no plugin with declared commands is installed")
    for path in commands:
        r = _probe([*path.split(), "--help"], {"AZ_HOME": str(az_home)})
        assert r["code"] == 0, (path, r)
        assert "Usage: az " + path in " ".join(r["stdout"].split()), (path, r["stdout"][:300])
        # what defines the top-level command and every subcommand declared under it
        # (az db copy: az-sqlite's db group and az-postgres's copy)
        top = path.split()[0]
        own = {
            c.target.split(".")[0]
            for p, c in commands.items()
            if p == top or p.startswith(top + " ")
        }
        others = [m for m in r["targets"] if m.split(".")[0] not in own]
        assert others == [], f"az {path} --help imported {others}"


def test_unknown_command_is_a_usage_error(az) -> None:
    r = az("no-such-command")
    assert r.returncode == 2, r
    assert r.stderr.strip().splitlines() == [
        "az: error: No such command 'no-such-command'. (see 'az --help')"
    ]


def test_a_not_installed_feature_command_says_what_to_install(az) -> None:
    r = az("--help", env={"AZ_DISABLE_PLUGINS": "tui"})
    assert r.returncode == 0, r
    assert "dashboard  (not installed: pip install az-tui)" in r.stdout
    r = az("dashboard", "--theme", "dark", env={"AZ_DISABLE_PLUGINS": "tui"})
    assert r.returncode == 3, r
    assert r.stderr.strip().splitlines() == [
        "az: error: 'az dashboard' needs a plugin that is not installed: pip install az-tui"
    ]


DECLARED_ENTRY_POINTS = """\
    [az]
    weather = az_weather.plugin

    [az.commands]
    weather = az_weather.commandlist:COMMANDS
    """

DECLARED_FILES = {
    "az_weather/__init__.py": "",
    "az_weather/plugin.py": "raise RuntimeError('the hook module is not for az --help')\n",
    "az_weather/commandlist.py": """
        from az_os.commands import Command

        COMMANDS = (
            Command("weather", "az_weather.cli:app", "Forecasts for the places you name."),
            Command("rain", "az_weather.cli:rain", "Will it rain today?"),
            Command("task forecast", "az_weather.cli:forecast", "A task per rainy day."),
            Command("broken", "az_weather.missing:app", "A command whose module is gone."),
        )
        """,
    "az_weather/cli.py": """
        import typer

        app = typer.Typer(help="Forecasts for the places you name.", no_args_is_help=True)

        @app.command("today")
        def today(place: str = typer.Argument(..., help="Where.")) -> None:
            \"\"\"Today's forecast.\"\"\"
            print(f"sunny in {place}")

        def rain(days: int = typer.Option(1, "--days", help="How many days.")) -> None:
            \"\"\"Will it rain today?\"\"\"
            print(f"no rain for {days} day(s)")

        def forecast() -> None:
            \"\"\"A task per rainy day.\"\"\"
            print("no task: no rain")
        """,
}


@pytest.fixture
def weather(tmp_path: Path) -> Path:
    return _site(tmp_path / "site", "az-weather", DECLARED_FILES, DECLARED_ENTRY_POINTS)


def test_third_party_declared_commands(az, az_home: Path, weather: Path) -> None:
    env = _env(weather)
    r = _probe(["--help"], {"AZ_HOME": str(az_home), **env})
    assert r["code"] == 0, r
    assert "weather    Forecasts for the places you name." in r["stdout"]
    assert "rain       Will it rain today?" in r["stdout"]
    assert not [m for m in r["targets"] + r["hooks"] if m.startswith("az_weather")], r
    r = az("weather", "today", "Oslo", env=env)
    assert (r.returncode, r.stdout) == (0, "sunny in Oslo\n"), r
    r = az("rain", "--days", "3", env=env)
    assert (r.returncode, r.stdout) == (0, "no rain for 3 day(s)\n"), r
    # integer options are checked as for every command: a 64-bit value at most
    r = az("rain", "--days", "99999999999999999999999", env=env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r
    # a subcommand of the kernel's task group: listed, runs, and `az task list` stays plugin-free
    r = az("task", "--help", env=env)
    assert r.returncode == 0 and "forecast  A task per rainy day." in r.stdout, r
    r = az("task", "forecast", env=env)
    assert (r.returncode, r.stdout) == (0, "no task: no rain\n"), r
    r = _probe(["task", "list"], {"AZ_HOME": str(az_home), **env})
    # with no storage backend (the kernel alone) it says what to install: exit 3
    stored = importlib.util.find_spec("az_sqlite") is not None
    assert r["code"] == (0 if stored else 3) and r["hooks"] == [] and r["targets"] == [], r


def test_a_declared_command_whose_module_fails_gives_one_line(az, weather: Path) -> None:
    env = _env(weather)
    r = az("--help", env=env)
    assert r.returncode == 0 and "broken     A command whose module is gone." in r.stdout, r
    r = az("broken", "anything", env=env)
    assert r.returncode == 1, r
    assert r.stderr.strip().splitlines() == [
        "az: error: 'az broken' could not be loaded from az_weather.missing:app: "
        "ModuleNotFoundError: No module named 'az_weather.missing'"
    ]
    r = az("rain", env=env)  # the plugin's other commands still work
    assert r.returncode == 0, r


def test_an_old_plugin_with_only_the_hook_still_adds_its_commands(
    az, az_home: Path, tmp_path: Path
) -> None:
    site = _site(
        tmp_path / "old",
        "az-hello",
        {
            "az_hello.py": """
                import typer
                from az_os import hookimpl

                @hookimpl
                def az_register_commands(app):
                    @app.command("hello")
                    def hello(name: str = "world"):
                        \"\"\"Say hello the old way.\"\"\"
                        print(f"hello {name}")
                """
        },
        "[az]\nhello = az_hello\n",
    )
    env = _env(site)
    r = az("hello", "--name", "you", env=env)
    assert (r.returncode, r.stdout) == (0, "hello you\n"), r
    r = _probe(["--help"], {"AZ_HOME": str(az_home), **env})
    assert r["code"] == 0 and "hello" in r["stdout"] and "Say hello the old way." in r["stdout"]
    assert "az_hello" in r["hooks"], r
    # plugins that declare their commands are not asked through the hook
    for name in _declared():
        if " " not in name:
            assert name in r["stdout"], name


def test_a_declaration_that_fails_to_load_is_reported_and_the_hook_asked(
    az, tmp_path: Path
) -> None:
    site = _site(
        tmp_path / "half",
        "az-half",
        {
            "az_half/__init__.py": "",
            "az_half/commandlist.py": "COMMANDS = ('not a Command',)\n",
            "az_half/plugin.py": """
                from az_os import hookimpl

                @hookimpl
                def az_register_commands(app):
                    @app.command("half")
                    def half():
                        \"\"\"Half declared.\"\"\"
                        print("half")
                """,
        },
        "[az]\nhalf = az_half.plugin\n\n[az.commands]\nhalf = az_half.commandlist:COMMANDS\n",
    )
    r = az("half", env=_env(site))
    assert (r.returncode, r.stdout) == (0, "half\n"), r
    assert r.stderr.strip().splitlines() == [
        "az: warning: plugin 'half' (az_half.commandlist:COMMANDS): commands not read: "
        "TypeError: not an az_os.commands.Command: 'not a Command'"
    ]


def test_the_entry_point_cache_lives_in_the_az_home(
    az_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from az_os.config import az_home as config_home
    from az_os.entrypoints import cache_dir

    assert Path(cache_dir()) == config_home() / "cache" == az_home / "cache"
    monkeypatch.delenv("AZ_HOME")
    assert Path(cache_dir()) == config_home() / "cache"


def test_help_reads_entry_points_from_the_cache_and_sees_a_new_install(
    az_home: Path, tmp_path: Path
) -> None:
    site = tmp_path / "later"
    site.mkdir()
    env = {"AZ_HOME": str(az_home), **_env(site)}
    first = _probe(["--help"], env)
    assert first["code"] == 0 and "weather" not in first["stdout"]
    script = (
        "import sys\nfrom az_os.cli import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\n"
        "sys.__stderr__.write(str('importlib.metadata' in sys.modules) + '\\n')\n"
    )
    full_env = {**os.environ, **env}
    again = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=full_env
    )
    assert again.stderr.strip().splitlines()[-1] == "False", again.stderr
    # a distribution installed since: its directory changed, so the cache is not used
    _site(site, "az-weather", DECLARED_FILES, DECLARED_ENTRY_POINTS)
    later = _probe(["--help"], env)
    assert later["code"] == 0 and "Forecasts for the places you name." in later["stdout"], later


def test_declarations_are_read_again_only_when_their_module_changed(
    az_home: Path, weather: Path
) -> None:
    env = {"AZ_HOME": str(az_home), **_env(weather)}
    check = "import sys; print('az_weather.commandlist' in sys.modules, file=sys.__stderr__)"

    def help_run() -> tuple[str, bool]:
        script = (
            "from az_os.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n"
            f"    pass\n{check}\n"
        )
        r = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
        )
        return r.stdout, r.stderr.strip().splitlines()[-1] == "True"

    out, imported = help_run()
    assert "Forecasts for the places you name." in out and imported
    out, imported = help_run()
    assert "Forecasts for the places you name." in out and not imported
    module = weather / "az_weather" / "commandlist.py"
    module.write_text(module.read_text().replace("Forecasts for", "Rain and sun in"))
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    out, imported = help_run()
    assert "Rain and sun in the places you name." in out and imported
