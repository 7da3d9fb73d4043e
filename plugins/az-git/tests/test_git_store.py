"""The checkpoint store on real repositories: what a snapshot holds, what a
restore does, and that the user's own git state is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from az_git.store import ExternalChangesError, StoreError, WorkspaceStore, store_path
from gitfixtures import BINARY, git, git_dir_bytes, make_dirty_repo, tree_state


def files_in(store: WorkspaceStore, commit: str) -> list[str]:
    out = store._run("ls-tree", "-r", "--name-only", "--full-tree", commit)
    return sorted(out.splitlines())


def agent_edits(ws: Path) -> None:
    """What a task might do: change, create, delete, retarget, chmod."""
    (ws / "b.txt").write_text("beta by the agent\n")
    (ws / "data.bin").write_bytes(BINARY[::-1])
    (ws / "created.txt").write_text("new file\n")
    (ws / "pkg").mkdir()
    (ws / "pkg" / "mod.py").write_text("x = 1\n")
    (ws / "src" / "main.py").unlink()
    os.unlink(ws / "link")
    os.symlink("b.txt", ws / "link")
    (ws / "run.sh").chmod(0o644)


def test_dirty_repo_snapshot_and_restore_leave_the_users_git_state_byte_identical(
    tmp_path: Path,
) -> None:
    repo = make_dirty_repo(tmp_path)
    before_git = git_dir_bytes(repo)
    before_files = tree_state(repo)
    store = WorkspaceStore(repo, tmp_path / "home")

    snap = store.snapshot("cp1", {"name": "auto"})
    held = files_in(store, snap.commit)
    # staged, unstaged, untracked, binary, executable, symlink: all there
    assert held == [
        ".gitignore",
        "a.txt",
        "b.txt",
        "data.bin",
        "link",
        "new.txt",
        "run.sh",
        "src/main.py",
    ]
    # ignored by .gitignore (file and directory) and by the user's info/exclude: left out
    assert "debug.log" not in held and "secret.txt" not in held
    assert not any(p.startswith("build/") for p in held)
    assert store._run("cat-file", "-p", f"{snap.commit}:a.txt") == "alpha staged"
    assert store._run("cat-file", "-p", f"{snap.commit}:b.txt") == "beta unstaged"

    agent_edits(repo)
    (repo / "debug.log").write_text("the log grew\n")
    store.snapshot("cp2", {"name": "auto"})
    assert tree_state(repo) != before_files

    pre, done = store.restore(snap.commit, "pre")
    after = tree_state(repo)
    # ignored files are never touched by a restore (debug.log keeps its new text)
    expected = dict(before_files)
    expected["debug.log"] = ("file", b"the log grew\n", False)
    assert after == expected
    assert {p: s for s, p in done}["created.txt"] == "D"
    assert not (repo / "pkg").exists()  # a directory the agent made is gone with its files
    assert os.readlink(repo / "link") == "a.txt"
    assert os.access(repo / "run.sh", os.X_OK)
    assert (repo / "data.bin").read_bytes() == BINARY
    # the user's HEAD, branches, index, stash, reflogs, objects, config: byte for byte
    assert git_dir_bytes(repo) == before_git
    assert "stash@{0}" in git(repo, "stash", "list")
    assert git(repo, "diff", "--cached", "--name-only") == "a.txt\n"
    assert pre.commit != snap.commit  # the state before the restore is kept


def test_restore_can_itself_be_undone(tmp_path: Path) -> None:
    ws = tmp_path / "plain"
    ws.mkdir()
    (ws / "f.txt").write_text("one\n")
    store = WorkspaceStore(ws, tmp_path / "home")
    first = store.snapshot("a")
    (ws / "f.txt").write_text("two\n")
    (ws / "g.txt").write_text("g\n")
    store.snapshot("b")
    state_b = tree_state(ws)
    pre, _ = store.restore(first.commit, "pre")
    assert tree_state(ws) == {"f.txt": ("file", b"one\n", False)}
    store.restore(pre.commit, "pre2")
    assert tree_state(ws) == state_b


def test_a_directory_that_is_not_a_repository(tmp_path: Path) -> None:
    ws = tmp_path / "notes"
    (ws / "deep" / "er").mkdir(parents=True)
    (ws / "deep" / "er" / "x.md").write_text("x\n")
    (ws / ".gitignore").write_text("*.tmp\n")
    (ws / "scratch.tmp").write_text("ignored\n")
    store = WorkspaceStore(ws, tmp_path / "home")
    snap = store.snapshot("a")
    assert files_in(store, snap.commit) == [".gitignore", "deep/er/x.md"]
    assert not (ws / ".git").exists()  # no repository appears in the user's directory
    (ws / "deep" / "er" / "x.md").unlink()
    store.snapshot("b")
    store.restore(snap.commit, "pre")
    assert (ws / "deep" / "er" / "x.md").read_text() == "x\n"
    assert (ws / "scratch.tmp").exists()


def test_a_subdirectory_of_a_repository(tmp_path: Path) -> None:
    repo = make_dirty_repo(tmp_path)
    (repo / ".gitignore").write_text("*.log\nbuild/\nsrc/*.gen\n")
    (repo / "src" / "code.gen").write_text("ignored by a rule in the repository root\n")
    (repo / "src" / "debug.log").write_text("ignored\n")
    (repo / "src" / "secret.txt").write_text("ignored by info/exclude\n")
    before_git = git_dir_bytes(repo)
    ws = repo / "src"
    store = WorkspaceStore(ws, tmp_path / "home")
    outside = tree_state(repo)
    snap = store.snapshot("a")
    # only the workspace, with the root's .gitignore and info/exclude applied
    assert files_in(store, snap.commit) == ["src/main.py"]
    assert store.changes(snap.commit) == []
    (ws / "main.py").write_text("changed\n")
    (ws / "added.py").write_text("added\n")
    (repo / "a.txt").write_text("outside the workspace\n")
    assert sorted(store.changes(snap.commit)) == [("A", "added.py"), ("M", "main.py")]
    store.snapshot("b")
    store.restore(snap.commit, "pre")
    now = tree_state(repo)
    assert now["src/main.py"] == outside["src/main.py"]
    assert "src/added.py" not in now
    assert now["a.txt"] == ("file", b"outside the workspace\n", False)  # outside: untouched
    assert git_dir_bytes(repo) == before_git


def test_files_over_the_size_cap_are_left_out_listed_and_never_deleted(tmp_path: Path) -> None:
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "small.txt").write_text("s\n")
    (ws / "grows.bin").write_bytes(b"x" * 10)
    store = WorkspaceStore(ws, tmp_path / "home", max_file_bytes=1000)
    first = store.snapshot("a")
    assert first.left_out == []
    (ws / "huge.bin").write_bytes(b"h" * 5000)
    (ws / "grows.bin").write_bytes(b"x" * 2000)  # was in the index, now over the cap
    second = store.snapshot("b")
    assert second.left_out == [("grows.bin", 2000), ("huge.bin", 5000)]
    assert files_in(store, second.commit) == ["small.txt"]
    assert store.metadata(second.commit)["left_out"] == [["grows.bin", 2000], ["huge.bin", 5000]]
    store.restore(first.commit, "pre")
    assert (ws / "huge.bin").stat().st_size == 5000  # never removed by a restore


def test_outside_changes_stop_a_restore_with_a_diff_unless_forced(tmp_path: Path) -> None:
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "f.txt").write_text("v1\n")
    store = WorkspaceStore(ws, tmp_path / "home")
    first = store.snapshot("a")
    (ws / "f.txt").write_text("v2 by az\n")
    store.snapshot("b")
    (ws / "f.txt").write_text("v3 by the user\n")
    (ws / "mine.txt").write_text("mine\n")
    with pytest.raises(ExternalChangesError) as err:
        store.restore(first.commit, "pre")
    assert sorted(err.value.files) == [("A", "mine.txt"), ("M", "f.txt")]
    assert "+v3 by the user" in err.value.diff
    assert "--force" in str(err.value)
    assert (ws / "f.txt").read_text() == "v3 by the user\n"  # nothing changed
    pre, _ = store.restore(first.commit, "pre", force=True)
    assert (ws / "f.txt").read_text() == "v1\n"
    assert not (ws / "mine.txt").exists()
    # the user's edits were kept in the pre-restore checkpoint
    assert store._run("cat-file", "-p", f"{pre.commit}:mine.txt") == "mine"


def test_unchanged_workspace_reuses_the_commit(tmp_path: Path) -> None:
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "f.txt").write_text("v1\n")
    store = WorkspaceStore(ws, tmp_path / "home")
    a = store.snapshot("a")
    b = store.snapshot("b")
    assert (b.commit, b.changed) == (a.commit, False)
    assert store._run("rev-parse", "refs/az/cp/b") == a.commit


def test_missing_workspace_damaged_store_and_missing_git_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(StoreError, match="moved or deleted"):
        WorkspaceStore(tmp_path / "nowhere", tmp_path / "home")
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "f.txt").write_text("v1\n")
    home = tmp_path / "home"
    snap = WorkspaceStore(ws, home).snapshot("a")
    path = store_path(home, ws.resolve())
    # a damaged store: objects gone
    for obj in (path / "objects").rglob("*"):
        if obj.is_file():
            obj.chmod(0o644)
            obj.write_bytes(b"garbage")
    store = WorkspaceStore(ws, home)
    with pytest.raises(StoreError, match="damaged") as err:
        store.restore(snap.commit, "pre")
    assert "\n" not in str(err.value)
    assert (ws / "f.txt").read_text() == "v1\n"
    # git not installed
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(StoreError, match="git is not installed"):
        WorkspaceStore(ws, tmp_path / "home2").snapshot("x")


WRITER = """
import sys
from pathlib import Path
from az_git.store import WorkspaceStore
ws, home, who, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
store = WorkspaceStore(ws, home)
for i in range(n):
    (ws / f"{who}.txt").write_text(f"{who} {i}\\n")
    store.snapshot(f"{who}{i}", {"name": "auto"})
"""


def test_two_processes_checkpointing_one_workspace_do_not_corrupt_the_store(
    tmp_path: Path,
) -> None:
    ws = tmp_path / "w"
    ws.mkdir()
    (ws / "base.txt").write_text("base\n")
    home = tmp_path / "home"
    n = 12
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(ws), str(home), who, str(n)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for who in ("p", "q")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    store = WorkspaceStore(ws, home)
    assert store.fsck() == ""
    refs = store._run("for-each-ref", "--format=%(refname)", "refs/az/cp/").split()
    assert len(refs) == 2 * n
    last_p = store._run("cat-file", "-p", "refs/az/cp/p11:p.txt")
    assert last_p == "p 11"
