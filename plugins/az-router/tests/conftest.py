"""Fixtures: candidate models with real prices; az_home (from az_os.testing) also resets the router."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from az_os.errors import ProviderDownError
from az_os.models import Model
from az_os.types import (
    Message,
    ModelInfo,
    ModelRequest,
    ModelResponse,
    Task,
    TaskPriority,
    ToolSpec,
    Usage,
)


@pytest.fixture
def az_home(az_home: Path) -> Iterator[Path]:
    """az_os.testing's fresh AZ_HOME, with the router engine reset around the test."""
    from az_router.plugin import reset_engine

    reset_engine()
    yield az_home
    reset_engine()


class PricedModel(Model):
    """A candidate with a real price list (LiteLLM's, USD per token).

    ``fail`` makes :meth:`complete` raise ProviderDownError (a ModelError),
    as a provider outage would; otherwise it answers ``"answer from <id>"``.
    """

    def __init__(self, info: ModelInfo, fail: bool = False) -> None:
        self.info = info
        self.fail = fail
        self.calls = 0

    def complete(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        if self.fail:
            raise ProviderDownError(f"{self.info.id}: 503 service unavailable", model=self.info.id)
        usage = Usage(prompt_tokens=10, completion_tokens=5, cost_usd=self.info.cost(10, 5))
        return ModelResponse(
            model=self.info.id,
            message=Message(role="assistant", content=f"answer from {self.info.id}"),
            usage=usage,
        )


def priced(
    mid: str,
    pin: float,
    pout: float,
    ctx: int = 200_000,
    tools: bool = True,
    local: bool = False,
    fail: bool = False,
) -> PricedModel:
    """A model with prices in USD per 1M tokens (as providers list them)."""
    return PricedModel(
        ModelInfo(
            id=mid,
            provider=mid.split("/")[0],
            context_window=ctx,
            input_cost_per_token=pin / 1e6,
            output_cost_per_token=pout / 1e6,
            supports_tools=tools,
            local=local,
            price_source="litellm (test copy)",
        ),
        fail=fail,
    )


@pytest.fixture
def models() -> dict[str, PricedModel]:
    """One model per tier at LiteLLM's listed prices, plus a second cheap one."""
    return {
        "free": priced("local/smollm2-135m-instruct", 0, 0, ctx=8192, tools=False, local=True),
        "cheap": priced("deepseek/deepseek-chat", 0.28, 0.42, ctx=131_072),
        "cheap2": priced("openai/gpt-4o-mini", 0.15, 0.60, ctx=128_000),
        "mid": priced("anthropic/claude-haiku-4-5", 1.0, 5.0),
        "premium": priced("anthropic/claude-sonnet-4-5", 3.0, 15.0),
    }


def candidates(models: dict[str, PricedModel], *keys: str) -> list[Model]:
    from az_router.tiers import blended_price

    chosen = [models[k] for k in (keys or models)]
    return sorted(chosen, key=lambda m: blended_price(m.info))


def request(
    text: str,
    *,
    tools: bool = True,
    context_tokens: int = 0,
    max_tokens: int = 1024,
    **metadata: Any,
) -> ModelRequest:
    """A call as the engine makes it: optional system context, the task text,
    one tool offered."""
    msgs = [Message(role="user", content=text)]
    if context_tokens:
        msgs.insert(0, Message(role="system", content="c" * (context_tokens * 4)))
    specs = [ToolSpec(name="filesystem.read", description="Read a file.")] if tools else []
    return ModelRequest(
        messages=msgs,
        tools=specs,
        max_tokens=max_tokens,
        metadata={"turn": 1, "max_turns": 5, **metadata},
    )


def task(text: str, priority: str = "medium") -> Task:
    return Task(description=text, priority=TaskPriority(priority))


class ModelsPlugin:
    """Registers given models with the plugin host (as a model plugin would)."""

    def __init__(self, models: list[Model]) -> None:
        self.models = models

    from az_os import hookimpl as _hookimpl

    @_hookimpl
    def az_register_models(self, register: Any) -> None:
        for m in self.models:
            register(m)
