"""What the shell sandbox costs: wall time of shell.execute('true') with and without bubblewrap.

Run: python benchmarks/sandbox.py [RUNS]   (default 30 runs per mode)

Prints the median and 90th percentile in milliseconds for sandbox "none" and
"bubblewrap" (when bwrap works here), plus the one-off probe that decides
"auto". Uses the real tool, a temp workspace and a temp az home.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    tmp = Path(tempfile.mkdtemp(prefix="az-bench-sandbox-"))
    os.environ["AZ_HOME"] = str(tmp / "home")
    (tmp / "home").mkdir()
    ws = tmp / "ws"
    ws.mkdir()
    from az_os.config import AzConfig
    from az_os.tools import ToolContext
    from az_tools import sandbox
    from az_tools.shell import ShellTool

    start = time.perf_counter()
    ok, why = sandbox.probe_bwrap()
    print(f"probe (once per process): {(time.perf_counter() - start) * 1000:.1f} ms -> {why}")
    tool = ShellTool()
    modes = ["none"] + (["bubblewrap"] if ok else [])
    for mode in modes:
        config = AzConfig()
        config.tools.shell.sandbox = mode
        ctx = ToolContext(workspace=ws, task_id="bench", approval="auto", config=config)
        tool.run({"command": "true"}, ctx)  # warm-up
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            res = tool.run({"command": "true"}, ctx)
            times.append((time.perf_counter() - t0) * 1000)
            assert res.success, res.error
        times.sort()
        p90 = times[int(len(times) * 0.9) - 1]
        limit = sandbox.plan(config).process_limit
        print(
            f"sandbox={mode:<10} median {statistics.median(times):6.1f} ms  "
            f"p90 {p90:6.1f} ms  ({runs} runs; process limit: {limit})"
        )


if __name__ == "__main__":
    main()
