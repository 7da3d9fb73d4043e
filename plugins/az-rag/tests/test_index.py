"""The workspace index: files, incremental updates, hybrid search, the CLI,
the semantic.search tool and task context, against the real vector store."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from az_os.config import load_config
from az_os.vectors import close_all, vectorstore_backends

pytestmark = pytest.mark.skipif(
    not vectorstore_backends(), reason="needs a vector-store backend (pip install az-chroma)"
)

MATH = textwrap.dedent(
    '''\
    """Small numeric helpers."""


    def fibonacci(n):
        """The n-th Fibonacci number, computed iteratively."""
        a, b = 0, 1
        for _ in range(n):
            a, b = b, a + b
        return a


    def parse_retry_schedule(text):
        """Seconds to wait between attempts, from '1,2,4'."""
        return [float(x) for x in text.split(",")]
    '''
)

README = textwrap.dedent(
    """\
    # Widget

    Widget renders charts in the terminal.

    ## Installation

    Install it with pip and then run the widget command once to create its config file.

    ## Colours

    The palette is read from the COLORS environment variable.
    """
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "widget"
    (root / "pkg").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "pkg" / "mathx.py").write_text(MATH)
    (root / "README.md").write_text(README)
    (root / "notes.txt").write_text("Meeting notes.\n\nWe agreed to ship on Friday.\n")
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / "build").mkdir()
    (root / "build" / "generated.py").write_text("def fibonacci_generated(): pass\n")
    (root / "debug.log").write_text("fibonacci " * 10)
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary")
    (root / "pkg" / "huge.py").write_text("x = 1\n" * 400_000)  # 2.4 MB
    return root


def _index(root: Path, **kw):  # type: ignore[no-untyped-def]
    from az_rag.index import RagIndex

    return RagIndex(load_config(), root, **kw)


def test_index_skips_ignored_binary_and_huge_files(az_home: Path, repo: Path):
    report = _index(repo).index()
    assert report.files_indexed == 3  # mathx.py, README.md, notes.txt
    skipped = dict(report.skipped)
    assert skipped["logo.png"] == "binary"
    assert skipped["pkg/huge.py"].startswith("larger than")
    indexed = set(_index(repo).manifest["files"])
    assert indexed == {"pkg/mathx.py", "README.md", "notes.txt"}
    assert report.chunks_total >= 5


def test_search_finds_the_definition_with_its_lines(az_home: Path, repo: Path):
    idx = _index(repo)
    idx.index()
    top = idx.search("compute the Fibonacci sequence", k=3)[0]
    assert (top.path, top.start, top.end, top.symbol) == ("pkg/mathx.py", 4, 9, "fibonacci")
    assert top.snippet.startswith("def fibonacci(n):")
    assert top.dense_score is not None and top.bm25_rank is not None
    md = idx.search("how do I install it", k=1)[0]
    assert (md.path, md.symbol) == ("README.md", "Widget > Installation")


def test_each_mode_and_an_identifier(az_home: Path, repo: Path):
    idx = _index(repo)
    idx.index()
    # an identifier's parts match through BM25 (parse_retry_schedule → retry, schedule)
    bm = idx.search("retry schedule", k=1, mode="bm25")
    assert bm[0].symbol == "parse_retry_schedule" and bm[0].dense_score is None
    dense = idx.search("palette environment variable", k=1, mode="dense")
    assert dense[0].symbol == "Widget > Colours" and dense[0].bm25_rank is None
    assert idx.search("", k=3) == []
    assert idx.search("xyzzy-nothing-matches-this", k=2, mode="bm25") == []
    assert len(idx.search("Wie installiere ich das? 如何安装", k=2)) == 2  # another language


def test_incremental_reembeds_only_what_changed(az_home: Path, repo: Path):
    idx = _index(repo)
    first = idx.index()
    again = _index(repo).index()
    assert (again.files_indexed, again.files_unchanged, again.chunks_added) == (0, 3, 0)
    (repo / "notes.txt").write_text("New notes: the launch moved to Monday.\n")
    (repo / "README.md").unlink()
    third = _index(repo).index()
    assert (third.files_indexed, third.files_removed, third.files_unchanged) == (1, 1, 1)
    idx = _index(repo)
    assert set(idx.manifest["files"]) == {"pkg/mathx.py", "notes.txt"}
    assert idx.collection().count() == third.chunks_total < first.chunks_total
    paths = {r.path for r in idx.search("installation with pip", k=5)}
    assert "README.md" not in paths
    assert idx.search("when is the launch", k=1)[0].path == "notes.txt"


def test_touched_but_unchanged_file_is_not_reembedded(az_home: Path, repo: Path):
    _index(repo).index()
    (repo / "notes.txt").write_text((repo / "notes.txt").read_text())  # new mtime, same bytes
    report = _index(repo).index()
    assert report.files_indexed == 0 and report.files_unchanged == 3


def test_deadline_stops_early_and_the_next_run_finishes(az_home: Path, repo: Path):
    import time

    report = _index(repo).index(deadline=time.monotonic() - 1)
    assert report.timed_out and report.files_indexed == 0
    done = _index(repo).index()
    assert not done.timed_out and done.files_indexed == 3


def test_damaged_manifest_is_rebuilt(az_home: Path, repo: Path):
    idx = _index(repo)
    idx.index()
    (idx.dir / "manifest.json").write_text("{not json")
    report = _index(repo).index()
    assert report.files_indexed == 3
    assert _index(repo).search("fibonacci", k=1)[0].symbol == "fibonacci"


def test_cli_index_search_status_drop(az, az_home: Path, repo: Path):
    r = az("rag", "index", "--json", cwd=repo)
    assert r.returncode == 0, r
    assert r.json()["files_indexed"] == 3
    r = az("rag", "search", "fibonacci number", "-k", "2", "--json", cwd=repo)
    assert r.returncode == 0, r
    hits = r.json()
    assert hits[0]["path"] == "pkg/mathx.py" and hits[0]["start"] == 4
    assert len(hits) == 2
    r = az("rag", "search", "fibonacci number", cwd=repo)
    assert "pkg/mathx.py:4-9" in r.stdout
    r = az("rag", "status", "--json", cwd=repo)
    (row,) = r.json()
    assert row["files"] == 3 and row["root"] == str(repo.resolve())
    r = az("rag", "drop", cwd=repo)
    assert r.returncode == 0 and "dropped" in r.stdout
    r = az("rag", "search", "fibonacci", cwd=repo)
    assert r.returncode == 4
    assert "not indexed yet" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_corrupt_store_is_one_line(az, az_home: Path, repo: Path):
    vec = az_home / "vectors"
    vec.mkdir()
    (vec / "chroma.sqlite3").write_bytes(b"garbage" * 1000)
    r = az("rag", "index", cwd=repo)
    assert r.returncode == 5, r
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_semantic_search_tool(az_home: Path, repo: Path):
    from az_os.tools import ToolContext, validate_arguments
    from az_rag.tool import SemanticSearchTool

    tool = SemanticSearchTool()
    ctx = ToolContext(workspace=repo, config=load_config())
    args = validate_arguments(tool.spec, {"query": "fibonacci", "n_results": 2})
    res = tool.run(args, ctx)  # indexes the workspace on first use (it has .git)
    assert res.success, res.error
    assert len(res.result) == 2
    assert res.result[0]["path"] == "pkg/mathx.py" and res.result[0]["lines"] == "4-9"
    res = tool.run({"query": "x", "collection": "no-such"}, ctx)
    assert not res.success and "no collection 'no-such'" in res.error
    assert tool.spec.read_only and set(tool.spec.input_schema["properties"]) == {
        "query",
        "collection",
        "n_results",
    }


def test_task_context_gets_snippets_with_path_and_lines(az_home: Path, repo: Path, monkeypatch):
    """A real task run (scripted model): its first prompt carries the workspace's
    snippets, headed path:start-end, within the context budget."""
    import asyncio

    import az_rag.plugin
    from az_os import scripted
    from az_os.drivers import get_storage
    from az_os.engine import ExecutionEngine
    from az_os.plugins import PluginHost
    from az_os.types import Task

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "sqlite")
    monkeypatch.setenv("AZ_AGENT__CONTEXT_TOKENS", "300")
    host = PluginHost().load(warn=lambda m: None)
    host.register(scripted, "scripted")
    host.register(az_rag.plugin, "rag")
    config = load_config()
    engine = ExecutionEngine(config, get_storage(config), host)
    scripted.set_script([{"answer": "42"}])
    scripted.REQUESTS.clear()
    task = Task(
        description="How is the Fibonacci number computed?",
        workspace=str(repo),
        model="scripted/cheap",
        approval="auto",
    )
    done = asyncio.run(engine.execute(task))
    assert done.status.value == "completed"
    system = scripted.REQUESTS[0].messages[0].content or ""
    assert "pkg/mathx.py:4-9 (fibonacci)" in system
    assert "a, b = b, a + b" in system
    # the workspace was indexed before the first task
    from az_rag.index import RagIndex

    assert RagIndex(config, repo).exists()
    close_all()


def test_no_auto_index_outside_a_project(az_home: Path, tmp_path: Path):
    from az_rag.auto import context_snippets

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("fibonacci")
    assert context_snippets(str(plain), "fibonacci") == []
    assert not (az_home / "rag").exists()


def test_walk_honours_gitignore_but_not_for_a_directory_asked_for(repo: Path):
    from az_rag.index import walk

    names = {p.relative_to(repo).as_posix() for p in walk([repo])}
    assert "build/generated.py" not in names and "debug.log" not in names
    assert {"pkg/mathx.py", "README.md", "notes.txt"} <= names
    assert ".gitignore" not in names
    # build/ is ignored by the repository, but asking for it indexes it
    assert [p.name for p in walk([repo / "build"])] == ["generated.py"]
