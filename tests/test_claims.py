"""The kernel's claims helper (:mod:`az_os.claims`) on every SQL backend:
one thread heartbeats every claim of an owner and stops exactly the task
``az task cancel`` marked; a dead holder on this host is taken over at once;
a resume takes over the claim a worker's finished run left.

Runs on ``sqlite`` (a real file) and ``postgres`` (a real server, skipped
where PostgreSQL is not installed), with the storage contract's fixtures.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import test_storage_contract
from az_os.claims import (
    ClaimedElsewhere,
    Owner,
    TaskClaims,
    drop_dead_claim,
    owner_id,
    owner_is_dead,
    parse_owner,
)
from az_os.errors import NotFoundError
from az_os.types import Task, TaskStatus

# the storage contract's fixtures: every test runs on each installed backend
backend_env = test_storage_contract.backend_env
storage = test_storage_contract.storage

HOST = socket.gethostname()


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def _until(cond: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := cond()):
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        time.sleep(0.05)
    return value


def _cancel_elsewhere(storage: Any, task_id: str) -> None:
    """What ``az task cancel`` writes (from another process or host)."""
    task = storage.get_task(task_id)
    task.status = TaskStatus.CANCELLED
    task.error = "cancelled with 'az task cancel'"
    storage.update_task(task)


def test_owner_strings() -> None:
    me = owner_id("az-serve")
    assert parse_owner(me) == Owner(kind="az-serve", host=HOST, pid=os.getpid())
    assert parse_owner("web1:4242:140001") == Owner(kind=None, host="web1", pid=4242)
    assert parse_owner("w1") is None and parse_owner("az-x@host:notapid") is None
    assert owner_is_dead(f"az-serve@{HOST}:{_dead_pid()}")
    assert not owner_is_dead(me)  # this process
    assert not owner_is_dead("az-worker@elsewhere.invalid:1")  # cannot tell: not dead
    assert not owner_is_dead("w1")


def test_one_thread_heartbeats_every_claim_and_release_drops_it(storage: Any) -> None:
    tasks = [storage.create_task(Task(description=f"t{i}")) for i in range(3)]
    lonely = storage.create_task(Task(description="claimed, never refreshed"))
    assert storage.claim_task(lonely.id, "az-worker@elsewhere.invalid:7")
    claims = TaskClaims(storage, owner_id("az-test"), heartbeat_s=0.2, check_s=0.2)
    before = {t.name for t in threading.enumerate()}
    try:
        assert all(claims.claim(t.id) for t in tasks)
        assert claims.held() == [t.id for t in tasks]
        new_threads = {t.name for t in threading.enumerate()} - before
        assert new_threads == {"az-claims"}  # one thread for every claim
        time.sleep(1.2)
        # every held claim was refreshed in the last 0.2 s; the lonely one was not
        assert storage.stale_claims(0.8) == [(lonely.id, "az-worker@elsewhere.invalid:7")]
        assert all(storage.claim_holder(t.id) == claims.owner for t in tasks)
        assert claims.release(tasks[0].id) is True
        assert storage.claim_holder(tasks[0].id) is None
        assert claims.claim(tasks[1].id) is False  # this process runs it already
    finally:
        claims.close()
    assert [storage.claim_holder(t.id) for t in tasks] == [None, None, None]
    _until(lambda: "az-claims" not in {t.name for t in threading.enumerate()}, 5)


def test_a_cancelled_task_stops_alone_and_once(storage: Any) -> None:
    a, b = (storage.create_task(Task(description=d)) for d in ("a", "b"))
    stopped: list[str] = []
    claims = TaskClaims(storage, owner_id("az-test"), check_s=0.2)
    try:
        assert claims.claim(a.id, lambda: stopped.append(a.id))
        assert claims.claim(b.id, lambda: stopped.append(b.id))
        time.sleep(0.5)
        assert stopped == []
        t0 = time.monotonic()
        _cancel_elsewhere(storage, a.id)
        _until(lambda: stopped)
        assert time.monotonic() - t0 < 2.0  # within a few check_s rounds
        time.sleep(0.6)  # more rounds read it cancelled again
        assert claims.tick(force=True) == []
        assert stopped == [a.id]
    finally:
        claims.close()


def test_the_claim_of_a_process_gone_from_this_host_is_taken_over_at_once(
    storage: Any,
) -> None:
    t = storage.create_task(Task(description="x"))
    dead = f"az-serve@{HOST}:{_dead_pid()}"
    assert storage.claim_task(t.id, dead)
    claims = TaskClaims(storage, owner_id("az-test"), stale_after_s=3600)
    try:
        assert claims.claim(t.id) is True  # not after an hour: its process is gone
        assert storage.claim_holder(t.id) == claims.owner
    finally:
        claims.close()


def test_a_live_or_remote_holder_keeps_its_claim(storage: Any) -> None:
    t, u = storage.create_task(Task(description="x")), storage.create_task(Task(description="y"))
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    claims = TaskClaims(storage, owner_id("az-test"), stale_after_s=3600)
    try:
        live = f"az-worker@{HOST}:{sleeper.pid}"
        assert storage.claim_task(t.id, live)
        assert storage.claim_task(u.id, "az-worker@elsewhere.invalid:1")
        assert claims.claim(t.id) is False and claims.claim(u.id) is False
        assert drop_dead_claim(storage, t.id) is None
        sleeper.kill()
        sleeper.wait(10)
        assert claims.claim(t.id) is True  # the same claim, once its process is gone
        assert storage.claim_holder(u.id) == "az-worker@elsewhere.invalid:1"
        with pytest.raises(NotFoundError):
            claims.claim("missing")
    finally:
        sleeper.kill()
        claims.close()


def test_take_over_drops_the_claim_a_workers_ended_run_kept(storage: Any) -> None:
    # a worker ran the task and kept its claim, fresh, when it was cancelled
    t = storage.create_task(Task(description="x", status=TaskStatus.PENDING))
    assert storage.claim_task(t.id, "az-worker@elsewhere.invalid:9")
    _cancel_elsewhere(storage, t.id)
    claims = TaskClaims(storage, owner_id("az-task"), stale_after_s=3600)
    try:
        task = storage.get_task(t.id)
        assert claims.take_over(task) is True
        assert storage.claim_holder(t.id) == claims.owner
        assert storage.get_task(t.id).status == TaskStatus.PENDING  # claimable, about to run
    finally:
        claims.close()
    assert storage.claim_holder(t.id) is None


def test_take_over_refuses_a_task_a_live_process_runs(storage: Any) -> None:
    t = storage.create_task(Task(description="x", status=TaskStatus.PENDING))
    assert storage.claim_task(t.id, "az-worker@elsewhere.invalid:9")
    task = storage.get_task(t.id)
    task.status = TaskStatus.RUNNING
    storage.update_task(task)
    claims = TaskClaims(storage, owner_id("az-task"), stale_after_s=3600)
    try:
        with pytest.raises(ClaimedElsewhere, match="az-worker@elsewhere.invalid:9") as err:
            claims.take_over(storage.get_task(t.id))
        assert err.value.holder == "az-worker@elsewhere.invalid:9"
        assert "az task cancel" in str(err.value)
        assert storage.get_task(t.id).status == TaskStatus.RUNNING
        assert storage.claim_holder(t.id) == "az-worker@elsewhere.invalid:9"
    finally:
        claims.close()


def test_periods_must_be_positive(storage: Any) -> None:
    with pytest.raises(ValueError, match="seconds > 0"):
        TaskClaims(storage, "x", heartbeat_s=0)
