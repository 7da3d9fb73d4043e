"""az against a peer agent framework on the same local model and the same tasks.

The peer is smolagents (``ToolCallingAgent``, and ``CodeAgent`` with
``--agents``) talking to llama-cpp-python's OpenAI-compatible server
(``python -m llama_cpp.server``, started here on 127.0.0.1 with the GGUF az
uses, so the comparison is model for model: same file, same context size,
same threads, greedy decoding). The server keeps one model loaded and its KV
cache between requests; az loads the model in each ``az task run`` process
and reuses the KV cache of its own prompt prefix (az-local).

Both sides run examples/tasks in a fresh workspace per task with the same
checks (benchmarks/agent_tasks.py: the answer or the workspace is checked;
an answer given without any tool call fails). The peer gets four tools that
mirror az's: ``list_files``, ``read_file``, ``write_file`` and
``run_shell`` (bash in the workspace, 60 s timeout), and ``--max-steps``
steps (default 10, az's default turn limit).

az's side: by default each task runs through ``az task run`` right
before the peers run it (``--az interleave``), so both see the same machine
load; ``--az-record FILE`` also stores those az rows as a run
(agent_tasks.py --record's format). ``--az recorded`` takes az's rows from
a recorded run instead (``--az-runs``, default
benchmarks/data/agent_tasks_runs.json), printed with that run's machine
yardsticks, since a shared machine inflates wall times.

Prints one row per task (ok, steps, wall seconds) for each agent, then
right out of N and wall seconds per task (median, p90) for each.

Needs, for the benchmark only (not az's dependencies)::

    pip install 'smolagents>=1.20' openai 'llama-cpp-python[server]'

    python benchmarks/agent_peers.py [--model local/qwen2.5-coder-1.5b-instruct]
        [--agents toolcalling,code] [--only 01 06] [--max-steps 10]
        [--az interleave|recorded|skip] [--az-record FILE] [--jsonl FILE]
        [--record benchmarks/data/agent_peers_runs.json] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import agent_tasks  # benchmarks/agent_tasks.py, beside this script
import baseline

DEFAULT_MODEL = "local/qwen2.5-coder-1.5b-instruct"
RUNS = Path(__file__).parent / "data" / "agent_tasks_runs.json"
#: What in a CodeAgent's code action touches the workspace (a tool call).
WORKSPACE_CALLS = (
    "list_files",
    "read_file",
    "write_file",
    "run_shell",
    "open(",
    "os.",
    "subprocess",
)


def gguf_of(model_id: str) -> tuple[Path, int, int]:
    """(GGUF path, context tokens, threads) az-local uses for ``model_id``;
    a pack's file is assembled and verified first (az_local.packs)."""
    os.environ.setdefault("AZ_HOME", tempfile.mkdtemp(prefix="az-peers-home-"))
    from az_local.model import default_threads, models_from_config

    for m in models_from_config():
        if model_id in (m.info.id, *m.info.aliases):
            path = m.path
            if m.pack is not None:
                from az_local.packs import ensure_file

                path = ensure_file(m.pack)
            return Path(path), m.info.context_window, m.threads or default_threads()
    raise SystemExit(f"no local model {model_id!r}: see 'az models list'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def llama_server(gguf: Path, n_ctx: int, threads: int, log: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port,
    serving ``gguf`` as model ``local``; yields its base URL (``.../v1``)."""
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "az_local.server",  # llama_cpp.server with az-local's CPU settings
        "--model",
        str(gguf),
        "--model_alias",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--n_threads_batch",
        str(threads),
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 300
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"llama_cpp.server exited {proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"llama_cpp.server did not answer in 300 s; see {log}"
                    ) from None
                time.sleep(1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_tools() -> list[Any]:
    """The peer's tools, acting on the current directory (the task's
    workspace): the same five jobs as az's filesystem.list/read/search/write
    and shell.execute."""
    from smolagents import tool

    @tool
    def list_files(path: str = ".") -> str:
        """List the entries of a directory in the workspace.

        Args:
            path: directory, relative to the workspace (default ".").
        """
        p = Path(path)
        return "\n".join(sorted(e.name + ("/" if e.is_dir() else "") for e in p.iterdir()))

    @tool
    def read_file(path: str) -> str:
        """Read a text file in the workspace.

        Args:
            path: file path, relative to the workspace.
        """
        return Path(path).read_text(errors="replace")[:20000]

    @tool
    def search_files(pattern: str, path: str = ".") -> str:
        """Find the lines of the workspace's files that contain a text, like grep -rn.

        Args:
            pattern: the text to look for (case-sensitive).
            path: directory to search with its subdirectories (default ".").
        """
        hits = []
        for f in sorted(Path(path).rglob("*")):
            if not f.is_file() or any(part.startswith(".") for part in f.parts):
                continue
            for n, line in enumerate(f.read_text(errors="replace").splitlines(), 1):
                if pattern in line:
                    hits.append(f"{f}:{n}:{line[:200]}")
        return "\n".join(hits[:100]) or "no match"

    @tool
    def write_file(path: str, content: str) -> str:
        """Create or overwrite a text file in the workspace.

        Args:
            path: file path, relative to the workspace.
            content: the whole new content of the file.
        """
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(content)
        return f"wrote {len(content)} characters to {path}"

    @tool
    def run_shell(command: str) -> str:
        """Run a shell command (bash) in the workspace and return its exit code and output.

        Args:
            command: the command line, e.g. "git log -1" or "python3 test_x.py".
        """
        try:
            proc = subprocess.run(
                ["bash", "-c", command], capture_output=True, text=True, timeout=60
            )
        except subprocess.TimeoutExpired:
            return "timed out after 60 s"
        return f"exit code {proc.returncode}\n{proc.stdout[-8000:]}{proc.stderr[-4000:]}"

    return [list_files, read_file, search_files, write_file, run_shell]


def run_peer(
    path: Path, kind: str, base_url: str, max_steps: int, max_tokens: int
) -> dict[str, Any]:
    """One task through smolagents (``kind``: toolcalling or code) in a fresh
    workspace; the row has agent_tasks.py's keys (ok, why, steps, tool_calls,
    tokens, answer, wall_s)."""
    from smolagents import CodeAgent, OpenAIServerModel, ToolCallingAgent

    spec = tomllib.loads(path.read_text())
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="az-peer-") as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        bg = agent_tasks.prepare(spec, ws)
        os.chdir(ws)
        answer, error = "", ""
        start = time.perf_counter()
        try:
            model = OpenAIServerModel(
                model_id="local",
                api_base=base_url,
                api_key="not-needed",
                flatten_messages_as_text=True,
                temperature=0.0,
                max_tokens=max_tokens,
            )
            cls = CodeAgent if kind == "code" else ToolCallingAgent
            agent = cls(tools=make_tools(), model=model, max_steps=max_steps, verbosity_level=0)
            try:
                answer = str(agent.run(spec["description"]))
            except Exception as exc:  # noqa: BLE001 - the agent's failure is a failed task
                error = f"{type(exc).__name__}: {exc}"
        finally:
            wall = time.perf_counter() - start
            os.chdir(cwd)
            if bg:
                bg.kill()
                bg.wait()
        steps, calls = _steps(agent if "agent" in locals() else None)
        tokens = _tokens(agent if "agent" in locals() else None)
        if error:
            ok, why = False, error[:200]
        else:
            ok, why = agent_tasks.check(spec, answer, ws)
            if ok and not calls:
                ok, why = False, "answered without calling a tool"
    return {
        "task": path.stem,
        "agent": f"smolagents-{kind}",
        "ok": ok,
        "why": why,
        "turns": steps,
        "tool_calls": calls,
        "tokens": tokens,
        "answer": answer[:80],
        "wall_s": wall,
    }


def _steps(agent: Any) -> tuple[int, int]:
    """(action steps, tool calls other than final_answer) from an agent's
    memory; for a CodeAgent every code action counts as a tool call."""
    if agent is None:
        return 0, 0
    steps = calls = 0
    for step in getattr(agent.memory, "steps", []):
        if type(step).__name__ != "ActionStep":
            continue
        steps += 1
        for tc in getattr(step, "tool_calls", None) or []:
            name = getattr(tc, "name", "")
            code = str(getattr(tc, "arguments", ""))
            if name == "python_interpreter":
                # a code action: a tool call unless it only gives the final answer
                calls += int(any(t in code for t in WORKSPACE_CALLS))
            elif name != "final_answer":
                calls += 1
    return steps, calls


def _tokens(agent: Any) -> int:
    """Prompt + completion tokens the agent's monitor counted (0 if unknown)."""
    try:
        usage = agent.monitor.get_total_token_counts()
        return int(usage.input_tokens + usage.output_tokens)
    except Exception:  # noqa: BLE001 - older smolagents count differently
        return 0


def recorded_az_rows(
    model: str, paths: list[Path], runs: Path
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """az's rows for ``paths`` from the recorded run of ``model`` in ``runs``
    and that run's record without its rows; ([], None) when not recorded."""
    names = {p.stem for p in paths}
    if runs.exists():
        for run in json.loads(runs.read_text())["runs"]:
            if run["model"] == model:
                meta = {k: v for k, v in run.items() if k != "rows"}
                return [r for r in run["rows"] if r["task"] in names], meta
    return [], None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="local model id (az-local)")
    parser.add_argument(
        "--agents",
        default="toolcalling",
        help="comma-separated peers: toolcalling (ToolCallingAgent), code (CodeAgent)",
    )
    parser.add_argument("--only", nargs="*", help="task file name prefixes, e.g. 01 06")
    parser.add_argument("--max-steps", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=512, help="per model call")
    parser.add_argument(
        "--az",
        choices=("interleave", "recorded", "skip"),
        default="interleave",
        help="az's side: run each task through az right before the peers run it, so both "
        "see the same machine load (default); take it from --az-runs; or leave it out",
    )
    parser.add_argument("--az-runs", type=Path, default=RUNS)
    parser.add_argument(
        "--az-record",
        type=Path,
        help="with --az interleave: also store az's rows as a run in this file "
        "(agent_tasks.py --record's format, e.g. benchmarks/data/agent_tasks_runs.json)",
    )
    parser.add_argument("--jsonl", type=Path, help="append each row to this file as it finishes")
    parser.add_argument("--record", type=Path, help="store the peers' runs in this JSON file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    try:
        import llama_cpp.server  # noqa: F401
        import smolagents  # noqa: F401
    except ImportError as exc:
        raise SystemExit(
            f"{exc}: pip install 'smolagents>=1.20' openai 'llama-cpp-python[server]'"
        ) from None
    paths = agent_tasks.task_paths(args.only)
    before = baseline.measure()
    gguf, n_ctx, threads = gguf_of(args.model)
    results: dict[str, list[dict[str, Any]]] = {}
    az: list[dict[str, Any]] = []
    az_meta: dict[str, Any] | None = None
    log = Path(tempfile.mkdtemp(prefix="az-peers-")) / "server.log"  # kept: read it on failure
    with llama_server(gguf, n_ctx, threads, log) as base:
        for p in paths:
            todo: list[tuple[str, Any]] = [("az", None)] if args.az == "interleave" else []
            todo += [(f"smolagents-{kind}", kind) for kind in args.agents.split(",")]
            for name, kind in todo:
                if kind is None:
                    row = {"agent": "az", **agent_tasks.run_task(p, args.model, None)}
                    az.append(row)
                else:
                    row = run_peer(p, kind, base, args.max_steps, args.max_tokens)
                    results.setdefault(name, []).append(row)
                if args.jsonl:
                    with args.jsonl.open("a", encoding="utf-8") as f:
                        f.write(json.dumps(row) + "\n")
                if not args.json:
                    _print_row(name, row)
    after = baseline.measure()
    if args.az == "recorded":
        az, az_meta = recorded_az_rows(args.model, paths, args.az_runs)
    elif az and args.az_record:
        agent_tasks.record(args.az_record, args.model, az, before, "run by agent_peers.py")
    summaries = ({"az": agent_tasks.summary(az)} if az else {}) | {
        k: agent_tasks.summary(v) for k, v in results.items()
    }
    if args.record:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=agent_tasks.ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        import smolagents

        args.record.write_text(
            json.dumps(
                {
                    "model": args.model,
                    "gguf": gguf.name,
                    "commit": commit,
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ"),
                    "smolagents": smolagents.__version__,
                    "machine": {"before": before, "after": after},
                    "az_run": az_meta,
                    "summaries": summaries,
                    "rows": results,
                },
                indent=1,
            )
            + "\n"
        )
    if args.json:
        print(json.dumps({"summaries": summaries, "az": az, **results}, indent=2))
        return
    if az_meta:
        print(
            f"\naz rows: recorded run of {az_meta['model']} at {az_meta['commit']} on "
            f"{az_meta['date']} (machine then: {az_meta['machine']['before']})"
        )
    for row in az:
        _print_row("az", row)
    print(f"\nmodel {args.model} ({gguf.name}), {threads} threads, n_ctx {n_ctx}")
    print(f"machine before: {before}\nmachine after:  {after}")
    for name, s in summaries.items():
        print(
            f"{name:<24} {s['ok']:>2}/{s['tasks']} right  wall per task median "
            f"{s['wall_median_s']:5.1f} s  p90 {s['wall_p90_s']:5.1f} s  mean steps "
            f"{s['mean_turns']:.1f}"
        )


def _print_row(agent: str, row: dict[str, Any]) -> None:
    mark = "ok  " if row["ok"] else "FAIL"
    print(
        f"{agent:<24} {mark} {row['task']:<24} steps {row.get('turns', '-')!s:>2}  "
        f"tools {row.get('tool_calls', '-')!s:>2}  {row['wall_s']:6.1f}s  {row['why'][:60]}",
        flush=True,
    )


if __name__ == "__main__":
    main()
