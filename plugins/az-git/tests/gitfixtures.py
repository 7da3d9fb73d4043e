"""Real git repositories in temp dirs, and byte-exact pictures of them."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

BINARY = bytes(range(256)) * 16


def git(cwd: Path, *args: str) -> str:
    """Run the user's git in ``cwd`` (as the user would), returning stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(
        GIT_AUTHOR_NAME="User",
        GIT_AUTHOR_EMAIL="user@example.com",
        GIT_COMMITTER_NAME="User",
        GIT_COMMITTER_EMAIL="user@example.com",
        GIT_CONFIG_NOSYSTEM="1",
    )
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout


def git_dir_bytes(repo: Path) -> dict[str, bytes]:
    """Every file under ``repo/.git`` (HEAD, refs, index, stash, reflogs,
    objects, config) as bytes: the user's git state, byte for byte."""
    gd = repo / ".git"
    out: dict[str, bytes] = {}
    for p in sorted(gd.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[p.relative_to(gd).as_posix()] = p.read_bytes()
    return out


def tree_state(root: Path, skip_git: bool = True) -> dict[str, tuple[str, object]]:
    """Every file under ``root`` (but .git): ``path -> ("file", bytes, exec
    bit)`` or ``("link", target)``."""
    out: dict[str, tuple[str, object]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip_git and ".git" in dirnames:
            dirnames.remove(".git")
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            else:
                out[rel] = ("file", p.read_bytes(), bool(p.stat().st_mode & 0o111))
    return out


def make_dirty_repo(root: Path) -> Path:
    """A repository with commits, a stash, staged and unstaged changes,
    untracked and ignored files (``.gitignore`` and ``info/exclude``), a
    binary file, an executable script and a symlink."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("*.log\nbuild/\n")
    (repo / "a.txt").write_text("alpha\n")
    (repo / "b.txt").write_text("beta\n")
    (repo / "data.bin").write_bytes(BINARY)
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (repo / "run.sh").chmod(0o755)
    (repo / "src").mkdir()
    (repo / "src" / "main.py").write_text("print('hi')\n")
    os.symlink("a.txt", repo / "link")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "branch", "feature")
    (repo / "b.txt").write_text("beta stashed\n")
    git(repo, "stash", "-q")
    (repo / "a.txt").write_text("alpha staged\n")
    git(repo, "add", "a.txt")
    (repo / "b.txt").write_text("beta unstaged\n")
    (repo / "new.txt").write_text("untracked\n")
    (repo / "debug.log").write_text("ignored by .gitignore\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.o").write_bytes(b"\x7fELF ignored")
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("secret.txt\n")
    (repo / "secret.txt").write_text("ignored by info/exclude\n")
    return repo


def _has_stack() -> bool:
    from az_os.drivers import storage_backends

    return "sqlite" in storage_backends() and importlib.util.find_spec("az_tools") is not None


#: tests that need the rest of a real install: the SQLite backend and the built-in tools
requires_stack = pytest.mark.skipif(
    not _has_stack(),
    reason="needs az-sqlite and az-tools (pip install -e plugins/az-sqlite -e plugins/az-tools)",
)
