"""Claim the tasks a process runs, keep the claims alive, and stop a task
that ``az task cancel`` marked cancelled: one helper for every process that
runs tasks (``az serve``, Celery workers, the dashboard, ``az task resume``).

The storage contract's claims (:meth:`~az_os.storage.Storage.claim_task`
and its siblings) say which process runs a task. Holding one means:

* **exactly once**: a second process (a redelivered queue message, a
  restarted server) is refused the task while the claim is fresh;
* **heartbeat**: the holder refreshes it every ``heartbeat_s`` seconds; a
  claim older than ``stale_after_s`` seconds is a dead holder's and may be
  taken over (a Celery worker's sweeper requeues the tasks of dead workers);
* **cancellation**: ``az task cancel`` stores the task ``cancelled`` and,
  seeing a claim, signals no process (one process may run many tasks); the
  holder reads the stored status of its tasks every ``check_s`` seconds and
  stops that task only.

:class:`TaskClaims` does all three for one owner with one thread, however
many tasks it holds. An owner is a string ``KIND@HOST:PID`` (:func:`owner_id`,
e.g. ``az-serve@web1:4242``); from it any process on the same host can tell
that a holder is gone (its pid no longer runs) and drop its claim at once
instead of waiting ``stale_after_s`` (:func:`drop_dead_claim`).

A task resumed in another process than the one that ran it first
(``az task resume`` of a task a worker ran, the dashboard resuming a server's
task) goes through :meth:`TaskClaims.take_over`, which drops the claim its
finished run left behind, so ``az task cancel`` and the workers see who runs
it now.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from az_os.errors import AzError, NotFoundError, StorageError
from az_os.types import TaskStatus

if TYPE_CHECKING:  # pragma: no cover
    from az_os.storage import Storage
    from az_os.types import Task

log = logging.getLogger("az.claims")

#: seconds between heartbeats of the claims held
HEARTBEAT_S = 5.0
#: seconds between reads of the held tasks' stored status (``az task cancel``)
CHECK_S = 1.0
#: seconds without a heartbeat after which another process may take a claim over
STALE_AFTER_S = 30.0

#: The owner kind of a process that runs one task and stops it on SIGINT
#: (``az task resume``): ``az task cancel`` signals it as well.
SINGLE_TASK_KIND = "az-task"

#: statuses a run ends in: a claim still held on such a task is what its
#: run left behind (az-celery's workers keep theirs as a record), not a run
_ENDED = (TaskStatus.CANCELLED, TaskStatus.FAILED, TaskStatus.COMPLETED)


class ClaimedElsewhere(AzError):
    """Another live process holds the task's claim: it is running (or about
    to run) there. ``holder`` is that process's owner string."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Owner:
    """The parts of an owner string: ``kind`` (``az-serve``, ``az-worker``...;
    None for the older ``HOST:PID:THREAD`` form), ``host`` and ``pid``."""

    kind: str | None
    host: str
    pid: int


def owner_id(kind: str) -> str:
    """This process's owner string for ``kind``: ``KIND@HOST:PID``."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"


def parse_owner(owner: str) -> Owner | None:
    """``KIND@HOST:PID`` (or ``HOST:PID[:ANYTHING]``) → :class:`Owner`; None
    for a string of another shape (its process cannot be checked)."""
    kind: str | None = None
    rest = owner
    if "@" in owner:
        kind, rest = owner.split("@", 1)
    parts = rest.split(":")
    if len(parts) < 2 or not parts[0] or not parts[1].isdigit():
        return None
    return Owner(kind=kind or None, host=parts[0], pid=int(parts[1]))


def owner_is_dead(owner: str) -> bool:
    """True when ``owner`` names a process on this host that no longer runs.
    False for a live process, another host's owner (this host cannot tell)
    and a string that names no process."""
    from az_os.util import process_alive

    parsed = parse_owner(owner)
    if parsed is None or parsed.host != socket.gethostname():
        return False
    return not process_alive(parsed.pid)


def drop_dead_claim(storage: Storage, task_id: str) -> str | None:
    """Release ``task_id``'s claim if its holder is a process on this host
    that is gone (killed before its heartbeat went stale). Returns the owner
    dropped, or None (no claim, a live or remote holder, or another process
    dropped it first). Raises StorageError from a backend without claims."""
    holder = storage.claim_holder(task_id)
    if holder and owner_is_dead(holder) and storage.release_claim(task_id, holder):
        log.info("task %s: dropped the claim of %s (its process is gone)", task_id, holder)
        return holder
    return None


def drop_leftover_claim(storage: Storage, task: Task) -> str | None:
    """Before ``task`` (as stored) runs again: release the claim its earlier
    run left behind, held by another owner while the task has ended
    (completed, failed, cancelled; az-celery's workers keep such a claim as
    a record of the run). Returns the owner dropped, or None. A claim of a
    task that has not ended is left alone (:meth:`TaskClaims.claim` takes
    over a stale or dead holder's). Raises StorageError from a backend
    without claims."""
    if task.status not in _ENDED:
        return None
    holder = storage.claim_holder(task.id)
    if holder and storage.release_claim(task.id, holder):
        log.info("task %s: dropped the claim %s left when its run ended", task.id, holder)
        return holder
    return None


@dataclass
class _Held:
    on_cancel: Callable[[], None] | None
    claimed: bool
    cancelled: bool = False
    lost: bool = False


class TaskClaims:
    """The claims of one owner (one process, usually) and the thread that
    keeps them: every ``heartbeat_s`` seconds it refreshes each claim, every
    ``check_s`` seconds it reads each held task's stored status and, the
    first time it reads ``cancelled``, calls that task's ``on_cancel`` (from
    the thread: the callback must be thread-safe and quick, e.g.
    ``loop.call_soon_threadsafe(job.cancel)``).

    ``storage`` is the backend, or a function returning it (called each
    round, e.g. :func:`az_os.drivers.get_storage`). ``stale_after_s`` is how
    old another owner's heartbeat must be before :meth:`claim` takes the
    claim over; keep ``heartbeat_s`` well under every sharing process's
    ``stale_after_s``. The thread starts with the first claim and stops at
    :meth:`close`; it is a daemon, so it never keeps a process alive.
    Storage errors in a round are logged and the round is tried again."""

    def __init__(
        self,
        storage: Storage | Callable[[], Storage],
        owner: str,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        check_s: float = CHECK_S,
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        if heartbeat_s <= 0 or check_s <= 0 or stale_after_s <= 0:
            raise ValueError("heartbeat_s, check_s and stale_after_s are seconds > 0")
        self._storage = storage
        self.owner = owner
        self.heartbeat_s = heartbeat_s
        self.check_s = check_s
        self.stale_after_s = stale_after_s
        #: seconds between rounds: half the shorter period, so neither drifts
        #: past its period by more than a round
        self.tick_s = min(heartbeat_s, check_s) / 2
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat_at = self._checked_at = time.monotonic()

    @property
    def storage(self) -> Storage:
        """The storage backend the claims are kept in."""
        s = self._storage
        return s if not callable(s) else s()

    # -- holding -------------------------------------------------------------
    def claim(
        self,
        task_id: str,
        on_cancel: Callable[[], None] | None = None,
        *,
        required: bool = False,
    ) -> bool:
        """Claim ``task_id`` for this owner and watch it.

        True when the claim is held now (a stale claim of another owner, or
        the claim of a process on this host that is gone, is taken over);
        False when another live owner holds it, the task is finished
        (completed, failed, cancelled) or this object holds it already (a
        second run of one task in one process is refused too). On a backend
        without claims the task is watched unclaimed and True is returned,
        unless ``required``: then StorageError is raised. An unknown task
        raises NotFoundError."""
        with self._lock:
            if task_id in self._held:
                return False
        storage = self.storage
        try:
            ok = storage.claim_task(task_id, self.owner, self.stale_after_s)
            if not ok and drop_dead_claim(storage, task_id):
                ok = storage.claim_task(task_id, self.owner, self.stale_after_s)
        except StorageError:
            if required or not self._cannot_claim(storage):
                raise
            self.watch(task_id, on_cancel)
            return True
        if ok:
            self._hold(task_id, _Held(on_cancel=on_cancel, claimed=True))
        return ok

    @staticmethod
    def _cannot_claim(storage: Storage) -> bool:
        """Whether ``storage`` is a backend without claims (the contract's
        default, which raises StorageError), as opposed to one that failed."""
        from az_os.storage import Storage as Base

        backend = getattr(storage, "backend", storage)  # under the secret-masking wrapper
        return type(backend).claim_task is Base.claim_task

    def take_over(self, task: Task, on_cancel: Callable[[], None] | None = None) -> bool:
        """Claim a stored task that is about to run again here (a resume).

        The claim a finished run left (a worker keeps its claim of a task it
        completed, failed or cancelled) or one of a holder that is gone is
        dropped first; a task that ended ``cancelled`` or ``failed`` is set
        ``pending`` (a finished task cannot be claimed), as a queued task
        waits. True when claimed, False on a backend without claims (the task
        runs unclaimed, watched). Raises :class:`ClaimedElsewhere` when a
        live process holds a fresh claim of a task that has not ended (it
        runs there: ``az task cancel`` stops it), NotFoundError for an
        unknown task."""
        storage = self.storage
        stored = storage.get_task(task.id)
        if stored is None:
            raise NotFoundError(f"no task '{task.id}'")
        if not self._cannot_claim(storage):
            drop_leftover_claim(storage, stored)
        before = task.status
        if before in (TaskStatus.CANCELLED, TaskStatus.FAILED):
            task.status = TaskStatus.PENDING
            storage.update_task(task)
        if self.claim(task.id, on_cancel):
            return self.holds(task.id)
        if task.status != before:  # refused: leave the task as it was
            task.status = before
            storage.update_task(task)
        holder = storage.claim_holder(task.id) or "another process"
        raise ClaimedElsewhere(
            f"task {task.id} is claimed by {holder}, which may be running it (its last "
            f"heartbeat is under {self.stale_after_s:g} s old): 'az task cancel {task.id}' "
            f"stops it; if that process is gone, resume again after {self.stale_after_s:g} s",
            holder,
        )

    def watch(self, task_id: str, on_cancel: Callable[[], None] | None) -> None:
        """Watch ``task_id``'s stored status without claiming it (a backend
        without claims); :meth:`release` ends the watch."""
        self._hold(task_id, _Held(on_cancel=on_cancel, claimed=False))

    def _hold(self, task_id: str, held: _Held) -> None:
        with self._lock:
            self._held[task_id] = held
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, daemon=True, name="az-claims")
                self._thread.start()

    def holds(self, task_id: str) -> bool:
        """Whether this object holds ``task_id``'s claim in storage (not
        merely watches it)."""
        with self._lock:
            held = self._held.get(task_id)
        return held is not None and held.claimed

    def held(self) -> list[str]:
        """The ids of the tasks claimed or watched, in claim order."""
        with self._lock:
            return list(self._held)

    def release(self, task_id: str, *, keep_claim: bool = False) -> bool:
        """Stop heartbeating and watching ``task_id`` and drop its claim
        (with ``keep_claim`` the claim row stays, unrefreshed, as a record
        that the run happened; a finished task cannot be claimed anyway).
        Returns True when a stored claim was dropped. Storage errors are
        logged, not raised: a claim left behind goes stale."""
        with self._lock:
            held = self._held.pop(task_id, None)
        if held is None or not held.claimed or keep_claim:
            return False
        try:
            return self.storage.release_claim(task_id, self.owner)
        except Exception as exc:  # noqa: BLE001 - the claim goes stale by itself
            log.warning("task %s: releasing its claim failed: %s", task_id, exc)
            return False

    def close(self, *, release: bool = True) -> None:
        """Stop the thread (waiting up to one round); with ``release`` drop
        every claim still held. Idempotent; claiming again restarts it."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.tick_s + 5)
        if release:
            for task_id in self.held():
                self.release(task_id)

    # -- the thread ----------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the next round may work
                log.warning("watching claimed tasks failed: %s: %s", type(exc).__name__, exc)

    def tick(self, *, force: bool = False) -> list[str]:
        """One round: the heartbeats that are due, then the status reads
        that are due (both with ``force``). Returns the ids whose
        ``on_cancel`` was called in this round. Raises the storage's errors."""
        with self._lock:
            held = list(self._held.items())
        if not held:
            return []
        now = time.monotonic()
        beat = force or now - self._beat_at >= self.heartbeat_s - self.tick_s
        check = force or now - self._checked_at >= self.check_s - self.tick_s
        storage = self.storage
        if beat:
            self._beat_at = now
            for task_id, h in held:
                if h.claimed and not h.lost and not storage.heartbeat_claim(task_id, self.owner):
                    h.lost = True
                    log.warning("task %s: its claim was taken over by another process", task_id)
        stopped: list[str] = []
        if check:
            self._checked_at = now
            for task_id, h in held:
                if h.cancelled:
                    continue
                task = storage.get_task(task_id)
                if task is not None and task.status == TaskStatus.CANCELLED:
                    h.cancelled = True
                    stopped.append(task_id)
                    log.info("task %s: cancelled from another process; stopping it", task_id)
                    if h.on_cancel is not None:
                        try:
                            h.on_cancel()
                        except Exception as exc:  # noqa: BLE001 - one task's callback
                            log.warning("task %s: stopping it failed: %s", task_id, exc)
        return stopped

    def __enter__(self) -> TaskClaims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
