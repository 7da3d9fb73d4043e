"""[mcp.servers.NAME] validation: good tables load, bad ones name the key."""

from __future__ import annotations

import pytest
from az_mcp.settings import ServerConfig, parse_settings
from az_os.errors import ConfigError


def test_stdio_and_http_servers_load_with_defaults() -> None:
    s = parse_settings(
        {
            "servers": {
                "time": {"command": "python", "args": ["-m", "mcp_server_time"]},
                "remote": {"url": "http://127.0.0.1:9/mcp", "enabled": False, "timeout": 5},
            }
        }
    )
    assert s.servers["time"].transport == "stdio"
    assert s.servers["time"].enabled is True
    assert s.servers["time"].timeout == 60
    assert s.servers["remote"].transport == "http"
    assert s.servers["remote"].timeout == 5


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"command": "x", "timeout": -1}, "mcp.servers.bad.timeout", "> 0"),
        ({"command": "x", "url": "http://h/mcp"}, "mcp.servers.bad", "exactly one"),
        ({}, "mcp.servers.bad", "exactly one"),
        ({"command": "x", "argz": []}, "mcp.servers.bad.argz", "unknown key"),
        ({"command": "x", "args": "not-a-list"}, "mcp.servers.bad.args", "list"),
        ({"url": "ftp://h"}, "mcp.servers.bad", "http"),
    ],
)
def test_invalid_server_names_the_key(table: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings({"servers": {"bad": table}})
    assert f"'{key}'" in str(err.value)
    assert words in str(err.value)


def test_server_name_with_a_dot_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"mcp\.servers\.a\.b"):
        parse_settings({"servers": {"a.b": {"command": "x"}}})


def test_cache_key_changes_with_the_command_only() -> None:
    a = ServerConfig(command="python", args=["-m", "a"])
    assert a.key() == ServerConfig(command="python", args=["-m", "a"], timeout=5).key()
    assert a.key() != ServerConfig(command="python", args=["-m", "b"]).key()


def test_invalid_section_in_config_file_is_a_config_error(az_home) -> None:
    (az_home / "config.toml").write_text('[mcp.servers.t]\ncommand = "x"\ntimeout = "soon"\n')
    from az_mcp.settings import load_settings

    with pytest.raises(ConfigError, match=r"mcp\.servers\.t\.timeout"):
        load_settings()


def test_a_bad_value_reads_like_every_other_section(az_home) -> None:
    """One line, as the kernel's and other plugins' settings: the file, the
    dotted key (a server's name included), what was expected, what was given."""
    path = az_home / "config.toml"
    path.write_text(
        '[mcp.servers.ok]\ncommand = "x"\n[mcp.servers.t]\ncommand = "x"\nstartup_timeout = 7200\n'
    )
    from az_mcp.settings import load_settings

    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == (
        f"{path}: key 'mcp.servers.t.startup_timeout': expected a number <= 3600.0 (7200)"
    )
