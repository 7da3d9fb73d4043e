"""One routed, costed model call outside a ReAct turn.

The engine's turns, ``aichat.complete`` (a sub-question an agent hands to
another model) and any plugin that needs a model's answer (memory
summaries, an API client) share this path, so every call is chosen, checked
against the budget and recorded the same way:

1. :func:`candidates` - the usable models for the request, cheapest first
   (USD per token, input plus output);
2. :func:`route` - the ``az_route`` hook chooses among them (a router may
   only choose a candidate), else the cheapest;
3. :func:`call` - ``az_before_model_call`` (budget plugins raise
   :class:`~az_os.errors.BudgetExceededError` here), the model call, the
   response check, ``az_after_model_call`` (cost plugins record USD here).

:func:`complete` does the three for one prompt; :func:`stream` is
:func:`call` with the answer streamed.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

from az_os.errors import AzError, InvalidResponseError

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig
    from az_os.models import Model
    from az_os.plugins import PluginHost
    from az_os.types import ModelRequest, ModelResponse, StreamDelta, Task


def candidates(host: PluginHost, request: ModelRequest, failed: Iterable[str] = ()) -> list[Model]:
    """The models that may serve ``request``: usable now, not among
    ``failed`` (model ids), supporting tools when tools are offered; sorted
    by price (input + output USD per token), cheapest first (ties keep
    registration order)."""
    skip = set(failed)
    out = []
    for m in host.models().values():
        if m.info.id in skip or not m.usable()[0]:
            continue
        if request.tools and not m.info.supports_tools:
            continue
        out.append(m)
    out.sort(key=lambda m: m.info.input_cost_per_token + m.info.output_cost_per_token)
    return out


def route(host: PluginHost, task: Task, request: ModelRequest, models: list[Model]) -> Model:
    """The model the ``az_route`` hook picks among ``models`` (asked with
    ``task.model`` cleared, so a router decides), or the first of
    ``models`` when no router answers or it names a model not among them.
    Raises :class:`~az_os.errors.AzError` when ``models`` is empty."""
    if not models:
        raise AzError("no usable model for this request; see 'az models list'")
    routed = host.route(task=task.replace(model=None), request=request, candidates=models)
    if routed is None or routed.info.id not in {m.info.id for m in models}:
        return models[0]
    return routed


def checked_response(model: Model, response: Any) -> ModelResponse:
    """``response`` validated (:meth:`~az_os.types.Record.checked`): a faulty
    plugin's answer fails this model, not the task's records. Raises
    :class:`~az_os.errors.InvalidResponseError` naming the model and the bad field."""
    from az_os.types import InvalidData, ModelResponse

    try:
        return ModelResponse.checked(response)
    except InvalidData as exc:
        raise InvalidResponseError(
            f"model {model.info.id} returned an invalid response: {exc}", model=model.info.id
        ) from None


def call(host: PluginHost, task: Task, request: ModelRequest, model: Model) -> ModelResponse:
    """One checked, recorded call: ``az_before_model_call`` (may raise
    :class:`~az_os.errors.BudgetExceededError`), ``model.complete``, the
    response check, ``az_after_model_call``. ``duration_ms`` is filled in
    when the model left it 0. Model errors propagate
    (:class:`~az_os.errors.ModelError` subclasses)."""
    from az_os.types import Usage

    host.before_model_call(task=task, request=request, model=model)
    start = time.perf_counter()
    response = checked_response(model, model.complete(request))
    if not response.duration_ms:
        response.duration_ms = (time.perf_counter() - start) * 1000
    host.after_model_call(
        task=task, request=request, response=response, usage=response.usage or Usage()
    )
    return response


def stream(
    host: PluginHost, task: Task, request: ModelRequest, model: Model
) -> Generator[StreamDelta, None, None]:
    """:func:`call`, streamed: ``az_before_model_call``, then the model's
    deltas as they arrive (``model.stream``), then the assembled response
    checked and passed to ``az_after_model_call`` (cost plugins record its
    USD) once the stream is done. A stream closed early records nothing
    after the call. Raises as :func:`call`."""
    from az_os.types import Message, ModelResponse, Usage

    host.before_model_call(task=task, request=request, model=model)
    start = time.perf_counter()
    parts: list[str] = []
    calls: list[Any] = []
    usage: Usage | None = None
    finish: str | None = None
    for delta in model.stream(request):
        parts.append(delta.text)
        calls.extend(delta.tool_calls)
        usage = delta.usage or usage
        finish = delta.finish_reason or finish
        yield delta
    response = checked_response(
        model,
        ModelResponse(
            model=model.info.id,
            message=Message(role="assistant", content="".join(parts), tool_calls=calls),
            usage=usage or Usage(),
            finish_reason=finish,
            duration_ms=(time.perf_counter() - start) * 1000,
        ),
    )
    host.after_model_call(task=task, request=request, response=response, usage=response.usage)


def question_request(
    config: AzConfig,
    prompt: str,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> ModelRequest:
    """The request for one question outside a ReAct loop (no tools): an
    optional system message and the prompt; ``max_tokens`` (tokens) and
    ``temperature`` default to ``agent.max_tokens`` and ``agent.temperature``;
    metadata says turn 1 of 1, as routers and budgets expect."""
    from az_os.types import Message, ModelRequest

    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=prompt))
    return ModelRequest(
        messages=messages,
        max_tokens=max_tokens or config.agent.max_tokens,
        temperature=config.agent.temperature if temperature is None else temperature,
        metadata={"turn": 1, "max_turns": 1, "failed_models": [], "escalate": False},
    )


def complete(
    prompt: str,
    *,
    task: Task,
    host: PluginHost | None = None,
    model: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    config: AzConfig | None = None,
) -> tuple[Model, ModelResponse]:
    """Ask one question, no tools: ``(model used, response)``.

    ``model`` (id or alias) fixes the model (it must be usable); otherwise
    the request is routed among :func:`candidates`. ``task`` is the task the
    call belongs to (budget and cost records use its id and caps).
    ``temperature``/``max_tokens`` default to ``agent.temperature`` and
    ``agent.max_tokens``. The response's ``usage`` has prompt/completion
    tokens and USD. Raises :class:`~az_os.errors.NotFoundError` for an
    unknown model, :class:`~az_os.errors.ModelError` when the model is not
    usable or fails, :class:`~az_os.errors.BudgetExceededError` when the
    call could cross a budget, :class:`~az_os.errors.ConfigError` for an
    empty prompt.
    """
    from az_os.config import load_config
    from az_os.errors import ConfigError, ModelError
    from az_os.plugins import get_host

    if not prompt.strip():
        raise ConfigError("the prompt is empty")
    host = host or get_host()
    cfg = config or load_config()
    request = question_request(cfg, prompt, system, temperature, max_tokens)
    if model:
        chosen = host.find_model(model)
        ok, why = chosen.usable()
        if not ok:
            raise ModelError(f"model {chosen.info.id} is not usable: {why}", model=chosen.info.id)
    else:
        chosen = route(host, task, request, candidates(host, request))
    return chosen, call(host, task, request, chosen)
