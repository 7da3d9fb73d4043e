"""The design brief's ``LiteLLMClient``: one model call from Python, as az makes it.

Every call goes through the kernel's model contract and its call path
(:mod:`az_os.completion`), the one a task's turns use: the model is found
among the host's models (``az models list``: LiteLLM's hosted and custom
models, and any other provider plugin's, such as the embedded one) or
routed (``model="auto"``, the ``az_route`` hook, az-router when
installed); ``az_before_model_call`` lets a budget plugin refuse it and
``az_after_model_call`` lets a cost plugin record its USD, under the
client's task (see :class:`LiteLLMClient`).

Light at import: LiteLLM itself is imported by the model on its first call.
"""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Generator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.models import Model
    from az_os.plugins import PluginHost
    from az_os.types import ModelRequest, ModelResponse, StreamDelta, Task, ToolSpec

__all__ = ["AUTO", "LiteLLMClient"]

#: The ``model`` that lets the router choose (as a task without ``--model``).
AUTO = "auto"

_DONE = object()


class LiteLLMClient:
    """``generate``, ``chat`` and ``stream_generate`` on any model az knows.

    ``task``: the :class:`~az_os.types.Task` the calls belong to: budget
    plugins check its caps (``max_cost_usd``, USD) and cost plugins record
    under its id. Default: a new task per call (description: the prompt),
    not stored, so its costs count toward the daily and monthly budgets
    and show in ``az cost show``. ``config``/``host`` default to the
    process-wide ones.

    Every method takes ``model`` (a model id such as ``openai/gpt-4o-mini``
    or an alias from ``az models list``; ``"auto"``: routed among the usable
    models), ``temperature``, ``max_tokens`` (tokens, the completion cap)
    and ``tools`` (fnmatch patterns of az tool names such as
    ``"filesystem.*"``: their schemas are offered to the model and the tool
    calls it makes are returned, not run).

    Raises :class:`~az_os.errors.NotFoundError` for an unknown model,
    :class:`~az_os.errors.ModelError` (subclasses: authentication, rate
    limit, network...) when the model is not usable or fails,
    :class:`~az_os.errors.BudgetExceededError` when a budget refuses the
    call, :class:`~az_os.errors.ConfigError` for an empty prompt or
    ``tools`` that match no tool.
    """

    def __init__(
        self,
        *,
        task: Task | None = None,
        config: AzConfig | None = None,
        host: PluginHost | None = None,
    ) -> None:
        self.task = task
        self._config = config
        self._host = host

    @property
    def config(self) -> AzConfig:
        if self._config is None:
            from az_os.config import load_config

            self._config = load_config()
        return self._config

    @property
    def host(self) -> PluginHost:
        if self._host is None:
            from az_os.plugins import get_host

            self._host = get_host()
        return self._host

    # -- the brief's methods -------------------------------------------------
    async def generate(
        self,
        prompt: str,
        model: str,
        temperature: float = 0.7,
        max_tokens: int = 2048,
        tools: list[str] | None = None,
    ) -> dict[str, Any]:
        """Answer one prompt (a user message). Returns the answer as
        :meth:`chat` does."""
        return await self.chat(
            [{"role": "user", "content": prompt}], model, temperature, max_tokens, tools
        )

    async def chat(
        self,
        messages: list[dict[str, Any]],
        model: str,
        temperature: float = 0.7,
        max_tokens: int = 2048,
        tools: list[str] | None = None,
    ) -> dict[str, Any]:
        """Answer a conversation: ``messages`` in OpenAI form (``role``:
        system/user/assistant/tool, ``content``; assistant ``tool_calls``
        and tool ``tool_call_id`` as az's :class:`~az_os.types.Message`).

        Returns ``{"content": str, "model": the model id used,
        "tool_calls": [{"id", "name", "arguments"}], "finish_reason",
        "prompt_tokens", "completion_tokens" (tokens), "cost_usd" (USD, from
        the model's prices), "duration_ms" (milliseconds), "task_id"}``.
        """
        import asyncio

        from az_os import completion

        request, task = self._request(messages, temperature, max_tokens, tools)
        chosen = self._model(model, task, request)

        response = await asyncio.to_thread(completion.call, self.host, task, request, chosen)
        return _answer(chosen.info.id, response, task)

    async def stream_generate(
        self,
        prompt: str,
        model: str,
        temperature: float = 0.7,
        max_tokens: int = 2048,
        tools: list[str] | None = None,
    ) -> AsyncIterator[str]:
        """Yield the answer to ``prompt`` as text pieces as they arrive. The
        call's tokens and USD are recorded (``az_after_model_call``) when the
        stream ends; a stream the caller stops early records nothing after
        the call. Tool calls, if the model makes any, are not yielded."""
        import asyncio

        from az_os import completion

        request, task = self._request(
            [{"role": "user", "content": prompt}], temperature, max_tokens, tools
        )
        chosen = self._model(model, task, request)
        deltas: Generator[StreamDelta, None, None] = completion.stream(
            self.host, task, request, chosen
        )
        try:
            while True:
                # each piece is read in a worker thread: the model's HTTP or
                # llama.cpp call blocks, the caller's event loop does not
                item: Any = await asyncio.to_thread(next, deltas, _DONE)
                if item is _DONE:
                    return
                if item.text:
                    yield item.text
        finally:
            deltas.close()

    # -- helpers -------------------------------------------------------------
    def _request(
        self,
        messages: list[dict[str, Any]],
        temperature: float,
        max_tokens: int,
        tools: list[str] | None,
    ) -> tuple[ModelRequest, Task]:
        from az_os.errors import ConfigError
        from az_os.types import Message, ModelRequest, Task

        if not messages:
            raise ConfigError("no messages to answer")
        msgs = [Message.checked(m) for m in messages]
        text = next((m.content for m in reversed(msgs) if m.role == "user" and m.content), "")
        if not any((m.content or "").strip() or m.tool_calls for m in msgs):
            raise ConfigError("the prompt is empty")
        if max_tokens < 1:
            raise ConfigError(f"max_tokens must be >= 1, got {max_tokens}")
        request = ModelRequest(
            messages=msgs,
            tools=self._tools(tools),
            max_tokens=max_tokens,
            temperature=temperature,
            metadata={"turn": 1, "max_turns": 1, "failed_models": [], "escalate": False},
        )
        task = self.task or Task(description=text[:200] or "chat", max_turns=1)
        return request, task

    def _tools(self, patterns: list[str] | None) -> list[ToolSpec]:
        if not patterns:
            return []
        from az_os.errors import ConfigError

        available = self.host.tools()
        specs = [
            t.spec
            for name, t in available.items()
            if any(fnmatch.fnmatchcase(name, p) for p in patterns)
        ]
        if not specs:
            raise ConfigError(
                f"no tool matches {', '.join(patterns)} (tools: {', '.join(sorted(available)) or 'none'})"
            )
        return specs

    def _model(self, model: str, task: Task, request: ModelRequest) -> Model:
        from az_os import completion
        from az_os.errors import ModelError

        if model and model != AUTO:
            chosen = self.host.find_model(model)
            ok, why = chosen.usable()
            if not ok:
                raise ModelError(
                    f"model {chosen.info.id} is not usable: {why}", model=chosen.info.id
                )
            return chosen
        routed_task = task if not task.model else task.replace(model=None)
        return completion.route(
            self.host, routed_task, request, completion.candidates(self.host, request)
        )


def _answer(model_id: str, response: ModelResponse, task: Task) -> dict[str, Any]:
    usage = response.usage
    return {
        "content": response.message.content or "",
        "model": model_id,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
        ],
        "finish_reason": response.finish_reason,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "duration_ms": response.duration_ms,
        "task_id": task.id,
    }
