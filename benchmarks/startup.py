"""Start-up time of the az command line.

Prints the median wall time (ms) over N runs (default 20) of:
  python -c pass        the interpreter alone (the floor)
  az --help             the root help, every installed plugin loaded
  az plugins list       plugin discovery and a table
and the heavy modules (litellm, llama_cpp, chromadb, textual, git, torch, mcp,
httpx, openai, peewee) loaded after each command ran.

Target (issue #2): `az --help` median under 150 ms with every first-party plugin installed.

    python benchmarks/startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HEAVY = {
    "litellm",
    "llama_cpp",
    "chromadb",
    "textual",
    "git",
    "torch",
    "mcp",
    "httpx",
    "openai",
    "peewee",
}


def timed(cmd: list[str], runs: int, env: dict[str, str]) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
        )
        out.append((time.perf_counter() - start) * 1000)
    return out


def heavy_imports(cmd: list[str], env: dict[str, str]) -> list[str]:
    """Top-level packages in sys.modules after the command ran (importtime can miss
    modules loaded through import hooks such as editable installs)."""
    args = cmd[3:]  # after: python -m az_os.cli
    script = (
        "import sys, json\nfrom az_os.cli import main\ntry:\n"
        f"    main({args!r})\nexcept SystemExit:\n    pass\n"
        "sys.__stderr__.write(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    import json

    mods = set(json.loads(proc.stderr.strip().splitlines()[-1]))
    return sorted(mods & HEAVY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = dict(os.environ)
    env["AZ_HOME"] = tempfile.mkdtemp(prefix="az-bench-")
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("az --help", [sys.executable, "-m", "az_os.cli", "--help"]),
        ("az plugins list", [sys.executable, "-m", "az_os.cli", "plugins", "list"]),
    ]
    timed(cases[1][1], 2, env)  # warm the file cache
    print(f"{'command':<18} {'median ms':>10} {'p95 ms':>8}  heavy modules imported")
    for name, cmd in cases:
        samples = sorted(timed(cmd, args.runs, env))
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        heavy = heavy_imports(cmd, env) if name.startswith("az") else []
        print(
            f"{name:<18} {statistics.median(samples):>10.1f} {p95:>8.1f}  {', '.join(heavy) or 'none'}"
        )


if __name__ == "__main__":
    main()
