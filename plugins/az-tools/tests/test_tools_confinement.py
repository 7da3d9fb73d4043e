"""Every path stays inside the workspace.

'..', absolute paths and symlinks leading out are refused.
"""

from __future__ import annotations

import os

import pytest

ESCAPES = ["../outside/private.txt", "sub/../../outside/private.txt", "..", "sub/../.."]


@pytest.mark.parametrize("path", ESCAPES)
def test_dotdot_escapes_are_refused(tools, ctx, call, path):
    for name, args in [
        ("filesystem.read", {"path": path}),
        ("filesystem.list", {"path": path}),
        ("filesystem.write", {"path": path, "content": "pwned"}),
    ]:
        res = call(tools[name], args, ctx)
        assert res.success is False, (name, path)
        assert "outside the workspace" in res.error
        assert "\n" not in res.error


def test_absolute_paths_outside_are_refused_inside_allowed(tools, workspace, outside, ctx, call):
    res = call(tools["filesystem.read"], {"path": str(outside / "private.txt")}, ctx)
    assert not res.success and "outside the workspace" in res.error
    res = call(tools["filesystem.write"], {"path": str(outside / "new.txt"), "content": "x"}, ctx)
    assert not res.success
    assert not (outside / "new.txt").exists()
    res = call(tools["filesystem.read"], {"path": "/etc/hostname"}, ctx)
    assert not res.success and "outside the workspace" in res.error
    res = call(tools["filesystem.read"], {"path": str(workspace / "a.txt")}, ctx)
    assert res.success and res.result["path"] == "a.txt"


def test_symlinks_leading_outside_are_refused(tools, workspace, outside, ctx, call):
    os.symlink(outside / "private.txt", workspace / "leak.txt")
    os.symlink(outside, workspace / "leakdir")
    res = call(tools["filesystem.read"], {"path": "leak.txt"}, ctx)
    assert not res.success and "symlink" in res.error and "outside the workspace" in res.error
    res = call(tools["filesystem.list"], {"path": "leakdir"}, ctx)
    assert not res.success and "symlink" in res.error
    res = call(tools["filesystem.write"], {"path": "leakdir/evil.txt", "content": "x"}, ctx)
    assert not res.success
    assert not (outside / "evil.txt").exists()
    res = call(tools["filesystem.write"], {"path": "leak.txt", "content": "overwritten"}, ctx)
    assert not res.success
    assert (outside / "private.txt").read_text() == "do not read\n"
    # a recursive listing shows the links but never walks into them
    r = call(tools["filesystem.list"], {"recursive": True}, ctx).result
    assert not any(e["name"].startswith("leakdir/") for e in r["entries"])
    assert {e["name"]: e["type"] for e in r["entries"]}["leakdir"] == "symlink"


def test_symlinks_inside_the_workspace_work(tools, workspace, ctx, call):
    os.symlink(workspace / "sub", workspace / "alias")
    res = call(tools["filesystem.read"], {"path": "alias/c.md"}, ctx)
    assert res.success and res.result["content"] == "# title\n"
    assert res.result["path"] == "alias/c.md"


def test_symlink_loop_is_an_error_not_a_crash(tools, workspace, ctx, call):
    os.symlink("loop2", workspace / "loop1")
    os.symlink("loop1", workspace / "loop2")
    res = call(tools["filesystem.read"], {"path": "loop1"}, ctx)
    assert res.success is False and res.error


def test_shell_runs_in_the_workspace(tools, workspace, ctx, call):
    res = call(tools["shell.execute"], {"command": "pwd && ls"}, ctx)
    out = res.result["stdout"].splitlines()
    assert os.path.realpath(out[0]) == os.path.realpath(workspace)
    assert "a.txt" in out


def test_missing_workspace_is_reported(tools, tmp_path, make_ctx, call):
    c = make_ctx(tmp_path / "gone")
    for name, args in [("filesystem.list", {}), ("shell.execute", {"command": "true"})]:
        res = call(tools[name], args, c)
        assert not res.success and "does not exist" in res.error
