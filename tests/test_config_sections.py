"""Which config sections and keys az accepts: each section is declared by an
installed part of az (``az.config`` entry points), each key by its record.

- an unknown key in a declared section, an ``AZ_<SECTION>__<KEY>`` variable
  nothing declares, a top-level key: errors (exit 2) naming the closest key;
- a config.toml section nothing declares (a plugin was uninstalled): one
  warning line, the section is kept and ignored;
- ``az config set`` refuses to write either.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from az_os import entrypoints
from az_os.config import check_sections, declared_sections, load_config
from az_os.errors import ConfigError

WEATHER = """
from typing import Literal

import msgspec
from az_os.types import Record


class Limits(Record, kw_only=True):
    per_day: int = 100


class WeatherSettings(Record, kw_only=True):
    units: Literal["metric", "imperial"] = "metric"
    timeout_s: float = 10.0
    limits: Limits = msgspec.field(default_factory=Limits)
    stations: dict[str, Limits] = msgspec.field(default_factory=dict)
"""


@pytest.fixture
def weather_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An installed distribution that declares the [weather] section, in this
    process and (through the returned environment) in ``az`` subprocesses."""
    site = tmp_path / "site"
    info = site / "az_weather-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: az-weather\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[az.config]\nweather = weather_settings:WeatherSettings\n"
    )
    (site / "weather_settings.py").write_text(WEATHER)
    monkeypatch.syspath_prepend(str(site))
    entrypoints.forget()
    path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    yield {"PYTHONPATH": os.pathsep.join(path)}
    entrypoints.forget()


def test_the_kernel_declares_the_sections_its_contracts_read():
    assert "vectorstore" in declared_sections()


def test_unknown_key_in_a_declared_section_names_the_line_and_the_closest_key(
    az_home: Path, weather_site
):
    cfg = az_home / "config.toml"
    cfg.write_text("[weather]\nunits = 'metric'\nuints = 'imperial'\n")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert str(err.value) == (
        f"{cfg}, line 3: key 'weather.uints': unknown key (did you mean weather.units?)"
    )
    cfg.write_text("[weather.limits]\nper_dya = 3\n")  # nested records are walked too
    with pytest.raises(ConfigError, match=r"weather\.limits\.per_dya': unknown key"):
        load_config()
    cfg.write_text("[weather.stations.north]\nper_day = 3\nevery = 1\n")  # and tables of them
    with pytest.raises(ConfigError, match=r"weather\.stations\.north\.every': unknown key"):
        load_config()
    cfg.write_text("[weather]\nunits = 'imperial'\n[weather.stations.north]\nper_day = 3\n")
    assert load_config().section("weather")["units"] == "imperial"


def test_unknown_variables_are_errors_naming_the_closest_key(
    az_home: Path, weather_site, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AZ_WEATHER__UNITS", "imperial")
    assert load_config().section("weather") == {"units": "imperial"}
    monkeypatch.setenv("AZ_WEATHER__UNIT", "imperial")
    with pytest.raises(ConfigError) as err:
        load_config()
    assert str(err.value) == (
        "environment variable AZ_WEATHER__UNIT: key 'weather.unit': unknown key "
        "(did you mean weather.units?)"
    )
    monkeypatch.delenv("AZ_WEATHER__UNIT")
    monkeypatch.setenv("AZ_AGENT__MAX_TURN", "3")  # the kernel's sections say the same
    with pytest.raises(ConfigError, match="AZ_AGENT__MAX_TURN: .*did you mean agent.max_turns"):
        load_config()
    monkeypatch.delenv("AZ_AGENT__MAX_TURN")
    monkeypatch.setenv("AZ_WAETHER__UNITS", "metric")  # a section nothing declares
    with pytest.raises(ConfigError) as err:
        load_config()
    assert str(err.value) == (
        "environment variable AZ_WAETHER__UNITS: unknown config key 'waether.units': no "
        "installed part of az reads a [waether] section (did you mean [weather]?)"
    )


def test_a_section_nothing_declares_in_the_file_is_a_warning_not_an_error(
    az_home: Path, capsys: pytest.CaptureFixture[str]
):
    """The user who uninstalled a plugin and kept its section: az still runs."""
    cfg = az_home / "config.toml"
    cfg.write_text("[agent]\nmax_turns = 4\n\n[xyzzy]\nbroker_url = 'redis://x'\n")
    assert load_config().agent.max_turns == 4
    assert load_config().section("xyzzy") == {"broker_url": "redis://x"}  # kept, unread
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"az: warning: {cfg}: no installed plugin reads the [xyzzy] section (was its plugin "
        "uninstalled?); it is ignored. 'az config unset xyzzy' removes it"
    ]  # once per process


def test_a_top_level_key_is_an_error(az_home: Path):
    (az_home / "config.toml").write_text("max_turns = 8\n[agent]\napprove = 'auto'\n")
    with pytest.raises(ConfigError, match=r"line 1: key 'max_turns': settings are SECTION.KEY"):
        load_config()


def test_check_sections_can_refuse_undeclared_sections():
    check_sections({"agent": {"max_turns": 3}}, "x.toml", undeclared="error")
    with pytest.raises(ConfigError, match="no installed part of az reads a \\[nosuch\\] section"):
        check_sections({"nosuch": {"key": 1}}, "x.toml", undeclared="error")


def test_cli_errors_warnings_and_config_set(az, az_home: Path, weather_site):
    env = weather_site
    r = az("config", "get", "agent.max_turns", env={**env, "AZ_NOSUCH__KEY": "1"})
    assert r.returncode == 2, r
    assert r.stderr.strip() == (
        "az: error: environment variable AZ_NOSUCH__KEY: unknown config key 'nosuch.key': "
        "no installed part of az reads a [nosuch] section"
    )
    # az config set: the same refusals, and the file stays as it was
    r = az("config", "set", "weather.uints=metric", env=env)
    assert r.returncode == 2 and "did you mean weather.units?" in r.stderr, r
    r = az("config", "set", "nosuch.key=1", env=env)
    assert r.returncode == 2 and "no installed part of az reads a [nosuch] section" in r.stderr
    assert not (az_home / "config.toml").exists()
    assert az("config", "set", "weather.units=imperial", env=env).returncode == 0
    # a plugin's section left behind: a warning on every command, which still works
    (az_home / "config.toml").write_text("[gone]\nkey = 1\n[agent]\nmax_turns = 3\n")
    r = az("config", "get", "agent.max_turns", env=env)
    assert r.returncode == 0 and r.stdout.strip() == "3", r
    assert r.stderr.count("az: warning:") == 1 and "[gone]" in r.stderr
    r = az("config", "unset", "gone", env=env)
    assert r.returncode == 0, r
    r = az("config", "get", "agent.max_turns", env=env)
    assert r.returncode == 0 and r.stderr == ""
