"""git.log reads a real repository's history as JSON, and only the workspace's own."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

ID = ["-c", "user.name=Ada", "-c", "user.email=ada@example.org"]


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *ID, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout
    return out.strip()


@pytest.fixture
def repo(workspace: Path) -> Path:
    git(workspace, "init", "-q", "-b", "trunk")
    git(workspace, "add", "a.txt")
    git(workspace, "commit", "-qm", "Add the alphabet")
    git(workspace, "add", "b.py")
    git(workspace, "commit", "-qm", "Say hi\n\nThe greeting the demo needs.")
    git(workspace, "commit", "-q", "--allow-empty", "-m", "Release 1.0")
    return workspace


def test_branch_count_and_latest_commits_newest_first(tools, repo, ctx, call):
    res = call(tools["git.log"], {}, ctx)
    assert res.success, res.error
    out = res.result
    assert out["branch"] == "trunk" and out["commit_count"] == 3 and out["truncated"] is False
    assert [c["subject"] for c in out["commits"]] == ["Release 1.0", "Say hi", "Add the alphabet"]
    latest, with_body = out["commits"][0], out["commits"][1]
    assert latest["hash"] == git(repo, "rev-parse", "--short", "HEAD")
    assert latest["author"] == "Ada" and latest["date"][:4].isdigit()
    assert "body" not in latest and with_body["body"] == "The greeting the demo needs."


def test_max_count_and_path_narrow_the_history(tools, repo, ctx, call):
    log = tools["git.log"]
    one = call(log, {"max_count": 1}, ctx).result
    assert [c["subject"] for c in one["commits"]] == ["Release 1.0"]
    assert one["commit_count"] == 3  # the count is the whole history, not the shown part
    by_path = call(log, {"path": "b.py"}, ctx).result
    assert by_path["commit_count"] == 1 and by_path["commits"][0]["subject"] == "Say hi"
    # "." is the workspace itself: the whole history, empty commits included
    assert call(log, {"path": "."}, ctx).result["commit_count"] == 3
    res = call(log, {"path": "../elsewhere"}, ctx)
    assert not res.success and "outside the workspace" in res.error


def test_new_repository_and_detached_head(tools, workspace, repo, ctx, call):
    first = git(repo, "rev-list", "--max-parents=0", "HEAD")
    git(repo, "checkout", "-q", "--detach", first)
    out = call(tools["git.log"], {}, ctx).result
    assert out["branch"] is None and out["commit_count"] == 1
    fresh = workspace / "sub"
    git(fresh, "init", "-q", "-b", "main")
    sub_ctx = type(ctx)(workspace=fresh, task_id="t-test", config=ctx.config)
    out = call(tools["git.log"], {}, sub_ctx).result
    assert out == {"branch": "main", "commit_count": 0, "commits": [], "truncated": False}


def test_only_a_repository_at_the_workspace_top_is_read(tools, repo, workspace, ctx, call):
    inner = type(ctx)(workspace=workspace / "sub", task_id="t-test", config=ctx.config)
    res = call(tools["git.log"], {}, inner)
    assert not res.success and "not a git repository" in res.error
    shutil.rmtree(repo / ".git")
    res = call(tools["git.log"], {}, ctx)
    assert not res.success and "git init" in res.error


def test_the_callers_git_environment_does_not_redirect_it(
    tools, repo, tmp_path, ctx, call, monkeypatch
):
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "elsewhere")
    git(other, "commit", "-q", "--allow-empty", "-m", "Not this one")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    out = call(tools["git.log"], {"max_count": 1}, ctx).result
    assert out["branch"] == "trunk" and out["commits"][0]["subject"] == "Release 1.0"


def test_repository_config_runs_no_program(tools, repo, tmp_path, ctx, call):
    """A cloned repository's .git/config can name programs for git to run:
    a signature checker that log.showSignature calls on a signed commit, an
    fsmonitor hook. git.log is read-only and must run none of them."""
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\necho ran >> {marker}\nexit 1\n")
    evil.chmod(0o755)
    tree = git(repo, "rev-parse", "HEAD^{tree}")
    head = git(repo, "rev-parse", "HEAD")
    signed = (
        f"tree {tree}\nparent {head}\nauthor Ada <ada@example.org> 1700000000 +0000\n"
        "committer Ada <ada@example.org> 1700000000 +0000\n"
        "gpgsig -----BEGIN PGP SIGNATURE-----\n \n AAAA\n -----END PGP SIGNATURE-----\n"
        "\nSigned release\n"
    )
    (tmp_path / "commit.txt").write_text(signed)
    sha = git(repo, "hash-object", "-t", "commit", "-w", str(tmp_path / "commit.txt"))
    git(repo, "update-ref", "HEAD", sha)
    git(repo, "config", "log.showSignature", "true")
    git(repo, "config", "gpg.program", str(evil))
    git(repo, "config", "core.fsmonitor", str(evil))
    # the setup is live: plain git runs the program
    subprocess.run(
        ["git", "log", "-n1", "--format=%s"],
        cwd=repo,
        capture_output=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    )
    assert marker.exists()
    marker.unlink()
    res = call(tools["git.log"], {"max_count": 1}, ctx)
    assert res.success, res.error
    assert res.result["commits"][0]["subject"] == "Signed release"
    assert not marker.exists()
