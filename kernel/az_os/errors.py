"""Exceptions az raises on purpose.

Every error a user can cause or meet (bad config, a missing plugin, a dead
provider, a refused tool call) is an :class:`AzError`; the CLI prints its
message on one line and exits with ``exit_code`` instead of a traceback.
"""

from __future__ import annotations


class AzError(Exception):
    """Base of az's own errors. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1


class ConfigError(AzError):
    """The config file or an ``AZ_*`` variable is malformed or invalid."""

    exit_code = 2


class UsageError(AzError):
    """A command-line value is malformed or out of range (the CLI's usage
    errors, found after parsing: an ``--since`` it cannot read, an empty task)."""

    exit_code = 2


class PluginMissingError(AzError):
    """A feature needs a plugin that is not installed; the message names it."""

    exit_code = 3


class NotFoundError(AzError):
    """A task, model, tool or other named thing does not exist."""

    exit_code = 4


class StorageError(AzError):
    """The database cannot be opened, is corrupt, or a write failed."""

    exit_code = 5


class BudgetExceededError(AzError):
    """A model call was refused before it was made because it could cross a budget.

    Raised from ``az_before_model_call``; the engine ends the task as failed
    with this message.
    """

    exit_code = 6


class ToolRefusedError(AzError):
    """A tool call was refused by the approval policy or the deny list.

    Raised from ``az_before_tool_call``; the engine turns it into a tool
    result the model sees (``success=False``).
    """


class ToolArgumentsError(AzError):
    """A tool call's arguments do not match the tool's input schema."""


class ModelError(AzError):
    """Base of typed model-provider errors (see :mod:`az_os.models`).

    ``retryable`` says whether the same call may succeed if tried again.
    """

    retryable: bool = False

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


class AuthenticationError(ModelError):
    """Missing or rejected API key. Never retried."""


class RateLimitError(ModelError):
    """HTTP 429 or equivalent. Retried; ``retry_after`` (seconds) if the provider said."""

    retryable = True

    def __init__(
        self, message: str, *, model: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, model=model)
        self.retry_after = retry_after


class NetworkError(ModelError):
    """Connection refused/reset, DNS failure, or timeout. Retried."""

    retryable = True


class ContextWindowExceededError(ModelError):
    """The prompt plus max_tokens does not fit the model's context window."""


class InvalidRequestError(ModelError):
    """The provider rejected the request as malformed (HTTP 400/422)."""


class ProviderDownError(ModelError):
    """The provider answered 5xx or is otherwise unavailable. Retried."""

    retryable = True


class InvalidResponseError(ModelError):
    """A model plugin returned something that is not a valid
    :class:`~az_os.types.ModelResponse` (tool-call arguments as a string, no
    message, a plain value...). The engine raises it in place of a crash, so
    a routed task moves on to another model and a fixed-model task fails
    with this message. Not retried: the same plugin would answer the same."""
