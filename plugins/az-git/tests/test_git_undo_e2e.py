"""End to end through the real ``az``: a scripted task writes files over three
turns in a dirty repository, ``az undo --steps 2`` takes the workspace back to
how turn 1 left it, and ``az task resume`` continues from turn 2; the user's
git state is byte-identical throughout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from gitfixtures import git, git_dir_bytes, make_dirty_repo, requires_stack, tree_state

PLUGINS = "scripted,tools,sqlite,git"

pytestmark = requires_stack


def write(path: str, content: str) -> dict[str, Any]:
    return {"tool": "filesystem.write", "arguments": {"path": path, "content": content}}


def run_task(az: Any, env: Any, ws: Path, steps: list[dict[str, Any]]) -> dict[str, Any]:
    r = az(
        "task", "run", "edit the files", "--model", "cheap", "--workspace", str(ws),
        "--approve", "auto", "--json", env=env(steps, plugins=PLUGINS),
    )  # fmt: skip
    assert r.returncode == 0, r
    out: dict[str, Any] = r.json()
    return out


def test_undo_two_turns_then_resume_from_turn_two(
    az: Any, scripted_env: Any, tmp_path: Path
) -> None:
    repo = make_dirty_repo(tmp_path)
    user_git = git_dir_bytes(repo)
    start = tree_state(repo)
    steps = [
        # a.txt is the user's: read before it is replaced (tools.read_before_write)
        {
            "calls": [
                {"tool": "filesystem.read", "arguments": {"path": "a.txt"}},
                write("a.txt", "turn 1\n"),
                write("one.txt", "1\n"),
            ]
        },
        # a read-only call first: the checkpoint comes before the first writing one
        {
            "calls": [
                {"tool": "filesystem.list", "arguments": {"path": "."}},
                write("two.txt", "2\n"),
            ]
        },
        {"calls": [write("three.txt", "3\n"), write("a.txt", "turn 3\n")]},
        {"answer": "done"},
    ]
    out = run_task(az, scripted_env, repo, steps)
    assert out["status"] == "completed" and out["turns"] == 4
    task_id = out["id"]
    cps = az("state", "list", "--task", task_id, "--json", env=scripted_env([], PLUGINS)).json()
    assert sorted((c["name"], c["turn"]) for c in cps) == [
        ("auto", 1), ("auto", 2), ("auto", 3), ("end", 4),
    ]  # fmt: skip
    assert git_dir_bytes(repo) == user_git
    # the brief's task_state.checkpoint_id names the task's newest checkpoint
    from az_os.drivers import get_storage

    end = next(c for c in cps if c["name"] == "end")
    state_row = get_storage().m.TaskState.get(task_id=task_id)
    assert state_row.checkpoint_id == end["id"]
    get_storage().close()

    # how the workspace looked after turn 1
    after_turn_1 = dict(start)
    after_turn_1["a.txt"] = ("file", b"turn 1\n", False)
    after_turn_1["one.txt"] = ("file", b"1\n", False)

    r = az("undo", "--steps", "2", env=scripted_env([], PLUGINS), cwd=repo)
    assert r.returncode != 0 and "--yes" in r.stderr  # not a terminal: needs --yes
    assert (repo / "three.txt").exists()

    r = az("undo", "--steps", "2", "--yes", "--json", env=scripted_env([], PLUGINS), cwd=repo)
    assert r.returncode == 0, r
    done = r.json()
    assert done["task"]["status"] == "cancelled" and done["turns_dropped"] == 3
    assert tree_state(repo) == after_turn_1
    assert git_dir_bytes(repo) == user_git
    show = az("task", "show", task_id, "--json", env=scripted_env([], PLUGINS)).json()
    assert len(show["turns"]) == 1

    # resume: the conversation goes on from turn 2, with turn 1 in it
    resume_steps = [write("resumed.txt", "r\n"), {"answer": "redone"}]
    r = az("task", "resume", task_id, "--json", env=scripted_env(resume_steps, PLUGINS))
    assert r.returncode == 0, r
    assert r.json()["status"] == "completed" and r.json()["result"] == "redone"
    show = az("task", "show", task_id, "--json", env=scripted_env([], PLUGINS)).json()
    assert [t["index"] for t in show["turns"]] == [1, 2, 3]
    assert (repo / "resumed.txt").read_text() == "r\n"
    assert not (repo / "two.txt").exists()
    cps = az("state", "list", "--task", task_id, "--json", env=scripted_env([], PLUGINS)).json()
    assert sorted((c["name"], c["turn"]) for c in cps) == [
        ("auto", 1), ("auto", 2), ("end", 3), ("pre-undo", 4),
    ]  # fmt: skip

    # the undo itself can be undone: its pre-undo checkpoint holds turn 3's state
    pre = next(c for c in cps if c["name"] == "pre-undo")
    r = az("state", "diff", pre["id"], "--stat", env=scripted_env([], PLUGINS), cwd=repo)
    assert r.returncode == 0 and "three.txt" in r.stdout, r

    assert git_dir_bytes(repo) == user_git
    assert "stash@{0}" in git(repo, "stash", "list")


def test_undo_stops_on_outside_changes_and_bad_input_is_one_line(
    az: Any, scripted_env: Any, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "keep.txt").write_text("keep\n")
    out = run_task(az, scripted_env, ws, [write("x.txt", "x\n"), {"answer": "ok"}])
    env = scripted_env([], PLUGINS)
    (ws / "keep.txt").write_text("edited by the user\n")
    r = az("undo", "--yes", env=env, cwd=ws)
    assert r.returncode == 1
    assert "keep.txt" in r.stderr and "+edited by the user" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("az: error: 1 file(s)")
    assert (ws / "x.txt").exists() and (ws / "keep.txt").read_text() == "edited by the user\n"
    r = az("undo", out["id"], "--yes", "--force", env=env, cwd=ws)
    assert r.returncode == 0, r
    assert not (ws / "x.txt").exists() and (ws / "keep.txt").read_text() == "keep\n"

    for args, code, text in [
        (["state", "restore", "nosuch", "--yes"], 4, "no checkpoint named or with id 'nosuch'"),
        (["state", "diff", "nosuch"], 4, "no checkpoint"),
        (["undo", "nosuchtask", "--yes"], 4, "no task 'nosuchtask'"),
        (["undo", "--yes", "--steps", "9", out["id"]], 1, "no changing turns left"),
        (["state", "list", "--workspace", str(tmp_path / "gone")], 1, "does not exist"),
    ]:
        r = az(*args, env=env, cwd=ws)
        assert r.returncode == code, r
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0], r

    # git missing: one line, nothing recorded
    r = az("state", "save", env={**env, "PATH": str(tmp_path / "empty-bin")}, cwd=ws)
    assert r.returncode == 1 and "git is not installed" in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1

    # a damaged store: one line naming it, and the way out
    store = next((Path(os.environ["AZ_HOME"]) / "checkpoints").glob("ws-*.git"))
    for obj in (store / "objects").rglob("*"):
        if obj.is_file():
            obj.chmod(0o644)
            obj.write_bytes(b"garbage")
    cp = az("state", "list", "--json", env=env, cwd=ws).json()[0]
    r = az("state", "diff", cp["id"], env=env, cwd=ws)
    assert r.returncode == 1 and "is damaged" in r.stderr and "mv " in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1
    shutil.rmtree(store)

    # a workspace that moved: its checkpoints name a directory that is gone
    cp = az("state", "list", "--json", env=env, cwd=ws).json()[0]
    moved = tmp_path / "moved"
    ws.rename(moved)
    r = az("state", "restore", cp["id"], "--yes", env=env, cwd=moved)
    assert r.returncode == 1 and "no longer exists (moved or deleted?)" in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1


def test_a_read_only_task_makes_no_checkpoint(az: Any, scripted_env: Any, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "f.txt").write_text("f\n")
    run_task(az, scripted_env, ws, [{"tool": "filesystem.read", "arguments": {"path": "f.txt"}}])
    r = az("state", "list", "--json", env=scripted_env([], PLUGINS), cwd=ws)
    assert r.returncode == 0 and r.json() == []
    assert not (Path(os.environ["AZ_HOME"]) / "checkpoints").exists()


@pytest.mark.parametrize("args", [["--help"], ["task", "list"]])
def test_help_and_task_list_do_not_import_git(az: Any, args: list[str]) -> None:
    script = (
        "import sys, json\n"
        "from az_os.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.__stderr__.write(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "AZ_LOAD_PLUGINS": "git,sqlite,tools"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    # az --help lists the plugin's commands from their declaration: not even its hook module
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert {"state", "undo"} <= listed or args == ["task", "list"]
    assert not {"git", "filelock", "az_git.plugin", "az_git.store", "az_git.manager"} & loaded


def test_without_git_a_task_still_writes_and_says_so_unless_required(
    az: Any, scripted_env: Any, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    no_git = {"PATH": str(tmp_path / "empty-bin")}
    steps = [write("a.txt", "a\n"), {"answer": "ok"}]
    r = az(
        "task", "run", "write", "--model", "cheap", "--workspace", str(ws), "--approve", "auto",
        "--json", env={**scripted_env(steps, PLUGINS), **no_git},
    )  # fmt: skip
    assert r.returncode == 0 and r.json()["status"] == "completed", r
    assert (ws / "a.txt").read_text() == "a\n"
    logs = az("log", "show", "--task", r.json()["id"], "--json", env=scripted_env([], PLUGINS))
    logs = logs.stdout
    assert "checkpoint before turn 1 failed: git is not installed" in logs

    steps = [write("b.txt", "b\n"), {"answer": "ok"}]
    env = {**scripted_env(steps, PLUGINS), **no_git, "AZ_GIT__REQUIRED": "true"}
    r = az(
        "task", "run", "write", "--model", "cheap", "--workspace", str(ws), "--approve", "auto",
        "--json", env=env,
    )  # fmt: skip
    assert r.returncode == 0, r
    assert not (ws / "b.txt").exists()  # refused: no checkpoint, no write
    shown = az("task", "show", r.json()["id"], "--json", env=scripted_env([], PLUGINS)).json()
    error = shown["turns"][0]["tool_results"][0]["error"]
    assert "git.required is true" in error and "git is not installed" in error
