"""The design brief's ``ReActEngine``: the engine's ReAct loop, whole or one step at a time.

:class:`ReActEngine` is an :class:`~az_os.engine.ExecutionEngine` (``execute``,
``execute_stream`` and ``resume`` work as there) with the brief's methods:

* ``execute_react(task, initial_thought)`` runs the whole loop, as
  ``execute`` does, with ``initial_thought`` read by the first model call;
* ``reason``, ``act`` and ``observe`` let a caller drive the loop itself::

      thought = await engine.reason(task, "")
      while not thought.final:
          for call in thought.tool_calls:
              result = await engine.act(task, call.name, call.arguments)
              await engine.observe(task, result)
          thought = await engine.reason(task, "")

Both run the engine's own steps (``_Run.next_turn``, ``resolve_call``,
``act_call``, ``observe_call``, ``end_turn`` in :mod:`az_os.engine`), not a
copy of them, so a hand-driven loop records the same task, turns, tokens,
USD, tool usage, logs and hook calls as ``ExecutionEngine.execute``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from az_os.engine import ExecutionEngine, _Guard, _observation, _Run
from az_os.types import Message, Task, TaskStatus, ToolCall, ToolResult, openai_tool_name

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.plugins import PluginHost
    from az_os.storage import Storage

__all__ = ["ReActEngine", "Thought"]

#: The error of a tool call the model asked for but the caller went on
#: without acting on (the model reads it as the call's result).
SKIPPED = "not run: the caller went on without acting on this call"


class Thought(str):
    """What :meth:`ReActEngine.reason` returns: the model's text (a ``str``,
    as the brief says; ``""`` when the model only called tools) with what
    came of the turn.

    ``tool_calls``: the :class:`~az_os.types.ToolCall` s the model asked
    for, to pass to :meth:`ReActEngine.act` (empty when ``final``).
    ``final``: the task ended in this step; ``status`` says how
    (``completed``: the text is the answer, also in ``task.result``;
    ``failed``/``cancelled``: the text is ``task.error``).
    """

    tool_calls: list[ToolCall]
    final: bool
    status: TaskStatus

    def __new__(
        cls,
        text: str,
        *,
        tool_calls: list[ToolCall] | None = None,
        final: bool = False,
        status: TaskStatus = TaskStatus.RUNNING,
    ) -> Thought:
        self = super().__new__(cls, text)
        self.tool_calls = list(tool_calls or [])
        self.final = final
        self.status = status
        return self


class _Session:
    """A task driven step by step: its run, the calls of the open turn that
    were acted on (call id → the call as run and its result) and observed
    (call ids in the order observed), and the observations made since the
    last :meth:`ReActEngine.reason`."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.lock = asyncio.Lock()
        self.acted: dict[str, tuple[ToolCall, ToolResult]] = {}
        self.observed: dict[str, str] = {}
        self.recent: list[str] = []


class ReActEngine(ExecutionEngine):
    """The ReAct loop for callers who want it whole (:meth:`execute_react`)
    or one step at a time (:meth:`reason`, :meth:`act`, :meth:`observe`).

    ``config``/``storage``/``host`` as for :class:`~az_os.engine.ExecutionEngine`;
    ``tools``: fnmatch patterns of the tools offered (None: all registered
    tools). Several tasks may be driven at once; the steps of one task are
    serialised.

    The step methods take the task: the first step of a task not stored
    yet creates it and marks it running (the ``created`` and ``started``
    events and hooks), as ``execute`` does; the first step of a stored,
    unfinished task (interrupted, cancelled, failed) continues it from its
    last complete turn. The :class:`~az_os.types.Task` passed is updated
    after each step (status, tokens, ``cost_usd`` in USD, result, error).

    Raises :class:`~az_os.errors.AzError` for a completed task, a task still
    running in another process, or a workspace that is not a directory. An
    unexpected exception inside a step marks the task ``interrupted``
    (Ctrl-C: ``cancelled``) and propagates, as in ``execute``.
    """

    def __init__(
        self,
        config: AzConfig | None = None,
        storage: Storage | None = None,
        host: PluginHost | None = None,
        tools: list[str] | None = None,
    ) -> None:
        super().__init__(config, storage, host)
        self.tools = tools
        self._sessions: dict[str, _Session] = {}
        self._opening = asyncio.Lock()  # one task is opened (created) once

    # -- the whole loop ------------------------------------------------------
    async def execute_react(
        self, task: Task, initial_thought: str, tools: list[str] | None = None
    ) -> Task:
        """Run ``task`` to the end, as :meth:`execute` does, with
        ``initial_thought`` (when not empty) added to the conversation as a
        user message after the task: the first model call reads it and the
        first turn's record keeps it. ``tools``: fnmatch patterns (None: the
        engine's ``tools``). Returns the finished task as stored."""
        patterns = tools if tools is not None else self.tools
        run = _Run(self, task, patterns, [initial_thought])
        async for _ in run.events():
            pass
        final = await asyncio.to_thread(self.storage.get_task, task.id)
        return final or task

    # -- one step at a time ------------------------------------------------------
    async def reason(self, task: Task, observation: str) -> Thought:
        """Reason: one model call on the task's conversation, the engine's
        own step (cancellation check, routing, budgets, the
        ``az_before_model_call``/``az_after_model_call`` hooks, tokens and
        USD counted on the task).

        ``observation``: text for the model from outside the conversation
        (an initial thought on the first call, or what :meth:`observe`
        returned for an action of the caller's own), added as a user message
        when not empty and recorded with the turn. What :meth:`observe`
        returned for the model's own tool calls is in the conversation
        already and is not added twice. A tool call of the previous turn
        that was never acted on is recorded as failed (not run), and that
        turn is recorded, before the model is called.

        Returns a :class:`Thought`: the model's text and its ``tool_calls``;
        ``final`` and ``status`` say whether the task ended (an answer
        completes it; tool calls on the last turn, a budget refusal or no
        usable model fail it; ``az task cancel`` cancels it).
        """
        session = await self._session(task)
        run = session.run
        async with session.lock:
            async with self._step(session):
                if run.turn is not None:
                    await self._close_turn(session)
                if observation and observation not in session.recent:
                    run.notes.append(Message(role="user", content=observation))
                session.recent = []
                if run.index >= run.task.max_turns:  # a stored task with no turns left
                    await run._finish(TaskStatus.FAILED, error=run._turn_limit_error())
                else:
                    async for _ in run.next_turn():
                        pass
            thought = _thought(run)
            if thought.final:
                self._sessions.pop(run.task.id, None)
        _sync(run.task, task)
        return thought

    async def act(self, task: Task, action: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """Act: run tool ``action`` (its name, either form: ``filesystem.list``
        or ``filesystem__list``) with ``arguments`` through the engine's
        own step: argument validation, the approval policy, the
        ``az_before_tool_call``/``az_after_tool_call`` hooks, secret
        redaction and the tool-usage records.

        When the model's open turn asked for this exact call (same tool,
        same arguments), the result answers that call and :meth:`observe`
        puts it into the conversation. Any other action is the caller's own:
        it runs the same way but is not part of the conversation (pass what
        :meth:`observe` returns to the next :meth:`reason`).

        Returns the :class:`~az_os.types.ToolResult` as a dict (``success``,
        ``result``: any JSON value, ``error``: one line, ``metadata``,
        ``duration_ms``: milliseconds) plus ``name`` (the tool's own name)
        and ``tool_call_id`` (the model's call it answers, or None). A
        failing or refused tool is a result with ``success`` false, not an
        exception.
        """
        session = await self._session(task)
        run = session.run
        async with session.lock:
            async with self._step(session):
                asked = _pending(session, action, arguments)
                call, tool, _ = run.resolve_call(
                    asked or ToolCall(name=action, arguments=dict(arguments))
                )
                result = await run.act_call(run.turn if asked else None, call, tool)
                if asked is not None:
                    session.acted[asked.id] = (call, result)
        _sync(run.task, task)
        out = result.to_dict()
        out["name"] = call.name
        out["tool_call_id"] = asked.id if asked is not None else None
        return out

    async def observe(self, task: Task, result: dict[str, Any]) -> str:
        """Observe: the text the model reads for ``result`` (a dict from
        :meth:`act`): the JSON of the result or ``ERROR: ...``, cut to
        ``[tools] output_limit_bytes`` (bytes) with a note, plus a note when
        the same call already failed in an earlier turn.

        For a result of the model's own tool call the observation goes into
        the conversation; once every call of the turn is observed, the turn
        is recorded (``add_turn``, the ``turn`` event) and the task saved.
        Observing it again returns the same text. Any other dict (the
        caller's own action, or a dict with at least ``success``) is only
        formatted. Raises :class:`~az_os.types.InvalidData` for a dict that
        is not a tool result.
        """
        session = self._sessions.get(task.id)
        call_id = result.get("tool_call_id")
        if session is None or call_id is None or call_id not in session.acted:
            fields = ("success", "result", "error", "metadata", "duration_ms")
            checked = ToolResult.from_dict({k: result[k] for k in fields if k in result})
            return _observation(checked, self.config.tools.output_limit_bytes)
        run = session.run
        async with session.lock:
            if call_id in session.observed:
                return session.observed[call_id]
            turn = run.turn
            assert turn is not None  # acted calls belong to the open turn
            async with self._step(session):
                call, stored = session.acted[call_id]
                text, _ = run.observe_call(turn, call, stored)
                session.observed[call_id] = text
                session.recent.append(text)
                if all(c.id in session.observed for c in turn.tool_calls):
                    await self._close_turn(session)
        _sync(run.task, task)
        return text

    # -- helpers -------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def _step(self, session: _Session) -> AsyncIterator[None]:
        """Around one step of a session's run: an exception escaping it ends
        the task (the engine's :class:`_Guard`) and closes the session."""
        try:
            async with _Guard(session.run):
                yield
        except BaseException:
            self._sessions.pop(session.run.task.id, None)
            raise

    async def _session(self, task: Task) -> _Session:
        """The step-by-step run of ``task``, opened on first use."""
        session = self._sessions.get(task.id)
        if session is not None:
            return session
        async with self._opening:
            session = self._sessions.get(task.id)  # opened while this call waited
            if session is not None:
                return session
            stored = await asyncio.to_thread(self.storage.get_task, task.id)
            target = task if stored is None else await self.prepare_resume(task.id)
            run = _Run(self, target, self.tools)
            async for _ in run.open():
                pass
            run.setup(run.turns)
            session = self._sessions[task.id] = _Session(run)
            return session

    async def _close_turn(self, session: _Session) -> None:
        """Record the open turn: calls never acted on fail as not run, acted
        ones not yet observed are observed, results and tool messages are
        put in the order of the model's calls."""
        run = session.run
        turn = run.turn
        assert turn is not None
        for asked in turn.tool_calls:
            if asked.id in session.observed:
                continue
            call, result = session.acted.get(asked.id) or (
                asked,
                ToolResult(success=False, error=SKIPPED),
            )
            session.observed[asked.id] = text = run.observe_call(turn, call, result)[0]
            session.recent.append(text)
        by_id = dict(zip(session.observed, turn.tool_results, strict=True))
        turn.tool_results = [by_id[c.id] for c in turn.tool_calls]
        order = {c.id: i for i, c in enumerate(turn.tool_calls)}
        head = [m for m in turn.messages if m.role != "tool"]
        tail = [m for m in turn.messages if m.role == "tool"]
        turn.messages = head + sorted(tail, key=lambda m: order.get(m.tool_call_id or "", 0))
        session.acted.clear()
        session.observed.clear()
        await run.end_turn(turn)


def _pending(session: _Session, action: str, arguments: dict[str, Any]) -> ToolCall | None:
    """The first call of the open turn not acted on yet that asks for
    ``action`` with ``arguments``; None when there is none."""
    turn = session.run.turn
    if turn is None:
        return None
    name = openai_tool_name(action)
    for call in turn.tool_calls:
        if call.id in session.acted:
            continue
        if openai_tool_name(call.name) == name and call.arguments == arguments:
            return call
    return None


def _thought(run: _Run) -> Thought:
    if run.turn is not None and run.response is not None:
        return Thought(run.response.message.content or "", tool_calls=list(run.turn.tool_calls))
    task = run.task
    if task.status == TaskStatus.COMPLETED:
        return Thought(task.result or "", final=True, status=task.status)
    return Thought(task.error or "", final=True, status=task.status)


def _sync(source: Task, target: Task) -> None:
    """Copy the run's task into the caller's object when they differ."""
    if source is not target:
        for name in source.__struct_fields__:
            setattr(target, name, getattr(source, name))
