"""A plugin hook that blocks while a task runs does not hold up requests:
the tasks' engines run on their own loop, in their own thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from conftest import PLUGINS

#: a plugin whose az_task_event blocks on a task's "started" event until the
#: test creates <dir>/release (at most 60 s), with files saying where it is
HOOK = """
import os, time
from pathlib import Path
from az_os import hookimpl

@hookimpl
def az_task_event(task, event):
    if event.type != "started" or not task.description.startswith("block"):
        return
    d = Path(os.environ["AZ_TEST_HOOK_DIR"])
    (d / "entered").touch()
    deadline = time.monotonic() + 60
    while not (d / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    (d / "left").touch()
"""


def _hook_site(tmp_path: Path) -> Path:
    site = tmp_path / "hook-site"
    info = site / "az_blockhook-0.0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: az-blockhook\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text("[az]\nblockhook = az_blockhook\n")
    (site / "az_blockhook.py").write_text(HOOK)
    return site


def _wait_for(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def test_requests_are_answered_while_a_running_tasks_hook_blocks(
    start_server: Any, workspace: Path, tmp_path: Path
) -> None:
    hook_dir = tmp_path / "hook"
    hook_dir.mkdir()
    server = start_server(
        [{"answer": "blocked one done"}, {"answer": "second done"}],
        env={"AZ_TEST_HOOK_DIR": str(hook_dir)},
        plugins=PLUGINS + ",blockhook",
        sites=(_hook_site(tmp_path),),
    )
    blocked = server.submit("block in the started hook", workspace=str(workspace))
    _wait_for(hook_dir / "entered")
    # the hook is blocking now, and stays so until "release" exists: each
    # answer below came while it blocked (on the server's own loop they
    # would wait the hook's 60 s out, past the client's timeout)
    health = server.anon.get("/api/health", timeout=20)
    assert health.status_code in (200, 503) and "checks" in health.json()
    second = server.client.post(
        "/api/tasks", json={"description": "second", "workspace": str(workspace)}, timeout=20
    )
    assert second.status_code == 202, second.text
    listed = server.client.get("/api/tasks", params={"status": "running"}, timeout=20)
    assert [t["id"] for t in listed.json()["tasks"]] == [blocked["id"]]
    assert not (hook_dir / "left").exists()

    (hook_dir / "release").touch()
    _wait_for(hook_dir / "left")
    first = server.wait_status(blocked["id"], {"completed", "failed"})
    other = server.wait_status(second.json()["id"], {"completed", "failed"})
    assert first["status"] == other["status"] == "completed"
    assert {first["result"], other["result"]} == {"blocked one done", "second done"}
    types = [e["type"] for e in server.events(blocked["id"])]
    assert types == ["created", "started", "model_call", "turn", "completed"]
    assert server.stop() == 0
