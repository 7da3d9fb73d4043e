"""filesystem.search on a real temp workspace: what grep -rn would find,
confined to the workspace, bounded in time and output."""

from __future__ import annotations

import os
import time

import pytest


def test_finds_which_file_holds_a_word_with_line_numbers(tools, workspace, ctx, call):
    (workspace / "notes").mkdir()
    (workspace / "notes" / "ops.md").write_text("# Ops\nkeep calm\nTODO: rotate the keys\n")
    (workspace / "notes" / "ideas.md").write_text("# Ideas\nA faster parser.\n")
    res = call(tools["filesystem.search"], {"pattern": "TODO"}, ctx)
    assert res.success, res.error
    r = res.result
    assert r["matches"] == [{"path": "notes/ops.md", "line": 3, "text": "TODO: rotate the keys"}]
    assert r["files"] == ["notes/ops.md"] and r["count"] == 1 and r["truncated"] is False
    assert r["named"] == [] and "note" not in r


def test_a_file_name_that_no_line_contains_is_named(tools, workspace, ctx, call):
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    r = call(tools["filesystem.search"], {"pattern": "calc.py"}, ctx).result
    assert r["count"] == 0 and r["named"] == ["calc.py"]
    assert "file name" in r["note"] and "filesystem.read" in r["note"]
    r = call(tools["filesystem.search"], {"pattern": "add"}, ctx).result
    assert r["files"] == ["calc.py"] and r["named"] == [] and "note" not in r


def test_every_matching_line_once_with_the_right_number(tools, workspace, ctx, call):
    (workspace / "m.txt").write_text("x\nab ab\n\nno\nab\nlast ab")
    r = call(tools["filesystem.search"], {"pattern": "ab", "path": "m.txt"}, ctx).result
    assert [(m["line"], m["text"]) for m in r["matches"]] == [
        (2, "ab ab"),
        (5, "ab"),
        (6, "last ab"),
    ]
    assert r["path"] == "m.txt"


def test_literal_by_default_regex_and_case_on_request(tools, workspace, ctx, call):
    (workspace / "src").mkdir()
    (workspace / "src" / "core.py").write_text("def squeeze(x):\n    return x.strip()\n")
    (workspace / "src" / "io.py").write_text("from .core import squeeze\nPrice = 1.5\n")
    search = tools["filesystem.search"]
    # '.' is a plain dot unless regex is true
    assert call(search, {"pattern": "x.strip"}, ctx).result["count"] == 1
    assert call(search, {"pattern": "1.5"}, ctx).result["files"] == ["src/io.py"]
    r = call(search, {"pattern": r"^def squeeze\b", "regex": True}, ctx).result
    assert [(m["path"], m["line"]) for m in r["matches"]] == [("src/core.py", 1)]
    assert call(search, {"pattern": "price"}, ctx).result["count"] == 0
    assert call(search, {"pattern": "price", "ignore_case": True}, ctx).result["count"] == 1
    r = call(search, {"pattern": "squeeze", "glob": "*core.py"}, ctx).result
    assert r["files"] == ["src/core.py"]
    res = call(search, {"pattern": "(unclosed", "regex": True}, ctx)
    assert not res.success and "invalid regular expression" in res.error


def test_skips_hidden_binary_huge_and_outside_files(tools, workspace, outside, ctx, call):
    from az_tools import search

    (workspace / ".git").mkdir()
    (workspace / ".git" / "config").write_text("needle\n")
    (workspace / "blob.bin").write_bytes(b"needle\x00\x01")
    (workspace / "huge.txt").write_bytes(b"needle\n" + b"z" * search.MAX_FILE_BYTES)
    os.symlink(outside / "private.txt", workspace / "leak.txt")
    os.symlink(outside, workspace / "outdir")
    (outside / "private.txt").write_text("needle\n")
    (workspace / "ok.txt").write_text("a needle here\n")
    tool = tools["filesystem.search"]
    r = call(tool, {"pattern": "needle"}, ctx).result
    assert r["files"] == ["ok.txt"]
    assert r["skipped_files"] == 2  # the binary and the huge file
    r = call(tool, {"pattern": "needle", "include_hidden": True}, ctx).result
    assert r["files"] == ["ok.txt", ".git/config"]  # a directory's files, then its subdirectories
    res = call(tool, {"pattern": "needle", "path": "outdir"}, ctx)
    assert not res.success and "outside the workspace" in res.error
    res = call(tool, {"pattern": "needle", "path": "nowhere"}, ctx)
    assert not res.success and "no such file or directory: 'nowhere'" in res.error


def test_results_are_capped_by_count_and_by_output_size(tools, workspace, make_ctx, call):
    (workspace / "many.txt").write_text("hit " + "w" * 300 + "\n" + "hit\n" * 500)
    tool = tools["filesystem.search"]
    r = call(tool, {"pattern": "hit", "max_results": 5}, make_ctx(workspace)).result
    assert r["count"] == 5 and len(r["matches"]) == 5 and r["truncated"] is True
    assert r["matches"][0]["text"].endswith("…") and len(r["matches"][0]["text"]) == 201
    r = call(tool, {"pattern": "hit"}, make_ctx(workspace, output_limit_bytes=1024)).result
    assert r["truncated"] is True and r["count"] == 100
    assert 0 < len(r["matches"]) < 100


@pytest.mark.slow
def test_a_catastrophic_regex_stops_at_the_time_limit(tools, workspace, ctx, call, monkeypatch):
    from az_tools import search

    monkeypatch.setattr(search, "SEARCH_SECONDS", 1.0)
    (workspace / "evil.txt").write_text("a" * 40 + "!\n")
    start = time.monotonic()
    res = call(tools["filesystem.search"], {"pattern": "(a|aa)+$", "regex": True}, ctx)
    assert time.monotonic() - start < 10
    assert res.success, res.error
    assert res.result["truncated"] is True and "too slow" in res.result["note"]
