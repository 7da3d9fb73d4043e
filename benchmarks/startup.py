"""Start-up time of the az command line.

Prints the median wall time (ms) over N runs (default 20) of:
  python -c pass        the interpreter alone (the floor)
  az --help             the root help: every command listed from the plugins'
                        declarations (az.commands), no plugin module imported
  az dashboard --help   one plugin command's own help: only the module that
                        defines it is imported
  az task list --help   a kernel command: no plugin at all
  az plugins list       every plugin loaded, and a table
and, after each command ran, the heavy modules (litellm, llama_cpp, chromadb,
textual, git, torch, mcp, httpx, openai, peewee) loaded and how many of the
installed plugins' hook modules (the ``az`` entry points) were imported.

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


def loaded_after(cmd: list[str], env: dict[str, str]) -> tuple[list[str], int]:
    """The heavy top-level packages in sys.modules after the command ran, and
    how many plugin hook modules (``az`` entry points) were imported
    (importtime can miss modules loaded through import hooks such as
    editable installs, so the interpreter is asked)."""
    args = cmd[3:]  # after: python -m az_os.cli
    script = (
        "import sys, json\nfrom az_os.cli import main\ntry:\n"
        f"    main({args!r})\nexcept SystemExit:\n    pass\n"
        "from importlib.metadata import entry_points\n"
        "hooks = [ep.value for ep in entry_points(group='az')]\n"
        "sys.__stderr__.write(json.dumps([sorted({m.split('.')[0] for m in sys.modules}),"
        " [h for h in hooks if h in sys.modules], len(hooks)]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    import json

    mods, hooks, _ = json.loads(proc.stderr.strip().splitlines()[-1])
    return sorted(set(mods) & HEAVY), len(hooks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    env = dict(os.environ)
    env["AZ_HOME"] = tempfile.mkdtemp(prefix="az-bench-")
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("az --help", [sys.executable, "-m", "az_os.cli", "--help"]),
        ("az dashboard --help", [sys.executable, "-m", "az_os.cli", "dashboard", "--help"]),
        ("az task list --help", [sys.executable, "-m", "az_os.cli", "task", "list", "--help"]),
        ("az plugins list", [sys.executable, "-m", "az_os.cli", "plugins", "list"]),
    ]
    timed(cases[1][1], 2, env)  # warm the file cache
    print(
        f"{'command':<20} {'median ms':>10} {'p95 ms':>8}  {'hook modules':>12}  "
        "heavy modules imported"
    )
    for name, cmd in cases:
        samples = sorted(timed(cmd, args.runs, env))
        p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
        heavy, hooks = loaded_after(cmd, env) if name.startswith("az") else ([], 0)
        print(
            f"{name:<20} {statistics.median(samples):>10.1f} {p95:>8.1f}  {hooks:>12}  "
            f"{', '.join(heavy) or 'none'}"
        )


if __name__ == "__main__":
    main()
