"""How busy and how fast this machine is, to read wall times against.

A wall time measured on a shared machine is inflated by whatever else runs;
two cheap yardsticks measured right before (and after) a benchmark say by how
much, so a later run on a quiet machine can be compared:

* ``python_pass_s``: wall seconds of a fresh ``python -c pass`` (median of 5):
  process start-up, sensitive to CPU contention and disk cache;
* ``matmul_s``: seconds of one 96x96 float64 matrix product in pure
  Python on one thread (no BLAS, so no library's own threads; median of 3),
  the CPU time a single core gives this process;
* ``loadavg``: the 1-minute load average (``os.getloadavg``) and ``cpus``.

    python benchmarks/baseline.py        # prints the figures as JSON
"""

from __future__ import annotations

import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from typing import Any

MATMUL_N = 96


def _matmul_once(n: int = MATMUL_N) -> float:
    rng = random.Random(0)
    a = [[rng.random() for _ in range(n)] for _ in range(n)]
    b = [[rng.random() for _ in range(n)] for _ in range(n)]
    bt = list(zip(*b, strict=True))
    t0 = time.perf_counter()
    for row in a:
        [sum(x * y for x, y in zip(row, col, strict=True)) for col in bt]
    return time.perf_counter() - t0


def measure() -> dict[str, Any]:
    """The yardsticks above, as a dict (seconds, load average, CPUs)."""
    passes = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        passes.append(time.perf_counter() - t0)
    return {
        "python_pass_s": round(statistics.median(passes), 4),
        "matmul_s": round(statistics.median(_matmul_once() for _ in range(3)), 4),
        "matmul_n": MATMUL_N,
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
