"""Lessons from a finished task's transcript, and lessons into a new task's context.

From the turns (no model needed):

* a tool call that failed and a later call of the same tool that succeeded
  gives an ``error_fix`` lesson: what failed, with which arguments, and what
  worked instead (provenance: the turn of the success);
* the task's outcome gives an ``outcome`` lesson (completed in N turns with
  which tools, or failed with which error).

With ``memory.model`` set, one short call to that model (through the plugin
host, so ``az_before_model_call`` budgets and ``az_after_model_call`` cost
tracking apply as to any call) writes at most two more lessons
(``best_practice``).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from az_memory.lessons import COLLECTION, Lesson, Memory

if TYPE_CHECKING:  # pragma: no cover
    from az_os.types import Task, Turn

log = logging.getLogger("az.memory")

#: lesson ids put into each running task's context (task id -> ids), for scoring
_USED: dict[str, list[str]] = {}
_USED_LOCK = threading.Lock()


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def from_transcript(task: Task, turns: list[Turn]) -> list[Lesson]:
    """Lessons the turns show (see the module docstring)."""
    ws = task.workspace or ""
    out: list[Lesson] = []
    failed: dict[str, tuple[Any, Any, int]] = {}
    tools_used: list[str] = []
    for turn in turns:
        for call, result in zip(turn.tool_calls, turn.tool_results, strict=False):
            if call.name not in tools_used:
                tools_used.append(call.name)
            if not result.success:
                failed[call.name] = (call, result, turn.index)
                continue
            if call.name in failed:
                bad, bad_result, _ = failed.pop(call.name)
                if bad.arguments == call.arguments:
                    continue  # the same call worked on retry: nothing to learn
                out.append(
                    Lesson(
                        lesson=(
                            f'While doing "{_short(task.description, 80)}": '
                            f'{call.name} failed with "{_short(bad_result.error, 160)}" when '
                            f"called with {_short(bad.arguments)}; it worked with "
                            f"{_short(call.arguments)}."
                        ),
                        category="error_fix",
                        task_id=task.id,
                        turn=turn.index,
                        success=True,
                        score=6.0,
                        source="transcript",
                        workspace=ws,
                    )
                )
    status = task.status.value
    last = turns[-1].index if turns else 0
    desc = _short(task.description, 160)
    if status == "completed":
        text = f'Task "{desc}" was completed in {len(turns)} turn(s)'
        if tools_used:
            text += " using " + ", ".join(tools_used)
        if task.result:
            text += f"; answer: {_short(task.result, 160)}"
        out.append(
            Lesson(lesson=text + ".", category="outcome", task_id=task.id, turn=last,
                   success=True, score=5.0, source="transcript", workspace=ws)
        )  # fmt: skip
    elif status == "failed":
        text = f'Task "{desc}" failed after {len(turns)} turn(s): {_short(task.error, 200)}'
        out.append(
            Lesson(lesson=text + ".", category="outcome", task_id=task.id, turn=last,
                   success=False, score=3.0, source="transcript", workspace=ws)
        )  # fmt: skip
    return out


_PROMPT = (
    "You review a finished agent task and write at most two short, general lessons that would "
    "help a future task in the same workspace (conventions discovered, mistakes to avoid). "
    "One lesson per line, each starting with '- ', at most 30 words each. If nothing is worth "
    "remembering, answer 'none'."
)


def transcript_text(task: Task, turns: list[Turn]) -> str:
    lines = [f"Task: {_short(task.description, 300)}", f"Status: {task.status.value}"]
    for turn in turns:
        for call, result in zip(turn.tool_calls, turn.tool_results, strict=False):
            outcome = "ok" if result.success else f"error: {_short(result.error, 150)}"
            lines.append(f"Turn {turn.index}: {call.name} {_short(call.arguments)} -> {outcome}")
    if task.result:
        lines.append(f"Answer: {_short(task.result, 300)}")
    if task.error:
        lines.append(f"Error: {_short(task.error, 300)}")
    return "\n".join(lines)


def from_model(task: Task, turns: list[Turn], model_id: str) -> list[Lesson]:
    """At most two lessons written by ``model_id`` (one call, costed and budgeted
    through the hooks). Failures are logged and give no lesson."""
    from az_os.errors import AzError
    from az_os.plugins import get_host
    from az_os.types import Message, ModelRequest

    host = get_host()
    request = ModelRequest(
        messages=[
            Message(role="system", content=_PROMPT),
            Message(role="user", content=transcript_text(task, turns)),
        ],
        tool_choice="none",
        max_tokens=160,
        temperature=0.0,
    )
    try:
        model = host.find_model(model_id)
        host.before_model_call(task, request, model)
        response = model.complete(request)
        host.after_model_call(task, request, response, response.usage)
    except AzError as exc:
        log.warning("az-memory: no lessons from %s: %s", model_id, exc)
        return []
    text = response.message.content or ""
    out = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*• ").strip()
        if len(line) < 12 or line.lower().startswith("none"):
            continue
        out.append(
            Lesson(lesson=line[:300], category="best_practice", task_id=task.id,
                   turn=turns[-1].index if turns else 0, success=task.status.value == "completed",
                   score=5.0, source="model", workspace=task.workspace or "")
        )  # fmt: skip
        if len(out) == 2:
            break
    return out


def on_task_end(task: Task) -> list[Lesson]:
    """Queue the lessons of a finished task (no vector store opened) and
    score the lessons it used (the store is open already: its start recalled them)."""
    from az_os.config import current_config
    from az_os.drivers import get_storage

    config = current_config()
    memory = Memory(config)
    with _USED_LOCK:
        used = _USED.pop(task.id, [])
    if not memory.settings.enabled:
        return []
    turns = get_storage(config).list_turns(task.id)
    lessons = from_transcript(task, turns)
    if memory.settings.model:
        lessons += from_model(task, turns, memory.settings.model)
    # queued, not embedded: the store is opened at the end only when this
    # task's start already opened it (to recall the lessons it used)
    memory.queue(lessons)
    if used:
        delta = 0.5 if task.status.value == "completed" else -0.5
        helped = []
        for lesson_id in used:
            try:
                lesson = memory.get(lesson_id)
            except Exception:  # noqa: BLE001 - forgotten meanwhile
                continue
            lesson.score = max(0.0, min(10.0, lesson.score + delta))
            helped.append(lesson)
        memory.save(helped)
    return lessons


def context_lessons(task: Task, query: str) -> list[str]:
    """Relevant lessons for a new task, each with its provenance."""
    from az_os.config import current_config
    from az_os.vectors import peek_count

    config = current_config()
    memory = Memory(config)
    s = memory.settings
    if not s.context or s.context_lessons <= 0:
        return []
    if peek_count(config, COLLECTION) == 0 and not memory.has_pending():
        return []  # no lessons yet: the vector store (and its model) is not even opened
    found = [
        x
        for x in memory.search(query, k=s.context_lessons * 2)
        if (x.relevance or 0.0) >= s.min_relevance and x.task_id != task.id
    ][: s.context_lessons]
    if not found:
        return []
    for x in found:
        x.access_count += 1
    memory.save(found)
    with _USED_LOCK:
        _USED[task.id] = [x.id for x in found]
    return ["Lessons from earlier tasks (az-memory):"] + [
        f"- {x.lesson[:300]} {x.provenance()}" for x in found
    ]
