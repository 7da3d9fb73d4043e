"""Generate benchmarks/data/routing_workload.jsonl (the routing benchmark's workload).

Deterministic (seed 20251121): running it again writes the same file.
How every figure is derived is written down in routing_workload.md next to
this file; the constants below are the ones that document cites.

    python benchmarks/data/routing_workload.py           # rewrite the .jsonl
    python benchmarks/data/routing_workload.py --check   # exit 1 if it differs
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

SEED = 20251121
OUT = Path(__file__).with_suffix(".jsonl")
TIERS = ("free", "cheap", "mid", "premium")
#: The hosted model on a free plan (priced 0): Gemini 2.5 Flash on the Gemini
#: API's free tier. Its outcomes come from a second generator seeded per task,
#: so adding it left every other field of the file as it was.
FREE_HOSTED = "free_hosted"
#: A second free-plan model: DeepSeek-V3.1 through OpenRouter's ``:free``
#: variant (``openrouter/deepseek/deepseek-chat-v3.1:free``). Its outcomes
#: come from a third generator seeded per task, so adding it left every other
#: field of the file as it was.
FREE_DEEPSEEK = "free_deepseek"

#: Pass rate per (true category, tier). See routing_workload.md, "Pass rates".
PASS: dict[str, dict[str, float]] = {
    "simple": {"free": 0.30, "cheap": 0.95, "mid": 0.96, "premium": 0.97},
    "code": {"free": 0.02, "cheap": 0.80, "mid": 0.85, "premium": 0.89},
    "reasoning": {"free": 0.02, "cheap": 0.80, "mid": 0.73, "premium": 0.83},
    "long": {"free": 0.0, "cheap": 0.68, "mid": 0.73, "premium": 0.77},
}

#: Pass rate of Gemini 2.5 Flash per category (routing_workload.md, "Pass
#: rates"): simple: assumption, as the cheap tier; code: SWE-bench Verified
#: 48.9 + 0.12; reasoning: GPQA Diamond 80.8; long: SWE-bench Verified 48.9.
PASS_FREE_HOSTED: dict[str, float] = {"simple": 0.95, "code": 0.61, "reasoning": 0.81, "long": 0.49}

#: Pass rate of DeepSeek-V3.1 (non-thinking: the mode that calls tools) per
#: category (routing_workload.md, "OpenRouter's free DeepSeek"): simple:
#: assumption, as the cheap tier; code: SWE-bench Verified 66.0 + 0.12;
#: reasoning: GPQA Diamond 74.9; long: SWE-bench Verified 66.0 (model card).
PASS_FREE_DEEPSEEK: dict[str, float] = {
    "simple": 0.95,
    "code": 0.78,
    "reasoning": 0.75,
    "long": 0.66,
}

#: Model calls a task makes over its turns, uniform in this range
#: (assumption; at most 5 turns by default). A free plan's daily quota counts them.
CALLS: dict[str, tuple[int, int]] = {
    "simple": (1, 3),
    "code": (2, 5),
    "reasoning": (1, 3),
    "long": (3, 5),
}

#: Share of failures the agent loop notices (provider error, malformed output
#: after repair, turn limit without progress, failing tests) and escalates,
#: per category; the free tier's failures are mostly malformed/looping output.
DETECTED: dict[str, float] = {"simple": 0.6, "code": 0.75, "reasoning": 0.35, "long": 0.7}
DETECTED_FREE = 0.9

#: How strongly one task's outcomes agree across tiers: with this probability
#: a tier's outcome follows the task's shared difficulty, else it is an
#: independent draw with the same pass rate.
CORRELATION = 0.8

#: Tasks per category (40 / 35 / 15 / 10 %).
COUNTS = {"simple": 96, "code": 84, "reasoning": 36, "long": 24}

#: Token ranges per category: (first-call prompt tokens, total prompt tokens
#: over the task's turns, total completion tokens). See "Token counts".
TOKENS: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = {
    "simple": ((1100, 1600), (1800, 4500), (60, 300)),
    "code": ((1300, 3500), (9000, 40000), (800, 4000)),
    "reasoning": ((1150, 2200), (1500, 6000), (600, 2500)),
    "long": ((9000, 30000), (60000, 220000), (3000, 9000)),
}

FILES = [
    "src/app.py",
    "src/utils/io.py",
    "README.md",
    "pyproject.toml",
    "setup.cfg",
    "src/db.py",
    "web/index.js",
    "cmd/server/main.go",
    "lib/parser.rs",
    "config/settings.yaml",
    "scripts/deploy.sh",
    "src/api/routes.ts",
    "tests/test_io.py",
    "Makefile",
    "docs/usage.md",
]
DIRS = ["src", "tests", "docs", "scripts", "the current directory", "~/Downloads", "build", "web"]
MODULES = ["io", "parser", "cache", "auth", "billing", "models", "cli", "scheduler", "metrics"]
THINGS = [
    "the CSV importer",
    "the login handler",
    "the retry helper",
    "the config loader",
    "the date parser",
    "the HTTP client wrapper",
    "the cache layer",
    "the report generator",
]

SIMPLE = [
    "what time is it in UTC?",
    "list the files in {dir}",
    "how many lines are in {file}?",
    "show me the first 20 lines of {file}",
    "what is the size of {dir} on disk?",
    "which processes are using the most memory right now?",
    "print the current working directory",
    "read {file} and tell me the project version",
    "is there a file called LICENSE in {dir}?",
    "show disk usage for the home directory",
    "find files modified in the last day under {dir}",
    "what python version is installed?",
    "count the markdown files in docs",
    "show the last 50 lines of the log file in logs/app.log",
    "list environment variables that start with AZ_",
    "rename notes.txt to notes-old.txt",
    "create an empty directory called tmp/output",
    "what does the {module} package in {dir} contain?",
    "copy {file} to backup/",
    "tell me how much free memory the machine has",
]
CODE = [
    "add a function slugify(text) to {file} and a unit test for it",
    "fix the failing test in tests/test_{module}.py",
    "refactor {thing} in src/{module}.py to use pathlib instead of os.path",
    "write a Python script that converts data.csv to JSON lines",
    "add type hints to every function in src/{module}.py",
    "there is a bug in {thing}: it crashes on empty input; fix it and add a regression test",
    "implement retry with exponential backoff in src/{module}.py",
    "write a regex that validates ISO 8601 dates and test it",
    "the build fails with this traceback: ModuleNotFoundError: No module named '{module}'. fix it",
    "add a --verbose flag to the CLI in src/cli.py",
    "write a Dockerfile for this Flask app",
    "add an endpoint GET /health to src/api/routes.ts that returns ok",
    "make {thing} handle unicode file names; add a test",
    "replace print calls with logging in src/{module}.py",
    "write a bash script that rotates logs older than 7 days",
    "implement an LRU cache class with get/put in src/cache.py",
    "debug why pytest hangs in tests/test_{module}.py and fix it",
    "add pagination to the list endpoint in src/api/routes.ts",
    "convert {thing} from callbacks to async/await",
    "write a SQL migration that adds an index on orders.customer_id",
]
REASONING = [
    "compare PostgreSQL and SQLite for a single-user desktop app and recommend one",
    "explain why our p99 latency doubles when the cache is cold",
    "we have 3 servers at 70% CPU; estimate how many we need for 2.5x traffic, step by step",
    "what are the trade-offs between a monorepo and one repository per service for 6 developers?",
    "prove that the sum of the first n odd numbers is n squared",
    "plan a rollout strategy for a breaking change in our public REST API",
    "a test fails once in 40 runs; analyze the likely root cause categories "
    "and how to narrow them down",
    "design a rate-limiting strategy for a multi-tenant API with bursty clients",
    "what is the probability that two of 30 people share a birthday? show the reasoning",
    "evaluate whether we should cache {thing} results given they change hourly",
    "compare event sourcing with a plain CRUD model for the billing domain",
    "explain how a B-tree keeps lookups logarithmic as it grows",
    "estimate the monthly cost of storing 2 TB of logs for 90 days on object storage",
    "why would a Python process keep growing in memory when no objects leak?",
    "derive the expected number of retries with exponential backoff and 20% failure rate",
    "what would happen to throughput if we doubled the worker pool but kept one database?",
    "analyze the pros and cons of feature flags versus release branches for our team",
    "plan the capacity for a queue receiving 500 messages/s at peak with 40 ms processing each",
]
LONG = [
    "update every file in the repository to use the new logging module",
    "summarize the whole codebase's architecture in a one-page document",
    "rename the function load_cfg to load_config across the codebase and fix all call sites",
    "migrate the project from setup.py to pyproject.toml and fix all the imports that break",
    "find all the files that still use the deprecated {module} API and update them",
    "review the entire repository for SQL injection risks and fix what you find",
    "add docstrings to every module in the {module} package",
    "upgrade the project from Python 3.8 to 3.12 across the codebase, fixing deprecated calls",
    "summarize this log file of the last week and list every distinct error",
    "port the test suite across the modules from unittest to pytest",
]
TEMPLATES = {"simple": SIMPLE, "code": CODE, "reasoning": REASONING, "long": LONG}


def _fill(rng: random.Random, template: str) -> str:
    return template.format(
        file=rng.choice(FILES),
        dir=rng.choice(DIRS),
        module=rng.choice(MODULES),
        thing=rng.choice(THINGS),
    )


def _priority(rng: random.Random) -> str:
    r = rng.random()
    return "urgent" if r < 0.02 else "high" if r < 0.10 else "low" if r < 0.15 else "medium"


def _outcomes(rng: random.Random, category: str) -> tuple[dict[str, str], float]:
    u = rng.random()  # the task's shared difficulty
    out: dict[str, str] = {}
    for tier in TIERS:
        p = PASS[category][tier]
        ok = u < p if rng.random() < CORRELATION else rng.random() < p
        if ok:
            out[tier] = "ok"
        else:
            detected = DETECTED_FREE if tier == "free" else DETECTED[category]
            out[tier] = "fail_detected" if rng.random() < detected else "fail_silent"
    return out, u


def _free_hosted(
    rng: random.Random, category: str, u: float, rates: dict[str, float] = PASS_FREE_HOSTED
) -> str:
    """A free-plan model's outcome, correlated with the task's difficulty ``u``."""
    p = rates[category]
    ok = u < p if rng.random() < CORRELATION else rng.random() < p
    if ok:
        return "ok"
    return "fail_detected" if rng.random() < DETECTED[category] else "fail_silent"


def generate() -> list[dict[str, object]]:
    rng = random.Random(SEED)
    rows: list[dict[str, object]] = []
    for category, n in COUNTS.items():
        templates = TEMPLATES[category]
        for i in range(n):
            text = _fill(rng, templates[i % len(templates)])
            (c0, c1), (p0, p1), (o0, o1) = TOKENS[category]
            context = rng.randint(c0, c1)
            priority = _priority(rng)
            prompt = max(context, rng.randint(p0, p1))
            completion = rng.randint(o0, o1)
            outcomes, u = _outcomes(rng, category)
            extra = random.Random(f"{SEED}:{category}:{i}")
            outcomes[FREE_HOSTED] = _free_hosted(extra, category, u)
            calls = extra.randint(*CALLS[category])
            third = random.Random(f"{SEED}:{category}:{i}:{FREE_DEEPSEEK}")
            outcomes[FREE_DEEPSEEK] = _free_hosted(third, category, u, PASS_FREE_DEEPSEEK)
            rows.append(
                {
                    "category": category,
                    "text": text,
                    "priority": priority,
                    "context_tokens": context,
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "calls": calls,
                    "tools": True,
                    "outcomes": outcomes,
                }
            )
    rng.shuffle(rows)
    for i, row in enumerate(rows, 1):
        row["id"] = f"w{i:03d}"
    return [{"id": r.pop("id"), **r} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in generate())
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUT} differs from the generator")
        sys.exit(0 if same else 1)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({text.count(chr(10))} tasks)")


if __name__ == "__main__":
    main()
