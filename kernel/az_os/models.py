"""The model contract: what the engine, router and cost tracker call.

A plugin registers :class:`Model` objects through ``az_register_models``.
Each has :attr:`Model.info` (:class:`~az_os.types.ModelInfo`: id, provider,
context window in tokens, USD per token, tool/stream support) and answers
:meth:`Model.complete` and :meth:`Model.stream`.

Errors are the typed :class:`~az_os.errors.ModelError` subclasses:
authentication (never retried), rate limit / network / provider down
(retried by :func:`retry_delays` schedule), context window exceeded and
invalid request (not retried).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

from az_os.types import ModelInfo, ModelRequest, ModelResponse, StreamDelta


class Model(ABC):
    """A callable model. Subclasses set ``info`` and implement ``complete``.

    Implementations must be safe to call from several threads when
    ``info.local`` is false; local models may serialise calls internally.
    """

    info: ModelInfo

    @abstractmethod
    def complete(self, request: ModelRequest) -> ModelResponse:
        """Run one chat completion.

        Returns the assistant message (text and/or tool calls) with
        :class:`~az_os.types.Usage` (prompt/completion tokens, USD).
        Raises a :class:`~az_os.errors.ModelError` subclass on failure.
        """

    def stream(self, request: ModelRequest) -> Iterator[StreamDelta]:
        """Yield text deltas as they arrive; the last delta carries ``usage``.

        The default implementation calls :meth:`complete` and yields its
        whole answer as one delta.
        """
        response = self.complete(request)
        yield StreamDelta(
            text=response.message.content or "",
            tool_calls=response.message.tool_calls,
            usage=response.usage,
            finish_reason=response.finish_reason,
        )

    async def acomplete(self, request: ModelRequest) -> ModelResponse:
        """Async :meth:`complete`; the default runs it in a worker thread."""
        from az_os.threads import in_thread

        return await in_thread(self.complete, request)

    def usable(self) -> tuple[bool, str]:
        """Whether the model can be called now, and why not.

        For hosted models: is the API key present? For local ones: is the
        weights file there? Returns ``(True, "")`` or ``(False, reason)``
        where the reason says how to fix it (one line).
        """
        return True, ""

    def probe(self, timeout_s: float = 2.0) -> tuple[bool, str] | None:
        """Whether the model's provider answers now, found cheaply: a request
        that costs no money (a connection, a model list), within
        ``timeout_s`` seconds. Health checks call it for usable models.

        Returns ``(True, detail)`` or ``(False, reason)`` (one line), or
        ``None`` (the default) when the model has no such check. Must not
        raise.
        """
        return None

    def provenance(self) -> dict[str, str]:
        """Where the model's weights come from and whether they are checked,
        for ``az models list``: ``{"source": str, "verification": str}``
        (e.g. ``"verified"``, ``"not assembled"``). Default: ``{}`` (a hosted
        model has no weights here)."""
        return {}

    def count_tokens(self, request: ModelRequest) -> int:
        """Prompt tokens the request would use. Default: 1 token per 4
        characters of message text and tool schemas (OpenAI's rule of thumb),
        rounded up. Plugins override with the model's tokenizer."""
        import json

        chars = sum(len(m.content or "") + 8 for m in request.messages)
        chars += sum(len(json.dumps(t.input_schema)) + len(t.description) for t in request.tools)
        return -(-chars // 4)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.info.id}>"


def retry_delays(attempts: int = 6, base: float = 1.0, cap: float = 60.0) -> list[float]:
    """Seconds to wait before each retry: 1, 2, 4, 8 ... capped at 60 s.

    Exponential backoff: attempt n waits ``base * 2**(n-1)``, never more
    than ``cap``.
    """
    return [min(base * 2**i, cap) for i in range(attempts)]
