"""filesystem.copy copies one workspace file byte for byte and never replaces by surprise."""

from __future__ import annotations

import os
import stat

import pytest


def test_copy_makes_an_identical_file_and_keeps_its_mode(tools, workspace, ctx, call):
    script = workspace / "run.sh"
    script.write_bytes(b"#!/bin/sh\necho caf\xc3\xa9\n\x00raw")
    script.chmod(0o755)
    res = call(tools["filesystem.copy"], {"path": "run.sh", "destination": "bin/run.sh"}, ctx)
    assert res.success, res.error
    assert res.result == {
        "path": "run.sh",
        "destination": "bin/run.sh",
        "bytes_copied": script.stat().st_size,
        "created": True,
    }
    copy = workspace / "bin" / "run.sh"  # the missing parent was made
    assert copy.read_bytes() == script.read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o755
    assert script.read_bytes().endswith(b"raw")  # the source is untouched


def test_copy_into_a_directory_keeps_the_name(tools, workspace, ctx, call):
    res = call(tools["filesystem.copy"], {"path": "a.txt", "destination": "sub"}, ctx)
    assert res.success, res.error
    assert res.result["destination"] == "sub/a.txt"
    assert (workspace / "sub" / "a.txt").read_text() == "alpha\nbeta\ngamma\n"


def test_copy_replaces_only_with_overwrite_and_after_a_read(tools, workspace, ctx, call):
    cp, r = tools["filesystem.copy"], tools["filesystem.read"]
    res = call(cp, {"path": "a.txt", "destination": "b.py"}, ctx)
    assert not res.success and "'b.py' already exists" in res.error and "overwrite" in res.error
    assert (workspace / "b.py").read_text() == "print('hi')\n"
    # overwrite inside a task still needs the destination read first (read-before-write)
    res = call(cp, {"path": "a.txt", "destination": "b.py", "overwrite": True}, ctx)
    assert not res.success and "has not read it" in res.error
    assert call(r, {"path": "b.py"}, ctx).success
    res = call(cp, {"path": "a.txt", "destination": "b.py", "overwrite": True}, ctx)
    assert res.success and res.result["created"] is False
    assert (workspace / "b.py").read_text() == "alpha\nbeta\ngamma\n"
    # the copy's text was never shown to the task: replacing it needs a read
    res = call(tools["filesystem.write"], {"path": "b.py", "content": "x\n"}, ctx)
    assert not res.success and "changed since this task read it" in res.error


def test_copy_errors_name_the_problem(tools, workspace, ctx, call):
    cp = tools["filesystem.copy"]
    cases = {
        ("nope.txt", "x.txt"): "no such file: 'nope.txt'",
        ("sub", "copy"): "is a directory",
        ("a.txt", "a.txt"): "are the same file",
        ("a.txt", "./sub/../a.txt"): "are the same file",
        ("a.txt", "a.txt/inner"): "is a file, not a directory",
    }
    for (src, dst), message in cases.items():
        res = call(cp, {"path": src, "destination": dst}, ctx)
        assert not res.success and message in res.error, (src, dst, res.error)
    assert sorted(p.name for p in workspace.iterdir()) == [".hidden", "a.txt", "b.py", "sub"]


def test_copy_stays_inside_the_workspace(tools, workspace, outside, ctx, call):
    cp = tools["filesystem.copy"]
    res = call(cp, {"path": str(outside / "private.txt"), "destination": "stolen.txt"}, ctx)
    assert not res.success and "outside the workspace" in res.error
    res = call(cp, {"path": "a.txt", "destination": "../outside/dropped.txt"}, ctx)
    assert not res.success and "outside the workspace" in res.error
    os.symlink(outside / "private.txt", workspace / "leak.txt")
    res = call(cp, {"path": "leak.txt", "destination": "stolen.txt"}, ctx)
    assert not res.success and "symlink" in res.error
    os.symlink(outside, workspace / "outdir")
    res = call(cp, {"path": "a.txt", "destination": "outdir"}, ctx)
    assert not res.success and "symlink" in res.error
    assert not (workspace / "stolen.txt").exists()
    assert sorted(p.name for p in outside.iterdir()) == ["private.txt"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_describe_call_says_what_is_copied(tools, overwrite):
    line = tools["filesystem.copy"].describe_call(
        {"path": "a.txt", "destination": "b.txt", "overwrite": overwrite}
    )
    assert line.startswith("filesystem.copy: copy 'a.txt' to 'b.txt'")
    assert ("replacing" in line) is overwrite
