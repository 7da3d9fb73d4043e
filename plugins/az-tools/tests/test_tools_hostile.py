"""The hostile-input battery for the filesystem tools (all offline).

Path escapes a model (or a prompt injection steering it) might try: ``..``,
absolute paths, ``~``, NUL bytes, very long names, symlinks created by an
earlier command of the same task, a directory swapped for a symlink while
files are being opened (time of check/time of use), and hard links. None may
read or write outside the workspace. See the README's table for what holds
with the sandbox on and off.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from az_tools import sandbox

BWRAP_OK, BWRAP_WHY = sandbox.probe_bwrap() if os.name == "posix" else (False, "not POSIX")
linux_only = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd (Linux)"
)


def _ctx(workspace: Path, sandbox_mode: str = "none"):  # type: ignore[no-untyped-def]
    from az_os.config import AzConfig
    from az_os.tools import ToolContext

    config = AzConfig()
    config.tools.shell.sandbox = sandbox_mode
    return ToolContext(workspace=workspace, task_id="t", approval="auto", config=config)


@pytest.mark.parametrize(
    "path",
    ["../outside/private.txt", "sub/../../outside/private.txt", "./../outside/private.txt"],
)
def test_dotdot(tools, workspace, outside, call, path):
    for name, args in [
        ("filesystem.read", {"path": path}),
        ("filesystem.write", {"path": path, "content": "pwned"}),
    ]:
        res = call(tools[name], args, _ctx(workspace))
        assert not res.success and "outside the workspace" in res.error
    assert (outside / "private.txt").read_text() == "do not read\n"


def test_absolute_and_home_paths(tools, workspace, outside, call, monkeypatch, tmp_path):
    home = tmp_path / "fake-home"
    home.mkdir()
    (home / ".bashrc").write_text("HOME FILE")
    monkeypatch.setenv("HOME", str(home))
    res = call(tools["filesystem.read"], {"path": str(outside / "private.txt")}, _ctx(workspace))
    assert not res.success and "outside the workspace" in res.error
    # '~' is an ordinary name inside the workspace, never the home directory
    res = call(tools["filesystem.read"], {"path": "~/.bashrc"}, _ctx(workspace))
    assert not res.success and "HOME FILE" not in str(res.result)
    res = call(tools["filesystem.write"], {"path": "~/.bashrc", "content": "x"}, _ctx(workspace))
    assert res.success and (workspace / "~" / ".bashrc").read_text() == "x"
    assert (home / ".bashrc").read_text() == "HOME FILE"


def test_nul_bytes_and_very_long_names(tools, workspace, call):
    for path in ["a.txt\x00../../etc/passwd", "\x00"]:
        res = call(tools["filesystem.read"], {"path": path}, _ctx(workspace))
        assert not res.success and "NUL" in res.error
    long_name = "n" * 5000
    for name, args in [
        ("filesystem.read", {"path": long_name}),
        ("filesystem.write", {"path": long_name, "content": "x"}),
        ("filesystem.list", {"path": "/".join(["d" * 200] * 40)}),
    ]:
        res = call(tools[name], args, _ctx(workspace))
        assert not res.success and res.error  # one line, no crash


@pytest.mark.skipif(os.name != "posix", reason="uses sh")
@pytest.mark.parametrize("mode", ["none", "auto"])
def test_symlink_made_by_an_earlier_command_is_refused(tools, workspace, outside, call, mode):
    # the model's first call plants the link, its second tries to use it
    plant = call(
        tools["shell.execute"],
        {"command": f"ln -s '{outside}' escape && ln -s '{outside}/private.txt' f.txt"},
        _ctx(workspace, mode),
    )
    assert plant.result["exit_code"] == 0, plant.result
    for path in ("escape/private.txt", "f.txt"):
        res = call(tools["filesystem.read"], {"path": path}, _ctx(workspace))
        assert not res.success and "symlink" in res.error
        res = call(tools["filesystem.write"], {"path": path, "content": "x"}, _ctx(workspace))
        assert not res.success
    assert (outside / "private.txt").read_text() == "do not read\n"


@linux_only
@pytest.mark.parametrize("tool", ["filesystem.read", "filesystem.write"])
def test_directory_swapped_for_a_symlink_after_the_check(
    tools, workspace, outside, call, monkeypatch, tool
):
    """Time of check/time of use: the directory is swapped for a symlink to the
    outside right after the path was checked and before the file is opened
    (done deterministically here, where a racing process would hit it by luck)."""
    import az_tools.filesystem as fs

    real = workspace / "d"
    real.mkdir()
    (real / "private.txt").write_text("inside\n")
    checked = fs.resolve

    def resolve_then_swap(ctx, raw):  # type: ignore[no-untyped-def]
        where = checked(ctx, raw)
        real.rename(workspace / "d-saved")
        real.symlink_to(outside, target_is_directory=True)
        return where

    monkeypatch.setattr(fs, "resolve", resolve_then_swap)
    args = {"path": "d/private.txt"}
    if tool == "filesystem.write":
        args["content"] = "pwned"
    ctx = _ctx(workspace)
    ctx.config.tools.read_before_write = False  # reach the open, past the read check
    res = call(tools[tool], args, ctx)
    assert not res.success and "changed while it was opened" in res.error
    assert (outside / "private.txt").read_text() == "do not read\n"
    assert sorted(p.name for p in outside.iterdir()) == ["private.txt"]  # no temp file left


def test_hard_link_made_outside_az_is_the_file_itself(tools, workspace, outside, call):
    """Documented limit: a hard link is indistinguishable from the file. Only
    something that could write the workspace before (a command without the
    sandbox, the user) can make one; the sandbox cannot (next test)."""
    try:
        os.link(outside / "private.txt", workspace / "hard.txt")
    except OSError as exc:
        pytest.skip(f"no hard links here: {exc}")
    res = call(tools["filesystem.read"], {"path": "hard.txt"}, _ctx(workspace))
    assert res.success and res.result["content"] == "do not read\n"


@pytest.mark.skipif(not BWRAP_OK, reason=f"no usable sandbox: {BWRAP_WHY}")
def test_sandboxed_command_cannot_hard_link_outside_files(tools, workspace, outside, call):
    res = call(
        tools["shell.execute"],
        {"command": f"ln '{outside}/private.txt' hard.txt; ln /etc/hostname host.txt; true"},
        _ctx(workspace, "bubblewrap"),
    )
    assert res.result["sandbox"] == "bubblewrap"
    assert not (workspace / "hard.txt").exists() and not (workspace / "host.txt").exists()
