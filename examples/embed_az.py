"""Embedding az in a Python program through the design brief's API only.

What it does, in a workspace directory (default: a new temporary one):

1. indexes the workspace's notes and searches them (ChromaDBRepository);
2. creates a task (TaskRepository) and snapshots the workspace (StateManager);
3. runs the task with streaming output (ExecutionEngine.execute_stream);
4. reads what the task cost in USD (CostTracker);
5. restores the snapshot, undoing the task's file changes (StateManager).

Run it with a model configured (``az config set models.default=...``)::

    python examples/embed_az.py [WORKSPACE]

Needs az-sqlite, az-tools, az-cost, az-git and az-chroma (the README's
one-line install has them). ``tests/test_examples.py`` runs it on the
scripted test model.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from az_os.core.interfaces import (
    CostTracker,
    ExecutionEngine,
    StateManager,
    Task,
    TaskRepository,
    TaskStatus,
)
from az_os.data.interfaces import ChromaDBRepository

NOTES = {
    "notes.txt": "Release checklist: run the tests, update the changelog, tag the version.\n",
    "weather.txt": "It was sunny all week; rain is expected on Sunday.\n",
}


async def main(workspace: Path) -> int:
    for name, text in NOTES.items():
        if not (workspace / name).exists():
            (workspace / name).write_text(text)

    # 1. the index: one document per note, searched by meaning
    index = ChromaDBRepository()
    await index.add_documents(
        "embed-example",
        [{"id": n, "text": (workspace / n).read_text(), "metadata": {"file": n}} for n in NOTES],
    )
    (hit,) = await index.search("embed-example", "what do I do before a release?", n_results=1)
    print(f"index: best match {hit['id']} (score {hit['score']:.2f})")

    # 2. a task, and a snapshot of its workspace before it runs
    engine = ExecutionEngine()
    tasks = TaskRepository(engine.storage)
    task = await tasks.create(
        Task(
            description=f"Append the line 'done: tests' to {hit['id']}.",
            workspace=str(workspace),
            approval="auto",
        )
    )
    state = StateManager(workspace=workspace)
    await state.save_snapshot(task.id, {"stage": "before"}, checkpoint_name="before")

    # 3. run it, printing events as they happen
    async for event in engine.execute_stream(task, tools=["filesystem.*"]):
        data = event["data"]
        if event["type"] == "tool_call":
            print(f"  -> {data['description']}")
        elif event["type"] == "tool_result":
            print(f"  <- {'ok' if data['success'] else data['error']}")
        elif event["type"] in ("completed", "failed", "cancelled", "interrupted"):
            print(f"task {event['type']}: {data.get('result') or data.get('error') or ''}")
    done = await tasks.get(task.id)
    assert done is not None

    # 4. what it cost
    cost = await CostTracker().get_cost_by_task(task.id)
    print(f"cost: {cost:.8f} USD, {done.prompt_tokens + done.completion_tokens} tokens")

    # 5. put the workspace back as it was before the task
    print("after the task:", (workspace / hit["id"]).read_text().strip().splitlines()[-1])
    restored = await state.load_snapshot(task.id, "before", restore=True)
    print("restored snapshot:", restored)
    print("after restoring:", (workspace / hit["id"]).read_text().strip().splitlines()[-1])
    return 0 if done.status is TaskStatus.COMPLETED else 1


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="az-embed-"))
    where.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(where.resolve())))
