"""The ``[mcp]`` config section, validated.

Shape (config.toml)::

    [mcp.servers.time]                 # NAME: letters, digits, '_' and '-'
    command = "python"                 # stdio: the program to start ...
    args = ["-m", "mcp_server_time"]   # ... and its arguments
    env = { TZ = "UTC" }               # extra environment; "${VAR}" is read from
                                       # the environment or az's secret store
    cwd = "/some/dir"                  # working directory (default: current)
    enabled = true
    timeout = 60                       # seconds each tool call may take
    startup_timeout = 30               # seconds to start and finish the handshake

    [mcp.servers.remote]
    url = "http://127.0.0.1:8000/mcp"  # streamable HTTP instead of command
    headers = { Authorization = "Bearer ${REMOTE_TOKEN}" }

Exactly one of ``command`` and ``url`` is required. An invalid section
raises :class:`~az_os.errors.ConfigError` naming the key
(``mcp.servers.time.timeout: ...``).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

import msgspec
from az_os.config import parse_section
from az_os.errors import ConfigError
from az_os.types import Record
from msgspec import Meta

SECTION = "mcp"

#: A server name: it becomes the prefix of its tools' names (``NAME.TOOL``).
NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")

#: Seconds each tool call may take, unless configured.
DEFAULT_TIMEOUT_S = 60.0

#: Seconds a server may take to start and answer the MCP handshake, unless configured.
DEFAULT_STARTUP_TIMEOUT_S = 30.0

_NonEmpty = Annotated[str, Meta(min_length=1)]
_Seconds = Annotated[float, Meta(gt=0, le=3600)]


class ServerConfig(Record, kw_only=True):
    """One ``[mcp.servers.NAME]`` table.

    ``timeout`` (seconds) bounds every tool call and tools/list;
    ``startup_timeout`` (seconds) bounds starting the server and the MCP
    handshake. Building one with neither or both of ``command`` and ``url``
    raises ``ValueError`` (in :func:`parse_settings`, a ConfigError).
    """

    #: program to start (stdio)
    command: _NonEmpty | None = None
    args: list[str] = msgspec.field(default_factory=list)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    cwd: str | None = None
    #: streamable HTTP endpoint
    url: _NonEmpty | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    enabled: bool = True
    timeout: _Seconds = DEFAULT_TIMEOUT_S
    startup_timeout: _Seconds = DEFAULT_STARTUP_TIMEOUT_S

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError("give exactly one of 'command' (stdio) or 'url' (streamable HTTP)")
        if self.url is not None and not re.match(r"^https?://", self.url):
            raise ValueError(f"url must start with http:// or https://, got {self.url!r}")

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    def key(self) -> str:
        """A short digest of what identifies the server process: command,
        args, env, cwd and url (16 hex characters of SHA-256). The tool cache
        is keyed by it, so editing the command invalidates the cached list."""
        ident = json.dumps(
            [self.command, self.args, self.env, self.cwd, self.url, self.headers], sort_keys=True
        )
        return hashlib.sha256(ident.encode()).hexdigest()[:16]

    def describe(self) -> str:
        """The command line or URL, for tables and messages."""
        if self.url is not None:
            return self.url
        import shlex

        return shlex.join([self.command or "", *self.args])


class MCPSettings(Record, kw_only=True):
    """The whole ``[mcp]`` section: ``servers`` by name."""

    servers: dict[str, ServerConfig] = msgspec.field(default_factory=dict)


def parse_settings(section: dict[str, Any] | None, source: str = "config.toml") -> MCPSettings:
    """Validate ``config.section("mcp")``.

    Raises :class:`ConfigError` whose message names ``source`` (the config
    file), the dotted key (``mcp.servers.NAME.KEY``) and what was expected
    (``config.toml: key 'mcp.servers.time.timeout': expected a number > 0 (-1)``).
    """
    servers = (section or {}).get("servers")
    for name in servers if isinstance(servers, dict) else {}:
        if not NAME_RE.match(str(name)):
            raise ConfigError(
                f"{source}: key 'mcp.servers.{name}': a server name may hold only letters, "
                "digits, '_' and '-' (it prefixes its tools' names as NAME.TOOL)"
            )
    return parse_section(MCPSettings, SECTION, section, source)


def load_settings(config: Any = None) -> MCPSettings:
    """The validated ``[mcp]`` section of ``config`` (default: the loaded config)."""
    if config is None:
        from az_os.config import load_config

        config = load_config()
    return parse_settings(config.section(SECTION), str(config.path))
