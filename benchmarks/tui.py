"""The dashboard's speed: launch to first paint with 100,000 stored tasks, and
the time per screen update while a task streams 50 turns per second into the
detail view.

    python benchmarks/tui.py [--tasks 100000] [--turns 250] [--runs 3]

0. Baseline: ``python -c pass`` (interpreter start), timed the same way, so
   numbers from a busy machine can be put in proportion.

1. Launch: ``az dashboard`` is started in a pseudo-terminal (80×24) on a
   database of ``--tasks`` tasks; the time is from process start to the first
   screen that shows the newest task's id (the table painted with rows), and
   the CPU time the process used by then. One launch before the timed ones
   compiles the modules (into a temporary bytecode cache, even when
   ``PYTHONDONTWRITEBYTECODE`` is set here), as an install has them compiled:
   without it every launch compiled the checkout's modules again (about
   250 ms of CPU). Target: under 400 ms.
2. Streaming: the dashboard (headless, 160×48) shows a task's detail while
   the kernel's engine runs that task in the same process with the scripted
   model plugin, one tool call per turn, the model answering at most
   ``--rate`` times per second (default 50 turns per second; the achieved
   rate, from the stored turns' times, is printed). One screen update runs
   from the detail view getting new turns (on the UI thread) to the end of
   the first painted frame that shows them, each frame turned into the bytes
   a terminal would get. Printed: the UI thread's work per update (that time
   less the event loop's idle waits; target p95 under 16 ms, 60 frames per
   second), its CPU time (less sensitive to a busy machine), and the latency
   from data to painted frame (the work plus the wait for Textual's next
   frame slot, at most 1/60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def fill(home: Path, n: int) -> str:
    """``n`` tasks (10,000 per transaction); returns the newest task's id."""
    os.environ["AZ_HOME"] = str(home)
    from az_os import drivers
    from az_os.drivers import get_storage
    from az_os.types import Task, TaskStatus

    storage = get_storage()
    t0 = datetime.now(UTC) - timedelta(days=30)
    # finished tasks only: a "running" task of a process that is gone would be
    # marked interrupted when the dashboard opens the database (crash recovery,
    # not what is measured here)
    statuses = [s for s in TaskStatus if s.finished]
    batch: list[Task] = []
    newest = ""
    bulk = getattr(storage, "create_tasks", None)
    for i in range(n):
        when = t0 + timedelta(seconds=25 * i)
        task = Task(
            id=f"{i:012x}",
            description=f"benchmark task {i}: count the files in the workspace",
            status=statuses[i % len(statuses)],
            model="scripted/cheap",
            created_at=when,
            updated_at=when,
            prompt_tokens=300 + i % 1000,
            completion_tokens=20,
            cost_usd=1e-5 * (i % 100),
        )
        newest = task.id
        batch.append(task)
        if len(batch) == 10_000 or i == n - 1:
            if bulk is not None:
                bulk(batch)
            else:
                for t in batch:
                    storage.create_task(t)
            batch = []
    drivers.close_all()
    return newest


def baseline_ms(runs: int) -> float:
    """Median milliseconds of ``python -c pass`` (this interpreter)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cpu_ms(pid: int) -> float:
    """CPU milliseconds (user + system, every thread) process ``pid`` has
    used so far (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def launch_ms(home: Path, marker: str, pycache: Path | None = None) -> tuple[float, float]:
    """Milliseconds from starting ``az dashboard`` in a pty to the first
    output that contains ``marker``, and the CPU milliseconds the process
    used until then (less sensitive to a busy machine)."""
    az = shutil.which("az", path=str(Path(sys.executable).parent)) or "az"
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        "PYTHONPYCACHEPREFIX": str(pycache or home / "pycache"),
        "AZ_HOME": str(home),
        "TERM": "xterm-256color",
        "COLUMNS": "80",
        "LINES": "24",
    }
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(
        [az, "dashboard"], stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
    )
    os.close(slave)
    seen = b""
    elapsed = cpu = float("nan")
    try:
        while time.perf_counter() - start < 30:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                seen += chunk
                if marker.encode() in seen:
                    elapsed = (time.perf_counter() - start) * 1000
                    cpu = cpu_ms(proc.pid)
                    break
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)
    return elapsed, cpu


async def stream(home: Path, turns: int, rate: float) -> dict[str, Any]:
    """Run a ``turns``-turn scripted task at ``rate`` turns per second in the
    dashboard's process and time each screen update of its detail view.

    One update runs from the moment the detail view gets new turns (its
    ``show``, called on the UI thread with what the storage read returned)
    to the end of the first frame painted after it that shows the newest
    turn (log scrolled to its end): ``latency`` is that wall time, including
    the wait for Textual's next frame slot (at most 1/60 s); ``work`` is the
    same minus the time the event loop sat idle in between, i.e. what the UI
    thread did for the update (style, layout, compositor, paint). Headless
    Textual skips turning a frame into terminal bytes; here every frame is
    turned into them (``render_segments``), as a terminal would get it.
    """
    os.environ["AZ_HOME"] = str(home)
    os.environ["AZ_LOAD_PLUGINS"] = "tools,sqlite"
    import az_os.scripted
    from az_os.plugins import get_host
    from az_os.types import Task
    from az_tui.app import Dashboard
    from az_tui.data import Source
    from az_tui.detail import DetailScreen
    from textual.app import App

    get_host().register(az_os.scripted, "scripted")
    steps: list[dict[str, Any]] = [
        {"tool": "filesystem.list", "arguments": {"path": "."}, "thought": f"step {i}"}
        for i in range(turns - 1)
    ]
    az_os.scripted.set_script([*steps, {"answer": "done"}], "scripted/cheap")

    # the model answers at most ``rate`` times per second (it waits for its slot)
    original_complete = az_os.scripted.ScriptedModel.complete
    slot: list[float] = []

    def paced(self: Any, request: Any) -> Any:
        now = time.perf_counter()
        due = max(now, slot[0] + 1 / rate) if slot else now
        slot[:] = [due]
        time.sleep(max(0.0, due - now))
        return original_complete(self, request)

    idle = [0.0]  # seconds the event loop waited for something to do

    def timed_select(select: Any) -> Any:
        def wrapper(timeout: float | None = None) -> Any:
            t = time.perf_counter()
            try:
                return select(timeout)
            finally:
                idle[0] += time.perf_counter() - t

        return wrapper

    pending: list[tuple[float, float, float]] = []  # (wall, idle, cpu) at each show
    latency: list[float] = []
    work: list[float] = []
    cpu: list[float] = []
    original_show = DetailScreen.show
    original_display = App._display

    def show(self: DetailScreen, *a: Any, **kw: Any) -> None:
        before = self.shown
        t = (time.perf_counter(), idle[0], time.thread_time())
        original_show(self, *a, **kw)
        if self.shown != before:
            pending.append(t)

    def display(self: App[Any], screen: Any, renderable: Any) -> None:
        original_display(self, screen, renderable)
        if renderable is not None and self.is_headless:
            renderable.render_segments(self.console)  # what a terminal would be sent
        if not pending or not isinstance(screen, DetailScreen):
            return
        log = screen.query_one("#turns")
        if log.scroll_y < log.max_scroll_y:
            return  # the new turn is not in view yet
        now, idle_now, cpu_now = time.perf_counter(), idle[0], time.thread_time()
        for wall, idle_then, cpu_then in pending:
            latency.append((now - wall) * 1000)
            work.append((now - wall - (idle_now - idle_then)) * 1000)
            cpu.append((cpu_now - cpu_then) * 1000)
        pending.clear()

    az_os.scripted.ScriptedModel.complete = paced  # type: ignore[method-assign]
    DetailScreen.show = show  # type: ignore[method-assign]
    App._display = display  # type: ignore[method-assign]
    workspace = tempfile.mkdtemp()
    app = Dashboard(source=Source(), workspace=workspace, poll_s=0.5, metrics_fn=lambda: {})
    task = Task(
        description="stream", model="scripted/cheap", workspace=workspace,
        approval="auto", max_turns=turns + 1,
    )  # fmt: skip
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            selector: Any = asyncio.get_running_loop()._selector  # type: ignore[attr-defined]
            selector.select = timed_select(selector.select)
            await pilot.pause(0.5)  # the views mounted after the first paint
            app.runner.start(task)
            while app.source.storage.get_task(task.id) is None:
                await pilot.pause(0.01)
            app.open_task(task.id)
            # looked at from a thread, so the UI thread does only the dashboard's work
            finished = asyncio.create_task(asyncio.to_thread(_wait_finished, task.id))
            while not finished.done():
                await pilot.pause(0.05)
            await pilot.pause(0.6)
            screen = app.screen
            shown = screen.shown if isinstance(screen, DetailScreen) else 0
            del selector.select
    finally:
        az_os.scripted.ScriptedModel.complete = original_complete  # type: ignore[method-assign]
        DetailScreen.show = original_show  # type: ignore[method-assign]
        App._display = original_display  # type: ignore[method-assign]

    def p(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return xs[int(q * (len(xs) - 1))] if xs else float("nan")

    stored = Source().storage.list_turns(task.id)
    wall = (stored[-1].created_at - stored[0].created_at).total_seconds()
    return {
        "turns": turns,
        "shown": shown,
        "seconds": wall,
        "turns_per_s": (len(stored) - 1) / wall,
        "updates": len(work),
        **{f"{name}_p{int(q * 100)}": p(xs, q) for name, xs in
           (("work", work), ("cpu", cpu), ("latency", latency)) for q in (0.5, 0.95)},
        "work_max": max(work, default=float("nan")),
    }  # fmt: skip


def _wait_finished(task_id: str) -> None:
    from az_os.drivers import get_storage

    storage = get_storage()
    while True:
        task = storage.get_task(task_id)
        if task is not None and task.status.finished:
            return
        time.sleep(0.02)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--turns", type=int, default=250)
    ap.add_argument("--rate", type=float, default=50.0, help="turns per second (default 50)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", choices=("launch", "stream"), help="run only one of the two")
    args = ap.parse_args()
    print(f"baseline: python -c pass median {baseline_ms(max(3, args.runs)):.0f} ms")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        t = time.perf_counter()
        newest = fill(home, args.tasks)
        print(f"stored {args.tasks:,} tasks in {time.perf_counter() - t:.1f} s")
        if args.only != "stream":
            launch_ms(home, newest[:8])  # compiles the modules once, as an install has them
            runs = [launch_ms(home, newest[:8]) for _ in range(args.runs)]
            times = [wall for wall, _ in runs]
            print(
                f"launch to first paint ({args.tasks:,} tasks, 80x24): "
                f"median {statistics.median(times):.0f} ms, runs "
                + ", ".join(f"{x:.0f}" for x in times)
                + f" (target < 400 ms); CPU used by then: median "
                f"{statistics.median(cpu for _, cpu in runs):.0f} ms"
            )
        if args.only != "launch":
            r = asyncio.run(stream(home, args.turns, args.rate))
            print(
                f"detail view while streaming: {r['turns']} turns in {r['seconds']:.1f} s "
                f"({r['turns_per_s']:.0f} turns/s), {r['updates']} screen updates; "
                f"work per update p50 {r['work_p50']:.1f} ms, p95 {r['work_p95']:.1f} ms, "
                f"max {r['work_max']:.1f} ms (target p95 < 16 ms); UI-thread CPU "
                f"p50 {r['cpu_p50']:.1f} ms, p95 {r['cpu_p95']:.1f} ms; data to painted "
                f"frame p50 {r['latency_p50']:.1f} ms, p95 {r['latency_p95']:.1f} ms; "
                f"turns shown {r['shown']}"
            )


if __name__ == "__main__":
    main()
