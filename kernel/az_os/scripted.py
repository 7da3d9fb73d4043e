"""A scripted model plugin for tests: the real Model contract, answering from a script.

Not a mock of az: it is a real plugin (registered through ``az_register_models``
like any provider) whose answers come from a script instead of weights, so the
engine, storage, tools and hooks under test are all the real ones. Any test
suite (kernel, first- or third-party plugin) uses it in-process with
``host.register(az_os.scripted, "scripted")`` or in an ``az`` subprocess with
the ``scripted_env`` fixture of :mod:`az_os.testing`.

Models: ``scripted/cheap`` (alias ``cheap``; 1e-7 / 2e-7 USD per prompt /
completion token) and ``scripted/premium`` (alias ``premium``; 3e-6 / 15e-6).

Script: a JSON list in ``$AZ_SCRIPT`` (a file path) or set with :func:`set_script`.
Each step is one model call:
  {"tool": "filesystem.list", "arguments": {...}, "thought": "..."}  a tool call
  {"calls": [{"tool": ..., "arguments": ...}, ...]}                 several tool calls
  {"answer": "..."}                                                 a final answer
  {"raise": "ProviderDownError" | "RuntimeError", "message": "..."} a failure
  {"sleep": 2.0, ...}                                               wait first (seconds)
  {"invalid": "arguments" | "message" | "response"}                 a broken answer, as a
      faulty provider plugin could return: tool-call arguments as a JSON string, no
      message, or a plain string instead of a ModelResponse
When the script runs out, the model answers "done".
Prompt tokens are counted as characters / 4 of the request's messages.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

from az_os import errors, hookimpl
from az_os.models import Model
from az_os.types import Message, ModelInfo, ModelRequest, ModelResponse, ToolCall, Usage

_lock = threading.Lock()
_scripts: dict[str, list[dict[str, Any]]] = {}
REQUESTS: list[ModelRequest] = []


def set_script(steps: list[dict[str, Any]], model_id: str = "scripted/cheap") -> None:
    """Replace ``model_id``'s script in this process (steps as in the module docstring)."""
    with _lock:
        _scripts[model_id] = list(steps)


def _next(model_id: str) -> dict[str, Any]:
    with _lock:
        if model_id not in _scripts and os.environ.get("AZ_SCRIPT"):
            with open(os.environ["AZ_SCRIPT"]) as f:
                _scripts[model_id] = json.load(f)
        steps = _scripts.setdefault(model_id, [])
        return steps.pop(0) if steps else {"answer": "done"}


class ScriptedModel(Model):
    """A :class:`~az_os.models.Model` whose answers are the next step of its script."""

    def __init__(
        self, model_id: str, input_price: float, output_price: float, priority: int = 0
    ) -> None:
        self.info = ModelInfo(
            id=model_id,
            provider="scripted",
            context_window=32000,
            input_cost_per_token=input_price,
            output_cost_per_token=output_price,
            price_source="test script",
            supports_tools=True,
            default_priority=priority,
        )

    def complete(self, request: ModelRequest) -> ModelResponse:
        REQUESTS.append(request)
        step = _next(self.info.id)
        if step.get("sleep"):
            time.sleep(step["sleep"])
        if "raise" in step:
            exc = getattr(errors, step["raise"], None) or getattr(
                __builtins__, step["raise"], RuntimeError
            )
            if isinstance(exc, type) and issubclass(exc, errors.ModelError):
                raise exc(step.get("message", "scripted failure"), model=self.info.id)
            raise RuntimeError(step.get("message", "scripted crash"))
        prompt = sum(len(m.content or "") for m in request.messages) // 4
        if "invalid" in step:
            return self._invalid(step["invalid"], prompt)  # type: ignore[no-any-return]
        if "answer" in step:
            msg = Message(role="assistant", content=step["answer"])
            completion = max(1, len(step["answer"]) // 4)
        else:
            calls = step.get("calls") or [
                {"tool": step["tool"], "arguments": step.get("arguments", {})}
            ]
            msg = Message(
                role="assistant",
                content=step.get("thought"),
                tool_calls=[
                    ToolCall(name=c["tool"], arguments=c.get("arguments", {})) for c in calls
                ],
            )
            completion = 20
        usage = Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=self.info.cost(prompt, completion),
        )
        return ModelResponse(model=self.info.id, message=msg, usage=usage, finish_reason="stop")

    def _invalid(self, what: str, prompt: int) -> Any:
        usage = Usage(prompt_tokens=prompt, completion_tokens=5)
        if what == "response":
            return "hi"
        call = ToolCall(name="filesystem.list", arguments={"path": "."})
        if what == "arguments":
            call.arguments = '{"path": "."}'  # type: ignore[assignment]
        msg = Message(role="assistant", tool_calls=[call])
        response = ModelResponse(model=self.info.id, message=msg, usage=usage)
        if what == "message":
            response.message = None  # type: ignore[assignment]
        return response


@hookimpl
def az_register_models(register: Any) -> None:
    """Register ``scripted/cheap`` and ``scripted/premium``."""
    register(ScriptedModel("scripted/cheap", 1e-7, 2e-7, priority=100), aliases=["cheap"])
    register(ScriptedModel("scripted/premium", 3e-6, 15e-6), aliases=["premium"])
