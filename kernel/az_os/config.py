"""Configuration: one TOML file under the az home, overridden by ``AZ_*`` variables.

Where things live:

* the az home is ``$AZ_HOME`` if set, else platformdirs' user data dir for
  ``az`` (``~/.local/share/az`` on Linux, ``~/Library/Application Support/az``
  on macOS, ``%LOCALAPPDATA%\\az`` on Windows). It holds ``config.toml``,
  the database and everything else az keeps.
* ``config.toml`` has one table per section (``[agent]``, ``[storage]``,
  ``[models]``, ...). Sections the kernel does not know belong to plugins
  and are kept as plain tables (``config.section("cost")``).
* ``AZ_<SECTION>__<KEY>=value`` overrides ``section.key`` (double underscore
  between levels, e.g. ``AZ_AGENT__MAX_TURNS=8``). Values are parsed as TOML
  literals when they parse (``8``, ``true``, ``["a", "b"]``), else taken as
  strings.

Errors: a malformed or invalid file raises :class:`~az_os.errors.ConfigError`
whose message names the file, the line (for syntax errors) or the key, and
what was expected. Nothing here prints a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from az_os.errors import ConfigError

ENV_PREFIX = "AZ_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class AgentSettings(_Section):
    """The ReAct loop's defaults (``[agent]``)."""

    max_turns: int = Field(5, ge=1, le=100, description="ReAct turns before giving up")
    approve: Literal["ask", "auto", "read-only"] = Field(
        "ask", description="approval mode for writes and shell commands"
    )
    max_tokens: int = Field(1024, ge=1, description="completion tokens per model call")
    temperature: float = Field(0.2, ge=0.0, le=2.0)
    context_tokens: int = Field(1000, ge=0, description="tokens of plugin context per task")


class StorageSettings(_Section):
    """Which storage backend and where (``[storage]``)."""

    backend: str = Field("sqlite", description="name of an az.storage entry point")
    path: str | None = Field(None, description="database file; default: <az home>/az.db")
    url: str | None = Field(None, description="database URL for server backends")


class LocalModelSettings(_Section):
    """The embedded model (``[models.local]``)."""

    path: str | None = Field(None, description="a GGUF file; default: the bundled SmolLM2")
    chat_format: str | None = None
    threads: int | None = Field(None, ge=1)
    n_ctx: int = Field(8192, ge=512, description="context window in tokens")


class CustomModel(_Section):
    """A model the user adds (``[[models.custom]]``)."""

    id: str
    alias: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    input_cost_per_token: float | None = Field(None, ge=0)
    output_cost_per_token: float | None = Field(None, ge=0)
    context_window: int | None = Field(None, ge=1)
    supports_tools: bool | None = None


class ModelsSettings(_Section):
    """Models (``[models]``)."""

    default: str | None = Field(None, description="model id or alias used when none is given")
    local: LocalModelSettings = Field(default_factory=LocalModelSettings)
    custom: list[CustomModel] = Field(default_factory=list)


DEFAULT_DENY = [
    r"rm\s+-[a-zA-Z]*r[a-zA-Z]*f?\s+(/|~|\$HOME)(\s|$)",
    r"curl[^|]*\|\s*(ba|z|da)?sh",
    r"wget[^|]*\|\s*(ba|z|da)?sh",
    r":\(\)\s*\{\s*:\|:&\s*\};:",
    r"\bmkfs(\.\w+)?\b",
    r"\bdd\s+[^|]*of=/dev/",
    r"\b(shutdown|reboot|halt|poweroff)\b",
]


class ToolsSettings(_Section):
    """Built-in tools and the approval policy (``[tools]``)."""

    deny: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DENY),
        description="regular expressions; a shell command matching one is always refused",
    )
    output_limit_bytes: int = Field(16384, ge=256, description="tool output kept per call")
    shell_timeout_s: float = Field(60.0, gt=0)


class AzConfig(BaseModel):
    """The whole configuration. Unknown top-level tables are plugin sections."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    agent: AgentSettings = Field(default_factory=AgentSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    models: ModelsSettings = Field(default_factory=ModelsSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)

    # Not part of the file: where it was read from.
    _home: Path | None = None
    _path: Path | None = None

    @property
    def home(self) -> Path:
        """The az home directory (created on first write)."""
        return self._home or az_home()

    @property
    def path(self) -> Path:
        """The config file this was read from (it may not exist)."""
        return self._path or (self.home / "config.toml")

    def section(self, name: str) -> dict[str, Any]:
        """A section as a plain dict (``{}`` when absent); plugins read theirs here."""
        value = getattr(self, name, None)
        if value is None:
            value = (self.model_extra or {}).get(name)
        if isinstance(value, BaseModel):
            return value.model_dump()
        return dict(value) if isinstance(value, Mapping) else {}

    def get(self, key: str) -> Any:
        """The value at a dotted key (``"agent.max_turns"``).
        Raises :class:`ConfigError` for an unknown key."""
        data = self.model_dump(mode="json")
        node: Any = data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"unknown config key '{key}'")
            node = node[part]
        return node


def az_home(env: Mapping[str, str] | None = None) -> Path:
    """``$AZ_HOME`` if set, else platformdirs' user data dir for ``az``."""
    env = os.environ if env is None else env
    if env.get("AZ_HOME"):
        return Path(env["AZ_HOME"]).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("az", appauthor=False))


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file: ``<az home>/config.toml``."""
    return az_home(env) / "config.toml"


def parse_value(raw: str) -> Any:
    """Parse a command-line or environment value as a TOML literal
    (``8``, ``0.5``, ``true``, ``["a"]``, ``"text"``); anything that does not
    parse is the string itself."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _set_nested(data: dict[str, Any], parts: list[str], value: Any) -> None:
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """The nested dict that ``AZ_SECTION__KEY`` variables describe."""
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if any(not p for p in parts):
            continue
        _set_nested(out, parts, parse_value(raw))
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a dotted key in a TOML text."""
    keys = [str(p) for p in loc if not isinstance(p, int)]
    if not keys:
        return None
    section = ".".join(keys[:-1])
    in_section = not section
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        header = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", stripped)
        if header:
            in_section = header.group(1) == section
            continue
        if in_section and re.match(rf"^{re.escape(keys[-1])}\s*=", stripped):
            return n
        if not section and re.match(rf"^{re.escape('.'.join(keys))}\s*=", stripped):
            return n
    return None


def _expected(err: Mapping[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    msg = msg.replace("Input should be", "expected").replace("input should be", "expected")
    if err.get("type") == "extra_forbidden":
        return "unknown key"
    return msg


def validate(data: dict[str, Any], source: str, text: str = "") -> AzConfig:
    """Build an :class:`AzConfig` from a dict, or raise :class:`ConfigError`
    naming ``source``, the key (and its line when ``text`` is given) and the
    expected type."""
    try:
        return AzConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err.get("loc", ()))
        key = ".".join(str(p) for p in loc)
        line = _line_of(text, loc) if text else None
        where = f"{source}, line {line}" if line else source
        got = err.get("input")
        got_s = "" if isinstance(got, dict | list) or got is None else f", got {got!r}"
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{where}: key '{key}': {_expected(err)}{got_s}{more}") from None


def read_file(path: Path) -> tuple[dict[str, Any], str]:
    """The file's data and text; ``({}, "")`` when it does not exist.
    Raises :class:`ConfigError` for unreadable or malformed TOML."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None


def load_config(env: Mapping[str, str] | None = None, path: Path | None = None) -> AzConfig:
    """Read ``config.toml`` (if any), apply ``AZ_*`` overrides, validate.

    The first successful load after the plugins are loaded also calls
    ``az_configure`` (so commands that never read the config pay nothing).
    Raises :class:`ConfigError` on a malformed file or an invalid value.
    """
    env = os.environ if env is None else env
    home = az_home(env)
    path = path or home / "config.toml"
    data, text = read_file(path)
    cfg = validate(data, str(path), text)
    overrides = env_overrides(env)
    if overrides:
        try:
            cfg = AzConfig.model_validate(_merge(data, overrides))
        except ValidationError as exc:
            err = exc.errors()[0]
            key = ".".join(str(p) for p in err.get("loc", ()))
            var = ENV_PREFIX + "__".join(str(p).upper() for p in err.get("loc", ()))
            raise ConfigError(
                f"environment variable {var}: key '{key}': {_expected(err)}"
            ) from None
    cfg._home = home
    cfg._path = path
    from az_os import plugins

    plugins.configure_loaded_host(cfg)
    return cfg


def _write(path: Path, doc: Any) -> None:
    import tomlkit

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(tomlkit.dumps(doc), encoding="utf-8")
    os.replace(tmp, path)


def set_value(key: str, value: Any, path: Path | None = None) -> AzConfig:
    """Set a dotted key in the config file, keeping its comments and layout.

    The new file is validated before it is written; an invalid value raises
    :class:`ConfigError` and leaves the file untouched.
    """
    import tomlkit

    path = path or config_path()
    parts = key.split(".")
    if not all(parts):
        raise ConfigError(f"invalid config key '{key}'")
    data, text = read_file(path)
    doc = tomlkit.parse(text) if text else tomlkit.document()
    node: Any = doc
    for part in parts[:-1]:
        if part not in node or not isinstance(node[part], dict):
            node[part] = tomlkit.table()
        node = node[part]
    node[parts[-1]] = value
    new = validate(doc.unwrap(), f"{path}")
    _write(path, doc)
    return new


def unset_value(key: str, path: Path | None = None) -> bool:
    """Remove a dotted key from the config file; False if it was not set."""
    import tomlkit

    path = path or config_path()
    data, text = read_file(path)
    if not text:
        return False
    doc = tomlkit.parse(text)
    parts = key.split(".")
    node: Any = doc
    for part in parts[:-1]:
        if part not in node:
            return False
        node = node[part]
    if not hasattr(node, "__contains__") or parts[-1] not in node:
        return False
    del node[parts[-1]]
    validate(doc.unwrap(), str(path))
    _write(path, doc)
    return True
