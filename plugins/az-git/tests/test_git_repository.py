"""GitRepository (the brief's Python API) on real repositories in temp dirs."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from az_git import GitRepository
from az_git.repository import GitError
from az_os.errors import NotFoundError, UsageError
from gitfixtures import git, requires_stack


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_init_commit_branch_checkout_log(az_home: Path, tmp_path: Path) -> None:
    repo = GitRepository(checkpoint=False)
    ws = tmp_path / "project"
    assert run(repo.init(str(ws))) is True
    assert run(repo.init(str(ws))) is False and repo.path == ws.resolve()
    assert run(repo.get_log()) == []
    (ws / "a.txt").write_text("one\n")
    (ws / "b.txt").write_text("b\n")
    first = run(repo.commit("add a", files=["a.txt"]))
    assert re.fullmatch(r"[0-9a-f]{40}", first)
    assert git(ws, "ls-files").split() == ["a.txt"]  # only the file asked for
    second = run(repo.commit("everything else"))
    assert git(ws, "ls-files").split() == ["a.txt", "b.txt"]
    with pytest.raises(GitError, match="nothing to commit"):
        run(repo.commit("again"))
    log = run(repo.get_log(limit=5))
    assert [c["sha"] for c in log] == [second, first]
    assert log[0]["summary"] == "everything else" and log[0]["parents"] == [first]
    assert log[1]["date"].endswith("Z") and log[1]["author"]
    assert [c["sha"] for c in run(repo.get_log(limit=1))] == [second]

    assert run(repo.create_branch("feature")) is True
    assert run(repo.create_branch("feature")) is False
    assert run(repo.checkout("feature")) is True
    assert git(ws, "branch", "--show-current").strip() == "feature"
    (ws / "a.txt").write_text("feature\n")
    run(repo.commit("change a on feature"))
    main = git(ws, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
    base = next(b for b in main if b != "feature")
    assert run(repo.checkout(base)) is True and (ws / "a.txt").read_text() == "one\n"
    assert run(repo.checkout("no-such-branch")) is False


def test_bad_input_and_refusals(az_home: Path, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="not in a git repository"):
        run(GitRepository(tmp_path, checkpoint=False).get_log())
    repo = GitRepository(checkpoint=False)
    run(repo.init(str(tmp_path / "r")))
    ws = repo.path
    with pytest.raises(GitError, match="no commit yet"):
        run(repo.create_branch("x"))
    with pytest.raises(UsageError, match="commit message"):
        run(repo.commit("  "))
    with pytest.raises(UsageError, match="outside the repository"):
        run(repo.commit("m", files=["../escape.txt"]))
    with pytest.raises(NotFoundError, match="no file 'ghost.txt'"):
        run(repo.commit("m", files=["ghost.txt"]))
    (ws / "f.txt").write_text("1\n")
    run(repo.commit("f"))
    with pytest.raises(UsageError, match="not a valid branch name"):
        run(repo.create_branch("bad..name"))
    run(repo.create_branch("other"))
    (ws / "f.txt").write_text("on other\n")
    run(repo.checkout("other"))  # an uncommitted change carries over when it can
    run(repo.commit("f on other"))
    base = [b for b in git(ws, "branch", "--format=%(refname:short)").split() if b != "other"][0]
    (ws / "f.txt").write_text("uncommitted\n")
    with pytest.raises(GitError, match="overwritten|local changes"):
        run(repo.checkout(base))
    assert (ws / "f.txt").read_text() == "uncommitted\n"


@requires_stack
def test_checkout_takes_a_checkpoint_first(az_home: Path, tmp_path: Path) -> None:
    from az_git.manager import Checkpoints

    repo = GitRepository()
    run(repo.init(str(tmp_path / "w")))
    ws = repo.path
    (ws / "f.txt").write_text("base\n")
    run(repo.commit("base"))
    run(repo.create_branch("side"))
    run(repo.checkout("side"))
    (ws / "f.txt").write_text("side\n")
    run(repo.commit("side"))
    (ws / "notes.txt").write_text("work in progress\n")  # never committed
    base = [b for b in git(ws, "branch", "--format=%(refname:short)").split() if b != "side"][0]
    assert run(repo.checkout(base)) is True
    assert (ws / "f.txt").read_text() == "base\n"
    # the work tree as it was on 'side' is a checkpoint: az can put it back
    cp = Checkpoints().list(workspace=ws)[0]
    assert cp.name == "pre-checkout"
    (ws / "notes.txt").unlink()
    Checkpoints().restore(cp, force=True)
    assert (ws / "f.txt").read_text() == "side\n"
    assert (ws / "notes.txt").read_text() == "work in progress\n"
