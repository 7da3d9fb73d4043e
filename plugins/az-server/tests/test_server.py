"""az serve end to end: a real uvicorn server in a subprocess, driven over
loopback HTTP with httpx; tasks answered by the scripted model plugin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import HAVE_COST, HAVE_TELEMETRY, HAVE_TOOLS, requires_tools

LIST = {"tool": "filesystem.list", "arguments": {"path": "."}, "thought": "look first"}


def test_submit_then_follow_events_in_order(start_server: Any, workspace: Path) -> None:
    server = start_server([{**LIST, "sleep": 0.5}, {"answer": "two files"}])
    task = server.submit("How many files?", workspace=str(workspace), priority="high")
    assert task["status"] == "pending" and task["priority"] == "high"
    assert task["approval"] == "read-only" and task["workspace"] == str(workspace)
    events = server.events(task["id"])
    types = [e["type"] for e in events]
    assert types == [
        "created", "started", "model_call", "tool_call", "tool_result", "turn",
        "model_call", "turn", "completed",
    ]  # fmt: skip
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["data"]["result"] == "two files"
    assert events[4]["data"]["success"] is HAVE_TOOLS
    # the same stream again, after the end: the whole history, then it closes
    assert [e["type"] for e in server.events(task["id"])] == types
    # Last-Event-ID continues after the given event
    with server.client.stream(
        "GET", f"/api/tasks/{task['id']}/events", headers={"Last-Event-ID": "7"}
    ) as resp:
        from conftest import parse_sse

        assert [e["type"] for e in parse_sse(resp.iter_lines())] == ["turn", "completed"]
    got = server.client.get(f"/api/tasks/{task['id']}").json()
    assert got["status"] == "completed" and got["result"] == "two files"
    assert got["tool_calls"] == 1 and len(got["turns"]) == 2
    assert got["total_tokens"] == got["prompt_tokens"] + got["completion_tokens"] > 0
    assert got["cost_usd"] > 0
    # by prefix too
    assert server.client.get(f"/api/tasks/{task['id'][:8]}").json()["id"] == task["id"]
    assert server.stop() == 0


def test_every_endpoint_but_health_needs_the_token(start_server: Any, workspace: Path) -> None:
    server = start_server([])
    task = server.submit("hi", workspace=str(workspace))
    server.wait_status(task["id"], {"completed"})
    tid = task["id"]
    endpoints = [
        ("GET", "/api/metrics"), ("GET", "/api/cost"), ("GET", "/api/tools/usage"),
        ("GET", "/api/performance"), ("GET", "/api/tasks"), ("POST", "/api/tasks"),
        ("GET", f"/api/tasks/{tid}"), ("GET", f"/api/tasks/{tid}/events"),
        ("POST", f"/api/tasks/{tid}/cancel"), ("POST", f"/api/tasks/{tid}/resume"),
        ("GET", "/api/openapi.json"),
    ]  # fmt: skip
    for method, path in endpoints:
        r = server.anon.request(method, path, json={"description": "x"})
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"] == "Bearer"
        r = server.anon.request(
            method, path, json={"description": "x"}, headers={"Authorization": "Bearer nope"}
        )
        assert r.status_code == 401 and "invalid" in r.json()["error"], (method, path)
        r = server.anon.request(method, path, headers={"Authorization": f"Basic {server.token}"})
        assert r.status_code == 401, (method, path)
    r = server.anon.get("/api/health")
    assert r.status_code in (200, 503)
    assert r.json()["status"] in ("ok", "degraded", "unhealthy")
    assert server.stop() == 0


def test_monitoring_endpoints(start_server: Any, workspace: Path) -> None:
    server = start_server([LIST, {"answer": "done"}])
    task = server.submit("list", workspace=str(workspace))
    server.wait_status(task["id"], {"completed"})
    c = server.client

    health = server.anon.get("/api/health").json()
    names = {ch["name"] for ch in health["checks"]}
    assert "server.queue" in names
    if HAVE_TELEMETRY:
        assert {"system.cpu", "storage", "model.scripted"} <= names

    from prometheus_client.parser import text_string_to_metric_families

    r = c.get("/api/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    fams = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert {"az_server_requests", "az_server_tasks_running"} <= set(fams)
    if HAVE_TELEMETRY:  # the telemetry plugin's metrics, through the kernel's az_metrics hook
        assert {"az_tasks", "az_tool_calls", "az_system_cpu_percent"} <= set(fams)
        completed = [s for s in fams["az_tasks"].samples if s.labels["status"] == "completed"]
        assert completed[0].value == 1
        tools = [s for s in fams["az_tool_calls"].samples if s.name == "az_tool_calls_total"]
        outcome = "success" if HAVE_TOOLS else "error"  # headless: no az-tools, an unknown tool
        assert tools[0].labels == {"tool": "filesystem.list", "outcome": outcome}

    usage = c.get("/api/tools/usage").json()["tools"]
    assert usage[0]["tool"] == "filesystem.list" and usage[0]["invocations"] == 1

    cost = c.get("/api/cost", params={"period": "daily"}).json()
    assert cost["period"] == "daily" and cost["since"].endswith("Z")
    assert set(cost) >= {"total_usd", "calls", "by_model", "input_tokens", "output_tokens"}
    assert c.get("/api/cost", params={"period": "yearly"}).status_code == 422

    perf = c.get("/api/performance").json()
    assert perf["requests"]["total"] >= 4 and perf["latency_ms"]["p50"] is not None
    assert perf["tasks"]["finished"] == {"completed": 1}
    assert perf["tasks"]["concurrency"] == 4
    assert any(r["route"] == "GET /api/tasks/{id}" for r in perf["routes"])

    spec = c.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/tasks", "/api/tasks/{task_id}/events", "/api/health"} <= set(spec["paths"])
    assert spec["paths"]["/api/tasks"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in spec["paths"]["/api/health"]["get"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert server.anon.get("/openapi.json").status_code == 404
    assert server.stop() == 0


@pytest.mark.skipif(not HAVE_COST, reason="needs az-cost (part of the headless install)")
def test_a_task_run_through_the_server_shows_its_cost(start_server: Any, workspace: Path) -> None:
    server = start_server([LIST, {"answer": "done"}])
    c = server.client
    assert c.get("/api/cost").json()["total_usd"] == 0
    task = server.submit("list", workspace=str(workspace), model="scripted/cheap")
    done = server.wait_status(task["id"], {"completed"})
    assert done["status"] == "completed" and done["cost_usd"] > 0
    cost = c.get("/api/cost", params={"period": "daily"}).json()
    assert cost["calls"] == 2  # one row per model call
    assert cost["total_usd"] == pytest.approx(done["cost_usd"])
    assert cost["input_tokens"] == done["prompt_tokens"]
    assert cost["output_tokens"] == done["completion_tokens"]
    assert [m["model"] for m in cost["by_model"]] == ["scripted/cheap"]
    assert server.stop() == 0


def test_list_filters_and_paging(start_server: Any, workspace: Path) -> None:
    server = start_server([])
    ids = [
        server.submit(f"task {i}", workspace=str(workspace), priority="low")["id"] for i in range(5)
    ]
    for tid in ids:
        server.wait_status(tid, {"completed"})
    c = server.client
    page = c.get("/api/tasks", params={"limit": 2, "offset": 1, "total": "true"}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [t["id"] for t in page["tasks"]] == ids[::-1][1:3]  # newest first
    assert "total" not in c.get("/api/tasks").json()  # counted only when asked
    # keyset pages: every task once, newest first, only the listed fields
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = c.get("/api/tasks", params=params).json()
        seen += [t["id"] for t in page["tasks"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    row = page["tasks"][0]
    assert row["status"] == "completed" and row["created_at"].endswith("Z")
    assert "result" not in row and "turns" not in row
    bad_cursor = c.get("/api/tasks", params={"cursor": "nope"})
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json()["error"]
    total = {"total": "true"}
    assert c.get("/api/tasks", params={"status": "completed", **total}).json()["total"] == 5
    assert c.get("/api/tasks", params={"status": "failed", **total}).json()["total"] == 0
    assert c.get("/api/tasks", params={"priority": "low", **total}).json()["total"] == 5
    bad = c.get("/api/tasks", params={"status": "sleeping"})
    assert bad.status_code == 422 and "status" in bad.json()["error"]
    assert c.get("/api/tasks", params={"limit": 0}).status_code == 422
    assert server.stop() == 0


def test_bad_requests_are_422_naming_the_field_and_unknown_ids_404(
    start_server: Any, workspace: Path, tmp_path: Path
) -> None:
    server = start_server([])
    c = server.client
    r = c.post(
        "/api/tasks", content=b'{"description": ', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422 and "json" in r.json()["error"].lower()
    r = c.post("/api/tasks", json={"description": "x", "colour": "red"})
    assert r.status_code == 422 and r.json()["error"].startswith("colour")
    r = c.post("/api/tasks", json={"description": 5})
    assert r.status_code == 422 and r.json()["error"].startswith("description")
    r = c.post("/api/tasks", json={})
    assert r.status_code == 422 and r.json()["error"].startswith("description")
    r = c.post("/api/tasks", json={"description": "x", "max_cost": "lots"})
    assert r.status_code == 422 and r.json()["error"].startswith("max_cost")
    r = c.post("/api/tasks", json={"description": "x", "priority": "asap"})
    assert r.status_code == 422 and r.json()["error"].startswith("priority")
    r = c.post("/api/tasks", json={"description": "x", "workspace": str(tmp_path)})
    assert r.status_code == 422 and r.json()["error"].startswith("workspace")
    assert "not under a workspace root" in r.json()["error"]
    r = c.post(
        "/api/tasks", json={"description": "x", "workspace": str(workspace / ".." / ".." / "..")}
    )
    assert r.status_code == 422 and r.json()["error"].startswith("workspace")
    r = c.post("/api/tasks", json={"description": "x", "workspace": str(workspace / "nope")})
    assert r.status_code == 422 and "not an existing directory" in r.json()["error"]
    r = c.post("/api/tasks", json={"description": "x", "model": "no-such-model"})
    assert r.status_code == 422 and r.json()["error"].startswith("model")
    assert (
        c.get("/api/tasks", params={"total": "true"}).json()["total"] == 0
    )  # nothing stored by bad requests
    for method, path in [
        ("GET", "/api/tasks/ffffffffffff"),
        ("GET", "/api/tasks/ffffffffffff/events"),
        ("POST", "/api/tasks/ffffffffffff/cancel"),
        ("POST", "/api/tasks/ffffffffffff/resume"),
    ]:
        r = c.request(method, path)
        assert r.status_code == 404 and "ffffffffffff" in r.json()["error"], path
    # a model given by alias is stored by id; a relative workspace is under the first root
    t = server.submit("x", model="cheap", workspace="project")
    assert t["model"] == "scripted/cheap" and t["workspace"] == str(workspace)
    assert server.stop() == 0


@pytest.mark.slow
def test_full_queue_is_503_with_retry_after(start_server: Any, workspace: Path) -> None:
    server = start_server(
        [{**LIST, "sleep": 3}, {"answer": "a"}],
        env={"AZ_SERVER__QUEUE_SIZE": "1", "AZ_SERVER__RETRY_AFTER_S": "7"},
        args=("--concurrency", "1"),
    )
    first = server.submit("slow", workspace=str(workspace))
    server.wait_status(first["id"], {"running"})
    second = server.submit("waits", workspace=str(workspace))
    assert second["position"] == 1
    r = server.client.post("/api/tasks", json={"description": "one too many"})
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    assert "queue is full" in r.json()["error"]
    assert server.wait_status(second["id"], {"completed"})["status"] == "completed"
    assert server.client.get("/api/tasks", params={"total": "true"}).json()["total"] == 2
    assert server.stop() == 0


@pytest.mark.slow
def test_cancel_running_and_waiting_tasks(start_server: Any, workspace: Path) -> None:
    server = start_server([{**LIST, "sleep": 30}], args=("--concurrency", "1"))
    running = server.submit("slow", workspace=str(workspace))
    server.wait_status(running["id"], {"running"})
    waiting = server.submit("never runs", workspace=str(workspace))
    r = server.client.post(f"/api/tasks/{waiting['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert [e["type"] for e in server.events(waiting["id"])] == ["created", "cancelled"]
    start = time.monotonic()
    r = server.client.post(f"/api/tasks/{running['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert time.monotonic() - start < 5  # not after the 30 s model call
    events = server.events(running["id"])
    assert [e["type"] for e in events][:2] == ["created", "started"]
    assert events[-1]["type"] == "cancelled"
    again = server.client.post(f"/api/tasks/{running['id']}/cancel")
    assert again.status_code == 409
    assert server.stop() == 0


def test_az_task_cancel_from_a_terminal_stops_that_task_not_the_server(
    start_server: Any, workspace: Path, az: Any
) -> None:
    server = start_server(
        [{**LIST, "sleep": 30}, {"answer": "second done"}], args=("--concurrency", "2")
    )
    slow = server.submit("slow", workspace=str(workspace))
    server.wait_status(slow["id"], {"running"})
    start = time.monotonic()
    r = az("task", "cancel", slow["id"], env={"AZ_LOAD_PLUGINS": "sqlite"})
    assert r.returncode == 0, r
    assert "signalled" not in r.stdout and "az-serve@" in r.stdout, r.stdout
    events = server.events(slow["id"])
    assert events[-1]["type"] == "cancelled"
    assert time.monotonic() - start < 10  # within the watch interval, not after the 30 s call
    # the server was not signalled: it still answers and runs the next task
    assert server.proc.poll() is None
    other = server.submit("after the cancel", workspace=str(workspace))
    done = server.wait_status(other["id"], {"completed", "failed"})
    assert done["status"] == "completed" and done["result"] == "second done"
    shown = az("task", "show", slow["id"], "--json", env={"AZ_LOAD_PLUGINS": "sqlite"}).json()
    assert shown["task"]["status"] == "cancelled"
    assert server.stop() == 0


@requires_tools
def test_server_tasks_use_the_configured_approval(start_server: Any, workspace: Path) -> None:
    write = {"tool": "filesystem.write", "arguments": {"path": "new.txt", "content": "x"}}
    server = start_server([write, {"answer": "tried"}])
    task = server.submit("write a file", workspace=str(workspace))
    events = server.events(task["id"])
    result = next(e for e in events if e["type"] == "tool_result")
    assert result["data"]["success"] is False and "read-only" in result["data"]["error"]
    assert not (workspace / "new.txt").exists()
    assert server.stop() == 0


@pytest.mark.slow
def test_sigterm_lets_running_finish_interrupts_the_rest_and_restart_resumes(
    start_server: Any, workspace: Path, az: Any
) -> None:
    env = {"AZ_SERVER__SHUTDOWN_TIMEOUT_S": "1.5"}
    server = start_server(
        [{**LIST, "sleep": 6}, {"answer": "never"}], env=env, args=("--concurrency", "1")
    )
    slow = server.submit("slow", workspace=str(workspace))
    server.wait_status(slow["id"], {"running"})
    queued = server.submit("queued", workspace=str(workspace))
    time.sleep(0.3)  # the model call is under way
    start = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    assert time.monotonic() - start < 10  # the timeout, not the 6 s call plus the queue
    assert any("Traceback" in line for line in server.stderr) is False
    shown = {
        t["id"]: t for t in az("task", "list", "--json", env={"AZ_LOAD_PLUGINS": "sqlite"}).json()
    }
    assert shown[slow["id"]]["status"] == "interrupted"
    assert shown[queued["id"]]["status"] == "interrupted"

    again = start_server([{"answer": "resumed fine"}, {"answer": "queued ran"}], env=env)
    s = again.wait_status(slow["id"], {"completed", "failed"})
    q = again.wait_status(queued["id"], {"completed", "failed"})
    assert s["status"] == "completed" and q["status"] == "completed"
    assert {s["result"], q["result"]} == {"resumed fine", "queued ran"}
    types = [e["type"] for e in again.events(slow["id"])]
    assert types[0] == "resumed" and types[-1] == "completed"
    assert again.stop() == 0


@pytest.mark.slow
def test_a_task_completes_within_the_shutdown_timeout(start_server: Any, workspace: Path) -> None:
    server = start_server(
        [{**LIST, "sleep": 1}, {"answer": "finished"}], env={"AZ_SERVER__SHUTDOWN_TIMEOUT_S": "20"}
    )
    task = server.submit("finish me", workspace=str(workspace))
    server.wait_status(task["id"], {"running"})
    time.sleep(0.2)
    assert server.stop(signal.SIGTERM) == 0
    from az_os.drivers import get_storage

    assert get_storage().get_task(task["id"]).status.value == "completed"


@pytest.mark.slow
def test_resume_endpoint_requeues_a_cancelled_task(start_server: Any, workspace: Path) -> None:
    server = start_server([{**LIST, "sleep": 30}])
    task = server.submit("slow", workspace=str(workspace))
    server.events(task["id"], until={"started"})
    # the model call (the script's only step) is under way: cancelled before
    # it, the resumed run would make that 30 s call instead of the next one
    time.sleep(0.5)
    server.client.post(f"/api/tasks/{task['id']}/cancel")
    r = server.client.post(f"/api/tasks/{task['id']}/resume")
    assert r.status_code == 202
    done = server.wait_status(task["id"], {"completed", "failed"})
    assert done["status"] == "completed" and done["result"] == "done"  # the script ran out
    assert server.client.post(f"/api/tasks/{task['id']}/resume").status_code == 409
    assert server.stop() == 0


def test_resume_takes_over_the_claim_a_workers_run_left(start_server: Any, workspace: Path) -> None:
    """A task a Celery worker ran and cancelled keeps the worker's (fresh)
    claim; resuming it on the server drops that claim and runs the task,
    rather than leaving it pending as claimed by another process."""
    from az_os.drivers import close_all, get_storage
    from az_os.types import Task, TaskStatus, utcnow

    storage = get_storage()
    task = storage.create_task(
        Task(
            description="a worker's task",
            model="scripted/cheap",
            status=TaskStatus.PENDING,
            workspace=str(workspace),
        )
    )
    storage.save_state(task.id, {"model_fixed": True, "tools": None})
    assert storage.claim_task(task.id, "az-worker@elsewhere.invalid:4242")
    task.status, task.started_at = TaskStatus.CANCELLED, utcnow()
    storage.update_task(task)
    close_all()
    server = start_server([{"answer": "resumed on the server"}])
    r = server.client.post(f"/api/tasks/{task.id}/resume")
    assert r.status_code == 202, r.text
    done = server.wait_status(task.id, {"completed", "failed"})
    assert (done["status"], done["result"]) == ("completed", "resumed on the server")
    assert get_storage().claim_holder(task.id) is None  # released when the run ended
    assert server.stop() == 0


def test_token_file_is_private_and_rotates(az: Any, az_home: Path) -> None:
    env = {"AZ_LOAD_PLUGINS": "server,sqlite"}
    first = az("serve", "token", "--json", env=env)
    assert first.returncode == 0, first
    data = first.json()
    path = Path(data["stored_in"])
    assert path == az_home / "server" / "token"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert az("serve", "token", env=env).stdout.strip() == data["token"]
    rotated = az("serve", "token", "--rotate", env=env).stdout.strip()
    assert rotated != data["token"] and len(rotated) >= 40
    assert path.read_text().strip() == rotated


def test_non_loopback_without_a_token_is_refused(az: Any, az_home: Path) -> None:
    r = az("serve", "--host", "0.0.0.0", "--port", "0", env={"AZ_LOAD_PLUGINS": "server,sqlite"})
    assert r.returncode != 0
    assert "refusing" in r.stderr and "az serve token" in r.stderr
    assert not (az_home / "server" / "token").exists()


def test_serve_help_and_cli_imports_stay_light(az: Any) -> None:
    r = az("serve", "--help", env={"AZ_LOAD_PLUGINS": "server,sqlite"})
    assert r.returncode == 0 and "--port" in r.stdout and "token" in r.stdout
    code = (
        "import sys, json\n"
        "from az_os.cli import main\n"
        "for args in (['--help'], ['task', 'list']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "sys.__stderr__.write(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    loaded = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    assert not loaded & {"fastapi", "uvicorn", "prometheus_client", "starlette"}


@pytest.mark.slow
def test_a_killed_server_loses_nothing(start_server: Any, workspace: Path) -> None:
    server = start_server([{**LIST, "sleep": 30}], args=("--concurrency", "1"))
    running = server.submit("slow", workspace=str(workspace))
    server.wait_status(running["id"], {"running"})
    queued = server.submit("queued", workspace=str(workspace))
    server.stop(signal.SIGKILL)
    again = start_server([{"answer": "one"}, {"answer": "two"}])
    for tid in (running["id"], queued["id"]):
        assert again.wait_status(tid, {"completed", "failed"})["status"] == "completed"
    assert again.stop() == 0
