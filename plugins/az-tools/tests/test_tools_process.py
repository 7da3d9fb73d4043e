"""process.list finds real processes by name and user."""

from __future__ import annotations

import getpass
import shutil
import subprocess

import psutil
import pytest


@pytest.fixture
def sleeper():
    exe = shutil.which("sleep")
    if exe is None:
        pytest.skip("no sleep executable")
    proc = subprocess.Popen([exe, "317"])
    yield proc
    proc.kill()
    proc.wait()


def test_finds_our_child_by_name(tools, ctx, call, sleeper):
    res = call(tools["process.list"], {"filter": "SLEEP"}, ctx)  # case-insensitive
    assert res.success, res.error
    rows = {p["pid"]: p for p in res.result["processes"]}
    assert sleeper.pid in rows
    row = rows[sleeper.pid]
    assert row["name"] == "sleep" and row["cmdline"].endswith("sleep 317")
    assert row["ppid"] == psutil.Process().pid
    assert row["memory_rss_bytes"] > 0 and row["started_at"].endswith("+00:00")
    assert all("sleep" in p["name"].lower() for p in res.result["processes"])
    assert res.result["count"] == len(res.result["processes"])


def test_user_filter(tools, ctx, call, sleeper):
    me = psutil.Process().username()
    res = call(tools["process.list"], {"filter": "sleep", "user": me}, ctx)
    assert sleeper.pid in {p["pid"] for p in res.result["processes"]}
    assert all(p["user"] == me for p in res.result["processes"])
    res = call(tools["process.list"], {"user": "no-such-user-az"}, ctx)
    assert res.success and res.result == {"processes": [], "count": 0, "truncated": False}
    assert getpass.getuser()  # sanity: the test knows who it runs as


def test_unfiltered_list_fits_the_output_limit(tools, workspace, make_ctx, call):
    res = call(tools["process.list"], {}, make_ctx(workspace, output_limit_bytes=2048))
    r = res.result
    assert r["count"] >= len(r["processes"]) >= 1
    if r["count"] > len(r["processes"]):
        assert r["truncated"] is True
    pids = [p["pid"] for p in r["processes"]]
    assert pids == sorted(pids)
