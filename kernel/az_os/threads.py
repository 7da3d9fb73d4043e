"""Running blocking calls from async code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


async def in_thread(fn: Callable[..., _T], *args: Any) -> _T:
    """``await fn(*args)`` in a worker thread (:func:`asyncio.to_thread`).

    asyncio is imported here, not at module level: commands that never run
    async code (``az task list``, ``az ask``) do not pay its ~10 ms import.
    """
    import asyncio

    return await asyncio.to_thread(fn, *args)
