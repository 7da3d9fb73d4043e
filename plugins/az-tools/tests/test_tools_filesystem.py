"""filesystem.list / read / write on a real temp workspace."""

from __future__ import annotations

import os

import pytest


def names(result):
    return [e["name"] for e in result["entries"]]


def test_list_defaults_to_the_workspace_and_hides_dotfiles(tools, ctx, call):
    res = call(tools["filesystem.list"], {}, ctx)
    assert res.success, res.error
    r = res.result
    assert r["path"] == "."
    assert names(r) == ["a.txt", "b.py", "sub"]
    assert (r["count"], r["files"], r["dirs"], r["truncated"]) == (3, 2, 1, False)
    by_name = {e["name"]: e for e in r["entries"]}
    assert by_name["a.txt"] == {
        "name": "a.txt",
        "type": "file",
        "size": len("alpha\nbeta\ngamma\n"),
    }
    assert by_name["sub"]["type"] == "dir"
    assert res.duration_ms > 0


def test_list_hidden_recursive_and_symlinks(tools, workspace, ctx, call):
    os.symlink("a.txt", workspace / "link.txt")
    (workspace / ".git").mkdir()
    (workspace / ".git" / "HEAD").write_text("ref\n")
    r = call(tools["filesystem.list"], {"recursive": True}, ctx).result
    assert set(names(r)) == {"a.txt", "b.py", "sub", "sub/c.md", "link.txt"}
    assert {e["name"]: e["type"] for e in r["entries"]}["link.txt"] == "symlink"
    r = call(tools["filesystem.list"], {"recursive": True, "include_hidden": True}, ctx).result
    assert {".hidden", ".git", ".git/HEAD"} <= set(names(r))
    r = call(tools["filesystem.list"], {"path": "sub"}, ctx).result
    assert r["path"] == "sub" and names(r) == ["c.md"]


def test_list_errors_are_one_line_results(tools, ctx, call):
    res = call(tools["filesystem.list"], {"path": "nope"}, ctx)
    assert not res.success
    assert res.error == (
        "filesystem.list: no such directory: 'nope'; "
        "filesystem.list with path '.' shows what is in the workspace"
    )
    res = call(tools["filesystem.list"], {"path": "sub/"}, ctx)
    assert res.success and res.result["path"] == "sub"
    res = call(tools["filesystem.list"], {"path": "a.txt"}, ctx)
    assert not res.success and "is a file" in res.error


def test_list_is_cut_to_the_output_limit(tools, workspace, make_ctx, call):
    for i in range(200):
        (workspace / f"file-{i:03d}.txt").write_text("x")
    r = call(tools["filesystem.list"], {}, make_ctx(workspace, output_limit_bytes=2048)).result
    assert r["truncated"] is True
    assert r["count"] == 203  # every entry is counted ...
    assert 0 < len(r["entries"]) < 203  # ... but only what fits is shown


def test_read_whole_file_and_line_ranges(tools, ctx, call):
    r = call(tools["filesystem.read"], {"path": "a.txt"}, ctx).result
    assert r["content"] == "alpha\nbeta\ngamma\n"
    assert (r["start_line"], r["end_line"], r["total_lines"], r["truncated"]) == (1, 3, 3, False)
    assert r["size"] == 17 and r["encoding"] == "utf-8"
    r = call(
        tools["filesystem.read"], {"path": "a.txt", "start_line": 2, "end_line": 2}, ctx
    ).result
    assert r["content"] == "beta\n" and (r["start_line"], r["end_line"]) == (2, 2)
    assert r["total_lines"] == 3  # a part of the file still says how long the whole is
    r = call(tools["filesystem.read"], {"path": "a.txt", "start_line": 1, "end_line": 1}, ctx)
    assert r.result["total_lines"] == 3
    r = call(tools["filesystem.read"], {"path": "a.txt", "start_line": 3}, ctx).result
    assert r["content"] == "gamma\n"
    res = call(tools["filesystem.read"], {"path": "a.txt", "start_line": 9}, ctx)
    assert not res.success and "past the end" in res.error and "3 lines" in res.error
    res = call(tools["filesystem.read"], {"path": "a.txt", "start_line": 3, "end_line": 2}, ctx)
    assert not res.success and "before start_line" in res.error


def test_read_encodings_and_binary_files(tools, workspace, ctx, call):
    (workspace / "latin.txt").write_bytes("café\n".encode("latin-1"))
    res = call(tools["filesystem.read"], {"path": "latin.txt"}, ctx)
    assert not res.success and "not valid utf-8" in res.error and "latin-1" in res.error
    r = call(tools["filesystem.read"], {"path": "latin.txt", "encoding": "latin-1"}, ctx).result
    assert r["content"] == "café\n" and r["encoding"] == "iso8859-1"
    res = call(tools["filesystem.read"], {"path": "latin.txt", "encoding": "klingon"}, ctx)
    assert not res.success and "unknown encoding 'klingon'" in res.error
    res = call(tools["filesystem.read"], {"path": "sub"}, ctx)
    assert not res.success and "is a directory" in res.error
    res = call(tools["filesystem.read"], {"path": "missing.txt"}, ctx)
    assert not res.success and res.error.startswith("filesystem.read: no such file: 'missing.txt'")
    res = call(tools["filesystem.read"], {"path": "sub/c.txt"}, ctx)
    assert res.error == "filesystem.read: no such file: 'sub/c.txt'; did you mean 'sub/c.md'?"
    res = call(tools["filesystem.read"], {"path": "A.txt"}, ctx)
    assert res.error.endswith("did you mean 'a.txt'?")


def test_read_truncates_with_a_note_saying_where_to_continue(tools, workspace, make_ctx, call):
    lines = [f"line {i:04d} " + "x" * 40 + "\n" for i in range(1, 501)]
    (workspace / "big.txt").write_text("".join(lines))
    r = call(
        tools["filesystem.read"], {"path": "big.txt"}, make_ctx(workspace, output_limit_bytes=1024)
    ).result
    assert r["truncated"] is True and r["total_lines"] == 500
    shown = r["end_line"]
    assert 10 < shown < 30
    assert r["content"].startswith(lines[0])
    assert f"continue with start_line={shown + 1}" in r["content"]
    assert len(r["content"].encode()) < 1024 + 200
    # a single line longer than the limit still shows its start
    (workspace / "one.json").write_text("[" + "1," * 5000 + "1]")
    r = call(
        tools["filesystem.read"], {"path": "one.json"}, make_ctx(workspace, output_limit_bytes=512)
    ).result
    assert r["truncated"] and r["content"].startswith("[1,1,")


def test_write_creates_overwrites_and_appends(tools, workspace, ctx, call):
    w = tools["filesystem.write"]
    res = call(w, {"path": "notes/todo.txt", "content": "one\n"}, ctx)
    assert res.success, res.error
    assert res.result == {
        "path": "notes/todo.txt",
        "bytes_written": 4,
        "size": 4,
        "created": True,
        "append": False,
    }
    assert (workspace / "notes" / "todo.txt").read_text() == "one\n"
    res = call(w, {"path": "notes/todo.txt", "content": "two\n", "append": True}, ctx)
    assert res.result["size"] == 8 and res.result["created"] is False
    assert (workspace / "notes" / "todo.txt").read_text() == "one\ntwo\n"
    os.chmod(workspace / "b.py", 0o751)
    assert call(tools["filesystem.read"], {"path": "b.py"}, ctx).success  # read before replacing
    res = call(w, {"path": "b.py", "content": "print('é')\n"}, ctx)
    assert res.result["bytes_written"] == len("print('é')\n".encode())
    assert (workspace / "b.py").read_text(encoding="utf-8") == "print('é')\n"
    assert (workspace / "b.py").stat().st_mode & 0o777 == 0o751  # overwrite keeps the mode
    assert not [p for p in os.listdir(workspace) if p.endswith(".az-tmp")]
    # what was written reads back through filesystem.read
    assert call(tools["filesystem.read"], {"path": "b.py"}, ctx).result["content"] == "print('é')\n"


def test_write_errors(tools, workspace, ctx, call):
    w = tools["filesystem.write"]
    res = call(w, {"path": "sub", "content": "x"}, ctx)
    assert not res.success and "is a directory" in res.error
    res = call(w, {"path": ".", "content": "x"}, ctx)
    assert not res.success and "not the workspace itself" in res.error
    res = call(w, {"path": "a.txt/inner", "content": "x"}, ctx)
    assert not res.success and "a.txt/inner" in res.error
    res = call(w, {"path": "x.txt", "content": "日本", "encoding": "ascii"}, ctx)
    assert not res.success and "cannot be written as ascii" in res.error
    assert not (workspace / "x.txt").exists()


def test_write_describe_call_shows_path_and_byte_count(tools):
    w = tools["filesystem.write"]
    text = w.describe_call({"path": "out/x.txt", "content": "héllo"})
    assert "'out/x.txt'" in text and "6 bytes" in text and "replacing" in text
    text = w.describe_call({"path": "log.txt", "content": "ab", "append": True})
    assert text.startswith("filesystem.write: append 2 bytes to 'log.txt'")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_refused_instead_of_blocking(tools, workspace, ctx, call):
    os.mkfifo(workspace / "pipe")
    res = call(tools["filesystem.read"], {"path": "pipe"}, ctx)
    assert not res.success and "not a regular file" in res.error
    res = call(tools["filesystem.write"], {"path": "pipe", "content": "x"}, ctx)
    assert not res.success and "not a regular file" in res.error


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file modes")
def test_unreadable_file_is_a_clear_error(tools, workspace, ctx, call):
    p = workspace / "locked.txt"
    p.write_text("x")
    p.chmod(0)
    res = call(tools["filesystem.read"], {"path": "locked.txt"}, ctx)
    assert not res.success and "permission denied: 'locked.txt'" in res.error


def test_read_of_a_huge_file_without_newlines_stays_small_in_memory(tools, workspace, ctx, call):
    """A 40 MB file with no newline: the model gets the first 16 KB, and the
    read never holds the whole line (it used to peak at twice the file size)."""
    import tracemalloc

    with open(workspace / "blob.txt", "w") as f:
        for _ in range(40):
            f.write("y" * 2**20)
        f.write("\nsecond line\n")
    tracemalloc.start()
    try:
        r = call(tools["filesystem.read"], {"path": "blob.txt"}, ctx)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.success, r.error
    assert r.result["truncated"] is True and r.result["content"].startswith("yyyy")
    assert len(r.result["content"].encode()) < 16384 + 300
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB while reading"
    # the line count after a long line is still right
    r = call(tools["filesystem.read"], {"path": "blob.txt", "start_line": 2}, ctx)
    assert r.result["content"] == "second line\n" and r.result["total_lines"] == 2


def test_write_refuses_content_over_the_size_cap(tools, workspace, make_ctx, call):
    ctx = make_ctx(workspace, max_write_bytes=1000)
    r = call(tools["filesystem.write"], {"path": "big.txt", "content": "z" * 1001}, ctx)
    assert not r.success
    assert "tools.max_write_bytes" in r.error and "1,001 bytes" in r.error
    assert not (workspace / "big.txt").exists()
    r = call(tools["filesystem.write"], {"path": "ok.txt", "content": "z" * 1000}, ctx)
    assert r.success and (workspace / "ok.txt").stat().st_size == 1000


def test_write_replaces_a_file_only_after_the_task_has_read_it(tools, workspace, make_ctx, call):
    w, r = tools["filesystem.write"], tools["filesystem.read"]
    ctx = make_ctx(workspace)
    res = call(w, {"path": "a.txt", "content": "gone\n"}, ctx)
    assert not res.success
    assert "'a.txt' already exists (17 bytes) and this task has not read it" in res.error
    assert "append" in res.error  # the way to add without reading
    assert (workspace / "a.txt").read_text() == "alpha\nbeta\ngamma\n"
    # appending keeps what is there: allowed without a read
    assert call(w, {"path": "a.txt", "content": "delta\n", "append": True}, ctx).success
    # another task's read does not count for this one
    other = make_ctx(workspace)
    other.task_id = "t-other"
    assert call(r, {"path": "a.txt"}, other).success
    assert not call(w, {"path": "a.txt", "content": "x\n"}, ctx).success
    # after this task reads it: replaced, and written again without a new read
    assert call(r, {"path": "a.txt", "start_line": 2, "end_line": 2}, ctx).success
    assert call(w, {"path": "a.txt", "content": "one\n"}, ctx).success
    assert call(w, {"path": "a.txt", "content": "two\n"}, ctx).success
    assert (workspace / "a.txt").read_text() == "two\n"
    # changed by someone else since: refused until read again
    (workspace / "a.txt").write_text("edited by the user\n")
    res = call(w, {"path": "a.txt", "content": "three\n"}, ctx)
    assert not res.success and "changed since this task read it" in res.error
    assert (workspace / "a.txt").read_text() == "edited by the user\n"
    assert call(r, {"path": "a.txt"}, ctx).success
    assert call(w, {"path": "a.txt", "content": "three\n"}, ctx).success
    # new files and empty files need no read
    assert call(w, {"path": "new.txt", "content": "n\n"}, ctx).success
    (workspace / "empty.txt").write_text("")
    assert call(w, {"path": "empty.txt", "content": "e\n"}, ctx).success


def test_read_before_write_is_off_by_config_and_for_calls_outside_a_task(
    tools, workspace, make_ctx, call
):
    w = tools["filesystem.write"]
    off = make_ctx(workspace, read_before_write=False)
    assert call(w, {"path": "a.txt", "content": "1\n"}, off).success
    no_task = make_ctx(workspace)
    no_task.task_id = None  # az mcp serve: an MCP client runs the tool directly
    assert call(w, {"path": "b.py", "content": "2\n"}, no_task).success
    assert (workspace / "a.txt").read_text() == "1\n" and (workspace / "b.py").read_text() == "2\n"
