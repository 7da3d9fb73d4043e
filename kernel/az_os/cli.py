"""The ``az`` command line: a typer root that plugins extend.

The kernel's own commands are ``az plugins`` and ``az config`` (here) and
the commands over its contracts (``az task``, ``az log``, ``az models``,
``az ask``, ``az tools``: :mod:`az_os.commands`). Every other command comes
from a plugin: declared in its ``az.commands`` entry point
(:class:`az_os.commands.Command`: name, help line, where the command is),
so ``az --help`` lists it without importing the plugin and ``az X`` imports
only what defines X; or, for a plugin that declares nothing, from its
``az_register_commands`` hook, asked only when a command name is not found
otherwise or the command list is shown. A feature command whose plugin is
not installed (:data:`az_os.commands.FEATURE_PLUGINS`) still appears in
``az --help`` and says what to install.

Errors: one line on stderr, always. A usage error (unknown flag, wrong type,
an integer beyond 64 bits, a non-finite float) prints ``az: error: <message>
(see 'az CMD --help')`` and exits 2; an :class:`~az_os.errors.AzError` prints
``az: error: <message>`` and exits with its ``exit_code``; an unexpected
exception prints one line too and exits 70 (``AZ_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import typer
import typer.core
import typer.main

try:  # typer 0.28 parses with its own copy of click; older typer uses click itself
    from typer import _click as click
except ImportError:  # pragma: no cover
    import click  # type: ignore[no-redef, import-not-found, unused-ignore]

from az_os import __version__
from az_os.commands import DeclaredCommandsGroup
from az_os.errors import AzError, ConfigError

HELP = """az: a terminal AI agent that routes each model call to the cheapest model that can do it.

Run a task:   az task run "add an is_prime function to primes.py and test it"

Everything az keeps lives under one directory ($AZ_HOME, or your user data
directory): config.toml, the task database, checkpoints. Features come from
plugins; 'az plugins list' shows what is installed.
"""


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def _warn(msg: str) -> None:
    sys.stderr.write(f"az: warning: {msg}\n")


def _version_callback(value: bool) -> None:
    if value:
        sys.stdout.write(f"az {__version__}\n")
        raise typer.Exit()


# -- az plugins ------------------------------------------------------------
plugins_app = typer.Typer(
    help="Show installed plugins.", no_args_is_help=True, rich_markup_mode=None
)


@plugins_app.command("list")
def plugins_list(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array instead of a table."),
    all_: bool = typer.Option(False, "--all", help="Include the kernel's built-in plugins."),
) -> None:
    """List plugins: name, version, distribution, hooks implemented, status and load error.

    JSON shape: [{"name", "module", "version", "distribution", "hooks": [...],
    "status": "loaded"|"failed"|"disabled", "error", "builtin"}].
    """
    from az_os.plugins import get_host

    records = [r for r in get_host(_warn).plugins() if all_ or not r.builtin]
    if as_json:
        _print_json([r.to_dict() for r in records])
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not records:
        console.print(
            "No plugins installed: this is the kernel alone. Install features with, for "
            "example, [bold]pip install az-sqlite az-local az-tools[/] (see README)."
        )
        return
    table = Table(box=None, header_style="bold")
    for col in ("name", "version", "distribution", "status", "hooks"):
        table.add_column(col)
    for r in records:
        status = {"loaded": "[green]loaded[/]", "failed": "[red]failed[/]"}.get(
            r.status, f"[yellow]{r.status}[/]"
        )
        hooks = r.error if r.error else ", ".join(h.removeprefix("az_") for h in r.hooks)
        table.add_row(r.name, r.version or "", r.distribution or "", status, hooks)
    console.print(table)


# -- az config -------------------------------------------------------------
config_app = typer.Typer(
    help="Read and change settings in config.toml (AZ_SECTION__KEY variables override them).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@config_app.command("get")
def config_get(
    key: str = typer.Argument(None, help="Dotted key, e.g. agent.max_turns."),
    all_: bool = typer.Option(False, "--all", help="Show every setting."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one setting (KEY) or all of them (--all), with defaults filled in."""
    from az_os.config import load_config

    cfg = load_config()
    if all_ or key is None:
        if key is None and not all_:
            raise ConfigError("give a KEY (e.g. 'az config get agent.max_turns') or --all")
        data = cfg.to_dict()
        if as_json:
            _print_json(data)
        else:
            for k, v in _flatten(data):
                sys.stdout.write(f"{k} = {json.dumps(v)}\n")
        return
    value = cfg.get(key)
    if as_json:
        _print_json({"key": key, "value": value})
    elif isinstance(value, dict | list):
        _print_json(value)
    else:
        sys.stdout.write(f"{'' if value is None else value}\n")


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.extend(_flatten(v, key + "."))
        else:
            out.append((key, v))
    return out


@config_app.command("set")
def config_set(
    assignment: str = typer.Argument(..., help="KEY=VALUE, e.g. agent.max_turns=8"),
    value: str = typer.Argument(None, help="VALUE, when given as a separate argument."),
) -> None:
    """Set KEY=VALUE in config.toml. VALUE is a TOML literal (8, 0.5, true,
    ["a","b"]) or plain text. The file is validated before it is written."""
    from az_os.config import config_path, parse_value, set_value

    if value is None:
        if "=" not in assignment:
            raise ConfigError(f"expected KEY=VALUE, got '{assignment}'")
        key, raw = assignment.split("=", 1)
    else:
        key, raw = assignment, value
    key = key.strip()
    set_value(key, parse_value(raw.strip()))
    sys.stdout.write(f"{key} = {raw.strip()}  ({config_path()})\n")


@config_app.command("unset")
def config_unset(key: str = typer.Argument(..., help="Dotted key to remove.")) -> None:
    """Remove KEY from config.toml (it goes back to its default)."""
    from az_os.config import unset_value

    if not unset_value(key):
        sys.stderr.write(f"az: {key} was not set\n")
        raise typer.Exit(1)
    sys.stdout.write(f"unset {key}\n")


@config_app.command("path")
def config_path_cmd() -> None:
    """Print the path of config.toml."""
    from az_os.config import config_path

    sys.stdout.write(f"{config_path()}\n")


# -- building the app ------------------------------------------------------
def _missing(name: str, dist: str) -> Any:
    """``az NAME`` when the plugin that provides it is not installed: says what
    to install (exit 3), whatever arguments follow."""

    def missing() -> None:
        from az_os.errors import PluginMissingError

        raise PluginMissingError(
            f"'az {name}' needs a plugin that is not installed: pip install {dist}"
        )

    return typer.core.TyperCommand(
        name=name,
        callback=missing,
        help=f"(not installed: pip install {dist})",
        add_help_option=False,
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )


class _AzGroup(DeclaredCommandsGroup):
    """The root group: commands in alphabetical order, not-installed ones last.

    Plugins' commands come from their declarations (``az.commands`` entry
    points): ``az --help`` shows each one's help line without importing it,
    and ``az X`` imports only the module that defines X. Plugins that
    declare nothing are asked through ``az_register_commands`` when a name is
    not found otherwise or the list is shown. ``az task list`` loads no plugin.
    """

    def _add_plugin_commands(self, ctx: Any = None) -> None:
        from az_os.commands import FEATURE_PLUGINS

        super()._add_plugin_commands(ctx)
        for name in FEATURE_PLUGINS:
            self.get_command(ctx, name)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is None:
            from az_os.commands import FEATURE_PLUGINS

            if cmd_name not in FEATURE_PLUGINS:
                return None
            cmd = self.commands[cmd_name] = _missing(cmd_name, FEATURE_PLUGINS[cmd_name])
        return _harden(cmd)

    def list_commands(self, ctx: Any) -> list[str]:
        from az_os.commands import FEATURE_PLUGINS

        names = super().list_commands(ctx)
        present = set(names)
        missing = [n for n in names if self._is_missing(n)]
        missing += sorted(n for n in FEATURE_PLUGINS if n not in present)
        return [n for n in names if n not in missing] + missing

    def _is_missing(self, name: str) -> bool:
        cmd = self.commands.get(name)
        return cmd is not None and (cmd.help or "").startswith("(not installed")


def build_app() -> typer.Typer:
    """The root app: the kernel's commands; plugins' are added by
    :class:`_AzGroup` when a command needs them."""
    app = typer.Typer(
        name="az",
        cls=_AzGroup,
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        # Plain click help: rich-formatted help costs ~60 ms of imports on every `az --help`.
        rich_markup_mode=None,
        add_completion=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False,
            "--version",
            "-V",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ) -> None:
        """az: a terminal AI agent."""

    app.add_typer(plugins_app, name="plugins")
    app.add_typer(config_app, name="config")
    from az_os.commands import register_all

    register_all(app)
    return app


# -- what every option accepts ----------------------------------------------
#: The largest integer an option takes: a signed 64-bit value, what SQLite,
#: PostgreSQL and the OS interfaces behind every command can store.
INT_MAX = 2**63 - 1


class _Checked(click.types.ParamType):
    """Wraps a number type: an integer must fit in 64 bits (an absurd
    ``--limit`` is a usage error, exit 2, not an overflow deep inside a
    command) and a float must be finite (a cost cap of ``nan`` compares false
    with every price, so it would cap nothing)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        rv = self.inner.convert(value, param, ctx)
        if isinstance(rv, float) and not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if isinstance(rv, int) and not -INT_MAX - 1 <= rv <= INT_MAX:
            self.fail(f"{value!r} is too large (at most {INT_MAX})", param, ctx)
        return rv

    def get_metavar(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.get_metavar(*args, **kwargs)


def _harden(cmd: Any) -> Any:
    """Check every integer and float option of ``cmd`` and its subcommands
    (see :class:`_Checked`; once per command object)."""
    if cmd is None or getattr(cmd, "_az_hardened", False):
        return cmd
    cmd._az_hardened = True
    for param in cmd.params:
        if isinstance(param.type, click.types.IntParamType | click.types.FloatParamType):
            param.type = _Checked(param.type)
    for sub in getattr(cmd, "commands", {}).values():
        _harden(sub)
    return cmd


#: click >= 8.2 raises this for a group called with no arguments (its help is
#: the message); older versions print the help themselves.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())
#: End of input at a prompt (Ctrl-D): typer's own Abort, or click's.
_ABORT: Any = tuple({typer.Abort, getattr(click.exceptions, "Abort", typer.Abort)})


def _usage_error(exc: Any) -> None:
    """Print a usage error as one line with the help hint; exit 2."""
    where = exc.ctx.command_path if exc.ctx is not None else "az"
    message = " ".join(exc.format_message().split())
    sys.stderr.write(f"az: error: {message} (see '{where} --help')\n")
    sys.exit(exc.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI, turning every error into one
    line on stderr: usage errors (bad flags, wrong types, out-of-range
    numbers) exit 2, az errors their ``exit_code``, anything unexpected 70."""
    from az_os.redact import guard_streams

    debug = bool(os.environ.get("AZ_DEBUG"))
    guard_streams()  # no known secret reaches the terminal, errors included
    try:
        app = build_app()
        command = _harden(typer.main.get_command(app))
        rv = command.main(args=argv, prog_name="az", standalone_mode=False)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
    except _NO_ARGS_IS_HELP as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.UsageError as exc:
        _usage_error(exc)
    except _ABORT:
        sys.stderr.write("az: aborted\n")
        sys.exit(1)
    except click.exceptions.ClickException as exc:
        sys.stderr.write(f"az: error: {' '.join(exc.format_message().split())}\n")
        sys.exit(exc.exit_code)
    except AzError as exc:
        sys.stderr.write(f"az: error: {exc}\n")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("az: interrupted\n")
        sys.exit(130)
    except OSError as exc:
        if debug:
            raise
        line = filesystem_error(exc)
        sys.stderr.write(f"az: error: {line}\n" if line else _internal(exc))
        sys.exit(73 if line else 70)
    except Exception as exc:  # noqa: BLE001
        if debug:
            raise
        sys.stderr.write(_internal(exc))
        sys.exit(70)


def _internal(exc: BaseException) -> str:
    return f"az: internal error: {type(exc).__name__}: {exc} (set AZ_DEBUG=1 for a traceback)\n"


def filesystem_error(exc: OSError) -> str | None:
    """One line for a write the filesystem refused (read-only, no
    permission, disk full), naming the file and, when it is under the az
    home, the home; ``None`` for any other OSError (a bug: internal error)."""
    import errno

    from az_os.config import az_home

    name = exc.filename if isinstance(exc.filename, str) else None
    where = f"{name}: " if name else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            f"{where}the disk is full ({exc.strerror}); what was stored before is kept: free "
            "some space and run the command again"
        )
    if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
        return None
    home = az_home()
    inside = name is not None and (name == str(home) or name.startswith(str(home) + os.sep))
    if exc.errno == errno.EROFS or inside:
        subject = f"the az home {home}" if inside else "its filesystem"
        return (
            f"{where}{subject} is read-only ({exc.strerror}): commands that only read work, "
            "this one needs to write"
        )
    return f"{where}{exc.strerror}"


if __name__ == "__main__":  # pragma: no cover
    main()
