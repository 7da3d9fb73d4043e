"""Test automation: `nox` runs every default session; `nox -s tests` just the tests.

Sessions build their own virtualenvs under .nox/, so the only thing a fresh
machine needs is Python and `pip install nox`.

- kernel     the kernel alone (no plugins): its tests, minimal-install behaviour
- tests      the full install (requirements.txt): kernel, cross-plugin and every plugin's tests
- plugin     one plugin with the kernel: `nox -s "plugin(name='az-sqlite')"`
- lint       ruff over everything, import-linter's layer contracts (pyproject.toml)
- typecheck  mypy --strict over the kernel
- build      a wheel of every distribution into dist/
- server     (not default) the minimal headless install and the server's tests against it
"""

from __future__ import annotations

from pathlib import Path

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).parent
PLUGINS = sorted(p.parent.name for p in (ROOT / "plugins").glob("*/pyproject.toml"))

nox.options.sessions = ["kernel", "tests", "lint", "typecheck", "build"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONDONTWRITEBYTECODE": "1"}


def _pytest(session: nox.Session, *paths: str) -> None:
    args = session.posargs or []
    session.run("python", "-m", "pytest", *paths, *args, env=ENV)


@nox.session
def kernel(session: nox.Session) -> None:
    """The kernel alone: no plugin installed, az must still run and say what to install."""
    session.install("-e", ".[test]")
    _pytest(session, "tests")


@nox.session
def tests(session: nox.Session) -> None:
    """The full install: kernel tests with every plugin, then each plugin's own tests."""
    session.install("-r", "requirements.txt")
    session.install("-e", ".[test]", *[f"-e./plugins/{p}[test]" for p in PLUGINS])
    # every suite runs even when an earlier one fails, so one run shows them all
    failed = []
    for name, where in [("kernel", ROOT), *[(p, ROOT / "plugins" / p) for p in PLUGINS]]:
        if not (where / "tests").is_dir():
            continue
        session.log(f"--- {name} ---")
        with session.chdir(where):
            try:
                _pytest(session, "tests")
            except CommandFailed:
                failed.append(name)
    if failed:
        session.error(f"test suites failed: {', '.join(failed)}")


@nox.session
@nox.parametrize("name", PLUGINS)
def plugin(session: nox.Session, name: str) -> None:
    """One plugin with the kernel only: proves it needs no other plugin."""
    session.install("-e", ".[test]", f"-e./plugins/{name}[test]")
    with session.chdir(ROOT / "plugins" / name):
        _pytest(session, "tests")


#: the minimal headless install (README, "A headless server"): no textual, llama-cpp, chromadb;
#: az-cost belongs to it: it records what each model call costs (/api/cost) and enforces budgets
HEADLESS = [
    ".",
    "./plugins/az-sqlite",
    "./plugins/az-litellm",
    "./plugins/az-cost",
    "./plugins/az-telemetry",
    "./plugins/az-server",
]


@nox.session
def server(session: nox.Session) -> None:
    """The minimal headless install exactly as the README gives it (six
    distributions, not editable), checked to hold no textual, llama_cpp or
    chromadb, then az-server's tests against it (all but the slow ones; give
    pytest arguments after -- to choose). Not a default session: the full
    install's session runs the same tests; .ci/run calls it on its own."""
    session.install(*HEADLESS)
    session.install("pytest>=8", "httpx>=0.27")
    session.run(
        "python",
        "-c",
        "import importlib.util as u, sys; "
        "bad = [m for m in ('textual', 'llama_cpp', 'chromadb') if u.find_spec(m)]; "
        "sys.exit(f'not a headless install: {bad} installed' if bad else 0)",
    )
    session.run("az", "--help", silent=True)
    with session.chdir(ROOT / "plugins" / "az-server"):
        # the slow ones (shutdown, restart, queue limits) run in the full install's session
        args = session.posargs or ["-m", "not slow"]
        session.run("python", "-m", "pytest", "tests", *args, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the kernel, plugins, tests and
    benchmarks (ruff pinned to one minor version: its formatting style changes
    between them)."""
    session.install("ruff>=0.17,<0.18", "import-linter>=2.1")
    paths = ["kernel", "plugins", "tests", "benchmarks", "noxfile.py"]
    session.run("ruff", "check", *paths)
    session.run("ruff", "format", "--check", *paths)
    # import-linter reads the sources; PYTHONPATH lets it find every package uninstalled
    sources = ["kernel", *[f"plugins/{p}" for p in PLUGINS]]
    session.run("lint-imports", env={"PYTHONPATH": ":".join(str(ROOT / s) for s in sources)})


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the kernel package."""
    session.install("-e", ".", "mypy>=1.10", "types-setuptools", "pytest>=8")
    session.run("mypy", "--strict", "kernel/az_os")


@nox.session
def build(session: nox.Session) -> None:
    """Build a wheel of every distribution (kernel and plugins) into dist/."""
    session.install("build", "setuptools>=77", "wheel")
    out = ROOT / "dist"
    for path in [ROOT, *[ROOT / "plugins" / p for p in PLUGINS]]:
        session.run(
            "python", "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(path)
        )
