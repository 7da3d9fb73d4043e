"""Checkpoint benchmark (az-git): time per automatic checkpoint and per restore.

Workspaces of 1,000 files (10 KB each, ≈10 MB) and 10,000 files (≈100 MB, 100
files per directory), as a plain directory and as a git repository with
every file committed. Between two checkpoints one file is changed, as a
task's turn would. Each checkpoint is what the ``az_before_tool_call`` hook
does: ``Checkpoints.save`` (git ``ls-files``/``add -A``/``write-tree``/
``commit-tree``/``update-ref`` in the workspace's store, plus the record in a
real SQLite database).

Prints, per workspace: the first checkpoint (everything hashed once), p50 and
p95 of the following ones (wall ms), their p50 CPU time (this process and
its git children, user + system ms: what the wall time approaches on an idle
machine, so numbers from a busy shared machine can be read), and p50 of a
restore to the previous checkpoint (one file back, wall ms). Targets: p50 <
50 ms at 1,000 files and < 300 ms at 10,000 files.

Run: ``python benchmarks/checkpoints.py`` (``--rounds N``, default 30;
``--sizes 1000,10000``). Needs az-os, az-sqlite and az-git installed; works
in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def _cpu_ms() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime) * 1000


def make_workspace(root: Path, files: int, size: int, repo: bool) -> list[Path]:
    root.mkdir(parents=True)
    paths = []
    rnd = random.Random(files)
    for i in range(files):
        d = root / f"d{i // 100:03d}"
        d.mkdir(exist_ok=True)
        p = d / f"f{i:05d}.txt"
        p.write_bytes(rnd.randbytes(size))
        paths.append(p)
    if repo:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b", GIT_COMMITTER_NAME="b",
                   GIT_COMMITTER_EMAIL="b@b")  # fmt: skip
        for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "all"]):
            subprocess.run(["git", *cmd], cwd=root, env=env, check=True)
    return paths


def bench(files: int, rounds: int, repo: bool, tmp: Path) -> dict[str, float]:
    from az_git.manager import Checkpoints

    ws = tmp / f"ws-{files}-{'repo' if repo else 'dir'}"
    paths = make_workspace(ws, files, 10_000, repo)
    cps = Checkpoints()
    t = time.perf_counter()
    cps.save(ws)
    first = (time.perf_counter() - t) * 1000
    rnd = random.Random(7)
    times: list[float] = []
    cpu: list[float] = []
    saved = []
    for i in range(rounds):
        rnd.choice(paths).write_bytes(rnd.randbytes(10_000))
        c, t = _cpu_ms(), time.perf_counter()
        cp, _ = cps.save(ws, task_id=None, turn=i + 1)
        times.append((time.perf_counter() - t) * 1000)
        cpu.append(_cpu_ms() - c)
        saved.append(cp)
    restores: list[float] = []
    for cp in saved[-min(10, len(saved)) :][::-1][1:]:
        t = time.perf_counter()
        cps.restore(cp)
        restores.append((time.perf_counter() - t) * 1000)
    return {
        "first_ms": first,
        "p50_ms": statistics.median(times),
        "p95_ms": _pct(times, 95),
        "cpu_p50_ms": statistics.median(cpu),
        "restore_p50_ms": statistics.median(restores) if restores else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--sizes", default="1000,10000")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        os.environ["AZ_HOME"] = str(tmp / "home")
        for var in [v for v in os.environ if v.startswith("AZ_") and v != "AZ_HOME"]:
            del os.environ[var]
        git = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
        print(f"{git}; python {sys.version.split()[0]}; {os.cpu_count()} cores")
        print(f"load average {os.getloadavg()[0]:.1f}")
        head = f"{'workspace':<28}{'first':>10}{'p50':>10}{'p95':>10}{'CPU p50':>10}{'restore':>10}"
        print(head)
        for files in (int(s) for s in args.sizes.split(",")):
            for repo in (False, True):
                r = bench(files, args.rounds, repo, tmp)
                name = f"{files:,} files ({files * 10 // 1000} MB) {'repo' if repo else 'dir'}"
                print(
                    f"{name:<28}{r['first_ms']:>8.0f}ms{r['p50_ms']:>8.1f}ms"
                    f"{r['p95_ms']:>8.1f}ms{r['cpu_p50_ms']:>8.1f}ms{r['restore_p50_ms']:>8.1f}ms"
                    f"  (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
