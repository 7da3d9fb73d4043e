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
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from az_os.errors import ConfigError

ENV_PREFIX = "AZ_"

S = TypeVar("S", bound=msgspec.Struct)

#: Known sections reject unknown keys (a typo is an error, not a silent default).
_SECTION = {"kw_only": True, "forbid_unknown_fields": True}


class AgentSettings(msgspec.Struct, **_SECTION):
    """The ReAct loop's defaults (``[agent]``)."""

    #: ReAct turns before giving up
    max_turns: Annotated[int, Meta(ge=1, le=100)] = 5
    #: approval mode for writes and shell commands
    approve: Literal["ask", "auto", "read-only"] = "ask"
    #: completion tokens per model call
    max_tokens: Annotated[int, Meta(ge=1, le=10_000_000)] = 1024
    temperature: Annotated[float, Meta(ge=0.0, le=2.0)] = 0.2
    #: tokens of plugin context per task
    context_tokens: Annotated[int, Meta(ge=0, le=10_000_000)] = 1000


class StorageSettings(msgspec.Struct, **_SECTION):
    """Which storage backend and where (``[storage]``)."""

    #: name of an az.storage entry point
    backend: str = "sqlite"
    #: database file; default: <az home>/az.db
    path: str | None = None
    #: database URL for server backends
    url: str | None = None
    #: connection string of a server backend (postgres: a postgresql:// URL or
    #: libpq key=value string; the password may come from the secrets hook)
    dsn: str | None = None


class LocalModelSettings(msgspec.Struct, **_SECTION):
    """The embedded model (``[models.local]``)."""

    #: a GGUF file; default: the bundled SmolLM2
    path: str | None = None
    chat_format: str | None = None
    threads: Annotated[int, Meta(ge=1, le=1024)] | None = None
    #: context window in tokens
    n_ctx: Annotated[int, Meta(ge=512, le=2**24)] = 8192


class CustomModel(msgspec.Struct, **_SECTION):
    """A model the user adds (``[[models.custom]]``)."""

    id: str
    alias: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    #: USD per token (finite: at most 1 USD a token)
    input_cost_per_token: Annotated[float, Meta(ge=0, le=1)] | None = None
    output_cost_per_token: Annotated[float, Meta(ge=0, le=1)] | None = None
    context_window: Annotated[int, Meta(ge=1, le=2**31)] | None = None
    supports_tools: bool | None = None


class ModelsSettings(msgspec.Struct, **_SECTION):
    """Models (``[models]``)."""

    #: model id or alias used when none is given
    default: str | None = None
    local: LocalModelSettings = msgspec.field(default_factory=LocalModelSettings)
    custom: list[CustomModel] = msgspec.field(default_factory=list)


DEFAULT_DENY = [
    r"rm\s+-[a-zA-Z]*r[a-zA-Z]*f?\s+(/|~|\$HOME)(\s|$)",
    r"curl[^|]*\|\s*(ba|z|da)?sh",
    r"wget[^|]*\|\s*(ba|z|da)?sh",
    r":\(\)\s*\{\s*:\|:&\s*\};:",
    r"\bmkfs(\.\w+)?\b",
    r"\bdd\s+[^|]*of=/dev/",
    r"\b(shutdown|reboot|halt|poweroff)\b",
]


class ShellSettings(msgspec.Struct, **_SECTION):
    """How ``shell.execute`` isolates commands (``[tools.shell]``)."""

    #: "auto": bubblewrap when bwrap is installed and usable, else none
    sandbox: Literal["auto", "bubblewrap", "none"] = "auto"
    #: let sandboxed commands use the network
    network: bool = False
    #: secret-looking variables passed to commands anyway
    pass_env: list[str] = msgspec.field(default_factory=list)
    #: processes (and threads) a command may run at once
    max_processes: Annotated[int, Meta(ge=8)] = 256


class ToolsSettings(msgspec.Struct, **_SECTION):
    """Built-in tools and the approval policy (``[tools]``)."""

    #: regular expressions; a shell command matching one is always refused
    deny: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_DENY))
    #: tool output kept per call, bytes (at most 64 MiB: more would not fit a
    #: model's context window anyway)
    output_limit_bytes: Annotated[int, Meta(ge=256, le=64 * 2**20)] = 16384
    #: seconds before a shell command is killed (at most one day)
    shell_timeout_s: Annotated[float, Meta(gt=0, le=86400)] = 60.0
    #: largest file ``filesystem.write`` writes in one call, bytes (at most 1 GiB)
    max_write_bytes: Annotated[int, Meta(ge=1, le=2**30)] = 10 * 2**20
    #: ``filesystem.write`` replaces an existing, non-empty file only after the
    #: same task has read it with ``filesystem.read`` and only while it is as
    #: read (same size and modification time); appending is always allowed
    read_before_write: bool = True
    #: sandbox, network and environment of shell commands
    shell: ShellSettings = msgspec.field(default_factory=ShellSettings)


class _KernelSections(msgspec.Struct, **_SECTION):
    agent: AgentSettings = msgspec.field(default_factory=AgentSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    models: ModelsSettings = msgspec.field(default_factory=ModelsSettings)
    tools: ToolsSettings = msgspec.field(default_factory=ToolsSettings)


_KERNEL_SECTIONS = frozenset(f.name for f in msgspec.structs.fields(_KernelSections))


class AzConfig:
    """The whole configuration: the kernel's sections as typed settings
    (``config.agent.max_turns``) and every other top-level table as a plugin
    section (``config.section("cost")``, a plain dict).

    Build one with :func:`load_config` or :func:`validate`; ``AzConfig()``
    is the defaults.
    """

    __slots__ = ("agent", "storage", "models", "tools", "extra", "_home", "_path")

    def __init__(
        self,
        kernel: _KernelSections | None = None,
        extra: Mapping[str, Any] | None = None,
        *,
        home: Path | None = None,
        path: Path | None = None,
    ) -> None:
        k = kernel or _KernelSections()
        self.agent: AgentSettings = k.agent
        self.storage: StorageSettings = k.storage
        self.models: ModelsSettings = k.models
        self.tools: ToolsSettings = k.tools
        #: plugin sections and any other top-level keys, as read
        self.extra: dict[str, Any] = dict(extra or {})
        self._home = home
        self._path = path

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
        if name in _KERNEL_SECTIONS:
            out: dict[str, Any] = msgspec.to_builtins(getattr(self, name))
            return out
        value = self.extra.get(name)
        return dict(value) if isinstance(value, Mapping) else {}

    def to_dict(self) -> dict[str, Any]:
        """Everything as builtins: ``{section: {key: value}}``."""
        out = {name: self.section(name) for name in sorted(_KERNEL_SECTIONS)}
        out.update(self.extra)
        return out

    def get(self, key: str) -> Any:
        """The value at a dotted key (``"agent.max_turns"``).
        Raises :class:`ConfigError` for an unknown key."""
        node: Any = self.to_dict()
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


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<key>[^`]+)`$")


#: msgspec writes ``[...]`` for a value of a table whose keys are names
#: (``mcp.servers.NAME``): :func:`_name_keys` finds which name.
_ANY_KEY = object()


def _unwrap(tp: Any) -> Any:
    """``tp`` without ``Annotated`` and ``| None``: the type a value is checked against."""
    import typing

    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _field_type(tp: Any, name: str) -> Any:
    """The type of field ``name`` of struct ``tp`` (``None`` if it has none)."""
    tp = _unwrap(tp)
    if not (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
        return None
    return next((f.type for f in msgspec.structs.fields(tp) if f.encode_name == name), None)


def _name_keys(loc: list[Any], data: Any, root: type) -> list[Any]:
    """``loc`` with each ``[...]`` replaced by the table key whose value is
    the first to fail validation (msgspec checks a table in order)."""
    import typing

    out: list[Any] = []
    tp: Any = root
    node = data
    for part in loc:
        if part is _ANY_KEY:
            args = typing.get_args(_unwrap(tp))
            value_type = args[1] if len(args) == 2 else Any
            part = "?"
            for key, value in (node or {}).items() if isinstance(node, Mapping) else ():
                try:
                    msgspec.convert(value, value_type, strict=False)
                except msgspec.ValidationError:
                    part = key
                    break
            tp = value_type
        elif isinstance(part, int):
            args = typing.get_args(_unwrap(tp))
            tp = args[0] if args else Any
        else:
            tp = _field_type(tp, part)
        out.append(part)
        node = _value_at(node, (part,))
    return out


def _problem(
    exc: msgspec.ValidationError, root: type = _KernelSections, data: Any = None
) -> tuple[tuple[Any, ...], str]:
    """The failing key's path and what was wrong, from msgspec's message
    (``Expected `int` >= 1 - at `$.agent.max_turns```)."""
    m = _AT.match(str(exc))
    assert m is not None  # the pattern matches any text
    msg, raw = m.group("msg"), m.group("path") or ""
    loc: list[Any] = []
    for name, index, _any in re.findall(r"\.([^.\[]+)|\[(\d+)\]|\[(\.\.\.)\]", raw):
        loc.append(name if name else int(index) if index else _ANY_KEY)
    if _ANY_KEY in loc:
        loc = _name_keys(loc, data, root)
    unknown = _UNKNOWN.match(msg)
    if unknown:
        return (*loc, unknown.group("key")), "unknown key"
    if msg.startswith("Invalid enum value"):
        choices = _choices(loc, root)
        if choices:
            return tuple(loc), "expected one of " + ", ".join(choices)
    for raw_name, word in _TYPE_WORDS.items():
        msg = msg.replace(raw_name, word)
    msg = msg.replace("`", "")
    return tuple(loc), msg[0].lower() + msg[1:] if msg else "invalid value"


#: msgspec's type names in its messages, as a config file's reader says them
_TYPE_WORDS = {
    " | null": "",
    "`int`": "an integer",
    "`float`": "a number",
    "`str`": "text",
    "`bool`": "true or false",
    "`array`": "a list",
    "`object`": "a table",
}


def _choices(loc: list[Any], root: type = _KernelSections) -> list[str]:
    """The allowed values of the ``Literal`` field at ``loc`` under ``root``, if it is one."""
    import typing

    node: Any = root
    for part in loc:
        if isinstance(part, int):
            continue
        hints = typing.get_type_hints(node, include_extras=True) if isinstance(node, type) else {}
        node = hints.get(part)
        for arg in typing.get_args(node):
            if isinstance(arg, type) and issubclass(arg, msgspec.Struct):
                node = arg
    return [str(a) for a in typing.get_args(node)] if typing.get_origin(node) is Literal else []


def _build(data: Mapping[str, Any]) -> AzConfig:
    """Split kernel sections from plugin ones and validate the kernel's;
    raises msgspec.ValidationError."""
    known = {k: v for k, v in data.items() if k in _KERNEL_SECTIONS}
    extra = {k: v for k, v in data.items() if k not in _KERNEL_SECTIONS}
    return AzConfig(msgspec.convert(known, _KernelSections, strict=False), extra)


def validate(data: Mapping[str, Any], source: str, text: str = "") -> AzConfig:
    """Build an :class:`AzConfig` from a dict, or raise :class:`ConfigError`
    naming ``source``, the key (and its line when ``text`` is given) and the
    expected type."""
    try:
        return _build(data)
    except msgspec.ValidationError as exc:
        raise _error(exc, data, _KernelSections, source, text=text) from None


def _error(
    exc: msgspec.ValidationError,
    data: Mapping[str, Any],
    root: type,
    source: str,
    section: str | None = None,
    text: str = "",
) -> ConfigError:
    """One line: where (file and line), the dotted key, what was expected and what was given."""
    loc, problem = _problem(exc, root, data)
    key = ".".join(str(p) for p in ((section, *loc) if section else loc))
    line = _line_of(text, loc) if text else None
    where = f"{source}, line {line}" if line else source
    got = _value_at(data, loc)
    plain = isinstance(got, dict | list) or got is None or problem == "unknown key"
    got_s = "" if plain or repr(got) in problem else f" ({got!r})"
    if problem == "unknown key":
        got_s = _did_you_mean(key)
    return ConfigError(f"{where}: key '{key}': {problem}{got_s}")


def parse_section(cls: type[S], name: str, data: Mapping[str, Any] | None, source: str) -> S:
    """A plugin's section ``[name]`` validated into ``cls``, a msgspec struct
    (e.g. a subclass of :class:`az_os.types.Record`; values are converted
    where TOML or an ``AZ_*`` variable gives text: ``"8"`` to ``8``).

    Raises :class:`ConfigError` naming ``source`` (a config path), the key
    and what was expected, as for the kernel's own sections::

        config.toml: key 'litellm.retries': expected an integer >= 0 (-1)
    """
    data = dict(data or {})
    try:
        return msgspec.convert(data, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise _error(exc, data, cls, source, section=name) from None


#: Entry-point group where plugins declare the config sections they own.
SECTIONS_GROUP = "az.config"


def declared_sections() -> dict[str, Any]:
    """Config sections declared in the ``az.config`` entry-point group (by
    plugins, and by the kernel for the sections its contracts read, such as
    ``vectorstore``): section name -> entry point (``ep.load()`` gives the
    section's record type). Reads installed metadata only (one scan per
    process, shared with the plugin host); imports no plugin."""
    from az_os.entrypoints import installed_entry_points

    eps = installed_entry_points(SECTIONS_GROUP)
    return {ep.name: ep for ep in sorted(eps, key=lambda e: e.name)}


#: A declared section whose record could not be loaded (a broken plugin:
#: ``az plugins list`` says why): its keys are not checked here.
_UNCHECKED = object()


def _section_record(name: str) -> Any:
    """The record type declared for section ``name``; ``None`` when no
    installed part declares it, :data:`_UNCHECKED` when its declaration
    cannot be loaded. Imports the declaring module (a light settings module)."""
    if name in _KERNEL_SECTIONS:
        return _KernelSections
    ep = declared_sections().get(name)
    if ep is None:
        return None
    try:
        cls = ep.load()
    except Exception:  # noqa: BLE001 - a broken plugin must not break az
        return _UNCHECKED
    return cls if isinstance(cls, type) and issubclass(cls, msgspec.Struct) else _UNCHECKED


def _unknown_key(value: Any, tp: Any, path: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The path of the first key in ``value`` that type ``tp`` has no field
    for (walking nested records, tables of records and lists of records);
    ``None`` when every key is known. Values are not checked here: the
    section's reader does that with :func:`parse_section`."""
    import typing

    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if not isinstance(value, Mapping):
            return None
        fields = {f.encode_name: f.type for f in msgspec.structs.fields(tp)}
        forbid = tp.__struct_config__.forbid_unknown_fields
        for key, sub in value.items():
            if key not in fields:
                if forbid:
                    return (*path, key)
                continue
            found = _unknown_key(sub, fields[key], (*path, key))
            if found:
                return found
        return None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is dict and len(args) == 2 and isinstance(value, Mapping):
        for key, sub in value.items():
            found = _unknown_key(sub, args[1], (*path, key))
            if found:
                return found
    elif origin is list and args and isinstance(value, list):
        for i, sub in enumerate(value):
            found = _unknown_key(sub, args[0], (*path, i))
            if found:
                return found
    return None


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc if not isinstance(p, int))


def _env_name(loc: tuple[Any, ...]) -> str:
    return ENV_PREFIX + "__".join(str(p).upper() for p in loc if not isinstance(p, int))


#: Warnings already printed by this process (each is printed once).
_warned: set[str] = set()


def _warn(message: str) -> None:
    import sys

    if message not in _warned:
        _warned.add(message)
        sys.stderr.write(f"az: warning: {message}\n")


def check_sections(
    data: Mapping[str, Any],
    source: str,
    text: str = "",
    *,
    undeclared: Literal["warn", "error"] = "warn",
    env: bool = False,
) -> None:
    """Check that every section of ``data`` is declared by an installed part
    of az and holds only keys its record declares.

    A key no record declares raises :class:`ConfigError` naming ``source``
    (its line, from ``text``) and the closest known key (``did you mean
    agent.max_turns?``); with ``env`` the message names the ``AZ_*``
    variable instead. A section nothing declares (a plugin's, after it was
    uninstalled) is, with ``undeclared="warn"``, a one-line warning on
    stderr, printed once per process, and is kept in the file as it is; with
    ``"error"`` it raises too. Top-level keys outside any section raise.
    """
    for section in data:
        value = data[section]
        if not isinstance(value, Mapping):
            loc: tuple[Any, ...] = (section,)
            where = f"environment variable {_env_name(loc)}" if env else _where(source, text, loc)
            raise ConfigError(
                f"{where}: key '{section}': settings are SECTION.KEY{_did_you_mean(section)}"
            )
        record = _section_record(section)
        if record is None:
            hint = _did_you_mean_section(section)
            if env or undeclared == "error":
                loc = (section, *_first_leaf(value))
                where = f"environment variable {_env_name(loc)}" if env else source
                hint = _synonym(_dotted(loc)) or hint or _did_you_mean(_dotted(loc))
                raise ConfigError(
                    f"{where}: unknown config key '{_dotted(loc)}': no installed part of az "
                    f"reads a [{section}] section{hint}"
                )
            _warn(
                f"{source}: no installed plugin reads the [{section}] section (was its plugin "
                f"uninstalled?); it is ignored{hint}. 'az config unset {section}' removes it"
            )
            continue
        if record is _UNCHECKED:
            continue
        found = (
            _unknown_key({section: value}, record, ())
            if record is _KernelSections
            else _unknown_key(value, record, (section,))
        )
        if found:
            where = (
                f"environment variable {_env_name(found)}" if env else _where(source, text, found)
            )
            raise ConfigError(
                f"{where}: key '{_dotted(found)}': unknown key{_did_you_mean(_dotted(found))}"
            )


def _first_leaf(value: Any) -> tuple[Any, ...]:
    """The path of the first key under ``value`` (for naming a variable)."""
    if isinstance(value, Mapping) and value:
        key = next(iter(value))
        return (key, *_first_leaf(value[key]))
    return ()


def _where(source: str, text: str, loc: tuple[Any, ...]) -> str:
    line = _line_of(text, loc) if text else None
    return f"{source}, line {line}" if line else source


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


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

    Only reads: this module knows nothing of plugins (the plugin host calls
    ``az_configure`` when it loads, see :func:`az_os.plugins.get_host`).
    Raises :class:`ConfigError` on a malformed file or an invalid value.
    """
    env = os.environ if env is None else env
    home = az_home(env)
    path = path or home / "config.toml"
    data, text = read_file(path)
    cfg = validate(data, str(path), text)
    check_sections(data, str(path), text)
    overrides = env_overrides(env)
    if overrides:
        check_sections(overrides, "environment", env=True)
        try:
            cfg = _build(_merge(data, overrides))
        except msgspec.ValidationError as exc:
            loc, problem = _problem(exc)
            key = ".".join(str(p) for p in loc)
            var = _env_name(loc)
            raise ConfigError(f"environment variable {var}: key '{key}': {problem}") from None
    cfg._home = home
    cfg._path = path
    return cfg


#: Bumped by every write through this module, so :func:`current_config`
#: sees this process's own writes even within one mtime tick.
_writes = 0
#: (what the config depends on, the config read then): see current_config
_current: tuple[tuple[Any, ...], AzConfig] | None = None


def config_stamp(env: Mapping[str, str] | None = None) -> tuple[Any, ...]:
    """What :func:`load_config` reads, as a value that changes when the
    config may have: every ``AZ_*`` variable (home and overrides), the
    config file's path, inode, size and mtime, and this process's own writes
    through this module. Costs a ``stat`` and an environment scan
    (microseconds); compare two stamps to know whether to rebuild anything
    made from the config (:class:`az_os.util.ConfigCache` does)."""
    env = os.environ if env is None else env
    variables = tuple(sorted(kv for kv in env.items() if kv[0].startswith(ENV_PREFIX)))
    path = config_path(env)
    try:
        st = path.stat()
        file: tuple[Any, ...] = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        file = ()
    return variables, str(path), file, _writes


def current_config() -> AzConfig:
    """The config in force, as :func:`load_config` returns it, read again
    only when ``config.toml`` or an ``AZ_*`` variable changed: for hooks
    that run on every model or tool call (a stat and an environment scan,
    a few microseconds, instead of a parse). The object is shared: read it,
    do not change it. Raises :class:`ConfigError` as :func:`load_config`."""
    global _current
    stamp = config_stamp()
    cached = _current
    if cached is not None and cached[0] == stamp:
        return cached[1]
    cfg = load_config()
    _current = (stamp, cfg)
    return cfg


def _write(path: Path, doc: Any) -> None:
    import tomlkit

    global _writes
    _writes += 1

    from az_os.files import private_dir, write_private_text

    private_dir(path.parent)  # the az home: private whatever the umask
    write_private_text(path, tomlkit.dumps(doc))


def known_keys(plugins: bool = False) -> list[str]:
    """Every dotted key of the kernel's sections (``agent.max_turns``, ...);
    with ``plugins``, also those of every declared section whose record
    loads (this imports the declaring modules)."""
    out: list[str] = []

    def walk(cls: Any, prefix: str) -> None:
        for f in msgspec.structs.fields(cls):
            t = _unwrap(f.type)
            if isinstance(t, type) and issubclass(t, msgspec.Struct):
                walk(t, f"{prefix}{f.name}.")
            else:
                out.append(f"{prefix}{f.name}")

    walk(_KernelSections, "")
    if plugins:
        for name in declared_sections():
            record = _section_record(name)
            if isinstance(record, type) and record is not _KernelSections:
                walk(record, f"{name}.")
    return out


def _did_you_mean_section(name: str) -> str:
    """`` (did you mean [cost]?)`` for the closest known section, or ``""``."""
    import difflib

    match = difflib.get_close_matches(name, [*_KERNEL_SECTIONS, *declared_sections()], n=1)
    return f" (did you mean [{match[0]}]?)" if match else ""


#: Keys other agent tools use (and the design brief's ``az config set
#: llm.provider=gemini``) for the default model, which az calls models.default.
_SYNONYMS = dict.fromkeys(
    ("llm.provider", "llm.model", "llm.default_model", "agent.model", "model", "default_model"),
    "models.default",
)


def _synonym(key: str) -> str:
    """`` (did you mean models.default? ...)`` when ``key`` is another tool's
    name for an az setting, or ``""``."""
    target = _SYNONYMS.get(key.lower())
    if not target:
        return ""
    return (
        f" (did you mean {target}? it takes a model id or alias such as "
        "gemini/gemini-2.5-flash; 'az models list' shows them)"
    )


def _did_you_mean(key: str) -> str:
    """`` (did you mean agent.max_turns?)`` for the closest known key (the
    kernel's and declared sections'), or ``""``."""
    import difflib

    if synonym := _synonym(key):
        return synonym
    keys = known_keys(plugins=True)
    last = {k.rsplit(".", 1)[-1]: k for k in keys}
    match = difflib.get_close_matches(key, keys, n=1, cutoff=0.6) or [
        last[m] for m in difflib.get_close_matches(key, list(last), n=1, cutoff=0.6)
    ]
    return f" (did you mean {match[0]}?)" if match else ""


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
    if len(parts) == 1:
        # every setting lives in a section: a top-level key is read by nothing
        raise ConfigError(
            f"unknown config key '{key}': settings are SECTION.KEY{_did_you_mean(key)}"
        )
    if parts[0] in _KERNEL_SECTIONS and key not in known_keys():
        raise ConfigError(f"unknown config key '{key}'{_did_you_mean(key)}")
    data, text = read_file(path)
    doc = tomlkit.parse(text) if text else tomlkit.document()
    node: Any = doc
    for part in parts[:-1]:
        if part not in node or not isinstance(node[part], dict):
            node[part] = tomlkit.table()
        node = node[part]
    node[parts[-1]] = value
    data = doc.unwrap()
    new = validate(data, f"{path}")
    # what is written must be read by something; other sections stay as they are
    check_sections({parts[0]: data[parts[0]]}, str(path), undeclared="error")
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
