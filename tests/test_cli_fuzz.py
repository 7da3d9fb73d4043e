"""Malformed command lines, generated from the command tree itself: every
command group and every numeric option of every installed command (kernel and
plugins). Each must be refused as a usage error: exit 2 and exactly one line
on stderr that says what is wrong, never an internal error or a traceback."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest

BIG = "99999999999999999999999"


def _tree() -> Any:
    import typer.main
    from az_os.cli import _harden, build_app

    root = _harden(typer.main.get_command(build_app()))
    root._add_plugin_commands()
    return root


def _walk(cmd: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    out = [(path, cmd)]
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        if (sub.help or "").startswith("(not installed"):
            continue
        out += _walk(sub, [*path, name])
    return out


def malformed() -> list[list[str]]:
    """One list of arguments per malformed invocation."""
    from az_os.cli import _Checked

    cases: list[list[str]] = []
    for path, cmd in _walk(_tree(), []):
        if hasattr(cmd, "commands"):
            cases.append([*path, "no-such-subcommand"])
            continue
        if not getattr(cmd, "ignore_unknown_options", False):
            cases.append([*path, "--no-such-option"])
        required = [p for p in cmd.params if p.param_type_name == "argument" and p.required]
        if required:
            cases.append(path)  # a missing argument
        filler = ["x"] * len(required)
        for param in cmd.params:
            if param.param_type_name != "option" or getattr(param, "count", False):
                continue
            if getattr(param, "is_flag", False) or not isinstance(param.type, _Checked):
                continue
            flag = max(param.opts, key=len)
            bad = ["abc", BIG] if param.type.name.startswith("int") else ["abc", "nan", "inf"]
            cases += [[*path, *filler, flag, value] for value in bad]
    return cases


def _run(argv: list[str]) -> tuple[int, str, str]:
    from az_os.cli import main

    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue()


def test_every_malformed_invocation_is_a_one_line_usage_error(az_home):
    from conftest import has_storage

    cases = malformed()
    groups = {c[0] for c in cases if c}
    # the kernel alone has fewer commands than a full install
    assert len(cases) >= (60 if has_storage() else 40)
    assert {"task", "log", "config", "models", "tools"} <= groups
    failures = []
    for argv in cases:
        code, _, err = _run(argv)
        lines = err.strip().splitlines()
        if code != 2 or len(lines) != 1 or not lines[0].startswith("az: error: "):
            failures.append((argv, code, err[-300:]))
        elif "internal error" in err or "Traceback" in err:
            failures.append((argv, code, err[-300:]))
    assert not failures, f"{len(failures)} of {len(cases)}: {failures[:5]}"


@pytest.mark.parametrize(
    "argv",
    [
        ["task", "run", "hi", "--max-cost", "nan"],
        ["task", "list", "--limit", BIG],
        ["log", "show", "--since", "99999999d"],
        ["mcp", "serve", "--port", "99999"],
        ["cost", "budget", "set", "--amount", "inf"],
        ["route", "explain", ""],
    ],
)
def test_values_that_were_accepted_before_are_refused(az_home, argv):
    """Each of these once ran (a nan cost cap disabled the cap) or crashed
    with an internal error."""
    group = _tree().commands.get(argv[0])
    if group is None or (group.help or "").startswith("(not installed"):
        pytest.skip(f"'az {argv[0]}' is not installed here")
    code, out, err = _run(argv)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("az: error: ")
    assert "internal error" not in err
