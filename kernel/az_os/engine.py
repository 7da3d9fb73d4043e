"""The ReAct engine: route → prompt → model call → tool calls → observations → repeat.

One turn is one model call and the tool calls it asked for. A turn is
persisted (``Storage.add_turn``) only when it is complete, so a crash loses
at most the turn in flight and ``resume`` continues from the last complete
turn.

How a task ends:

* ``completed`` - the model gave a final answer (a message without tool calls);
* ``failed`` - the turn limit was hit while the model still called tools, a
  budget refused the next call, or no model could answer (the reason is in
  ``task.error``);
* ``cancelled`` - Ctrl-C / ``az task cancel`` (resumable);
* ``interrupted`` - an unexpected error in this process, SIGTERM
  (:func:`request_termination`), or the process died
  (found on next start by the storage backend; resumable).

On the last allowed turn the model is offered no tools (``tool_choice="none"``)
and told to answer, so a task only fails on the turn limit when the model
keeps asking for tools anyway.

Python API: ``await ExecutionEngine().execute(task, tools=None)``
returns the finished :class:`~az_os.types.Task`; ``execute_stream`` yields the
same run as event dicts (``TaskEvent.to_dict()``: ``type``,
``task_id``, ``data``, ``timestamp``). Several tasks may run concurrently in
one process and one engine.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from az_os import completion
from az_os.errors import (
    AzError,
    ModelError,
    NotFoundError,
    ToolArgumentsError,
    ToolRefusedError,
)
from az_os.redact import redact
from az_os.tools import TOOL_ERROR_PREFIX, Tool, ToolContext, validate_arguments
from az_os.types import (
    EventType,
    InvalidData,
    LogLevel,
    LogRecord,
    Message,
    ModelRequest,
    ModelResponse,
    Task,
    TaskEvent,
    TaskStatus,
    ToolCall,
    ToolResult,
    Turn,
    Usage,
    openai_tool_name,
    utcnow,
)
from az_os.util import process_alive

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.models import Model
    from az_os.plugins import PluginHost
    from az_os.storage import Storage

#: Events also passed to the ``az_task_event`` hook.
LIFECYCLE = {
    "created",
    "started",
    "resumed",
    "turn",
    "completed",
    "failed",
    "cancelled",
    "interrupted",
}

#: The workspace comes last: everything before it is the same for every task
#: with the same tools, so a local model can reuse a saved KV cache of it.
SYSTEM_PROMPT = """You are az, an agent that completes a task by calling tools, one step at a time.

Work in steps: decide what you need to know or do, call one tool, read its result, repeat.
Read a file before you change it. When you have what the task asks for, reply with the final
answer only: short and direct, without calling a tool.

Tools:
{tools}

Workspace (the current directory for every tool): {workspace}
Give tools paths relative to it ("." is the workspace itself), not the full path."""

#: The user note on the last turn; ``{task}`` is the task description, restated
#: because after several tool results small models lose track of the question.
LAST_TURN_NOTE = "Final turn, tools are done. Answer from the results above: {task}"


_terminating = threading.Event()


def request_termination() -> None:
    """Say that this process is being stopped (SIGTERM from ``kill``, systemd
    or a container runtime), not cancelled by its user: every task whose run
    is cancelled from now on is marked ``interrupted`` (resumable with ``az
    task resume``) instead of ``cancelled``. Call it before cancelling the
    asyncio tasks that run the engine; it cannot be undone in this process."""
    _terminating.set()


def select_tools(all_tools: dict[str, Tool], patterns: Iterable[str] | None) -> dict[str, Tool]:
    """The tools whose names match any fnmatch pattern (``"time.*"``,
    ``"filesystem.read"``); all of them when ``patterns`` is None."""
    if patterns is None:
        return dict(all_tools)
    pats = list(patterns)
    return {n: t for n, t in all_tools.items() if any(fnmatch.fnmatchcase(n, p) for p in pats)}


def _observation(result: ToolResult, limit: int) -> str:
    """The tool message the model reads: JSON of the result or the error,
    cut to ``limit`` bytes (UTF-8) with a note saying so. The cut comes after
    serialisation, so escapes (a NUL byte is six characters of JSON) and
    multi-byte characters count at the size the model receives."""
    if result.success:
        body = (
            result.result
            if isinstance(result.result, str)
            else json.dumps(result.result, ensure_ascii=False, default=str)
        )
    else:
        body = f"{TOOL_ERROR_PREFIX}{result.error}"
    data = body.encode("utf-8", errors="replace")
    if len(data) > limit:
        body = data[:limit].decode("utf-8", errors="ignore")
        body += f"\n[... {len(data) - len(body.encode('utf-8'))} more bytes cut]"
    return body


def _call_key(call: ToolCall) -> tuple[str, str]:
    """What makes two tool calls the same: the tool (in either name form) and
    the arguments."""
    return openai_tool_name(call.name), json.dumps(call.arguments, sort_keys=True, default=str)


class ExecutionEngine:
    """Runs tasks through the ReAct loop using only hooks and contracts.

    ``config``/``storage``/``host`` default to the process-wide ones
    (:func:`~az_os.config.load_config`, :func:`~az_os.drivers.get_storage`,
    :func:`~az_os.plugins.get_host`).
    Raises :class:`~az_os.errors.PluginMissingError` at first use when no
    storage backend is installed.
    """

    def __init__(
        self,
        config: AzConfig | None = None,
        storage: Storage | None = None,
        host: PluginHost | None = None,
    ) -> None:
        from az_os.config import load_config
        from az_os.plugins import get_host
        from az_os.redact import learn_store, redacting

        self.config = config or load_config()
        self.host = host or get_host()
        self.host.configure(self.config)
        self._storage = redacting(storage) if storage is not None else None
        learn_store(self.host)  # every stored secret is masked wherever az writes

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            from az_os.drivers import get_storage

            self._storage = get_storage(self.config)
        return self._storage

    # -- public API ------------------------------------------------------
    async def execute(self, task: Task, tools: list[str] | None = None) -> Task:
        """Run ``task`` to the end; returns it finished (completed, failed,
        cancelled). ``tools`` are fnmatch patterns of tool names to offer
        (None: all registered tools, or for a task already stored, the
        patterns it was started with)."""
        async for _ in self.execute_stream(task, tools):
            pass
        final = await asyncio.to_thread(self.storage.get_task, task.id)
        return final or task

    async def execute_stream(
        self, task: Task, tools: list[str] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Run ``task`` and yield events as they happen.

        Event types: ``created``, ``started``/``resumed``, ``model_call``
        (data: model, turn), ``turn`` (data: turn, thought, tool_calls,
        usage, model), ``tool_call`` (data: name, arguments, description),
        ``tool_result`` (data: name, success, result/error, duration_ms),
        ``warning``, then one of ``completed`` (data: result), ``failed``
        (data: error), ``cancelled``, ``interrupted``.
        """
        run = _Run(self, task, tools)
        async for event in run.events():
            yield event

    async def resume(self, task_id: str, max_turns: int | None = None) -> Task:
        """Continue an interrupted, cancelled or failed task from its last
        complete turn. ``max_turns`` raises the task's turn limit.
        Raises NotFoundError for an unknown id and AzError for a task that
        is running or completed."""
        task = await self.prepare_resume(task_id, max_turns)
        return await self.execute(task)

    async def prepare_resume(self, task_id: str, max_turns: int | None = None) -> Task:
        """The task reloaded and checked for :meth:`resume` (see there)."""
        storage = self.storage
        task = await asyncio.to_thread(storage.get_task, task_id)
        if task is None:
            raise NotFoundError(f"no task '{task_id}' (see 'az task list')")
        if (
            task.status == TaskStatus.RUNNING
            and task.pid
            and process_alive(task.pid)
            and (task.host in (None, socket.gethostname()))
        ):
            raise AzError(
                f"task {task.id} is still running (pid {task.pid}); 'az task cancel {task.id}' stops it"
            )
        if task.status == TaskStatus.COMPLETED:
            raise AzError(f"task {task.id} is already completed; nothing to resume")
        turns = await asyncio.to_thread(storage.list_turns, task.id)
        if max_turns is not None:
            task.max_turns = max_turns
        elif len(turns) >= task.max_turns:
            task.max_turns = len(turns) + max(1, self.config.agent.max_turns)
        return task


class _Run:
    """The state of one task execution."""

    def __init__(
        self,
        engine: ExecutionEngine,
        task: Task,
        patterns: list[str] | None,
        notes: Iterable[str] = (),
    ) -> None:
        self.engine = engine
        self.host = engine.host
        self.config = engine.config
        self.task = task
        self.patterns = patterns
        self.failed_models: list[dict[str, str]] = []
        #: caller text for the next model call, as user messages (ReActEngine's
        #: initial thought or observation); the turn that reads them records them
        self.notes = [Message(role="user", content=n) for n in notes if n]
        #: the turn whose tool calls are being run (None between turns and at the end)
        self.turn: Turn | None = None
        self.response: ModelResponse | None = None
        self.turns: list[Turn] = []  # the stored turns when the run opened (open())

    @property
    def storage(self) -> Storage:
        return self.engine.storage

    async def _db(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    def _event(self, type_: EventType, **data: Any) -> dict[str, Any]:
        event = TaskEvent(type=type_, task_id=self.task.id, data=data)
        if type_ in LIFECYCLE:
            self.host.task_event(task=self.task, event=event)
        return event.to_dict()

    async def _log(self, level: LogLevel, message: str) -> None:
        await self._db(
            self.storage.add_log,
            LogRecord(task_id=self.task.id, level=level, message=message),
        )

    async def _save(self, force: bool = False) -> None:
        """Write the task back, keeping a cancellation another process made
        meanwhile (``az task cancel``) instead of overwriting it, unless ``force``."""
        if self.task.status == TaskStatus.RUNNING and not force:
            stored = await self._db(self.storage.get_task, self.task.id)
            if stored is not None and stored.status == TaskStatus.CANCELLED:
                self.task.status = TaskStatus.CANCELLED
                self.task.error = stored.error
        self.task.updated_at = utcnow()
        await self._db(self.storage.update_task, self.task)

    async def _finish(
        self, status: TaskStatus, *, result: str | None = None, error: str | None = None
    ) -> dict[str, Any]:
        self.task.status = status
        self.task.completed_at = utcnow()
        if result is not None:
            self.task.result = result
        self.task.error = error
        await self._save()
        level: LogLevel = (
            "info"
            if status == TaskStatus.COMPLETED
            else "error"
            if status == TaskStatus.FAILED
            else "warning"
        )
        await self._log(level, f"task {status.value}" + (f": {error}" if error else ""))
        data: dict[str, Any] = {"result": result} if result is not None else {}
        if error:
            data["error"] = error
        return self._event(cast("EventType", status.value), **data)

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        async for event in self.open():
            yield event
        async with _Guard(self):
            async for event in self._loop():
                yield event

    async def open(self) -> AsyncIterator[dict[str, Any]]:
        """Create the task (or reload a stored one, its state and turns into
        ``self.turns``) and mark it running: the ``created`` and
        ``started``/``resumed`` events."""
        task = self.task
        storage = self.storage
        existing = await self._db(storage.get_task, task.id)
        task.workspace = str(Path(task.workspace or os.getcwd()).resolve())
        if not Path(task.workspace).is_dir():
            raise AzError(f"workspace '{task.workspace}' is not a directory")
        task.pid, task.host = os.getpid(), socket.gethostname()
        state: dict[str, Any] = {}
        if existing is None:
            task.status = TaskStatus.PENDING
            await self._db(storage.create_task, task)
            state = {"model_fixed": task.model is not None, "tools": self.patterns}
            await self._db(storage.save_state, task.id, state)
            yield self._event("created", description=task.description)
            self.turns = []
        else:
            state = await self._db(storage.load_state, task.id) or {}
            self.turns = await self._db(storage.list_turns, task.id)
            if self.patterns is None:
                self.patterns = state.get("tools")  # a resumed task keeps its tool selection
        self.model_fixed = bool(state.get("model_fixed", task.model is not None))
        # a task stored by a queue (the server's) but never started starts now
        resumed = existing is not None and existing.started_at is not None
        task.status = TaskStatus.RUNNING
        task.error = None
        task.started_at = task.started_at or utcnow()
        await self._save(force=True)
        yield self._event("resumed" if resumed else "started", turns_done=len(self.turns))

    async def abort(self, exc: BaseException) -> None:
        """End the task after ``exc`` escaped a step: cancelled by the user,
        interrupted by SIGTERM (:func:`request_termination`) or by an
        unexpected error (both resumable)."""
        task = self.task
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            if _terminating.is_set():
                await asyncio.shield(
                    self._finish(
                        TaskStatus.INTERRUPTED,
                        error=f"stopped by SIGTERM; 'az task resume {task.id}' continues it",
                    )
                )
            else:
                await asyncio.shield(
                    self._finish(TaskStatus.CANCELLED, error="cancelled by the user")
                )
        else:
            await self._finish(TaskStatus.INTERRUPTED, error=f"{type(exc).__name__}: {exc}")

    # -- the loop ----------------------------------------------------------
    def _system_prompt(self, tools: dict[str, Tool], context: list[str]) -> str:
        lines = [f"- {t.spec.name}: {t.spec.description}" for t in tools.values()]
        prompt = SYSTEM_PROMPT.format(
            workspace=self.task.workspace, tools="\n".join(lines) or "(none)"
        )
        if context:
            budget = self.config.agent.context_tokens * 4  # ≈ 4 characters per token
            text = "\n\n".join(context)[:budget]
            prompt += "\n\nContext that may help:\n" + text
        return prompt

    async def _loop(self) -> AsyncIterator[dict[str, Any]]:
        """The ReAct protocol, one named step each: :meth:`setup` the
        conversation, then per turn :meth:`next_turn` (reason: check for
        cancellation, :meth:`build_request`, :meth:`_call_model`,
        :meth:`begin_turn`, and finish on an answer or the last turn), then
        for each tool call :meth:`resolve_call`, :meth:`act_call` (act) and
        :meth:`observe_call` (observe), and :meth:`end_turn`.
        :class:`~az_os.react.ReActEngine` drives the same steps one call at a time."""
        self.setup(self.turns)
        while self.index < self.task.max_turns:
            async for event in self.next_turn():
                yield event
            turn = self.turn
            if turn is None:  # the task ended
                return
            for asked in turn.tool_calls:
                call, tool, event = self.resolve_call(asked)
                yield event
                result = await self.act_call(turn, call, tool)
                yield self.observe_call(turn, call, result)[1]
            yield await self.end_turn(turn)
        # only reached when a stored task has no turns left to run
        yield await self._finish(TaskStatus.FAILED, error=self._turn_limit_error())

    async def next_turn(self) -> AsyncIterator[dict[str, Any]]:
        """Reason: one model call. Leaves the turn in ``self.turn`` when the
        model asked for tools, or ends the task (``self.turn`` None): an
        answer completes it; tool calls on the last turn, a cancellation or
        no model that could answer fail or cancel it."""
        task = self.task
        self.turn = self.response = None
        self.index += 1
        index = self.index
        if await self.cancelled(first_of_run=index == len(self.turns) + 1):
            yield await self._finish(TaskStatus.CANCELLED, error="cancelled with 'az task cancel'")
            return
        last = index == task.max_turns
        request = self.build_request(index, last)
        try:
            model, response = await self._call_model(request, first_turn=index == 1)
        except AzError as exc:
            yield await self._finish(TaskStatus.FAILED, error=str(exc))
            return
        yield self._event("model_call", model=model.info.id, turn=index)
        turn = self.begin_turn(index, model, response)
        if not turn.tool_calls:
            async for event in self.finish_with_answer(turn, response):
                yield event
            return
        if last:
            await self._db(self.storage.add_turn, turn)
            yield await self._finish(TaskStatus.FAILED, error=self._turn_limit_error())
            return
        self.turn, self.response = turn, response

    def setup(self, turns: list[Turn]) -> None:
        """The tools on offer, the conversation so far (system prompt with
        plugin context on a new task, the task, earlier turns), the tool
        context, and the calls that already failed."""
        task = self.task
        self.tools = select_tools(self.host.tools(), self.patterns)
        self.provider_names = {openai_tool_name(n): n for n in self.tools}
        context = redact(self.host.context(task=task, query=task.description)) if not turns else []
        self.messages: list[Message] = [
            Message(role="system", content=self._system_prompt(self.tools, context)),
            Message(role="user", content=task.description),
        ]
        for t in turns:
            self.messages.extend(t.messages)
        self.ctx = ToolContext(
            workspace=Path(task.workspace or "."),
            task_id=task.id,
            approval=task.approval,
            config=self.config,
            task=task,
        )
        # (tool, arguments) of failed calls → the turn they first failed in
        self.failed_calls: dict[tuple[str, str], int] = {}
        for t in turns:
            for c, r in zip(t.tool_calls, t.tool_results, strict=False):
                if not r.success:
                    self.failed_calls.setdefault(_call_key(c), t.index)
        self.index = len(turns)  # turns done

    async def cancelled(self, first_of_run: bool) -> bool:
        """Whether the task was cancelled. :meth:`_save` after each turn
        already picks up a cancellation made elsewhere; only the first turn
        of this run reads the stored task itself."""
        if self.task.status == TaskStatus.CANCELLED:
            return True
        if not first_of_run:
            return False
        current = await self._db(self.storage.get_task, self.task.id)
        return current is not None and current.status == TaskStatus.CANCELLED

    def build_request(self, index: int, last: bool) -> ModelRequest:
        """The model request of turn ``index``: the conversation and the
        tools, except on the last turn, which asks for an answer instead."""
        task = self.task
        specs = [t.spec for t in self.tools.values()]
        note = (
            [Message(role="user", content=LAST_TURN_NOTE.format(task=task.description))]
            if last and specs
            else []
        )
        return ModelRequest(
            messages=self.messages + self.notes + note,
            tools=[] if last else specs,
            tool_choice="auto",
            max_tokens=self.config.agent.max_tokens,
            temperature=self.config.agent.temperature,
            metadata={
                "turn": index,
                "max_turns": task.max_turns,
                "failed_models": list(self.failed_models),
            },
        )

    def begin_turn(self, index: int, model: Model, response: ModelResponse) -> Turn:
        """Count the call's tokens and USD on the task and start the turn
        record with the caller's notes it read (if any), the model's message
        and its tool calls."""
        task, usage = self.task, response.usage
        task.prompt_tokens += usage.prompt_tokens
        task.completion_tokens += usage.completion_tokens
        task.cost_usd += usage.cost_usd
        task.model = model.info.id
        assistant = response.message
        notes, self.notes = self.notes, []
        return Turn(
            task_id=task.id,
            index=index,
            model=model.info.id,
            messages=[*notes, assistant],
            tool_calls=assistant.tool_calls,
            usage=usage,
            model_duration_ms=response.duration_ms,
        )

    async def finish_with_answer(
        self, turn: Turn, response: ModelResponse
    ) -> AsyncIterator[dict[str, Any]]:
        """A turn without tool calls: record it, then complete the task with
        the model's text as the result (the ``turn`` event, then the
        ``completed`` one)."""
        await self._db(self.storage.add_turn, turn)
        yield self._event(
            "turn",
            turn=turn.index,
            model=turn.model,
            thought=None,
            tool_calls=[],
            usage=response.usage.to_dict(),
        )
        answer = (response.message.content or "").strip()
        yield await self._finish(TaskStatus.COMPLETED, result=answer)

    def resolve_call(self, call: ToolCall) -> tuple[ToolCall, Tool | None, dict[str, Any]]:
        """The tool a call names (None: no such tool) and the call under the
        tool's own name (a provider may use ``filesystem__list``), with the
        ``tool_call`` event."""
        tool = self.tools.get(call.name) or self.tools.get(self.provider_names.get(call.name, ""))
        if tool is not None and tool.spec.name != call.name:
            # run, record and show the tool under its own name; the transcript keeps the provider's
            call = call.replace(name=tool.spec.name)
        event = self._event(
            "tool_call",
            name=call.name,
            arguments=call.arguments,
            description=tool.describe_call(call.arguments) if tool else call.name,
        )
        return call, tool, event

    async def act_call(self, turn: Turn | None, call: ToolCall, tool: Tool | None) -> ToolResult:
        """Act: run one tool call (policy, validation and the tool itself in
        :meth:`_run_tool`); its wall time is added to the turn's
        ``tools_duration_ms``."""
        start = time.perf_counter()
        result = await self._run_tool(call, tool, self.tools, self.ctx)
        if turn is not None:
            turn.tools_duration_ms += (time.perf_counter() - start) * 1000
        return result

    def observation(self, call: ToolCall, result: ToolResult, turn_index: int) -> str:
        """The text the model reads for a result: :func:`_observation`, plus a
        note when this exact call already failed in an earlier turn."""
        observation = _observation(result, self.config.tools.output_limit_bytes)
        key = _call_key(call)
        if not result.success:
            if key in self.failed_calls:
                observation += (
                    f"\n(This exact call already failed in turn {self.failed_calls[key]}. "
                    "Change the arguments, use another tool, or answer.)"
                )
            self.failed_calls.setdefault(key, turn_index)
        return observation

    def observe_call(
        self, turn: Turn, call: ToolCall, result: ToolResult
    ) -> tuple[str, dict[str, Any]]:
        """Observe: add the result and its observation (the ``tool`` message)
        to the turn; the observation and the ``tool_result`` event."""
        turn.tool_results.append(result)
        observation = self.observation(call, result, turn.index)
        turn.messages.append(
            Message(
                role="tool",
                tool_call_id=call.id,
                name=openai_tool_name(call.name),
                content=observation,
            )
        )
        event = self._event(
            "tool_result",
            name=call.name,
            success=result.success,
            result=result.result if result.success else None,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        return observation, event

    async def end_turn(self, turn: Turn) -> dict[str, Any]:
        """Record the turn, extend the conversation with it, save the task
        (picking up a cancellation made elsewhere) and return the ``turn``
        event."""
        assert self.response is not None
        response = self.response
        self.turn = self.response = None
        await self._db(self.storage.add_turn, turn)
        self.messages.extend(turn.messages)
        await self._save()
        return self._event(
            "turn",
            turn=turn.index,
            model=turn.model,
            thought=response.message.content,
            tool_calls=[c.to_dict() for c in turn.tool_calls],
            usage=response.usage.to_dict(),
        )

    def _turn_limit_error(self) -> str:
        return (
            f"reached the turn limit ({self.task.max_turns} turns) without a final answer; "
            f"'az task resume {self.task.id} --max-turns N' continues it"
        )

    # -- models --------------------------------------------------------------
    def _candidates(self, request: ModelRequest) -> list[Model]:
        return completion.candidates(self.host, request, (f["model"] for f in self.failed_models))

    def _pick(self, request: ModelRequest) -> Model:
        task = self.task
        if self.model_fixed and task.model:
            model = self.host.find_model(task.model)
            ok, why = model.usable()
            if not ok:
                raise AzError(f"model {model.info.id} cannot be used: {why}")
            return model
        candidates = self._candidates(request)
        if not candidates:
            if self.failed_models:
                tried = "; ".join(f"{f['model']}: {f['error']}" for f in self.failed_models)
                raise AzError(f"every usable model failed ({tried})")
            self.host.default_model(self.config)  # raises a helpful error when nothing is usable
            raise AzError(
                "no usable model supports this request (tools offered: "
                f"{len(request.tools)}); see 'az models list'"
            )
        # a router may only choose among the candidates: never a model that
        # already failed in this task (that would retry it forever)
        return completion.route(self.host, task, request, candidates)

    async def _call_model(
        self, request: ModelRequest, first_turn: bool
    ) -> tuple[Model, ModelResponse]:
        task = self.task
        while True:
            model = self._pick(request)
            if model.info.local and first_turn and request.tools:
                # Small local models tend to answer before looking; make them look first.
                request = request.replace(tool_choice="required")
            elif request.tool_choice == "required" and not model.info.local:
                request = request.replace(tool_choice="auto")
            self.host.before_model_call(task=task, request=request, model=model)
            start = time.perf_counter()
            try:
                response = completion.checked_response(model, await model.acomplete(request))
            except ModelError as exc:
                await self._log("warning", f"model {model.info.id} failed: {exc}")
                if self.model_fixed:
                    raise
                failure = {"model": model.info.id, "error": str(exc)}
                retry_after = getattr(exc, "retry_after", None)
                if retry_after is not None:
                    # seconds the provider asked to wait (RateLimitError): the
                    # router can keep other tasks off the model until then
                    failure["retry_after"] = f"{float(retry_after):g}"
                self.failed_models.append(failure)
                request = request.replace(
                    metadata={
                        **request.metadata,
                        "failed_models": list(self.failed_models),
                        "escalate": True,
                    }
                )
                continue
            if not response.duration_ms:
                response.duration_ms = (time.perf_counter() - start) * 1000
            usage = response.usage or Usage()
            self.host.after_model_call(task=task, request=request, response=response, usage=usage)
            return model, response

    # -- tools ---------------------------------------------------------------
    async def _run_tool(
        self, call: ToolCall, tool: Tool | None, tools: dict[str, Tool], ctx: ToolContext
    ) -> ToolResult:
        task = self.task
        if tool is None:
            names = ", ".join(sorted(tools)) or "none"
            result = ToolResult(
                success=False, error=f"unknown tool '{call.name}'; available tools: {names}"
            )
        else:
            try:
                args = validate_arguments(tool.spec, call.arguments)
                self.host.before_tool_call(task=task, call=call, tool=tool)
            except (ToolArgumentsError, ToolRefusedError) as exc:
                result = ToolResult(success=False, error=str(exc))
            except AzError as exc:
                result = ToolResult(success=False, error=f"refused: {exc}")
            else:
                start = time.perf_counter()
                try:
                    result = ToolResult.checked(await tool.call(args, ctx))
                except InvalidData as exc:
                    result = ToolResult(
                        success=False, error=f"{call.name} returned an invalid result: {exc}"
                    )
                except Exception as exc:  # noqa: BLE001 - a failing tool is an observation
                    result = ToolResult(
                        success=False, error=f"{call.name} failed: {type(exc).__name__}: {exc}"
                    )
                if not result.duration_ms:
                    result.duration_ms = (time.perf_counter() - start) * 1000
        # secrets are masked before the model, the hooks or the records see the result
        result = redact(result)
        self.host.after_tool_call(task=task, call=call, result=result)
        await self._db(self.storage.record_tool_usage, task.id, call.name, result.duration_ms)
        if not result.success:
            await self._log("warning", f"tool {call.name}: {result.error}")
        return result


class _Guard:
    """Around a step of a run: an exception escaping it ends the task
    (:meth:`_Run.abort`) and propagates. Exits of async generators
    (``GeneratorExit``) pass through untouched, as before."""

    def __init__(self, run: _Run) -> None:
        self.run = run

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and isinstance(
            exc, (Exception, asyncio.CancelledError, KeyboardInterrupt)
        ):
            await self.run.abort(exc)
